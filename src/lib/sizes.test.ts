import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSize, parseSize } from "./sizes.ts";

describe("sizes", () => {
  it("reads sizes as settings write them, in powers of 1024", () => {
    assert.equal(parseSize("512M"), 512 * 1024 ** 2);
    assert.equal(parseSize("2G"), 2 * 1024 ** 3);
    assert.equal(parseSize("2g"), 2 * 1024 ** 3);
    assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
    assert.equal(parseSize("10 GB"), 10 * 1024 ** 3);
    assert.equal(parseSize("64k"), 65_536);
    assert.equal(parseSize("1048576"), 1_048_576);
    for (const bad of ["", "G", "-1G", "2 gigs", "1e9", "0x10", "2P", "1.G"]) {
      assert.equal(parseSize(bad), undefined, bad);
    }
  });

  it("shows a size in its largest unit", () => {
    assert.equal(formatSize(2 * 1024 ** 3), "2 GiB");
    assert.equal(formatSize(1.5 * 1024 ** 3), "1.5 GiB");
    assert.equal(formatSize(256 * 1024 ** 2), "256 MiB");
    assert.equal(formatSize(10 * 1024 ** 3), "10 GiB");
    assert.equal(formatSize(2048), "2 KiB");
    assert.equal(formatSize(100), "100 bytes");
  });
});
