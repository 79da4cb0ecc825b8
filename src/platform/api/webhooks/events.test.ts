import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MalformedPayload, parseEvent, type RefUpdate } from "./events.ts";

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
    assert.deepEqual(parseEvent("gitlab", "Merge Request Hook", undefined, json({})), {
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
});
