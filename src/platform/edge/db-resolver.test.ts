import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryContext, type MemoryContext } from "../../../test/helpers/memory-ctx.ts";
import type { BlobReader } from "../deploys/blob-store.ts";
import type { DeployManifest, ManifestStore } from "../deploys/manifest.ts";
import { routeForHost } from "../domains/hosts.ts";
import { DbSiteResolver } from "./db-resolver.ts";
import { createDomainRoutes } from "./domain-routes.ts";
import { HostCache, NOT_CACHED } from "./host-cache.ts";

// One database for both suites: each test uses its own site.
let memory: MemoryContext;
before(async () => {
  memory = await memoryContext();
});
after(() => memory.close());

/** What a publish changes in the database (the resolver is told separately). */
const publish = (siteId: string, deployId: string) =>
  memory.ctx.db
    .updateTable("sites")
    .set({ published_deploy_id: deployId })
    .where("id", "=", siteId)
    .execute();

describe("DbSiteResolver.cached (the edge's promise-free path)", () => {
  it("answers only what resolve would, from its caches, and never after an invalidation or expiry", async () => {
    const manifests = new Map<string, DeployManifest>([
      ["deploy1", { files: new Map([["index.html", { sha1: "a".repeat(40), size: 1 }]]) }],
      ["deploy2", { files: new Map([["index.html", { sha1: "b".repeat(40), size: 1 }]]) }],
    ]);
    const store: ManifestStore = {
      put: () => Promise.reject(new Error("read only")),
      get: (id) => Promise.resolve(manifests.get(id)),
      delete: () => Promise.reject(new Error("read only")),
    };
    let clock = 1_000;
    const site = await memory.createSite({ published_deploy_id: "deploy1" });
    const resolver = new DbSiteResolver({
      db: memory.ctx.db,
      sitesDomain: "localhost",
      blobs: {} as BlobReader,
      manifests: store,
      routes: createDomainRoutes(memory.ctx.db, { ttlMs: 500, now: () => clock }),
      ttlMs: 500,
      now: () => clock,
    });
    const host = `${site.name}.localhost`;

    assert.equal(resolver.cached(host), undefined, "nothing is known before a lookup");
    const resolved = await resolver.resolve(host);
    assert.equal(resolved?.deployId, "deploy1");
    assert.equal(resolver.cached(host), resolved);
    assert.equal(resolver.cached(`nosuchsite.localhost`), undefined);

    // A publish in this process: the next request must look the site up again.
    await publish(site.id, "deploy2");
    resolver.invalidateSite(site.name);
    assert.equal(resolver.cached(host), undefined);
    assert.equal((await resolver.resolve(host))?.deployId, "deploy2");
    assert.equal(resolver.cached(host)?.deployId, "deploy2");

    // A publish elsewhere is seen once the entry expires.
    clock += 500;
    assert.equal(resolver.cached(host), undefined);
  });
});

/** Every deploy has a manifest, with no files (what these tests look at is which deploy). */
const emptyManifests: ManifestStore = {
  put: () => Promise.reject(new Error("read only")),
  get: () => Promise.resolve({ files: new Map() }),
  delete: () => Promise.reject(new Error("read only")),
};

describe("DbSiteResolver during a publish", () => {
  it("does not cache what a lookup read before an invalidation", async () => {
    const site = await memory.createSite({ published_deploy_id: "deploy1" });
    const resolver = new DbSiteResolver({
      db: memory.ctx.db,
      sitesDomain: "localhost",
      blobs: {} as BlobReader,
      manifests: emptyManifests,
      routes: createDomainRoutes(memory.ctx.db, { ttlMs: 60_000 }),
      ttlMs: 60_000,
    });
    const host = `${site.name}.localhost`;
    for (const forget of [
      () => resolver.invalidateSite(site.name),
      () => resolver.invalidateAll(),
    ]) {
      // The lookup is under way when the publish's notification arrives.
      const resolving = resolver.resolve(host);
      forget();
      assert.equal((await resolving)?.deployId, "deploy1", "the request under way is answered");
      assert.equal(resolver.cached(host), undefined, "the next request looks the site up again");
      // A lookup that starts after the invalidation is cached as usual.
      await resolver.resolve(host);
      assert.equal(resolver.cached(host)?.deployId, "deploy1");
      resolver.invalidateAll();
    }
  });
});

describe("DbSiteResolver at a custom domain", () => {
  it("reads the route the front caches (one look-up for both) and forgets it at a publish", async () => {
    const site = await memory.createSite({ published_deploy_id: "deploy1" });
    const host = `${site.name}.example.com`;
    const at = new Date().toISOString();
    await memory.ctx.db
      .insertInto("site_domains")
      .values({
        domain: host,
        site_id: site.id,
        kind: "primary",
        state: "active",
        reason: null,
        checked_at: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    let lookups = 0;
    const routes = new HostCache({
      load: (h: string) => {
        lookups++;
        return routeForHost(memory.ctx.db, h, new Date());
      },
      ttlMs: 60_000,
    });
    const resolver = new DbSiteResolver({
      db: memory.ctx.db,
      sitesDomain: "localhost",
      blobs: {} as BlobReader,
      manifests: emptyManifests,
      routes,
      ttlMs: 60_000,
    });

    assert.equal((await resolver.resolve(host))?.deployId, "deploy1");
    assert.equal(lookups, 1);
    const route = routes.cached(host);
    assert.ok(route !== NOT_CACHED && route?.siteName === site.name, "the front finds it cached");
    assert.equal(lookups, 1, "the front's read is the resolver's look-up");

    // A publish: the route carries the published deploy, so it is forgotten with the site.
    await publish(site.id, "deploy2");
    resolver.invalidateSite(site.name);
    assert.equal(routes.cached(host), NOT_CACHED);
    assert.equal((await resolver.resolve(host))?.deployId, "deploy2");
    assert.equal(lookups, 2);
  });
});
