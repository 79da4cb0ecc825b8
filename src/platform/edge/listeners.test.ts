import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  freePort,
  missingAcmeTools,
  publishFiles,
  selfSigned,
  tlsGet,
} from "../../../test/helpers/acme.ts";
import { rawRequest } from "../../../test/helpers/edge.ts";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";

/**
 * The public listeners of a production set-up: sites and challenges on their own HTTP port (the
 * API private on its port), HTTPS with the operator's wildcard certificate for the sites domain,
 * the API over HTTPS when its public URL is https, and `X-Forwarded-Proto` believed only from a
 * trusted proxy.
 */
const missing = (await missingAcmeTools())?.includes("openssl")
  ? "openssl is not installed"
  : undefined;

describe("public listeners", { skip: missing }, () => {
  let t: TestPlatform;
  let dir: string;
  let sitesCert: string;
  let publicPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-listeners-"));
    const wildcard = await selfSigned(dir, ["*.sites.test", "api.sites.test"], { name: "sites" });
    sitesCert = wildcard.certPem;
    publicPort = await freePort();
    t = await startTestPlatform({
      config: {
        sitesDomain: "sites.test",
        publicUrl: "https://api.sites.test",
        domains: {
          httpPort: publicPort,
          httpsPort: 0,
          acme: null,
          dnsServers: [],
          publicAddresses: [],
          sitesCertFile: wildcard.certFile,
          sitesKeyFile: wildcard.keyFile,
          trustedProxies: ["127.0.0.1"],
        },
      },
      platform: { buildWorkers: false, edgeTtlMs: 0 },
    });
    const site = await t.api<{ id: string }>("POST", "/sites", {
      body: { name: "blog", custom_domain: "blog.example.com", force_ssl: true },
    });
    assert.equal(site.status, 201, site.text);
    await publishFiles(t, t.adminToken, site.body.id, { "index.html": "the blog" });
    const mine = await selfSigned(dir, ["blog.example.com"], { name: "blog" });
    const upload = await t.api("POST", `/sites/${site.body.id}/ssl`, {
      body: { certificate: mine.certPem, key: mine.keyPem },
    });
    assert.equal(upload.status, 200, upload.text);
  });
  after(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves sites and challenges on SLIPWAY_HTTP_PORT, and keeps the API off it", async () => {
    assert.equal(t.platform.ports.http, publicPort);
    const site = await rawRequest(publicPort, "blog.sites.test", "/");
    assert.equal(site.text, "the blog");
    const api = await rawRequest(publicPort, "api.sites.test", "/api/v1/user");
    assert.equal(api.status, 404);
    assert.match(api.text, /No site is served at api\.sites\.test/);
    const apiPort = Number(new URL(t.url).port);
    assert.equal((await rawRequest(apiPort, "api.sites.test", "/healthz")).status, 200);
  });

  it("serves the sites domain with the operator's wildcard certificate over HTTPS", async () => {
    const res = await tlsGet(t.platform.ports.https!, "blog.sites.test", sitesCert);
    assert.equal(res.status, 200);
    assert.equal(res.body, "the blog");
    assert.match(res.certificate.subjectaltname ?? "", /\*\.sites\.test/);
  });

  it("refuses the handshake for a name without a certificate, and logs why", async () => {
    await assert.rejects(tlsGet(t.platform.ports.https!, "nobody.example.net", sitesCert));
    assert.ok(
      t.logs.some((l) => l.includes("refused a handshake for nobody.example.net")),
      "the log says which name and why",
    );
  });

  it("believes X-Forwarded-Proto only from a trusted proxy (force_ssl)", async () => {
    // From 127.0.0.1 (trusted here): already HTTPS at the proxy, so no redirect.
    const viaProxy = await rawRequest(publicPort, "blog.example.com", "/", {
      headers: { "x-forwarded-proto": "https" },
    });
    assert.equal(viaProxy.status, 200);
    const direct = await rawRequest(publicPort, "blog.example.com", "/");
    assert.equal(direct.status, 301);
    assert.equal(direct.headers.location, `https://blog.example.com:${t.platform.ports.https}/`);
  });

  it("answers the API over HTTPS (HTTP/1.1 and HTTP/2) when its public URL is https", async () => {
    const res = await tlsGet(t.platform.ports.https!, "api.sites.test", sitesCert, "/healthz");
    assert.equal(res.status, 200);
    assert.match(res.body, /"ok"/);
    const session = http2Connect(`https://127.0.0.1:${t.platform.ports.https}`, {
      ca: sitesCert,
      servername: "api.sites.test",
    });
    const { status, body } = await new Promise<{ status: number; body: string }>(
      (resolve, reject) => {
        const req = session.request({
          ":path": "/api/v1/user",
          ":authority": "api.sites.test",
          authorization: `Bearer ${t.adminToken}`,
        });
        let data = "";
        let code = 0;
        req.on("response", (headers) => (code = Number(headers[":status"])));
        req.on("data", (c: Buffer) => (data += c.toString()));
        req.on("end", () => resolve({ status: code, body: data }));
        req.on("error", reject);
      },
    );
    session.close();
    assert.equal(status, 200, body);
    assert.match(body, /admin/);
  });
});
