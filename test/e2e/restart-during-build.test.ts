import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { PlatformConfig } from "../../src/config.ts";
import {
  addForgeDeployKey,
  COPY_TO_DIST,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  waitForPage,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../helpers/forge.ts";
import { startPlatformProcess, type PlatformProcess } from "../helpers/platform-process.ts";
import {
  ADMIN_TOKEN,
  startTestPlatform,
  testPlatformConfig,
  type TestPlatform,
} from "../helpers/platform.ts";
import type { BuildBody as Build } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * `kill -9` of the platform in the middle of a build: after a restart on the same data dir the
 * interrupted build is found (its job lease expired), recorded as interrupted, run again once and
 * finished; no build stays `building`, and the site serves its previous deploy throughout.
 */

interface LogLine {
  section: string;
  message: string;
  error: boolean;
}

const LEASE_MS = 2000;

describe("a platform killed during a build", () => {
  let forge: TestForge;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let dataDir: string;
  let config: PlatformConfig & { masterKey: Buffer };
  let first: PlatformProcess | undefined;
  let second: TestPlatform | undefined;

  before(async () => {
    forge = await startTestForge();
    ({ owner, project, repo } = await createPushedProject(forge, "alice", "site", {
      "index.html": "<p>one</p>\n",
      "build.sh": COPY_TO_DIST,
    }));
    dataDir = await mkdtemp(join(tmpdir(), "slipway-restart-"));
    // Both platforms use this data directory and master key.
    config = {
      ...testPlatformConfig(dataDir, { allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`] }),
      masterKey: randomBytes(32),
    };
  });

  after(async () => {
    await first?.kill();
    await second?.stop();
    await repo?.cleanup();
    await forge?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("finishes the interrupted build after a restart, and serves the previous deploy meanwhile", async () => {
    first = await startPlatformProcess(config, { buildLeaseMs: LEASE_MS });
    const base = first.url;
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };

    const key = await call<{ id: string; public_key: string }>("POST", "/deploy_keys");
    await addForgeDeployKey(forge, project, owner, key.public_key);
    const site = await call<{ id: string; build_id: string }>("POST", "/sites", {
      name: "phoenix",
      repo: repoWithDeployKey(project, key.id),
    });
    const one = await poll(async () => {
      const b = await call<Build>("GET", `/builds/${site.build_id}`);
      return b.done ? b : undefined;
    }, "the first build");
    assert.equal(one.state, "done", one.error ?? "");

    // A second build that takes a while; the platform dies while its command runs.
    await repo.commit({
      "index.html": "<p>two</p>\n",
      "build.sh": "echo started; sleep 3; mkdir -p dist && cp index.html dist/\n",
    });
    await repo.push("main");
    const two = await call<Build>("POST", `/sites/${site.id}/builds`);
    await poll(async () => {
      const log = await call<LogLine[]>("GET", `/builds/${two.id}/log`);
      return log.some((l) => l.section === "building" && l.message === "started");
    }, "the build command to start");
    await first.kill();
    first = undefined;

    second = await startTestPlatform({ dataDir, config, platform: { buildLeaseMs: LEASE_MS } });
    const restarted = second;

    // Until the re-run publishes, the previous deploy is served.
    let servedOld = 0;
    const finished = await poll(
      async () => {
        const b = await restarted.api<Build>("GET", `/builds/${two.id}`);
        if (b.body.done) return b.body;
        const page = await edgeGet(restarted.url, "phoenix.localhost");
        assert.equal(page.status, 200);
        assert.equal(page.body, "<p>one</p>\n");
        servedOld++;
        return undefined;
      },
      "the interrupted build to finish after the restart",
      40_000,
      200,
    );
    assert.ok(servedOld > 0);
    assert.equal(finished.state, "done", finished.error ?? "");
    assert.equal(finished.attempts, 2);

    const log = await restarted.api<LogLine[]>("GET", `/builds/${two.id}/log`);
    assert.ok(
      log.body.some((l) => l.error && /interrupted by a restart/.test(l.message)),
      "the log says the build was interrupted",
    );
    assert.equal(log.body.filter((l) => l.message === "started").length, 2);

    const page = await waitForPage(
      restarted.url,
      "phoenix.localhost",
      (p) => p.body === "<p>two</p>\n",
      "the new deploy",
      2000,
    );
    assert.equal(page.status, 200);

    const builds = await restarted.api<Build[]>("GET", `/sites/${site.id}/builds`);
    assert.deepEqual(
      builds.body.map((b) => b.state),
      ["done", "done"],
      "no build is left building",
    );
  });
});
