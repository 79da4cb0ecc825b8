import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithClient } from "../test/render.tsx";
import { siteFixture } from "../test/fixtures.ts";
import { BuildSettings } from "./settings.tsx";

const SITE = siteFixture();

function setup() {
  const sent = fakeApi((request) =>
    request.method === "PATCH"
      ? { body: { ...SITE, build_settings: SITE.build_settings } }
      : undefined,
  );
  renderWithClient(<BuildSettings site={SITE} />);
  const patches = () => sent.filter((r) => r.method === "PATCH");
  return { patches, user: userEvent.setup() };
}

describe("the build settings form", () => {
  it("shows the settings, deploy previews among them", () => {
    setup();
    expect(screen.getByLabelText("Production branch")).toHaveProperty("value", "main");
    expect(screen.getByLabelText("Publish directory")).toHaveProperty("value", "dist");
    expect(screen.getByRole("checkbox", { name: /Deploy previews/ })).toHaveProperty(
      "checked",
      true,
    );
  });

  it("sends only the fields that changed", async () => {
    const { patches, user } = setup();
    await user.clear(screen.getByLabelText("Publish directory"));
    await user.type(screen.getByLabelText("Publish directory"), "out");
    await user.click(screen.getByRole("checkbox", { name: /Deploy previews/ }));
    await user.click(screen.getByRole("button", { name: "Save build settings" }));
    await screen.findByText("Saved. The next build uses them.");
    expect(patches()).toEqual([
      {
        method: "PATCH",
        path: `/sites/${SITE.id}`,
        body: { repo: { dir: "out", deploy_previews: false } },
      },
    ]);
  });

  it("never names the production branch again unless it changed (that re-links)", async () => {
    const { patches, user } = setup();
    await user.type(screen.getByLabelText("Branches that deploy"), ", release/1");
    await user.click(screen.getByRole("button", { name: "Save build settings" }));
    await waitFor(() => expect(patches()).toHaveLength(1));
    expect(patches()[0]?.body).toEqual({ repo: { allowed_branches: ["main", "release/1"] } });
  });

  it("shows the API's refusal at the field it names", async () => {
    fakeApi(() => ({
      status: 422,
      body: { code: 422, message: "repo.dir: must stay inside the repository", field: "repo.dir" },
    }));
    renderWithClient(<BuildSettings site={SITE} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Publish directory"), "/..");
    await user.click(screen.getByRole("button", { name: "Save build settings" }));
    const field = await screen.findByLabelText("Publish directory");
    await waitFor(() => expect(field.getAttribute("aria-invalid")).toBe("true"));
    expect(screen.getAllByText("repo.dir: must stay inside the repository").length).toBeGreaterThan(
      0,
    );
  });
});
