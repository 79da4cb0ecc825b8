/**
 * What the edge knows of a host (its custom-domain route, its password), kept so that a request
 * reads no database:
 *
 * - a change is seen by the next request: `invalidate` (a domain, certificate, password or site
 *   change, on this node or another: `edge-sync/`) drops every entry, and a look-up that began
 *   before it is not cached;
 * - an expired entry is still answered while one look-up refreshes it (the expiry only bounds a
 *   missed notification), so requests never wait for, or pile up, queries of their own: at most
 *   one look-up per host is in flight.
 */
export const NOT_CACHED: unique symbol = Symbol("not cached");

export interface HostCacheOptions<V> {
  load: (host: string) => Promise<V>;
  /** How long an entry is believed without a look-up (default 500 ms; 0: nothing is kept). */
  ttlMs?: number;
  /**
   * Whether an expired entry is still answered while one look-up refreshes it (default true).
   * False: an expired entry is not cached any more, and `lookup` waits for the fresh one (the
   * site resolver, whose answer decides which deploy's files are served).
   */
  serveExpired?: boolean;
  maxHosts?: number;
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expires: number;
}

export class HostCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly ttlMs: number;
  private readonly maxHosts: number;
  private readonly now: () => number;
  private readonly serveExpired: boolean;
  /** Bumped by `invalidate`: a look-up that began before one must not cache what it read. */
  private invalidations = 0;

  constructor(private readonly options: HostCacheOptions<V>) {
    this.ttlMs = options.ttlMs ?? 500;
    this.maxHosts = options.maxHosts ?? 10_000;
    this.now = options.now ?? Date.now;
    this.serveExpired = options.serveExpired ?? true;
  }

  /**
   * The cached value, or `NOT_CACHED`. Once expired, refreshed in the background (and still
   * answered) or, without `serveExpired`, `NOT_CACHED`.
   */
  cached(host: string): V | typeof NOT_CACHED {
    const entry = this.entries.get(host);
    if (entry === undefined) return NOT_CACHED;
    if (entry.expires <= this.now()) {
      if (!this.serveExpired) return NOT_CACHED;
      void this.refresh(host).catch(() => undefined);
    }
    return entry.value;
  }

  /**
   * The value, never an expired one: a fresh entry, else a look-up (the one under way, if any).
   * For a reader that must not serve what the expiry bounds (the site resolver's deploy).
   */
  fresh(host: string): Promise<V> {
    const entry = this.entries.get(host);
    return entry !== undefined && entry.expires > this.now()
      ? Promise.resolve(entry.value)
      : this.refresh(host);
  }

  /** The value, from the cache or a look-up. */
  lookup(host: string): Promise<V> {
    const cached = this.cached(host);
    return cached === NOT_CACHED ? this.refresh(host) : Promise.resolve(cached);
  }

  /**
   * Forgets every host, or only those whose value `matches` (a site's hosts). Either way no
   * look-up under way is cached: it may have read before the change.
   */
  invalidate(matches?: (value: V) => boolean): void {
    this.invalidations++;
    this.inflight.clear();
    if (matches === undefined) {
      this.entries.clear();
      return;
    }
    for (const [host, entry] of this.entries) {
      if (matches(entry.value)) this.entries.delete(host);
    }
  }

  private refresh(host: string): Promise<V> {
    const running = this.inflight.get(host);
    if (running !== undefined) return running;
    const invalidations = this.invalidations;
    const done = (): void => {
      if (this.inflight.get(host) === pending) this.inflight.delete(host);
    };
    const pending = this.options.load(host).then(
      (value) => {
        done();
        if (invalidations === this.invalidations && this.ttlMs > 0) {
          if (this.entries.size >= this.maxHosts) this.entries.clear();
          this.entries.set(host, { value, expires: this.now() + this.ttlMs });
        }
        return value;
      },
      (error: unknown) => {
        done(); // the entry it had stays; the next request tries again
        throw error;
      },
    );
    this.inflight.set(host, pending);
    return pending;
  }
}
