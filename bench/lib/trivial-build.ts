import type { JobHandler } from "../../src/platform/jobs/workers.ts";

/** The queue `bench/queue.ts` measures, in its own process and in `queue-worker.ts`. */
export const BENCH_QUEUE = "bench-build";

/** What one job reports once it has run (epoch ms). */
export interface Ran {
  id: number;
  enqueuedAt: number;
  startedAt: number;
  finishedAt: number;
}

/** A stand-in for a trivial build: it waits `workMs`, then reports its times. */
export function trivialBuild(workMs: number, report: (ran: Ran) => void): JobHandler {
  return {
    run: async (job) => {
      const startedAt = Date.now();
      const { enqueuedAt } = job.payload as { enqueuedAt: number };
      if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs));
      report({ id: job.id, enqueuedAt, startedAt, finishedAt: Date.now() });
      return "done";
    },
  };
}
