import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Certificate, SiteDomain } from "../lib/types.ts";
import { siteFixture } from "../test/fixtures.ts";
import { fakeApi, renderWithClient, type FakeAnswer } from "../test/render.tsx";
import { Domains } from "./domains.tsx";

const SITE = siteFixture({ custom_domain: "shop.example", domain_aliases: ["old.example"] });
const BASE = `/sites/${SITE.id}`;

const DNS_ADVICE =
  "shop.example does not resolve (no A or AAAA record, asked 127.0.0.1:53); point an A record for shop.example at 192.0.2.7. No certificate was requested; Slipway checks again later";

function domain(overrides: Partial<SiteDomain>): SiteDomain {
  return {
    domain: "shop.example",
    kind: "primary",
    state: "pending_dns",
    reason: null,
    checked_at: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}

function certificate(overrides: Partial<Certificate>): Certificate {
  return {
    state: "active",
    domains: ["shop.example"],
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    expires_at: null,
    source: "acme",
    reason: null,
    issued_at: null,
    renew_at: null,
    next_attempt_at: null,
    renewal_failures: 0,
    issuer: null,
    ...overrides,
  };
}

const NO_CERTIFICATE: FakeAnswer = {
  status: 404,
  body: { code: 404, message: "The site has no certificate: it has no custom domain." },
};

describe("the domains page", () => {
  it("says what to do when the site has no custom domain", async () => {
    fakeApi((r) => {
      if (r.path === `${BASE}/domains`) return { body: [] };
      if (r.path === `${BASE}/ssl`) return NO_CERTIFICATE;
      return undefined;
    });
    renderWithClient(<Domains site={siteFixture()} />);
    await screen.findByText("No custom domain yet");
    expect(screen.getByText(/enter it above as the primary domain/)).toBeTruthy();
    expect(await screen.findByText("No certificate")).toBeTruthy();
    // A 404 for the certificate is "none", not an error.
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("follows a domain's check until it ends, showing Slipway's reason word for word", async () => {
    let checks = 0;
    fakeApi((r) => {
      if (r.path === `${BASE}/domains`) {
        checks += 1;
        return {
          body: [
            checks === 1
              ? domain({ state: "verifying" })
              : domain({
                  state: "failed",
                  reason: DNS_ADVICE,
                  checked_at: new Date().toISOString(),
                }),
          ],
        };
      }
      if (r.path === `${BASE}/ssl`) return { body: certificate({ state: "failed" }) };
      return undefined;
    });
    renderWithClient(<Domains site={SITE} />);
    const row = () => document.querySelector('[data-domain="shop.example"]') as HTMLElement;
    await waitFor(() => expect(row()).not.toBeNull());
    expect(within(row()).getByText("verifying")).toBeTruthy();
    // No reload: the page asks again while the state is moving.
    await within(row()).findByText(DNS_ADVICE, undefined, { timeout: 5000 });
    expect(within(row()).getByText("failed")).toBeTruthy();
  });

  it("shows a failing renewal first, with the date the certificate expires", async () => {
    const expires = new Date(Date.now() + 20 * 86_400_000).toISOString();
    const reason =
      "renewal failed (3 in a row): the CA cannot be reached. The current certificate stays in use";
    fakeApi((r) => {
      if (r.path === `${BASE}/domains`) return { body: [domain({ state: "renewing", reason })] };
      if (r.path === `${BASE}/ssl`) {
        return {
          body: certificate({
            state: "renewing",
            renewal_failures: 3,
            reason,
            expires_at: expires,
            issuer: "C=US, O=Let's Encrypt, CN=R11",
          }),
        };
      }
      return undefined;
    });
    renderWithClient(<Domains site={SITE} />);
    const alert = await screen.findByTestId("renewal-failing");
    expect(alert.getAttribute("role")).toBe("alert");
    expect(alert.textContent).toContain("Renewal is failing (3 tries in a row)");
    expect(alert.textContent).toContain(`expires on ${expires.slice(0, 10)} (in 20 days)`);
    expect(alert.textContent).toContain(reason);
    expect(screen.getByText("C=US, O=Let's Encrypt, CN=R11")).toBeTruthy();
  });

  it("saves the primary domain and aliases, and shows a refusal as the API words it", async () => {
    const sent = fakeApi((r) => {
      if (r.path === `${BASE}/domains`) return { body: [] };
      if (r.path === `${BASE}/ssl`) return NO_CERTIFICATE;
      if (r.method === "PATCH" && r.path === BASE) {
        const body = r.body as { domain_aliases: string[] };
        if (body.domain_aliases.includes("a.*.example")) {
          return {
            status: 422,
            body: {
              code: 422,
              message: "domain_aliases.1 a.*.example: a wildcard must be the whole first label",
              field: "domain_aliases.1",
            },
          };
        }
        return { body: { ...SITE, ...(r.body as object) } };
      }
      return undefined;
    });
    renderWithClient(<Domains site={siteFixture()} />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Primary domain"), "shop.example");
    await user.type(screen.getByLabelText("Aliases"), "old.example{Enter}a.*.example");
    await user.click(screen.getByRole("button", { name: "Save domains" }));
    const aliases = screen.getByLabelText("Aliases");
    await waitFor(() => expect(aliases.getAttribute("aria-invalid")).toBe("true"));
    expect(screen.getAllByText(/a wildcard must be the whole first label/).length).toBeGreaterThan(
      0,
    );
    await user.clear(aliases);
    await user.type(aliases, "old.example");
    await user.click(screen.getByRole("button", { name: "Save domains" }));
    await screen.findByText("Saved. Slipway checks the new names now.");
    expect(sent.filter((r) => r.method === "PATCH").map((r) => r.body)).toEqual([
      { custom_domain: "shop.example", domain_aliases: ["old.example", "a.*.example"] },
      { custom_domain: "shop.example", domain_aliases: ["old.example"] },
    ]);
  });

  it("uploads a certificate from the dialog's fields; a refused key is named", async () => {
    const sent = fakeApi((r) => {
      if (r.path === `${BASE}/domains`) return { body: [] };
      if (r.path === `${BASE}/ssl` && r.method === "GET") return NO_CERTIFICATE;
      if (r.path === `${BASE}/ssl` && r.method === "POST") {
        return {
          status: 422,
          body: {
            code: 422,
            message: "key does not match the certificate",
            field: "key",
          },
        };
      }
      return undefined;
    });
    renderWithClient(<Domains site={SITE} />);
    const user = userEvent.setup();
    const open = await screen.findByRole("button", { name: "Upload a certificate" });
    await user.click(open);
    // The focus moved into the dialog, on its first field.
    expect(document.activeElement).toBe(screen.getByRole("textbox", { name: "Certificate" }));
    await user.type(screen.getByRole("textbox", { name: "Certificate" }), "CERT");
    await user.type(screen.getByLabelText("Private key"), "KEY");
    await user.click(screen.getByRole("button", { name: "Upload certificate" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Private key").getAttribute("aria-invalid")).toBe("true"),
    );
    expect(sent.find((r) => r.method === "POST")?.body).toEqual({
      certificate: "CERT",
      key: "KEY",
    });
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(document.activeElement).toBe(open);
  });
});
