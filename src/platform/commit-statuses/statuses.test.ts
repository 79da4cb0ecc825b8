import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWorkingCopy, type WorkingCopy } from "../../../test/helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";
import { poll } from "../../../test/helpers/wait.ts";
import { commitStatus } from "./statuses.ts";

/**
 * Commit statuses reported to the built-in forge (the GitLab provider) for a site linked
 * through a connection: a failing build shows as `failed` on its commit with the reason's first
 * line, and the provider's answer never changes the build's own outcome.
 */

interface ForgeStatus {
  status: string;
  name: string;
  description: string | null;
  target_url: string | null;
}

describe("commit statuses", () => {
  it("says what the provider should show for each build state", () => {
    const ctx = { config: { publicUrl: "http://api.test:8080", sitesDomain: "sites.test" } };
    const site = { name: "blog" };
    const deploy = { id: "d".repeat(24), context: "production", review_id: null };
    const of = (state: string, error: string | null = null) =>
      commitStatus(
        ctx as never,
        site,
        { id: "b".repeat(24), state: state as never, error },
        deploy,
      );
    assert.deepEqual(of("building"), {
      state: "pending",
      context: "slipway/blog",
      description: "Build started",
      targetUrl: `http://api.test:8080/sites/blog/deploys/${"d".repeat(24)}`,
    });
    assert.equal(of("done")?.targetUrl, `http://${"d".repeat(24)}--blog.sites.test:8080`);
    assert.equal(
      commitStatus(
        ctx as never,
        site,
        { id: "b", state: "done", error: null },
        {
          ...deploy,
          context: "deploy-preview",
          review_id: 7,
        },
      )?.targetUrl,
      "http://deploy-preview-7--blog.sites.test:8080",
    );
    const failed = of("error", `The build command failed\nwith details\n${"x".repeat(500)}`);
    assert.equal(failed?.state, "failure");
    assert.equal(failed?.description, "The build command failed");
    assert.equal(of("error", "y".repeat(500))?.description.length, 140);
    assert.equal(of("cancelled")?.state, "error");
    assert.equal(of("superseded"), undefined);
  });

  describe("against the forge", () => {
    let forge: TestForge;
    let platform: TestPlatform;
    let owner: TestUser;
    let project: TestProject;
    let repo: WorkingCopy;
    let tenant: Tenant;

    before(async () => {
      forge = await startTestForge();
      const forgePort = new URL(forge.url).port;
      platform = await startTestPlatform({
        config: {
          allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`, `127.0.0.1:${forgePort}`],
        },
      });
      owner = await forge.createUser("stella");
      project = await forge.createProject(owner, "site");
      repo = await createWorkingCopy(forge, project, owner.token);
      tenant = await platform.createTenant("stella");
    });

    after(async () => {
      await platform?.stop();
      await forge?.stop();
      await repo?.cleanup();
    });

    it("reports a failed build on its commit, with the reason's first line", async () => {
      const commit = await repo.commit({ "index.html": "<h1>hi</h1>\n" });
      await repo.push("main");
      const connection = await platform.api("POST", "/git_connections", {
        token: tenant.token,
        body: { provider: "gitlab", base_url: forge.url, token: owner.token },
      });
      assert.equal(connection.status, 201, connection.text);
      const site = await platform.api<{ build_id?: string }>("POST", "/sites", {
        token: tenant.token,
        body: {
          name: "stella",
          repo: {
            provider: "gitlab",
            repo_path: project.path_with_namespace,
            cmd: "echo broken >&2; exit 3",
            dir: "dist",
          },
        },
      });
      assert.equal(site.status, 201, site.text);
      const build = await poll(async () => {
        const res = await platform.api<{ done: boolean; state: string; error: string | null }>(
          "GET",
          `/builds/${site.body.build_id}`,
          { token: tenant.token },
        );
        return res.body.done ? res.body : undefined;
      }, "the build to fail");
      assert.equal(build.state, "error");

      const failed = await poll(async () => {
        const res = await forge.api<ForgeStatus[]>(
          "GET",
          `/projects/${project.id}/repository/commits/${commit}/statuses`,
          { token: owner.token },
        );
        assert.equal(res.status, 200, res.text);
        return res.body.find((s) => s.status === "failed");
      }, "a failed status on the commit");
      assert.equal(failed.name, "slipway/stella");
      assert.equal(failed.description, build.error!.split("\n")[0]!.slice(0, 140));
      // The dashboard's page of the deploy, with its build log.
      assert.match(failed.target_url ?? "", /\/sites\/stella\/deploys\/[0-9a-f]{24}$/);
    });
  });
});
