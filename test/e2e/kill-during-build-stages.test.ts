import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestPausePoint } from "../../src/platform/builds/stage.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { startTestForge, type TestForge } from "../helpers/forge.ts";
import { startPlatformProcess, type PlatformProcess } from "../helpers/platform-process.ts";
import { startTestPlatform, testPlatformConfig, type TestPlatform } from "../helpers/platform.ts";
import { waitForBuild, type BuildBody as Build } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * `kill -9` of the platform at every stage of a build — during the clone (`fetch`), the build
 * command, the upload to the blob store, and inside the publish transaction — then a restart on
 * the same data directory. Afterwards no build is left `building`, the interrupted build ran
 * again and finished, and at every moment the site served either its old deploy or its new one
 * completely (every file checked), the new one only once it was published. The platform child
 * is held at a stage by `SLIPWAY_TEST_PAUSE_AT` (`pauseForTest`), or by a build command that
 * sleeps for the build stage.
 */

const LEASE_MS = 2000;
type Stage = TestPausePoint | "build";
const STAGES: readonly Stage[] = ["fetch", "build", "upload", "publish"];
const COPY_SITE = "rm -rf dist && mkdir -p dist && cp -R site/. dist/\n";

/** Path → body; a path missing from one version must be a 404 there. */
type Version = Record<string, string>;
const OLD: Version = {
  "index.html": "<p>old</p>\n",
  "a.txt": "old a\n",
  "gone.txt": "only in the old deploy\n",
};
const NEW: Version = {
  "index.html": "<p>new</p>\n",
  "a.txt": "new a\n",
  // More new files than upload lanes (8), so that an upload held after its first blobs is halfway.
  ...Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`f${i}.txt`, `new file ${i}\n`])),
};
const PATHS = [...new Set([...Object.keys(OLD), ...Object.keys(NEW)])];

function siteFiles(version: Version): Record<string, string> {
  return Object.fromEntries(Object.entries(version).map(([path, body]) => [`site/${path}`, body]));
}

/**
 * Which version every file the site serves belongs to: "old", "new", "old→new" (the publish
 * happened between two of the requests: every file served before it old, every one after new),
 * or a description of anything else — a file of neither version, or an old one after a new one.
 */
async function servedVersion(url: string, host: string): Promise<string> {
  const served: Record<string, string | null> = {};
  const versions: string[] = [];
  for (const path of PATHS) {
    const page = await edgeGet(url, host, `/${path}`);
    served[path] = page.status === 200 ? page.body : page.status === 404 ? null : `${page.status}`;
    // Every path differs between the two versions, so each answer belongs to one or neither.
    versions.push(
      served[path] === (OLD[path] ?? null)
        ? "old"
        : served[path] === (NEW[path] ?? null)
          ? "new"
          : "neither",
    );
  }
  const firstNew = versions.indexOf("new");
  const oldThenNew =
    !versions.includes("neither") &&
    (firstNew === -1 || versions.slice(firstNew).every((v) => v === "new"));
  if (!oldThenNew) return `a mix: ${JSON.stringify(served)}`;
  return firstNew === -1 ? "old" : firstNew === 0 ? "new" : "old→new";
}

interface LogLine {
  section: string;
  message: string;
  error: boolean;
}

describe("a platform killed at each stage of a build", () => {
  let forge: TestForge;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    forge = await startTestForge();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await forge?.stop();
  });

  for (const stage of STAGES) {
    it(`killed during ${stage}: restarts with no build left building and no half-published site`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), `slipway-kill-${stage}-`));
      const logDir = await mkdtemp(join(tmpdir(), `slipway-kill-log-${stage}-`));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      cleanups.push(() => rm(logDir, { recursive: true, force: true }));
      const config = {
        ...testPlatformConfig(dataDir, { allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`] }),
        masterKey: randomBytes(32),
      };
      const name = `kill-${stage}`;
      const host = `${name}.localhost`;
      const { owner, project, repo } = await createPushedProject(forge, name, "site", {
        ...siteFiles(OLD),
        "build.sh": COPY_SITE,
      });
      cleanups.push(() => repo.cleanup());
      let platform: TestPlatform | undefined;
      let child: PlatformProcess | undefined;
      cleanups.push(async () => {
        await child?.kill();
        await platform?.stop();
      });

      // The old deploy, built and published by a platform that is not held anywhere.
      platform = await startTestPlatform({ dataDir, config, platform: { buildLeaseMs: LEASE_MS } });
      const key = await platform.api<{ id: string; public_key: string }>("POST", "/deploy_keys");
      await addForgeDeployKey(forge, project, owner, key.body.public_key);
      const created = await platform.api<{ id: string; build_id: string }>("POST", "/sites", {
        body: { name, repo: repoWithDeployKey(project, key.body.id) },
      });
      assert.equal(created.status, 201, created.text);
      const siteId = created.body.id;
      const first = await waitForBuild(platform, created.body.build_id);
      assert.equal(first.state, "done", first.error ?? "");
      assert.equal(await servedVersion(platform.url, host), "old");
      await platform.stop();
      platform = undefined;

      // The new commit, built by a platform child that is killed at `stage`.
      await pushNewVersion(repo, stage === "build" ? "echo started; sleep 5\n" : "");
      const logFile = join(logDir, "child.log");
      child = await startPlatformProcess(config, {
        buildLeaseMs: LEASE_MS,
        logFile,
        ...(stage === "build" ? {} : { pauseAt: stage }),
      });
      const childUrl = child.url;
      const triggered = await fetch(`${childUrl}/api/v1/sites/${siteId}/builds`, {
        method: "POST",
        headers: { authorization: `Bearer ${config.adminToken!}` },
      });
      assert.equal(triggered.status, 200, await triggered.clone().text());
      const two = (await triggered.json()) as Build;
      if (stage === "build") {
        await poll(async () => {
          const response = await fetch(`${childUrl}/api/v1/builds/${two.id}/log`, {
            headers: { authorization: `Bearer ${config.adminToken!}` },
          });
          const log = (await response.json()) as LogLine[];
          return log.some((l) => l.section === "building" && l.message === "started");
        }, "the build command to start");
      } else {
        await poll(
          async () =>
            (await readFile(logFile, "utf8").catch(() => "")).includes(`build paused at ${stage}`),
          `the build to pause at ${stage}`,
        );
      }
      // Inside the publish transaction the child's database is held: nothing can be read there.
      if (stage !== "publish") assert.equal(await servedVersion(childUrl, host), "old");
      await child.kill();
      child = undefined;

      // The restart: the interrupted build runs again once its lease has expired.
      platform = await startTestPlatform({ dataDir, config, platform: { buildLeaseMs: LEASE_MS } });
      const restarted = platform;
      const seen = new Set<string>();
      const finished = await poll(
        async () => {
          const version = await servedVersion(restarted.url, host);
          const site = await restarted.api<{ published_deploy: { id: string } | null }>(
            "GET",
            `/sites/${siteId}`,
          );
          seen.add(version);
          if (version.endsWith("new")) {
            assert.equal(site.body.published_deploy?.id, two.deploy_id, "new only once published");
          }
          const build = await restarted.api<Build>("GET", `/builds/${two.id}`);
          return build.body.done ? build.body : undefined;
        },
        "the interrupted build to finish after the restart",
        60_000,
      );
      assert.deepEqual(
        [...seen].filter((v) => !["old", "old→new", "new"].includes(v)),
        [],
        "never a half-published site",
      );
      assert.equal(finished.state, "done", finished.error ?? "");
      assert.equal(finished.attempts, 2, "the build ran again, once");
      const log = await restarted.api<LogLine[]>("GET", `/builds/${two.id}/log`);
      assert.ok(
        log.body.some((l) => l.error && /interrupted by a restart/.test(l.message)),
        "the log says why the build ran again",
      );
      assert.equal(await servedVersion(restarted.url, host), "new");

      const builds = await restarted.api<Build[]>("GET", `/sites/${siteId}/builds`);
      assert.deepEqual(
        builds.body.map((b) => b.state),
        ["done", "done"],
        "no build is left building",
      );
      // The killed attempt's checkout was removed by the re-run, which removed its own.
      assert.deepEqual(await readdir(join(dataDir, "builds", "work")), []);
      await restarted.stop();
      platform = undefined;
    });
  }
});

/** Commits the new version (one file removed, others changed and added) and pushes it. */
async function pushNewVersion(repo: WorkingCopy, beforeCopy: string): Promise<void> {
  await rm(join(repo.dir, "site", "gone.txt"));
  await repo.commit({ ...siteFiles(NEW), "build.sh": `${beforeCopy}${COPY_SITE}` }, "new");
  await repo.push("main");
}
