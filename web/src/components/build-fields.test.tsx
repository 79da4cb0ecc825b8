import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { CreateLinkedSite } from "../pages/new-site.tsx";
import type { DetectedBuildSettings, GitConnection, ProviderRepo } from "../lib/types.ts";
import { fakeApi, renderWithClient, type FakeAnswer } from "../test/render.tsx";

const CONNECTION: GitConnection = {
  id: "c1",
  account_id: "a1",
  provider: "gitlab",
  base_url: "http://127.0.0.1:3000",
  kind: "token",
  remote_identity: "ada",
  created_at: "2026-01-01T00:00:00.000Z",
  last_checked_at: null,
  last_error: null,
};

const REPO: ProviderRepo = {
  id: "42",
  full_path: "ada/shop",
  ssh_url: "ssh://git@git.example/ada/shop.git",
  https_url: "",
  web_url: "",
  default_branch: "main",
  private: true,
};

const VITE: DetectedBuildSettings = {
  framework: { id: "vite", name: "Vite" },
  cmd: "npm run build",
  dir: "dist",
  base: null,
  source: "framework",
};

const TOML: DetectedBuildSettings = {
  framework: null,
  cmd: "make site",
  dir: "public",
  base: "docs",
  source: "netlify.toml",
};

/** The forge's answers; `detect(branch)` is what the build settings endpoint says per branch. */
function linkApi(detect: (branch: string) => FakeAnswer) {
  return fakeApi((r) => {
    if (r.path === "/git_connections/c1/repos/42/branches") {
      return {
        body: [
          { name: "main", default: true },
          { name: "docs", default: false },
        ],
      };
    }
    const match = /^\/git_connections\/c1\/repos\/42\/build_settings\?branch=(.*)$/.exec(r.path);
    if (match) return detect(decodeURIComponent(match[1] ?? ""));
    return undefined;
  });
}

const field = (name: string) => screen.getByRole<HTMLInputElement>("textbox", { name });

describe("prefilled build settings when linking", () => {
  it("fills the build command and publish directory from the repository and says from where", async () => {
    const sent = linkApi((branch) => ({ body: branch === "docs" ? TOML : VITE }));
    renderWithClient(<CreateLinkedSite connection={CONNECTION} repo={REPO} />);
    // The branch is debounced before the repository is asked.
    const slow = { timeout: 5000 };
    await waitFor(() => expect(field("Build command").value).toBe("npm run build"), slow);
    expect(field("Publish directory").value).toBe("dist");
    expect(field("Base directory").value).toBe("");
    expect(screen.getByTestId("detected-cmd").textContent).toBe("Detected: Vite");
    expect(screen.getByTestId("detected-dir").textContent).toBe("Detected: Vite");
    expect(sent.some((r) => r.path.endsWith("/build_settings?branch=main"))).toBe(true);

    // What the person typed stays; the other fields follow the branch's own settings.
    const user = userEvent.setup();
    await user.clear(field("Build command"));
    await user.type(field("Build command"), "pnpm build");
    await user.selectOptions(screen.getByRole("combobox", { name: "Branch" }), "docs");
    await waitFor(() => expect(field("Publish directory").value).toBe("public"), slow);
    expect(field("Base directory").value).toBe("docs");
    expect(field("Build command").value).toBe("pnpm build");
    expect(screen.getByTestId("detected-dir").textContent).toBe("From netlify.toml");
    expect(screen.queryByTestId("detected-cmd")).toBeNull();
  });

  for (const status of [404, 501, 500]) {
    it(`leaves the fields empty and says nothing when the endpoint answers ${status}`, async () => {
      const sent = linkApi(() => ({ status, body: { code: status, message: "Not here" } }));
      renderWithClient(<CreateLinkedSite connection={CONNECTION} repo={REPO} />);
      await waitFor(
        () => expect(sent.some((r) => r.path.includes("/build_settings?branch=main"))).toBe(true),
        { timeout: 5000 },
      );
      await screen.findByRole("option", { name: "docs" });
      expect(field("Build command").value).toBe("");
      expect(field("Publish directory").value).toBe("");
      expect(screen.queryByText(/Detected|netlify\.toml/)).toBeNull();
      expect(screen.queryByRole("alert")).toBeNull();
    });
  }
});
