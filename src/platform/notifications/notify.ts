import type { Kysely } from "kysely";
import type { PlatformContext } from "../context.ts";
import type { Deploy, PlatformDatabase } from "../db/schema.ts";
import type { DeployEvent } from "./events.ts";
import { notificationDb } from "./tables.ts";

export const NOTIFICATION_QUEUE = "notification";
/** Deliveries of one attempt's job (a crashed worker's lease expiring); retries are new jobs. */
export const JOB_ATTEMPTS = 3;

/** A delivery attempt's job: which hook, which event, and the deploy as it was at the event. */
export interface NotificationJob {
  hookId: string;
  event: DeployEvent;
  deploy: Deploy;
  attempt: number;
}

/**
 * Queues the deploy `event` for every enabled hook of the deploy's site that listens for it,
 * inside the caller's transaction (`trx`) when the state change has one, so a notification is
 * sent exactly for a change that committed. The deploy is read (in `trx`) as it is now and
 * carried by the job: a late delivery still tells the state the event was about. Never throws:
 * a notification must not undo or fail a deploy.
 */
export async function notifyDeployEvent(
  ctx: Pick<PlatformContext, "db" | "jobs" | "log">,
  trx: Kysely<PlatformDatabase> | undefined,
  deployId: string,
  event: DeployEvent,
): Promise<void> {
  const db = trx ?? ctx.db;
  try {
    const deploy = await db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", deployId)
      .executeTakeFirst();
    if (!deploy) return;
    const hooks = await notificationDb(db)
      .selectFrom("notification_hooks")
      .select("id")
      .where("site_id", "=", deploy.site_id)
      .where("event", "=", event)
      .where("disabled", "=", 0)
      .execute();
    // What a digest deploy still waited for is not news to a receiver; it can be long.
    const snapshot: Deploy = { ...deploy, required: "[]", required_functions: "[]" };
    for (const hook of hooks) {
      await enqueueAttempt(ctx, db, { hookId: hook.id, event, deploy: snapshot, attempt: 1 });
    }
    if (hooks.length > 0 && trx === undefined) ctx.jobs.wake();
  } catch (error) {
    ctx.log.warn({ err: error, deployId, event }, "could not queue deploy notifications");
  }
}

/** Stores one delivery attempt's job (in `db`, which may be a transaction). */
export async function enqueueAttempt(
  ctx: Pick<PlatformContext, "jobs">,
  db: Kysely<PlatformDatabase>,
  job: NotificationJob,
  runAt?: Date,
): Promise<void> {
  await ctx.jobs.enqueue(
    {
      queue: NOTIFICATION_QUEUE,
      payload: { ...job },
      concurrencyKey: `notification:${job.hookId}`,
      dedupeKey: `notification:${job.hookId}:${job.deploy.id}:${job.event}:${job.attempt}`,
      maxAttempts: JOB_ATTEMPTS,
      ...(runAt !== undefined ? { runAt } : {}),
    },
    db,
  );
}
