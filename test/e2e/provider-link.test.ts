import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { Tenant, TestPlatform } from "../helpers/platform.ts";
import {
  COPY_TO_DIST,
  createPushedProject,
  createWorkingCopy,
  startForgeAndPlatform,
  waitForPage,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { waitForBuild, type BuildBody as Build } from "../helpers/sites.ts";
import { checkDueLinks } from "../../src/platform/links/health.ts";

/**
 * Linking does the provider's half, end to end, with no fakes: the platform talks to the
 * built-in forge through the GitLab adapter (its REST API, git over SSH, its webhooks). A
 * connection with a forge token, then `POST /sites` with only the repository's path, branch,
 * command and directory: Slipway installs the deploy key and the webhook, checks the branch
 * with the key, and builds once. Then: a push goes live through the webhook; linking again
 * leaves one key and one hook; a key removed by hand stops builds with that reason until
 * repair puts it back; a failed link leaves nothing at the forge; unlink and delete remove
 * what Slipway installed.
 */

interface Step {
  step: string;
  status: string;
  message: string;
  hint?: string;
}
interface LinkOutcome {
  status: "linked" | "failed";
  connection_id: string;
  steps: Step[];
  error: { step: string; message: string; hint: string } | null;
}
interface SiteBody {
  id: string;
  name: string;
  build_id: string | null;
  deploy_id: string | null;
  git_connection_id: string | null;
  link_broken_reason: string | null;
  git_webhook: { url: string; secret: string } | null;
  build_settings: {
    repo_url: string | null;
    repo_path: string | null;
    id: number | string | null;
    repo_branch: string | null;
    deploy_key_id: string | null;
  };
  link?: LinkOutcome;
}
interface HealthItem {
  ok: boolean | null;
  message: string;
  hint?: string;
}
interface LinkView {
  through_connection: boolean;
  steps: Step[];
  link_broken_reason: string | null;
  deploy_key: { public_key: string; remote_id: string | null } | null;
  webhook: { url: string; remote_id: string | null };
  health: {
    healthy: boolean;
    broken_reason: string | null;
    deploy_key: HealthItem & { present: boolean | null };
    webhook: HealthItem & { present: boolean | null; enabled: boolean | null };
    last_delivery: { received: boolean; message: string; outcome?: string };
    branch: HealthItem & { readable: boolean | null };
  } | null;
  manual: {
    provider: string;
    deploy_key: { public_key: string | null; where: string; not_here: string };
    webhook: { url: string; secret: string; secret_field: string; events: string[] };
    steps: string[];
  } | null;
  repair?: LinkOutcome;
  build_id?: string | null;
}
interface ForgeKey {
  id: number;
  key: string;
  can_push: boolean;
}
interface ForgeHook {
  id: number;
  url: string;
  push_events: boolean;
  merge_requests_events: boolean;
  alert_status: string;
}

const blob = (key: string): string => key.trim().split(/\s+/).slice(0, 2).join(" ");

describe("linking through a GitLab connection does the provider's half (forge + platform)", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let olga: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let tenant: Tenant;
  let connectionId = "";
  let site: SiteBody;

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({ forgeApi: true }));
    const pushed = await createPushedProject(forge, "olga", "site", {
      "index.html": "<h1>one</h1>\n",
      "build.sh": COPY_TO_DIST,
    });
    ({ owner: olga, project, repo } = pushed);
    tenant = await platform.createTenant("olga");
  });

  after(async () => {
    await repo?.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  const api = <T>(method: string, path: string, body?: unknown) =>
    platform.api<T>(
      method,
      path,
      body === undefined ? { token: tenant.token } : { token: tenant.token, body },
    );

  const forgeKeys = async (p: TestProject = project): Promise<ForgeKey[]> => {
    const res = await forge.api<ForgeKey[]>("GET", `/projects/${p.id}/deploy_keys`, {
      token: olga.token,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const forgeHooks = async (p: TestProject = project): Promise<ForgeHook[]> => {
    const res = await forge.api<ForgeHook[]>("GET", `/projects/${p.id}/hooks`, {
      token: olga.token,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const served = (name: string, text: string) =>
    waitForPage(
      platform.url,
      `${name}.localhost`,
      (page) => page.status === 200 && page.body.includes(text),
      `${name} to serve ${JSON.stringify(text)}`,
      45_000,
    );

  it("connects with a forge token, links with only the path, installs key and hook, and goes live", async () => {
    const connection = await api<{ id: string; remote_identity: string }>(
      "POST",
      "/git_connections",
      { provider: "gitlab", base_url: forge.url, token: olga.token },
    );
    assert.equal(connection.status, 201, connection.text);
    assert.equal(connection.body.remote_identity, "olga");
    connectionId = connection.body.id;

    const created = await api<SiteBody>("POST", "/sites", {
      name: "olga-site",
      repo: {
        provider: "gitlab",
        repo_path: "olga/site",
        repo_branch: "main",
        cmd: "sh build.sh",
        dir: "dist",
      },
    });
    assert.equal(created.status, 201, created.text);
    site = created.body;
    assert.equal(site.link?.status, "linked", JSON.stringify(site.link));
    assert.equal(site.git_connection_id, connectionId);
    assert.equal(site.build_settings.repo_url, project.ssh_url_to_repo);
    assert.equal(site.build_settings.id, project.id);
    assert.match(site.build_settings.deploy_key_id ?? "", /^[0-9a-f]{24}$/);
    assert.match(site.build_id ?? "", /^[0-9a-f]{24}$/);
    assert.equal(site.link_broken_reason, null);

    const steps = Object.fromEntries(site.link!.steps.map((s) => [s.step, s]));
    assert.deepEqual(
      site.link!.steps.map((s) => `${s.step}:${s.status}`),
      [
        "repository:ok",
        "deploy_key:ok",
        "install_key:ok",
        "webhook:ok",
        "branch:ok",
        "clone_access:ok",
      ],
    );
    assert.match(
      steps.install_key!.message,
      /^deploy key installed on 127\.0\.0\.1:\d+ olga\/site as id \d+ \(read-only\)$/,
    );
    assert.match(
      steps.webhook!.message,
      /^webhook created on 127\.0\.0\.1:\d+ olga\/site as id \d+ \(push, merge requests\)$/,
    );

    // At the forge: exactly the platform's key, read-only, and the site's webhook.
    const link = await api<LinkView>("GET", `/sites/${site.id}/link`);
    assert.equal(link.status, 200, link.text);
    assert.equal(link.body.through_connection, true);
    assert.equal(link.body.manual, null);
    const keys = await forgeKeys();
    assert.equal(keys.length, 1);
    assert.equal(blob(keys[0]!.key), blob(link.body.deploy_key!.public_key));
    assert.equal(keys[0]!.can_push, false);
    assert.equal(String(keys[0]!.id), link.body.deploy_key!.remote_id);
    const hooks = await forgeHooks();
    assert.equal(hooks.length, 1);
    assert.equal(hooks[0]!.url, site.git_webhook!.url);
    assert.equal(hooks[0]!.push_events, true);
    assert.equal(hooks[0]!.merge_requests_events, true);
    assert.equal(String(hooks[0]!.id), link.body.webhook.remote_id);

    const build = await waitForBuild(platform, site.build_id!, tenant.token);
    assert.equal(build.state, "done", build.error ?? "");
    const builds = await api<Build[]>("GET", `/sites/${site.id}/builds`);
    assert.equal(builds.body.length, 1, "linking starts exactly one build");
    await served(site.name, "<h1>one</h1>");
  });

  it("builds a push through the webhook Slipway created", async () => {
    await repo.commit({ "index.html": "<h1>two</h1>\n" });
    await repo.push("main");
    await served(site.name, "<h1>two</h1>");
  });

  it("links again (PATCH, repair) without a second key or hook", async () => {
    const [key] = await forgeKeys();
    const [hook] = await forgeHooks();
    const again = await api<SiteBody>("PATCH", `/sites/${site.id}`, {
      repo: { provider: "gitlab", repo_path: "olga/site" },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.link?.status, "linked", JSON.stringify(again.body.link));
    assert.equal(again.body.build_id, null, "the same repository and branch: no new build");
    const steps = Object.fromEntries(again.body.link!.steps.map((s) => [s.step, s.message]));
    assert.match(steps.install_key ?? "", /^deploy key already installed on .* as id \d+$/);
    assert.match(steps.webhook ?? "", /^webhook updated on /);

    const repaired = await api<LinkView>("POST", `/sites/${site.id}/link/repair`);
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.repair?.status, "linked");

    assert.deepEqual(
      (await forgeKeys()).map((k) => k.id),
      [key!.id],
    );
    assert.deepEqual(
      (await forgeHooks()).map((h) => h.id),
      [hook!.id],
    );
  });

  it("stops builds with the reason when the key is removed at the forge, until repair puts it back", async () => {
    const [key] = await forgeKeys();
    const removed = await forge.api("DELETE", `/projects/${project.id}/deploy_keys/${key!.id}`, {
      token: olga.token,
    });
    assert.equal(removed.status, 204, removed.text);

    const checked = await api<LinkView>("POST", `/sites/${site.id}/link/check`);
    assert.equal(checked.status, 200, checked.text);
    const health = checked.body.health!;
    assert.equal(health.healthy, false);
    assert.equal(health.deploy_key.present, false);
    assert.match(
      health.deploy_key.message,
      /^deploy key SHA256:\S+ \(id \d+\) is no longer on 127\.0\.0\.1:\d+ olga\/site/,
    );
    assert.match(health.deploy_key.hint ?? "", /link\/repair/);
    assert.equal(health.webhook.enabled, true);
    assert.equal(health.last_delivery.received, true);
    assert.equal(health.branch.readable, false, "the forge refuses the removed key");
    assert.match(checked.body.link_broken_reason ?? "", /is no longer on/);
    const shown = await api<SiteBody>("GET", `/sites/${site.id}`);
    assert.match(shown.body.link_broken_reason ?? "", /deploy key .* is no longer on/);

    const build = await api<Build>("POST", `/sites/${site.id}/builds`);
    assert.equal(build.status, 200, build.text);
    const failed = await waitForBuild(platform, build.body.id, tenant.token);
    assert.equal(failed.state, "error");
    assert.match(failed.error ?? "", /deploy key .* is no longer on 127\.0\.0\.1:\d+ olga\/site/);
    assert.match(failed.error ?? "", /link\/repair/);

    const repaired = await api<LinkView>("POST", `/sites/${site.id}/link/repair`);
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.repair?.status, "linked", JSON.stringify(repaired.body.repair));
    assert.equal(repaired.body.link_broken_reason, null);
    assert.equal(repaired.body.health?.healthy, true, JSON.stringify(repaired.body.health));
    assert.equal((await forgeKeys()).length, 1, "the key is back, once");
    assert.equal((await api<SiteBody>("GET", `/sites/${site.id}`)).body.link_broken_reason, null);

    const resumed = await api<Build>("POST", `/sites/${site.id}/builds`);
    assert.equal((await waitForBuild(platform, resumed.body.id, tenant.token)).state, "done");
  });

  it("reports a webhook the forge disabled after failures, and repair re-enables it", async () => {
    const [hook] = await forgeHooks();
    // As after 40 failed deliveries: GitLab's permanent auto-disable.
    await forge.forge.ctx.db
      .updateTable("hooks")
      .set({ recent_failures: 40 })
      .where("id", "=", hook!.id)
      .execute();
    const checked = await api<LinkView>("POST", `/sites/${site.id}/link/check`);
    const webhook = checked.body.health!.webhook;
    assert.equal(webhook.enabled, false);
    assert.match(webhook.message, /^the provider disabled the webhook after failures/);
    assert.equal(checked.body.link_broken_reason, null, "a disabled hook does not stop builds");

    const repaired = await api<LinkView>("POST", `/sites/${site.id}/link/repair`);
    assert.equal(repaired.body.repair?.status, "linked");
    const hooks = await forgeHooks();
    assert.equal(hooks.length, 1);
    assert.equal(hooks[0]!.alert_status, "executable");
    assert.equal(repaired.body.health?.webhook.enabled, true);
  });

  it("re-checks links that are due (the periodic check)", async () => {
    const { ctx } = platform.platform;
    await ctx.db
      .updateTable("site_links")
      .set({ checked_at: "2000-01-01T00:00:00.000Z" })
      .where("site_id", "=", site.id)
      .execute();
    assert.ok((await checkDueLinks(ctx, 3600)) >= 1);
    const row = await ctx.db
      .selectFrom("site_links")
      .select(["checked_at", "health"])
      .where("site_id", "=", site.id)
      .executeTakeFirstOrThrow();
    assert.ok((row.checked_at ?? "") > "2000-01-01T00:00:00.000Z");
    assert.equal((JSON.parse(row.health ?? "{}") as { healthy?: boolean }).healthy, true);
    assert.equal(await checkDueLinks(ctx, 3600), 0, "nothing else is due");
  });

  it("says why a link failed, leaves nothing at the forge, and repair finishes it", async () => {
    const docs = await forge.createProject(olga, "docs");
    const work = await createWorkingCopy(forge, docs, olga.token);
    try {
      await work.commit({ "index.html": "<h1>docs</h1>\n" });
      await work.push("main");
      const created = await api<SiteBody>("POST", "/sites", {
        name: "olga-docs",
        repo: { provider: "gitlab", repo_path: "olga/docs", repo_branch: "live" },
      });
      assert.equal(created.status, 201, created.text);
      const link = created.body.link!;
      assert.equal(link.status, "failed");
      assert.equal(link.error?.step, "branch");
      assert.match(link.error?.message ?? "", /the branch live does not exist in olga\/docs/);
      assert.match(link.error?.hint ?? "", /push the branch/);
      assert.equal(created.body.build_id, null, "no build before the link is complete");
      const cleanup = link.steps.find((s) => s.step === "cleanup");
      assert.match(
        cleanup?.message ?? "",
        /^removed the webhook \d+ and the deploy key \d+ that this attempt had added/,
      );
      assert.deepEqual(await forgeKeys(docs), []);
      assert.deepEqual(await forgeHooks(docs), []);
      assert.match(
        created.body.link_broken_reason ?? "",
        /linking did not finish: the branch live/,
      );

      const view = await api<LinkView>("GET", `/sites/${created.body.id}/link`);
      assert.ok(view.body.steps.some((s) => s.step === "branch" && s.status === "failed"));

      await work.push("main", "live");
      const repaired = await api<LinkView>("POST", `/sites/${created.body.id}/link/repair`);
      assert.equal(repaired.status, 200, repaired.text);
      assert.equal(repaired.body.repair?.status, "linked", JSON.stringify(repaired.body.repair));
      assert.match(repaired.body.build_id ?? "", /^[0-9a-f]{24}$/, "the initial build starts now");
      assert.equal(
        (await waitForBuild(platform, repaired.body.build_id!, tenant.token)).state,
        "done",
      );
      assert.equal((await forgeKeys(docs)).length, 1);
      assert.equal((await forgeHooks(docs)).length, 1);

      // Deleting the site removes what Slipway installed (the 204 has no body: the forge shows it).
      const deleted = await api("DELETE", `/sites/${created.body.id}`);
      assert.equal(deleted.status, 204, deleted.text);
      assert.deepEqual(await forgeKeys(docs), []);
      assert.deepEqual(await forgeHooks(docs), []);
      assert.ok(
        platform.logs.some((l) => l.includes("site deleted") && l.includes("removed from")),
      );
    } finally {
      await work.cleanup();
    }
  });

  it("unlinking removes the key and the hook at the forge and says so", async () => {
    const unlinked = await api<
      SiteBody & { link: { removed: { kind: string; message: string }[]; failed: unknown[] } }
    >("PUT", `/sites/${site.id}/unlink_repo`);
    assert.equal(unlinked.status, 200, unlinked.text);
    assert.deepEqual(
      unlinked.body.link.removed.map((r) => r.kind),
      ["webhook", "deploy_key"],
    );
    assert.match(
      unlinked.body.link.removed[0]!.message,
      /^webhook \d+ removed from 127\.0\.0\.1:\d+ olga\/site$/,
    );
    assert.deepEqual(unlinked.body.link.failed, []);
    assert.equal(unlinked.body.git_connection_id, null);
    assert.deepEqual(await forgeKeys(), []);
    assert.deepEqual(await forgeHooks(), []);
  });

  it("gives the exact manual steps, in GitLab's words, for a site linked without a connection", async () => {
    const key = await api<{ id: string; public_key: string }>("POST", "/deploy_keys");
    const created = await api<SiteBody>("POST", "/sites", {
      name: "olga-manual",
      repo: {
        provider: "gitlab",
        repo_url: project.ssh_url_to_repo,
        deploy_key_id: key.body.id,
        stop_builds: true,
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.git_connection_id, null, "a deploy_key_id means the manual flow");
    const view = await api<LinkView>("GET", `/sites/${created.body.id}/link`);
    assert.equal(view.status, 200, view.text);
    assert.equal(view.body.through_connection, false);
    const manual = view.body.manual!;
    assert.equal(manual.provider, "GitLab");
    assert.equal(manual.deploy_key.public_key, key.body.public_key);
    assert.match(manual.deploy_key.where, /Settings → Repository → Deploy keys/);
    assert.match(manual.deploy_key.not_here, /not in your user's SSH keys/);
    assert.equal(manual.webhook.url, created.body.git_webhook!.url);
    assert.equal(manual.webhook.secret, created.body.git_webhook!.secret);
    assert.equal(manual.webhook.secret_field, "Secret token");
    assert.deepEqual(manual.webhook.events, ["Push events", "Merge request events"]);
    const repair = await api<{ code: number; message: string }>(
      "POST",
      `/sites/${created.body.id}/link/repair`,
    );
    assert.equal(repair.status, 422);
    assert.match(repair.body.message, /manual steps/);
    // A check still says what it can: the key is not at the forge, so the branch is unreadable.
    const checked = await api<LinkView>("POST", `/sites/${created.body.id}/link/check`);
    assert.equal(checked.status, 200, checked.text);
    assert.equal(checked.body.health?.branch.readable, false);
    assert.match(checked.body.health?.branch.message ?? "", /refused/);
    assert.equal(
      checked.body.health?.last_delivery.message,
      "no delivery received since the site was linked",
    );
  });
});
