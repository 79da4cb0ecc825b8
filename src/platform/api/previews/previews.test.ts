import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../../lib/run.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../../../../test/helpers/e2e.ts";
import type { TestForge } from "../../../../test/helpers/forge.ts";
import type { Tenant, TestPlatform } from "../../../../test/helpers/platform.ts";
import {
  createDeployKey,
  createSite,
  waitForBuild,
  type SiteBody,
} from "../../../../test/helpers/sites.ts";
import { poll } from "../../../../test/helpers/wait.ts";
import { postWebhook, signedHeaders } from "../../../../test/helpers/webhooks.ts";
import { GitFetchError, fetchRepository } from "../../repos/git-fetch.ts";
import { MemoryHostKeyStore } from "../../repos/host-keys.ts";
import { previewFetchRef, reviewIdOfLabel } from "../../sites/review-refs.ts";

/**
 * Deploy previews built for real: a private repository on the forge, fetched over SSH with the
 * site's deploy key, a site whose provider is GitHub (so a request's head is fetched from
 * `refs/pull/<n>/head`, which the test writes into the forge's repository as GitHub's servers
 * would), signed `pull_request` deliveries, builds in the sandbox, and the edge serving
 * `deploy-preview-<n>--<site>`. Then a fork's request waiting for approval, and the approval.
 */

interface PreviewBody {
  id: string;
  state: string;
  context: string;
  build_id: string | null;
  review_id: number | null;
  review_url: string | null;
  review_state: string | null;
  approved_by: string | null;
  error_message: string | null;
  links: { preview: string | null };
}

describe("deploy previews, built and served", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let repo: WorkingCopy;
  let alice: Tenant;
  let bob: Tenant;
  let site: SiteBody;
  let repositoryDir: string;

  /** Points the forge repository's `refs/pull/<n>/head` at a commit, as GitHub maintains it. */
  const setPullRef = (number: number, commit: string): Promise<string> =>
    runChecked("git", [
      `--git-dir=${repositoryDir}`,
      "update-ref",
      "--end-of-options",
      `refs/pull/${number}/head`,
      commit,
    ]);

  /** A signed GitHub `pull_request` delivery; returns the intake's answer. */
  const deliver = async (
    number: number,
    action: string,
    head: string,
    options: { fork?: boolean; merged?: boolean } = {},
  ) => {
    const body = JSON.stringify({
      action,
      number,
      pull_request: {
        number,
        state: action === "closed" ? "closed" : "open",
        merged: options.merged === true,
        title: `Preview ${number}`,
        html_url: `https://github.com/acme/web/pull/${number}`,
        author_association: options.fork === true ? "NONE" : "OWNER",
        head: {
          ref: "feature",
          sha: head,
          repo: { full_name: options.fork === true ? "mallory/web" : "acme/web" },
        },
        base: { ref: "main", repo: { full_name: "acme/web" } },
      },
    });
    const headers = signedHeaders("github", site.git_webhook!.secret, body, {
      event: "pull_request",
    });
    return postWebhook(site.git_webhook!.url, headers, body);
  };

  const finished = (buildId: unknown) => waitForBuild(platform, String(buildId), alice.token);

  const page = async (label: string, path = "/") =>
    edgeGet(platform.url, `${label === "" ? "" : `${label}--`}${site.name}.localhost`, path);

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform());
    const pushed = await createPushedProject(forge, "owner", "web", {
      "index.html": "<h1>production</h1>\n",
      "build.sh":
        'mkdir -p dist && cp index.html dist/ && printf "%s %s %s" "$CONTEXT" "$PULL_REQUEST" "$DEPLOY_PRIME_URL" > dist/env.txt\n',
    });
    const { owner, project } = pushed;
    repo = pushed.repo;
    repositoryDir = join(forge.dataDir, "repositories", `${project.id}.git`);

    alice = await platform.createTenant("alice");
    bob = await platform.createTenant("bob");
    const key = await createDeployKey(platform, alice.token);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    // A GitHub site: a request's head is fetched from refs/pull/<n>/head.
    site = await createSite(platform, alice.token, {
      name: "web",
      repo: repoWithDeployKey(project, key.id, { provider: "github" }),
    });
    assert.equal((await finished(site.build_id)).state, "done");
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    await repo?.cleanup();
  });

  it("builds a pull request's head from refs/pull/<n>/head and serves it as its preview", async () => {
    await repo.checkout("feature", true);
    const head = await repo.commit({ "index.html": "<h1>preview one</h1>\n" });
    await repo.push("feature");
    await setPullRef(1, head);

    const opened = await deliver(1, "opened", head);
    assert.equal(opened.status, 202, JSON.stringify(opened.body));
    const build = await finished(opened.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");

    const preview = await page("deploy-preview-1");
    assert.equal(preview.status, 200);
    assert.equal(preview.body, "<h1>preview one</h1>\n");
    const env = await page("deploy-preview-1", "/env.txt");
    const port = new URL(platform.url).port;
    assert.equal(env.body, `deploy-preview true http://deploy-preview-1--web.localhost:${port}`);
    // Never published, and not a branch deploy of its head branch.
    assert.equal((await page("")).body, "<h1>production</h1>\n");
    assert.equal((await page("feature")).status, 404);

    // A new commit: a new build, and the preview follows it.
    const second = await repo.commit({ "index.html": "<h1>preview two</h1>\n" });
    await repo.push("feature");
    await setPullRef(1, second);
    const pushed = await deliver(1, "synchronize", second);
    assert.equal(pushed.status, 202, JSON.stringify(pushed.body));
    assert.equal((await finished(pushed.body.build_id)).state, "done");
    await poll(
      async () => (await page("deploy-preview-1")).body === "<h1>preview two</h1>\n",
      "the preview to show the new commit",
    );

    // Closed: marked, and still served at its URL.
    const closed = await deliver(1, "closed", second);
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    const deploy = await platform.platform.ctx.db
      .selectFrom("deploys")
      .select(["review_state", "state", "published_at"])
      .where("id", "=", String(pushed.body.deploy_id))
      .executeTakeFirstOrThrow();
    assert.deepEqual(deploy, { review_state: "closed", state: "ready", published_at: null });
    assert.equal((await page("deploy-preview-1")).body, "<h1>preview two</h1>\n");
    // A site without a provider connection reports no commit statuses.
    const statusJobs = await platform.platform.ctx.db
      .selectFrom("jobs")
      .select("id")
      .where("queue", "=", "commit-status")
      .execute();
    assert.equal(statusJobs.length, 0);
  });

  it("waits for a member's approval before building a fork's request", async () => {
    // The fork's commit exists at the provider only under the request's ref.
    await repo.checkout("main");
    await repo.checkout("fork-work", true);
    const head = await repo.commit({ "index.html": "<h1>from a fork</h1>\n" });
    await repo.push("fork-work");
    await setPullRef(2, head);
    await runChecked("git", [
      `--git-dir=${repositoryDir}`,
      "update-ref",
      "-d",
      "--end-of-options",
      "refs/heads/fork-work",
    ]);

    const opened = await deliver(2, "opened", head, { fork: true });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.match(
      String(opened.body.reason),
      /^waiting for approval: pull request #2 comes from a fork/,
    );
    const deployId = String(opened.body.deploy_id);
    assert.equal((await page("deploy-preview-2")).status, 404);

    const path = `/deploys/${deployId}/approve`;
    // Another account's deploy does not exist for it; no token is 401.
    const foreign = await platform.api("POST", path, { token: bob.token });
    assert.equal(foreign.status, 404, foreign.text);
    const anonymous = await platform.api("POST", path, { token: null });
    assert.equal(anonymous.status, 401, anonymous.text);
    const unknown = await platform.api("POST", `/deploys/${"0".repeat(24)}/approve`, {
      token: alice.token,
    });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(
      (await platform.api("POST", "/deploys/not-an-id/approve", { token: alice.token })).status,
      404,
    );
    const still = await platform.platform.ctx.db
      .selectFrom("deploys")
      .select(["state", "build_id"])
      .where("id", "=", deployId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(still, { state: "pending_review", build_id: null });

    const approved = await platform.api<PreviewBody>("POST", path, { token: alice.token });
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.body.id, deployId);
    assert.equal(approved.body.approved_by, alice.userId);
    assert.equal(approved.body.review_id, 2);
    assert.equal(approved.body.review_url, "https://github.com/acme/web/pull/2");
    assert.equal(approved.body.error_message, null);
    assert.match(approved.body.links.preview ?? "", /^http:\/\/deploy-preview-2--web\.localhost:/);
    assert.match(approved.body.build_id ?? "", /^[0-9a-f]{24}$/);
    const build = await finished(approved.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal(build.deploy_id, deployId);
    assert.equal((await page("deploy-preview-2")).body, "<h1>from a fork</h1>\n");
    assert.equal((await page("")).body, "<h1>production</h1>\n");

    // Once approved, or for a deploy that never waited: 422.
    const twice = await platform.api<{ code: number; message: string }>("POST", path, {
      token: alice.token,
    });
    assert.equal(twice.status, 422, twice.text);
    assert.match(twice.body.message, /not waiting for approval \(its state is ready\)/);
    const { published_deploy_id: published } = await platform.platform.ctx.db
      .selectFrom("sites")
      .select("published_deploy_id")
      .where("id", "=", site.id)
      .executeTakeFirstOrThrow();
    assert.ok(published);
    const production = await platform.api("POST", `/deploys/${published}/approve`, {
      token: alice.token,
    });
    assert.equal(production.status, 422, production.text);
  });
});

describe("preview refs", () => {
  it("names each provider's request ref, and reads preview host labels strictly", () => {
    assert.equal(previewFetchRef("github", 5), "refs/pull/5/head");
    assert.equal(previewFetchRef("gitea", 5), "refs/pull/5/head");
    assert.equal(previewFetchRef("gitlab", 3), "refs/merge-requests/3/head");
    assert.equal(previewFetchRef("bitbucket", 3), undefined);
    assert.equal(previewFetchRef("git", 3), undefined);
    assert.equal(reviewIdOfLabel("deploy-preview-12"), 12);
    for (const label of [
      "deploy-preview-0",
      "deploy-preview-012",
      "deploy-preview-",
      "x",
      "deploy-preview-99999999999",
    ]) {
      assert.equal(reviewIdOfLabel(label), undefined, label);
    }
  });

  it("refuses a fetch ref git must never see, before connecting anywhere", async () => {
    for (const fetchRef of [
      "refs/pull/../../x",
      "refs/-x",
      "pull/5/head",
      "refs/slipway/pull/5/head",
      "refs/a b",
    ]) {
      await assert.rejects(
        fetchRepository({
          repoUrl: "ssh://git@192.0.2.1:22/acme/site.git",
          privateKey: "unused",
          hostKeys: new MemoryHostKeyStore(),
          branch: "main",
          fetchRef,
          mirrorDir: "/nonexistent/mirror.git",
          checkoutDir: "/nonexistent/checkout",
        }),
        (error: unknown) => error instanceof GitFetchError && error.code === "not_allowed",
        fetchRef,
      );
    }
  });
});
