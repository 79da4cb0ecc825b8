import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../src/lib/run.ts";
import type { TestForge } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  fixtureSiteFiles,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { createDeployKey, waitForBuild, type BuildBody } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";
import { postWebhook, signedHeaders } from "../helpers/webhooks.ts";

/**
 * The dependency cache on real servers: a site with a lockfile whose one dependency is a
 * tarball committed beside it (`test/fixtures/sites/npm-offline`: `npm ci` needs no network),
 * pushed to the forge and built in the sandbox. The site publishes `install.txt`: `installed`
 * when its postinstall ran in this build, `restored` when the install was skipped.
 */

interface LogLine {
  message: string;
  error: boolean;
}

describe("build cache (forge + platform + sandbox, offline install)", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let repo: WorkingCopy;
  let siteId = "";
  let files: Record<string, Uint8Array>;
  let webhook: { url: string; secret: string };
  let repositoryDir = "";

  before(async () => {
    files = await fixtureSiteFiles("npm-offline");
    ({ forge, platform } = await startForgeAndPlatform());
    const pushed = await createPushedProject(forge, "carol", "cached", files);
    repo = pushed.repo;
    repositoryDir = join(forge.dataDir, "repositories", `${pushed.project.id}.git`);
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, pushed.project, pushed.owner, key.public_key);
    // A GitHub site, so that a pull request's head is fetched from refs/pull/<n>/head.
    const created = await platform.api<{
      id: string;
      build_id: string;
      git_webhook: { url: string; secret: string };
    }>("POST", "/sites", {
      body: {
        name: "cached",
        repo: repoWithDeployKey(pushed.project, key.id, {
          provider: "github",
          cmd: "npm run build",
          dir: "dist",
        }),
      },
    });
    assert.equal(created.status, 201, created.text);
    siteId = created.body.id;
    webhook = created.body.git_webhook;
    firstBuildId = created.body.build_id;
  });

  after(async () => {
    await repo?.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  let firstBuildId = "";

  /** The build's whole log: a published build saves its cache after it is done. */
  async function logOf(build: BuildBody): Promise<string[]> {
    return poll(
      async () => {
        const log = await platform.api<LogLine[]>("GET", `/builds/${build.id}/log`);
        assert.equal(log.status, 200, log.text);
        const lines = log.body.map((line) => line.message);
        return lines.some((l) => l.startsWith("Finished processing build request")) && lines;
      },
      `the end of build ${build.id}'s log`,
      60_000,
    );
  }

  async function build(body?: Record<string, unknown>): Promise<BuildBody> {
    const started = await platform.api<BuildBody>("POST", `/sites/${siteId}/builds`, {
      ...(body === undefined ? {} : { body }),
    });
    assert.equal(started.status, 200, started.text);
    return waitForBuild(platform, started.body.id);
  }

  async function published(path: string): Promise<string> {
    const page = await edgeGet(platform.url, "cached.localhost", path);
    assert.equal(page.status, 200, page.body);
    return page.body;
  }

  const has = (log: string[], text: string): boolean => log.some((l) => l.includes(text));

  it("installs on the first build and saves the cache", async () => {
    const first = await waitForBuild(platform, firstBuildId);
    const log = await logOf(first);
    assert.equal(first.state, "done", `${first.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "node_modules not restored: no cache yet"), log.join("\n"));
    assert.ok(has(log, "Installing dependencies: $ npm ci --no-audit --no-fund"));
    assert.ok(has(log, "Build cache: saved node_modules"), log.join("\n"));
    assert.ok(has(log, "Build cache: saved the npm package store"), log.join("\n"));
    assert.ok(has(log, "Build cache: saved framework caches"), log.join("\n"));
    // Saved once the deploy is live: the cache never delays the publish.
    const publishedAt = log.findIndex((l) => l.startsWith("Published deploy"));
    assert.ok(publishedAt >= 0, log.join("\n"));
    assert.ok(
      log.findIndex((l) => l.startsWith("Build cache: saved")) > publishedAt,
      log.join("\n"),
    );
    assert.equal(await published("/"), "<h1>Hello, cache!</h1>\n");
    assert.equal(await published("/install.txt"), "installed\n");
    // The package store is the platform's, never part of the deploy.
    const store = await edgeGet(platform.url, "cached.localhost", "/.slipway-cache/npm/");
    assert.equal(store.status, 404);
  });

  it("restores node_modules and skips the install when nothing changed", async () => {
    const second = await build();
    const log = await logOf(second);
    assert.equal(second.state, "done", `${second.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "Build cache: restored node_modules"), log.join("\n"));
    assert.ok(has(log, "the install is skipped"));
    assert.ok(has(log, "Build cache: restored framework caches of this branch"), log.join("\n"));
    assert.ok(!has(log, "Installing dependencies"), log.join("\n"));
    // The postinstall did not run, and the restored dependency still builds the site.
    assert.equal(await published("/install.txt"), "restored\n");
    assert.equal(await published("/"), "<h1>Hello, cache!</h1>\n");
  });

  it("installs again, from the restored store, when the lockfile changed", async () => {
    await repo.commit(bumpVersion(files, "1.0.1"), "bump the lockfile");
    await repo.push("main");
    const third = await build();
    const log = await logOf(third);
    assert.equal(third.state, "done", `${third.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "node_modules not restored: lockfile changed; installing."), log.join("\n"));
    assert.ok(has(log, "Build cache: restored the npm package store"), log.join("\n"));
    assert.ok(has(log, "Installing dependencies"));
    assert.equal(await published("/install.txt"), "installed\n");
  });

  it("restores nothing and installs with clear_cache, then the cache serves again", async () => {
    const cleared = await build({ clear_cache: true });
    const log = await logOf(cleared);
    assert.equal(cleared.state, "done", `${cleared.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "nothing restored: clear_cache requested"), log.join("\n"));
    assert.ok(!has(log, "Build cache: restored"), log.join("\n"));
    assert.ok(has(log, "Installing dependencies"));
    assert.equal(await published("/install.txt"), "installed\n");

    const after = await build();
    assert.ok(has(await logOf(after), "Build cache: restored node_modules"));
    assert.equal(await published("/install.txt"), "restored\n");
  });

  it("saves no cache from a failing build", async () => {
    await repo.commit({ ...bumpVersion(files, "1.0.2"), "fail-build": "yes\n" }, "break it");
    await repo.push("main");
    const failed = await build();
    const failedLog = await logOf(failed);
    assert.equal(failed.state, "error", failedLog.join("\n"));
    assert.ok(has(failedLog, "Installing dependencies"));
    assert.ok(!has(failedLog, "Build cache: saved"), failedLog.join("\n"));

    // The same lockfile, fixed: nothing was saved for it, so it installs again.
    await repo.commit({ "fail-build": "" }, "fix it");
    await repo.push("main");
    const fixed = await build();
    const log = await logOf(fixed);
    assert.equal(fixed.state, "done", `${fixed.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "node_modules not restored: lockfile changed"), log.join("\n"));
    assert.equal(await published("/install.txt"), "installed\n");
  });

  it("restores the production cache into a fork's preview and never writes it", async () => {
    // The fork's commit (other dependencies) exists at the provider only under the request's ref.
    await repo.checkout("fork-work", true);
    const head = await repo.commit(bumpVersion(files, "9.9.9"), "a fork's change");
    await repo.push("fork-work");
    const git = (args: string[]) => runChecked("git", [`--git-dir=${repositoryDir}`, ...args]);
    await git(["update-ref", "--end-of-options", "refs/pull/7/head", head]);
    await git(["update-ref", "-d", "--end-of-options", "refs/heads/fork-work"]);
    await repo.checkout("main");
    const entriesBefore = await cacheEntries();

    const body = JSON.stringify({
      action: "opened",
      number: 7,
      pull_request: {
        number: 7,
        state: "open",
        merged: false,
        title: "From a fork",
        html_url: "https://github.com/acme/cached/pull/7",
        author_association: "NONE",
        head: { ref: "feature", sha: head, repo: { full_name: "mallory/cached" } },
        base: { ref: "main", repo: { full_name: "acme/cached" } },
      },
    });
    const headers = signedHeaders("github", webhook.secret, body, { event: "pull_request" });
    const opened = await postWebhook(webhook.url, headers, body);
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const approved = await platform.api<{ build_id: string }>(
      "POST",
      `/deploys/${String(opened.body.deploy_id)}/approve`,
    );
    assert.equal(approved.status, 200, approved.text);
    const preview = await waitForBuild(platform, approved.body.build_id);
    const log = await logOf(preview);
    assert.equal(preview.state, "done", `${preview.error ?? ""}\n${log.join("\n")}`);
    assert.ok(has(log, "Build cache: restored the npm package store"), log.join("\n"));
    assert.ok(has(log, "Installing dependencies"));
    assert.ok(has(log, "not saved: this build's source is untrusted"), log.join("\n"));
    assert.ok(!has(log, "Build cache: saved"), log.join("\n"));
    assert.deepEqual(await cacheEntries(), entriesBefore, "the production cache is untouched");

    // Production with the fork's lockfile: nothing was saved for it, so it installs.
    await repo.commit(bumpVersion(files, "9.9.9"), "the fork's dependencies, merged");
    await repo.push("main");
    const production = await build();
    const productionLog = await logOf(production);
    assert.ok(has(productionLog, "node_modules not restored: lockfile changed"));
    assert.equal(await published("/install.txt"), "installed\n");
  });

  async function cacheEntries() {
    return platform.platform.ctx.db
      .selectFrom("build_cache_entries")
      .select(["id", "blob_sha1"])
      .orderBy("id")
      .execute();
  }
});

/** package.json and its lockfile with another version of the site: a changed lockfile. */
function bumpVersion(files: Record<string, Uint8Array>, version: string): Record<string, string> {
  const bump = (name: string): string =>
    Buffer.from(files[name]!)
      .toString("utf8")
      .replaceAll('"version": "1.0.0",\n  "private"', `"version": "${version}",\n  "private"`)
      .replace(/("name": "npm-offline-fixture",\n\s*"version": )"1\.0\.0"/g, `$1"${version}"`);
  return { "package.json": bump("package.json"), "package-lock.json": bump("package-lock.json") };
}
