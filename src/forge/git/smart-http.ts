import { spawn } from "node:child_process";
import { isAbsolute, relative, resolve } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { HTTP_STATUS } from "../../lib/errors.ts";
import type { ForgeContext } from "../context.ts";
import { GitAccessMessages, parseProjectPath, type GitActor } from "./access.ts";
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

/** GitLab's answer to missing or wrong credentials on git over HTTP. */
export const HTTP_ACCESS_DENIED =
  "HTTP Basic: Access denied. If a password was provided for Git authentication, the password " +
  "was incorrect or you're required to use a token instead of a password. If a token was " +
  "provided, it was either incorrect, expired, or improperly scoped. See " +
  "https://docs.gitlab.com/topics/git/troubleshooting_git/#error-on-git-fetch-http-basic-access-denied";

type Service = "git-upload-pack" | "git-receive-pack";
type Endpoint = "info/refs" | Service;

const SERVICES: readonly string[] = ["git-upload-pack", "git-receive-pack"];
/** The CGI response head may not grow beyond this before its blank line. */
const MAX_CGI_HEAD = 64 * 1024;

/**
 * Smart HTTP for forge repositories (`/<namespace>/<project>.git/...`), served by
 * `git http-backend` as a CGI child. Only the three smart endpoints exist; the dumb protocol's
 * file paths are not routed at all.
 */
export function smartHttpRoutes(
  app: FastifyInstance,
  ctx: ForgeContext,
  services: GitTransportServices,
): void {
  const runtime = prepareGitRuntime(ctx);
  void app.register(async (git) => {
    // The request body goes to git untouched (and unbounded): Fastify must not read it.
    git.addContentTypeParser(
      ["application/x-git-upload-pack-request", "application/x-git-receive-pack-request"],
      (_request, _payload, done) => done(null, undefined),
    );
    git.get("/:namespace/:project/info/refs", (request, reply) =>
      serve(ctx, runtime, services, request, reply, "info/refs"),
    );
    git.post("/:namespace/:project/git-upload-pack", (request, reply) =>
      serve(ctx, runtime, services, request, reply, "git-upload-pack"),
    );
    git.post("/:namespace/:project/git-receive-pack", (request, reply) =>
      serve(ctx, runtime, services, request, reply, "git-receive-pack"),
    );
  });
}

function plain(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type("text/plain; charset=utf-8").send(message);
}

function challenge(reply: FastifyReply): FastifyReply {
  return reply
    .code(401)
    .header("www-authenticate", 'Basic realm="GitLab"')
    .type("text/plain; charset=utf-8")
    .send(HTTP_ACCESS_DENIED);
}

/** The password of a Basic `Authorization` header; `null` when the header is there but unusable. */
function basicPassword(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const password = colon === -1 ? "" : decoded.slice(colon + 1);
  return password === "" ? null : password;
}

async function serve(
  ctx: ForgeContext,
  runtime: GitRuntime,
  { access, afterPush, onOperation }: GitTransportServices,
  request: FastifyRequest,
  reply: FastifyReply,
  endpoint: Endpoint,
): Promise<FastifyReply> {
  // The project name is read from the raw URL (no percent-decoding) and must be two plain
  // segments; it is only ever used to look the project up.
  const [rawPath = "", rawQuery = ""] = (request.raw.url ?? "").split("?", 2);
  const segments = /^\/([^/]+)\/([^/]+)\/(?:info\/refs|git-upload-pack|git-receive-pack)$/.exec(
    rawPath,
  );
  const projectPath = segments ? parseProjectPath(`${segments[1]}/${segments[2]}`) : undefined;
  if (projectPath === undefined) return plain(reply, 404, GitAccessMessages.projectNotFound);

  let actor: GitActor = { kind: "anonymous" };
  const password = basicPassword(request.headers.authorization);
  if (password === null) return challenge(reply);
  if (password !== undefined) {
    try {
      actor = await access.actorForToken(password);
    } catch {
      return challenge(reply);
    }
  }

  let service: Service;
  if (endpoint === "info/refs") {
    // Smart HTTP only (as GitLab: 401 without credentials, else 403).
    const requested = new URLSearchParams(rawQuery).get("service");
    if (requested === null || !SERVICES.includes(requested)) {
      if (actor.kind === "anonymous") return challenge(reply);
      return plain(reply, 403, "Unsupported service: only smart HTTP is served.");
    }
    service = requested as Service;
  } else {
    service = endpoint;
  }
  const push = service === "git-receive-pack";

  // Anonymous users may only fetch public projects; anything else asks for credentials (which
  // also keeps private projects' existence hidden).
  if (actor.kind === "anonymous" && push) return challenge(reply);
  const decision = await access.check(actor, projectPath, push ? "push" : "download");
  if (!decision.allowed) {
    if (actor.kind === "anonymous") return challenge(reply);
    return plain(reply, HTTP_STATUS[decision.status], decision.message);
  }

  let contentType = "";
  let encoding: string | undefined;
  if (endpoint !== "info/refs") {
    contentType = request.headers["content-type"] ?? "";
    if (contentType !== `application/x-${service}-request`) {
      return plain(reply, 415, `Content-Type must be application/x-${service}-request.`);
    }
    encoding = request.headers["content-encoding"]?.toLowerCase();
    if (encoding !== undefined && encoding !== "gzip" && encoding !== "x-gzip") {
      return plain(reply, 415, "Content-Encoding must be gzip or absent.");
    }
  }

  const projectId = decision.projectId;
  const repoDir = relative(ctx.repositories.root, ctx.repositories.pathFor(projectId));
  if (repoDir.startsWith("..") || isAbsolute(repoDir)) throw new Error("repository outside root");
  const pusherId = decision.pusherId;
  if (push && pusherId === null) return plain(reply, 403, GitAccessMessages.upload);
  if (endpoint !== "info/refs") onOperation?.("http", push ? "receive-pack" : "upload-pack");
  const logPath = push ? await createPushLog(runtime) : undefined;

  const protocol = request.headers["git-protocol"];
  const maxPush = push ? ctx.config.maxPushBytes : undefined;
  const env = gitEnv({
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: `HTTP/${request.raw.httpVersion}`,
    REQUEST_METHOD: request.method,
    GIT_PROJECT_ROOT: resolve(ctx.repositories.root),
    GIT_HTTP_EXPORT_ALL: "1",
    // Derived from the project id alone, never from the URL the client sent.
    PATH_INFO: `/${repoDir}/${endpoint}`,
    QUERY_STRING: endpoint === "info/refs" ? `service=${service}` : "",
    CONTENT_TYPE: contentType,
    // No CONTENT_LENGTH: http-backend then reads the body to EOF. (Given a length, git 2.39's
    // pipe_fixed_length spins forever on a body cut short by the client.) Node already
    // enforces the request's own Content-Length and undoes chunking.
    HTTP_CONTENT_ENCODING: encoding,
    GIT_PROTOCOL:
      typeof protocol === "string" && isValidGitProtocol(protocol) ? protocol : undefined,
    REMOTE_USER: actor.kind === "user" ? actor.user.username : "",
    REMOTE_ADDR: request.ip,
    // The forge's hooks for every repository (http-backend takes no -c option), and the push
    // cap: git counts the (inflated) pack and refuses it on its own error channel.
    GIT_CONFIG_COUNT: maxPush === undefined ? "1" : "2",
    GIT_CONFIG_KEY_0: "core.hooksPath",
    GIT_CONFIG_VALUE_0: runtime.hooksDir,
    GIT_CONFIG_KEY_1: maxPush === undefined ? undefined : "receive.maxInputSize",
    GIT_CONFIG_VALUE_1: maxPush === undefined ? undefined : String(maxPush),
    [PUSH_LOG_ENV]: logPath,
  });

  const cgi = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
  const stderr: Buffer[] = [];
  let stderrSize = 0;
  cgi.stderr.on("data", (chunk: Buffer) => {
    if ((stderrSize += chunk.length) <= 16 * 1024) stderr.push(chunk);
  });
  const exited = new Promise<number>((resolve) => {
    cgi.once("error", (error) => {
      request.log.error({ err: error }, "could not start git http-backend");
      resolve(1);
    });
    cgi.once("close", (code) => resolve(code ?? 1));
  });

  cgi.stdin.on("error", () => {}); // EPIPE when git answers before reading everything
  request.raw.on("error", () => {}); // an aborted upload; handled through the close below
  if (endpoint === "info/refs") cgi.stdin.end();
  else request.raw.pipe(cgi.stdin);

  const body = new PassThrough();
  // A client that goes away stops a fetch, and a push whose data was cut off (it cannot
  // succeed); a push whose data all arrived runs to its end, so that refs it updates still reach
  // the webhooks. Either way git's output is drained from then on, so it never blocks.
  let clientGone = false;
  const onGone = (): void => {
    if (clientGone || reply.raw.writableFinished) return;
    clientGone = true;
    request.raw.unpipe(cgi.stdin);
    cgi.stdout.unpipe(body);
    cgi.stdout.resume();
    if (push && request.raw.complete) cgi.stdin.end();
    else cgi.kill("SIGTERM");
  };
  reply.raw.once("close", onGone);
  // It may have hung up while the access check ran.
  if (reply.raw.destroyed || request.raw.destroyed) onGone();

  const head = await readCgiHead(cgi.stdout);

  // After git exits: record the push durably, and only then end the response.
  const finished = (async () => {
    const code = await exited;
    if (code !== 0) {
      request.log.warn(
        { code, stderr: Buffer.concat(stderr).toString("utf8").slice(0, 2000) },
        "git http-backend failed",
      );
    }
    if (logPath !== undefined && pusherId !== null) {
      try {
        const updates = await completePush(
          ctx,
          { projectId, userId: pusherId, logPath },
          afterPush,
        );
        if (updates.length > 0) {
          request.log.info({ projectId, refs: updates.length }, "push received over http");
        }
      } catch (error) {
        request.log.error({ err: error, projectId }, "recording a push failed");
      }
    }
  })();

  if (!head || clientGone) {
    cgi.stdout.resume();
    if (!push) cgi.kill("SIGTERM");
    await finished;
    return plain(reply, 500, "git http-backend failed.");
  }
  body.write(head.rest);
  cgi.stdout.pipe(body, { end: false });
  // A push git stopped reading (over the size cap) leaves the rest of its body unread: the
  // connection closes once the answer is out, instead of waiting for bytes no one will read.
  reply.raw.once("finish", () => {
    if (!request.raw.complete) request.raw.socket.destroy();
  });
  void finished.finally(() => body.end());
  return reply.code(head.status).headers(head.headers).send(body);
}

interface CgiHead {
  status: number;
  headers: Record<string, string>;
  rest: Buffer;
}

/**
 * Reads the CGI header block (up to the blank line) from the child's stdout and leaves the stream
 * paused right after it. `undefined` if the output ends or grows too large first.
 */
function readCgiHead(stdout: Readable): Promise<CgiHead | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (result: CgiHead | undefined): void => {
      stdout.off("data", onData);
      stdout.off("end", onEnd);
      stdout.off("error", onEnd);
      stdout.pause();
      resolve(result);
    };
    const onEnd = (): void => done(undefined);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const crlf = buffered.indexOf("\r\n\r\n");
      const lf = buffered.indexOf("\n\n");
      let end = -1;
      let separator = 0;
      if (crlf !== -1 && (lf === -1 || crlf < lf)) [end, separator] = [crlf, 4];
      else if (lf !== -1) [end, separator] = [lf, 2];
      if (end === -1) {
        if (buffered.length > MAX_CGI_HEAD) done(undefined);
        return;
      }
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of buffered.subarray(0, end).toString("latin1").split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === "status") status = Number.parseInt(value, 10) || 500;
        else if (/^[a-z0-9-]+$/.test(name)) headers[name] = value;
      }
      done({ status, headers, rest: buffered.subarray(end + separator) });
    };
    stdout.on("data", onData);
    stdout.once("end", onEnd);
    stdout.once("error", onEnd);
  });
}
