import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import { PlatformError } from "../errors.ts";
import { publishDeploy } from "./runner.ts";
import { sweepOrphanedBuildRows } from "./recovery.ts";
import { buildJobKey, cancelBuild, requestBuild } from "./service.ts";
import { GraphileJobQueue, migrateGraphileWorker } from "../jobs/graphile-queue.ts";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";

const SHA1 = "1".repeat(40);
const SHA2 = "2".repeat(40);

describe("requestBuild", () => {
  let m: MemoryContext;
  beforeEach(async () => {
    m = await memoryContext();
  });
  afterEach(async () => {
    await m.close();
  });

  const count = async (table: "builds" | "deploys" | "jobs"): Promise<number> =>
    Number(
      (
        await m.ctx.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it("stores the build, its deploy and its job together", async () => {
    const site = await m.createSite();
    const { build, deploy, coalescedWith } = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      trigger: "link",
    });
    assert.equal(coalescedWith, undefined);
    assert.equal(build.state, "enqueued");
    assert.equal(build.number, 1);
    assert.equal(build.deploy_id, deploy.id);
    assert.equal(deploy.state, "new");
    assert.equal(deploy.context, "production");
    assert.equal(deploy.build_id, build.id);
    const job = await m.queue.findByDedupeKey(buildJobKey(build.id));
    assert.equal(job?.state, "pending");
    assert.equal(job?.concurrency_key, `site:${site.id}`);
    assert.deepEqual(JSON.parse(job!.payload), { buildId: build.id });

    const branch = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "feature/x",
      sha: SHA1,
      trigger: "webhook",
    });
    assert.equal(branch.deploy.context, "branch-deploy");
    assert.equal(branch.build.number, 2);
  });

  it("coalesces a commit already queued, building or built (duplicate deliveries)", async () => {
    const site = await m.createSite();
    const first = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA1,
      trigger: "webhook",
    });
    const again = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA1.toUpperCase().toLowerCase(),
      trigger: "webhook",
    });
    assert.equal(again.coalescedWith, first.build.id);
    assert.equal(again.deploy.id, first.deploy.id);

    await m.ctx.db
      .updateTable("builds")
      .set({ state: "done" })
      .where("id", "=", first.build.id)
      .execute();
    const built = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA1,
      trigger: "build_hook",
    });
    assert.equal(built.coalescedWith, first.build.id);
    assert.equal(await count("builds"), 1);
    assert.equal(await count("jobs"), 1);

    // Asked for on purpose: a retry or a cache-clearing build runs again.
    const retry = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA1,
      trigger: "retry",
    });
    assert.equal(retry.coalescedWith, undefined);
    assert.equal(await count("builds"), 2);
  });

  it("joins a queued build of the branch head when no commit is given (link + manual)", async () => {
    const site = await m.createSite();
    const linked = await requestBuild(m.ctx, { siteId: site.id, branch: "main", trigger: "link" });
    const manual = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      trigger: "manual",
      clearCache: true,
    });
    assert.equal(manual.coalescedWith, linked.build.id);
    const row = await m.ctx.db
      .selectFrom("builds")
      .select("clear_cache")
      .where("id", "=", linked.build.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.clear_cache, 1, "the joined build clears the cache as asked");
  });

  it("supersedes a queued, not started build of the branch with a newer request", async () => {
    const site = await m.createSite();
    const older = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA1,
      trigger: "webhook",
    });
    const other = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "dev",
      sha: SHA1,
      trigger: "webhook",
    });
    const newer = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: SHA2,
      trigger: "webhook",
    });
    assert.equal(newer.coalescedWith, undefined);

    const old = await m.ctx.db
      .selectFrom("builds")
      .selectAll()
      .where("id", "=", older.build.id)
      .executeTakeFirstOrThrow();
    assert.equal(old.state, "superseded");
    assert.match(old.error ?? "", new RegExp(`Superseded by build ${newer.build.id}`));
    assert.ok(old.finished_at);
    const oldDeploy = await m.ctx.db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", older.deploy.id)
      .executeTakeFirstOrThrow();
    assert.equal(oldDeploy.state, "error");
    assert.equal(oldDeploy.error_message, old.error);
    assert.equal((await m.queue.findByDedupeKey(buildJobKey(older.build.id)))?.state, "failed");
    const log = await m.ctx.db
      .selectFrom("build_log_lines")
      .selectAll()
      .where("build_id", "=", older.build.id)
      .execute();
    assert.equal(log.length, 1);

    // Another branch is not touched.
    const dev = await m.ctx.db
      .selectFrom("builds")
      .select("state")
      .where("id", "=", other.build.id)
      .executeTakeFirstOrThrow();
    assert.equal(dev.state, "enqueued");

    // A running build is never superseded (it finishes; ordering decides at publish time).
    await m.ctx.db
      .updateTable("builds")
      .set({ state: "building" })
      .where("id", "=", newer.build.id)
      .execute();
    const newest = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: "3".repeat(40),
      trigger: "webhook",
    });
    const running = await m.ctx.db
      .selectFrom("builds")
      .select("state")
      .where("id", "=", newer.build.id)
      .executeTakeFirstOrThrow();
    assert.equal(running.state, "building");
    assert.equal(newest.build.number, 4);
  });

  it("refuses unlinked sites, bad branch names and bad commit ids with 4xx errors", async () => {
    const unlinked = await m.createSite({ repo_url: null, repo_provider: null });
    await assert.rejects(
      requestBuild(m.ctx, { siteId: unlinked.id, branch: "main", trigger: "manual" }),
      (error: unknown) => error instanceof PlatformError && error.statusCode === 422,
    );
    const site = await m.createSite();
    await assert.rejects(
      requestBuild(m.ctx, { siteId: site.id, branch: "--upload-pack=x", trigger: "webhook" }),
      (error: unknown) => error instanceof PlatformError && error.field === "branch",
    );
    await assert.rejects(
      requestBuild(m.ctx, { siteId: site.id, branch: "main", sha: "HEAD", trigger: "webhook" }),
      (error: unknown) => error instanceof PlatformError && error.field === "sha",
    );
    await assert.rejects(
      requestBuild(m.ctx, {
        siteId: "00000000-0000-4000-8000-000000000000",
        branch: "main",
        trigger: "manual",
      }),
      (error: unknown) => error instanceof PlatformError && error.statusCode === 404,
    );
    assert.equal(await count("builds"), 0);
  });

  it("cancels a queued build so that it never starts", async () => {
    const site = await m.createSite();
    const { build } = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      trigger: "manual",
    });
    const cancelled = await cancelBuild(m.ctx, build.id, "alice@example.test");
    assert.equal(cancelled.state, "cancelled");
    assert.equal(cancelled.error, "Build cancelled by alice@example.test");
    assert.equal(await m.queue.lease("w", ["build"], 1000), undefined);
    const again = await cancelBuild(m.ctx, build.id, "bob@example.test");
    assert.equal(again.error, "Build cancelled by alice@example.test", "idempotent");
  });
});

describe("publishDeploy", () => {
  it("never lets an older build replace a newer one, nor anything replace a locked deploy", async () => {
    const m = await memoryContext();
    const site = await m.createSite();
    const builds = [];
    for (const sha of [SHA1, SHA2, "3".repeat(40)]) {
      builds.push(
        await requestBuild(m.ctx, { siteId: site.id, branch: "main", sha, trigger: "webhook" }),
      );
      // Started at once, so that the next request does not supersede it.
      await m.ctx.db
        .updateTable("builds")
        .set({ state: "building" })
        .where("id", "=", builds.at(-1)!.build.id)
        .execute();
    }
    const [one, two, three] = builds as [
      (typeof builds)[0],
      (typeof builds)[0],
      (typeof builds)[0],
    ];
    const published = async (): Promise<string | null> =>
      (
        await m.ctx.db
          .selectFrom("sites")
          .select("published_deploy_id")
          .where("id", "=", site.id)
          .executeTakeFirstOrThrow()
      ).published_deploy_id;

    assert.deepEqual(await publishDeploy(m.ctx, site.id, two.build, two.deploy.id), {
      kind: "published",
    });
    assert.equal(await published(), two.deploy.id);
    const late = await publishDeploy(m.ctx, site.id, one.build, one.deploy.id);
    assert.equal(late.kind, "ready");
    assert.equal(await published(), two.deploy.id, "the older build did not publish");
    const oneDeploy = await m.ctx.db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", one.deploy.id)
      .executeTakeFirstOrThrow();
    assert.equal(oneDeploy.state, "ready");
    assert.equal(oneDeploy.published_at, null);

    await m.ctx.db
      .updateTable("deploys")
      .set({ locked: 1 })
      .where("id", "=", two.deploy.id)
      .execute();
    const locked = await publishDeploy(m.ctx, site.id, three.build, three.deploy.id);
    assert.equal(locked.kind, "ready");
    assert.match(locked.kind === "ready" ? locked.reason : "", /is locked/);
    assert.equal(await published(), two.deploy.id);

    const states = await m.ctx.db.selectFrom("builds").select("state").execute();
    assert.deepEqual(
      states.map((s) => s.state),
      ["done", "done", "done"],
    );
    // A cancelled build does not publish.
    const four = await requestBuild(m.ctx, {
      siteId: site.id,
      branch: "main",
      sha: "4".repeat(40),
      trigger: "webhook",
    });
    await cancelBuild(m.ctx, four.build.id, "x");
    assert.deepEqual(await publishDeploy(m.ctx, site.id, four.build, four.deploy.id), {
      kind: "stopped",
    });
    await m.close();
  });
});

describe("sweepOrphanedBuildRows", () => {
  it("fails builds whose job is gone, and leaves builds with a live job alone", async () => {
    const m = await memoryContext();
    const site = await m.createSite();
    const lost = await requestBuild(m.ctx, { siteId: site.id, branch: "main", trigger: "link" });
    const kept = await requestBuild(m.ctx, { siteId: site.id, branch: "dev", trigger: "link" });
    await m.ctx.db
      .deleteFrom("jobs")
      .where("dedupe_key", "=", buildJobKey(lost.build.id))
      .execute();
    assert.equal(await sweepOrphanedBuildRows(m.ctx), 1);
    const rows = await m.ctx.db
      .selectFrom("builds")
      .select(["id", "state", "error"])
      .orderBy("number")
      .execute();
    assert.equal(rows[0]!.id, lost.build.id);
    assert.equal(rows[0]!.state, "error");
    assert.match(rows[0]!.error ?? "", /lost its place in the queue/);
    assert.equal(rows[1]!.id, kept.build.id);
    assert.equal(rows[1]!.state, "enqueued");
    await m.close();
  });
  it(
    "asks the queue, not the jobs table: graphile-worker's live jobs keep their builds",
    { skip: process.env.SLIPWAY_TEST_DATABASE !== "postgres" && "graphile-worker is Postgres's" },
    async () => {
      const m = await memoryContext({
        queue: async (db, now, databaseUrl) => {
          await migrateGraphileWorker(databaseUrl!, createLogger({ name: "t", level: "silent" }));
          return new GraphileJobQueue(db, now);
        },
      });
      const site = await m.createSite();
      const queued = await requestBuild(m.ctx, {
        siteId: site.id,
        branch: "main",
        trigger: "link",
      });
      const running = await requestBuild(m.ctx, {
        siteId: site.id,
        branch: "dev",
        trigger: "link",
      });
      const job = await m.queue.lease("w", ["build"], 60_000);
      assert.equal((job?.payload as { buildId: string }).buildId, queued.build.id);
      await m.queue.complete(job!.id, "w");
      assert.equal(await sweepOrphanedBuildRows(m.ctx), 1, "the completed job's build only");
      const rows = await m.ctx.db.selectFrom("builds").select(["id", "state"]).execute();
      assert.equal(rows.find((row) => row.id === running.build.id)?.state, "enqueued");
      await m.close();
    },
  );
});
