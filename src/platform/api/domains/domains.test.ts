import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { publishFiles, selfSigned } from "../../../../test/helpers/acme.ts";
import { rawRequest } from "../../../../test/helpers/edge.ts";
import { assertSpecResponse } from "../../../../test/helpers/open-api.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";

interface SiteBody {
  id: string;
  name: string;
  url: string;
  ssl_url: string;
  ssl: boolean;
  custom_domain: string | null;
  domain_aliases: string[];
  force_ssl: boolean;
  hsts_max_age: number | null;
}
interface DomainBody {
  domain: string;
  kind: string;
  state: string;
  reason: string | null;
}
interface ErrorBody {
  code: number;
  message: string;
  field?: string;
}
interface SslBody {
  state: string;
  domains: string[];
  expires_at: string | null;
  source: string | null;
  reason: string | null;
  issuer: string | null;
}

describe("custom domains (API and edge, without ACME)", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let dir: string;

  before(async () => {
    t = await startTestPlatform({ platform: { edgeTtlMs: 0, buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    dir = await mkdtemp(join(tmpdir(), "slipway-domains-"));
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const create = (tenant: Tenant, body: Record<string, unknown>) =>
    t.api<SiteBody & ErrorBody>("POST", "/sites", { token: tenant.token, body });
  const patch = (tenant: Tenant, site: string, body: Record<string, unknown>) =>
    t.api<SiteBody & ErrorBody>("PATCH", `/sites/${site}`, { token: tenant.token, body });
  const domains = async (tenant: Tenant, site: string) =>
    (await t.api<DomainBody[]>("GET", `/sites/${site}/domains`, { token: tenant.token })).body;
  const claims = async (): Promise<number> =>
    Number(
      (
        await t.platform.ctx.db
          .selectFrom("site_domains")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it("takes custom_domain and domain_aliases on create, in their IDNA form, and lists each with its state", async () => {
    const res = await create(alice, {
      name: "shop",
      custom_domain: "Bücher.Example.",
      domain_aliases: ["shop.example.org", "*.tenants.example.org"],
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.custom_domain, "xn--bcher-kva.example");
    assert.deepEqual(res.body.domain_aliases, ["shop.example.org", "*.tenants.example.org"]);
    assert.match(res.body.url, /^http:\/\/xn--bcher-kva\.example:\d+$/);
    assert.equal(res.body.ssl, false);
    const listed = await domains(alice, res.body.id);
    assert.deepEqual(
      listed.map((d) => [d.domain, d.kind]),
      [
        ["xn--bcher-kva.example", "primary"],
        ["www.xn--bcher-kva.example", "www"],
        ["shop.example.org", "alias"],
        ["*.tenants.example.org", "wildcard"],
      ],
    );
    // No ACME in this platform: each name says why it has no certificate.
    assert.ok(listed.every((d) => d.state === "pending_dns" && d.reason !== null));
    assert.match(listed[3]!.reason!, /wildcard certificate cannot be obtained over http-01/);
    assert.match(listed[0]!.reason!, /automatic certificates are off/);
  });

  it("refuses malformed domains with a 422 naming the field and the problem, storing nothing", async () => {
    const before = await claims();
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ custom_domain: "http://example.com/x" }, "custom_domain", /without a scheme, path/],
      [{ custom_domain: "192.0.2.7" }, "custom_domain", /is an IP address/],
      [{ custom_domain: "[2001:db8::1]" }, "custom_domain", /is an IP address/],
      [{ custom_domain: "example.com:8080" }, "custom_domain", /leave the port out/],
      [{ custom_domain: "localhostonly" }, "custom_domain", /not a fully qualified/],
      [{ custom_domain: "-bad-.example.com" }, "custom_domain", /label "-bad-" is not valid/],
      [{ custom_domain: `${"a".repeat(64)}.example.com` }, "custom_domain", /longer than 63/],
      [{ custom_domain: `${"abcdefghi.".repeat(26)}com` }, "custom_domain", /longer than 253/],
      [
        { custom_domain: "*.example.com" },
        "custom_domain",
        /wildcard is allowed only in domain_aliases/,
      ],
      [{ domain_aliases: ["a.*.example.com"] }, "domain_aliases.0", /whole first label/],
      [{ custom_domain: "other.localhost" }, "custom_domain", /under this platform's sites domain/],
      [
        { domain_aliases: ["ok.example.net", "exa mple.com"] },
        "domain_aliases.1",
        /without a scheme, path, port or spaces/,
      ],
      [{ custom_domain: "x".repeat(400) }, "custom_domain", /longer than 253/],
      [{ custom_domain: "x".repeat(3000) }, "custom_domain", /wrong type|at most/],
    ];
    for (const [body, field, message] of cases) {
      const res = await create(alice, body);
      assert.equal(res.status, 422, `${JSON.stringify(body)} → ${res.text}`);
      assert.equal(res.body.field, field, res.text);
      assert.match(res.body.message, message);
    }
    assert.equal(await claims(), before, "nothing was claimed");
    // The site's own name under the sites domain is allowed.
    const own = await create(alice, { name: "own", custom_domain: "own.localhost" });
    assert.equal(own.status, 201, own.text);
  });

  it("gives a domain to one site across all accounts: a 409 that does not say whose", async () => {
    const first = await create(alice, { name: "taken", custom_domain: "taken.example.com" });
    assert.equal(first.status, 201, first.text);
    const other = await create(bob, { name: "bobs", custom_domain: "taken.example.com" });
    assert.equal(other.status, 409, other.text);
    assert.match(other.body.message, /already used by another site on this Slipway/);
    assert.doesNotMatch(other.text, /alice|taken[^.]|"shop"/);
    const viaAlias = await create(bob, { name: "bobs2", domain_aliases: ["taken.example.com"] });
    assert.equal(viaAlias.status, 409);
    assert.equal(
      (await t.api("GET", "/sites/bobs2", { token: bob.token })).status,
      404,
      "not created",
    );
    // Within one account, the message names the site that holds it.
    const mine = await create(alice, { name: "again", domain_aliases: ["taken.example.com"] });
    assert.equal(mine.status, 409);
    assert.match(mine.body.message, /already a domain of your site taken/);
    // The www companion is a courtesy: an explicit claim takes it over, and it is skipped.
    const www = await create(bob, { name: "bobwww", custom_domain: "www.taken2.example.com" });
    assert.equal(www.status, 201);
    const apex = await create(alice, { name: "apex", custom_domain: "taken2.example.com" });
    assert.equal(apex.status, 201, apex.text);
    assert.deepEqual(
      (await domains(alice, apex.body.id)).map((d) => d.domain),
      ["taken2.example.com"],
    );
    // Released on update, then free for another account.
    assert.equal((await patch(alice, "taken", { custom_domain: null })).status, 200);
    const now = await create(bob, { name: "bobs3", custom_domain: "taken.example.com" });
    assert.equal(now.status, 201, now.text);
  });

  it("accepts the custom domain (or an alias) as site_id, for the owner only", async () => {
    const res = await create(alice, {
      name: "named",
      custom_domain: "named.example.com",
      domain_aliases: ["alias.named.example.com"],
    });
    for (const key of ["named.example.com", "NAMED.example.com.", "alias.named.example.com"]) {
      const got = await t.api<SiteBody>("GET", `/sites/${key}`, { token: alice.token });
      assert.equal(got.status, 200, key);
      assert.equal(got.body.id, res.body.id);
    }
    assert.equal(
      (await t.api("GET", "/sites/named.example.com", { token: bob.token })).status,
      404,
    );
    const changed = await patch(alice, "named.example.com", { force_ssl: true, hsts_max_age: 300 });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.force_ssl, true);
    assert.equal(changed.body.hsts_max_age, 300);
    const bad = await patch(alice, "named.example.com", { hsts_max_age: 10 ** 9 });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.field, "hsts_max_age");
  });

  it("serves custom domains, aliases and wildcards with the published deploy; aliases and www redirect to the primary", async () => {
    const site = await create(alice, {
      name: "served",
      custom_domain: "served.example.com",
      domain_aliases: ["old.example.com", "*.wild.example.com"],
    });
    await publishFiles(t, alice.token, site.body.id, { "index.html": "<h1>served</h1>" });
    const port = Number(new URL(t.url).port);
    const primary = await rawRequest(port, "served.example.com", "/");
    assert.equal(primary.status, 200);
    assert.equal(primary.text, "<h1>served</h1>");
    const wild = await rawRequest(port, "a.wild.example.com", "/");
    assert.equal(wild.text, "<h1>served</h1>");
    for (const host of ["old.example.com", "www.served.example.com"]) {
      const redirected = await rawRequest(port, host, "/a/b?c=d");
      assert.equal(redirected.status, 301, host);
      // No certificate yet: the redirect stays on plain HTTP.
      assert.equal(redirected.headers.location, `http://served.example.com:${port}/a/b?c=d`);
    }
    // A host no site claims is not served any site's content (it reaches the API, as before).
    assert.doesNotMatch((await rawRequest(port, "unknown.example.com", "/")).text, /served/);
    // The API still answers on its own host.
    assert.equal((await rawRequest(port, `127.0.0.1:${port}`, "/healthz")).status, 200);
  });

  it("answers ACME challenges before any site routing, on every host", async () => {
    await t.platform.ctx.db
      .insertInto("acme_challenges")
      .values({
        token: "tok-123",
        key_authorization: "tok-123.thumbprint",
        domain: "served.example.com",
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      })
      .execute();
    const port = Number(new URL(t.url).port);
    for (const host of [
      "served.example.com",
      "old.example.com",
      "served.localhost",
      `127.0.0.1:${port}`,
      "nobody.example",
    ]) {
      const res = await rawRequest(port, host, "/.well-known/acme-challenge/tok-123");
      assert.equal(res.status, 200, host);
      assert.equal(res.text.trim(), "tok-123.thumbprint");
    }
  });

  it("refuses bad certificates with a 4xx naming the problem, storing nothing; the key never comes back", async () => {
    const site = await create(alice, { name: "certs", custom_domain: "certs.example.com" });
    const good = await selfSigned(dir, ["certs.example.com"]);
    const other = await selfSigned(dir, ["other.example.com"]);
    const expired = await selfSigned(dir, ["certs.example.com"], {
      name: "expired",
      endDate: "20200201000000Z",
    });
    const post = (body: unknown) =>
      t.api<SslBody & ErrorBody>("POST", `/sites/${site.body.id}/ssl`, {
        token: alice.token,
        body,
      });
    const cases: Array<[unknown, number, string, RegExp]> = [
      [
        { certificate: "not a pem", key: good.keyPem },
        422,
        "certificate",
        /is not a PEM certificate/,
      ],
      [{ certificate: good.certPem, key: "nope" }, 422, "key", /is not a PEM private key/],
      [
        { certificate: good.certPem, key: other.keyPem },
        422,
        "key",
        /does not match the certificate/,
      ],
      [
        { certificate: expired.certPem, key: expired.keyPem },
        422,
        "certificate",
        /expired on 2020-02-01/,
      ],
      [
        { certificate: "A".repeat(10 * 1024 * 1024), key: good.keyPem },
        422,
        "certificate",
        /at most 65536 characters/,
      ],
      [{ certificate: good.certPem }, 422, "key", /is required with a certificate/],
    ];
    for (const [body, status, field, message] of cases) {
      const res = await post(body);
      assert.equal(res.status, status, res.text.slice(0, 300));
      assert.equal(res.body.field, field, res.text.slice(0, 300));
      assert.match(res.body.message, message);
    }
    const stored = await t.platform.ctx.db
      .selectFrom("site_certificates")
      .selectAll()
      .where("site_id", "=", site.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(stored.certificate_pem, null, "nothing stored");

    // As @netlify/api sends it: the PEM fields in the query string.
    const query = new URLSearchParams({ certificate: good.certPem, key: good.keyPem });
    const ok = await t.api<SslBody & ErrorBody>("POST", `/sites/${site.body.id}/ssl?${query}`, {
      token: alice.token,
    });
    assert.equal(ok.status, 200, ok.text);
    assertSpecResponse("provisionSiteTLSCertificate", 200, ok.body);
    assert.equal(ok.body.state, "custom");
    assert.deepEqual(ok.body.domains, ["certs.example.com"]);
    const got = await t.api<SslBody>("GET", `/sites/${site.body.id}/ssl`, { token: alice.token });
    assert.equal(got.body.source, "custom");
    assert.equal(got.body.issuer, "CN=certs.example.com", "a self-signed certificate's issuer");
    assertSpecResponse("showSiteTLSCertificate", 200, got.body);
    const shown = await t.api("GET", `/sites/${site.body.id}`, { token: alice.token });
    assertSpecResponse("getSite", 200, shown.body);
    const listed = await domains(alice, site.body.id);
    assert.equal(listed.find((d) => d.domain === "certs.example.com")?.state, "active");
    assert.match(
      listed.find((d) => d.domain === "www.certs.example.com")?.reason ?? "",
      /does not cover www\.certs\.example\.com/,
    );
    const keyBody = good.keyPem.split("\n")[1]!;
    assert.ok(!t.responses.some((r) => r.includes(keyBody)), "the key is in no API response");
    assert.ok(!t.logs.some((l) => l.includes(keyBody)), "nor in a log line");
    assert.ok(
      t.logs.some((l) => l.includes("/ssl?[redacted]")),
      "the request is logged without its query",
    );
    const row = await t.platform.ctx.db
      .selectFrom("site_certificates")
      .selectAll()
      .where("site_id", "=", site.body.id)
      .executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(keyBody), "nor in the database in the clear");
    // Another account cannot see or change it.
    assert.equal(
      (await t.api("GET", `/sites/${site.body.id}/ssl`, { token: bob.token })).status,
      404,
    );
    assert.equal(
      (
        await t.api("POST", `/sites/${site.body.id}/ssl`, {
          token: bob.token,
          body: { certificate: good.certPem, key: good.keyPem },
        })
      ).status,
      404,
    );
  });
});
