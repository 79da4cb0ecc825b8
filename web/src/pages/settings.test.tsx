import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithClient } from "../test/render.tsx";
import type { Site } from "../lib/types.ts";
import { BuildSettings } from "./settings.tsx";

const SITE: Site = {
  id: "5e0d6c1a-0000-4000-8000-000000000001",
  name: "docs",
  url: "http://docs.localhost:8080",
  admin_url: "http://127.0.0.1:8080/sites/docs",
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
  account_id: "a1",
  account_slug: "ada",
  account_name: "Ada",
  git_provider: "gitlab",
  git_webhook: null,
  build_settings: {
    provider: "gitlab",
    repo_url: "ssh://git@git.example/ada/docs.git",
    repo_path: "ada/docs",
    repo_branch: "main",
    cmd: "npm run build",
    dir: "dist",
    base: null,
    deploy_key_id: "k1",
    allowed_branches: ["main"],
    env_keys: [],
    stop_builds: false,
    build_network: true,
    deploy_previews: true,
  },
  published_deploy: null,
  git_connection_id: null,
  link_broken_reason: null,
};

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
