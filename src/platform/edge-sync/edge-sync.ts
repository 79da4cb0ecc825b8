import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { isRecord } from "../../lib/json.ts";
import type { Logger } from "../../lib/logger.ts";
import { pgListen, type PgListener } from "../../lib/pg-listen.ts";
import type { PlatformDatabase } from "../db/schema.ts";

/**
 * Publishing reaches every node's edge at once (docs/scale-out.md, "Publishing on every node").
 * The node where a publish, rollback, restore or domain change commits forgets its own cached
 * routes at once and sends a Postgres `NOTIFY`; every other node forgets the same routes when
 * it arrives, so that its next request reads the new state. On SQLite there is one process and
 * nothing to send.
 *
 * A node that missed notifications (its `LISTEN` connection was lost) forgets every cached route
 * when it listens again; a node that starts has nothing cached yet. A notification lost in
 * between (a node that dies after its commit, before its `NOTIFY`) is bounded by the caches'
 * own expiry (500 ms by default).
 */
export interface EdgeCaches {
  /** The site's published deploy changed: forget its hosts. */
  forgetSite(siteName: string): void;
  /** The site's custom domains or certificate changed. */
  forgetDomains(siteId: string): void;
  /** Notifications may have been missed: forget every cached route. */
  forgetAll(): void;
}

export const EDGE_CHANNEL = "slipway_edge";

type Message = { from: string; site: string } | { from: string; domains: string };

export class EdgeSync {
  /** This process among the nodes: its own notifications come back to it, and are skipped. */
  private readonly node = randomBytes(8).toString("hex");
  private caches: EdgeCaches | undefined;
  private listener: PgListener | undefined;

  constructor(
    private readonly options: {
      db: Kysely<PlatformDatabase>;
      /** Postgres (`SLIPWAY_DATABASE_URL`); undefined on SQLite. */
      databaseUrl: string | undefined;
      log: Logger;
    },
  ) {}

  /** Call after the publish committed (a notification must not arrive before the change). */
  sitePublished(siteName: string): void {
    this.caches?.forgetSite(siteName);
    this.tellOthers({ from: this.node, site: siteName });
  }

  /** Call after a change of a site's domains or certificate committed. */
  domainsChanged(siteId: string): void {
    this.caches?.forgetDomains(siteId);
    this.tellOthers({ from: this.node, domains: siteId });
  }

  /** Applies this node's and the other nodes' changes to `caches` from now on. */
  async listen(caches: EdgeCaches): Promise<void> {
    this.caches = caches;
    if (this.options.databaseUrl === undefined) return;
    this.listener = await pgListen({
      url: this.options.databaseUrl,
      channel: EDGE_CHANNEL,
      log: this.options.log,
      onNotification: (payload) => this.apply(payload),
      onListening: (reconnected) => {
        if (reconnected) caches.forgetAll();
      },
    });
  }

  async stop(): Promise<void> {
    this.caches = undefined;
    await this.listener?.stop();
  }

  private tellOthers(message: Message): void {
    if (this.options.databaseUrl === undefined) return;
    // Not awaited: the change is committed and this node's edge already knows; a lost
    // notification costs the other nodes the caches' expiry, not correctness.
    sql`select pg_notify(${EDGE_CHANNEL}, ${JSON.stringify(message)})`
      .execute(this.options.db)
      .catch((error: unknown) =>
        this.options.log.warn({ err: error, message }, "edge notification not sent"),
      );
  }

  private apply(payload: string): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      message = undefined;
    }
    if (!isRecord(message) || typeof message.from !== "string") {
      this.options.log.warn({ payload: payload.slice(0, 200) }, "edge notification not understood");
      return;
    }
    if (message.from === this.node) return;
    if (typeof message.site === "string") this.caches?.forgetSite(message.site);
    else if (typeof message.domains === "string") this.caches?.forgetDomains(message.domains);
  }
}
