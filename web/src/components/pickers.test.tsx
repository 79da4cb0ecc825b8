import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithClient } from "../test/render.tsx";
import type { GitConnection, ProviderRepo } from "../lib/types.ts";
import { BranchPicker, RepoPicker } from "./pickers.tsx";

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

const repo = (i: number): ProviderRepo => ({
  id: String(i),
  full_path: `ada/repo-${String(i).padStart(2, "0")}`,
  ssh_url: `ssh://git@git.example/ada/repo-${i}.git`,
  https_url: "",
  web_url: "",
  default_branch: "main",
  private: true,
});

function Branch({ initial }: { initial: string }) {
  const [branch, setBranch] = useState(initial);
  return (
    <BranchPicker connection={CONNECTION} repo={repo(7)} value={branch} onChange={setBranch} />
  );
}

describe("the branch picker", () => {
  it("lists the repository's branches with its default chosen; another can be picked or typed", async () => {
    const sent = fakeApi((request) =>
      request.path === "/git_connections/c1/repos/7/branches"
        ? {
            body: [
              { name: "main", default: true },
              { name: "develop", default: false },
              { name: "release/2", default: false },
            ],
          }
        : undefined,
    );
    renderWithClient(<Branch initial="main" />);
    const user = userEvent.setup();
    const select = screen.getByLabelText<HTMLSelectElement>("Branch");
    const typed = screen.getByLabelText<HTMLInputElement>("Branch name");
    await screen.findByRole("option", { name: "release/2" });
    expect([...select.options].map((o) => o.textContent)).toEqual([
      "main (default)",
      "develop",
      "release/2",
      "Another branch…",
    ]);
    expect(select.value).toBe("main");

    await user.selectOptions(select, "release/2");
    expect(typed.value).toBe("release/2");

    // Typing a name that is not listed: the select says so.
    await user.clear(typed);
    await user.type(typed, "feature/new");
    expect(select.value).toBe("");
    expect(select.selectedOptions[0]?.textContent).toBe("feature/new (typed)");

    // "Another branch…" leads to the text field.
    await user.selectOptions(select, "main");
    await user.selectOptions(select, "");
    expect(document.activeElement).toBe(typed);
    expect(typed.value).toBe("main");
    expect(sent.every((r) => r.method === "GET")).toBe(true);
  });

  it("keeps the text field when the branches cannot be read, and says why", async () => {
    fakeApi(() => ({
      status: 422,
      body: { code: 422, message: "repo: the token cannot read ada/repo-07", field: "repo" },
    }));
    renderWithClient(<Branch initial="main" />);
    await screen.findByText("repo: the token cannot read ada/repo-07");
    expect(screen.getByLabelText<HTMLInputElement>("Branch name").value).toBe("main");
  });
});

describe("the repository picker", () => {
  it("pages the repositories, and a pager button that disables itself hands the focus on", async () => {
    fakeApi((request) =>
      request.path === "/git_connections/c1/repos"
        ? { body: Array.from({ length: 15 }, (_, i) => repo(i)) }
        : undefined,
    );
    renderWithClient(<RepoPicker connection={CONNECTION} chosen={null} onChoose={() => {}} />);
    const user = userEvent.setup();
    await screen.findByText("Page 1 of 2");
    expect(screen.getAllByRole("radio")).toHaveLength(10);
    screen.getByRole("button", { name: "Next" }).focus();
    await user.keyboard("{Enter}");
    await screen.findByText("Page 2 of 2");
    expect(screen.getAllByRole("radio")).toHaveLength(5);
    await waitFor(() =>
      expect(document.activeElement).toBe(screen.getByRole("button", { name: "Previous" })),
    );
    await user.keyboard(" ");
    await screen.findByText("Page 1 of 2");
    await waitFor(() =>
      expect(document.activeElement).toBe(screen.getByRole("button", { name: "Next" })),
    );
  });
});
