import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import type { AuthContext, Connection, ServerChannel } from "ssh2";
import { generateEd25519KeyPair } from "../../../src/lib/ssh-keys.ts";

/**
 * Git over SSH as github.com serves it to deploy keys: user `git`, public-key authentication
 * only (signatures verified — ssh2 does not do it itself), and `git-upload-pack '<owner>/<repo>.git'`
 * only. A key GitHub does not know is refused at authentication ("Permission denied
 * (publickey)"); a deploy key of another repository gets GitHub's "ERROR: Repository not found."
 * Fetch only: pushes are refused, as for the read-only deploy keys Slipway installs.
 */

export interface GitSshOptions {
  /** Whether a public key (`type base64`) is known at all (a deploy key somewhere). */
  isKnownKey(key: string): boolean;
  /** The bare repository a key may read, or undefined when it may not read `owner/repo`. */
  repoFor(key: string, owner: string, repo: string): string | undefined;
  onRequest?(entry: { command: string; allowed: boolean }): void;
}

export interface GitSshServer {
  port: number;
  close(): Promise<void>;
}

const COMMAND = /^git[- ]upload-pack '\/?([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?'$/;

export async function startGitSsh(options: GitSshOptions): Promise<GitSshServer> {
  const connections = new Set<Connection>();
  const server = new ssh2.Server(
    { hostKeys: [generateEd25519KeyPair().private.trim()], ident: "babeld-fake" },
    (conn) => {
      connections.add(conn);
      conn.on("close", () => connections.delete(conn));
      conn.on("error", () => {});
      let key: string | undefined;
      conn.on("authentication", (auth: AuthContext) => {
        if (auth.method !== "publickey" || auth.username !== "git") {
          auth.reject(["publickey"]);
          return;
        }
        const parsed = ssh2.utils.parseKey(auth.key.data);
        if (parsed instanceof Error || parsed.type !== auth.key.algo)
          return auth.reject(["publickey"]);
        const text = `${auth.key.algo} ${auth.key.data.toString("base64")}`;
        if (!options.isKnownKey(text)) return auth.reject(["publickey"]);
        if (auth.signature === undefined || auth.blob === undefined) return auth.accept();
        if (parsed.verify(auth.blob, auth.signature, auth.hashAlgo) !== true) {
          return auth.reject(["publickey"]);
        }
        key = text;
        auth.accept();
      });
      conn.on("session", (accept, reject) => {
        if (key === undefined) return reject();
        const session = accept();
        session.on("env", (accept, reject) => reject?.());
        session.on("pty", (_accept, reject) => reject?.());
        session.on("shell", (accept) => {
          const channel = accept();
          channel.on("error", () => {});
          finish(
            channel,
            1,
            "Hi there! You've successfully authenticated, but GitHub does not provide shell access.",
          );
        });
        session.on("exec", (accept, _reject, info) => {
          const channel = accept();
          channel.on("error", () => {});
          const match = COMMAND.exec(info.command);
          const dir = match ? options.repoFor(key!, match[1]!, match[2]!) : undefined;
          options.onRequest?.({ command: info.command, allowed: dir !== undefined });
          if (dir === undefined) {
            finish(channel, 1, "ERROR: Repository not found.");
            return;
          }
          const child = spawn("git", ["upload-pack", "--strict", "--", dir], {
            env: {
              PATH: "/usr/local/bin:/usr/bin:/bin",
              GIT_CONFIG_NOSYSTEM: "1",
              GIT_CONFIG_GLOBAL: "/dev/null",
            },
            stdio: ["pipe", "pipe", "pipe"],
          });
          child.stdin.on("error", () => {});
          channel.pipe(child.stdin);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          channel.once("close", () => child.kill("SIGTERM"));
          child.once("close", (code) => finish(channel, code ?? 1));
        });
      });
      conn.on("tcpip", (_accept, reject) => reject());
      conn.on("request", (_accept: unknown, reject: (() => void) | undefined) => reject?.());
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const conn of connections) conn.end();
        server.close(() => resolve());
      }),
  };
}

function finish(channel: ServerChannel, code: number, message?: string): void {
  try {
    if (message !== undefined) channel.stderr.write(`${message}\n`);
    channel.exit(code);
    channel.end();
  } catch {
    // the client is gone
  }
}
