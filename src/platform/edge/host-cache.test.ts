import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostCache, NOT_CACHED } from "./host-cache.ts";

/** A loader whose answers the test releases one by one, counting the look-ups it was asked for. */
function controlledLoader() {
  const waiting: { host: string; resolve: (value: string) => void }[] = [];
  return {
    waiting,
    load: (host: string) => new Promise<string>((resolve) => waiting.push({ host, resolve })),
  };
}

describe("HostCache", () => {
  it("looks a host up once however many requests wait, then answers without a promise", async () => {
    const loader = controlledLoader();
    const cache = new HostCache({ load: loader.load, ttlMs: 1000, now: () => 0 });
    assert.equal(cache.cached("a.test"), NOT_CACHED);
    const first = cache.lookup("a.test");
    const second = cache.lookup("a.test");
    assert.equal(loader.waiting.length, 1);
    loader.waiting[0]!.resolve("route a");
    assert.deepEqual(await Promise.all([first, second]), ["route a", "route a"]);
    assert.equal(cache.cached("a.test"), "route a");
  });

  it("answers an expired entry while one look-up refreshes it", async () => {
    const loader = controlledLoader();
    let now = 0;
    const cache = new HostCache({ load: loader.load, ttlMs: 1000, now: () => now });
    const first = cache.lookup("a.test");
    loader.waiting.shift()!.resolve("old");
    await first;
    now = 1500;
    assert.equal(cache.cached("a.test"), "old");
    assert.equal(cache.cached("a.test"), "old");
    assert.equal(loader.waiting.length, 1, "one refresh for both");
    loader.waiting.shift()!.resolve("new");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cache.cached("a.test"), "new");
    assert.equal(loader.waiting.length, 0, "fresh again: no look-up");
  });

  it("forgets everything on invalidate, and never caches a look-up that began before it", async () => {
    const loader = controlledLoader();
    const cache = new HostCache({ load: loader.load, ttlMs: 1000, now: () => 0 });
    const cached = cache.lookup("a.test");
    loader.waiting.shift()!.resolve("before");
    await cached;
    const racing = cache.lookup("b.test");
    cache.invalidate();
    assert.equal(cache.cached("a.test"), NOT_CACHED);
    loader.waiting.shift()!.resolve("read before the change");
    assert.equal(await racing, "read before the change");
    assert.equal(cache.cached("b.test"), NOT_CACHED, "not kept: it may predate the change");
    const after = cache.lookup("b.test");
    loader.waiting.shift()!.resolve("after");
    assert.equal(await after, "after");
    assert.equal(cache.cached("b.test"), "after");
  });

  it("without serveExpired, answers nothing once expired and makes lookup wait for a fresh one", async () => {
    const loader = controlledLoader();
    let now = 0;
    const cache = new HostCache({
      load: loader.load,
      ttlMs: 1000,
      now: () => now,
      serveExpired: false,
    });
    const first = cache.lookup("a.test");
    loader.waiting.shift()!.resolve("old");
    await first;
    now = 1000;
    assert.equal(cache.cached("a.test"), NOT_CACHED);
    assert.equal(loader.waiting.length, 0, "no look-up in the background");
    const fresh = cache.lookup("a.test");
    const again = cache.lookup("a.test");
    assert.equal(loader.waiting.length, 1, "one look-up for both");
    loader.waiting.shift()!.resolve("new");
    assert.deepEqual(await Promise.all([fresh, again]), ["new", "new"]);
    assert.equal(cache.cached("a.test"), "new");
  });

  it("forgets only the matching hosts on invalidate(matches), and caches no look-up under way", async () => {
    const loader = controlledLoader();
    const cache = new HostCache({ load: loader.load, ttlMs: 1000, now: () => 0 });
    for (const host of ["a.test", "b.test"]) {
      const looking = cache.lookup(host);
      loader.waiting.shift()!.resolve(`site of ${host}`);
      await looking;
    }
    const racing = cache.lookup("c.test");
    cache.invalidate((value) => value === "site of a.test");
    assert.equal(cache.cached("a.test"), NOT_CACHED);
    assert.equal(cache.cached("b.test"), "site of b.test", "another site's host stays");
    loader.waiting.shift()!.resolve("read before the change");
    assert.equal(await racing, "read before the change");
    assert.equal(cache.cached("c.test"), NOT_CACHED, "not kept: it may predate the change");
  });

  it("keeps nothing with a zero expiry: every request looks up", async () => {
    const loader = controlledLoader();
    const cache = new HostCache({ load: loader.load, ttlMs: 0, now: () => 0 });
    const first = cache.lookup("a.test");
    loader.waiting.shift()!.resolve("one");
    assert.equal(await first, "one");
    assert.equal(cache.cached("a.test"), NOT_CACHED);
  });
});
