/**
 * The runtime's ceiling for `bench/edge.ts` and `bench/https.ts`: a bare `node:http` server, or
 * `node:https` (TLS 1.2+) when BARE_CERT and BARE_KEY are set, answering with the bytes of the
 * files in BARE_ROOT from memory (`/<name>`, `/` is index.html) with the edge's set of headers,
 * and to a POST, once its body is read, `{}` (the webhook benchmark's ceiling). With BARE_HTTP2=1
 * too, the HTTPS server is Slipway's configuration instead: `node:http2`'s secure server with
 * HTTP/1.1 fallback and the certificate chosen by an `SNICallback` (the runtime's share of
 * what Slipway's HTTPS listener costs over bare `node:https`). With BARE_LOAD (a module of this
 * project, e.g. `src/platform/server.ts`), that module is imported before anything else and
 * never used: the same listener then runs in a process carrying Slipway's code, which weighs on
 * every request although none of it runs (`bench/RESULTS.md`, session 10).
 * Run as a child: `node --import tsx bench/lib/bare-server.ts` with BARE_ROOT, BARE_PORT and,
 * for HTTPS, BARE_CERT and BARE_KEY. `GET /__handshakes` answers the TLS handshakes so far
 * ('secureConnection' events, its own included) and how many of them resumed a session, as
 * JSON, so a benchmark can check that its load generator really makes a full one per request.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createSecureServer } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { extname, join } from "node:path";
import { pathToFileURL } from "node:url";

if (process.env.BARE_LOAD !== undefined) {
  await import(pathToFileURL(join(import.meta.dirname, "..", "..", process.env.BARE_LOAD)).href);
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
};

const root = process.env.BARE_ROOT!;
const answers = new Map<string, { body: Buffer; headers: string[] }>();
for (const name of readdirSync(root)) {
  const body = readFileSync(join(root, name));
  const headers = [
    "content-type",
    TYPES[extname(name)] ?? "application/octet-stream",
    "cache-control",
    "public, max-age=0, must-revalidate",
    "accept-ranges",
    "bytes",
    "vary",
    "Accept-Encoding",
    "etag",
    `"${name}"`,
    "content-length",
    String(body.length),
  ];
  answers.set(`/${name}`, { body, headers });
  if (name === "index.html") answers.set("/", { body, headers });
}

let handshakes = 0;
let resumed = 0;
const listener: RequestListener = (req, res) => {
  if (req.method === "POST") {
    // The webhook benchmark's ceiling: read the whole body, then a small JSON answer.
    req.on("data", () => undefined);
    req.on("end", () => {
      res.writeHead(200, ["content-type", "application/json", "content-length", "2"]);
      res.end("{}");
    });
    return;
  }
  const answer = answers.get(req.url ?? "/");
  if (answer !== undefined) {
    res.writeHead(200, answer.headers);
    res.end(answer.body);
  } else if (req.url === "/__handshakes") {
    res.end(JSON.stringify({ handshakes, resumed }));
  } else {
    res.writeHead(404).end();
  }
};

const certFile = process.env.BARE_CERT;
const keyFile = process.env.BARE_KEY;
const countHandshake = (socket: TLSSocket): void => {
  handshakes++;
  if (socket.isSessionReused()) resumed++;
};

function secureServer(cert: Buffer, key: Buffer) {
  if (process.env.BARE_HTTP2 !== "1") {
    return createHttpsServer({ cert, key, minVersion: "TLSv1.2" }, listener);
  }
  // One context per name, made once, as Slipway's cache does; every name gets this certificate.
  const contexts = new Map<string, SecureContext>();
  const context = createSecureContext({ cert, key, minVersion: "TLSv1.2" });
  return createSecureServer(
    {
      allowHTTP1: true,
      minVersion: "TLSv1.2",
      SNICallback: (name, callback) => {
        let found = contexts.get(name);
        if (found === undefined) contexts.set(name, (found = context));
        callback(null, found);
      },
    },
    listener as unknown as Parameters<typeof createSecureServer>[1],
  );
}

const server =
  certFile !== undefined && keyFile !== undefined
    ? secureServer(readFileSync(certFile), readFileSync(keyFile)).on(
        "secureConnection",
        countHandshake,
      )
    : createHttpServer(listener);
// (`node:http2`'s server has no keep-alive timeout, and Slipway's sets none.)
if ("keepAliveTimeout" in server) server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.BARE_PORT), "127.0.0.1", () => {
  console.log("listening");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
