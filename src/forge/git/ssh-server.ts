import { spawn, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import ssh2 from "ssh2";
import type { AuthContext, ClientInfo, Connection, ServerChannel, Session } from "ssh2";
import type { ForgeContext } from "../context.ts";
import { isoNow } from "../context.ts";
import { GitAccessMessages, type GitActor } from "./access.ts";
import { gitEnv } from "./env.ts";
import {
  completePush,
  createPushLog,
  isValidGitProtocol,
  prepareGitRuntime,
  PUSH_LOG_ENV,
  type GitRuntime,
  type GitTransportServices,
} from "./runtime.ts";

export interface SshServer {
  port: number;
  close(): Promise<void>;
}

/** The only login name, as on GitLab (`git@host:group/project.git`). */
const SSH_USER = "git";
/** A connection must authenticate within this time, and may fail this many attempts. */
const AUTH_TIMEOUT_MS = 30_000;
const MAX_AUTH_FAILURES = 10;

export type GitService = "upload-pack" | "receive-pack" | "upload-archive";

/**
 * Parses the command git sends over SSH: `git-upload-pack '<path>'` (or `git upload-pack`),
 * for the three git services only, with the path in git's single quotes. Paths with quotes, `!`
 * or control characters never name a project, so they are refused rather than unquoted.
 */
export function parseGitCommand(
  command: string,
): { service: GitService; path: string } | undefined {
  // eslint-disable-next-line no-control-regex
  const match = /^git[- ](upload-pack|receive-pack|upload-archive) '([^'\\!\x00-\x1f\x7f]*)'$/.exec(
    command,
  );
  if (!match) return undefined;
  return { service: match[1] as GitService, path: match[2]! };
}

/** A refusal framed the way gitlab-shell prints it, so `git` shows it above its own "fatal:". */
export function formatRemoteError(message: string): string {
  const divider = "=".repeat(72);
  return ["", divider, "", `ERROR: ${message}`, "", divider, ""]
    .map((line) => `remote: ${line}\n`)
    .join("");
}

/**
 * The forge's SSH endpoint: public-key authentication for user keys and deploy keys, and exactly
 * the three git commands (plus GitLab's `ssh -T` welcome). No shell, pty, subsystem, forwarding
 * of any kind, or environment besides `GIT_PROTOCOL`.
 */
export async function startSshServer(
  ctx: ForgeContext,
  hostKey: string,
  listen: { host: string; port: number },
  services: GitTransportServices,
): Promise<SshServer> {
  const runtime = prepareGitRuntime(ctx);
  const log = ctx.log.child({ component: "git-ssh" });
  const connections = new Set<Connection>();
  const handler = new SshGitHandler(ctx, runtime, services, log);

  const server = new ssh2.Server({ hostKeys: [hostKey], ident: "Slipway" }, (conn, info) => {
    connections.add(conn);
    conn.on("close", () => connections.delete(conn));
    handler.connection(conn, info);
  });
  server.on("error", (error: Error) => log.error({ err: error }, "ssh server error"));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        // A client that never hangs up must not keep the forge from stopping.
        const fallback = setTimeout(resolve, 5_000);
        fallback.unref();
        const listening = new Promise<void>((done) => server.close(() => done()));
        // Fetches are stopped; a push gets EOF and finishes (recording what it updated).
        for (const child of handler.fetches) child.kill("SIGTERM");
        for (const conn of connections) conn.end();
        void Promise.allSettled([listening, ...handler.running]).then(() => {
          clearTimeout(fallback);
          resolve();
        });
      })),
  };
}

type Log = ForgeContext["log"];

class SshGitHandler {
  /** git processes serving a fetch (or archive), stopped when the server closes. */
  readonly fetches = new Set<ChildProcess>();
  /** Commands in progress, awaited when the server closes. */
  readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ctx: ForgeContext,
    private readonly runtime: GitRuntime,
    private readonly services: GitTransportServices,
    private readonly log: Log,
  ) {}

  connection(conn: Connection, info: ClientInfo): void {
    const peer = { ip: info.ip, port: info.port };
    let keyId: number | undefined;
    let failures = 0;
    const authTimer = setTimeout(() => conn.end(), AUTH_TIMEOUT_MS);
    authTimer.unref();

    conn.on("error", (error: Error) => this.log.debug({ err: error, ...peer }, "ssh client error"));
    conn.on("close", () => clearTimeout(authTimer));

    conn.on("authentication", (auth: AuthContext) => {
      const fail = (): void => {
        auth.reject(["publickey"]);
        if (++failures >= MAX_AUTH_FAILURES) conn.end();
      };
      if (auth.method !== "publickey" || auth.username !== SSH_USER) {
        // "none" is how every client asks which methods exist: not counted as a failure.
        if (auth.method === "none") auth.reject(["publickey"]);
        else fail();
        return;
      }
      const verify = async (): Promise<void> => {
        const key = await this.services.access.findKeyForBlob(auth.key.data);
        if (!key) return fail();
        const parsed = ssh2.utils.parseKey(auth.key.data);
        if (
          parsed instanceof Error ||
          parsed.isPrivateKey() ||
          parsed.type !== auth.key.algo ||
          !parsed.getPublicSSH().equals(auth.key.data)
        ) {
          return fail();
        }
        // No signature: the client only asks whether this key would do; it must then sign.
        if (auth.signature === undefined || auth.blob === undefined) return auth.accept();
        // ssh2 does not check signatures itself: without this, a public key would be enough.
        if (parsed.verify(auth.blob, auth.signature, auth.hashAlgo) !== true) return fail();
        keyId = key.id;
        auth.accept();
        await this.ctx.db
          .updateTable("keys")
          .set({ last_used_at: isoNow(this.ctx) })
          .where("id", "=", key.id)
          .execute();
      };
      verify().catch((error: unknown) => {
        this.log.error({ err: error, ...peer }, "ssh authentication failed with an error");
        fail();
      });
    });

    conn.on("ready", () => {
      clearTimeout(authTimer);
      this.log.debug({ ...peer, keyId }, "ssh client authenticated");
    });

    conn.on("session", (accept, reject) => {
      if (keyId === undefined) return reject();
      this.session(accept(), keyId, peer);
    });
    // Port forwarding in both directions and unix-socket forwarding: never.
    conn.on("tcpip", (_accept, reject) => reject());
    conn.on("openssh.streamlocal", (_accept, reject) => reject());
    conn.on("request", (_accept: unknown, reject: (() => void) | undefined) => reject?.());
  }

  private session(session: Session, keyId: number, peer: { ip: string; port: number }): void {
    let gitProtocol: string | undefined;
    session.on("env", (accept, reject, info) => {
      if (info.key === "GIT_PROTOCOL" && isValidGitProtocol(info.val)) {
        gitProtocol = info.val;
        accept?.();
      } else {
        reject?.();
      }
    });
    for (const request of [
      "pty",
      "x11",
      "auth-agent",
      "signal",
      "window-change",
      "subsystem",
      "sftp",
    ]) {
      session.on(request, (_accept: unknown, reject: (() => void) | undefined) => reject?.());
    }
    session.on("shell", (accept) => {
      const channel = accept();
      channel.on("error", () => {});
      void this.welcome(channel, keyId);
    });
    session.on("exec", (accept, _reject, info) => {
      const channel = accept();
      channel.on("error", (error: Error) =>
        this.log.debug({ err: error, ...peer }, "ssh channel error"),
      );
      const running = this.exec(channel, keyId, info.command, gitProtocol)
        .catch((error: unknown) => {
          this.log.error({ err: error, ...peer }, "git over ssh failed");
          finish(channel, 1, "An internal error occurred.");
        })
        .finally(() => this.running.delete(running));
      this.running.add(running);
    });
  }

  /** `ssh -T git@host`: GitLab's greeting, naming the key's user (a deploy key's owner). */
  private async welcome(channel: ServerChannel, keyId: number): Promise<void> {
    let name = "Anonymous";
    try {
      const actor = await this.services.access.actorForKey(keyId);
      const userId =
        actor.kind === "user"
          ? actor.user.id
          : actor.kind === "deploy_key"
            ? actor.key.user_id
            : null;
      if (userId !== null) {
        const user = await this.ctx.db
          .selectFrom("users")
          .select("username")
          .where("id", "=", userId)
          .executeTakeFirst();
        if (user) name = `@${user.username}`;
      }
    } catch (error) {
      this.log.error({ err: error }, "ssh welcome failed");
    }
    channel.write(`Welcome to Slipway, ${name}!\n`);
    finish(channel, 0);
  }

  private async exec(
    channel: ServerChannel,
    keyId: number,
    command: string,
    gitProtocol: string | undefined,
  ): Promise<void> {
    // The client may hang up at any point, even before git is started.
    let channelClosed = false;
    let onClose = (): void => {};
    channel.once("close", () => {
      channelClosed = true;
      onClose();
    });

    const parsed = parseGitCommand(command);
    if (!parsed) return finish(channel, 1, GitAccessMessages.commandNotAllowed);
    const actor: GitActor = await this.services.access.actorForKey(keyId);
    const push = parsed.service === "receive-pack";
    const decision = await this.services.access.check(
      actor,
      parsed.path,
      push ? "push" : "download",
    );
    if (!decision.allowed) return finish(channel, 1, decision.message);
    const projectId = decision.projectId;
    const pusherId = decision.pusherId;
    if (push && pusherId === null) return finish(channel, 1, GitAccessMessages.upload);
    if (channelClosed) return;
    this.services.onOperation?.("ssh", parsed.service);

    // The repository path comes from the project id only; the client's path was just a name.
    // It is absolute, so never an option; upload-archive takes exactly one argument (no `--`).
    const repoPath = resolve(this.ctx.repositories.pathFor(projectId));
    const args = ["-c", `core.hooksPath=${this.runtime.hooksDir}`];
    // The push cap: git counts the pack and refuses it on its own error channel.
    const maxPush = this.ctx.config.maxPushBytes;
    if (push && maxPush !== undefined) args.push("-c", `receive.maxInputSize=${maxPush}`);
    args.push(parsed.service);
    if (parsed.service === "upload-pack") args.push("--strict", "--", repoPath);
    else if (parsed.service === "receive-pack") args.push("--", repoPath);
    else args.push(repoPath);

    const logPath = push ? await createPushLog(this.runtime) : undefined;
    let code = 1;
    try {
      const child = spawn("git", args, {
        env: gitEnv({ GIT_PROTOCOL: gitProtocol, [PUSH_LOG_ENV]: logPath }),
        stdio: ["pipe", "pipe", "pipe"],
      });
      if (!push) this.fetches.add(child);
      const exited = new Promise<number>((resolve) => {
        child.once("error", (error) => {
          this.log.error({ err: error }, "could not start git");
          resolve(1);
        });
        child.once("close", (status) => resolve(status ?? 1));
      });
      child.stdin.on("error", () => {}); // EPIPE when git exits before reading everything
      channel.pipe(child.stdin);
      child.stdout.pipe(channel, { end: false });
      child.stderr.pipe(channel.stderr, { end: false });
      onClose = () => {
        child.stdout.unpipe(channel);
        child.stderr.unpipe(channel.stderr);
        child.stdout.resume();
        child.stderr.resume();
        // A fetch nobody reads is stopped; a push runs to its end (EOF if its data was cut
        // off), so that refs it did update are still reported to webhooks.
        if (push) child.stdin.end();
        else child.kill("SIGTERM");
      };
      if (channelClosed) onClose();
      code = await exited;
      this.fetches.delete(child);
    } finally {
      // Whatever happened, refs that moved are recorded before the client hears back.
      if (logPath !== undefined && pusherId !== null) {
        const updates = await completePush(
          this.ctx,
          { projectId, userId: pusherId, logPath },
          this.services.afterPush,
        );
        if (updates.length > 0) {
          this.log.info({ projectId, refs: updates.length, keyId }, "push received over ssh");
        }
      }
    }
    if (!channelClosed) finish(channel, code);
  }
}

const finished = new WeakSet<ServerChannel>();

/** Sends an optional framed error, the exit status, and closes the channel (once). */
function finish(channel: ServerChannel, code: number, errorMessage?: string): void {
  if (finished.has(channel)) return;
  finished.add(channel);
  try {
    if (errorMessage !== undefined) channel.stderr.write(formatRemoteError(errorMessage));
    channel.exit(code);
    channel.end();
  } catch {
    // The client is already gone.
  }
}
