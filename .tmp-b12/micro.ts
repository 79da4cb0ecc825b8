// Per-request cost of the front + edge JavaScript on the fully cached path, with fake req/res.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBlobStore } from "../src/platform/deploys/blob-store.ts";
import { makeDeploy } from "../test/helpers/edge.ts";
import { createEdge } from "../src/platform/edge/handler.ts";
import { createFront } from "../src/platform/edge/front.ts";
import { HostCache } from "../src/platform/edge/host-cache.ts";
import { createSiteProtection } from "../src/platform/edge/protection.ts";
import { EdgeRequestMetrics } from "../src/platform/metrics/edge-requests.ts";
import { Registry } from "prom-client";

const work = await mkdtemp(join(tmpdir(), "b12-micro-"));
const blobs = await LocalBlobStore.open(join(work, "store"));
const deploy = await makeDeploy(blobs, "c0ffee02", { "index.html": "x".repeat(1024) });
const route = { siteId: "s", siteName: "bench", publishedDeployId: "c0ffee02", kind: "primary", primary: "bench.test", primarySecure: true, hostSecure: true, forceSsl: false, hstsMaxAge: null } as never;
const routes = new HostCache({ load: async () => route, ttlMs: 1e9 });
await routes.lookup("bench.test");
const protection = createSiteProtection({ ctx: {} as never, sitesDomain: "localhost", masterKey: Buffer.alloc(32), routes: routes as never, ttlMs: 1e9 });
const m = new EdgeRequestMetrics(new Registry());
const edge = createEdge({
  resolver: { resolve: async () => deploy, cached: () => deploy },
  ...(process.env.NOPROT ? {} : { protection }),
  ...(process.env.NOMETRICS ? {} : { metrics: { edgeServed: (s: number, t: number) => m.served(s, t) } }),
});
const front = createFront({ db: {} as never, routes: routes as never, sitesDomain: "localhost", apiHost: "127.0.0.1", edge: edge.handler, ports: () => ({ http: 80, https: 443 }), trustedProxies: [] });
const listener = front.listener({ secure: true });
let bytes = 0;
const res = { statusCode: 200, headersSent: false, writeHead(s: number, h: unknown) { this.statusCode = s; bytes += (h as unknown[]).length; return this; }, end(b?: Buffer) { bytes += b?.length ?? 0; }, setHeader() {} };
const mkReq = () => ({ headers: { host: "bench.test:443" }, rawHeaders: ["Host", "bench.test:443"], url: "/", method: "GET", socket: { encrypted: true } });
const direct = process.env.DIRECT;
const run = (n: number) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const req = mkReq();
    if (direct) edge.handler(req as never, res as never, "bench.test"); else listener(req as never, res as never);
  }
  return Number(process.hrtime.bigint() - t0) / n;
};
run(20000); await new Promise((r) => setTimeout(r, 50)); run(200000);
const results = [];
for (let i = 0; i < 5; i++) results.push(run(300000));
console.log(process.env.LABEL ?? "", "ns/request:", results.map((x) => x.toFixed(0)).join(" "), "bytes", bytes > 0);
