import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { connect as http2Connect } from "node:http2";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { after, before, describe, it } from "node:test";
import {
  missingAcmeTools,
  preparePebble,
  publishFiles,
  selfSigned,
  tlsGet,
  type Pebble,
} from "../../../test/helpers/acme.ts";
import { rawRequest } from "../../../test/helpers/edge.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";
import { poll } from "../../../test/helpers/wait.ts";

/**
 * Certificates from a real ACME server: Debian's pebble, with pebble-challtestsrv as the DNS
 * server that both pebble and Slipway ask (test domains resolve to 127.0.0.1). Slipway checks
 * each domain, orders over http-01, serves the certificate by SNI on its HTTPS listener, renews
 * it without dropping connections, and says why when a domain does not reach it.
 */

interface SslBody {
  state: string;
  domains: string[];
  expires_at: string | null;
  updated_at: string;
  source: string | null;
  reason: string | null;
  renew_at: string | null;
  next_attempt_at: string | null;
}
interface DomainBody {
  domain: string;
  kind: string;
  state: string;
  reason: string | null;
}

const missing = await missingAcmeTools();

describe("ACME certificates against pebble", { skip: missing }, () => {
  let pebble: Pebble;
  let t: TestPlatform;
  let alice: Tenant;
  let root: string;
  let httpsPort: number;
  let httpPort: number;
  let siteId: string;
  let dataDir: string;
  let start: () => Promise<TestPlatform>;
  const masterKey = randomBytes(32);

  before(async () => {
    pebble = await preparePebble();
    for (const host of ["site.test", "www.site.test", "alias.site.test"]) await pebble.addA(host);
    dataDir = await mkdtemp(join(tmpdir(), "slipway-acme-platform-"));
    start = () =>
      startTestPlatform({
        dataDir,
        config: {
          masterKey,
          domains: {
            httpPort: undefined,
            httpsPort: 0,
            acme: {
              directoryUrl: pebble.directoryUrl,
              email: "ops@site.test",
              caFile: pebble.caFile,
              challengePort: undefined,
            },
            dnsServers: [pebble.dnsServer],
            publicAddresses: ["127.0.0.1"],
            sitesCertFile: undefined,
            sitesKeyFile: undefined,
            trustedProxies: [],
          },
        },
        platform: { edgeTtlMs: 0, certificateSweepMs: 200, tlsRecheckMs: 200 },
      });
    t = await start();
    httpPort = t.platform.ports.http;
    httpsPort = t.platform.ports.https!;
    await pebble.start(httpPort);
    root = await pebble.root();
    alice = await t.createTenant("alice");
  });
  after(async () => {
    await t?.stop();
    await pebble?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const ssl = async (site: string) =>
    (await t.api<SslBody>("GET", `/sites/${site}/ssl`, { token: alice.token })).body;
  const domains = async (site: string) =>
    (await t.api<DomainBody[]>("GET", `/sites/${site}/domains`, { token: alice.token })).body;

  it("checks the domains, obtains a certificate over http-01 and serves the site with it by SNI", async () => {
    const created = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "shop", custom_domain: "site.test", domain_aliases: ["alias.site.test"] },
    });
    assert.equal(created.status, 201, created.text);
    siteId = created.body.id;
    await publishFiles(t, alice.token, siteId, { "index.html": "<h1>shop over TLS</h1>" });

    let last = "";
    const cert = await poll(
      async () => {
        const now = await ssl(siteId);
        last = `${JSON.stringify(now)} ${JSON.stringify(await domains(siteId))}`;
        return now.state === "active" ? now : undefined;
      },
      () => `the certificate (last seen: ${last})`,
      60_000,
      200,
    );
    assert.deepEqual([...cert.domains].sort(), ["alias.site.test", "site.test", "www.site.test"]);
    assert.equal(cert.source, "acme");
    assert.ok(
      cert.renew_at !== null && cert.expires_at !== null && cert.renew_at < cert.expires_at,
    );
    assert.ok((await domains(siteId)).every((d) => d.state === "active"));

    const res = await tlsGet(httpsPort, "site.test", root);
    assert.equal(res.status, 200);
    assert.equal(res.body, "<h1>shop over TLS</h1>");
    assert.match(res.certificate.subjectaltname ?? "", /DNS:site\.test/);
    assert.match(JSON.stringify(res.certificate.issuer), /Pebble/i);

    // The site shows it: ssl true, ssl_url over https.
    const site = await t.api<{ ssl: boolean; ssl_url: string }>("GET", "/sites/site.test", {
      token: alice.token,
    });
    assert.equal(site.body.ssl, true);
    assert.equal(site.body.ssl_url, `https://site.test:${httpsPort}`);
  });

  it("redirects aliases and www to the primary domain over HTTPS, forces HTTPS, sends opt-in HSTS, and speaks HTTP/2", async () => {
    for (const host of ["alias.site.test", "www.site.test"]) {
      const res = await tlsGet(httpsPort, host, root, "/x?y=1");
      assert.equal(res.status, 301, host);
      assert.equal(res.headers.location, `https://site.test:${httpsPort}/x?y=1`);
      const plain = await rawRequest(httpPort, host, "/x");
      assert.equal(plain.headers.location, `https://site.test:${httpsPort}/x`);
    }
    assert.equal((await rawRequest(httpPort, "site.test", "/")).status, 200, "no force_ssl yet");
    const patched = await t.api("PATCH", `/sites/${siteId}`, {
      token: alice.token,
      body: { force_ssl: true, hsts_max_age: 31536000 },
    });
    assert.equal(patched.status, 200, patched.text);
    const forced = await rawRequest(httpPort, "site.test", "/page?q=1");
    assert.equal(forced.status, 301);
    assert.equal(forced.headers.location, `https://site.test:${httpsPort}/page?q=1`);
    // The ACME challenge path is still answered over plain HTTP (not redirected).
    const probe = await rawRequest(
      httpPort,
      "site.test",
      "/.well-known/acme-challenge/unknown-token",
    );
    assert.notEqual(probe.status, 200);
    const secure = await tlsGet(httpsPort, "site.test", root);
    assert.equal(secure.headers["strict-transport-security"], "max-age=31536000");

    const session = http2Connect(`https://127.0.0.1:${httpsPort}`, {
      ca: root,
      servername: "site.test",
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/", ":authority": "site.test" });
      let data = "";
      req.on("data", (c: Buffer) => (data += c.toString()));
      req.on("end", () => resolve(data));
      req.on("error", reject);
    });
    session.close();
    assert.equal(body, "<h1>shop over TLS</h1>");
  });

  it("renews (forced) and swaps the certificate while a keep-alive client keeps working", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: root });
    const get = () =>
      new Promise<{ status: number; body: string; serial: string; reused: boolean }>(
        (resolve, reject) => {
          const req = httpsRequest(
            {
              host: "127.0.0.1",
              port: httpsPort,
              servername: "site.test",
              headers: { host: "site.test" },
              path: "/",
              agent,
            },
            (res) => {
              let body = "";
              const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
              res.on("data", (c: Buffer) => (body += c.toString()));
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, body, serial, reused: req.reusedSocket }),
              );
            },
          );
          req.on("error", reject);
          req.end();
        },
      );
    const first = await get();
    assert.equal(first.status, 200);
    const before = await ssl(siteId);
    const renew = await t.api("POST", `/sites/${siteId}/ssl/renew`, { token: alice.token });
    assert.equal(renew.status, 200, renew.text);
    const renewed = await poll(
      async () => {
        const now = await ssl(siteId);
        return now.state === "active" &&
          now.updated_at !== before.updated_at &&
          now.expires_at !== null
          ? now
          : undefined;
      },
      "the renewed certificate",
      60_000,
      200,
    );
    assert.equal(renewed.source, "acme");
    // The old connection is still open and serves.
    const again = await get();
    assert.equal(again.status, 200);
    assert.equal(again.reused, true, "the keep-alive connection was kept");
    assert.equal(again.serial, first.serial, "an open connection keeps its certificate");
    // A new connection gets the new certificate.
    const fresh = await poll(
      async () => {
        const res = await tlsGet(httpsPort, "site.test", root);
        return res.certificate.serialNumber !== first.serial ? res : undefined;
      },
      "a new handshake with the new certificate",
      10_000,
      100,
    );
    assert.equal(fresh.status, 200);
    agent.destroy();
  });

  it("says which DNS record to create when a domain does not reach this Slipway, and orders nothing", async () => {
    const created = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "nowhere", custom_domain: "nowhere.test" },
    });
    assert.equal(created.status, 201);
    const failed = await poll(
      async () => {
        const rows = await domains(created.body.id);
        const row = rows.find((d) => d.domain === "nowhere.test");
        return row?.state === "failed" ? row : undefined;
      },
      "the domain to fail its check",
      30_000,
      200,
    );
    assert.match(failed.reason ?? "", /nowhere\.test does not resolve/);
    assert.match(failed.reason ?? "", /point an A record for nowhere\.test at 127\.0\.0\.1/);
    const cert = await ssl(created.body.id);
    assert.equal(cert.state, "failed");
    assert.equal(cert.expires_at, null);
    assert.ok(
      !t.logs.some((l) => l.includes("ordering a certificate") && l.includes("nowhere.test")),
      "no order was placed",
    );
    assert.ok(!(await pebble.log()).includes("nowhere.test"), "pebble never heard of it");
  });

  it("serves a certificate the user uploads", async () => {
    const created = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "own-cert", custom_domain: "own.test" },
    });
    await publishFiles(t, alice.token, created.body.id, { "index.html": "own certificate" });
    const mine = await selfSigned(pebble.dir, ["own.test", "www.own.test"], { name: "own" });
    const res = await t.api<SslBody>("POST", `/sites/${created.body.id}/ssl`, {
      token: alice.token,
      body: { certificate: mine.certPem, key: mine.keyPem },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.state, "custom");
    const served = await tlsGet(httpsPort, "own.test", mine.certPem);
    assert.equal(served.status, 200);
    assert.equal(served.body, "own certificate");
  });

  it("renews by itself once two thirds of the certificate's lifetime have passed (the durable sweep)", async () => {
    const before = await ssl(siteId);
    // Two thirds are over: what the sweep sees on a certificate that is getting old.
    await t.platform.ctx.db
      .updateTable("site_certificates")
      .set({ renew_at: new Date(Date.now() - 1000).toISOString() })
      .where("site_id", "=", siteId)
      .execute();
    const renewed = await poll(
      async () => {
        const now = await ssl(siteId);
        return now.state === "active" && now.updated_at !== before.updated_at ? now : undefined;
      },
      "the scheduled renewal",
      60_000,
      200,
    );
    assert.ok(renewed.renew_at !== null && Date.parse(renewed.renew_at) > Date.now());
    const jobs = await t.platform.ctx.db
      .selectFrom("jobs")
      .select(["queue", "state"])
      .where("queue", "=", "certificate")
      .execute();
    assert.ok(
      jobs.every((j) => j.state === "completed"),
      JSON.stringify(jobs),
    );
  });

  it("backs off after a failed order instead of retrying in a loop, and says why", async () => {
    await pebble.addA("later.test");
    await pebble.stopCa();
    const created = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "later", custom_domain: "later.test" },
    });
    assert.equal(created.status, 201);
    const failed = await poll(
      async () => {
        const row = (await domains(created.body.id)).find((d) => d.domain === "later.test");
        return row?.state === "failed" ? row : undefined;
      },
      "the order to fail",
      60_000,
      200,
    );
    assert.match(failed.reason ?? "", /the CA did not issue the certificate: .*cannot be reached/);
    assert.match(failed.reason ?? "", /Slipway tries again at/);
    const first = await t.platform.ctx.db
      .selectFrom("site_certificates")
      .selectAll()
      .where("site_id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(first.attempts, 1);
    const wait = Date.parse(first.next_attempt_at!) - Date.now();
    assert.ok(wait > 4 * 60_000, `the next attempt waits minutes (${wait} ms)`);
    // The sweep runs every 200 ms here: nothing runs again before the backoff is over.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const later = await t.platform.ctx.db
      .selectFrom("site_certificates")
      .select("attempts")
      .where("site_id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(later.attempts, 1);
  });

  it("shows a renewal that fails while the current certificate still serves", async () => {
    // The CA is down since the test above.
    await t.platform.ctx.db
      .updateTable("site_certificates")
      .set({ renew_at: new Date(Date.now() - 1000).toISOString() })
      .where("site_id", "=", siteId)
      .execute();
    const failing = await poll(
      async () => {
        const now = await ssl(siteId);
        return now.state === "renewing" && now.reason !== null ? now : undefined;
      },
      "the renewal to fail",
      60_000,
      200,
    );
    assert.match(failing.reason ?? "", /renewal failed \(1 in a row\): .*cannot be reached/);
    assert.match(failing.reason ?? "", /The current certificate stays in use until/);
    const row = (await domains(siteId)).find((d) => d.domain === "site.test");
    assert.equal(row?.state, "renewing");
    assert.match(row?.reason ?? "", /renewal failed/);
    const served = await tlsGet(httpsPort, "site.test", root);
    assert.equal(served.status, 200, "the current certificate still serves");
  });

  it("keeps certificates and a pending renewal across a restart, and serves them at once", async () => {
    const before = await ssl(siteId);
    const responses = t.responses;
    const logs = t.logs;
    await t.stop();
    t = await start();
    // What the key check below reads includes both runs.
    t.responses.unshift(...responses);
    t.logs.unshift(...logs);
    const after = await ssl(siteId);
    assert.equal(after.state, "renewing");
    assert.equal(after.reason, before.reason);
    assert.equal(after.next_attempt_at, before.next_attempt_at, "the backoff is kept");
    const served = await tlsGet(t.platform.ports.https!, "site.test", root);
    assert.equal(served.status, 200);
    assert.equal(served.body, "<h1>shop over TLS</h1>");
  });

  it("never shows a private key in an API response, a log line or the database file", async () => {
    const rows = await t.platform.ctx.db.selectFrom("site_certificates").selectAll().execute();
    const keys = rows
      .filter((r) => r.private_key_sealed !== null)
      .map((r) =>
        t.platform.ctx.secrets.open(r.private_key_sealed!, `site_certificate:${r.site_id}`),
      );
    const account = await t.platform.ctx.db.selectFrom("acme_accounts").selectAll().execute();
    keys.push(
      ...account.map((a) =>
        t.platform.ctx.secrets.open(a.key_sealed, `acme_account:${a.directory_url}`),
      ),
    );
    assert.ok(keys.length >= 3);
    const database = (await readFile(join(t.dataDir, "platform.sqlite3"))).toString("latin1");
    for (const key of keys) {
      const body = key.split("\n").slice(1, -2).join("");
      assert.ok(body.length > 40);
      const line = key.split("\n")[1]!;
      assert.ok(!t.responses.some((r) => r.includes(line)), "not in a response");
      assert.ok(!t.logs.some((l) => l.includes(line)), "not in a log line");
      assert.ok(!database.includes(line), "not in the database file");
    }
  });
});
