import { sql, type Kysely } from "kysely";
import type { AuditEventsTable, PlatformDatabase } from "../db/schema.ts";
import type { Selectable } from "kysely";

export type AuditEvent = Selectable<AuditEventsTable>;

export interface AuditQuery {
  /** Words that must appear in the action, the actor's name or e-mail, or the target's name. */
  query?: string;
  /** An object kind: `site`, `env`, `session`, … (the part of the action before the dot). */
  logType?: string;
  offset: number;
  limit: number;
}

/** `%` and `_` are LIKE's wildcards; a user's search text matches them literally. */
function likeLiteral(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * An account's events, newest first: those on its objects, and those about its members as users
 * (their sign-ins and tokens), which belong to no account.
 */
export async function listAuditEvents(
  db: Kysely<PlatformDatabase>,
  accountId: string,
  filter: AuditQuery,
): Promise<{ events: AuditEvent[]; total: number }> {
  let query = db
    .selectFrom("audit_events")
    .where((eb) =>
      eb.or([
        eb("account_id", "=", accountId),
        eb.and([
          eb("account_id", "is", null),
          eb(
            "user_id",
            "in",
            eb
              .selectFrom("account_memberships")
              .select("user_id")
              .where("account_memberships.account_id", "=", accountId),
          ),
        ]),
      ]),
    );
  if (filter.logType !== undefined) {
    // `log_type` is checked to be a plain word (`api/audit/schema.ts`): no wildcard in it.
    query = query.where("action", "like", `${filter.logType}.%`);
  }
  for (const word of (filter.query ?? "").split(/\s+/).filter(Boolean)) {
    const pattern = likeLiteral(word);
    query = query.where((eb) =>
      eb.or([
        // lower() on both sides: SQLite's LIKE ignores (ASCII) case, Postgres's does not.
        eb(sql`lower(action)`, "like", sql`lower(${pattern}) escape '\\'`),
        eb(sql`lower(coalesce(actor_name, ''))`, "like", sql`lower(${pattern}) escape '\\'`),
        eb(sql`lower(coalesce(actor_email, ''))`, "like", sql`lower(${pattern}) escape '\\'`),
        eb(sql`lower(coalesce(target_name, ''))`, "like", sql`lower(${pattern}) escape '\\'`),
      ]),
    );
  }
  const { total } = await query
    .select((eb) => eb.fn.countAll<number>().as("total"))
    .executeTakeFirstOrThrow();
  const events = await query
    .selectAll()
    .orderBy("id", "desc")
    .offset(filter.offset)
    .limit(filter.limit)
    .execute();
  return { events, total: Number(total) };
}

/** How long events are kept unless `SLIPWAY_AUDIT_RETENTION_DAYS` says otherwise. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

/** Drops events older than the retention (`SLIPWAY_AUDIT_RETENTION_DAYS`); returns how many. */
export async function pruneAuditEvents(
  db: Kysely<PlatformDatabase>,
  days: number,
): Promise<number> {
  const before = new Date(Date.now() - days * 86_400_000).toISOString();
  const result = await db
    .deleteFrom("audit_events")
    .where("created_at", "<", before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
