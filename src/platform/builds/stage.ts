import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";
import type { BlobStore } from "../deploys/blob-store.ts";
import type { ManifestStore } from "../deploys/manifest.ts";
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
  /** Sandbox settings beyond the config's (tests: limits, extra read-only paths). */
  sandbox?: Partial<Omit<SandboxOptions, "command" | "workDir" | "signal" | "onLine">>;
  /** How often a running build checks whether it was cancelled. Default 1 s. */
  cancelPollMs?: number;
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

export type Stage = "initializing" | "preparing repo" | "building site" | "deploying" | "cleanup";

export const SECTION = {
  initializing: "initializing",
  "preparing repo": "preparing_repo",
  "building site": "building",
  deploying: "deploying",
  cleanup: "cleanup",
} as const;
