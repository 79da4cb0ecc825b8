import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { runChecked } from "../../../src/lib/run.ts";

/**
 * Git smart HTTP over TLS, as github.com serves it: `GET /owner/repo.git/info/refs?service=
 * git-upload-pack` and `POST /owner/repo.git/git-upload-pack`, answered by `git upload-pack
 * --stateless-rpc` (argv and a clean environment; the repository directory comes from the
 * fake's state, never from the URL). Fetch only: pushes are refused. Credentials are HTTP Basic
 * (`x-access-token:<token>`); who may read what is the fake's decision (`authorize`).
 */

export type GitAuthDecision =
  { ok: true; dir: string } | { ok: false; status: 401 | 403 | 404; message: string };

export interface GitHttpOptions {
  /** Where the self-signed certificate and key are written. */
  dir: string;
  authorize(owner: string, repo: string, authorization: string | undefined): GitAuthDecision;
  /** Milliseconds to wait before answering each request (tests that watch git's processes). */
  delayMs?(): number;
  /** Every request, for tests (`owner/repo`, endpoint, status). */
  onRequest?(entry: { path: string; status: number; authorized: boolean }): void;
}

export interface GitHttpServer {
  /** `https://localhost:<port>` */
  url: string;
  /** The PEM certificate to trust (`http.sslCAInfo`). */
  caFile: string;
  close(): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;
const PATH =
  /^\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/** A self-signed certificate for `localhost` and 127.0.0.1 (openssl, argv only). */
async function selfSignedCertificate(dir: string): Promise<{ key: string; cert: string }> {
  const keyPath = join(dir, "tls-key.pem");
  const certPath = join(dir, "tls-cert.pem");
  await runChecked(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { env: { PATH: "/usr/bin:/bin" } },
  );
  return { key: await readFile(keyPath, "utf8"), cert: await readFile(certPath, "utf8") };
}

export async function startGitHttp(options: GitHttpOptions): Promise<GitHttpServer> {
  const { key, cert } = await selfSignedCertificate(options.dir);
  const server: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      void serve(options, req, res, Buffer.concat(chunks), size > MAX_BODY).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}`,
    caFile: join(options.dir, "tls-cert.pem"),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function plain(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): number {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(`${message}\n`);
  return status;
}

async function serve(
  options: GitHttpOptions,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  tooLarge: boolean,
): Promise<void> {
  const url = new URL(req.url ?? "/", "https://localhost");
  const match = PATH.exec(url.pathname);
  const log = (status: number, authorized: boolean) =>
    options.onRequest?.({ path: url.pathname, status, authorized });
  if (!match) {
    log(plain(res, 404, "Not Found"), false);
    return;
  }
  const [, owner, repo, endpoint] = match as unknown as [string, string, string, string];
  if (tooLarge) {
    log(plain(res, 413, "Request Entity Too Large"), false);
    return;
  }
  const service = endpoint === "info/refs" ? url.searchParams.get("service") : endpoint;
  if (service === "git-receive-pack") {
    log(plain(res, 403, "Write access to repository not granted."), false);
    return;
  }
  if (service !== "git-upload-pack") {
    // The dumb protocol is not served.
    log(plain(res, 403, "Smart HTTP only."), false);
    return;
  }
  const delay = options.delayMs?.() ?? 0;
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const decision = options.authorize(owner, repo, req.headers.authorization);
  if (!decision.ok) {
    const headers: Record<string, string> =
      decision.status === 401 ? { "www-authenticate": 'Basic realm="GitHub"' } : {};
    log(plain(res, decision.status, decision.message, headers), false);
    return;
  }

  const protocol = req.headers["git-protocol"];
  const v2 = typeof protocol === "string" && /^version=2$/.test(protocol);
  const env: NodeJS.ProcessEnv = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: options.dir,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    ...(v2 ? { GIT_PROTOCOL: "version=2" } : {}),
  };
  const advertise = endpoint === "info/refs";
  let input = body;
  if (!advertise) {
    if (
      req.method !== "POST" ||
      req.headers["content-type"] !== "application/x-git-upload-pack-request"
    ) {
      log(plain(res, 415, "Unsupported Media Type"), true);
      return;
    }
    const encoding = req.headers["content-encoding"];
    if (encoding === "gzip" || encoding === "x-gzip") input = gunzipSync(body);
  }
  const args = [
    "upload-pack",
    "--strict",
    "--stateless-rpc",
    ...(advertise ? ["--advertise-refs"] : []),
    "--",
    decision.dir,
  ];
  const child = spawn("git", args, { env, stdio: ["pipe", "pipe", "ignore"] });
  res.writeHead(200, {
    "content-type": advertise
      ? "application/x-git-upload-pack-advertisement"
      : "application/x-git-upload-pack-result",
    "cache-control": "no-cache, max-age=0, must-revalidate",
  });
  if (advertise && !v2) res.write(pktLine("# service=git-upload-pack\n") + "0000");
  child.stdout.pipe(res);
  child.stdin.on("error", () => {});
  child.stdin.end(advertise ? undefined : input);
  await new Promise<void>((resolve) => child.on("close", () => resolve()));
  log(200, true);
}

function pktLine(text: string): string {
  return (text.length + 4).toString(16).padStart(4, "0") + text;
}
