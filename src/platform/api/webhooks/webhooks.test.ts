import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import {
  createSite,
  webhookDeliveries,
  webhookDelivery,
  type DeliveryBody,
  type SiteBody,
} from "../../../../test/helpers/sites.ts";
import {
  postWebhook,
  randomSha,
  signedHeaders,
  type Provider,
  type WebhookAnswer,
} from "../../../../test/helpers/webhooks.ts";
import { DELIVERIES_KEPT_PER_SITE } from "../../webhooks/deliveries.ts";
import { hmacSha256Hex } from "../../webhooks/signatures.ts";

const ZERO = "0".repeat(40);

/** A push payload in each provider's shape (only what matters here, plus decoys). */
function pushPayload(provider: Provider, branch: string, before: string, afterSha: string) {
  const decoy = { clone_url: "https://evil.example/x.git", git_ssh_url: "git@evil.example:x.git" };
  if (provider === "bitbucket") {
    const deleted = afterSha === ZERO;
    return {
      push: {
        changes: [
          {
            new: deleted
              ? null
              : { type: "branch", name: branch, target: { hash: afterSha, message: "msg\n" } },
            old: { type: "branch", name: branch, target: { hash: before } },
          },
        ],
      },
      repository: { full_name: "evil/x", links: { html: { href: "https://evil.example" } } },
    };
  }
  return {
    object_kind: "push",
    ref: branch.startsWith("refs/") ? branch : `refs/heads/${branch}`,
    before,
    after: afterSha,
    commits: [{ id: afterSha, title: "Update the page", message: "Update the page\n" }],
    head_commit: { id: afterSha, message: "Update the page" },
    project: decoy,
    repository: decoy,
  };
}

describe("git webhooks", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let site: SiteBody;
  let other: SiteBody;
  let stopped: SiteBody;
  let unlinked: SiteBody;

  /** Sends a signed push for `branch` at a new commit; returns the answer and the commit. */
  const push = async (
    target: SiteBody,
    provider: Provider,
    branch: string,
    options: { after?: string; id?: string } = {},
  ): Promise<WebhookAnswer & { sha: string }> => {
    const after = options.after ?? randomSha();
    const body = JSON.stringify(pushPayload(provider, branch, randomSha(), after));
    const headers = signedHeaders(provider, target.git_webhook!.secret, body, { id: options.id });
    return { ...(await postWebhook(target.git_webhook!.url, headers, body)), sha: after };
  };

  const deliveries = (target: SiteBody) => webhookDeliveries(t, target.id, alice.token);
  const delivery = (target: SiteBody, id: unknown) =>
    webhookDelivery(t, target.id, id, alice.token);

  const webhookBuilds = (siteId: string) =>
    t.platform.ctx.db
      .selectFrom("builds")
      .selectAll()
      .where("site_id", "=", siteId)
      .where("trigger", "=", "webhook")
      .execute();

  before(async () => {
    // Builds stay queued: this file is about the intake, not about running builds.
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    site = await createSite(t, alice.token, {
      name: "hooked",
      repo: {
        provider: "github",
        repo_url: "git@github.com:alice/hooked.git",
        repo_branch: "main",
      },
    });
    other = await createSite(t, alice.token, {
      name: "other-hooked",
      repo: {
        repo_url: "https://gitlab.com/alice/other.git",
        repo_branch: "main",
        allowed_branches: ["main", "release"],
      },
    });
    stopped = await createSite(t, alice.token, {
      name: "stopped",
      repo: { repo_url: "git@github.com:alice/stopped.git", stop_builds: true },
    });
    unlinked = await createSite(t, alice.token, { name: "unlinked" });
  });
  after(() => t.stop());

  it("builds a GitLab push to the production branch and records the delivery first", async () => {
    const res = await push(site, "gitlab", "main");
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.outcome, "built");
    assert.match(String(res.body.build_id), /^[0-9a-f]{24}$/);
    assert.match(String(res.body.deploy_id), /^[0-9a-f]{24}$/);

    const build = await t.platform.ctx.db
      .selectFrom("builds")
      .selectAll()
      .where("id", "=", String(res.body.build_id))
      .executeTakeFirstOrThrow();
    assert.equal(build.site_id, site.id);
    assert.equal(build.branch, "main");
    assert.equal(build.sha, res.sha);
    assert.equal(build.trigger, "webhook");
    assert.equal(build.title, "Update the page");
    assert.equal(build.deploy_id, res.body.deploy_id);
    assert.equal(build.webhook_delivery_id, res.body.delivery_id);

    const recorded = await delivery(site, res.body.delivery_id);
    assert.equal(recorded.outcome, "built");
    assert.equal(recorded.status_code, 202);
    assert.equal(recorded.provider, "gitlab");
    assert.equal(recorded.event, "Push Hook");
    assert.equal(recorded.ref, "refs/heads/main");
    assert.equal(recorded.branch, "main");
    assert.equal(recorded.sha, res.sha);
    assert.equal(recorded.build_id, res.body.build_id);
    assert.match(recorded.reason, /^built: build [0-9a-f]{24} of branch "main"/);
  });

  for (const provider of ["gitlab", "github", "gitea", "bitbucket"] as const) {
    it(`${provider}: a valid signature builds; invalid, missing and malformed ones are 401`, async () => {
      const ok = await push(site, provider, "main");
      assert.equal(ok.status, 202, ok.text);
      assert.equal(ok.body.outcome, "built");
      const builds = await webhookBuilds(site.id);
      assert.ok(builds.some((b) => b.sha === ok.sha && b.branch === "main"));

      const body = JSON.stringify(pushPayload(provider, "main", randomSha(), randomSha()));
      const good = signedHeaders(provider, site.git_webhook!.secret, body);
      const proofHeader = Object.keys(good).find((h) => /token|signature/.test(h))!;
      const wrong = signedHeaders(provider, "not-the-secret", body);
      const { [proofHeader]: _dropped, ...missing } = good;
      const attempts: Array<[string, Record<string, string>, string]> = [
        ["bad", { ...good, [proofHeader]: wrong[proofHeader]! }, "bad"],
        ["missing", missing, "missing"],
        ["empty", { ...good, [proofHeader]: "" }, "missing"],
        ["short", { ...good, [proofHeader]: "sha256=ab" }, "bad"],
        ["not hex", { ...good, [proofHeader]: `sha256=${"zz".repeat(32)}` }, "bad"],
        ["sha1", { ...good, [proofHeader]: `sha1=${"0".repeat(40)}` }, "bad"],
        ["long", { ...good, [proofHeader]: "f".repeat(8000) }, "bad"],
        // Another site's secret, correctly used, is still not this site's secret.
        ["other site's secret", signedHeaders(provider, other.git_webhook!.secret, body), "bad"],
      ];
      for (const [what, headers, kind] of attempts) {
        const res = await postWebhook(site.git_webhook!.url, headers, body);
        assert.equal(res.status, 401, `${what}: ${res.text}`);
        assert.match(String(res.body.message), new RegExp(`^rejected: ${kind} signature`), what);
        const listed = (await deliveries(site))[0]!;
        assert.equal(listed.outcome, "rejected", what);
        assert.equal(listed.status_code, 401);
        assert.match(listed.reason, new RegExp(`^rejected: ${kind} signature: `));
        assert.equal(listed.provider, provider);
        assert.equal(listed.build_id, null);
      }
      // The body changed after signing (one byte more): only GitLab's token, which does not
      // sign the body, lets it through.
      const res = await postWebhook(site.git_webhook!.url, good, `${body} `);
      assert.equal(res.status, provider === "gitlab" ? 202 : 401, res.text);
    });
  }

  it("accepts GitHub's form-encoded deliveries, signed over the raw bytes", async () => {
    const after = randomSha();
    const body = new URLSearchParams({
      payload: JSON.stringify(pushPayload("github", "main", randomSha(), after)),
    }).toString();
    const res = await postWebhook(
      site.git_webhook!.url,
      {
        ...signedHeaders("github", site.git_webhook!.secret, body),
        "content-type": "application/x-www-form-urlencoded",
      },
      body,
    );
    assert.equal(res.status, 202, res.text);
    assert.equal((await delivery(site, res.body.delivery_id)).sha, after);
  });

  it("ignores pings, tags, deleted branches, branches not allowed and other events, with 200 and a reason", async () => {
    const secret = site.git_webhook!.secret;
    const sent = async (
      headers: Record<string, string>,
      payload: unknown,
    ): Promise<WebhookAnswer> => {
      const body = JSON.stringify(payload);
      const mac = hmacSha256Hex(secret, body);
      return postWebhook(
        site.git_webhook!.url,
        { "x-hub-signature-256": `sha256=${mac}`, "x-gitlab-token": secret, ...headers },
        body,
      );
    };
    const cases: Array<[string, Record<string, string>, unknown, string]> = [
      [
        "ping",
        { "x-github-event": "ping" },
        { zen: "Design for failure.", hook_id: 1 },
        "ignored: ping",
      ],
      [
        "GitLab tag",
        { "x-gitlab-event": "Tag Push Hook" },
        { ref: "refs/tags/v1.0", before: ZERO, after: randomSha() },
        "ignored: tag push",
      ],
      [
        "GitHub tag",
        { "x-github-event": "push" },
        { ref: "refs/tags/v1.1", before: ZERO, after: randomSha() },
        "ignored: tag push",
      ],
      [
        "deleted branch",
        { "x-github-event": "push" },
        { ref: "refs/heads/main", before: randomSha(), after: ZERO, deleted: true },
        "ignored: branch deleted",
      ],
      [
        "branch not allowed",
        { "x-gitlab-event": "Push Hook" },
        pushPayload("gitlab", "dev", randomSha(), randomSha()),
        'ignored: branch "dev" is not in allowed_branches [main]',
      ],
      [
        "another event",
        { "x-github-event": "issues" },
        { action: "opened" },
        'ignored: "issues" is not a push event',
      ],
    ];
    const before = (await webhookBuilds(site.id)).length;
    for (const [what, headers, payload, reason] of cases) {
      const res = await sent(headers, payload);
      assert.equal(res.status, 200, `${what}: ${res.text}`);
      assert.equal(res.body.outcome, "ignored", what);
      assert.equal(res.body.reason, reason, what);
      const recorded = await delivery(site, res.body.delivery_id);
      assert.equal(recorded.reason, reason);
      assert.equal(recorded.status_code, 200);
    }
    assert.equal((await webhookBuilds(site.id)).length, before, "nothing was built");

    // allowed_branches lists several branches: the reason lists them all; a listed one builds.
    const dev = await push(other, "gitlab", "dev");
    assert.equal(
      dev.body.reason,
      'ignored: branch "dev" is not in allowed_branches [main, release]',
    );
    const release = await push(other, "gitlab", "release");
    assert.equal(release.status, 202, release.text);
    const build = (await webhookBuilds(other.id)).find((b) => b.sha === release.sha);
    assert.equal(build?.branch, "release");
  });

  it("ignores pushes to a site with stop_builds (200) and to an unlinked site (409)", async () => {
    const res = await push(stopped, "github", "main");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.reason, "ignored: site has stop_builds set");
    assert.equal((await webhookBuilds(stopped.id)).length, 0);

    const body = JSON.stringify(pushPayload("gitlab", "main", randomSha(), randomSha()));
    const url = site.git_webhook!.url.replace(site.id, unlinked.id);
    const answer = await postWebhook(url, signedHeaders("gitlab", "anything", body), body);
    assert.equal(answer.status, 409, answer.text);
    assert.match(String(answer.body.message), /^ignored: site is not linked to a repository/);
    const [recorded] = await deliveries(unlinked);
    assert.equal(recorded?.outcome, "ignored");
    assert.equal(recorded?.reason, "ignored: site is not linked to a repository");
  });

  it("answers 404 for an unknown site and records nothing", async () => {
    const count = async () =>
      Number(
        (
          await t.platform.ctx.db
            .selectFrom("webhook_deliveries")
            .select((eb) => eb.fn.countAll<number>().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const body = JSON.stringify(pushPayload("gitlab", "main", randomSha(), randomSha()));
    const base = site.git_webhook!.url.slice(0, -site.id.length);
    for (const id of [
      "3b98baa1-d670-4df2-9e79-924e8508a8e2",
      "not-a-site",
      site.name,
      "%2e%2e",
      "x".repeat(150),
    ]) {
      const res = await postWebhook(`${base}${id}`, signedHeaders("gitlab", "s", body), body);
      assert.equal(res.status, 404, `${id}: ${res.text}`);
    }
    assert.equal(await count(), before);
  });

  it("rejects a malformed payload with a valid signature (400) and says what is wrong", async () => {
    for (const [body, detail] of [
      ["{not json", /not valid JSON/],
      ["[1,2,3]", /not a JSON object/],
      [JSON.stringify({ ref: "refs/heads/main", after: "HEAD" }), /after is not a commit id/],
      [JSON.stringify({ ref: "refs/heads/-x", after: randomSha() }), /not a valid git branch name/],
      ["", /the body is empty/],
    ] as const) {
      const res = await postWebhook(
        site.git_webhook!.url,
        signedHeaders("github", site.git_webhook!.secret, body),
        body,
      );
      assert.equal(res.status, 400, res.text);
      assert.match(String(res.body.message), /^rejected: malformed payload: /);
      const [recorded] = await deliveries(site);
      assert.match(recorded!.reason, /^rejected: malformed payload: /);
      assert.match(recorded!.reason, detail);
    }
  });

  it("records a redelivery as a duplicate and a repeated commit as coalesced: one build each", async () => {
    const id = `dup-${randomBytes(6).toString("hex")}`;
    const after = randomSha();
    const first = await push(site, "github", "main", { after, id });
    assert.equal(first.status, 202, first.text);
    const again = await push(site, "github", "main", { after, id });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.outcome, "duplicate");
    assert.equal(again.body.reason, `duplicate of delivery ${String(first.body.delivery_id)}`);
    assert.equal(again.body.build_id, first.body.build_id);
    const listed = await delivery(site, again.body.delivery_id);
    assert.equal(listed.duplicate_of, first.body.delivery_id);
    assert.equal(listed.delivery_key, id);

    // The same commit pushed again (another delivery, e.g. a second hook): coalesced.
    const same = await push(site, "gitlab", "main", { after });
    assert.equal(same.status, 200, same.text);
    assert.equal(same.body.outcome, "coalesced");
    assert.equal(same.body.reason, `coalesced with build ${String(first.body.build_id)}`);
    assert.equal(same.body.build_id, first.body.build_id);
    assert.equal((await webhookBuilds(site.id)).filter((b) => b.sha === after).length, 1);

    // Concurrent redeliveries of one delivery: still one build, the others duplicates.
    const racing = randomSha();
    const raceId = `race-${randomBytes(6).toString("hex")}`;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => push(site, "gitlab", "main", { after: racing, id: raceId })),
    );
    assert.deepEqual(
      answers.map((a) => a.status).sort(),
      [200, 200, 200, 200, 202],
      answers.map((a) => a.text).join("\n"),
    );
    assert.equal((await webhookBuilds(site.id)).filter((b) => b.sha === racing).length, 1);
  });

  it("lets neither a forged delivery id nor an ignored delivery block the real one", async () => {
    const id = `forged-${randomBytes(6).toString("hex")}`;
    const body = JSON.stringify(pushPayload("github", "main", randomSha(), randomSha()));
    const forged = await postWebhook(
      site.git_webhook!.url,
      { ...signedHeaders("github", "guess", body), "x-github-delivery": id },
      body,
    );
    assert.equal(forged.status, 401);
    const real = await push(site, "github", "main", { id });
    assert.equal(real.status, 202, real.text);

    // Ignored (branch not allowed), then redelivered after allowed_branches changed: it builds.
    const after = randomSha();
    const ignoredId = `later-${randomBytes(6).toString("hex")}`;
    const ignored = await push(other, "gitea", "feature", { after, id: ignoredId });
    assert.equal(ignored.body.outcome, "ignored");
    const patched = await t.api("PATCH", `/sites/${other.id}`, {
      token: alice.token,
      body: { repo: { allowed_branches: ["main", "release", "feature"] } },
    });
    assert.equal(patched.status, 200, patched.text);
    const redelivered = await push(other, "gitea", "feature", { after, id: ignoredId });
    assert.equal(redelivered.status, 202, redelivered.text);
    assert.equal(redelivered.body.outcome, "built");
  });

  it("never answers 5xx to garbage, and records what reached a known site", async () => {
    const url = site.git_webhook!.url;
    const secret = site.git_webhook!.secret;
    const total = async () => {
      const res = await t.api("GET", `/sites/${site.id}/webhook_deliveries?per_page=1`, {
        token: alice.token,
      });
      return Number(res.headers.get("x-total-count"));
    };
    const garbage: Array<[Record<string, string>, string | Buffer | undefined]> = [
      [{}, undefined],
      [{ "x-github-event": "push" }, undefined],
      [{ "x-gitlab-event": "Push Hook", "x-gitlab-token": secret }, randomBytes(512)],
      [{ "x-github-event": "push", "x-hub-signature-256": "sha256=" }, "{}"],
      [{ "x-github-event": "\u00ff\u00fe", "x-hub-signature-256": "=".repeat(300) }, "{}"],
      [{ "x-event-key": "repo:push", "x-hub-signature": `sha256=${"g".repeat(64)}` }, "{}"],
      [{ "x-gitea-event": "push", "x-gitea-signature": "0".repeat(63) }, "{}"],
      [{ "x-gitlab-event": "Push Hook", "x-gitlab-token": "x".repeat(10_000) }, "{}"],
      [{ "content-type": "text/plain", "x-github-event": "push" }, "hello"],
      [{ "content-type": "application/octet-stream", "x-gitlab-event": "x" }, randomBytes(64)],
      [{ "content-type": "garbage", "x-github-event": "push" }, "{}"],
    ];
    for (let i = 0; i < 20; i++) {
      const body = randomBytes(1 + ((i * 37) % 300));
      garbage.push([signedHeaders(i % 2 ? "github" : "gitlab", secret, body), body]);
    }
    for (const [headers, body] of garbage) {
      const before = await total();
      const res = await postWebhook(url, headers, body);
      assert.ok(res.status >= 200 && res.status < 500, `${res.status} ${res.text}`);
      assert.notEqual(res.status, 204);
      assert.equal(await total(), before + 1, `recorded: ${JSON.stringify(headers)}`);
    }
  });

  it("refuses a body over 25 MB with 413 and records it", async () => {
    const { hostname, port, pathname } = new URL(site.git_webhook!.url);
    const size = 25 * 1024 * 1024 + 1;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: hostname,
          port,
          path: pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": String(size),
            "x-github-event": "push",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(Buffer.alloc(size, 0x20));
    });
    assert.equal(status, 413);
    const [recorded] = await deliveries(site);
    assert.equal(recorded?.status_code, 413);
    assert.match(recorded!.reason, /^rejected: payload too large/);
    // Still answering.
    assert.equal((await push(site, "github", "main")).status, 202);
  });

  it("lists deliveries newest first with pagination, to the site's members only", async () => {
    const fresh = await createSite(t, alice.token, {
      name: "paged",
      repo: { repo_url: "git@github.com:alice/paged.git" },
    });
    const ids: string[] = [];
    for (const branch of ["a", "b", "c"]) {
      const res = await push(fresh, "github", branch);
      ids.push(String(res.body.delivery_id));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const all = await deliveries(fresh);
    assert.deepEqual(
      all.map((d) => d.id),
      ids.slice().reverse(),
    );
    assert.deepEqual(
      all.map((d) => d.branch),
      ["c", "b", "a"],
    );
    const page = await t.api<DeliveryBody[]>(
      "GET",
      `/sites/${fresh.id}/webhook_deliveries?per_page=2&page=2`,
      { token: alice.token },
    );
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.body.map((d) => d.id),
      [ids[0]],
    );
    assert.equal(page.headers.get("x-total-count"), "3");
    assert.match(page.headers.get("link") ?? "", /rel="first"/);

    // By name too.
    assert.equal(
      (
        await t.api<DeliveryBody[]>("GET", `/sites/paged/webhook_deliveries`, {
          token: alice.token,
        })
      ).body.length,
      3,
    );

    // Another tenant, and the platform admin, see nothing: 404, as for a site that does not exist.
    for (const token of [bob.token, t.adminToken]) {
      for (const path of [
        `/sites/${fresh.id}/webhook_deliveries`,
        `/sites/paged/webhook_deliveries`,
        `/sites/${fresh.id}/webhook_deliveries/${ids[0]}`,
      ]) {
        const res = await t.api("GET", path, { token });
        assert.equal(res.status, 404, `${path}: ${res.text}`);
      }
    }
    // A delivery id of one site is not found under another site, even the owner's own.
    const bobSite = await createSite(t, bob.token, {
      name: "bobs-hooks",
      repo: { repo_url: "git@github.com:bob/x.git" },
    });
    const cross = await t.api("GET", `/sites/${bobSite.id}/webhook_deliveries/${ids[0]}`, {
      token: bob.token,
    });
    assert.equal(cross.status, 404);
    const anonymous = await t.api("GET", `/sites/${fresh.id}/webhook_deliveries`, { token: null });
    assert.equal(anonymous.status, 401);
  });

  it("answers 100 concurrent deliveries, each recorded", async () => {
    const busy = await createSite(t, alice.token, {
      name: "busy",
      repo: { repo_url: "git@github.com:alice/busy.git", allowed_branches: ["main", "next"] },
    });
    // How fast is bench/webhook-intake.ts's question; here, that none is lost or refused.
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        push(busy, i % 2 ? "github" : "gitlab", i % 3 ? "main" : "next"),
      ),
    );
    assert.deepEqual(
      [...new Set(answers.map((a) => a.status))],
      [202],
      answers.find((a) => a.status !== 202)?.text,
    );
    const res = await t.api("GET", `/sites/${busy.id}/webhook_deliveries?per_page=1`, {
      token: alice.token,
    });
    assert.equal(res.headers.get("x-total-count"), "100");
  });

  it("refuses the old secret once the site's webhook secret is rotated", async () => {
    const rotating = await createSite(t, alice.token, {
      name: "rotating",
      repo: { repo_url: "git@github.com:alice/rotating.git" },
    });
    const rotated = await t.api<{ url: string; secret: string }>(
      "POST",
      `/sites/${rotating.id}/git_webhook/rotate`,
      { token: alice.token },
    );
    assert.equal(rotated.status, 200, rotated.text);
    const old = await push(rotating, "gitlab", "main");
    assert.equal(old.status, 401, old.text);
    const fresh = await push({ ...rotating, git_webhook: rotated.body }, "gitlab", "main");
    assert.equal(fresh.status, 202, fresh.text);
  });

  it("keeps only the newest deliveries of a site", async () => {
    const noisy = await createSite(t, alice.token, {
      name: "noisy",
      repo: { repo_url: "git@github.com:alice/noisy.git" },
    });
    const db = t.platform.ctx.db;
    const start = Date.now() - 60_000;
    await db
      .insertInto("webhook_deliveries")
      .values(
        Array.from({ length: DELIVERIES_KEPT_PER_SITE + 5 }, (_, i) => ({
          id: `old${String(i).padStart(21, "0")}`,
          site_id: noisy.id,
          provider: "github",
          event: "push",
          delivery_key: null,
          ref: null,
          sha: null,
          outcome: "rejected" as const,
          reason: "rejected: bad signature: test",
          status_code: 401,
          build_id: null,
          duplicate_of: null,
          received_at: new Date(start - (DELIVERIES_KEPT_PER_SITE + 5 - i) * 1000).toISOString(),
        })),
      )
      .execute();
    const res = await push(noisy, "github", "main");
    assert.equal(res.status, 202);
    const rows = await db
      .selectFrom("webhook_deliveries")
      .select(["id", "received_at"])
      .where("site_id", "=", noisy.id)
      .orderBy("received_at", "desc")
      .execute();
    assert.equal(rows.length, DELIVERIES_KEPT_PER_SITE);
    assert.equal(rows[0]?.id, res.body.delivery_id);
    // The oldest went; the others of `site` were not touched.
    assert.ok(!rows.some((r) => r.id === `old${"0".repeat(21)}`));
    assert.ok((await deliveries(site)).length > 0);
  });

  it("keeps the webhook secrets out of the logs and the recorded deliveries", async () => {
    const rows = await t.platform.ctx.db.selectFrom("webhook_deliveries").selectAll().execute();
    const stored = JSON.stringify(rows);
    const logs = t.logs.join("");
    for (const s of [site, other, stopped]) {
      const secret = s.git_webhook!.secret;
      assert.ok(!logs.includes(secret), "secret in the logs");
      assert.ok(!stored.includes(secret), "secret in a delivery record");
    }
  });
});
