import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithClient } from "../test/render.tsx";
import type { AuditEntry } from "../lib/types.ts";
import { AuditPage } from "./audit.tsx";

const entry = (id: number, action: string, extra: Partial<AuditEntry["payload"]> = {}) => ({
  id: String(id),
  account_id: "acc1",
  payload: {
    actor_id: "u1",
    actor_name: "Alice",
    actor_email: "alice@example.test",
    action,
    timestamp: new Date().toISOString(),
    log_type: action.split(".")[0]!,
    actor_kind: "user" as const,
    actor_via: "session" as const,
    target_type: "site",
    target_id: "s1",
    target_name: "blog",
    route: null,
    changed_fields: [],
    result: "success" as const,
    reason: null,
    source_address: "192.0.2.7",
    ...extra,
  },
});

describe("the audit log page", () => {
  it("lists the account's events with who, what, the result and where from; filters by kind", async () => {
    const sent = fakeApi((request) => {
      if (request.path === "/accounts") {
        return {
          body: [{ id: "acc1", name: "Alice", slug: "alice", role: "Owner", default: true }],
        };
      }
      if (request.path.startsWith("/accounts/alice/audit")) {
        const env = request.path.includes("log_type=env");
        return {
          body: env
            ? [
                entry(3, "env.create", {
                  target_type: "site_env",
                  target_name: "API_KEY",
                  changed_fields: ["key", "values"],
                }),
              ]
            : [
                entry(2, "api.delete", {
                  result: "failure",
                  reason: "Site not found",
                  route: "DELETE /api/v1/sites/:site_id",
                }),
                entry(1, "site.create", { changed_fields: ["name"] }),
              ],
        };
      }
      return undefined;
    });
    renderWithClient(<AuditPage />);
    const refused = await screen.findByRole("row", { name: /api\.delete/ });
    expect(refused.textContent).toContain("refused");
    expect(refused.textContent).toContain("Site not found");
    expect(refused.textContent).toContain("DELETE /api/v1/sites/:site_id");
    const created = screen.getByRole("row", { name: /site\.create/ });
    expect(created.textContent).toContain("alice@example.test");
    expect(created.textContent).toContain("site blog");
    expect(created.textContent).toContain("192.0.2.7");

    await userEvent.setup().selectOptions(screen.getByLabelText("Kind of change"), "env");
    const env = await screen.findByRole("row", { name: /env\.create/ });
    expect(env.textContent).toContain("key, values");
    expect(
      sent.some((r) => r.path === "/accounts/alice/audit?page=1&per_page=50&log_type=env"),
    ).toBe(true);
  });
});
