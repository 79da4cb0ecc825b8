import type { PlatformContext } from "../context.ts";
import type { JobHandler } from "../jobs/workers.ts";
import { collectGarbage, GcBusyError, type GcStores } from "./gc.ts";

/**
 * The collector on a schedule: every node where workers run enqueues the same due job (one
 * dedupe key, so at most one is pending), and the queue runs it on one node at a time (one
 * concurrency key); `gc-lock.ts` keeps `slipway gc` out of its way too.
 */

export const GC_QUEUE = "storage-gc";
const GC_KEY = "storage-gc";

export function createGcHandler(ctx: PlatformContext, stores: GcStores): JobHandler {
  return {
    maxRunMs: 6 * 60 * 60_000,
    run: async () => {
      try {
        await collectGarbage(ctx, stores);
      } catch (error) {
        if (!(error instanceof GcBusyError)) throw error;
        ctx.log.info({ reason: error.message }, "garbage collection skipped");
      }
      return "done";
    },
  };
}

export function startGcSchedule(ctx: PlatformContext, intervalMs: number): { stop(): void } {
  if (intervalMs <= 0) return { stop: () => undefined };
  const enqueue = (): void => {
    ctx.jobs
      .enqueue({
        queue: GC_QUEUE,
        payload: {},
        dedupeKey: GC_KEY,
        concurrencyKey: GC_KEY,
        maxAttempts: 1,
        runAt: new Date(Date.now() + intervalMs),
      })
      .catch((error: unknown) =>
        ctx.log.warn({ err: error }, "scheduling garbage collection failed"),
      );
  };
  const timer = setInterval(enqueue, intervalMs);
  timer.unref();
  enqueue();
  return { stop: () => clearInterval(timer) };
}
