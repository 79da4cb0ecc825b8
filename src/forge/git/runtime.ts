import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { GIT_OBJECT_ID_SOURCE as OID } from "../../lib/git-ids.ts";
import type { ForgeContext, PushEvent, RefUpdate } from "../context.ts";
import { isoNow } from "../context.ts";
import type { GitAccess } from "./access.ts";

/**
 * What both git transports share: the forge's own server-side hooks, what they are given by the
 * composition root, and turning an accepted push into durable webhook deliveries.
 */

/**
 * What else follows an accepted push once its webhook deliveries are stored; `server.ts` gives
 * it (open merge requests follow their source branch, like GitLab).
 */
export type AfterPush = (event: PushEvent) => Promise<void>;

/** What the transports are given by `server.ts`: the access decisions, and what follows a push. */
export interface GitTransportServices {
  access: GitAccess;
  afterPush: AfterPush;
  /** Called once per git command allowed to run (metrics). */
  onOperation?: (
    transport: "ssh" | "http",
    command: "upload-pack" | "receive-pack" | "upload-archive",
  ) => void;
}

/** Names the file post-receive appends "old new ref" lines to, one fresh file per push. */
export const PUSH_LOG_ENV = "SLIPWAY_PUSH_LOG";

export interface GitRuntime {
  /** Passed to git as `core.hooksPath`, so a repository's own hooks never run. */
  hooksDir: string;
  /** Where per-push log files live (inside the private data directory). */
  tmpDir: string;
}

/**
 * Refuses refs that git would read as options when they reach a command line later (a branch
 * `-x` or `--upload-pack=...`), and anything outside branches and tags.
 */
const PRE_RECEIVE = `#!/bin/sh
# Installed by Slipway's forge. Static: no user input is ever written into this file.
status=0
while read -r old new ref; do
  case "$ref" in
    refs/heads/-*|refs/tags/-*)
      printf 'Slipway: refusing %s: branch and tag names may not start with "-".\\n' "$ref" >&2
      status=1 ;;
    refs/heads/?*|refs/tags/?*) ;;
    *)
      printf 'Slipway: refusing %s: only branches (refs/heads/) and tags (refs/tags/) may be pushed.\\n' "$ref" >&2
      status=1 ;;
  esac
done
exit $status
`;

/** Hands the accepted ref updates to the forge process through the file it named. */
const POST_RECEIVE = `#!/bin/sh
# Installed by Slipway's forge. Static: no user input is ever written into this file.
[ -n "$${PUSH_LOG_ENV}" ] || exit 0
cat >> "$${PUSH_LOG_ENV}"
`;

/** Creates (or refreshes) the hooks directory under the data dir. Idempotent and synchronous. */
export function prepareGitRuntime(ctx: Pick<ForgeContext, "config">): GitRuntime {
  // Absolute: hooks run with the repository as their working directory.
  const base = resolve(ctx.config.dataDir, "git");
  const hooksDir = join(base, "hooks");
  const tmpDir = join(base, "tmp");
  mkdirSync(hooksDir, { recursive: true, mode: 0o700 });
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  for (const [name, script] of [
    ["pre-receive", PRE_RECEIVE],
    ["post-receive", POST_RECEIVE],
  ] as const) {
    const target = join(hooksDir, name);
    let current: string | undefined;
    try {
      current = readFileSync(target, "utf8");
    } catch {
      current = undefined;
    }
    if (current === script) continue;
    // Written aside and renamed, so a git process never runs a half-written hook.
    const temp = `${target}.${process.pid}.${randomUUID()}`;
    writeFileSync(temp, script, { mode: 0o755 });
    renameSync(temp, target);
  }
  return { hooksDir, tmpDir };
}

/** `GIT_PROTOCOL` as git sends it (`version=2`); anything else is dropped or refused. */
export function isValidGitProtocol(value: string): boolean {
  return /^version=[0-2]$/.test(value);
}

/** A fresh, empty, private file for post-receive to write one push's updates into. */
export async function createPushLog(runtime: GitRuntime): Promise<string> {
  const path = join(runtime.tmpDir, `push-${randomUUID()}.log`);
  const handle = await open(path, "wx", 0o600);
  await handle.close();
  return path;
}

const UPDATE_LINE = new RegExp(`^(${OID}) (${OID}) (refs/\\S+)$`);

/** Parses post-receive's stdin lines; anything malformed is skipped. */
export function parsePushLog(text: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const line of text.split("\n")) {
    const match = UPDATE_LINE.exec(line.trim());
    if (match) updates.push({ before: match[1]!, after: match[2]!, ref: match[3]! });
  }
  return updates;
}

/**
 * Called once receive-pack has exited: reads what post-receive recorded and, if refs moved,
 * stores the push event (webhook deliveries), runs `afterPush` and stores the project's activity
 * time. Returns only once
 * that is durable, so the transport acknowledges the push after its webhooks are safe. The log
 * file is removed in every case.
 */
export async function completePush(
  ctx: ForgeContext,
  push: { projectId: number; userId: number; logPath: string },
  afterPush: AfterPush,
): Promise<RefUpdate[]> {
  let updates: RefUpdate[] = [];
  try {
    updates = parsePushLog(await readFile(push.logPath, "utf8"));
    if (updates.length === 0) return updates;
    const event = { projectId: push.projectId, userId: push.userId, updates };
    await ctx.hooks.recordPush(event);
    await afterPush(event);
    await ctx.db
      .updateTable("projects")
      .set({ last_activity_at: isoNow(ctx) })
      .where("id", "=", push.projectId)
      .execute();
    return updates;
  } finally {
    await rm(push.logPath, { force: true });
  }
}
