import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it, type TestContext } from "node:test";
import { parseAllowHosts } from "../../src/lib/allow-ranges.ts";
import type { TestForge } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  fixtureSiteFiles,
  repoWithDeployKey,
  startForgeAndPlatform,
  type EdgeResponse,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { createDeployKey, waitForBuild, type BuildBody } from "../helpers/sites.ts";

/**
 * Real static sites (`test/fixtures/sites/`: Vite + React, Eleventy, Hugo), each pushed to the
 * forge and linked with no build command or publish directory: the platform detects the
 * framework, installs from the real npm registry (let through the build firewall with
 * SLIPWAY_BUILD_ALLOW_HOSTS, as an operator would) and the edge serves what the generator built.
 * Skipped, saying so, only on a machine that cannot reach the registry at all.
 */

const REGISTRY = process.env.npm_config_registry ?? "https://registry.npmjs.org/";
const BUILD_TIMEOUT_MS = 240_000;
const SITES = ["vite-react", "eleventy", "hugo"] as const;
type SiteName = (typeof SITES)[number];

/** Why these tests cannot run here, or undefined: one real request to the registry. */
async function registryUnreachable(): Promise<string | undefined> {
  try {
    const response = await fetch(new URL("is-number", REGISTRY), {
      signal: AbortSignal.timeout(15_000),
    });
    if (response.ok) return undefined;
    return `the npm registry ${REGISTRY} answered ${response.status}`;
  } catch (error) {
    return `the npm registry ${REGISTRY} is not reachable from this machine (${(error as Error).message})`;
  }
}

interface LogLine {
  message: string;
}

describe("real sites: Vite + React, Eleventy, Hugo (forge + platform + sandbox + npm registry)", () => {
  let unreachable: string | undefined;
  let forge: TestForge | undefined;
  let platform: TestPlatform;
  const repos: WorkingCopy[] = [];
  const firstBuild = new Map<SiteName, string>();
  const siteIds = new Map<SiteName, string>();

  before(async () => {
    unreachable = await registryUnreachable();
    if (unreachable !== undefined) return;
    ({ forge, platform } = await startForgeAndPlatform({
      // Two at a time on two shared cores: Vite's install beside the smaller two.
      buildWorkers: 2,
      builds: {
        timeoutSeconds: BUILD_TIMEOUT_MS / 1000,
        toolchain: {
          allowHosts: parseAllowHosts(new URL(REGISTRY).hostname),
          npmRegistry: REGISTRY,
          httpProxy: undefined,
          httpsProxy: undefined,
          noProxy: undefined,
          caFile: process.env.NODE_EXTRA_CA_CERTS,
          corepackIntegrityKeys: undefined,
          nodeVersionsDir: undefined,
        },
      },
    }));
    for (const name of SITES) {
      // The forge takes a public key as one project's deploy key only.
      const key = await createDeployKey(platform);
      const pushed = await createPushedProject(
        forge,
        `owner-${name}`,
        name,
        await fixtureSiteFiles(name),
      );
      repos.push(pushed.repo);
      await addForgeDeployKey(forge, pushed.project, pushed.owner, key.public_key);
      const created = await platform.api<{ id: string; build_id: string }>("POST", "/sites", {
        body: {
          name,
          // No command, no publish directory: the detected framework's are used.
          repo: repoWithDeployKey(pushed.project, key.id, { cmd: undefined, dir: undefined }),
        },
      });
      assert.equal(created.status, 201, created.text);
      siteIds.set(name, created.body.id);
      firstBuild.set(name, created.body.build_id);
    }
  });

  after(async () => {
    for (const repo of repos) await repo.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  const skipped = (t: TestContext): boolean => {
    if (unreachable === undefined) return false;
    t.skip(unreachable);
    return true;
  };

  /** The build once done, and its log; fails with the log unless it succeeded. */
  async function succeeded(buildId: string): Promise<string> {
    const build: BuildBody = await waitForBuild(platform, buildId, undefined, BUILD_TIMEOUT_MS);
    const log = await platform.api<LogLine[]>("GET", `/builds/${build.id}/log`);
    assert.equal(log.status, 200, log.text);
    const text = log.body.map((line) => line.message).join("\n");
    assert.equal(build.state, "done", `${build.error ?? ""}\n${text}`);
    return text;
  }

  async function page(name: SiteName, path: string): Promise<EdgeResponse> {
    const response = await edgeGet(platform.url, `${name}.localhost`, path);
    assert.equal(response.status, 200, `${name}${path}: ${response.body}`);
    return response;
  }

  /** The hashed script Vite's index.html loads, and the page. */
  async function viteEntry(): Promise<{ index: EdgeResponse; script: string }> {
    const index = await page("vite-react", "/");
    const script = /<script type="module" crossorigin src="(\/assets\/index-[\w-]+\.js)">/.exec(
      index.body,
    )?.[1];
    assert.ok(script !== undefined, index.body);
    return { index, script };
  }

  it("Vite + React: detected, installed from the registry, built, hashed asset served for good", async (t) => {
    if (skipped(t)) return;
    const log = await succeeded(firstBuild.get("vite-react")!);
    assert.match(
      log,
      /^Framework detected: Vite \(build command `npm run build`, publish directory `dist`\)$/m,
    );
    assert.match(log, /^Installing dependencies: \$ npm ci/m);
    // Vite's own output (coloured: the words apart).
    assert.match(log, /vite v6\.4\.1 .*building for production/);

    const { index, script } = await viteEntry();
    assert.match(index.body, /<div id="root"><\/div>/);
    assert.equal(index.headers["cache-control"], "public, max-age=0, must-revalidate");
    const asset = await page("vite-react", script);
    // The bundle holds React and the app's own text; the site's _headers keeps it for a year.
    assert.match(asset.body, /Hello from Vite and React/);
    assert.match(asset.body, /createRoot/);
    assert.equal(asset.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.match(String(asset.headers["content-type"]), /javascript/);
  });

  it("Vite + React: a second build restores node_modules instead of installing", async (t) => {
    if (skipped(t)) return;
    const { script: before } = await viteEntry();
    const started = await platform.api<BuildBody>(
      "POST",
      `/sites/${siteIds.get("vite-react")}/builds`,
    );
    assert.equal(started.status, 200, started.text);
    const log = await succeeded(started.body.id);
    assert.match(log, /^Build cache: restored node_modules/m);
    assert.doesNotMatch(log, /^Installing dependencies/m);
    // Same sources, same content hash: the restored dependencies build the same bundle.
    assert.equal((await viteEntry()).script, before);
  });

  it("Eleventy: detected, installed, the Markdown page rendered", async (t) => {
    if (skipped(t)) return;
    const log = await succeeded(firstBuild.get("eleventy")!);
    assert.match(
      log,
      /^Framework detected: Eleventy \(build command `npm run build`, publish directory `_site`\)$/m,
    );
    assert.match(log, /^Installing dependencies: \$ npm ci/m);
    const home = await page("eleventy", "/");
    assert.match(home.body, /<h1>Hello from Eleventy<\/h1>/);
    assert.match(home.body, /<p>This page was written in <em>Markdown<\/em>\.<\/p>/);
  });

  it("Hugo: detected by hugo.toml, built by Debian's hugo in the sandbox, title rendered", async (t) => {
    if (skipped(t)) return;
    assert.ok(existsSync("/usr/bin/hugo"), "hugo is not installed: scripts/setup.sh installs it");
    const log = await succeeded(firstBuild.get("hugo")!);
    assert.match(
      log,
      /^Framework detected: Hugo \(build command `hugo`, publish directory `public`\)$/m,
    );
    assert.doesNotMatch(log, /^Installing dependencies/m);
    const home = await page("hugo", "/");
    assert.match(home.body, /<title>Slipway Hugo fixture<\/title>/);
    assert.match(home.body, /<h1>Slipway Hugo fixture<\/h1>/);
    assert.match(home.body, /<p>Hello from <strong>Hugo<\/strong>\.<\/p>/);
  });
});
