import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  LocalManifestStore,
  ManifestConflictError,
  ManifestError,
  ManifestPathError,
  createManifest,
  manifestToJson,
  manifestTotalBytes,
  parseManifestJson,
  validateManifestPath,
} from "./manifest.ts";

const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);

describe("validateManifestPath", () => {
  it("accepts relative and digest-style paths and returns the canonical relative form", () => {
    assert.equal(validateManifestPath("index.html"), "index.html");
    assert.equal(validateManifestPath("/index.html"), "index.html");
    assert.equal(validateManifestPath("/blog/2024/post one.html"), "blog/2024/post one.html");
    assert.equal(validateManifestPath("café/ünïcode.html"), "café/ünïcode.html");
    assert.equal(validateManifestPath(".well-known/security.txt"), ".well-known/security.txt");
    assert.equal(validateManifestPath("a/...x"), "a/...x");
  });

  it("refuses traversal, absolute-looking, empty-segment and control-character paths", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["/", /empty/],
      ["../etc/passwd", /'\.\.'/],
      ["a/../../b", /'\.\.'/],
      ["./a", /'\.'/],
      ["a/./b", /'\.'/],
      ["//etc/passwd", /'\/\/'/],
      ["a//b", /'\/\/'/],
      ["dir/", /ends with a slash/],
      ["a\\..\\b", /backslash/],
      ["a\u0000.html", /control character or NUL/],
      ["line\nbreak", /control character/],
      ["del\u007f", /control character/],
      ["x".repeat(1025), /longer than 1024/],
      [`${"y".repeat(256)}.html`, /longer than 255 bytes/],
    ];
    for (const [path, reason] of cases) {
      assert.throws(
        () => validateManifestPath(path),
        (error) => error instanceof ManifestPathError && reason.test(error.message),
        `expected ${JSON.stringify(path)} to be refused with ${reason}`,
      );
    }
  });

  it("decodes netlify-cli's percent-encoded segments, never turning %2F into a separator", () => {
    assert.equal(validateManifestPath("/my%20file.html", { urlEncoded: true }), "my file.html");
    assert.equal(validateManifestPath("/caf%C3%A9.html", { urlEncoded: true }), "café.html");
    assert.throws(() => validateManifestPath("/a%2Fb", { urlEncoded: true }), /encoded slash/);
    assert.throws(() => validateManifestPath("/%2e%2e/x", { urlEncoded: true }), /'\.\.'/);
    assert.throws(() => validateManifestPath("/a%00b", { urlEncoded: true }), /NUL/);
    assert.throws(() => validateManifestPath("/%E0%A4%A", { urlEncoded: true }), /percent/);
    // Without the option, '%' is just a character of the name.
    assert.equal(validateManifestPath("/100%25.html"), "100%25.html");
  });
});

describe("manifests", () => {
  it("builds a manifest with canonical paths and refuses two spellings of one file", () => {
    const manifest = createManifest([
      ["/index.html", { sha1: SHA_A, size: 10 }],
      ["css/site.css", { sha1: SHA_B, size: 5, mode: 0o644 }],
    ]);
    assert.deepEqual([...manifest.files.keys()], ["index.html", "css/site.css"]);
    assert.equal(manifestTotalBytes(manifest), 15);
    assert.throws(
      () =>
        createManifest([
          ["/a.html", { sha1: SHA_A, size: 1 }],
          ["a.html", { sha1: SHA_A, size: 1 }],
        ]),
      ManifestError,
    );
  });

  it("refuses invalid entries", () => {
    assert.throws(() => createManifest([["a", { sha1: "A".repeat(40), size: 1 }]]), /sha1/);
    assert.throws(() => createManifest([["a", { sha1: SHA_A, size: -1 }]]), /size/);
    assert.throws(() => createManifest([["a", { sha1: SHA_A, size: 1.5 }]]), /size/);
    assert.throws(() => createManifest([["a", { sha1: SHA_A, size: 1, mode: 0o17777 }]]), /mode/);
    assert.throws(() => createManifest([["../a", { sha1: SHA_A, size: 1 }]]), ManifestPathError);
  });

  it("round-trips through stable JSON, including names that are object-prototype keys", () => {
    const manifest = createManifest([
      ["z.html", { sha1: SHA_B, size: 2 }],
      ["__proto__", { sha1: SHA_A, size: 3 }],
      ["constructor", { sha1: SHA_A, size: 3, mode: 0o755 }],
    ]);
    const json = manifestToJson(manifest);
    assert.equal(
      json,
      `{"version":1,"files":{"__proto__":{"sha1":"${SHA_A}","size":3},` +
        `"constructor":{"sha1":"${SHA_A}","size":3,"mode":493},"z.html":{"sha1":"${SHA_B}","size":2}}}`,
    );
    const parsed = parseManifestJson(json);
    assert.deepEqual(parsed.files, manifest.files);
    assert.equal(parsed.files.get("toString"), undefined);
  });

  it("refuses manifests that are not valid, canonical version-1 JSON", () => {
    assert.throws(() => parseManifestJson("{"), /not JSON/);
    assert.throws(() => parseManifestJson("[]"), /version/);
    assert.throws(() => parseManifestJson('{"version":2,"files":{}}'), /version 2/);
    assert.throws(() => parseManifestJson('{"version":1,"files":[]}'), /files/);
    assert.throws(
      () => parseManifestJson(`{"version":1,"files":{"/a":{"sha1":"${SHA_A}","size":1}}}`),
      /canonical/,
    );
    assert.throws(
      () => parseManifestJson(`{"version":1,"files":{"a/../b":{"sha1":"${SHA_A}","size":1}}}`),
      ManifestPathError,
    );
  });
});

describe("LocalManifestStore", () => {
  let root: string;
  let store: LocalManifestStore;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-manifests-"));
    store = await LocalManifestStore.open(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("stores a manifest atomically and reads the same manifest back", async () => {
    const manifest = createManifest([
      ["index.html", { sha1: SHA_A, size: 100, mode: 0o644 }],
      ["assets/app.js", { sha1: SHA_B, size: 2000 }],
    ]);
    await store.put("65f1c0ffee", manifest);
    const loaded = await store.get("65f1c0ffee");
    assert.ok(loaded);
    assert.deepEqual(loaded.files, manifest.files);
    assert.equal(
      await readFile(join(root, "manifests", "65f1c0ffee.json"), "utf8"),
      manifestToJson(manifest),
    );
    assert.deepEqual(await readdir(join(root, "manifests")), ["65f1c0ffee.json"], "no temp files");
  });

  it("is idempotent for the same manifest and refuses to change a deploy", async () => {
    const first = createManifest([["a.html", { sha1: SHA_A, size: 1 }]]);
    await store.put("d1", first);
    await store.put("d1", createManifest([["/a.html", { sha1: SHA_A, size: 1 }]]));
    await assert.rejects(
      store.put("d1", createManifest([["a.html", { sha1: SHA_B, size: 1 }]])),
      ManifestConflictError,
    );
    assert.deepEqual((await store.get("d1"))?.files, first.files);
  });

  it("returns undefined for an unknown deploy and deletes", async () => {
    assert.equal(await store.get("nope"), undefined);
    await store.put("gone", createManifest([["a", { sha1: SHA_A, size: 1 }]]));
    await store.delete("gone");
    assert.equal(await store.get("gone"), undefined);
  });

  it("refuses deploy ids that could name another file", async () => {
    for (const bad of ["../x", "a/b", "", ".hidden", "a.json"]) {
      await assert.rejects(store.get(bad), TypeError);
      await assert.rejects(store.put(bad, createManifest([])), TypeError);
    }
  });
});
