import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import { publishDirectory } from "../deploys/publish.ts";
import { MemorySiteResolver } from "./hosts.ts";
import { sha1 } from "../../../test/helpers/digests.ts";
import { startEdge, type RunningEdge } from "../../../test/helpers/edge.ts";
const HOST = "site.sites.test";

/**
 * Two versions of one site whose files only make sense together: `/page` is a rewrite to a
 * file that exists only in the same version, so serving A's manifest with B's rules (or the
 * reverse) would answer 404. Every path's body is unique to its version.
 */
function version(v: "A" | "B"): Record<string, string> {
  const mine = v.toLowerCase();
  return {
    "index.html": `<h1>index ${v}</h1>${`<p>${v}</p>`.repeat(500)}`,
    "app.js": `/* app ${v} */\n${`console.log("${v}");\n`.repeat(3000)}`,
    "about/index.html": `<h1>about ${v}</h1>`,
    [`${mine}-page.html`]: `<h1>page of ${v}</h1>`,
    _redirects: `/page /${mine}-page.html 200\n`,
    _headers: `/*\n  X-Version: ${v}\n`,
  };
}

const PATHS: [string, string][] = [
  ["/", "index.html"],
  ["/app.js", "app.js"],
  ["/about/", "about/index.html"],
  ["/page", "PAGE"],
];

function expectedBody(v: "A" | "B", key: string): string {
  const files = version(v);
  return key === "PAGE" ? files[`${v.toLowerCase()}-page.html`]! : files[key]!;
}

interface Observation {
  path: string;
  startedAt: number;
  status: number;
  body: string;
  etag: string | undefined;
  version: string | undefined;
}

describe("atomic publish", () => {
  let work: string;
  let blobs: LocalBlobStore;
  let resolver: MemorySiteResolver;
  let edge: RunningEdge;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-atomic-"));
    blobs = await LocalBlobStore.open(join(work, "store"));
    resolver = new MemorySiteResolver("sites.test");
    edge = await startEdge({ resolver });
  });
  after(async () => {
    await edge.close();
    await rm(work, { recursive: true, force: true });
  });

  async function build(v: "A" | "B"): Promise<string> {
    const dir = join(work, `out-${v}`);
    for (const [path, content] of Object.entries(version(v))) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  }

  it("serves every request wholly from A or wholly from B while B is published, never a 404", async (t) => {
    const a = await publishDirectory(await build("A"), { blobs });
    resolver.publish("site", { deployId: "deploya", manifest: a.manifest, blobs });
    const outB = await build("B");

    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const observations: Observation[] = [];
    let stop = false;
    const fetchOnce = (path: string): Promise<Observation> => {
      const startedAt = performance.now();
      return new Promise((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port: edge.port, path, agent, headers: { host: HOST } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () =>
              resolve({
                path,
                startedAt,
                status: res.statusCode ?? 0,
                body: Buffer.concat(chunks).toString(),
                etag: res.headers.etag,
                version: res.headers["x-version"] as string | undefined,
              }),
            );
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end();
      });
    };
    const hammer = async (lane: number): Promise<void> => {
      for (let i = lane; !stop; i++) {
        observations.push(await fetchOnce(PATHS[i % PATHS.length]![0]));
      }
    };
    let failure: unknown;
    const lanes = Array.from({ length: 12 }, (_, lane) =>
      hammer(lane).catch((error: unknown) => {
        failure ??= error;
        stop = true;
      }),
    );

    // Let A be served for a while, then publish B (hashing and storing while A is hammered),
    // switch the site, and keep hammering. Progress is counted in responses, not time, so a
    // slow machine makes the test slower, not flaky.
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    while (observations.length < 150 && !stop) await sleep(5);
    const b = await publishDirectory(outB, { blobs });
    resolver.publish("site", { deployId: "deployb", manifest: b.manifest, blobs });
    const publishedAt = performance.now();
    while (!stop && observations.filter((o) => o.startedAt > publishedAt).length < 150) {
      await sleep(5);
    }
    stop = true;
    await Promise.all(lanes);
    agent.destroy();
    if (failure !== undefined) throw failure;

    let sawA = 0;
    let sawB = 0;
    for (const o of observations) {
      assert.equal(o.status, 200, `${o.path} answered ${o.status}`);
      const key = PATHS.find(([p]) => p === o.path)![1];
      const isA = o.body === expectedBody("A", key);
      const isB = o.body === expectedBody("B", key);
      assert.ok(isA || isB, `${o.path} served a body that is neither A's nor B's`);
      const v = isA ? "A" : "B";
      assert.equal(o.version, v, `${o.path}: headers of one version, body of the other`);
      assert.equal(o.etag, `"${sha1(o.body)}"`, `${o.path}: ETag does not match the body`);
      if (o.startedAt > publishedAt) assert.equal(v, "B", `${o.path} started after the publish`);
      if (isA) sawA++;
      else sawB++;
    }
    t.diagnostic(`${observations.length} requests: ${sawA} served A, ${sawB} served B`);
    assert.ok(sawA > 0 && sawB > 0, `A ${sawA}, B ${sawB}`);
  });
});
