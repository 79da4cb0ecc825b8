import assert from "node:assert/strict";
import { open, type FileHandle } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";
import { createSite, type SiteBody } from "../../../test/helpers/sites.ts";
import { postWebhook, randomSha, signedHeaders } from "../../../test/helpers/webhooks.ts";

/**
 * A 2xx for a push tells the provider not to send it again, so it may only leave once the
 * build it queued is on disk: the intake commits at `synchronous = NORMAL`, then waits for the
 * shared WAL sync (`commitsDurable`). Here the WAL sync is held; the answer must wait for it.
 */
// Postgres syncs every commit itself; this is about the embedded SQLite's group commit.
const sqlite = process.env.SLIPWAY_TEST_DATABASE !== "postgres";

describe("webhook acknowledgements are durable", { skip: !sqlite }, () => {
  let t: TestPlatform;
  let site: SiteBody;

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    const alice = await t.createTenant("alice");
    site = await createSite(t, alice.token, {
      name: "durable",
      repo: { repo_url: "git@github.com:alice/durable.git", repo_branch: "main" },
    });
  });
  after(() => t.stop());

  it("answers a push only after the WAL holding its build was synced", async () => {
    const handle = await open(process.execPath, "r");
    const prototype = Object.getPrototypeOf(handle) as FileHandle;
    await handle.close();
    // The WAL is synced with fdatasync (`datasync`); either kind of sync is held.
    const { sync, datasync } = prototype;
    const walSyncs: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    prototype.sync = async function (this: FileHandle) {
      walSyncs.push("sync");
      await held;
      return sync.call(this);
    };
    prototype.datasync = async function (this: FileHandle) {
      walSyncs.push("datasync");
      await held;
      return datasync.call(this);
    };
    try {
      const sha = randomSha();
      const body = JSON.stringify({
        ref: "refs/heads/main",
        before: randomSha(),
        after: sha,
        head_commit: { id: sha, message: "Update" },
      });
      let answered = false;
      const answer = postWebhook(
        site.git_webhook!.url,
        signedHeaders("github", site.git_webhook!.secret, body),
        body,
      ).then((response) => {
        answered = true;
        return response;
      });
      // The build is committed (visible) while the answer still waits for the sync.
      const deadline = Date.now() + 10_000;
      while (walSyncs.length === 0 && !answered && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const builds = await t.platform.ctx.db
        .selectFrom("builds")
        .select("sha")
        .where("site_id", "=", site.id)
        .execute();
      assert.ok(builds.some((b) => b.sha === sha));
      assert.equal(answered, false, "answered before the WAL sync finished");
      release();
      const response = await answer;
      assert.equal(response.status, 202);
    } finally {
      prototype.sync = sync;
      prototype.datasync = datasync;
      release();
    }
  });
});
