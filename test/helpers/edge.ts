import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { BlobReader, BlobStore } from "../../src/platform/deploys/blob-store.ts";
import { publishDirectory } from "../../src/platform/deploys/publish.ts";
import { createEdge, type Edge, type EdgeOptions } from "../../src/platform/edge/handler.ts";
import type { ResolvedDeploy } from "../../src/platform/edge/hosts.ts";

/**
 * Helpers for the edge's tests: deploys built by the real publisher from a file map, a real
 * `node:http` server on port 0, and a raw HTTP client. The client is `node:http`, not `fetch`:
 * `fetch` rewrites `..`/`%2e%2e` before sending, overrides `Host`, and decodes bodies, and the
 * tests need to send exact request targets and Host headers and see the encoded bytes.
 */

export async function makeDeploy(
  blobs: BlobStore,
  deployId: string,
  files: Record<string, string | Buffer>,
  extra: Partial<Pick<ResolvedDeploy, "netlifyToml">> & { reader?: BlobReader } = {},
): Promise<ResolvedDeploy> {
  const dir = await mkdtemp(join(tmpdir(), "slipway-edge-out-"));
  try {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    const { manifest } = await publishDirectory(dir, { blobs });
    const { reader, ...rest } = extra;
    return { deployId, manifest, blobs: reader ?? blobs, ...rest };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RunningEdge {
  edge: Edge;
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startEdge(options: EdgeOptions): Promise<RunningEdge> {
  const edge = createEdge(options);
  const server = createServer(edge.handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    edge,
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** Sends one request with an exact target and Host header; the body is returned undecoded. */
export function rawRequest(
  port: number,
  host: string | undefined,
  target: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (host !== undefined) headers.host = host;
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: target,
        headers,
        setHost: false,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString("utf8"),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}
