import type { BlobReader } from "../deploys/blob-store.ts";
import type { DeployManifest } from "../deploys/manifest.ts";

/**
 * Host names → deploys. The edge asks an injected `SiteResolver` which deploy a host serves;
 * the platform implements it on its database (with its own cache), tests and benchmarks use
 * `MemorySiteResolver`. Host forms, under the platform's sites domain:
 *
 *   {site}.{domain}               the site's published deploy
 *   {deployId}--{site}.{domain}   one deploy of that site (never another site's)
 *   {branch}--{site}.{domain}     the latest deploy of a branch (branch as a DNS label)
 *
 * The label is split at its first `--`, so site names must not contain `--` (deploy ids and
 * branch labels may not either; the platform's validation owns that rule).
 */

/** What a resolver hands the edge for one request. Everything in it must be immutable. */
export interface ResolvedDeploy {
  readonly deployId: string;
  readonly manifest: DeployManifest;
  readonly blobs: BlobReader;
  /**
   * The repository's `netlify.toml` as the build saw it. When absent, a `netlify.toml` at the
   * root of the published files is used, if there is one.
   */
  readonly netlifyToml?: string;
}

export interface SiteResolver {
  /**
   * The deploy a host serves, or `undefined` (the edge then answers 404, never another site).
   * `host` is normalised: lowercase, without port or trailing dot.
   */
  resolve(host: string): Promise<ResolvedDeploy | undefined>;
  /**
   * The deploy `resolve` would give from its caches alone, without a promise (the edge's hot
   * path); `undefined` when it does not know without looking up (then call `resolve`).
   */
  cached?(host: string): ResolvedDeploy | undefined;
}

const HOST = /^[a-z0-9._-]{1,253}$/;

/**
 * The host of a `Host` header in canonical form: lowercase, port and one trailing dot removed.
 * `undefined` for an empty or malformed header (IP literals in brackets are kept as they are;
 * no resolver knows them).
 */
export function normaliseHost(header: string | undefined): string | undefined {
  if (header === undefined || header === "") return undefined;
  let host = header.toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? undefined : host.slice(0, end + 1);
  }
  const colon = host.indexOf(":");
  if (colon !== -1) {
    const port = host.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port)) return undefined;
    host = host.slice(0, colon);
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return HOST.test(host) ? host : undefined;
}

export interface SiteHost {
  /** The site's name (the label after `--`, or the whole label). */
  site: string;
  /** A deploy id or branch label before `--`, when the host names one. */
  label?: string;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Splits a normalised host under `sitesDomain` into site and optional deploy/branch label. */
export function parseSiteHost(host: string, sitesDomain: string): SiteHost | undefined {
  const domain = sitesDomain.toLowerCase().replace(/\.$/, "");
  if (host.length <= domain.length + 1 || !host.endsWith(domain)) return undefined;
  if (host[host.length - domain.length - 1] !== ".") return undefined;
  const sub = host.slice(0, host.length - domain.length - 1);
  if (!LABEL.test(sub)) return undefined;
  const split = sub.indexOf("--");
  if (split === -1) return { site: sub };
  const label = sub.slice(0, split);
  const site = sub.slice(split + 2);
  if (!LABEL.test(label) || !LABEL.test(site)) return undefined;
  return { site, label };
}

interface SiteEntry {
  published: ResolvedDeploy | undefined;
  deploys: Map<string, ResolvedDeploy>;
  branches: Map<string, ResolvedDeploy>;
}

/**
 * A `SiteResolver` over in-memory maps, for tests, benchmarks and single-process embedding.
 * `publish` swaps a site's deploy with one assignment, so a request resolves either the old
 * or the new deploy.
 */
export class MemorySiteResolver implements SiteResolver {
  private readonly sites = new Map<string, SiteEntry>();
  private readonly parsed = new Map<string, SiteHost | undefined>();

  constructor(readonly sitesDomain: string) {}

  private entry(site: string): SiteEntry {
    const name = site.toLowerCase();
    if (!LABEL.test(name) || name.includes("--")) {
      throw new TypeError(`invalid site name ${JSON.stringify(site)}`);
    }
    let entry = this.sites.get(name);
    if (!entry) {
      entry = { published: undefined, deploys: new Map(), branches: new Map() };
      this.sites.set(name, entry);
    }
    return entry;
  }

  /** Makes a deploy reachable at `{deployId}--{site}` without publishing it. */
  addDeploy(site: string, deploy: ResolvedDeploy): void {
    this.entry(site).deploys.set(deploy.deployId.toLowerCase(), deploy);
  }

  /** Publishes a deploy: from now on `{site}` resolves to it. */
  publish(site: string, deploy: ResolvedDeploy): void {
    const entry = this.entry(site);
    entry.deploys.set(deploy.deployId.toLowerCase(), deploy);
    entry.published = deploy;
  }

  /** Points `{branch}--{site}` at a deploy. */
  setBranch(site: string, branch: string, deploy: ResolvedDeploy): void {
    const entry = this.entry(site);
    entry.deploys.set(deploy.deployId.toLowerCase(), deploy);
    entry.branches.set(branch.toLowerCase(), deploy);
  }

  removeSite(site: string): void {
    this.sites.delete(site.toLowerCase());
  }

  async resolve(host: string): Promise<ResolvedDeploy | undefined> {
    let parsed = this.parsed.get(host);
    if (parsed === undefined && !this.parsed.has(host)) {
      parsed = parseSiteHost(host, this.sitesDomain);
      if (this.parsed.size >= 4096) this.parsed.clear();
      this.parsed.set(host, parsed);
    }
    if (!parsed) return undefined;
    const entry = this.sites.get(parsed.site);
    if (!entry) return undefined;
    if (parsed.label === undefined) return entry.published;
    return entry.deploys.get(parsed.label) ?? entry.branches.get(parsed.label);
  }
}
