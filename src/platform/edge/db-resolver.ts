import type { Kysely } from "kysely";
import { OBJECT_ID } from "../../lib/ids.ts";
import { reviewIdOfLabel } from "../sites/review-refs.ts";
import { branchLabel } from "../sites/urls.ts";
import type { PlatformDatabase } from "../db/schema.ts";
import type { BlobReader } from "../deploys/blob-store.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
import type { DomainRoutes } from "./domain-routes.ts";
import { HostCache, NOT_CACHED } from "./host-cache.ts";
import { parseSiteHost, type ResolvedDeploy, type SiteResolver } from "./hosts.ts";

/**
 * The platform's `SiteResolver`: host → deploy from the database, with two small caches.
 *
 * - host → deploy id, for `ttlMs` (default 500 ms; unknown hosts too), in a `HostCache` (one
 *   look-up per host at a time). A custom domain's deploy is its route's, read through the
 *   front's `routes` (never an expired entry): one look-up per custom host for both. A publish
 *   on any node invalidates the site's hosts and routes at once (`invalidateSite`, through
 *   `edge-sync/` on Postgres), and a look-up under way then is not cached; a missed
 *   notification costs at most the TTL — nothing shared in memory.
 * - deploy id → manifest (immutable per deploy id), bounded LRU.
 *
 * Only `ready` deploys are served: `{site}` is the site's published deploy, `{deployId}--{site}`
 * one ready deploy of that very site, `{branch}--{site}` the newest ready deploy of a branch
 * (the branch as a DNS label, `feature/x` → `feature-x`), `deploy-preview-{n}--{site}` the
 * newest ready preview of pull/merge request n. Anything else is undefined → 404. Drafts
 * (`netlify deploy` without `--prod`) are reachable only at `{deployId}--{site}`.
 */
export interface DbSiteResolverOptions {
  db: Kysely<PlatformDatabase>;
  sitesDomain: string;
  blobs: BlobReader;
  manifests: ManifestStore;
  /** Custom host → route, shared with the front and the password check. */
  routes: DomainRoutes;
  ttlMs?: number;
  maxHosts?: number;
  maxDeploys?: number;
  now?: () => number;
}

/** What a host names: its site (for `invalidateSite`) and the deploy it serves. */
interface HostEntry {
  site: string | undefined;
  deployId: string | undefined;
}

export class DbSiteResolver implements SiteResolver {
  /** Never answers an expired entry: after the TTL, a request waits for the database. */
  private readonly hosts: HostCache<HostEntry>;
  private readonly deploys = new Map<string, ResolvedDeploy>();
  private readonly maxDeploys: number;

  constructor(private readonly options: DbSiteResolverOptions) {
    this.maxDeploys = options.maxDeploys ?? 256;
    this.hosts = new HostCache({
      load: (host) => this.lookup(host),
      ttlMs: options.ttlMs ?? 500,
      maxHosts: options.maxHosts ?? 10_000,
      now: options.now,
      serveExpired: false,
    });
  }

  async resolve(host: string): Promise<ResolvedDeploy | undefined> {
    const entry = await this.hosts.lookup(host);
    return entry.deployId === undefined ? undefined : this.deploy(entry.deployId);
  }

  cached(host: string): ResolvedDeploy | undefined {
    const entry = this.hosts.cached(host);
    if (entry === NOT_CACHED || entry.deployId === undefined) return undefined;
    // Not moved to the LRU's end: a hit is kept fresh by `resolve` at every expiry.
    return this.deploys.get(entry.deployId);
  }

  /**
   * Forgets every cached host of a site, and its custom domains' routes (they carry the
   * published deploy), after a publish on any node (`edge-sync/`).
   */
  invalidateSite(siteName: string): void {
    this.hosts.invalidate((entry) => entry.site === siteName);
    this.options.routes.invalidate((route) => route?.siteName === siteName);
  }

  /** Forgets every cached host (publishes on other nodes may have been missed). */
  invalidateAll(): void {
    this.hosts.invalidate();
  }

  private async lookup(host: string): Promise<HostEntry> {
    const parsed = parseSiteHost(host, this.options.sitesDomain);
    if (parsed) {
      return { site: parsed.site, deployId: await this.deployIdFor(parsed.site, parsed.label) };
    }
    // A custom domain, alias or wildcard alias: the site's published deploy.
    const route = await this.options.routes.fresh(host);
    return { site: route?.siteName, deployId: route?.publishedDeployId ?? undefined };
  }

  private async deployIdFor(
    siteName: string,
    label: string | undefined,
  ): Promise<string | undefined> {
    const { db } = this.options;
    const site = await db
      .selectFrom("sites")
      .select(["id", "published_deploy_id"])
      .where("name", "=", siteName)
      .executeTakeFirst();
    if (!site) return undefined;
    if (label === undefined) return site.published_deploy_id ?? undefined;
    if (OBJECT_ID.test(label)) {
      const deploy = await db
        .selectFrom("deploys")
        .select("id")
        .where("id", "=", label)
        .where("site_id", "=", site.id)
        .where("state", "=", "ready")
        // Retention let it go: its files may be collected already.
        .where("expired_at", "is", null)
        .executeTakeFirst();
      if (deploy) return deploy.id;
    }
    const reviewId = reviewIdOfLabel(label);
    if (reviewId !== undefined) {
      // `deploy-preview-<n>`: the newest ready preview of that pull/merge request.
      const preview = await db
        .selectFrom("deploys")
        .select("id")
        .where("site_id", "=", site.id)
        .where("review_id", "=", reviewId)
        .where("context", "=", "deploy-preview")
        .where("state", "=", "ready")
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .executeTakeFirst();
      return preview?.id;
    }
    const candidates = await db
      .selectFrom("deploys")
      .select(["id", "branch"])
      .where("site_id", "=", site.id)
      .where("state", "=", "ready")
      .where("branch", "is not", null)
      // A preview's branch is its request's head (maybe a fork's `main`): never a branch deploy.
      .where("context", "!=", "deploy-preview")
      // A draft is served only at its own permalink, never as a branch deploy.
      .where("draft", "=", 0)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(500)
      .execute();
    return candidates.find((d) => d.branch !== null && branchLabel(d.branch) === label)?.id;
  }

  private async deploy(deployId: string): Promise<ResolvedDeploy | undefined> {
    const cached = this.deploys.get(deployId);
    if (cached) {
      // LRU: move to the end.
      this.deploys.delete(deployId);
      this.deploys.set(deployId, cached);
      return cached;
    }
    const manifest = await this.options.manifests.get(deployId);
    if (!manifest) return undefined;
    const resolved: ResolvedDeploy = { deployId, manifest, blobs: this.options.blobs };
    if (this.deploys.size >= this.maxDeploys) {
      const oldest = this.deploys.keys().next().value;
      if (oldest !== undefined) this.deploys.delete(oldest);
    }
    this.deploys.set(deployId, resolved);
    return resolved;
  }
}
