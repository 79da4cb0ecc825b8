import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import { hashFilesCached, SETTLE_MS } from "./hash-cache.ts";
import { walkSite } from "./walk.ts";

const scratch = mkdtempSync(join(tmpdir(), "slipway-hash-cache-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
function siteDir(files: Record<string, string>): string {
  const dir = join(scratch, `site-${++dirs}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return realpathSync(dir);
}

/** A clock far enough ahead that every file written so far has settled. */
const later = (): number => Date.now() + SETTLE_MS + 5_000;

async function hashDir(dir: string, cacheDir: string | undefined, now = later) {
  const files = walkSite(dir);
  const result = await hashFilesCached(files, { cacheDir, root: dir, now });
  return {
    ...result,
    byPath: Object.fromEntries(files.map((f, i) => [f.path, result.digests[i]])),
  };
}

describe("hash cache", () => {
  it("reuses the digests of unchanged files and hashes a changed one", async () => {
    const dir = siteDir({ "index.html": "one", "css/a.css": "two", "js/b.js": "three" });
    const cache = join(scratch, "cache-1");
    const first = await hashDir(dir, cache);
    assert.equal(first.reused, 0);
    assert.deepEqual(first.byPath, {
      "css/a.css": sha1("two"),
      "index.html": sha1("one"),
      "js/b.js": sha1("three"),
    });

    const second = await hashDir(dir, cache);
    assert.equal(second.reused, 3);
    assert.deepEqual(second.byPath, first.byPath);

    writeFileSync(join(dir, "index.html"), "ONE"); // same size, new content
    const third = await hashDir(dir, cache);
    assert.equal(third.reused, 2);
    assert.equal(third.byPath["index.html"], sha1("ONE"));
    assert.equal(third.byPath["css/a.css"], sha1("two"));
  });

  it("notices a rewrite that puts the old modification time back (the change time moves)", async () => {
    const dir = siteDir({ "page.html": "before" });
    const cache = join(scratch, "cache-2");
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, "page.html"), old, old);
    await hashDir(dir, cache);
    writeFileSync(join(dir, "page.html"), "after!");
    utimesSync(join(dir, "page.html"), old, old);
    const again = await hashDir(dir, cache);
    assert.equal(again.reused, 0);
    assert.equal(again.byPath["page.html"], sha1("after!"));
  });

  it("does not remember files that changed just before they were hashed", async () => {
    const dir = siteDir({ "fresh.html": "just written" });
    const cache = join(scratch, "cache-3");
    await hashDir(dir, cache, Date.now);
    const next = await hashDir(dir, cache);
    assert.equal(next.reused, 0, "a racy file is hashed again");
    assert.equal(next.byPath["fresh.html"], sha1("just written"));
    assert.equal((await hashDir(dir, cache)).reused, 1, "once settled, it is remembered");
  });

  it("keeps the cache readable by its owner only", async () => {
    const dir = siteDir({ "a.txt": "a" });
    const cache = join(scratch, "cache-4");
    await hashDir(dir, cache);
    const folder = join(cache, "deploy-hashes");
    assert.equal(statSync(folder).mode & 0o777, 0o700);
    const [file = ""] = readdirSync(folder);
    assert.ok(file.endsWith(".json"));
    assert.equal(statSync(join(folder, file)).mode & 0o777, 0o600);
  });

  it("ignores a corrupt cache and hashes everything", async () => {
    const dir = siteDir({ "a.txt": "alpha", "b.txt": "beta" });
    const cache = join(scratch, "cache-5");
    await hashDir(dir, cache);
    const folder = join(cache, "deploy-hashes");
    const [file] = readdirSync(folder);
    for (const junk of ["{not json", "null", JSON.stringify({ version: 2, root: dir, files: 5 })]) {
      writeFileSync(join(folder, file!), junk);
      const result = await hashDir(dir, cache);
      assert.equal(result.reused, 0, junk);
      assert.deepEqual(result.byPath, { "a.txt": sha1("alpha"), "b.txt": sha1("beta") });
    }
    // A digest that is not a SHA-1 is never sent.
    const files = walkSite(dir);
    writeFileSync(
      join(folder, file!),
      JSON.stringify({
        version: 1,
        root: dir,
        files: { [files[0]!.absolute]: [files[0]!.stamp, "x"] },
      }),
    );
    const result = await hashDir(dir, cache);
    assert.equal(result.byPath["a.txt"], sha1("alpha"));
  });

  it("hashes everything, and still succeeds, without a usable cache directory", async () => {
    const dir = siteDir({ "a.txt": "alpha" });
    const blocker = join(scratch, "not-a-directory");
    writeFileSync(blocker, "");
    for (const cacheDir of [undefined, join(blocker, "cache")]) {
      for (let run = 0; run < 2; run++) {
        const result = await hashDir(dir, cacheDir);
        assert.equal(result.reused, 0);
        assert.equal(result.byPath["a.txt"], sha1("alpha"));
      }
    }
  });
});
