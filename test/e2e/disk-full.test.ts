import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { openSqlite } from "../../src/lib/database.ts";
import { runChecked } from "../../src/lib/run.ts";
import {
  addForgeDeployKey,
  COPY_TO_DIST,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { startTestForge, type TestForge } from "../helpers/forge.ts";
import { startTestPlatform, TEST_BUILD_POLICY, type TestPlatform } from "../helpers/platform.ts";
import { sandboxSkip } from "../helpers/sandbox-testbed.ts";
import { createDeployKey, createSite, waitForBuild, type BuildBody } from "../helpers/sites.ts";

/**
 * The platform's data directory on a 20 MiB tmpfs: a build that writes more than fits and a
 * digest upload that does not fit each fail alone with "the disk is full", the published deploy
 * keeps being served, the database stays whole, and the next build works once space is free.
 */

const MiB = 1024 ** 2;
/** SLIPWAY_MIN_FREE_DISK: builds need this much free to start, and stop below it. */
const FLOOR = 6 * MiB;

describe("a full disk", { skip: sandboxSkip }, () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let repo: WorkingCopy;
  let mountPoint = "";
  let mounted = false;

  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), "slipway-small-disk-"));
    // 0711: build uids must reach their checkouts under it (builds/work).
    await runChecked("mount", ["-t", "tmpfs", "-o", "size=20m,mode=0711", "tmpfs", mountPoint]);
    mounted = true;
    forge = await startTestForge();
    const pushed = await createPushedProject(forge, "alice", "site", {
      "index.html": "<p>one</p>\n",
      "build.sh": COPY_TO_DIST,
    });
    repo = pushed.repo;
    platform = await startTestPlatform({
      dataDir: join(mountPoint, "data"),
      config: {
        allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`],
        builds: {
          ...TEST_BUILD_POLICY,
          limits: {
            memoryBytes: 512 * MiB,
            maxProcesses: 1024,
            cpuWeight: 100,
            diskBytes: 1024 * MiB,
            minFreeDiskBytes: FLOOR,
          },
        },
      },
    });
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, pushed.project, pushed.owner, key.public_key);
    const site = await createSite<{ id: string; build_id: string }>(platform, undefined, {
      name: "small",
      repo: repoWithDeployKey(pushed.project, key.id),
    });
    siteId = site.id;
    const first = await waitForBuild(platform, site.build_id);
    assert.equal(first.state, "done", first.error ?? "");
  });

  after(async () => {
    await platform?.stop();
    await repo?.cleanup();
    await forge?.stop();
    if (mounted) await runChecked("umount", [mountPoint]);
    if (mountPoint) await rm(mountPoint, { recursive: true, force: true });
  });

  let siteId = "";

  const servesOne = async (): Promise<void> => {
    const page = await edgeGet(platform.url, "small.localhost");
    assert.equal(page.status, 200);
    assert.equal(page.body, "<p>one</p>\n");
  };

  const databaseIsWhole = async (): Promise<void> => {
    const db = openSqlite<unknown>(join(platform.dataDir, "platform.sqlite3"));
    try {
      const { rows } = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(db);
      assert.deepEqual(rows, [{ integrity_check: "ok" }]);
    } finally {
      await db.destroy();
    }
  };

  it("fails a build that fills the disk with the reason, and serves the published deploy", async () => {
    await repo.commit({
      "build.sh": `head -c ${30 * MiB} /dev/zero > fill\n${COPY_TO_DIST}`,
    });
    await repo.push("main");
    const started = await platform.api<BuildBody>("POST", `/sites/${siteId}/builds`);
    assert.ok(started.status < 300, started.text);
    const build = await waitForBuild(platform, started.body.id);
    assert.equal(build.state, "error");
    assert.match(build.error ?? "", /^the disk is full: less than 6 MiB is free for builds/);
    const log = await platform.api<{ message: string }[]>("GET", `/builds/${build.id}/log`);
    assert.ok(
      log.body.some((l) => l.message.startsWith("the disk is full")),
      log.text,
    );
    await servesOne();
    await databaseIsWhole();
  });

  it("fails a digest upload that does not fit with the reason, and keeps the site as it was", async () => {
    const big = Buffer.alloc(30 * MiB, 7);
    const sha1 = createHash("sha1").update(big).digest("hex");
    const created = await platform.api<{ id: string; required: string[] }>(
      "POST",
      `/sites/${siteId}/deploys`,
      { body: { files: { "/big.bin": sha1 } } },
    );
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(created.body.required, [sha1]);
    const upload = await fetch(`${platform.url}/api/v1/deploys/${created.body.id}/files/big.bin`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${platform.adminToken}`,
        "content-type": "application/octet-stream",
      },
      body: big,
    });
    const answer = (await upload.json()) as { message: string };
    assert.equal(upload.status, 503, answer.message);
    assert.match(answer.message, /^the disk is full/);
    await servesOne();
    await databaseIsWhole();
  });

  it("refuses to start a build while less than SLIPWAY_MIN_FREE_DISK is free, saying so", async () => {
    const free = (await statfs(mountPoint)).bavail * (await statfs(mountPoint)).bsize;
    await writeFile(join(mountPoint, "ballast"), Buffer.alloc(free - 2 * MiB));
    const started = await platform.api<BuildBody>("POST", `/sites/${siteId}/builds`);
    const build = await waitForBuild(platform, started.body.id);
    assert.equal(build.state, "error");
    assert.match(
      build.error ?? "",
      /^the disk is full: less than 6 MiB is free for builds \(SLIPWAY_MIN_FREE_DISK\); [\d.]+ MiB is free, so the build was not started/,
    );
    const log = await platform.api<{ message: string }[]>("GET", `/builds/${build.id}/log`);
    assert.ok(
      log.body.some((l) => l.message === build.error),
      log.text,
    );
    await servesOne();
    await rm(join(mountPoint, "ballast"));
  });

  it("builds again once space is free", async () => {
    await repo.commit({ "index.html": "<p>three</p>\n", "build.sh": COPY_TO_DIST });
    await repo.push("main");
    const started = await platform.api<BuildBody>("POST", `/sites/${siteId}/builds`);
    const build = await waitForBuild(platform, started.body.id);
    assert.equal(build.state, "done", build.error ?? "");
    const page = await edgeGet(platform.url, "small.localhost");
    assert.equal(page.body, "<p>three</p>\n");
  });
});
