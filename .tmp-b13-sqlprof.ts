import SQLite from "better-sqlite3";
import { createHash, randomBytes } from "node:crypto";
import { request, Agent } from "node:http";
import { startTestPlatform } from "./test/helpers/platform.ts";

const probe = new SQLite(":memory:");
const proto = Object.getPrototypeOf(probe.prepare("select 1"));
const stats = new Map<string, { n: number; ms: number }>();
let on = false;
for (const m of ["run", "all", "get", "iterate"]) {
  const orig = proto[m];
  proto[m] = function (this: { source: string }, ...args: unknown[]) {
    const t = performance.now();
    try { return orig.apply(this, args); } finally {
      if (on) { const k = `${m} ${this.source.slice(0, 160)}`; const s = stats.get(k) ?? { n: 0, ms: 0 }; s.n++; s.ms += performance.now() - t; stats.set(k, s); }
    }
  };
}
const N = Number(process.argv[2] ?? 2000);
const p = await startTestPlatform({ platform: {} });
const t = await p.createTenant("sqlprof");
const site = await p.api<{ id: string }>("POST", "/sites", { token: t.token, body: { name: "sqlprof" } });
const files = new Map<string, Buffer>();
for (let i = 0; i < N; i++) files.set(`d${i % 100}/f${i}.html`, randomBytes(2000 + (i % 5000)));
const digests = Object.fromEntries([...files].map(([k, v]) => [k, createHash("sha1").update(v).digest("hex")]));
on = true;
const started = performance.now();
const created = await p.api<{ id: string; required: string[] }>("POST", `/sites/${site.body.id}/deploys`, { token: t.token, body: { files: digests } });
const agent = new Agent({ keepAlive: true, maxSockets: 5 });
const list = [...files];
let next = 0;
const url = new URL(p.url);
await Promise.all(Array.from({ length: 5 }, async () => {
  while (next < list.length) {
    const [path, body] = list[next++]!;
    await new Promise<void>((res, rej) => {
      const r = request({ agent, host: url.hostname, port: url.port, method: "PUT", path: `/api/v1/deploys/${created.body.id}/files/${path}`, headers: { authorization: `Bearer ${t.token}`, "content-type": "application/octet-stream", "content-length": body.length } }, (resp) => { resp.resume(); resp.on("end", () => resp.statusCode === 200 ? res() : rej(new Error(String(resp.statusCode)))); });
      r.on("error", rej); r.end(body);
    });
  }
}));
console.log("uploads ms", Math.round(performance.now() - started));
on = false;
let total = 0;
for (const [, s] of stats) total += s.ms;
console.log("sql total ms", Math.round(total));
for (const [k, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(s.ms.toFixed(0).padStart(6), String(s.n).padStart(6), (s.ms / s.n * 1000).toFixed(0).padStart(6) + "us", k);
agent.destroy();
await p.stop();
