import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReviewEvent } from "../previews/review-event.ts";
import { parseEvent } from "./events.ts";
import { MalformedPayload, type RefUpdate } from "./payloads.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);
const ZERO = "0".repeat(40);
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

function updates(...args: Parameters<typeof parseEvent>): RefUpdate[] {
  const event = parseEvent(...args);
  assert.equal(event.type, "push");
  return event.type === "push" ? event.updates : [];
}

describe("webhook payloads", () => {
  it("reads a GitLab Push Hook: branch, before, after and the pushed commit's title", () => {
    const [u] = updates(
      "gitlab",
      "Push Hook",
      "application/json",
      json({
        object_kind: "push",
        ref: "refs/heads/main",
        before: A,
        after: B,
        checkout_sha: B,
        commits: [
          { id: A, title: "older" },
          { id: B, title: "Add a page", message: "Add a page\n\nbody" },
        ],
        project: { git_ssh_url: "git@evil.example:x/y.git" },
      }),
    );
    assert.deepEqual(u, {
      ref: "refs/heads/main",
      kind: "branch",
      name: "main",
      before: A,
      after: B,
      deleted: false,
      title: "Add a page",
    });
  });

  it("reads tag pushes and branch deletions as such", () => {
    const [tag] = updates(
      "gitlab",
      "Tag Push Hook",
      undefined,
      json({ ref: "refs/tags/v1", before: ZERO, after: A }),
    );
    assert.equal(tag?.kind, "tag");
    const [gone] = updates(
      "github",
      "push",
      "application/json",
      json({ ref: "refs/heads/old", before: A, after: ZERO, deleted: true }),
    );
    assert.equal(gone?.deleted, true);
    assert.equal(gone?.after, null);
  });

  it("reads GitHub's form-encoded deliveries (payload=<json>)", () => {
    const body = Buffer.from(
      new URLSearchParams({
        payload: JSON.stringify({
          ref: "refs/heads/main",
          before: A,
          after: B,
          head_commit: { id: B, message: "Fix\nmore" },
        }),
      }).toString(),
    );
    const [u] = updates("github", "push", "application/x-www-form-urlencoded", body);
    assert.equal(u?.after, B);
    assert.equal(u?.title, "Fix");
  });

  it("reads Bitbucket's push.changes: branches, tags and deletions", () => {
    const list = updates(
      "bitbucket",
      "repo:push",
      "application/json",
      json({
        push: {
          changes: [
            {
              new: { type: "branch", name: "main", target: { hash: B, message: "Hi\n" } },
              old: { type: "branch", name: "main", target: { hash: A } },
            },
            { new: { type: "tag", name: "v2", target: { hash: B } }, old: null },
            { new: null, old: { type: "branch", name: "gone", target: { hash: A } } },
          ],
        },
      }),
    );
    assert.deepEqual(
      list.map((u) => [u.kind, u.name, u.before, u.after, u.deleted, u.title]),
      [
        ["branch", "main", A, B, false, "Hi"],
        ["tag", "v2", null, B, false, null],
        ["branch", "gone", A, null, true, null],
      ],
    );
  });

  it("answers ping and other events from the header alone", () => {
    assert.deepEqual(parseEvent("github", "ping", undefined, undefined), { type: "ping" });
    assert.deepEqual(parseEvent("bitbucket", "diagnostics:ping", undefined, undefined), {
      type: "ping",
    });
    assert.deepEqual(parseEvent("gitlab", "Note Hook", undefined, json({})), {
      type: "other",
    });
    assert.deepEqual(parseEvent("gitea", "issues", undefined, undefined), { type: "other" });
  });

  it("throws MalformedPayload for every unreadable push", () => {
    const malformed: Array<[Parameters<typeof parseEvent>[0], string, Buffer | undefined]> = [
      ["github", "push", undefined],
      ["github", "push", Buffer.alloc(0)],
      ["github", "push", Buffer.from("{not json")],
      ["github", "push", json([1, 2])],
      ["github", "push", json("text")],
      ["github", "push", json({ ref: 42, after: B })],
      ["github", "push", json({ ref: "refs/heads/main" })],
      ["github", "push", json({ ref: "refs/heads/main", after: "HEAD" })],
      ["gitlab", "Push Hook", json({ ref: "refs/heads/main", after: `${B}; rm -rf /` })],
      ["gitea", "push", json({ ref: "refs/heads/-evil", after: B })],
      ["gitea", "push", json({ ref: "refs/heads/a..b", after: B })],
      ["gitea", "push", json({ ref: `refs/heads/${"x".repeat(2000)}`, after: B })],
      ["bitbucket", "repo:push", json({ push: {} })],
      ["bitbucket", "repo:push", json({ push: { changes: [42] } })],
      ["bitbucket", "repo:push", json({ push: { changes: [{ new: null, old: null }] } })],
      [
        "bitbucket",
        "repo:push",
        json({ push: { changes: [{ new: { type: "branch", name: "main", target: {} } }] } }),
      ],
      [
        "bitbucket",
        "repo:push",
        json({ push: { changes: Array.from({ length: 101 }, () => ({ new: null })) } }),
      ],
    ];
    for (const [provider, event, body] of malformed) {
      assert.throws(
        () => parseEvent(provider, event, "application/json", body),
        MalformedPayload,
        `${provider} ${body?.toString().slice(0, 60)}`,
      );
    }
    assert.throws(
      () => parseEvent("github", "push", "application/x-www-form-urlencoded", Buffer.from("a=b")),
      MalformedPayload,
    );
  });

  describe("pull and merge requests", () => {
    function review(...args: Parameters<typeof parseEvent>): ReviewEvent {
      const event = parseEvent(...args);
      assert.equal(event.type, "review");
      if (event.type !== "review") throw new Error("not a review");
      return event.review;
    }

    /** GitHub's `pull_request` payload (Gitea's is the same shape), with decoys. */
    const github = (action: string, overrides: Record<string, unknown> = {}) => ({
      action,
      number: 5,
      pull_request: {
        number: 5,
        state: action === "closed" ? "closed" : "open",
        merged: false,
        title: "Add a page\nsecond line",
        html_url: "https://github.com/acme/site/pull/5",
        author_association: "MEMBER",
        head: {
          ref: "feature/page",
          sha: A,
          repo: { id: 1, full_name: "acme/site", clone_url: "https://evil.example/x.git" },
        },
        base: { ref: "main", sha: B, repo: { id: 1, full_name: "acme/site" } },
        ...overrides,
      },
      repository: { full_name: "acme/site", ssh_url: "git@evil.example:x.git" },
    });

    it("reads GitHub's opened, synchronize and reopened as builds of the head", () => {
      for (const [action, expected] of [
        ["opened", "opened"],
        ["synchronize", "updated"],
        ["reopened", "reopened"],
        ["edited", "updated"],
      ] as const) {
        assert.deepEqual(
          review("github", "pull_request", "application/json", json(github(action))),
          {
            number: 5,
            action: expected,
            providerAction: action,
            head: A,
            headBranch: "feature/page",
            fork: false,
            untrusted: null,
            url: "https://github.com/acme/site/pull/5",
            title: "Add a page",
          },
        );
      }
    });

    it("reads GitHub's closed as closed or merged, and other actions as ignored", () => {
      assert.equal(
        review("github", "pull_request", undefined, json(github("closed"))).action,
        "closed",
      );
      const merged = review(
        "github",
        "pull_request",
        undefined,
        json(github("closed", { merged: true })),
      );
      assert.equal(merged.action, "merged");
      assert.equal(merged.head, null);
      for (const action of ["labeled", "assigned", "review_requested"]) {
        assert.equal(
          review("github", "pull_request", undefined, json(github(action))).action,
          "ignored",
        );
      }
      // Editing a closed request changes nothing.
      const edited = github("edited");
      edited.pull_request.state = "closed";
      assert.equal(review("github", "pull_request", undefined, json(edited)).action, "ignored");
    });

    it("marks GitHub forks and authors without write access as untrusted", () => {
      const fork = review(
        "github",
        "pull_request",
        undefined,
        json(
          github("opened", {
            author_association: "COLLABORATOR",
            head: { ref: "main", sha: A, repo: { id: 9, full_name: "mallory/site" } },
          }),
        ),
      );
      assert.equal(fork.fork, true);
      assert.equal(fork.untrusted, "from a fork (mallory/site)");
      assert.equal(fork.headBranch, "main");

      // A deleted fork has no head repository.
      const gone = review(
        "github",
        "pull_request",
        undefined,
        json(github("opened", { head: { ref: "x", sha: A, repo: null } })),
      );
      assert.equal(gone.fork, true);

      for (const association of ["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE", undefined]) {
        const outsider = review(
          "github",
          "pull_request",
          undefined,
          json(github("synchronize", { author_association: association })),
        );
        assert.equal(outsider.fork, false);
        assert.match(outsider.untrusted ?? "", /not a collaborator/);
      }
      for (const association of ["OWNER", "MEMBER", "COLLABORATOR"]) {
        const insider = review(
          "github",
          "pull_request",
          undefined,
          json(github("opened", { author_association: association })),
        );
        assert.equal(insider.untrusted, null, association);
      }
    });

    it("reads Gitea's pull_request: synchronized, forks by repository id", () => {
      const same = github("synchronized", { author_association: undefined });
      const updated = review("gitea", "pull_request", "application/json", json(same));
      assert.equal(updated.action, "updated");
      assert.equal(updated.untrusted, null, "a same-repository request is trusted");

      const forked = github("opened", {
        author_association: undefined,
        head: { ref: "main", sha: A, repo_id: 7, repo: { id: 7, full_name: "mallory/site" } },
        base: { ref: "main", sha: B, repo_id: 1, repo: { id: 1, full_name: "acme/site" } },
      });
      const fork = review("gitea", "pull_request_sync", undefined, json(forked));
      assert.equal(fork.fork, true);
      assert.equal(fork.untrusted, "from a fork (mallory/site)");

      // A fork whose author the payload marks as a collaborator is trusted.
      (forked.pull_request as Record<string, unknown>).author_association = "COLLABORATOR";
      assert.equal(review("gitea", "pull_request", undefined, json(forked)).untrusted, null);

      const closed = github("closed", { merged: true });
      assert.equal(review("gitea", "pull_request", undefined, json(closed)).action, "merged");
    });

    /** Bitbucket Cloud's `pullrequest:*` payload. */
    const bitbucket = (source = "acme/site") => ({
      pullrequest: {
        id: 3,
        title: "Fix the footer",
        state: "OPEN",
        links: { html: { href: "https://bitbucket.org/acme/site/pull-requests/3" } },
        source: {
          branch: { name: "footer" },
          commit: { hash: "abcdef123456" },
          repository: { full_name: source },
        },
        destination: {
          branch: { name: "main" },
          commit: { hash: "123456abcdef" },
          repository: { full_name: "acme/site" },
        },
      },
      repository: { full_name: "evil/other" },
    });

    it("reads Bitbucket's created, updated, fulfilled and rejected", () => {
      const created = review("bitbucket", "pullrequest:created", undefined, json(bitbucket()));
      assert.deepEqual(created, {
        number: 3,
        action: "opened",
        providerAction: "pullrequest:created",
        head: "abcdef123456",
        headBranch: "footer",
        fork: false,
        untrusted: null,
        url: "https://bitbucket.org/acme/site/pull-requests/3",
        title: "Fix the footer",
      });
      const actions = ["updated", "fulfilled", "rejected", "comment_created"].map(
        (name) => review("bitbucket", `pullrequest:${name}`, undefined, json(bitbucket())).action,
      );
      assert.deepEqual(actions, ["updated", "merged", "closed", "ignored"]);
      const fork = review(
        "bitbucket",
        "pullrequest:updated",
        undefined,
        json(bitbucket("eve/site")),
      );
      assert.equal(fork.untrusted, "from a fork (eve/site)");
    });

    /** GitLab's `Merge Request Hook` (as the forge sends it), with decoys. */
    const gitlab = (action: string, sourceProject = 4) => ({
      object_kind: "merge_request",
      project: { id: 4, git_ssh_url: "git@evil.example:x.git" },
      object_attributes: {
        iid: 1,
        action,
        state: "opened",
        source_branch: "feature",
        target_branch: "main",
        source_project_id: sourceProject,
        target_project_id: 4,
        title: "Draft: new page",
        url: "http://127.0.0.1:3000/acme/site/-/merge_requests/1",
        last_commit: { id: B, message: "page" },
        source: { path_with_namespace: sourceProject === 4 ? "acme/site" : "eve/site" },
      },
    });

    it("reads GitLab's open, update, reopen, close and merge, and forks", () => {
      const opened = review(
        "gitlab",
        "Merge Request Hook",
        "application/json",
        json(gitlab("open")),
      );
      assert.deepEqual(opened, {
        number: 1,
        action: "opened",
        providerAction: "open",
        head: B,
        headBranch: "feature",
        fork: false,
        untrusted: null,
        url: "http://127.0.0.1:3000/acme/site/-/merge_requests/1",
        title: "Draft: new page",
      });
      assert.deepEqual(
        ["update", "reopen", "close", "merge", "approved"].map(
          (action) =>
            review("gitlab", "Merge Request Hook", undefined, json(gitlab(action))).action,
        ),
        ["updated", "reopened", "closed", "merged", "ignored"],
      );
      const fork = review("gitlab", "Merge Request Hook", undefined, json(gitlab("open", 9)));
      assert.equal(fork.fork, true);
      assert.equal(fork.untrusted, "from a fork (eve/site)");
    });

    it("keeps only http(s) URLs and printable names from a payload", () => {
      for (const url of ["javascript:alert(1)", "file:///etc/passwd", "https://a b", 42]) {
        const payload = github("opened", { html_url: url });
        assert.equal(review("github", "pull_request", undefined, json(payload)).url, null);
      }
      const named = review(
        "github",
        "pull_request",
        undefined,
        json(
          github("opened", {
            head: { ref: "x", sha: A, repo: { full_name: "eve/\u001b[31mred" } },
          }),
        ),
      );
      assert.equal(named.untrusted, "from a fork (eve/?[31mred)");
    });

    it("throws MalformedPayload for every unreadable request event", () => {
      const pr = (overrides: Record<string, unknown>) => json(github("opened", overrides));
      const malformed: Array<[Parameters<typeof parseEvent>[0], string, Buffer | undefined]> = [
        ["github", "pull_request", undefined],
        ["github", "pull_request", json([])],
        ["github", "pull_request", json({ action: "opened" })],
        ["github", "pull_request", json({ ...github("opened"), action: 5 })],
        ["github", "pull_request", json({ ...github("opened"), number: -1 })],
        ["github", "pull_request", json({ ...github("opened"), number: 2 ** 40 })],
        ["github", "pull_request", json({ ...github("opened"), number: "5" })],
        ["github", "pull_request", pr({ head: { ref: "x", sha: "HEAD", repo: null } })],
        ["github", "pull_request", pr({ head: { ref: "x", sha: "0".repeat(40), repo: null } })],
        ["github", "pull_request", pr({ head: { ref: "-x", sha: A, repo: null } })],
        ["github", "pull_request", pr({ head: { ref: "a..b", sha: A, repo: null } })],
        ["github", "pull_request", pr({ head: { sha: A } })],
        ["github", "pull_request", pr({ base: { repo: {} } })],
        ["gitea", "pull_request", pr({ base: { repo: { full_name: "x" } } })],
        ["bitbucket", "pullrequest:created", json({})],
        ["bitbucket", "pullrequest:created", json({ pullrequest: { id: 0 } })],
        [
          "bitbucket",
          "pullrequest:created",
          json({ pullrequest: { ...bitbucket().pullrequest, source: { branch: { name: "x" } } } }),
        ],
        ["gitlab", "Merge Request Hook", json({ object_attributes: { iid: 1 } })],
        ["gitlab", "Merge Request Hook", json({ object_attributes: { action: "open" } })],
        [
          "gitlab",
          "Merge Request Hook",
          json({ object_attributes: { ...gitlab("open").object_attributes, last_commit: null } }),
        ],
        [
          "gitlab",
          "Merge Request Hook",
          json({
            object_attributes: { ...gitlab("update").object_attributes, target_project_id: "4" },
          }),
        ],
      ];
      for (const [provider, event, body] of malformed) {
        assert.throws(
          () => parseEvent(provider, event, "application/json", body),
          MalformedPayload,
          `${provider} ${body?.toString().slice(0, 80)}`,
        );
      }
    });
  });
});
