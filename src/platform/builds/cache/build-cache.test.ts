import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { memoryContext, type MemoryContext } from "../../../../test/helpers/memory-ctx.ts";
import { CollectableBlobStore } from "../../deploys/collectable-blobs.ts";
import { LocalManifestStore } from "../../deploys/manifest.ts";
import type { Site } from "../../db/schema.ts";
import { collectGarbage } from "../../storage/gc.ts";
import { restoreBuildCache, saveBuildCache, type BuildCacheRun } from "./build-cache.ts";

/**
 * The cache's rules on real files, tar and an in-memory database (the sandboxed install and
 * the API are `test/e2e/build-cache.test.ts`): an untrusted build reads the production cache
 * and never writes it, least-recently-used entries go under a tiny cap, and the garbage
 * collector keeps a cache blob while its entry exists and frees it once evicted.
 */

const PACKAGE = JSON.stringify({ name: "unit", version: "1.0.0" });
const LOCK = JSON.stringify({ name: "unit", lockfileVersion: 3, packages: {} });

describe("build cache", () => {
  let mem: MemoryContext;
  let root: string;
  let blobs: CollectableBlobStore;
  let site: Site;
  let lines: string[];
  let builds = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-cache-unit-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    mem = await memoryContext();
    blobs = await CollectableBlobStore.open(join(root, `store-${++builds}`), { graceMs: 3600_000 });
    site = await mem.createSite();
  });
  afterEach(async () => {
    await mem.close();
  });

  /** A checkout after a build: package.json, the lockfile, node_modules and a framework cache. */
  async function checkout(files: Record<string, string> = {}): Promise<string> {
    const dir = join(root, `work-${++builds}`);
    const all = {
      "package.json": PACKAGE,
      "package-lock.json": LOCK,
      ...files,
    };
    for (const [path, content] of Object.entries(all)) {
      await mkdir(join(dir, path, ".."), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  }

  function run(workDir: string, overrides: Partial<BuildCacheRun> = {}): BuildCacheRun {
    lines = [];
    return {
      ctx: mem.ctx,
      blobs,
      siteId: site.id,
      base: null,
      branch: "main",
      productionBranch: "main",
      clearCache: false,
      untrusted: false,
      workDir,
      env: {},
      nodeDir: undefined,
      log: { write: (_section, message) => lines.push(message) },
      ...overrides,
    };
  }

  const entries = () =>
    mem.ctx.db.selectFrom("build_cache_entries").selectAll().orderBy("created_at").execute();

  /** A build that installed and succeeded: what it leaves is saved. */
  async function successfulBuild(branch = "main", marker = "v1"): Promise<void> {
    const dir = await checkout({
      "node_modules/dep/index.js": `module.exports = "${marker}";\n`,
      "node_modules/.cache/tool/state": marker,
    });
    const cacheRun = run(dir, { branch });
    await saveBuildCache(cacheRun, await restoreBuildCache(cacheRun));
  }

  it("restores the production cache into an untrusted build and never writes one", async () => {
    await successfulBuild();
    const before = await entries();
    assert.deepEqual(before.map((e) => e.layer).sort(), ["framework", "node_modules"]);

    // A fork's approved preview, with other dependencies and caches after its build.
    const dir = await checkout();
    const untrusted = run(dir, { untrusted: true, branch: "fork-branch" });
    const restored = await restoreBuildCache(untrusted);
    assert.equal(restored.install, undefined, "the install is skipped: node_modules restored");
    assert.equal(
      await readFile(join(dir, "node_modules/dep/index.js"), "utf8"),
      'module.exports = "v1";\n',
    );
    assert.equal(await readFile(join(dir, "node_modules/.cache/tool/state"), "utf8"), "v1");
    assert.ok(lines.some((l) => l.includes("framework caches of the production branch (main)")));
    await writeFile(join(dir, "node_modules/dep/index.js"), "module.exports = 'evil';\n");
    await writeFile(join(dir, "node_modules/.cache/tool/state"), "evil");
    await saveBuildCache(untrusted, restored);
    assert.ok(lines.some((l) => l.includes("not saved: this build's source is untrusted")));
    assert.deepEqual(await entries(), before, "the production cache is untouched");
  });

  it("moves a snapshot unpacked ahead into the next build, once, and unpacks the next from the blob", async () => {
    const dep = (dir: string) => readFile(join(dir, "node_modules/dep/index.js"), "utf8");
    const unpackedAhead = () => lines.some((l) => /restored node_modules .*unpacked ahead/.test(l));
    await successfulBuild("main", "v1");
    assert.ok(
      lines.some((l) => l.includes("node_modules unpacked ahead for the next build")),
      lines.join("\n"),
    );
    // Out of every sandbox's reach: only the platform's user may enter it.
    const warm = await stat(join(root, `warm-node-modules.${site.id}`));
    assert.equal(warm.mode & 0o077, 0);

    const second = await checkout();
    const secondRun = run(second);
    const restored = await restoreBuildCache(secondRun);
    assert.equal(restored.install, undefined, "the install is skipped");
    assert.ok(unpackedAhead(), lines.join("\n"));
    assert.equal(await dep(second), 'module.exports = "v1";\n');
    // What a build does to its node_modules stays in its checkout: the copy was used up.
    await writeFile(join(second, "node_modules/dep/index.js"), "module.exports = 'changed';\n");
    const third = await checkout();
    await restoreBuildCache(run(third));
    assert.ok(!unpackedAhead(), "a copy is used once; the next restore un-tars");
    assert.ok(lines.some((l) => l.startsWith("Build cache: restored node_modules")));
    assert.equal(await dep(third), 'module.exports = "v1";\n');

    // The second build ends: the next copy is unpacked from the blob, not from its checkout.
    await saveBuildCache(secondRun, restored);
    const fourth = await checkout();
    await restoreBuildCache(run(fourth));
    assert.ok(unpackedAhead(), lines.join("\n"));
    assert.equal(await dep(fourth), 'module.exports = "v1";\n');

    // clear_cache uses nothing of the old cache, the copy unpacked ahead included.
    await successfulBuild("main", "v1");
    await restoreBuildCache(run(await checkout(), { clearCache: true }));
    const fifth = await checkout();
    await restoreBuildCache(run(fifth));
    assert.ok(!unpackedAhead(), lines.join("\n"));
  });

  it("says why node_modules was not restored", async () => {
    const first = run(await checkout());
    await restoreBuildCache(first);
    assert.ok(lines.some((l) => l.includes("node_modules not restored: no cache yet")));
    await successfulBuild();
    const changed = run(await checkout({ "package-lock.json": `${LOCK}\n` }));
    await restoreBuildCache(changed);
    assert.ok(lines.some((l) => l.includes("node_modules not restored: lockfile changed")));
    const env = run(await checkout(), { env: { NODE_ENV: "production" } });
    await restoreBuildCache(env);
    assert.ok(
      lines.some((l) => l.includes("install environment variables changed")),
      lines.join("\n"),
    );
    const cleared = run(await checkout(), { clearCache: true });
    const restored = await restoreBuildCache(cleared);
    assert.ok(lines.some((l) => l.includes("nothing restored: clear_cache requested")));
    assert.notEqual(restored.install, undefined);
  });

  it("installs nothing for a package.json without a lockfile (the command installs)", async () => {
    const dir = join(root, `work-${++builds}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "package.json"), JSON.stringify({ devDependencies: { vite: "5" } }));
    const restored = await restoreBuildCache(run(dir));
    assert.equal(restored.install, undefined);
    assert.ok(
      lines.some((l) => l.startsWith("No lockfile")),
      lines.join("\n"),
    );
  });

  it("evicts the least recently used entries under the site's cap", async () => {
    await successfulBuild("main", "v1");
    mem.advance(60_000);
    await successfulBuild("feature", "v2");
    const all = await entries();
    const mainFramework = all.find((e) => e.layer === "framework" && e.branch === "main")!;
    // Room for the newest entries only: the main branch's framework cache is the oldest use.
    // (Half of its size as slack: a new tar of the same files may differ by a few bytes.)
    const others = all.filter((e) => e.id !== mainFramework.id);
    const cap =
      others.reduce((sum, e) => sum + e.size_bytes, 0) + Math.floor(mainFramework.size_bytes / 2);
    mem.ctx.config.builds.cache = { siteMaxBytes: cap, maxBytes: 1024 ** 3 };
    mem.advance(60_000);
    await successfulBuild("feature", "v2");
    assert.ok(
      lines.some((l) => l.includes("evicted framework caches")),
      lines.join("\n"),
    );
    const left = await entries();
    assert.ok(!left.some((e) => e.id === mainFramework.id), "the least recently used went");
    assert.deepEqual(
      left.map((e) => `${e.layer}:${e.branch ?? ""}`).sort(),
      ["framework:feature", "node_modules:"],
      "the entries the last build used or wrote stay",
    );
  });

  it("keeps a cache blob from the collector while its entry exists, and frees it once evicted", async () => {
    await successfulBuild();
    const manifests = await LocalManifestStore.open(join(root, `manifests-${builds}`));
    const stores = { blobs, manifests, uploadDir: join(root, `uploads-${builds}`) };
    await mkdir(stores.uploadDir, { recursive: true });
    const cached = await entries();
    const paths = cached.map((e) => blobs.inner.pathOf(e.blob_sha1));
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const path of paths) await utimes(path, old, old);
    const policy = {
      keepDeploys: 1,
      keepDeployDays: 0,
      gcGraceSeconds: 3600,
      gcIntervalSeconds: 0,
    };
    await collectGarbage(mem.ctx, stores, { policy });
    for (const path of paths) assert.ok(existsSync(path), "an entry's blob is kept");

    mem.ctx.config.builds.cache = { siteMaxBytes: 0, maxBytes: 0 };
    await successfulBuild();
    assert.deepEqual(await entries(), []);
    for (const path of paths) await utimes(path, old, old).catch(() => undefined);
    const report = await collectGarbage(mem.ctx, stores, { policy });
    assert.ok(report.blobsRemoved >= paths.length, JSON.stringify(report));
    for (const path of paths) assert.ok(!existsSync(path), "an evicted entry's blob is freed");
  });
});
