import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { missingAcmeTools, preparePebble, selfSigned, type Pebble } from "../helpers/acme.ts";
import { chromiumAvailable } from "../helpers/browser.ts";
import { openDashboard, signInWithToken, type DashboardBrowser } from "../helpers/dashboard.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

/**
 * The domains page in a real browser against a platform with ACME on and its DNS checks asked of
 * `pebble-challtestsrv` (which knows none of these names): a domain that does not resolve shows
 * Slipway's DNS advice word for word; an uploaded certificate shows its issuer, names and expiry,
 * and the domains it covers become active; force HTTPS and HSTS are saved. No order is placed
 * (the CA itself never runs here).
 */

const missing = !chromiumAvailable()
  ? "Chromium is not installed (apt-get install chromium)"
  : await missingAcmeTools();

describe("the domains page in a real browser", { skip: missing }, () => {
  let dns: Pebble;
  let platform: TestPlatform;
  let view: DashboardBrowser;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-domains-e2e-"));
    dns = await preparePebble();
    platform = await startTestPlatform({
      config: {
        domains: {
          httpPort: undefined,
          httpsPort: 0,
          acme: {
            // Never reached: no name here resolves, so no order is placed.
            directoryUrl: "https://127.0.0.1:9/dir",
            email: "ops@shop.test",
            caFile: dns.caFile,
            challengePort: undefined,
          },
          dnsServers: [dns.dnsServer],
          publicAddresses: ["127.0.0.1"],
          sitesCertFile: undefined,
          sitesKeyFile: undefined,
          trustedProxies: [],
        },
      },
      platform: { edgeTtlMs: 0, certificateSweepMs: 200 },
    });
    const created = await platform.api("POST", "/sites", { body: { name: "shop" } });
    assert.equal(created.status, 201, created.text);
    view = await openDashboard();
    await signInWithToken(view.page, platform);
  });

  after(async () => {
    await view?.close();
    await platform?.stop();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("says what to do before there is a domain", async () => {
    const { page, see } = view;
    await page.goto(`${platform.url}/sites/shop`);
    await page.getByRole("link", { name: "Domains", exact: true }).click();
    await page.waitForURL(/\/sites\/shop\/domains$/);
    await see("No custom domain yet");
    await see("No certificate");
    assert.equal(
      await page.locator(".alert-error").count(),
      0,
      "no error for the missing certificate",
    );
    // An address is not a domain: the API's words, at the field.
    await page.getByLabel("Primary domain").fill("192.0.2.7");
    await page.getByRole("button", { name: "Save domains" }).click();
    await see(/"192\.0\.2\.7" is an IP address; a custom domain must be a DNS name/);
    assert.equal(await page.getByLabel("Primary domain").getAttribute("aria-invalid"), "true");
    await view.shot("domains-empty", { fullPage: true });
  });

  it("shows a domain that does not resolve here as failed, with the DNS record to create", async () => {
    const { page, see } = view;
    await page.getByLabel("Primary domain").fill("shop.test");
    await page.getByLabel("Aliases").fill("*.shop.test");
    await page.getByRole("button", { name: "Save domains" }).click();
    await see("Saved. Slipway checks the new names now.");
    const row = page.locator('[data-domain="shop.test"]');
    await row.locator('.badge[data-state="failed"]').waitFor({ timeout: 30_000 });
    const reason = await row.locator(".domain-reason").innerText();
    const api = await platform.api<Array<{ domain: string; reason: string }>>(
      "GET",
      "/sites/shop/domains",
    );
    assert.equal(reason, api.body.find((d) => d.domain === "shop.test")?.reason, "word for word");
    assert.match(reason, /shop\.test does not resolve/);
    assert.match(reason, /point an A record for shop\.test at 127\.0\.0\.1/);
    // The wildcard says why it gets no automatic certificate.
    await page
      .locator('[data-domain="*.shop.test"]')
      .getByText(/a wildcard certificate cannot be obtained over http-01/)
      .waitFor();
    await view.shot("domains-dns-advice", { fullPage: true });
  });

  it("uploads a certificate: its issuer, names and expiry show, and the names it covers are active", async () => {
    const { page, see } = view;
    const cert = await selfSigned(dir, ["shop.test", "www.shop.test"], { days: 45 });
    const open = page.getByRole("button", { name: "Upload a certificate" });
    await open.click();
    const dialog = page.getByRole("dialog", { name: "Upload a certificate" });
    await dialog.waitFor();
    // A key that is not a key: refused by name, nothing stored.
    await dialog.getByLabel("Certificate", { exact: true }).fill(cert.certPem);
    await dialog.getByLabel("Private key", { exact: true }).fill("not a key");
    await dialog.getByRole("button", { name: "Upload certificate" }).click();
    await dialog
      .getByText(/is not a PEM private key/)
      .first()
      .waitFor();
    await dialog.getByLabel("Private key", { exact: true }).fill(cert.keyPem);
    await dialog.getByRole("button", { name: "Upload certificate" }).click();
    await dialog.waitFor({ state: "hidden" });

    const expires = page.getByTestId("cert-expires");
    await expires.waitFor();
    const ssl = await platform.api<{ expires_at: string; domains: string[]; issuer: string }>(
      "GET",
      "/sites/shop/ssl",
    );
    assert.match(
      await expires.innerText(),
      new RegExp(`^${ssl.body.expires_at.slice(0, 10)} \\(in 4[45] days\\)$`),
    );
    const facts = await page.locator('[aria-label="Certificate details"]').innerText();
    assert.match(facts, /CN=shop\.test/, "the issuer");
    assert.match(facts, /uploaded/);
    for (const name of ssl.body.domains) assert.ok(facts.includes(name), `${name} in ${facts}`);
    await page.locator('[data-domain="shop.test"] .badge[data-state="active"]').waitFor({
      timeout: 15_000,
    });
    await see(/Remove uploaded certificate/);
  });

  it("saves force HTTPS and HSTS", async () => {
    const { page } = view;
    await page.getByRole("checkbox", { name: /Force HTTPS/ }).check();
    await page.getByRole("checkbox", { name: /^HSTS/ }).check();
    await page.getByLabel("HSTS max-age").selectOption("300");
    await page.getByRole("button", { name: "Save HTTPS settings" }).click();
    await page.getByRole("form", { name: "HTTPS settings" }).getByText("Saved.").waitFor();
    const site = await platform.api<{ force_ssl: boolean; hsts_max_age: number | null }>(
      "GET",
      "/sites/shop",
    );
    assert.equal(site.body.force_ssl, true);
    assert.equal(site.body.hsts_max_age, 300);
    await view.shot("domains", { fullPage: true });
  });

  it("works at phone width and in dark mode", async () => {
    const phone = await view.browser.newContext({ phone: true, dark: true });
    await phone.addCookies(await view.context.cookies());
    const tab = await phone.newPage();
    await tab.goto(`${platform.url}/sites/shop/domains`);
    await tab.locator('[data-domain="shop.test"]').waitFor();
    await tab.getByTestId("cert-expires").waitFor();
    const overflow = await tab.evaluate("document.documentElement.scrollWidth > window.innerWidth");
    assert.equal(overflow, false, "nothing wider than the phone");
    await view.shot("phone-dark-domains", { target: tab, fullPage: true });
    await phone.close();
    assert.deepEqual(view.errors, [], "no uncaught errors in the page");
  });
});
