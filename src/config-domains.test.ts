import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, LETS_ENCRYPT_PRODUCTION, loadConfig } from "./config.ts";

describe("loadConfig: domains, certificates and the public listeners", () => {
  it("has the documented defaults", () => {
    const { domains } = loadConfig({}).platform;
    assert.ok(domains);
    assert.equal(domains.httpPort, undefined, "sites and challenges on SLIPWAY_PORT");
    assert.equal(domains.httpsPort, 8443);
    assert.deepEqual(domains.acme, {
      directoryUrl: LETS_ENCRYPT_PRODUCTION,
      email: undefined,
      caFile: undefined,
      challengePort: 80,
    });
    assert.deepEqual(domains.dnsServers, []);
    assert.deepEqual(domains.publicAddresses, []);
    assert.deepEqual(domains.trustedProxies, []);
  });

  it("reads every variable", () => {
    const { domains } = loadConfig({
      SLIPWAY_HTTP_PORT: "80",
      SLIPWAY_HTTPS_PORT: "443",
      SLIPWAY_ACME_DIRECTORY_URL: "https://acme-staging-v02.api.letsencrypt.org/directory",
      SLIPWAY_ACME_EMAIL: "ops@example.com",
      SLIPWAY_ACME_CA_FILE: "/etc/slipway/acme-ca.pem",
      SLIPWAY_ACME_CHALLENGE_PORT: "5002",
      SLIPWAY_DNS_SERVERS: "127.0.0.1:5353, 9.9.9.9",
      SLIPWAY_PUBLIC_ADDRESSES: "192.0.2.7,2001:db8::7",
      SLIPWAY_SITES_CERT_FILE: "/etc/slipway/sites.crt",
      SLIPWAY_SITES_KEY_FILE: "/etc/slipway/sites.key",
      SLIPWAY_TRUSTED_PROXIES: "127.0.0.1",
    }).platform;
    assert.ok(domains?.acme);
    assert.equal(domains.httpPort, 80);
    assert.equal(domains.httpsPort, 443);
    assert.equal(domains.acme.email, "ops@example.com");
    assert.equal(domains.acme.caFile, "/etc/slipway/acme-ca.pem");
    assert.equal(domains.acme.challengePort, 5002);
    assert.deepEqual(domains.dnsServers, ["127.0.0.1:5353", "9.9.9.9"]);
    assert.deepEqual(domains.publicAddresses, ["192.0.2.7", "2001:db8::7"]);
    assert.equal(domains.sitesCertFile, "/etc/slipway/sites.crt");
    assert.deepEqual(domains.trustedProxies, ["127.0.0.1"]);
    const off = loadConfig({ SLIPWAY_HTTPS_PORT: "off", SLIPWAY_ACME_DIRECTORY_URL: "off" });
    assert.equal(off.platform.domains?.httpsPort, null);
    assert.equal(off.platform.domains?.acme, null);
  });

  it("names the variable and the problem for a bad value", () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ SLIPWAY_HTTPS_PORT: "https" }, /SLIPWAY_HTTPS_PORT="https" is not a TCP port/],
      [{ SLIPWAY_HTTP_PORT: "99999" }, /SLIPWAY_HTTP_PORT/],
      [{ SLIPWAY_ACME_DIRECTORY_URL: "ftp://x" }, /http:\/\/ or https:\/\//],
      [{ SLIPWAY_ACME_EMAIL: "not-mail" }, /SLIPWAY_ACME_EMAIL="not-mail" is not an e-mail/],
      [{ SLIPWAY_DNS_SERVERS: "1.2.3.4:99999" }, /SLIPWAY_DNS_SERVERS/],
      [
        { SLIPWAY_PUBLIC_ADDRESSES: "example.com" },
        /SLIPWAY_PUBLIC_ADDRESSES: "example.com" is not an IP/,
      ],
      [{ SLIPWAY_SITES_CERT_FILE: "/x.crt" }, /go together/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        JSON.stringify(env),
      );
    }
  });
});
