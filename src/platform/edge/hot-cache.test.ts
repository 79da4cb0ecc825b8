import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HotCache } from "./hot-cache.ts";

const kib = (n: number, fill = 1): Buffer => Buffer.alloc(n * 1024, fill);

describe("HotCache", () => {
  it("evicts the least recently used entries to stay within its byte bound", () => {
    const cache = new HotCache(10 * 1024);
    cache.set("a", kib(3, 1));
    cache.set("b", kib(3, 2));
    cache.set("c", kib(3, 3));
    assert.ok(cache.get("a"), "touching a makes b the oldest");
    cache.set("d", kib(3, 4));
    assert.equal(cache.has("b"), false);
    assert.ok(cache.has("a") && cache.has("c") && cache.has("d"));
    const stats = cache.stats();
    assert.ok(stats.bytes <= 10 * 1024, `bytes ${stats.bytes}`);
    assert.equal(stats.entries, 3);
    assert.equal(stats.evictions, 1);
  });

  it("never stores an entry larger than the whole cache", () => {
    const cache = new HotCache(1024);
    cache.set("big", kib(2));
    assert.equal(cache.has("big"), false);
    assert.equal(cache.stats().bytes, 0);
  });

  it("replaces an entry without double-counting it", () => {
    const cache = new HotCache(100 * 1024);
    cache.set("k", kib(10));
    cache.set("k", kib(20));
    assert.equal(cache.stats().entries, 1);
    assert.ok(cache.stats().bytes < 21 * 1024);
    assert.equal(cache.get("k")?.length, 20 * 1024);
  });

  it("shares one load between concurrent misses and serves later calls from memory", async () => {
    const cache = new HotCache(1024 * 1024);
    let loads = 0;
    const loader = async (): Promise<Buffer> => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return Buffer.from("content");
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.load("x", loader)));
    assert.equal(loads, 1);
    assert.ok(results.every((r) => r.toString() === "content"));
    assert.equal((await cache.load("x", loader)).toString(), "content");
    assert.equal(loads, 1);
    const stats = cache.stats();
    assert.equal(stats.misses, 1);
    assert.ok(stats.hits >= 1);
  });

  it("does not cache a failed load", async () => {
    const cache = new HotCache(1024);
    await assert.rejects(
      cache.load("y", () => Promise.reject(new Error("disk on fire"))),
      /disk on fire/,
    );
    assert.equal(cache.has("y"), false);
    assert.equal((await cache.load("y", async () => Buffer.from("ok"))).toString(), "ok");
  });
});
