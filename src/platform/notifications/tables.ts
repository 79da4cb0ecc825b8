import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";

/** A site's outgoing notification for one deploy event (Netlify's `hook`). */
export interface NotificationHooksTable {
  id: string;
  site_id: string;
  type: string;
  event: string;
  /** The hook's `data` as JSON, sealed with `notification_hook:<id>`. */
  data_sealed: string;
  disabled: number;
  created_at: string;
  updated_at: string;
}

/** One delivery attempt of a hook: what was sent for which deploy, and how it went. */
export interface NotificationDeliveriesTable {
  id: number | undefined;
  hook_id: string;
  deploy_id: string;
  event: string;
  attempt: number;
  /** `delivered`, `retrying` (another attempt is queued) or `failed` (given up). */
  outcome: "delivered" | "retrying" | "failed";
  status_code: number | null;
  error: string | null;
  next_attempt_at: string | null;
  created_at: string;
}

// A type, not an interface: `withTables` wants an index signature.
export type NotificationTables = {
  notification_hooks: NotificationHooksTable;
  notification_deliveries: NotificationDeliveriesTable;
};

export type NotificationHook = NotificationHooksTable;
export type NotificationDelivery = Omit<NotificationDeliveriesTable, "id"> & { id: number };

/** The platform's database seen with this folder's tables (kept beside the code that uses them). */
export function notificationDb(
  db: Kysely<PlatformDatabase>,
): Kysely<PlatformDatabase & NotificationTables> {
  return db.withTables<NotificationTables>();
}
