import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import SQLite from "better-sqlite3";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";
import { createSite, type SiteBody } from "../../../test/helpers/sites.ts";
import { randomSha, signedHeaders } from "../../../test/helpers/webhooks.ts";
import { sqliteConnection } from "../../lib/database.ts";
import { objectId } from "../../lib/ids.ts";
import { baseDraft, deliveryRow } from "./deliveries.ts";
import { receiveDelivery } from "./intake.ts";
import { SqliteIntake } from "./sqlite-intake.ts";

/**
 * The intake's SQLite hot path (`sqlite-intake.ts`) does what the portable path does, in a
 * few prepared statements: here a push that supersedes a queued build, counted statement by
 * statement, and a push to a site with deploy notification hooks, which the portable path
 * takes (its notification jobs carry the deploy).
 */
const sqlite = process.env.SLIPWAY_TEST_DATABASE !== "postgres";

/** The SQL texts better-sqlite3 runs while `work` runs (every statement, Kysely's included). */
async function statementsDuring(work: () => Promise<unknown>): Promise<string[]> {
  const prototype = Object.getPrototypeOf(new SQLite(":memory:").prepare("select 1")) as Record<
    string,
    (...args: unknown[]) => unknown
  >;
  const seen: string[] = [];
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const method of ["run", "get", "all", "iterate"]) {
    const original = prototype[method]!;
    originals.set(method, original);
    prototype[method] = function (this: { source: string }, ...args: unknown[]) {
      seen.push(this.source.replace(/\s+/g, " "));
      return original.apply(this, args);
    };
  }
  try {
    await work();
  } finally {
    for (const [method, original] of originals) prototype[method] = original;
  }
  return seen;
}

describe("the SQLite intake", { skip: !sqlite }, () => {
  let t: TestPlatform;
  let site: SiteBody;
  let token: string;

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    const alice = await t.createTenant("alice");
    token = alice.token;
    site = await createSite(t, token, {
      name: "hot",
      repo: { repo_url: "git@gitlab.com:alice/hot.git", repo_branch: "main" },
    });
  });
  after(() => t.stop());

  const push = (target: SiteBody, sha = randomSha()) => {
    const body = JSON.stringify({
      object_kind: "push",
      ref: "refs/heads/main",
      before: randomSha(),
      after: sha,
      commits: [{ id: sha, title: "Update" }],
    });
    return receiveDelivery(t.platform.ctx, {
      siteId: target.id,
      headers: {
        ...signedHeaders("gitlab", target.git_webhook!.secret, body),
        "content-type": "application/json",
      },
      body: Buffer.from(body),
    });
  };

  it("supersedes a queued build and queues the push's in one transaction of few statements", async () => {
    const first = await push(site);
    assert.equal(first.statusCode, 202);
    let second: Awaited<ReturnType<typeof push>> | undefined;
    const statements = await statementsDuring(async () => (second = await push(site)));
    assert.equal(second?.statusCode, 202);
    // The site read for the URL and again under the write lock, the redelivery check, then
    // one transaction: no deploy or site read back, no Kysely round trips.
    const data = statements.filter((s) => !/^(BEGIN|COMMIT|SAVEPOINT|RELEASE|ROLLBACK)/i.test(s));
    assert.ok(data.length <= 15, `${data.length} statements:\n${data.join("\n")}`);
    assert.equal(statements.filter((s) => /^BEGIN/i.test(s)).length, 1);
    assert.equal(statements.filter((s) => /^COMMIT/i.test(s)).length, 1);

    const db = t.platform.ctx.db;
    const old = await db
      .selectFrom("builds")
      .selectAll()
      .where("id", "=", first.body.build_id!)
      .executeTakeFirstOrThrow();
    const reason = `Superseded by build ${second!.body.build_id}, a newer request for branch "main"; this build never started`;
    assert.equal(old.state, "superseded");
    assert.equal(old.error, reason);
    const oldDeploy = await db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", old.deploy_id!)
      .executeTakeFirstOrThrow();
    assert.deepEqual([oldDeploy.state, oldDeploy.error_message], ["error", reason]);
    const jobs = await db
      .selectFrom("jobs")
      .select(["dedupe_key", "state", "last_error", "concurrency_key", "payload"])
      .where("dedupe_key", "in", [`build:${old.id}`, `build:${second!.body.build_id}`])
      .orderBy("id")
      .execute();
    assert.deepEqual(jobs, [
      {
        dedupe_key: `build:${old.id}`,
        state: "failed",
        last_error: reason,
        concurrency_key: `site:${site.id}`,
        payload: JSON.stringify({ buildId: old.id }),
      },
      {
        dedupe_key: `build:${second!.body.build_id}`,
        state: "pending",
        last_error: null,
        concurrency_key: `site:${site.id}`,
        payload: JSON.stringify({ buildId: second!.body.build_id }),
      },
    ]);
    const log = await db
      .selectFrom("build_log_lines")
      .select(["seq", "section", "error", "message"])
      .where("build_id", "=", old.id)
      .execute();
    assert.deepEqual(log, [{ seq: 0, section: "initializing", error: 1, message: reason }]);
    const builds = await db
      .selectFrom("builds")
      .select("number")
      .where("site_id", "=", site.id)
      .orderBy("number")
      .execute();
    assert.deepEqual(
      builds.map((b) => b.number),
      builds.map((_, i) => i + 1),
    );
  });

  it("queues the deploy_created notification of a site with hooks", async () => {
    const notified = await createSite(t, token, {
      name: "notified-hot",
      repo: { repo_url: "git@gitlab.com:alice/notified.git", repo_branch: "main" },
    });
    const hook = await t.api<{ id: string }>("POST", `/hooks?site_id=${notified.id}`, {
      token,
      body: {
        type: "url",
        event: "deploy_created",
        data: { url: "https://receiver.example/netlify" },
      },
    });
    assert.equal(hook.status, 201, hook.text);
    const answer = await push(notified);
    assert.equal(answer.statusCode, 202);
    const jobs = await t.platform.ctx.db
      .selectFrom("jobs")
      .select("dedupe_key")
      .where("queue", "=", "notification")
      .execute();
    assert.ok(
      jobs.some((j) => j.dedupe_key?.includes(`${hook.body.id}:${answer.body.deploy_id}`)),
      JSON.stringify(jobs),
    );
  });

  it("writes nothing while the WAL is being started over, then the waiting batch", async () => {
    const ctx = t.platform.ctx;
    let endPause!: () => void;
    let pause: Promise<void> | undefined = new Promise<void>((resolve) => (endPause = resolve));
    const intake = new SqliteIntake(
      sqliteConnection(ctx.db)!,
      async (work) => work(),
      () => pause,
    );
    const row = deliveryRow(ctx, site.id, objectId(), {
      ...baseDraft(undefined, {}),
      reason: "rejected: paused",
    });
    let stored = false;
    const recorded = intake.record(row).then(() => (stored = true));
    const count = () =>
      ctx.db
        .selectFrom("webhook_deliveries")
        .select("id")
        .where("id", "=", row.id)
        .execute()
        .then((rows) => rows.length);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await count(), 0, "written during the pause");
    assert.equal(stored, false);
    pause = undefined;
    endPause();
    await recorded;
    assert.equal(await count(), 1);
  });
});
