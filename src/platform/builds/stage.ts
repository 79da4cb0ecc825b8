import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";
import type { BlobStore } from "../deploys/blob-store.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
import type { SummarizeRules } from "../deploys/summary.ts";
import type { SandboxOptions } from "./sandbox/run.ts";

/**
 * What the build job's stages share: the runner's options, the stage names with their log
 * sections, and the failure a stage throws carrying the message the user reads.
 */

export interface BuildRunnerOptions {
  ctx: PlatformContext;
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Per-build checkouts (`<root>/<buildId>`); must be searchable by build uids (0711). */
  workRoot: string;
  /** Per-site bare mirrors (`<root>/<siteId>.git`). */
  mirrorRoot: string;
  /** Where git-fetch puts its per-fetch key directories (0700 each, removed afterwards). */
  gitTempRoot: string;
  /** A CA bundle git trusts for https repositories instead of the system's (private CAs, tests). */
  gitCaFile?: string;
  /** Called after a site's published deploy changed (the edge's cache). */
  onPublished?: (site: Site) => void;
  /**
   * Parses the published files' redirect and header rules into the deploy's summary (the edge's
   * parser, from the composition root, as for direct deploys); without it none is kept.
   */
  summarizeRules?: SummarizeRules;
  /** Sandbox settings beyond the config's (tests: limits, extra read-only paths). */
  sandbox?: Partial<Omit<SandboxOptions, "command" | "workDir" | "signal" | "onLine">>;
  /** How often a running build checks whether it was cancelled. Default 1 s. */
  cancelPollMs?: number;
  /** Tests only: where builds stop and wait (`pauseForTest`). */
  testPauseAt?: TestPausePoint;
}

/**
 * Where a test can hold a build to `kill -9` the platform there: `fetch` (the checkout written,
 * the stage not finished), `upload` (the first blobs stored, the rest and the manifest not) and
 * `publish` (inside the publish transaction, before it commits). Only the test platform child
 * (`test/helpers/platform-child.ts`, from `SLIPWAY_TEST_PAUSE_AT`) sets it.
 */
export type TestPausePoint = "fetch" | "upload" | "publish";

/** Holds the build at `point` if a test asked for it, until `signal` aborts. */
export async function pauseForTest(
  options: BuildRunnerOptions,
  point: TestPausePoint,
  signal: AbortSignal,
): Promise<void> {
  if (options.testPauseAt !== point) return;
  options.ctx.log.warn({ point }, `build paused at ${point} for a test (SLIPWAY_TEST_PAUSE_AT)`);
  if (signal.aborted) return;
  await new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}

/** A failure in a stage, with the message for the user. */
export class StageFailure extends Error {
  constructor(
    readonly stage: Stage,
    message: string,
  ) {
    super(message);
  }
}

/** The attempt found at publish that it no longer holds its job lease: it stops, publishing nothing. */
export class LeaseLost extends Error {
  constructor() {
    super("the job lease was lost");
  }
}

export type Stage = "initializing" | "preparing repo" | "building site" | "deploying" | "cleanup";

export const SECTION = {
  initializing: "initializing",
  "preparing repo": "preparing_repo",
  "building site": "building",
  deploying: "deploying",
  cleanup: "cleanup",
} as const;
