import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { access } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * Cache entries are tar archives, compressed with zstd when the host has it. Measured on this
 * machine (docs/builds.md, "Build cache"): extracting a tar is as fast as hard-linking the same
 * tree from a store, and unlike hard links it leaves nothing a build could change in place
 * (builds write into node_modules; as root the checkout is chown-ed to the build's uid). zstd
 * stores a quarter of the bytes for a small cost in time. GNU tar, run with argument vectors;
 * extraction never restores owners and defers links that point outside the tree (GNU tar's
 * default), so an archive cannot write outside the directory it is extracted into.
 */

export type ArchiveFormat = "tar" | "tar.zst";

const ZSTD = "/usr/bin/zstd";
const TAR = "/usr/bin/tar";

let zstdFound: Promise<boolean> | undefined;

export function hasZstd(): Promise<boolean> {
  zstdFound ??= access(ZSTD, constants.X_OK).then(
    () => true,
    () => false,
  );
  return zstdFound;
}

export interface WrittenArchive {
  sha1: string;
  size: number;
  format: ArchiveFormat;
}

/** Archives `paths` (relative to `dir`) into `file`, without the `exclude` patterns. */
export async function createArchive(
  dir: string,
  paths: readonly string[],
  file: string,
  exclude: readonly string[] = [],
): Promise<WrittenArchive> {
  const format: ArchiveFormat = (await hasZstd()) ? "tar.zst" : "tar";
  const tar = spawn(
    TAR,
    [
      "--create",
      "--file=-",
      `--directory=${dir}`,
      "--numeric-owner",
      ...exclude.map((pattern) => `--exclude=${pattern}`),
      "--",
      ...paths,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { LC_ALL: "C" } },
  );
  const zstd =
    format === "tar.zst"
      ? spawn(ZSTD, ["-1", "-T0", "-q", "-c"], { stdio: ["pipe", "pipe", "pipe"], env: {} })
      : undefined;
  const hash = createHash("sha1");
  let size = 0;
  const out = zstd === undefined ? tar.stdout : zstd.stdout!;
  if (zstd !== undefined) tar.stdout.pipe(zstd.stdin!);
  out.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  const exits = [exited(tar, "tar"), ...(zstd === undefined ? [] : [exited(zstd, "zstd")])];
  await Promise.all([pipeline(out, createWriteStream(file, { mode: 0o600 })), ...exits]);
  return { sha1: hash.digest("hex"), size, format };
}

/** Extracts an archive read from `input` into `dir`. */
export async function extractArchive(
  input: Readable,
  format: ArchiveFormat,
  dir: string,
): Promise<void> {
  const tar = spawn(
    TAR,
    ["--extract", "--file=-", `--directory=${dir}`, "--no-same-owner", "--delay-directory-restore"],
    { stdio: ["pipe", "ignore", "pipe"], env: { LC_ALL: "C" } },
  );
  const zstd =
    format === "tar.zst"
      ? spawn(ZSTD, ["-d", "-q", "-c"], { stdio: ["pipe", "pipe", "pipe"], env: {} })
      : undefined;
  // tar stops reading at the archive's end marker: what still feeds it (zstd's last bytes,
  // the rest of the input) may then find the pipe closed. tar's own status decides.
  const quiet = (promise: Promise<unknown>): Promise<unknown> => promise.catch((error) => error);
  const zstdExit = zstd === undefined ? undefined : quiet(exited(zstd, "zstd"));
  const feeds =
    zstd === undefined
      ? [quiet(pipeline(input, tar.stdin!))]
      : [quiet(pipeline(input, zstd.stdin!)), quiet(pipeline(zstd.stdout!, tar.stdin!))];
  try {
    await exited(tar, "tar");
  } finally {
    input.destroy();
    zstd?.kill("SIGKILL");
    await Promise.all([...feeds, zstdExit]);
  }
}

/** Resolves when `child` exits 0; rejects with its last stderr otherwise. */
function exited(child: ChildProcess, name: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString("utf8");
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${name} failed (${code ?? signal}): ${stderr.trim().slice(0, 500)}`));
    });
  });
}
