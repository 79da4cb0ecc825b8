/**
 * The edge for `bench/metrics.ts`, as a child: `createEdge` over an in-memory resolver serving
 * a 1 KiB page and a 50 KiB script, with the platform's metrics when `EDGE_METRICS=on` and
 * without them otherwise — nothing else differs. Run as `node --import tsx
 * bench/lib/metrics-edge-server.ts` with EDGE_ROOT (a scratch directory), EDGE_PORT and
 * EDGE_METRICS. `GET /metrics` (any host) answers the registry's text when metrics are on, so
 * the benchmark can check that the requests were counted.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { LocalBlobStore } from "../../src/platform/deploys/local-blob-store.ts";
import { publishDirectory } from "../../src/platform/deploys/publish.ts";
import { createEdge } from "../../src/platform/edge/handler.ts";
import { MemorySiteResolver } from "../../src/platform/edge/hosts.ts";
import { PlatformMetrics } from "../../src/platform/metrics/metrics.ts";
import { Prng } from "./prng.ts";

const root = process.env.EDGE_ROOT!;
const port = Number(process.env.EDGE_PORT);
const metricsOn = process.env.EDGE_METRICS === "on";

const site = join(root, "site");
mkdirSync(site, { recursive: true });
const random = new Prng(0x5e11);
const text = (size: number): string => {
  let out = "";
  while (out.length < size) out += random.nextU32().toString(36);
  return out.slice(0, size);
};
writeFileSync(join(site, "index.html"), `<!doctype html><p>${text(1024 - 20)}</p>\n`);
writeFileSync(join(site, "app.js"), `// ${text(51_200 - 4)}\n`);

const blobs = await LocalBlobStore.open(join(root, "store"));
const { manifest } = await publishDirectory(site, { blobs });
const resolver = new MemorySiteResolver("localhost");
resolver.publish("bench", { deployId: "0123456789abcdef01234567", manifest, blobs });

const metrics = metricsOn ? new PlatformMetrics() : undefined;
const edge = createEdge({ resolver, ...(metrics ? { metrics } : {}) });
if (metrics) metrics.attach({ hotCache: () => edge.stats().cache });

createServer((req, res) => {
  if (req.url === "/metrics") {
    void (metrics?.registry.metrics() ?? Promise.resolve("")).then((body) => res.end(body));
    return;
  }
  edge.handler(req, res);
}).listen(port, "127.0.0.1", () =>
  console.log(`edge (metrics ${metricsOn ? "on" : "off"}) on ${port}`),
);
