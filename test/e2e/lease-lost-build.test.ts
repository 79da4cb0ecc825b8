import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUILD_QUEUE } from "../../src/platform/builds/service.ts";
import type { HeartbeatSeam } from "../../src/platform/jobs/workers.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { startTestForge, type TestForge } from "../helpers/forge.ts";
import { startTestPlatform, TEST_BUILD_POLICY, type TestPlatform } from "../helpers/platform.ts";
import type { BuildBody as Build } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * A worker whose heartbeats start failing in the middle of a build (the database is unreachable
 * from it, say) must give the job up: its sandbox is killed, it publishes nothing, and the
 * other worker, which takes the job over once the lease has expired, finishes the build. The
 * site serves the second attempt's output and never the first's. Each attempt's build writes
 * its own tag into every file, so the two are told apart.
 */

interface LogLine {
  section: string;
  message: string;
  error: boolean;
}

const LEASE_MS = 2000;
const FILES = ["index.html", "a.txt", "b/c.txt"] as const;
const TAGGED_BUILD = [
  'tag="$(date +%s%N)-$$"',
  'echo "attempt $tag"',
  // Long enough for the other worker to take the job over while this attempt would still run;
  // the tag in the sleeper's arguments shows (in /proc) whether this attempt still runs.
  `sh -c 'sleep 8' "sleeper-$tag"`,
  'echo "finished $tag"',
  "mkdir -p dist/b",
  'echo "index $tag" > dist/index.html',
  'echo "a $tag" > dist/a.txt',
  'echo "c $tag" > dist/b/c.txt',
  "",
].join("\n");

/** Whether a process of this machine has `text` in its arguments. */
async function processWith(text: string): Promise<boolean> {
  for (const pid of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) return true;
  }
  return false;
}

describe("a worker whose heartbeats fail during a build", () => {
  let forge: TestForge;
  let repo: WorkingCopy | undefined;
  let t: TestPlatform | undefined;

  before(async () => {
    forge = await startTestForge();
  });

  after(async () => {
    await t?.stop();
    await repo?.cleanup();
    await forge?.stop();
  });

  it("stops and publishes nothing; another worker finishes the build and the site serves its output", async () => {
    const pushed = await createPushedProject(forge, "lease", "site", {
      "index.html": "<p>unused</p>\n",
      "build.sh": TAGGED_BUILD,
    });
    repo = pushed.repo;
    // The heartbeats of the build job's delivery running when the test arms this fail from then on.
    let armed = false;
    let failing: { jobId: number; attempt: number } | undefined;
    const jobHeartbeat: HeartbeatSeam = async (job, beat) => {
      if (armed && failing === undefined && job.queue === BUILD_QUEUE) {
        failing = { jobId: job.id, attempt: job.attempt };
      }
      if (failing?.jobId === job.id && failing.attempt === job.attempt) {
        throw new Error("the database cannot be reached (test)");
      }
      return beat();
    };
    t = await startTestPlatform({
      config: {
        allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`],
        builds: { ...TEST_BUILD_POLICY, workers: 2 },
      },
      platform: { buildLeaseMs: LEASE_MS, jobHeartbeat },
    });
    const platform = t;

    const key = await platform.api<{ id: string; public_key: string }>("POST", "/deploy_keys");
    await addForgeDeployKey(forge, pushed.project, pushed.owner, key.body.public_key);
    const site = await platform.api<{ id: string; build_id: string }>("POST", "/sites", {
      body: { name: "fenced", repo: repoWithDeployKey(pushed.project, key.body.id) },
    });
    assert.equal(site.status, 201, site.text);
    const buildId = site.body.build_id;
    const tagsInLog = async (word: string): Promise<string[]> => {
      const log = await platform.api<LogLine[]>("GET", `/builds/${buildId}/log`);
      return log.body
        .filter((l) => l.section === "building" && l.message.startsWith(`${word} `))
        .map((l) => l.message.slice(word.length + 1));
    };

    const [firstTag] = await poll(async () => {
      const tags = await tagsInLog("attempt");
      return tags.length > 0 ? tags : undefined;
    }, "the first attempt's build command to start");
    assert.ok(await processWith(`sleeper-${firstTag}`), "the first attempt's command runs");
    armed = true;

    // Until the build is done, whatever the site serves must never be the first attempt's.
    const served = new Set<string>();
    let firstRanBesideSecond: boolean | undefined;
    const finished = await poll(
      async () => {
        const tags = await tagsInLog("attempt");
        if (tags.length === 2 && firstRanBesideSecond === undefined) {
          // The second attempt runs: the first one's sandbox must be gone by now.
          firstRanBesideSecond = await processWith(`sleeper-${firstTag}`);
        }
        for (const path of FILES) {
          served.add((await edgeGet(platform.url, "fenced.localhost", `/${path}`)).body);
        }
        const build = await platform.api<Build>("GET", `/builds/${buildId}`);
        return build.body.done ? build.body : undefined;
      },
      "the build to finish on the other worker",
      60_000,
    );
    assert.ok(failing !== undefined, "the first attempt's heartbeats were made to fail");
    assert.equal(finished.state, "done", finished.error ?? "");
    assert.equal(finished.attempts, 2);
    assert.equal(
      firstRanBesideSecond,
      false,
      "the first attempt was stopped before the second ran",
    );

    const started = await tagsInLog("attempt");
    assert.equal(started.length, 2, "a second attempt ran");
    const secondTag = started[1]!;
    assert.notEqual(secondTag, firstTag);
    assert.deepEqual(
      await tagsInLog("finished"),
      [secondTag],
      "the first attempt's sandbox was stopped before its command finished",
    );
    const log = await platform.api<LogLine[]>("GET", `/builds/${buildId}/log`);
    assert.ok(
      log.body.some((l) => l.error && /lost its job lease/.test(l.message)),
      "the log says the first attempt lost its lease",
    );

    for (const path of FILES) {
      const page = await edgeGet(platform.url, "fenced.localhost", `/${path}`);
      assert.equal(page.status, 200, path);
      assert.match(page.body, new RegExp(` ${secondTag}\n$`), `${path} is the second attempt's`);
    }
    for (const body of served) {
      assert.ok(!body.includes(firstTag!), `the first attempt's output was served: ${body}`);
    }
    const job = await platform.platform.ctx.db
      .selectFrom("jobs")
      .select(["state", "attempts"])
      .where("id", "=", failing.jobId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(job, { state: "completed", attempts: 2 });
    // Each attempt had its own checkout, and neither is left behind.
    assert.deepEqual(await readdir(join(platform.dataDir, "builds", "work")), []);
  });
});
