import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  startForgeAndPlatform,
  waitForPage,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import {
  createDeployKey,
  createSite,
  waitForBuild,
  webhookDeliveries,
  type BuildBody,
  type SiteBody,
} from "../helpers/sites.ts";
import { waitUntil } from "../helpers/wait.ts";

/**
 * The push story on real servers, no mocks: a private project on the forge, a deploy key made
 * by the platform and installed at the forge, a site linked to the project, the site's git
 * webhook registered as a forge project hook; then `git push` over HTTP makes the forge deliver
 * a GitLab Push Hook, the platform records it and builds that commit, and the edge serves it.
 */

describe("a git push reaches the platform through the forge's webhook", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let tenant: Tenant;
  let site: SiteBody;

  /** Commits the page and pushes it to `branch`; returns the commit id. */
  const commitAndPush = async (page: string, branch = "main"): Promise<string> => {
    const commit = await repo.commit({ "index.html": page });
    await repo.push("main", branch);
    return commit;
  };

  const deliveries = () => webhookDeliveries(platform, site.id, tenant.token);

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({ forgeApi: true }));
    // The site's build writes dist/ from the page.
    ({ owner, project, repo } = await createPushedProject(forge, "olivia", "pages", {
      "build.sh": "mkdir -p dist\ncp index.html dist/index.html\n",
      "index.html": "<h1>first</h1>\n",
    }));
    tenant = await platform.createTenant("olivia");
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    await repo?.cleanup();
  });

  it("links the site, builds the pushed commit, serves it, and explains an ignored branch", async () => {
    // The platform's deploy key, installed as a read-only deploy key of the private project.
    const key = await createDeployKey(platform, tenant.token);
    await addForgeDeployKey(forge, project, owner, key.public_key);

    site = await createSite(platform, tenant.token, {
      name: "pages",
      repo: repoWithDeployKey(project, key.id, {
        repo_path: project.path_with_namespace,
        id: project.id,
      }),
    });
    assert.ok(site.git_webhook, "a linked site hands out its git webhook");

    const hook = await forge.api<{ id: number }>("POST", `/projects/${project.id}/hooks`, {
      token: owner.token,
      body: {
        url: site.git_webhook.url,
        token: site.git_webhook.secret,
        push_events: true,
        tag_push_events: true,
      },
    });
    assert.equal(hook.status, 201, hook.text);

    // A second commit, pushed with git: the forge delivers a GitLab Push Hook.
    const second = await commitAndPush("<h1>second push</h1>\n");
    const built = await waitUntil(
      async () => (await deliveries()).find((d) => d.sha === second),
      "the push's delivery at the platform",
      20_000,
    );
    assert.equal(built.outcome, "built", built.reason);
    assert.equal(built.status_code, 202);
    assert.equal(built.provider, "gitlab");
    assert.equal(built.event, "Push Hook");
    assert.equal(built.branch, "main");
    assert.ok(built.delivery_key, "the forge's Idempotency-Key is kept");
    assert.match(built.reason, /^built: build [0-9a-f]{24} of branch "main"/);
    assert.match(built.build_id ?? "", /^[0-9a-f]{24}$/);

    const build = await platform.api<BuildBody>("GET", `/builds/${built.build_id}`, {
      token: tenant.token,
    });
    assert.equal(build.status, 200, build.text);
    assert.equal(build.body.sha, second);
    assert.equal(build.body.branch, "main");

    // The build runs in the sandbox, publishes, and the edge serves the new page.
    const finished = await waitForBuild(platform, built.build_id!, tenant.token);
    assert.equal(finished.state, "done", finished.error ?? "");
    const deploy = await platform.api<{ state: string; commit_ref: string | null }>(
      "GET",
      `/deploys/${finished.deploy_id}`,
      { token: tenant.token },
    );
    assert.equal(deploy.body.state, "ready", deploy.text);
    assert.equal(deploy.body.commit_ref, second);
    const page = await waitForPage(
      platform.url,
      `${site.name}.localhost`,
      (res) => res.status === 200 && res.body.includes("second push"),
      "the edge to serve the new page",
      10_000,
    );
    assert.match(page.body, /<h1>second push<\/h1>/);

    // A push to a branch the site does not build: recorded as ignored, with the reason.
    const dev = await commitAndPush("<h1>dev work</h1>\n", "dev");
    const ignored = await waitUntil(
      async () => (await deliveries()).find((d) => d.sha === dev),
      "the dev push's delivery",
      20_000,
    );
    assert.equal(ignored.outcome, "ignored");
    assert.equal(ignored.status_code, 200);
    assert.equal(ignored.reason, 'ignored: branch "dev" is not in allowed_branches [main]');
    assert.equal(ignored.build_id, null);

    // The forge saw the truth too: its hook log has the platform's 202 and 200.
    const statuses = await waitUntil(
      async () => {
        const events = await forge.api<Array<{ response_status: string }>>(
          "GET",
          `/projects/${project.id}/hooks/${hook.body.id}/events`,
          { token: owner.token },
        );
        assert.equal(events.status, 200, events.text);
        const seen = events.body.map((e) => e.response_status);
        return seen.includes("202") && seen.includes("200") ? seen : undefined;
      },
      "the forge's hook log to show the platform's answers",
      10_000,
    );
    assert.ok(!statuses.some((s) => s.startsWith("5") || s === "204"), statuses.join(", "));
    // Nothing else changed what is served.
    assert.match((await edgeGet(platform.url, `${site.name}.localhost`)).body, /second push/);
  });
});
