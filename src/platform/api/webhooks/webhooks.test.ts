import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { DELIVERIES_KEPT_PER_SITE } from "./service.ts";
import { hmacSha256Hex } from "./signatures.ts";

interface SiteBody {
  id: string;
  name: string;
  git_webhook: { url: string; secret: string } | null;
}

interface DeliveryBody {
  id: string;
  site_id: string;
  provider: string | null;
  event: string | null;
  delivery_key: string | null;
  ref: string | null;
  branch: string | null;
  sha: string | null;
  outcome: string;
  reason: string;
  status_code: number;
  build_id: string | null;
  duplicate_of: string | null;
  received_at: string;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

const sha = (): string => randomBytes(20).toString("hex");
const ZERO = "0".repeat(40);

type Provider = "gitlab" | "github" | "gitea" | "bitbucket";

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

/** The headers a provider sends with a push, signed with `secret`. */
function signedHeaders(
  provider: Provider,
  secret: string,
  body: string | Buffer,
  id = randomBytes(8).toString("hex"),
): Record<string, string> {
  const mac = hmacSha256Hex(secret, body);
  switch (provider) {
    case "gitlab":
      return { "x-gitlab-event": "Push Hook", "x-gitlab-token": secret, "idempotency-key": id };
    case "github":
      return {
        "x-github-event": "push",
        "x-hub-signature-256": `sha256=${mac}`,
        "x-github-delivery": id,
      };
    case "gitea":
      return {
        "x-gitea-event": "push",
        "x-github-event": "push",
        "x-gitea-signature": mac,
        "x-gitea-delivery": id,
      };
    case "bitbucket":
      return {
        "x-event-key": "repo:push",
        "x-hub-signature": `sha256=${mac}`,
        "x-request-uuid": id,
        "x-hook-uuid": "{same-for-every-delivery}",
      };
  }
}

async function post(
  url: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text };
}

describe("git webhooks", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let site: SiteBody;
  let other: SiteBody;
  let stopped: SiteBody;
  let unlinked: SiteBody;

  const createSite = async (body: unknown, token = alice.token): Promise<SiteBody> => {
    const res = await t.api<SiteBody>("POST", "/sites", { token, body });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };

  /** Sends a signed push for `branch` at a new commit; returns the answer and the commit. */
  const push = async (
    target: SiteBody,
    provider: Provider,
    branch: string,
    options: { after?: string; id?: string } = {},
  ): Promise<Answer & { sha: string }> => {
    const after = options.after ?? sha();
    const body = JSON.stringify(pushPayload(provider, branch, sha(), after));
    const headers = signedHeaders(provider, target.git_webhook!.secret, body, options.id);
    return { ...(await post(target.git_webhook!.url, headers, body)), sha: after };
  };

  const deliveries = async (target: SiteBody, token = alice.token): Promise<DeliveryBody[]> => {
    const res = await t.api<DeliveryBody[]>("GET", `/sites/${target.id}/webhook_deliveries`, {
      token,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  const delivery = async (target: SiteBody, id: unknown): Promise<DeliveryBody> => {
    assert.equal(typeof id, "string", "the answer names its delivery");
    const res = await t.api<DeliveryBody>(
      "GET",
      `/sites/${target.id}/webhook_deliveries/${String(id)}`,
      { token: alice.token },
    );
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

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
    site = await createSite({
      name: "hooked",
      repo: {
        provider: "github",
        repo_url: "git@github.com:alice/hooked.git",
        repo_branch: "main",
      },
    });
    other = await createSite({
      name: "other-hooked",
      repo: {
        repo_url: "https://gitlab.com/alice/other.git",
        repo_branch: "main",
        allowed_branches: ["main", "release"],
      },
    });
    stopped = await createSite({
      name: "stopped",
      repo: { repo_url: "git@github.com:alice/stopped.git", stop_builds: true },
    });
    unlinked = await createSite({ name: "unlinked" });
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

      const body = JSON.stringify(pushPayload(provider, "main", sha(), sha()));
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
        const res = await post(site.git_webhook!.url, headers, body);
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
      const res = await post(site.git_webhook!.url, good, `${body} `);
      assert.equal(res.status, provider === "gitlab" ? 202 : 401, res.text);
    });
  }

  it("accepts GitHub's form-encoded deliveries, signed over the raw bytes", async () => {
    const after = sha();
    const body = new URLSearchParams({
      payload: JSON.stringify(pushPayload("github", "main", sha(), after)),
    }).toString();
    const res = await post(
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
    const sent = async (headers: Record<string, string>, payload: unknown): Promise<Answer> => {
      const body = JSON.stringify(payload);
      const mac = hmacSha256Hex(secret, body);
      return post(
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
        { ref: "refs/tags/v1.0", before: ZERO, after: sha() },
        "ignored: tag push",
      ],
      [
        "GitHub tag",
        { "x-github-event": "push" },
        { ref: "refs/tags/v1.1", before: ZERO, after: sha() },
        "ignored: tag push",
      ],
      [
        "deleted branch",
        { "x-github-event": "push" },
        { ref: "refs/heads/main", before: sha(), after: ZERO, deleted: true },
        "ignored: branch deleted",
      ],
      [
        "branch not allowed",
        { "x-gitlab-event": "Push Hook" },
        pushPayload("gitlab", "dev", sha(), sha()),
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

    const body = JSON.stringify(pushPayload("gitlab", "main", sha(), sha()));
    const url = site.git_webhook!.url.replace(site.id, unlinked.id);
    const answer = await post(url, signedHeaders("gitlab", "anything", body), body);
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
    const body = JSON.stringify(pushPayload("gitlab", "main", sha(), sha()));
    const base = site.git_webhook!.url.slice(0, -site.id.length);
    for (const id of [
      "3b98baa1-d670-4df2-9e79-924e8508a8e2",
      "not-a-site",
      site.name,
      "%2e%2e",
      "x".repeat(150),
    ]) {
      const res = await post(`${base}${id}`, signedHeaders("gitlab", "s", body), body);
      assert.equal(res.status, 404, `${id}: ${res.text}`);
    }
    assert.equal(await count(), before);
  });

  it("rejects a malformed payload with a valid signature (400) and says what is wrong", async () => {
    for (const [body, detail] of [
      ["{not json", /not valid JSON/],
      ["[1,2,3]", /not a JSON object/],
      [JSON.stringify({ ref: "refs/heads/main", after: "HEAD" }), /after is not a commit id/],
      [JSON.stringify({ ref: "refs/heads/-x", after: sha() }), /not a valid git branch name/],
      ["", /the body is empty/],
    ] as const) {
      const res = await post(
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
    const after = sha();
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
    const racing = sha();
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
    const body = JSON.stringify(pushPayload("github", "main", sha(), sha()));
    const forged = await post(
      site.git_webhook!.url,
      { ...signedHeaders("github", "guess", body), "x-github-delivery": id },
      body,
    );
    assert.equal(forged.status, 401);
    const real = await push(site, "github", "main", { id });
    assert.equal(real.status, 202, real.text);

    // Ignored (branch not allowed), then redelivered after allowed_branches changed: it builds.
    const after = sha();
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
      const res = await post(url, headers, body);
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
    const fresh = await createSite({
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
    const bobSite = await createSite(
      { name: "bobs-hooks", repo: { repo_url: "git@github.com:bob/x.git" } },
      bob.token,
    );
    const cross = await t.api("GET", `/sites/${bobSite.id}/webhook_deliveries/${ids[0]}`, {
      token: bob.token,
    });
    assert.equal(cross.status, 404);
    const anonymous = await t.api("GET", `/sites/${fresh.id}/webhook_deliveries`, { token: null });
    assert.equal(anonymous.status, 401);
  });

  it("answers 100 concurrent deliveries quickly, each recorded", async () => {
    const busy = await createSite({
      name: "busy",
      repo: { repo_url: "git@github.com:alice/busy.git", allowed_branches: ["main", "next"] },
    });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        push(busy, i % 2 ? "github" : "gitlab", i % 3 ? "main" : "next"),
      ),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 10_000, `${elapsed} ms`);
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
    const rotating = await createSite({
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
    const noisy = await createSite({
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
