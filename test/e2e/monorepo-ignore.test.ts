import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { sandboxSkip } from "../helpers/sandbox-testbed.ts";
import {
  createDeployKey,
  waitForBuild,
  type BuildBody as Build,
  type SiteBody,
} from "../helpers/sites.ts";
import { postWebhook, randomSha, signedHeaders } from "../helpers/webhooks.ts";

/**
 * A monorepo of two packages, built from `packages/site` (its base directory): a push that
 * changes only the other package is skipped (Netlify's ignored builds), one under the base is
 * built, and netlify.toml's `ignore` command, run in the sandbox with the history, decides when
 * it is there.
 */

interface LogLine {
  message: string;
}

describe("monorepo builds: base directory and ignored builds", { skip: sandboxSkip }, () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let site: SiteBody;

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform());
    ({ owner, project, repo } = await createPushedProject(forge, "mono", "mono", {
      "packages/site/index.html": "<h1>site one</h1>\n",
      "packages/site/build.sh": "mkdir -p dist && cp index.html dist/\n",
      "packages/other/README": "the other package\n",
    }));
  });

  after(async () => {
    await repo?.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  const api = <T>(method: string, path: string, body?: unknown) =>
    platform.api<T>(method, path, body === undefined ? {} : { body });

  /** Commits, pushes, and delivers the forge's push hook for it; the build it started, finished. */
  const pushAndBuild = async (files: Record<string, string>): Promise<Build> => {
    const sha = await repo.commit(files);
    await repo.push("main");
    const body = JSON.stringify({
      object_kind: "push",
      ref: "refs/heads/main",
      before: randomSha(),
      after: sha,
      commits: [{ id: sha, title: "change", message: "change\n" }],
    });
    const hook = site.git_webhook!;
    const answer = await postWebhook(hook.url, signedHeaders("gitlab", hook.secret, body), body);
    assert.ok(answer.status < 300, answer.text);
    const builds = await api<Build[]>("GET", `/sites/${site.id}/builds`);
    const started = builds.body.find((b) => b.sha === sha) ?? builds.body[0]!;
    return waitForBuild(platform, started.id);
  };

  const deployState = async (build: Build): Promise<string> =>
    (await api<{ state: string }>("GET", `/deploys/${build.deploy_id}`)).body.state;

  const logOf = async (build: Build): Promise<string> =>
    (await api<LogLine[]>("GET", `/builds/${build.id}/log`)).body.map((l) => l.message).join("\n");

  it("builds the base directory, publishing relative to it", async () => {
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    const created = await api<SiteBody & { build_id: string }>("POST", "/sites", {
      name: "mono",
      repo: repoWithDeployKey(project, key.id, { base: "packages/site" }),
    });
    assert.equal(created.status, 201, created.text);
    site = created.body;
    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal((await edgeGet(platform.url, "mono.localhost")).body, "<h1>site one</h1>\n");
  });

  it("skips a push that changed nothing under the base directory, saying why", async () => {
    const build = await pushAndBuild({ "packages/other/README": "changed\n" });
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal(await deployState(build), "skipped");
    assert.match(
      await logOf(build),
      /Skipping the build: nothing changed under the base directory packages\/site since [0-9a-f]{12}/,
    );
  });

  it("builds a push that changed the base directory", async () => {
    const build = await pushAndBuild({ "packages/site/index.html": "<h1>site two</h1>\n" });
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal(await deployState(build), "ready");
    assert.equal((await edgeGet(platform.url, "mono.localhost")).body, "<h1>site two</h1>\n");
  });

  it("runs netlify.toml's ignore command instead: exit 0 skips, 1 builds", async () => {
    // The other way round, to tell it from the default: skip unless ../other changed.
    const ignore = 'git diff --quiet "$CACHED_COMMIT_REF" "$COMMIT_REF" -- ../other';
    const skipped = await pushAndBuild({
      "packages/site/netlify.toml": `[build]\nignore = '${ignore}'\n`,
      "packages/site/index.html": "<h1>site three</h1>\n",
    });
    assert.equal(skipped.state, "done", skipped.error ?? "");
    assert.equal(await deployState(skipped), "skipped", await logOf(skipped));
    assert.match(await logOf(skipped), /Skipping the build: the ignore command exited with 0/);
    assert.equal((await edgeGet(platform.url, "mono.localhost")).body, "<h1>site two</h1>\n");

    const built = await pushAndBuild({ "packages/other/README": "changed again\n" });
    assert.equal(await deployState(built), "ready", await logOf(built));
    assert.match(await logOf(built), /The ignore command exited with 1: building\./);
    assert.equal((await edgeGet(platform.url, "mono.localhost")).body, "<h1>site three</h1>\n");
  });
});
