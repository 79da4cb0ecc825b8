import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../src/lib/run.ts";
import {
  startTestForge,
  waitUntil,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../helpers/forge.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";

/**
 * The push story on real servers, no mocks: a private project on the forge, a deploy key made
 * by the platform and installed at the forge, a site linked to the project, the site's git
 * webhook registered as a forge project hook; then `git push` over HTTP makes the forge deliver
 * a GitLab Push Hook, the platform records it and builds that commit, and the edge serves it.
 */

interface SiteBody {
  id: string;
  name: string;
  git_webhook: { url: string; secret: string } | null;
}

interface DeliveryBody {
  id: string;
  provider: string | null;
  event: string | null;
  delivery_key: string | null;
  branch: string | null;
  sha: string | null;
  outcome: string;
  reason: string;
  status_code: number;
  build_id: string | null;
}

interface BuildBody {
  id: string;
  deploy_id: string;
  sha: string | null;
  branch: string;
  state: string;
  done: boolean;
  error: string | null;
}

describe("a git push reaches the platform through the forge's webhook", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let tenant: Tenant;
  let site: SiteBody;
  let work: string;
  let repo: string;
  let pushUrl: string;
  let gitEnv: NodeJS.ProcessEnv;

  const git = (args: string[]): Promise<string> =>
    runChecked("git", args, { cwd: repo, env: gitEnv });

  /** Writes the page, commits it and pushes `branch` over HTTP; returns the commit id. */
  const commitAndPush = async (page: string, branch = "main"): Promise<string> => {
    await writeFile(join(repo, "index.html"), page);
    await git(["add", "--", "index.html"]);
    await git(["commit", "-q", "-m", `page: ${page.trim().slice(0, 40)}`]);
    const commit = (await git(["rev-parse", "HEAD"])).trim();
    await git(["push", "-q", pushUrl, `HEAD:refs/heads/${branch}`]);
    return commit;
  };

  const deliveries = async (): Promise<DeliveryBody[]> => {
    const res = await platform.api<DeliveryBody[]>("GET", `/sites/${site.id}/webhook_deliveries`, {
      token: tenant.token,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  /** `GET /` on the site's own host name, through the platform's port. */
  const served = (): Promise<{ status: number; body: string }> => {
    const { hostname, port } = new URL(platform.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: hostname, port, path: "/", headers: { host: `${site.name}.localhost:${port}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  };

  before(async () => {
    forge = await startTestForge({ allowLocalWebhooks: true });
    const forgePort = new URL(forge.url).port;
    platform = await startTestPlatform({
      config: {
        // The forge listens on loopback: its SSH and HTTP ports are allowed, nothing else.
        allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`, `127.0.0.1:${forgePort}`],
      },
    });
    owner = await forge.createUser("olivia");
    project = await forge.createProject(owner, "pages");
    tenant = await platform.createTenant("olivia");

    work = await mkdtemp(join(tmpdir(), "slipway-e2e-"));
    const home = join(work, "home");
    await mkdir(home);
    gitEnv = {
      PATH: process.env.PATH,
      HOME: home,
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Olivia",
      GIT_AUTHOR_EMAIL: "olivia@example.test",
      GIT_COMMITTER_NAME: "Olivia",
      GIT_COMMITTER_EMAIL: "olivia@example.test",
    };
    repo = join(work, "pages");
    await runChecked("git", ["init", "-q", "-b", "main", "--", repo], { env: gitEnv });
    const push = new URL(`${forge.url}/${project.path_with_namespace}.git`);
    push.username = "oauth2";
    push.password = owner.token;
    pushUrl = push.toString();
    // The site's build writes dist/ from the page.
    await writeFile(join(repo, "build.sh"), "mkdir -p dist\ncp index.html dist/index.html\n");
    await git(["add", "--", "build.sh"]);
    await commitAndPush("<h1>first</h1>\n");
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("links the site, builds the pushed commit, serves it, and explains an ignored branch", async () => {
    // The platform's deploy key, installed as a read-only deploy key of the private project.
    const key = await platform.api<{ id: string; public_key: string }>("POST", "/deploy_keys", {
      token: tenant.token,
    });
    assert.equal(key.status, 201, key.text);
    const installed = await forge.api("POST", `/projects/${project.id}/deploy_keys`, {
      token: owner.token,
      body: { title: "slipway", key: key.body.public_key, can_push: false },
    });
    assert.equal(installed.status, 201, installed.text);

    const created = await platform.api<SiteBody>("POST", "/sites", {
      token: tenant.token,
      body: {
        name: "pages",
        repo: {
          provider: "gitlab",
          repo_url: `ssh://git@127.0.0.1:${forge.sshPort}/${project.path_with_namespace}.git`,
          repo_path: project.path_with_namespace,
          id: project.id,
          repo_branch: "main",
          cmd: "sh build.sh",
          dir: "dist",
          deploy_key_id: key.body.id,
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    site = created.body;
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
    const finished = await waitUntil(
      async () => {
        const res = await platform.api<BuildBody>("GET", `/builds/${built.build_id}`, {
          token: tenant.token,
        });
        return res.body.done ? res.body : undefined;
      },
      "the build to finish",
      60_000,
    );
    assert.equal(finished.state, "done", finished.error ?? "");
    const deploy = await platform.api<{ state: string; commit_ref: string | null }>(
      "GET",
      `/deploys/${finished.deploy_id}`,
      { token: tenant.token },
    );
    assert.equal(deploy.body.state, "ready", deploy.text);
    assert.equal(deploy.body.commit_ref, second);
    const page = await waitUntil(
      async () => {
        const res = await served();
        return res.status === 200 && res.body.includes("second push") ? res : undefined;
      },
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
    assert.match((await served()).body, /second push/);
  });
});
