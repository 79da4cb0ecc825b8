import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  COPY_TO_DIST,
  createPushedProject,
  edgeGet,
  startForgeAndPlatform,
  type EdgeResponse,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import { waitForBuild, webhookDeliveries, type SiteBody } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * Merge request previews on real servers, with no fakes: the built-in forge is the GitLab
 * provider. A site is linked through a GitLab connection (the platform installs the deploy key
 * and the webhook with merge request events itself); a merge request opened with the forge's
 * API makes the forge deliver a "Merge Request Hook"; the platform builds the request's head
 * from `refs/merge-requests/1/head` and serves it at `deploy-preview-1--<site>`, reports a
 * `success` commit status back to the forge, follows a new commit on the source branch, and
 * marks the deploy when the merge request is closed.
 */

interface ForgeStatus {
  sha: string;
  status: string;
  name: string;
  target_url: string | null;
  description: string | null;
}

describe("a merge request on the forge gets a deploy preview and a commit status", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let maya: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let tenant: Tenant;
  let site: SiteBody;

  const deliveries = () => webhookDeliveries(platform, site.id, tenant.token);

  /** The merge request delivery about `sha` with outcome `outcome`, once it has arrived. */
  const requestDelivery = (sha: string | null, outcome: string, what: string) =>
    poll(
      async () =>
        (await deliveries()).find(
          (d) =>
            d.event === "Merge Request Hook" &&
            (sha === null || d.sha === sha) &&
            d.outcome === outcome,
        ),
      what,
    );

  const page = (label: string): Promise<EdgeResponse> =>
    edgeGet(platform.url, `${label === "" ? "" : `${label}--`}${site.name}.localhost`);

  const statusesOf = async (sha: string): Promise<ForgeStatus[]> => {
    const res = await forge.api<ForgeStatus[]>(
      "GET",
      `/projects/${project.id}/repository/commits/${sha}/statuses`,
      { token: maya.token },
    );
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({ forgeApi: true, buildWorkers: 2 }));
    const pushed = await createPushedProject(forge, "maya", "blog", {
      "index.html": "<h1>the blog</h1>\n",
      "build.sh": COPY_TO_DIST,
    });
    ({ owner: maya, project, repo } = pushed);
    tenant = await platform.createTenant("maya");
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    await repo?.cleanup();
  });

  it("links through a GitLab connection, previews a merge request, reports its status, and marks it closed", async () => {
    // The account's connection to the forge, with a forge token; the platform does the rest.
    const connection = await platform.api<{ id: string }>("POST", "/git_connections", {
      token: tenant.token,
      body: { provider: "gitlab", base_url: forge.url, token: maya.token },
    });
    assert.equal(connection.status, 201, connection.text);
    const created = await platform.api<SiteBody>("POST", "/sites", {
      token: tenant.token,
      body: {
        name: "blog",
        repo: {
          provider: "gitlab",
          repo_path: project.path_with_namespace,
          repo_branch: "main",
          cmd: "sh build.sh",
          dir: "dist",
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    site = created.body;
    const hooks = await forge.api<Array<{ merge_requests_events: boolean; push_events: boolean }>>(
      "GET",
      `/projects/${project.id}/hooks`,
      { token: maya.token },
    );
    assert.equal(hooks.status, 200, hooks.text);
    assert.equal(hooks.body.length, 1, hooks.text);
    assert.equal(hooks.body[0]?.merge_requests_events, true, "the hook carries merge requests");
    assert.ok(site.build_id, created.text);
    assert.equal((await waitForBuild(platform, site.build_id, tenant.token)).state, "done");
    assert.equal((await page("")).body, "<h1>the blog</h1>\n");

    // A merge request from a branch of the project itself (trusted: its author could push).
    await repo.checkout("feature", true);
    const first = await repo.commit({ "index.html": "<h1>a new post</h1>\n" }, "a new post");
    await repo.push("feature");
    const mr = await forge.api<{ iid: number }>("POST", `/projects/${project.id}/merge_requests`, {
      token: maya.token,
      body: { source_branch: "feature", target_branch: "main", title: "A new post" },
    });
    assert.equal(mr.status, 201, mr.text);
    assert.equal(mr.body.iid, 1);

    const opened = await requestDelivery(first, "built", "the merge request's delivery");
    assert.equal(opened.ref, "refs/merge-requests/1/head");
    assert.match(opened.reason, /^built: preview build [0-9a-f]{24} for merge request !1 at /);
    const build = await waitForBuild(platform, opened.build_id!, tenant.token);
    assert.equal(build.state, "done", build.error ?? "");
    const preview = await poll(async () => {
      const res = await page("deploy-preview-1");
      return res.status === 200 ? res : undefined;
    }, "the preview to be served");
    assert.equal(preview.body, "<h1>a new post</h1>\n");
    assert.equal((await page("")).body, "<h1>the blog</h1>\n", "the site itself is unchanged");

    // The forge shows the build's result on the commit, linking to the preview.
    const port = new URL(platform.url).port;
    const success = await poll(
      async () => (await statusesOf(first)).find((s) => s.status === "success"),
      "a success status on the merge request's commit",
    );
    assert.equal(success.name, "slipway/blog");
    assert.equal(success.description, "Deploy ready");
    assert.equal(success.target_url, `http://deploy-preview-1--blog.localhost:${port}`);

    // A new commit on the source branch updates the preview.
    const second = await repo.commit({ "index.html": "<h1>a better post</h1>\n" }, "better");
    await repo.push("feature");
    const updated = await requestDelivery(second, "built", "the update's delivery");
    assert.equal((await waitForBuild(platform, updated.build_id!, tenant.token)).state, "done");
    await poll(
      async () => (await page("deploy-preview-1")).body === "<h1>a better post</h1>\n",
      "the preview to show the new commit",
    );
    await poll(
      async () => (await statusesOf(second)).some((s) => s.status === "success"),
      "a success status on the new commit",
    );

    // Closing the merge request marks its deploys; the preview stays at its URL.
    const closed = await forge.api("PUT", `/projects/${project.id}/merge_requests/1`, {
      token: maya.token,
      body: { state_event: "close" },
    });
    assert.equal(closed.status, 200, closed.text);
    const marked = await poll(
      async () =>
        (await deliveries()).find(
          (d) => d.event === "Merge Request Hook" && d.reason.startsWith("closed: "),
        ),
      "the close delivery",
    );
    assert.match(marked.reason, /^closed: merge request !1 was closed; its 2 preview deploy\(s\)/);
    const deploys = await platform.api<Array<{ id: string; context: string }>>(
      "GET",
      `/sites/${site.id}/deploys`,
      { token: tenant.token },
    );
    const previews = deploys.body.filter((d) => d.context === "deploy-preview");
    assert.equal(previews.length, 2, deploys.text);
    for (const deploy of previews) {
      const row = await platform.platform.ctx.db
        .selectFrom("deploys")
        .select(["review_id", "review_state", "state"])
        .where("id", "=", deploy.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { review_id: 1, review_state: "closed", state: "ready" });
    }
    assert.equal((await page("deploy-preview-1")).body, "<h1>a better post</h1>\n");
  });
});
