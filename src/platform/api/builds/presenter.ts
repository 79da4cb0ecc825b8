import type { Build } from "../../db/schema.ts";
import { FINISHED_BUILD_STATES } from "../../builds/service.ts";

/**
 * Netlify's `build` (`id, deploy_id, sha, done, error, created_at`) plus Slipway's additions:
 * `state`, `branch`, `started_at`, `finished_at`, `number`, `trigger`, `title`, `site_id`.
 */
export function presentBuild(build: Build) {
  return {
    id: build.id,
    deploy_id: build.deploy_id,
    site_id: build.site_id,
    sha: build.sha,
    branch: build.branch,
    state: build.state,
    done: FINISHED_BUILD_STATES.includes(build.state),
    error: build.error,
    number: build.number,
    trigger: build.trigger,
    title: build.title,
    attempts: build.attempts,
    created_at: build.created_at,
    started_at: build.started_at,
    finished_at: build.finished_at,
  };
}

/** A build's JSON (`GET /builds/:id`). */
export type BuildJson = ReturnType<typeof presentBuild>;

export interface LogLine {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: boolean;
}

/** One log line: `{time, section, message}` plus its `seq` and whether it explains a failure. */
export function presentLogLine(line: {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: number;
}): LogLine {
  return {
    seq: line.seq,
    time: line.time,
    section: line.section,
    message: line.message,
    error: line.error === 1,
  };
}
