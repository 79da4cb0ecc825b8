import { dirname, resolve } from "node:path";
import { stat } from "node:fs/promises";
import { killAllOfUid, processesOfUid } from "../../../lib/process.ts";
import { run } from "../../../lib/run.ts";
import { SandboxConfigError } from "./errors.ts";

/**
 * As root, each build runs as a host uid of its own, picked from a pool nothing else uses: the
 * kernel then enforces RLIMIT_NPROC (it ignores it for uid 0), and "every process of the uid" is
 * exactly the build's processes, so ending a build can kill them all and check through /proc.
 * A uid is used by one build at a time: in this process (`uidsInUse`), across the processes
 * sharing a database (`uid-leases.ts`), and on the machine (no process of it may exist when it
 * is picked).
 */

export const BUILD_UID_POOL = { first: 2_000_000_000, count: 1 << 20 } as const;

/** Hands out build uids: one build per uid at a time. */
export interface BuildUidAllocator {
  /** A free uid of the pool, or `requested` (tests) when it is free. */
  acquire(requested?: number): Promise<number>;
  release(uid: number): Promise<void>;
}

const uidsInUse = new Set<number>();

/** Whether one of this process's own builds runs as `uid`. */
export function isBuildUidInUse(uid: number): boolean {
  return uidsInUse.has(uid);
}

/** Marks `uid` as this process's (false when it already is). */
export function claimInProcess(uid: number): boolean {
  if (uidsInUse.has(uid)) return false;
  uidsInUse.add(uid);
  return true;
}

export function releaseInProcess(uid: number): void {
  uidsInUse.delete(uid);
}

export function checkRequestedUid(requested: number): void {
  if (!Number.isSafeInteger(requested) || requested < 1000 || requested > 0x7fffffff) {
    throw new SandboxConfigError(`buildUid ${requested} must be between 1000 and 2^31-1`);
  }
}

export const randomPoolUid = (): number =>
  BUILD_UID_POOL.first + Math.floor(Math.random() * BUILD_UID_POOL.count);

/** Whether a process of `uid` runs on this machine (a build of another platform, an orphan). */
export async function uidHasProcesses(uid: number): Promise<boolean> {
  return (await processesOfUid(uid)).length > 0;
}

/**
 * This process alone: enough for one platform process per machine and for tests. Platform
 * processes sharing a data directory use the database's leases instead (`uid-leases.ts`).
 */
export const processUidAllocator: BuildUidAllocator = {
  async acquire(requested) {
    if (requested !== undefined) {
      checkRequestedUid(requested);
      if (!claimInProcess(requested)) {
        throw new SandboxConfigError(`build uid ${requested} is in use by other processes`);
      }
      if (await uidHasProcesses(requested)) {
        releaseInProcess(requested);
        throw new SandboxConfigError(`build uid ${requested} is in use by other processes`);
      }
      return requested;
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const uid = randomPoolUid();
      if (!claimInProcess(uid)) continue;
      if (!(await uidHasProcesses(uid))) return uid;
      releaseInProcess(uid);
    }
    throw new SandboxConfigError("no free build uid found");
  },
  release(uid) {
    releaseInProcess(uid);
    return Promise.resolve();
  },
};

/**
 * bwrap runs as the build uid and resolves the work dir's path itself, so every directory above
 * it must be searchable by that uid (0711 is enough: no listing).
 */
export async function assertReachable(path: string, uid: number): Promise<void> {
  let dir = resolve(path);
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
    const info = await stat(dir);
    const searchable =
      (info.mode & 0o001) !== 0 ||
      (info.uid === uid && (info.mode & 0o100) !== 0) ||
      (info.gid === uid && (info.mode & 0o010) !== 0);
    if (!searchable) {
      throw new SandboxConfigError(
        `the build cannot reach ${path}: ${dir} is not searchable by other users ` +
          `(mode ${(info.mode & 0o777).toString(8)}); make the directories above build checkouts ` +
          `mode 0711 (search only, no listing)`,
      );
    }
  }
}

/** The checkout belongs to the build uid (symlinks themselves, never their targets). */
export async function chownTree(dir: string, uid: number): Promise<void> {
  const result = await run("chown", ["-R", "-P", "-h", "--", `${uid}:${uid}`, dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (result.code !== 0) {
    throw new SandboxConfigError(
      `could not hand ${dir} to the build user: ${result.stderr.trim()}`,
    );
  }
}

/**
 * After the sandbox ended: its pid namespace is being torn down by the kernel, which can take a
 * moment for many processes. Whatever of the build uid is still alive after that is killed and
 * counted (nothing should be).
 */
export async function sweepBuildUid(uid: number): Promise<number> {
  const deadline = Date.now() + 2000;
  while ((await processesOfUid(uid)).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return killAllOfUid(uid, 5000);
}
