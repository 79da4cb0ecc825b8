import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sha1 } from "../../../test/helpers/digests.ts";
import { type BlobStore } from "./blob-store.ts";
import { LocalBlobStore } from "./local-blob-store.ts";
import { CollectableBlobStore } from "./collectable-blobs.ts";
import { HashPool } from "./hash-pool.ts";
import { PublishError, publishDirectory, type PublishErrorCode } from "./publish.ts";

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function countBlobFiles(storeRoot: string): Promise<number> {
  let count = 0;
  for (const shard of await readdir(join(storeRoot, "blobs"))) {
    count += (await readdir(join(storeRoot, "blobs", shard))).length;
  }
  return count;
}

function rejectsWith(code: PublishErrorCode, pattern: RegExp, path?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PublishError, `expected a PublishError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    if (path !== undefined) assert.equal(error.path, path);
    return true;
  };
}

describe("publishDirectory", () => {
  let work: string;
  let storeRoot: string;
  let blobs: LocalBlobStore;
  let n = 0;
  const newDir = async (): Promise<string> => {
    const dir = join(work, `out-${++n}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-publish-"));
    storeRoot = join(work, "store");
    blobs = await LocalBlobStore.open(storeRoot);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("records every file under a forward-slash relative path with its SHA-1, size and mode", async () => {
    const dir = await newDir();
    await writeTree(dir, {
      "index.html": "<h1>home</h1>",
      "about/index.html": "<h1>about</h1>",
      "assets/js/app.js": "console.log(1)",
      "empty.txt": "",
    });
    await chmod(join(dir, "assets/js/app.js"), 0o755);
    const { manifest, stats } = await publishDirectory(dir, { blobs });
    assert.deepEqual([...manifest.files.keys()].sort(), [
      "about/index.html",
      "assets/js/app.js",
      "empty.txt",
      "index.html",
    ]);
    assert.deepEqual(manifest.files.get("assets/js/app.js"), {
      sha1: sha1("console.log(1)"),
      size: 14,
      mode: 0o755,
    });
    assert.equal(manifest.files.get("empty.txt")?.sha1, sha1(""));
    assert.equal(stats.files, 4);
    assert.equal(stats.totalBytes, 13 + 14 + 14 + 0);
    for (const [, entry] of manifest.files) {
      const stored = await blobs.get(entry.sha1);
      assert.equal(sha1(stored), entry.sha1);
      assert.equal(stored.length, entry.size);
    }
  });

  it("stores unchanged files once across deploys: the second deploy writes only what changed", async () => {
    const storeDir = join(work, "dedup-store");
    const store = await LocalBlobStore.open(storeDir);
    const a = Buffer.alloc(1000, "a");
    const b = Buffer.alloc(2000, "b");
    const first = await newDir();
    await writeTree(first, { "a.html": a, "b.css": b, "copy-of-a.html": a, "nested/a.html": a });
    const one = await publishDirectory(first, { blobs: store });
    assert.deepEqual(
      { ...one.stats, durationMs: 0 },
      {
        files: 4,
        totalBytes: 5000,
        uniqueBlobs: 2,
        newBlobs: 2,
        newBytes: 3000,
        durationMs: 0,
      },
    );
    assert.equal(await countBlobFiles(storeDir), 2);

    const second = await newDir();
    const b2 = Buffer.alloc(2500, "B");
    const d = Buffer.alloc(300, "d");
    await writeTree(second, { "a.html": a, "b.css": b2, "copy-of-a.html": a, "d.js": d });
    const two = await publishDirectory(second, { blobs: store });
    assert.equal(two.stats.files, 4);
    assert.equal(two.stats.totalBytes, 1000 + 2500 + 1000 + 300);
    assert.equal(two.stats.newBlobs, 2, "only the changed b.css and the new d.js are written");
    assert.equal(two.stats.newBytes, 2500 + 300);
    assert.equal(await countBlobFiles(storeDir), 4);
    assert.equal(two.manifest.files.get("a.html")?.sha1, one.manifest.files.get("a.html")?.sha1);

    const again = await publishDirectory(second, { blobs: store });
    assert.equal(again.stats.newBlobs, 0);
    assert.equal(again.stats.newBytes, 0);
    assert.deepEqual(again.manifest.files, two.manifest.files);
  });

  it("streams files too large to buffer into the store, verified", async () => {
    const dir = await newDir();
    const big = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    await writeTree(dir, { "video.bin": big });
    const { manifest, stats } = await publishDirectory(dir, { blobs });
    const entry = manifest.files.get("video.bin");
    assert.equal(entry?.sha1, sha1(big));
    assert.equal(stats.newBytes, big.length);
    assert.equal(sha1(await blobs.get(entry!.sha1)), entry!.sha1);
  });

  it("refuses symlinks that leave the publish directory, however they are spelled", async () => {
    const outside = join(work, "secret.txt");
    await writeFile(outside, "do not publish");
    const links: [string, string][] = [
      ["leak", "/etc/passwd"],
      ["env", "/proc/self/environ"],
      ["up.txt", "../secret.txt"],
      ["d", ".."],
      ["deep/up", "../../secret.txt"],
      ["abs", outside],
    ];
    for (const [name, target] of links) {
      const dir = await newDir();
      await writeTree(dir, { "index.html": "ok" });
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await symlink(target, join(dir, name));
      await assert.rejects(
        publishDirectory(dir, { blobs }),
        rejectsWith("symlink_escape", /outside the publish directory/, name),
        `${name} -> ${target}`,
      );
    }
  });

  it("follows symlinks that stay inside, publishing the target's content under the link's path", async () => {
    const dir = await newDir();
    await writeTree(dir, { "real/page.html": "the page", "real/sub/x.css": "x{}" });
    await symlink("real/page.html", join(dir, "alias.html"));
    await symlink("real", join(dir, "linked-dir"));
    await mkdir(join(dir, "a/b"), { recursive: true });
    await symlink("../../real/page.html", join(dir, "a/b/rel.html"));
    const { manifest } = await publishDirectory(dir, { blobs });
    const page = manifest.files.get("real/page.html");
    assert.equal(page?.sha1, sha1("the page"));
    assert.equal(manifest.files.get("alias.html")?.sha1, page?.sha1);
    assert.equal(manifest.files.get("a/b/rel.html")?.sha1, page?.sha1);
    assert.equal(manifest.files.get("linked-dir/page.html")?.sha1, page?.sha1);
    assert.equal(manifest.files.get("linked-dir/sub/x.css")?.sha1, sha1("x{}"));
  });

  it("refuses symlink loops and dangling symlinks", async () => {
    const loop = await newDir();
    await writeTree(loop, { "sub/index.html": "x" });
    await symlink("..", join(loop, "sub/parent"));
    await assert.rejects(
      publishDirectory(loop, { blobs }),
      rejectsWith("symlink_loop", /contains it/, "sub/parent"),
    );

    const selfLoop = await newDir();
    await symlink("self", join(selfLoop, "self"));
    await assert.rejects(
      publishDirectory(selfLoop, { blobs }),
      rejectsWith("symlink_loop", /loops/),
    );

    const dangling = await newDir();
    await symlink("missing.html", join(dangling, "link.html"));
    await assert.rejects(
      publishDirectory(dangling, { blobs }),
      rejectsWith("dangling_symlink", /does not exist/, "link.html"),
    );
  });

  it("refuses a FIFO without blocking on it", async () => {
    const dir = await newDir();
    await writeTree(dir, { "index.html": "ok" });
    const made = spawnSync("mkfifo", ["--", join(dir, "pipe")]);
    assert.equal(made.status, 0, "mkfifo must be available for this test");
    await assert.rejects(
      publishDirectory(dir, { blobs }),
      rejectsWith("special_file", /a FIFO \(named pipe\)/, "pipe"),
    );
    // A symlink to a FIFO inside the directory is refused the same way (the link sorts first).
    const viaLink = await newDir();
    await mkdir(join(viaLink, "z"));
    spawnSync("mkfifo", ["--", join(viaLink, "z/p")]);
    await symlink("z/p", join(viaLink, "a-link"));
    await assert.rejects(
      publishDirectory(viaLink, { blobs }),
      rejectsWith("special_file", /"a-link" is a symlink to a FIFO/, "a-link"),
    );
  });

  it("refuses a socket", async () => {
    const dir = await newDir();
    const path = join(dir, "s.sock");
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await assert.rejects(
        publishDirectory(dir, { blobs }),
        rejectsWith("special_file", /a socket/, "s.sock"),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("refuses a device node", async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip("creating a device node needs root");
      return;
    }
    const dir = await newDir();
    const made = spawnSync("mknod", ["--", join(dir, "null"), "c", "1", "3"]);
    assert.equal(made.status, 0, String(made.stderr));
    await assert.rejects(
      publishDirectory(dir, { blobs }),
      rejectsWith("special_file", /a character device/, "null"),
    );
  });

  it("enforces the file-count, per-file and total size limits", async () => {
    const dir = await newDir();
    await writeTree(dir, {
      "a.txt": Buffer.alloc(100, 1),
      "b.txt": Buffer.alloc(200, 2),
      "c/d.txt": Buffer.alloc(300, 3),
      "c/e.txt": Buffer.alloc(400, 4),
    });
    await assert.rejects(
      publishDirectory(dir, { blobs, limits: { maxFiles: 3 } }),
      rejectsWith("too_many_files", /more than 3 files/),
    );
    await assert.rejects(
      publishDirectory(dir, { blobs, limits: { maxFileBytes: 399 } }),
      rejectsWith(
        "file_too_large",
        /"c\/e\.txt" is 0\.000 MiB, over the per-file limit/,
        "c/e.txt",
      ),
    );
    await assert.rejects(
      publishDirectory(dir, { blobs, limits: { maxTotalBytes: 999 } }),
      rejectsWith("total_too_large", /total size limit/),
    );
    const ok = await publishDirectory(dir, {
      blobs,
      limits: { maxFiles: 4, maxFileBytes: 400, maxTotalBytes: 1000 },
    });
    assert.equal(ok.stats.files, 4);
    assert.equal(ok.stats.totalBytes, 1000);
  });

  it("refuses names that cannot be URL paths", async () => {
    for (const name of ["back\\slash.html", "new\nline.html"]) {
      const dir = await newDir();
      await writeFile(join(dir, name), "x");
      await assert.rejects(
        publishDirectory(dir, { blobs }),
        rejectsWith("invalid_path", /rename it/),
      );
    }
  });

  it("refuses a publish directory that is missing, a file, or resolves outside the checkout", async () => {
    await assert.rejects(
      publishDirectory(join(work, "does-not-exist"), { blobs }),
      rejectsWith("not_a_directory", /does not exist/),
    );
    const file = join(work, "plain-file");
    await writeFile(file, "x");
    await assert.rejects(
      publishDirectory(file, { blobs }),
      rejectsWith("not_a_directory", /not a directory/),
    );

    const checkout = await newDir();
    const elsewhere = await newDir();
    await writeTree(elsewhere, { "index.html": "other" });
    await symlink(elsewhere, join(checkout, "dist"));
    await assert.rejects(
      publishDirectory(join(checkout, "dist"), { blobs, mustBeWithin: checkout }),
      rejectsWith("outside_allowed_root", /outside the build's checkout/),
    );
    await writeTree(checkout, { "public/index.html": "mine" });
    const inside = await publishDirectory(join(checkout, "public"), {
      blobs,
      mustBeWithin: checkout,
    });
    assert.deepEqual([...inside.manifest.files.keys()], ["index.html"]);
  });

  it("makes the new blobs durable in one batch before it returns, and stores none when that sync fails", async () => {
    const dir = await newDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`page${i}.html`] = `batched page ${i}`;
    await writeTree(dir, files);
    const ids = Object.values(files).map((content) => sha1(content));

    const failing = await LocalBlobStore.open(join(work, "store-failing-sync"), {
      batchSync: () => Promise.reject(new Error("EIO: the disk went away")),
    });
    await assert.rejects(publishDirectory(dir, { blobs: failing }), /EIO: the disk went away/);
    assert.deepEqual(await failing.missing(ids), ids, "no blob of an unsynced batch is stored");
    assert.deepEqual(await readdir(join(work, "store-failing-sync", "tmp")), []);

    const syncs: { files: number; storedBefore: number }[] = [];
    const recording: LocalBlobStore = await LocalBlobStore.open(join(work, "store-recorded-sync"), {
      batchSync: async (paths) => {
        const stored = ids.length - (await recording.missing(ids)).length;
        syncs.push({ files: paths.length, storedBefore: stored });
      },
    });
    const { stats } = await publishDirectory(dir, { blobs: recording });
    assert.equal(stats.newBlobs, 40);
    // One sync for the 40 files' data before any is in place, one for their directories.
    assert.equal(syncs.length, 2);
    assert.deepEqual(syncs[0], { files: 40, storedBefore: 0 });
    assert.equal(syncs[1]?.storedBefore, 40);
    assert.deepEqual(await recording.missing(ids), []);
  });

  it("fails cleanly when a file changes between hashing and storing", async () => {
    const dir = await newDir();
    await writeTree(dir, { "index.html": "original content" });
    const tampering: BlobStore = {
      has: (id) => blobs.has(id),
      get: (id) => blobs.get(id),
      read: (id, range) => blobs.read(id, range),
      size: (id) => blobs.size(id),
      sizes: (ids) => blobs.sizes(ids),
      put: (id, data, options) => blobs.put(id, data, options),
      flush: (batch) => blobs.flush(batch),
      commitStaged: (key) => blobs.commitStaged(key),
      discardStaged: (key) => blobs.discardStaged(key),
      missing: async (ids) => {
        await writeFile(join(dir, "index.html"), "modified content");
        return [...ids];
      },
    };
    await assert.rejects(
      publishDirectory(dir, { blobs: tampering }),
      rejectsWith("changed_during_publish", /changed while it was being published/, "index.html"),
    );
    assert.equal(await blobs.has(sha1("original content")), false);
    assert.equal(await blobs.has(sha1("modified content")), false);
  });

  it("hashes many files across workers, also for concurrent publishes sharing one pool", async () => {
    const pool = new HashPool(2);
    try {
      const dirs = [await newDir(), await newDir()];
      const expected = new Map<string, Map<string, string>>();
      for (const [k, dir] of dirs.entries()) {
        const files: Record<string, string> = {};
        for (let i = 0; i < 300; i++)
          files[`d${i % 7}/f${i}.txt`] = `deploy ${k} file ${i} `.repeat(i % 50);
        await writeTree(dir, files);
        expected.set(dir, new Map(Object.entries(files).map(([p, c]) => [p, sha1(c)])));
      }
      const results = await Promise.all(
        dirs.map((dir) => publishDirectory(dir, { blobs, hashPool: pool })),
      );
      for (const [k, dir] of dirs.entries()) {
        const got = new Map([...results[k]!.manifest.files].map(([p, e]) => [p, e.sha1]));
        assert.deepEqual(got, expected.get(dir));
      }
    } finally {
      await pool.close();
    }
  });
  it("stores each new file's exact bytes from the workers in one pass, and skips blobs already stored", async () => {
    const root = join(work, "store-one-pass");
    const local = await LocalBlobStore.open(root);
    let puts = 0;
    const counting = new Proxy(local, {
      get(target, property, receiver) {
        if (property === "put") puts++;
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const dir = await newDir();
    const files: Record<string, Buffer> = {
      "empty.txt": Buffer.alloc(0),
      "index.html": Buffer.from("<h1>one pass</h1>"),
      "copy/index.html": Buffer.from("<h1>one pass</h1>"),
      "exactly-1mib.bin": Buffer.alloc(1024 * 1024, 7),
      "large.bin": Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => i % 251)),
    };
    for (let i = 0; i < 100; i++) files[`pages/p${i}.html`] = Buffer.from(`page ${i} `.repeat(i));
    await writeTree(dir, files);
    const distinct = new Set(Object.values(files).map((content) => sha1(content)));

    const first = await publishDirectory(dir, { blobs: counting });
    assert.equal(puts, 0, "written by the workers, not through put");
    assert.equal(first.stats.newBlobs, distinct.size);
    for (const [path, content] of Object.entries(files)) {
      const entry = first.manifest.files.get(path);
      assert.equal(entry?.sha1, sha1(content), path);
      assert.ok((await local.get(entry.sha1)).equals(content), `${path}: the same bytes`);
    }
    assert.deepEqual(await readdir(join(root, "tmp")), [], "no temp file left");

    const inodes = new Map<string, number>();
    for (const id of distinct) inodes.set(id, (await stat(local.pathOf(id))).ino);
    await writeTree(dir, { "new.html": "only in the second deploy" });
    const second = await publishDirectory(dir, { blobs: counting });
    assert.equal(second.stats.newBlobs, 1);
    assert.equal(second.stats.newBytes, "only in the second deploy".length);
    for (const id of distinct) {
      assert.equal((await stat(local.pathOf(id))).ino, inodes.get(id), "not written again");
    }
    assert.equal(
      await readFile(local.pathOf(sha1("only in the second deploy")), "utf8"),
      "only in the second deploy",
    );
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });

  it("leaves no blob and no temp file behind when a limit stops the one-pass publish", async () => {
    const root = join(work, "store-limit-stops");
    const local = await LocalBlobStore.open(root);
    const dir = await newDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 400; i++)
      files[`f${String(i).padStart(3, "0")}.txt`] = `file ${i} `.repeat(20);
    await writeTree(dir, files);
    await assert.rejects(
      publishDirectory(dir, { blobs: local, limits: { maxTotalBytes: 20_000 } }),
      rejectsWith("total_too_large", /total size limit/),
    );
    assert.deepEqual(await readdir(join(root, "tmp")), []);
    assert.deepEqual(await readdir(join(root, "blobs")), []);
  });

  it("fails with the store's error code when a worker cannot write a blob", async () => {
    const root = join(work, "store-unwritable");
    const local = await LocalBlobStore.open(root);
    await rm(join(root, "tmp"), { recursive: true });
    const dir = await newDir();
    await writeTree(dir, { "index.html": "cannot be stored" });
    await assert.rejects(publishDirectory(dir, { blobs: local }), (error: unknown) => {
      assert.ok(!(error instanceof PublishError), String(error));
      assert.equal((error as NodeJS.ErrnoException).code, "ENOENT");
      assert.match((error as Error).message, /storing "index.html" in the blob store failed/);
      return true;
    });
  });

  it("stores every blob again after a batch whose sync failed, so no manifest refers to a lost one", async () => {
    const root = join(work, "store-sync-fails-once");
    let failNext = true;
    const store = await CollectableBlobStore.open(root, {
      graceMs: 3_600_000,
      inner: (at) =>
        LocalBlobStore.open(at, {
          batchSync: async () => {
            if (!failNext) return;
            failNext = false;
            throw new Error("EIO: the power went");
          },
        }),
    });
    const dir = await newDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`page${i}.html`] = `retried page ${i}`;
    await writeTree(dir, files);
    await assert.rejects(publishDirectory(dir, { blobs: store }), /EIO: the power went/);
    const { manifest } = await publishDirectory(dir, { blobs: store });
    const ids = [...manifest.files.values()].map((entry) => entry.sha1);
    assert.deepEqual(await store.missing(ids), []);
    for (const id of ids) assert.ok(await store.inner.has(id), `${id} is in the store`);
  });
  it("fails cleanly when a large file changes before the workers write it", async () => {
    const root = join(work, "store-large-changes");
    const local = await LocalBlobStore.open(root);
    const dir = await newDir();
    const original = Buffer.alloc(2 * 1024 * 1024 + 1, 1);
    const modified = Buffer.alloc(2 * 1024 * 1024 + 1, 2);
    await writeTree(dir, { "index.html": "small", "large.bin": original });
    const tampering = new Proxy(local, {
      get(target, property, receiver) {
        if (property === "missing") {
          return async (ids: Iterable<string>) => {
            await writeFile(join(dir, "large.bin"), modified);
            return target.missing(ids);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await assert.rejects(
      publishDirectory(dir, { blobs: tampering }),
      rejectsWith("changed_during_publish", /no longer matches its hash/, "large.bin"),
    );
    assert.equal(await local.has(sha1(original)), false);
    assert.equal(await local.has(sha1(modified)), false);
    assert.equal(await local.has(sha1("small")), false, "nothing of the failed publish is stored");
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });
});
