import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import { createManifest, LocalManifestStore } from "../deploys/manifest.ts";
import { publishBuildDeploy } from "../deploys/publish-switch.ts";
import { summarizeDeployRules } from "../edge/rules.ts";
import { leaseFence, type LeaseFence } from "../jobs/queue.ts";
import { BuildLog } from "./build-log.ts";
import { deploySite, storeAttemptManifest } from "./publish-stage.ts";
import { BUILD_QUEUE, requestBuild, type BuildRequestResult } from "./service.ts";
import { LeaseLost } from "./stage.ts";

/**
 * The fences of a build attempt's last steps: an attempt whose job lease was reclaimed and
 * handed to another attempt can neither publish nor replace the deploy's manifest, and no
 * attempt replaces the manifest of a deploy that was already served.
 */

const ONE = createManifest([["index.html", { sha1: "1".repeat(40), size: 1 }]]);
const TWO = createManifest([["index.html", { sha1: "2".repeat(40), size: 2 }]]);

describe("a build attempt's publish", () => {
  let m: MemoryContext;
  let root: string;
  let manifests: LocalManifestStore;
  let requested: BuildRequestResult;
  let siteId: string;

  beforeEach(async () => {
    m = await memoryContext();
    root = await mkdtemp(join(tmpdir(), "slipway-publish-stage-"));
    manifests = await LocalManifestStore.open(root);
    siteId = (await m.createSite()).id;
    requested = await requestBuild(m.ctx, { siteId, branch: "main", trigger: "link" });
    await m.ctx.db
      .updateTable("builds")
      .set({ state: "building" })
      .where("id", "=", requested.build.id)
      .execute();
  });

  afterEach(async () => {
    await m.close();
    await rm(root, { recursive: true, force: true });
  });

  /** The first attempt's lease, lost: it expired and the job went to a second attempt. */
  async function reclaimedFromFirst(): Promise<{ first: LeaseFence; second: LeaseFence }> {
    const first = await m.queue.lease("worker-a/0.1", [BUILD_QUEUE], 1000);
    assert.ok(first);
    m.advance(1001);
    await m.queue.reclaimExpired();
    const second = await m.queue.lease("worker-b/0.1", [BUILD_QUEUE], 1000);
    assert.equal(second?.id, first.id);
    return { first: leaseFence(first), second: leaseFence(second) };
  }

  const state = async (): Promise<{ deploy: string; build: string; published: string | null }> => ({
    deploy: (
      await m.ctx.db
        .selectFrom("deploys")
        .select("state")
        .where("id", "=", requested.deploy.id)
        .executeTakeFirstOrThrow()
    ).state,
    build: (
      await m.ctx.db
        .selectFrom("builds")
        .select("state")
        .where("id", "=", requested.build.id)
        .executeTakeFirstOrThrow()
    ).state,
    published: (
      await m.ctx.db
        .selectFrom("sites")
        .select("published_deploy_id")
        .where("id", "=", siteId)
        .executeTakeFirstOrThrow()
    ).published_deploy_id,
  });

  it("refuses to publish for an attempt that lost its lease, and publishes for the one holding it", async () => {
    const { first, second } = await reclaimedFromFirst();
    const before = await state();
    const late = await publishBuildDeploy(m.ctx, siteId, requested.build, requested.deploy.id, {
      fence: first,
    });
    assert.deepEqual(late, { kind: "lease_lost" });
    assert.deepEqual(await state(), before, "neither ready nor published, the build unchanged");

    const current = await publishBuildDeploy(m.ctx, siteId, requested.build, requested.deploy.id, {
      fence: second,
    });
    assert.deepEqual(current, { kind: "published" });
    assert.deepEqual(await state(), {
      deploy: "ready",
      build: "done",
      published: requested.deploy.id,
    });
  });

  it("replaces an earlier attempt's manifest of a deploy never served, for the lease holder only", async () => {
    const { first, second } = await reclaimedFromFirst();
    await manifests.put(requested.deploy.id, ONE);
    await assert.rejects(
      storeAttemptManifest(m.ctx, manifests, requested.deploy.id, TWO, first),
      LeaseLost,
    );
    assert.deepEqual(await manifests.get(requested.deploy.id), ONE);
    await storeAttemptManifest(m.ctx, manifests, requested.deploy.id, TWO, second);
    assert.deepEqual(await manifests.get(requested.deploy.id), TWO);
  });

  it("never deletes the manifest of a ready or published deploy", async () => {
    const { second } = await reclaimedFromFirst();
    await manifests.put(requested.deploy.id, ONE);
    await m.ctx.db
      .updateTable("deploys")
      .set({ state: "ready" })
      .where("id", "=", requested.deploy.id)
      .execute();
    await assert.rejects(
      storeAttemptManifest(m.ctx, manifests, requested.deploy.id, TWO, second),
      /its manifest is not replaced/,
    );
    assert.deepEqual(await manifests.get(requested.deploy.id), ONE);

    // Published (a state the guard must not rely on alone).
    await m.ctx.db
      .updateTable("deploys")
      .set({ state: "processing" })
      .where("id", "=", requested.deploy.id)
      .execute();
    await m.ctx.db
      .updateTable("sites")
      .set({ published_deploy_id: requested.deploy.id })
      .where("id", "=", siteId)
      .execute();
    await assert.rejects(
      storeAttemptManifest(m.ctx, manifests, requested.deploy.id, TWO, second),
      /and published; its manifest is not replaced/,
    );
    assert.deepEqual(await manifests.get(requested.deploy.id), ONE);
    // The same manifest again is no replacement: stored as it is.
    await storeAttemptManifest(m.ctx, manifests, requested.deploy.id, ONE, second);
  });

  it("stores the summary of the published files' rules as the deploy becomes ready", async () => {
    const job = await m.queue.lease("worker-a/0.1", [BUILD_QUEUE], 1000);
    assert.ok(job);
    const out = join(root, "out");
    await mkdir(out);
    await writeFile(join(out, "index.html"), "<h1>home</h1>");
    await writeFile(join(out, "_redirects"), "/old /new 301\n/broken\n");
    await m.ctx.db
      .updateTable("deploys")
      .set({ state: "building" })
      .where("id", "=", requested.deploy.id)
      .execute();
    const site = await m.ctx.db
      .selectFrom("sites")
      .selectAll()
      .where("id", "=", siteId)
      .executeTakeFirstOrThrow();
    const outcome = await deploySite(
      {
        ctx: m.ctx,
        blobs: await LocalBlobStore.open(join(root, "blobs")),
        manifests,
        workRoot: root,
        mirrorRoot: root,
        gitTempRoot: root,
        summarizeRules: summarizeDeployRules,
      },
      site,
      requested.build,
      requested.deploy.id,
      out,
      root,
      await BuildLog.open(m.ctx.db, requested.build.id),
      { signal: new AbortController().signal, fence: leaseFence(job) },
    );
    assert.equal(outcome, "published");
    const row = await m.ctx.db
      .selectFrom("deploys")
      .select(["state", "summary"])
      .where("id", "=", requested.deploy.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, "ready");
    assert.deepEqual(JSON.parse(row.summary ?? "null"), {
      redirects: 1,
      headers: 0,
      redirectErrors: ["Could not parse redirect line 2:\n  /broken\nMissing destination path/URL"],
      headerErrors: [],
      redirectErrorCount: 1,
      headerErrorCount: 0,
    });
  });
});
