import { createServer, type IncomingMessage } from "node:http";
import { listen } from "../fakes/server.ts";

/** Helpers for the fakes' own tests: plain HTTP calls to a fake, and a webhook receiver. */

export interface FakeAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

/** One call to a fake; a body that is not a string is sent as JSON. */
export async function callFake(
  method: string,
  url: string,
  options: { authorization?: string; body?: unknown; contentType?: string } = {},
): Promise<FakeAnswer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] = options.contentType ?? "application/json";
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

export interface Received {
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A webhook receiver answering each delivery with the next of `statuses`, then `otherwise`. */
export async function startReceiver(statuses: number[] = [], otherwise = 200) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(statuses.shift() ?? otherwise).end("ok");
    });
  });
  const { url, close } = await listen(server);
  return { url: `${url}/hook`, received, close };
}
