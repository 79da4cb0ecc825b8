import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { createSite, webhookDelivery, type SiteBody } from "../../../../test/helpers/sites.ts";
import {
  postWebhook,
  randomSha,
  signedHeaders,
  type Provider,
  type WebhookAnswer,
} from "../../../../test/helpers/webhooks.ts";

/**
 * Pull/merge request deliveries at the webhook intake, signed as each provider signs them. The
 * builds stay queued (no workers): this file is about what each delivery decides and records —
 * preview builds, approvals waiting, closing — not about running builds.
 */

interface DeployBody {
  id: string;
  state: string;
  context: string;
  branch: string | null;
  commit_ref: string | null;
  error_message: string | null;
  title: string | null;
}

interface RequestFacts {
  number: number;
  action: string;
  head: string;
  branch?: string;
  fork?: boolean;
  /** GitHub's author_association (default MEMBER). */
  association?: string;
  merged?: boolean;
}

/** The event header value and the payload of a request event, in each provider's shape. */
function requestEvent(provider: Provider, facts: RequestFacts): { event: string; payload: object } {
  const branch = facts.branch ?? "feature/page";
  const decoy = { clone_url: "https://evil.example/x.git", git_ssh_url: "git@evil.example:x.git" };
  switch (provider) {
    case "github":
    case "gitea":
      return {
        event: "pull_request",
        payload: {
          action: facts.action,
          number: facts.number,
          pull_request: {
            number: facts.number,
            state: facts.action === "closed" ? "closed" : "open",
            merged: facts.merged === true,
            title: `Request ${facts.number}`,
            html_url: `https://${provider}.example/acme/site/pull/${facts.number}`,
            author_association: provider === "github" ? (facts.association ?? "MEMBER") : undefined,
            head: {
              ref: branch,
              sha: facts.head,
              repo_id: facts.fork === true ? 2 : 1,
              repo: {
                ...decoy,
                id: facts.fork === true ? 2 : 1,
                full_name: facts.fork === true ? "mallory/site" : "acme/site",
              },
            },
            base: { ref: "main", repo_id: 1, repo: { id: 1, full_name: "acme/site" } },
          },
          repository: decoy,
        },
      };
    case "bitbucket":
      return {
        event: `pullrequest:${facts.action}`,
        payload: {
          pullrequest: {
            id: facts.number,
            title: `Request ${facts.number}`,
            links: {
              html: { href: `https://bitbucket.org/acme/site/pull-requests/${facts.number}` },
            },
            source: {
              branch: { name: branch },
              commit: { hash: facts.head },
              repository: { full_name: facts.fork === true ? "mallory/site" : "acme/site" },
            },
            destination: { branch: { name: "main" }, repository: { full_name: "acme/site" } },
          },
          repository: decoy,
        },
      };
    case "gitlab":
      return {
        event: "Merge Request Hook",
        payload: {
          object_kind: "merge_request",
          project: decoy,
          object_attributes: {
            iid: facts.number,
            action: facts.action,
            source_branch: branch,
            target_branch: "main",
            source_project_id: facts.fork === true ? 9 : 4,
            target_project_id: 4,
            title: `Request ${facts.number}`,
            url: `https://gitlab.example/acme/site/-/merge_requests/${facts.number}`,
            last_commit: { id: facts.head, message: "change" },
          },
        },
      };
  }
}

describe("pull and merge request deliveries", () => {
  let t: TestPlatform;
  let alice: Tenant;
  const sites: Partial<Record<Provider, SiteBody>> = {};
  let generic: SiteBody;
  let stopped: SiteBody;

  const send = async (
    site: SiteBody,
    provider: Provider,
    facts: RequestFacts,
    id?: string,
  ): Promise<WebhookAnswer> => {
    const { event, payload } = requestEvent(provider, facts);
    const body = JSON.stringify(payload);
    const headers = signedHeaders(provider, site.git_webhook!.secret, body, { event, id });
    return postWebhook(site.git_webhook!.url, headers, body);
  };

  const deployRow = (id: unknown) =>
    t.platform.ctx.db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", String(id))
      .executeTakeFirstOrThrow();
  const buildRow = (id: unknown) =>
    t.platform.ctx.db
      .selectFrom("builds")
      .selectAll()
      .where("id", "=", String(id))
      .executeTakeFirstOrThrow();
  const delivery = (site: SiteBody, id: unknown) => webhookDelivery(t, site.id, id, alice.token);
  const previewBuilds = (siteId: string, reviewId: number) =>
    t.platform.ctx.db
      .selectFrom("builds")
      .innerJoin("deploys", "deploys.id", "builds.deploy_id")
      .select(["builds.id", "builds.sha", "builds.state", "deploys.context"])
      .where("builds.site_id", "=", siteId)
      .where("deploys.review_id", "=", reviewId)
      .execute();

  before(async () => {
    t = await startTestPlatform({
      platform: { buildWorkers: false },
      hosts: { "gitea.example": ["140.82.121.10"] },
    });
    alice = await t.createTenant("alice");
    const repoUrls: Record<Provider, string> = {
      github: "git@github.com:acme/site.git",
      gitlab: "git@gitlab.com:acme/site.git",
      gitea: "https://gitea.example/acme/site.git",
      bitbucket: "git@bitbucket.org:acme/site.git",
    };
    for (const [provider, repoUrl] of Object.entries(repoUrls) as Array<[Provider, string]>) {
      sites[provider] = await createSite(t, alice.token, {
        name: `pr-${provider}`,
        repo: { provider, repo_url: repoUrl },
      });
    }
    generic = await createSite(t, alice.token, {
      name: "pr-generic",
      repo: { repo_url: "git@github.com:acme/generic.git" },
    });
    stopped = await createSite(t, alice.token, {
      name: "pr-stopped",
      repo: {
        provider: "github",
        repo_url: "git@github.com:acme/stopped.git",
        stop_builds: true,
      },
    });
  });
  after(() => t.stop());

  it("builds a GitHub pull request's head as a deploy preview, recorded with its reason", async () => {
    const site = sites.github!;
    const head = randomSha();
    const res = await send(site, "github", { number: 5, action: "opened", head });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.outcome, "built");
    assert.equal(
      res.body.reason,
      `built: preview build ${String(res.body.build_id)} for pull request #5 at ${head.slice(0, 12)}`,
    );

    const build = await buildRow(res.body.build_id);
    assert.equal(build.sha, head);
    assert.equal(build.branch, "feature/page");
    assert.equal(build.trigger, "webhook");
    assert.equal(build.state, "enqueued");
    const deploy = await deployRow(res.body.deploy_id);
    assert.equal(deploy.context, "deploy-preview");
    assert.equal(deploy.review_id, 5);
    assert.equal(deploy.review_url, "https://github.example/acme/site/pull/5");
    assert.equal(deploy.review_state, "open");
    assert.equal(deploy.commit_ref, head);
    assert.equal(deploy.title, "Request 5");

    const recorded = await delivery(site, res.body.delivery_id);
    assert.equal(recorded.outcome, "built");
    assert.equal(recorded.event, "pull_request");
    assert.equal(recorded.ref, "refs/pull/5/head");
    assert.equal(recorded.sha, head);
    assert.equal(recorded.build_id, res.body.build_id);
  });

  it("builds every new commit, superseding the request's older queued build, and dedupes", async () => {
    const site = sites.github!;
    const first = randomSha();
    const opened = await send(site, "github", { number: 6, action: "opened", head: first }, "d-6");
    assert.equal(opened.status, 202, opened.text);

    // A push of the same branch at the same commit is a branch build, not the preview.
    const branchBuild = await t.api<{ id: string }>(
      "POST",
      `/sites/${site.id}/builds?branch=feature%2Fpage`,
      { token: alice.token },
    );
    assert.ok([200, 201, 202].includes(branchBuild.status), branchBuild.text);

    const second = randomSha();
    const pushed = await send(site, "github", { number: 6, action: "synchronize", head: second });
    assert.equal(pushed.status, 202, pushed.text);
    assert.notEqual(pushed.body.build_id, opened.body.build_id);
    const old = await buildRow(opened.body.build_id);
    assert.equal(old.state, "superseded");
    assert.match(old.error ?? "", /a newer request for request #6/);
    // The branch's own queued build is untouched by the request's commits.
    assert.equal((await buildRow(branchBuild.body.id)).state, "enqueued");

    // The provider redelivers: a duplicate. The same commit in another delivery: coalesced.
    const again = await send(site, "github", { number: 6, action: "opened", head: first }, "d-6");
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.outcome, "duplicate");
    const edited = await send(site, "github", { number: 6, action: "edited", head: second });
    assert.equal(edited.status, 200, edited.text);
    assert.equal(edited.body.outcome, "coalesced");
    assert.equal(edited.body.build_id, pushed.body.build_id);
    assert.equal((await previewBuilds(site.id, 6)).length, 2);

    // The same commit in another request is another preview.
    const other = await send(site, "github", { number: 7, action: "opened", head: second });
    assert.equal(other.status, 202, other.text);
    assert.equal(other.body.outcome, "built");
  });

  for (const [provider, number, ref] of [
    ["gitlab", 3, "refs/merge-requests/3/head"],
    ["gitea", 4, "refs/pull/4/head"],
    ["bitbucket", 8, "refs/heads/feature/page"],
  ] as const) {
    it(`${provider}: a trusted request builds a preview of its head`, async () => {
      const site = sites[provider]!;
      const head = randomSha();
      const opened =
        provider === "gitlab" ? "open" : provider === "bitbucket" ? "created" : "opened";
      const res = await send(site, provider, { number, action: opened, head });
      assert.equal(res.status, 202, res.text);
      const deploy = await deployRow(res.body.deploy_id);
      assert.equal(deploy.context, "deploy-preview");
      assert.equal(deploy.review_id, number);
      assert.equal((await buildRow(res.body.build_id)).sha, head);
      const recorded = await delivery(site, res.body.delivery_id);
      assert.equal(recorded.ref, ref);
      const name = provider === "gitlab" ? `merge request !${number}` : `pull request #${number}`;
      assert.match(
        recorded.reason,
        new RegExp(`^built: preview build [0-9a-f]{24} for ${name} at`),
      );

      const updated =
        provider === "gitlab" ? "update" : provider === "bitbucket" ? "updated" : "synchronized";
      const next = await send(site, provider, { number, action: updated, head: randomSha() });
      assert.equal(next.status, 202, next.text);
      assert.equal((await buildRow(res.body.build_id)).state, "superseded");
    });
  }

  it("bitbucket: an abbreviated head builds the source branch's head", async () => {
    const res = await send(sites.bitbucket!, "bitbucket", {
      number: 9,
      action: "created",
      head: randomSha().slice(0, 12),
      branch: "short",
    });
    assert.equal(res.status, 202, res.text);
    const build = await buildRow(res.body.build_id);
    assert.equal(build.sha, null, "resolved when the branch is fetched");
    assert.equal(build.branch, "short");
  });

  it("records a fork's or an outsider's request as waiting for approval, and builds nothing", async () => {
    const site = sites.github!;
    const head = randomSha();
    const res = await send(site, "github", { number: 11, action: "opened", head, fork: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.outcome, "ignored");
    const deployId = String(res.body.deploy_id);
    assert.equal(
      res.body.reason,
      `waiting for approval: pull request #11 comes from a fork (mallory/site); recorded as deploy ${deployId} at ${head.slice(0, 12)}, approve it with POST /api/v1/deploys/${deployId}/approve`,
    );
    assert.equal(res.body.build_id, undefined);
    assert.equal((await previewBuilds(site.id, 11)).length, 0);

    // In the site's deploys list, saying why and how to approve.
    const list = await t.api<DeployBody[]>("GET", `/sites/${site.id}/deploys`, {
      token: alice.token,
    });
    assert.equal(list.status, 200, list.text);
    const pending = list.body.find((d) => d.id === deployId);
    assert.equal(pending?.state, "pending_review");
    assert.equal(pending?.context, "deploy-preview");
    assert.equal(pending?.commit_ref, head);
    assert.match(
      pending?.error_message ?? "",
      /^Waiting for approval: pull request #11 comes from a fork/,
    );
    assert.match(
      pending?.error_message ?? "",
      new RegExp(`POST /api/v1/deploys/${deployId}/approve`),
    );

    // The same commit again: the same waiting deploy. A new commit supersedes it.
    const again = await send(site, "github", { number: 11, action: "edited", head, fork: true });
    assert.equal(again.body.deploy_id, deployId);
    assert.match(String(again.body.reason), /already recorded as deploy/);
    const next = await send(site, "github", {
      number: 11,
      action: "synchronize",
      head: randomSha(),
      fork: true,
    });
    assert.notEqual(next.body.deploy_id, deployId);
    const superseded = await deployRow(deployId);
    assert.equal(superseded.state, "error");
    assert.match(superseded.error_message ?? "", /^Superseded by deploy [0-9a-f]{24}/);

    // An author without write access, from the repository itself, waits too.
    const outsider = await send(site, "github", {
      number: 12,
      action: "opened",
      head: randomSha(),
      association: "CONTRIBUTOR",
    });
    assert.equal(outsider.status, 200, outsider.text);
    assert.match(
      String(outsider.body.reason),
      /^waiting for approval: pull request #12 comes from an author who is not a collaborator of the repository \(author_association CONTRIBUTOR\)/,
    );
    assert.equal((await deployRow(outsider.body.deploy_id)).state, "pending_review");

    // GitLab: a merge request from a fork.
    const mr = await send(sites.gitlab!, "gitlab", {
      number: 13,
      action: "open",
      head: randomSha(),
      fork: true,
    });
    assert.equal((await deployRow(mr.body.deploy_id)).state, "pending_review");
    assert.match(
      String(mr.body.reason),
      /^waiting for approval: merge request !13 comes from a fork/,
    );
  });

  it("marks a closed or merged request's deploys; those still waiting never build", async () => {
    const site = sites.gitlab!;
    const built = await send(site, "gitlab", { number: 20, action: "open", head: randomSha() });
    assert.equal(built.status, 202, built.text);
    const waiting = await send(site, "gitlab", {
      number: 21,
      action: "open",
      head: randomSha(),
      fork: true,
    });
    const waitingId = waiting.body.deploy_id;

    const merged = await send(site, "gitlab", { number: 20, action: "merge", head: randomSha() });
    assert.equal(merged.status, 200, merged.text);
    assert.equal(
      merged.body.reason,
      "merged: merge request !20 was merged; its 1 preview deploy(s) stay at their URLs, marked merged",
    );
    assert.equal((await deployRow(built.body.deploy_id)).review_state, "merged");

    const closed = await send(site, "gitlab", { number: 21, action: "close", head: randomSha() });
    assert.equal(closed.status, 200, closed.text);
    const never = await deployRow(waitingId);
    assert.equal(never.review_state, "closed");
    assert.equal(never.state, "error");
    assert.match(never.error_message ?? "", /^Not built: merge request !21 was closed/);

    // Reopened: marked open again, and its head builds.
    const reopened = await send(site, "gitlab", {
      number: 20,
      action: "reopen",
      head: randomSha(),
    });
    assert.equal(reopened.status, 202, reopened.text);
    assert.equal((await deployRow(built.body.deploy_id)).review_state, "open");

    // GitHub's closed with merged: true.
    const pr = await send(sites.github!, "github", {
      number: 22,
      action: "opened",
      head: randomSha(),
    });
    const closedPr = await send(sites.github!, "github", {
      number: 22,
      action: "closed",
      head: randomSha(),
      merged: true,
    });
    assert.equal(closedPr.status, 200, closedPr.text);
    assert.equal((await deployRow(pr.body.deploy_id)).review_state, "merged");
  });

  it("ignores what it cannot or must not build, and says why", async () => {
    const cases: Array<[SiteBody, Provider, RequestFacts, RegExp]> = [
      [
        sites.bitbucket!,
        "bitbucket",
        { number: 30, action: "created", head: randomSha().slice(0, 12), fork: true },
        /^ignored: pull request #30 is from a fork \(mallory\/site\); Bitbucket does not publish/,
      ],
      [
        generic,
        "github",
        { number: 31, action: "opened", head: randomSha() },
        /^ignored: a github pull request #31 event, but the site's repository provider is git/,
      ],
      [
        sites.github!,
        "gitlab",
        { number: 32, action: "open", head: randomSha() },
        /^ignored: a gitlab merge request !32 event, but the site's repository provider is github/,
      ],
      [
        stopped,
        "github",
        { number: 33, action: "opened", head: randomSha() },
        /^ignored: site has stop_builds set$/,
      ],
      [
        sites.github!,
        "github",
        { number: 34, action: "labeled", head: randomSha() },
        /^ignored: pull request #34 action "labeled" does not change what its preview builds$/,
      ],
    ];
    for (const [site, provider, facts, reason] of cases) {
      const res = await send(site, provider, facts);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.outcome, "ignored");
      assert.match(String(res.body.reason), reason);
      assert.equal(res.body.build_id, undefined);
    }
  });

  it("ignores requests while deploy previews are off, saying how to turn them on", async () => {
    const site = await createSite<SiteBody & { build_settings: { deploy_previews: boolean } }>(
      t,
      alice.token,
      {
        name: "pr-off",
        repo: {
          provider: "github",
          repo_url: "git@github.com:acme/off.git",
          deploy_previews: false,
        },
      },
    );
    assert.equal(site.build_settings.deploy_previews, false);
    const off = await send(site, "github", { number: 40, action: "opened", head: randomSha() });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.outcome, "ignored");
    assert.equal(
      off.body.reason,
      `ignored: deploy previews are off for this site (turn them on in the site's settings, or PATCH /api/v1/sites/${site.id} {"repo": {"deploy_previews": true}}); pull request #40 was not built`,
    );
    assert.equal((await delivery(site, off.body.delivery_id)).outcome, "ignored");
    assert.deepEqual(await previewBuilds(site.id, 40), []);

    const turnedOn = await t.api<{ build_settings: { deploy_previews: boolean } }>(
      "PATCH",
      `/sites/${site.id}`,
      { token: alice.token, body: { repo: { deploy_previews: true } } },
    );
    assert.equal(turnedOn.status, 200, turnedOn.text);
    assert.equal(turnedOn.body.build_settings.deploy_previews, true);
    const on = await send(site, "github", { number: 40, action: "synchronize", head: randomSha() });
    assert.equal(on.status, 202, on.text);
    assert.equal(on.body.outcome, "built");
    assert.equal((await previewBuilds(site.id, 40)).length, 1);
  });

  it("rejects malformed request payloads with 400 and records them; never 5xx", async () => {
    const site = sites.github!;
    const bodies = [
      "{}",
      JSON.stringify({ action: "opened", number: 1 }),
      JSON.stringify({ action: "opened", number: "1", pull_request: {} }),
      JSON.stringify(requestEvent("github", { number: 1, action: "opened", head: "HEAD" }).payload),
      JSON.stringify(
        requestEvent("github", { number: 1, action: "opened", head: randomSha(), branch: "-x" })
          .payload,
      ),
      JSON.stringify({ action: "opened", number: 99_999_999_999, pull_request: {} }),
      "[]",
      "not json",
    ];
    for (const body of bodies) {
      const res = await postWebhook(
        site.git_webhook!.url,
        signedHeaders("github", site.git_webhook!.secret, body, { event: "pull_request" }),
        body,
      );
      assert.equal(res.status, 400, `${body}: ${res.text}`);
      assert.match(String(res.body.message), /^rejected: malformed payload: /);
    }
    // Unsigned, badly signed: 401, as for pushes.
    const body = JSON.stringify(
      requestEvent("github", { number: 1, action: "opened", head: randomSha() }).payload,
    );
    const unsigned = await postWebhook(
      site.git_webhook!.url,
      { "x-github-event": "pull_request" },
      body,
    );
    assert.equal(unsigned.status, 401, unsigned.text);
    const forged = await postWebhook(
      site.git_webhook!.url,
      signedHeaders("github", "not-the-secret", body, { event: "pull_request" }),
      body,
    );
    assert.equal(forged.status, 401, forged.text);
  });
});
