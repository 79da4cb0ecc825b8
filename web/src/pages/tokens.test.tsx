import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithClient, type SentRequest } from "../test/render.tsx";
import type { AccessToken } from "../lib/types.ts";
import { TokensPage } from "./tokens.tsx";

const SECRET = "slp_0123456789abcdefghijklmnopqrstuvwxyz";

/** The access tokens API: the list never holds a token's value; creating answers it once. */
function tokensApi() {
  const tokens: (AccessToken & { scope: string })[] = [];
  const sent = fakeApi((request: SentRequest) => {
    if (request.method === "GET" && request.path === "/access_tokens") return { body: tokens };
    if (request.method === "POST" && request.path === "/access_tokens") {
      const { name, scope, expires_in_days } = request.body as {
        name: string;
        scope?: string;
        expires_in_days?: number;
      };
      const token: AccessToken & { scope: string } = {
        id: `t${tokens.length + 1}`,
        name,
        created_at: new Date().toISOString(),
        expires_at: expires_in_days ? "2030-01-01T00:00:00.000Z" : null,
        last_used_at: null,
        current: false,
        scope: scope ?? "all",
      };
      tokens.push(token);
      return { status: 201, body: { ...token, token: SECRET } };
    }
    return undefined;
  });
  return { sent };
}

describe("the access tokens page", () => {
  it("shows a new token once, and only in the notice that says so", async () => {
    const { sent } = tokensApi();
    const page = renderWithClient(<TokensPage />);
    const user = userEvent.setup();
    await screen.findByText("You have no tokens");
    await user.type(screen.getByLabelText("Name"), "laptop");
    await user.click(screen.getByRole("button", { name: "Create token" }));

    const notice = (await screen.findByText(/Copy the token now/)).closest("[role=status]");
    expect(notice).not.toBeNull();
    expect(within(notice as HTMLElement).getByText(SECRET)).toBeTruthy();
    const row = await screen.findByRole("row", { name: /laptop/ });
    expect(row.textContent).not.toContain(SECRET);
    expect(screen.getAllByText(SECRET)).toHaveLength(1);
    expect(sent.find((r) => r.method === "POST")?.body).toEqual({ name: "laptop" });
    // The value is kept nowhere it could be shown again (the cached list has no value).
    expect(JSON.stringify(page.client.getQueryData(["access-tokens"]))).not.toContain(SECRET);

    // Leaving the page and coming back (same app, same cache): listed, its value gone.
    page.show(<p>another page</p>);
    expect(screen.queryByText(SECRET)).toBeNull();
    page.show(<TokensPage />);
    await screen.findByRole("row", { name: /laptop/ });
    expect(screen.queryByText(SECRET)).toBeNull();
    expect(screen.queryByText(/Copy the token now/)).toBeNull();
  });

  it("creates a deploy-only token with an expiry, and lists its scope", async () => {
    const { sent } = tokensApi();
    renderWithClient(<TokensPage />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "ci");
    await user.selectOptions(screen.getByLabelText("Expires"), "30");
    await user.selectOptions(screen.getByLabelText("Scope"), "deploy");
    await user.click(screen.getByRole("button", { name: "Create token" }));
    const row = await screen.findByRole("row", { name: /ci/ });
    expect(row.textContent).toContain("deploy (CI)");
    expect(sent.find((r) => r.method === "POST")?.body).toEqual({
      name: "ci",
      expires_in_days: 30,
      scope: "deploy",
    });
  });

  it("asks before revoking, and No gives the focus back to Revoke", async () => {
    tokensApi();
    renderWithClient(<TokensPage />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "ci");
    await user.click(screen.getByRole("button", { name: "Create token" }));
    const revoke = await screen.findByRole("button", { name: "Revoke" });
    await user.click(revoke);
    expect(screen.getByRole("group", { name: /Revoke ci\?/ })).toBeTruthy();
    expect(document.activeElement?.textContent).toBe("Yes");
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("group", { name: /Revoke ci\?/ })).toBeNull();
    expect(document.activeElement?.textContent).toBe("Revoke");
  });
});
