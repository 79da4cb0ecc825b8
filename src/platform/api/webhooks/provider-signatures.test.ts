import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startBitbucketFake, type BitbucketFake } from "../../../../test/fakes/bitbucket/fake.ts";
import { startGiteaFake, type GiteaFake } from "../../../../test/fakes/gitea/fake.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { createSite, webhookDeliveries } from "../../../../test/helpers/sites.ts";
import { postWebhook, randomSha } from "../../../../test/helpers/webhooks.ts";
import { systemResolver } from "../../repos/host-guard.ts";
import { createProviderHttp } from "../../providers/http.ts";
import { providerClient } from "../../providers/index.ts";
import type { ProviderClient, ProviderConnection, ProviderRepo } from "../../providers/types.ts";
import { hmacSha256Hex } from "../../webhooks/signatures.ts";

/**
 * Signature checks at `/webhooks/sites/:id` for deliveries made the way the providers make
 * them: the Bitbucket and Gitea fakes send real pushes and pull requests, signed with the
 * secret Slipway's own adapters installed (or a wrong one, or none), and hand-made variants of
 * each provider's proof — valid, invalid, missing, malformed — check the edges. GitLab's
 * `X-Gitlab-Token` is a plain shared secret, compared as such. Whatever arrives, the answer is
 * never a 5xx (a 5xx makes Bitbucket resend), and every delivery is recorded with its reason.
 */

interface SiteBody {
  id: string;
  git_webhook: { url: string; secret: string };
}

describe("provider webhook signatures at the platform", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bb: BitbucketFake;
  let gitea: GiteaFake;

  const linkSite = (name: string, repoUrl: string) =>
    createSite<SiteBody>(t, alice.token, {
      name,
      repo: { repo_url: repoUrl, repo_branch: "main" },
    });

  /** The site's newest recorded delivery. */
  const latest = async (site: SiteBody) =>
    (await webhookDeliveries(t, site.id, alice.token, "per_page=1"))[0]!;

  const adapter = (
    connection: Omit<ProviderConnection, "credential">,
    credential: ProviderConnection["credential"],
  ): ProviderClient =>
    providerClient(
      { ...connection, credential },
      createProviderHttp({
        resolveHost: systemResolver,
        allowedPrivateHosts: [`127.0.0.1:${new URL(connection.baseUrl).port}`],
      }),
    );

  before(async () => {
    // Builds stay queued: this file is about what the intake accepts.
    t = await startTestPlatform({
      platform: { buildWorkers: false },
      hosts: { "gitea.example": ["93.184.216.34"] },
    });
    alice = await t.createTenant("alice");
    bb = await startBitbucketFake();
    gitea = await startGiteaFake();
  });
  after(async () => {
    await bb.close();
    await gitea.close();
    await t.stop();
  });

  describe("Bitbucket (X-Hub-Signature: sha256=<hex>)", () => {
    let site: SiteBody;
    let repo: ProviderRepo;
    let client: ProviderClient;
    let hookId: string;

    before(async () => {
      bb.addUser("alice");
      bb.addRepo("alice", { workspace: "acme-web", slug: "site" });
      client = adapter(
        { provider: "bitbucket", baseUrl: bb.apiUrl },
        { kind: "app_password", username: "alice", password: bb.appPassword("alice") },
      );
      site = await linkSite("bb-signed", "git@bitbucket.org:acme-web/site.git");
      repo = await client.getRepo("acme-web/site");
      hookId = (
        await client.addHook(repo, {
          url: site.git_webhook.url,
          secret: site.git_webhook.secret,
          events: ["push", "pull_request"],
        })
      ).id;
    });

    it("builds a push the fake signs with the secret the adapter installed", async () => {
      const commit = randomSha();
      const [delivery] = await bb.push("acme-web/site", "main", commit);
      assert.equal(delivery?.status, 202, delivery?.responseBody);
      assert.deepEqual(delivery.attempts, [202]);
      const recorded = await latest(site);
      assert.equal(recorded.outcome, "built");
      assert.equal(recorded.provider, "bitbucket");
      assert.equal(recorded.event, "repo:push");
      assert.equal(recorded.sha, commit);
      assert.equal(recorded.delivery_key, delivery.headers["x-request-uuid"]);

      const [pr] = await bb.pullRequest("acme-web/site", {
        id: 7,
        action: "created",
        source: "feature/look",
        destination: "main",
        sha: randomSha(),
      });
      assert.ok(pr && (pr.status === 200 || pr.status === 202), pr?.responseBody);
      assert.notEqual((await latest(site)).outcome, "rejected");
    });

    it("refuses, once and without a 5xx, a delivery signed with another secret or not signed", async () => {
      bb.editHookByHand("acme-web/site", hookId, { secret: "not-the-site-secret" });
      const [wrong] = await bb.push("acme-web/site", "main");
      assert.equal(wrong?.status, 401, wrong?.responseBody);
      assert.deepEqual(wrong.attempts, [401], "a 4xx is final: Bitbucket does not resend it");
      assert.match(
        (await latest(site)).reason,
        /^rejected: bad signature: X-Hub-Signature is not sha256=<HMAC-SHA256 of the body/,
      );

      bb.editHookByHand("acme-web/site", hookId, { secret: null });
      const [unsigned] = await bb.push("acme-web/site", "main");
      assert.ok(unsigned);
      assert.equal(unsigned.headers["x-hub-signature"], undefined);
      assert.equal(unsigned.status, 401);
      assert.match(
        (await latest(site)).reason,
        /^rejected: missing signature: no X-Hub-Signature header \(the webhook has no secret\)/,
      );

      // Repaired through the adapter: the site's secret again.
      await client.updateHook(repo, hookId, {
        url: site.git_webhook.url,
        secret: site.git_webhook.secret,
        events: ["push"],
      });
      const [repaired] = await bb.push("acme-web/site", "main");
      assert.equal(repaired?.status, 202, repaired?.responseBody);
    });

    it("accepts only sha256=<the body's HMAC>: every malformed variant is a 401", async () => {
      const body = JSON.stringify({
        push: {
          changes: [
            { new: { type: "branch", name: "main", target: { hash: randomSha() } }, old: null },
          ],
        },
      });
      const mac = hmacSha256Hex(site.git_webhook.secret, body);
      const headers = (signature?: string, extra: Record<string, string> = {}) => ({
        "content-type": "application/json",
        "x-event-key": "repo:push",
        "x-request-uuid": `{${randomUUID()}}`,
        ...(signature === undefined ? {} : { "x-hub-signature": signature }),
        ...extra,
      });
      const accepted = [`sha256=${mac}`, `sha256=${mac.toUpperCase()}`, `SHA256=${mac}`];
      for (const signature of accepted) {
        const res = await postWebhook(site.git_webhook.url, headers(signature), body);
        assert.ok(res.status === 202 || res.status === 200, `${signature}: ${res.text}`);
      }
      const refused: Array<[string, Record<string, string>, "bad" | "missing"]> = [
        ["bare hex, no prefix", headers(mac), "bad"],
        [
          "GitHub's header instead",
          headers(undefined, { "x-hub-signature-256": `sha256=${mac}` }),
          "missing",
        ],
        ["empty", headers(""), "missing"],
        ["sha1", headers(`sha1=${mac.slice(0, 40)}`), "bad"],
        ["sha256= only", headers("sha256="), "bad"],
        ["truncated", headers(`sha256=${mac.slice(0, 63)}`), "bad"],
        ["not hex", headers(`sha256=${"g".repeat(64)}`), "bad"],
        ["space after =", headers(`sha256= ${mac}`), "bad"],
        ["huge", headers(`sha256=${"a".repeat(8000)}`), "bad"],
        [
          "signature of a re-serialised body",
          headers(
            `sha256=${hmacSha256Hex(site.git_webhook.secret, JSON.stringify(JSON.parse(body), null, 1))}`,
          ),
          "bad",
        ],
      ];
      for (const [what, sent, kind] of refused) {
        const res = await postWebhook(site.git_webhook.url, sent, body);
        assert.equal(res.status, 401, `${what}: ${res.text}`);
        assert.match(String(res.body.message), new RegExp(`^rejected: ${kind} signature`), what);
        assert.equal((await latest(site)).status_code, 401, what);
      }
      // The same header twice (arrives joined): not a signature.
      const twice = new Headers(headers(`sha256=${mac}`));
      twice.append("x-hub-signature", `sha256=${mac}`);
      const joined = await postWebhook(site.git_webhook.url, twice, body);
      assert.equal(joined.status, 401, joined.text);
    });
  });

  describe("Gitea (X-Gitea-Signature: <hex>)", () => {
    let site: SiteBody;
    let repo: ProviderRepo;
    let client: ProviderClient;
    let hookId: number;

    before(async () => {
      gitea.addUser("ada");
      gitea.addRepo("ada", { name: "site" });
      client = adapter(
        { provider: "gitea", baseUrl: gitea.baseUrl },
        { kind: "token", token: gitea.token("ada") },
      );
      site = await linkSite("gitea-signed", "git@gitea.example:ada/site.git");
      repo = await client.getRepo("ada/site");
      hookId = Number(
        (
          await client.addHook(repo, {
            url: site.git_webhook.url,
            secret: site.git_webhook.secret,
            events: ["push", "pull_request"],
          })
        ).id,
      );
    });

    it("builds a push the fake signs with the secret the adapter installed", async () => {
      const commit = randomSha();
      const [delivery] = await gitea.push("ada/site", "main", commit);
      assert.equal(delivery?.status, 202, delivery?.responseBody);
      const recorded = await latest(site);
      assert.equal(recorded.outcome, "built");
      assert.equal(recorded.provider, "gitea");
      assert.equal(recorded.sha, commit);
      assert.equal(recorded.delivery_key, delivery.headers["x-gitea-delivery"]);

      const [pr] = await gitea.pullRequest("ada/site", {
        number: 4,
        action: "opened",
        head: "feature",
        base: "main",
      });
      assert.ok(pr && (pr.status === 200 || pr.status === 202), pr?.responseBody);
      assert.notEqual((await latest(site)).outcome, "rejected");
    });

    it("refuses a delivery signed with another secret, and says when the hook has none", async () => {
      gitea.editHookByHand("ada/site", hookId, { secret: "not-the-site-secret" });
      const [wrong] = await gitea.push("ada/site", "main");
      assert.equal(wrong?.status, 401, wrong?.responseBody);
      assert.match(
        (await latest(site)).reason,
        /^rejected: bad signature: X-Gitea-Signature is not the HMAC-SHA256/,
      );

      // Without a secret Gitea still sends its signature headers, empty (`X-Hub-Signature-256:
      // sha256=`): that is a missing signature, not a wrong one.
      gitea.editHookByHand("ada/site", hookId, { secret: "" });
      const [unsigned] = await gitea.push("ada/site", "main");
      assert.equal(unsigned?.headers["x-gitea-signature"], "");
      assert.equal(unsigned.status, 401, unsigned.responseBody);
      assert.match(
        (await latest(site)).reason,
        /^rejected: missing signature: no X-Gitea-Signature header \(the hook has no secret\)/,
      );

      // A form-encoded hook: Gitea signs the JSON inside the form, not the body it sends.
      gitea.editHookByHand("ada/site", hookId, {
        secret: site.git_webhook.secret,
        contentType: "form",
      });
      const [form] = await gitea.push("ada/site", "main");
      assert.ok(form && form.status < 500 && form.status !== 202, form?.responseBody);

      await client.updateHook(repo, String(hookId), {
        url: site.git_webhook.url,
        secret: site.git_webhook.secret,
        events: ["push"],
      });
      const [repaired] = await gitea.push("ada/site", "main");
      assert.equal(repaired?.status, 202, repaired?.responseBody);
    });

    it("accepts Gitea's, Forgejo's and Gogs' headers and GitHub's mirror, and nothing malformed", async () => {
      const body = JSON.stringify({
        ref: "refs/heads/main",
        before: randomSha(),
        after: randomSha(),
      });
      const mac = hmacSha256Hex(site.git_webhook.secret, body);
      const base = { "content-type": "application/json" };
      const accepted: Array<[string, Record<string, string>]> = [
        ["Gitea", { "x-gitea-event": "push", "x-gitea-signature": mac }],
        [
          "Gitea, upper-case hex",
          { "x-gitea-event": "push", "x-gitea-signature": mac.toUpperCase() },
        ],
        ["Forgejo", { "x-forgejo-event": "push", "x-forgejo-signature": mac }],
        ["Gogs", { "x-gogs-event": "push", "x-gogs-signature": mac }],
        [
          "only the GitHub mirror",
          { "x-gitea-event": "push", "x-hub-signature-256": `sha256=${mac}` },
        ],
      ];
      for (const [what, headers] of accepted) {
        const res = await postWebhook(
          site.git_webhook.url,
          { ...base, ...headers, "x-gitea-delivery": randomUUID() },
          body,
        );
        assert.ok(res.status === 202 || res.status === 200, `${what}: ${res.text}`);
        assert.notEqual((await latest(site)).outcome, "rejected", what);
      }
      const refused: Array<[string, Record<string, string>, "bad" | "missing"]> = [
        [
          "wrong Gitea signature, right mirror",
          { "x-gitea-signature": "0".repeat(64), "x-hub-signature-256": `sha256=${mac}` },
          "bad",
        ],
        ["prefixed like GitHub", { "x-gitea-signature": `sha256=${mac}` }, "bad"],
        ["truncated", { "x-gitea-signature": mac.slice(0, 63) }, "bad"],
        ["not hex", { "x-gitea-signature": "z".repeat(64) }, "bad"],
        ["huge", { "x-gitea-signature": "f".repeat(8000) }, "bad"],
        ["SHA-1 only", { "x-hub-signature": `sha1=${"0".repeat(40)}` }, "missing"],
        ["none", {}, "missing"],
        ["empty mirror", { "x-hub-signature-256": "sha256=" }, "missing"],
      ];
      for (const [what, headers, kind] of refused) {
        const res = await postWebhook(
          site.git_webhook.url,
          { ...base, "x-gitea-event": "push", ...headers },
          body,
        );
        assert.equal(res.status, 401, `${what}: ${res.text}`);
        assert.match(String(res.body.message), new RegExp(`^rejected: ${kind} signature`), what);
      }
    });
  });

  describe("GitLab (X-Gitlab-Token: the secret itself)", () => {
    let site: SiteBody;
    before(async () => {
      site = await linkSite("gitlab-token", "https://gitlab.com/alice/site.git");
    });

    it("accepts exactly the secret; anything else is a 401 with its reason, never a 5xx", async () => {
      const body = JSON.stringify({
        object_kind: "push",
        ref: "refs/heads/main",
        before: randomSha(),
        after: randomSha(),
      });
      const secret = site.git_webhook.secret;
      const send = (token: string | undefined, extra: Record<string, string> = {}) =>
        postWebhook(
          site.git_webhook.url,
          {
            "content-type": "application/json",
            "x-gitlab-event": "Push Hook",
            ...(token === undefined ? {} : { "x-gitlab-token": token }),
            ...extra,
          },
          body,
        );
      const ok = await send(secret);
      assert.equal(ok.status, 202, ok.text);
      const padded = await send(`  ${secret}\t`);
      assert.ok(padded.status === 200 || padded.status === 202, "HTTP strips the padding");

      const refused: Array<
        [string, string | undefined, Record<string, string>, "bad" | "missing"]
      > = [
        ["missing", undefined, {}, "missing"],
        ["empty", "", {}, "missing"],
        ["upper-cased", secret.toUpperCase(), {}, "bad"],
        ["a prefix of it", secret.slice(0, -1), {}, "bad"],
        ["it and more", `${secret}0`, {}, "bad"],
        ["its HMAC instead", hmacSha256Hex(secret, body), {}, "bad"],
        [
          "in a signature header",
          undefined,
          { "x-hub-signature-256": `sha256=${hmacSha256Hex(secret, body)}` },
          "missing",
        ],
        ["Latin-1 bytes", `${secret}\u00e9\u00ff`, {}, "bad"],
        ["8 KB", "x".repeat(8192), {}, "bad"],
      ];
      for (const [what, token, extra, kind] of refused) {
        const res = await send(token, extra);
        assert.equal(res.status, 401, `${what}: ${res.text}`);
        assert.match(String(res.body.message), new RegExp(`^rejected: ${kind} signature`), what);
        const recorded = await latest(site);
        assert.equal(recorded.status_code, 401, what);
        assert.equal(recorded.provider, "gitlab");
      }
      const twice = new Headers({
        "content-type": "application/json",
        "x-gitlab-event": "Push Hook",
      });
      twice.append("x-gitlab-token", secret);
      twice.append("x-gitlab-token", secret);
      const joined = await postWebhook(site.git_webhook.url, twice, body);
      assert.equal(joined.status, 401, "two tokens are not the token");
      assert.ok(!t.logs.join("").includes(secret), "the secret is never logged");
    });
  });
});
