import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestForge, TestProject, TestUser } from "../../../test/helpers/forge.ts";
import type { TestPlatform } from "../../../test/helpers/platform.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../../../test/helpers/e2e.ts";
import { createDeployKey, waitForBuild } from "../../../test/helpers/sites.ts";

/**
 * The settings a build runs with, on real servers: netlify.toml over the site's settings (and
 * its context's environment over both), framework detection where the site sets nothing, each
 * said in the log with where it came from; a netlify.toml that does not parse fails the build
 * naming the line.
 */

interface LogLine {
  section: string;
  message: string;
}

describe("build settings: netlify.toml and framework detection at build time", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let keyId: string;

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({ buildWorkers: 1 }));
    ({ owner, project, repo } = await createPushedProject(forge, "tom", "site", {
      "index.html": "<h1>index</h1>\n",
      "build.sh": 'mkdir -p out && printf "%s\\n" "$GREETING" > out/index.html\n',
      "netlify.toml": [
        "[build]",
        '  command = "sh build.sh"',
        '  publish = "out"',
        "  [build.environment]",
        '    GREETING = "hello from [build]"',
        "[context.production.environment]",
        '  GREETING = "hello from production"',
        "",
      ].join("\n"),
    }));
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    keyId = key.id;
  });
  after(async () => {
    await repo?.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  const logOf = async (buildId: string): Promise<string[]> =>
    (await platform.api<LogLine[]>("GET", `/builds/${buildId}/log`)).body.map((l) => l.message);

  let siteId = "";

  it("runs netlify.toml's command and publishes its directory over the site's own, and logs why", async () => {
    const created = await platform.api<{ id: string; build_id: string }>("POST", "/sites", {
      body: {
        name: "tomlsite",
        repo: repoWithDeployKey(project, keyId, { cmd: "false", dir: "dist" }),
      },
    });
    assert.equal(created.status, 201, created.text);
    siteId = created.body.id;
    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");
    const page = await edgeGet(platform.url, "tomlsite.localhost");
    assert.equal(page.body, "hello from production\n", "[context.production] over [build]");

    const log = await logOf(build.id);
    for (const line of [
      "Using the build settings of netlify.toml",
      "No framework detected",
      "Build command `sh build.sh` (from netlify.toml [build])",
      "Publish directory `out` (from netlify.toml [build])",
      "Environment variables from netlify.toml: GREETING ([context.production])",
    ]) {
      assert.ok(log.includes(line), `the log says: ${line}\n${log.join("\n")}`);
    }
    assert.ok(!log.some((l) => l.includes("hello from")), "variable values are not logged");
    // The site's own settings are unchanged: the file decides per build.
    const site = await platform.api<{ build_settings: { cmd: string; dir: string } }>(
      "GET",
      `/sites/${siteId}`,
    );
    assert.deepEqual(
      [site.body.build_settings.cmd, site.body.build_settings.dir],
      ["false", "dist"],
    );
  });

  it("a netlify.toml that is not TOML fails the build, naming the file and the line", async () => {
    await repo.commit({ "netlify.toml": '[build]\ncommand = "sh build.sh\npublish = "out"\n' });
    await repo.push("main");
    const started = await platform.api<{ id: string }>("POST", `/sites/${siteId}/builds`, {
      body: {},
    });
    assert.equal(started.status, 200, started.text);
    const build = await waitForBuild(platform, started.body.id);
    assert.equal(build.state, "error");
    assert.match(
      build.error ?? "",
      /^netlify\.toml is not valid TOML: .*\(line 2, column \d+\)\. Fix the file and push again\.$/,
    );
  });

  it("with no command or publish directory set, the detected framework's are used", async () => {
    const app = await createPushedProject(forge, "vic", "vite-app", {
      "index.html": "<h1>vite app</h1>\n",
      "package.json": JSON.stringify({
        scripts: { dev: "vite", build: "mkdir -p dist && cp index.html dist/" },
        devDependencies: { vite: "^5.4.0" },
      }),
      // No lockfile: nothing to install (builds here have no network), detection only.
    });
    await app.repo.cleanup();
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, app.project, app.owner, key.public_key);
    const created = await platform.api<{ id: string; build_id: string }>("POST", "/sites", {
      body: {
        name: "viteapp",
        repo: repoWithDeployKey(app.project, key.id, { cmd: undefined, dir: undefined }),
      },
    });
    assert.equal(created.status, 201, created.text);
    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal((await edgeGet(platform.url, "viteapp.localhost")).body, "<h1>vite app</h1>\n");
    const log = await logOf(build.id);
    for (const line of [
      "No netlify.toml found",
      "Framework detected: Vite (build command `npm run build`, publish directory `dist`)",
      "Build command `npm run build` (from framework detection (Vite))",
      "Publish directory `dist` (from framework detection (Vite))",
    ]) {
      assert.ok(log.includes(line), `the log says: ${line}\n${log.join("\n")}`);
    }
  });
});
