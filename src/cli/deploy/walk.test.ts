import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import { hashFiles } from "./hash.ts";
import { walkSite, WalkError } from "./walk.ts";

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A temp directory holding `files` (path → content). */
function tree(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), "slipway-cli-walk-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

function walkError(run: () => unknown): WalkError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WalkError, `expected a WalkError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the walk to fail");
}

describe("walkSite", () => {
  it("lists regular files with /-separated paths, skipping dotfiles but not .well-known", () => {
    const root = tree({
      "index.html": "<h1>hi</h1>",
      "css/site.css": "body{}",
      "a b/c#d?.txt": "odd names are the server's business",
      _redirects: "/old /new 301",
      _headers: "/*\n  X-Frame-Options: DENY",
      ".env": "SECRET=1",
      ".git/config": "[core]",
      "sub/.DS_Store": "junk",
      ".well-known/security.txt": "Contact: mailto:security@example.test",
    });
    const files = walkSite(root);
    assert.deepEqual(
      files.map((f) => f.path),
      [
        ".well-known/security.txt",
        "_headers",
        "_redirects",
        "a b/c#d?.txt",
        "css/site.css",
        "index.html",
      ],
    );
    assert.equal(files.find((f) => f.path === "css/site.css")?.size, 6);
    assert.equal(files.find((f) => f.path === "index.html")?.absolute, join(root, "index.html"));
  });

  it("follows symlinks inside the directory and gives the link's path the target's content", () => {
    const root = tree({ "assets/logo.svg": "<svg/>", "pages/a.html": "a" });
    symlinkSync("assets/logo.svg", join(root, "logo.svg"));
    symlinkSync("../pages", join(root, "assets/pages"));
    const files = walkSite(root);
    assert.deepEqual(
      files.map((f) => [f.path, f.absolute]),
      [
        ["assets/logo.svg", join(root, "assets/logo.svg")],
        ["assets/pages/a.html", join(root, "pages/a.html")],
        ["logo.svg", join(root, "assets/logo.svg")],
        ["pages/a.html", join(root, "pages/a.html")],
      ],
    );
  });

  it("refuses a symlink that leaves the directory, naming it", () => {
    const outside = tree({ "secret.txt": "not for the web" });
    const root = tree({ "index.html": "hi" });
    symlinkSync(join(outside, "secret.txt"), join(root, "leak.txt"));
    const error = walkError(() => walkSite(root));
    assert.equal(error.code, "symlink_escape");
    assert.equal(error.path, "leak.txt");
    assert.match(error.message, /outside the directory being deployed/);
  });

  it("refuses a directory symlink to a parent (a loop), and dangling links", () => {
    const looped = tree({ "a/index.html": "hi" });
    symlinkSync("..", join(looped, "a/up"));
    assert.equal(walkError(() => walkSite(looped)).code, "symlink_loop");

    const dangling = tree({ "index.html": "hi" });
    symlinkSync("missing.html", join(dangling, "gone.html"));
    const error = walkError(() => walkSite(dangling));
    assert.equal(error.code, "dangling_symlink");
    assert.equal(error.path, "gone.html");
  });

  it("refuses FIFOs and names that are not UTF-8", () => {
    const root = tree({ "index.html": "hi" });
    execFileSync("mkfifo", [join(root, "pipe")]);
    assert.equal(walkError(() => walkSite(root)).code, "special_file");

    const latin1 = tree({ "index.html": "hi" });
    writeFileSync(Buffer.from(`${latin1}/caf\xe9.html`, "latin1"), "x");
    assert.equal(walkError(() => walkSite(latin1)).code, "invalid_name");
  });

  it("says so when the directory is missing or is a file", () => {
    const root = tree({ "index.html": "hi" });
    assert.equal(walkError(() => walkSite(join(root, "nope"))).code, "not_a_directory");
    assert.equal(walkError(() => walkSite(join(root, "index.html"))).code, "not_a_directory");
  });

  it("stops at the file limit", () => {
    const root = tree({ a: "1", b: "2", c: "3" });
    assert.equal(walkError(() => walkSite(root, 2)).code, "too_many_files");
  });
});

describe("hashFiles", () => {
  it("gives the SHA-1 of each file, on the main thread and on worker threads alike", async () => {
    const contents: Record<string, Buffer> = { empty: Buffer.alloc(0) };
    for (let i = 0; i < 40; i++) contents[`f${i}`] = Buffer.alloc(i * 997, i);
    // Larger than the read buffer, so it is hashed in several chunks.
    contents.big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const root = tree(contents);
    const files = walkSite(root);
    const expected = files.map((f) => sha1(contents[f.path]!));

    const progress: number[] = [];
    assert.deepEqual(await hashFiles(files, { onProgress: (n) => progress.push(n) }), expected);
    assert.equal(progress.at(-1), files.length);
    assert.deepEqual(await hashFiles(files, { workers: 2 }), expected);
  });

  it("fails naming the file when one disappears after the walk", async () => {
    const root = tree({ "a.html": "a", "b.html": "b" });
    const files = walkSite(root);
    rmSync(join(root, "b.html"));
    await assert.rejects(hashFiles(files), /could not read .*b\.html: .*ENOENT/);
    await assert.rejects(hashFiles(files, { workers: 2 }), /could not read .*b\.html: .*ENOENT/);
  });
});
