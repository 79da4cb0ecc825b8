/**
 * The runtime's ceiling for `bench/https.ts`: a bare `node:https` server (TLS 1.2+, the same
 * certificate) answering every request with the same bytes from memory. Run as a child:
 * `node --import tsx bench/lib/bare-https.ts` with BARE_CERT, BARE_KEY, BARE_BODY, BARE_PORT.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const body = readFileSync(process.env.BARE_BODY!);
const headers = [
  "content-type",
  "text/html; charset=utf-8",
  "content-length",
  String(body.length),
  "cache-control",
  "public, max-age=0, must-revalidate",
  "etag",
  '"bare"',
];
const server = createServer(
  {
    cert: readFileSync(process.env.BARE_CERT!),
    key: readFileSync(process.env.BARE_KEY!),
    minVersion: "TLSv1.2",
  },
  (_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  },
);
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.BARE_PORT), "127.0.0.1", () => {
  console.log("listening");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
