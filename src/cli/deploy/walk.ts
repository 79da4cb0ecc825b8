import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs";
import { sep } from "node:path";

/**
 * The files of a directory to deploy, the way the platform publishes a build output: every
 * regular file, with symlinks inside the directory followed (the link's path gets the target's
 * content). Dotfiles and dot-directories are skipped, except `.well-known` (ACME challenges,
 * security.txt); `_redirects` and `_headers` are ordinary files (the edge reads them).
 *
 * Refused with a `WalkError` naming the file: symlinks leaving the directory, dangling links,
 * links that loop, FIFOs/sockets/devices, and names that are not valid UTF-8 (they cannot be
 * sent as a path). Every other rule about paths (backslashes, control characters, lengths) is
 * the server's to enforce, so the CLI shows its reason instead of guessing it.
 *
 * The walk is synchronous: a CLI has nothing else to do meanwhile, and sync calls are several
 * times cheaper per file than promises.
 */

export interface SiteFile {
  /** The deploy path: relative, `/`-separated, no leading slash (`css/site.css`). */
  path: string;
  /** Where to read it: an absolute path with no symlink in it. */
  absolute: string;
  size: number;
  /**
   * What identifies this version of the file without reading it, as git's index does: device,
   * inode, size, modification and change times. A write, a rename over it or a `touch` changes it.
   */
  stamp: FileStamp;
  /** The later of its modification and change times (ms since the epoch). */
  changedMs: number;
}

export type FileStamp = readonly [
  dev: number,
  ino: number,
  size: number,
  mtimeMs: number,
  ctimeMs: number,
];

export type WalkErrorCode =
  | "not_a_directory"
  | "symlink_escape"
  | "dangling_symlink"
  | "symlink_loop"
  | "special_file"
  | "invalid_name"
  | "too_many_files";

export class WalkError extends Error {
  override name = "WalkError";
  constructor(
    readonly code: WalkErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** More files than this is surely the wrong directory (the platform's publish limit). */
export const MAX_FILES = 50_000;

export function isSkippedName(name: string): boolean {
  return name.startsWith(".") && name !== ".well-known";
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function describeSpecial(info: Stats): string {
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/** Throws for the first name in `absolute` that is not valid UTF-8. */
function refuseInvalidNames(absolute: string, prefix: string): void {
  for (const raw of readdirSync(absolute, { encoding: "buffer" })) {
    const name = raw.toString("utf8");
    if (Buffer.from(name, "utf8").equals(raw)) continue;
    const path = prefix === "" ? name : `${prefix}/${name}`;
    throw new WalkError(
      "invalid_name",
      `"${path}" has a name that is not valid UTF-8; rename it so it can be served as a URL`,
      path,
    );
  }
}

/** Lists the files to deploy under `dir`, sorted by path (UTF-16 code units) within each directory. */
export function walkSite(dir: string, maxFiles = MAX_FILES): SiteFile[] {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    throw new WalkError("not_a_directory", `"${dir}" does not exist`);
  }
  if (!statSync(root).isDirectory()) {
    throw new WalkError("not_a_directory", `"${dir}" is not a directory`);
  }

  const files: SiteFile[] = [];
  const add = (path: string, absolute: string, info: Stats): void => {
    if (files.length >= maxFiles) {
      throw new WalkError(
        "too_many_files",
        `"${dir}" has more than ${maxFiles} files; is it the right directory?`,
      );
    }
    files.push({
      path,
      absolute,
      size: info.size,
      stamp: [info.dev, info.ino, info.size, info.mtimeMs, info.ctimeMs],
      changedMs: Math.max(info.mtimeMs, info.ctimeMs),
    });
  };

  const visit = (absolute: string, prefix: string, ancestors: readonly string[]): void => {
    const names = readdirSync(absolute);
    // Bytes that are not UTF-8 decode to U+FFFD; only then are the raw names worth reading.
    if (names.some((name) => name.includes("\uFFFD"))) refuseInvalidNames(absolute, prefix);
    names.sort();
    for (const name of names) {
      const path = prefix === "" ? name : `${prefix}/${name}`;
      if (isSkippedName(name)) continue;
      // `absolute` is a real path and `name` one component: nothing for path.join to normalise.
      const entry = absolute.endsWith(sep) ? absolute + name : absolute + sep + name;
      const info = lstatSync(entry);
      if (info.isSymbolicLink()) {
        followLink(entry, path, ancestors);
      } else if (info.isDirectory()) {
        visit(entry, path, [...ancestors, entry]);
      } else if (info.isFile()) {
        add(path, entry, info);
      } else {
        throw new WalkError(
          "special_file",
          `"${path}" is ${describeSpecial(info)}; only regular files can be deployed`,
          path,
        );
      }
    }
  };

  const followLink = (entry: string, path: string, ancestors: readonly string[]): void => {
    const text = readlinkSync(entry);
    let target: string;
    try {
      target = realpathSync(entry);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ELOOP") {
        throw new WalkError("symlink_loop", `"${path}" is a symlink that loops ("${text}")`, path);
      }
      throw new WalkError(
        "dangling_symlink",
        `"${path}" is a symlink to "${text}", which does not exist`,
        path,
      );
    }
    if (!isInside(root, target)) {
      throw new WalkError(
        "symlink_escape",
        `"${path}" is a symlink to "${text}", outside the directory being deployed; ` +
          `copy the file in instead of linking to it`,
        path,
      );
    }
    const info = statSync(target);
    if (info.isFile()) {
      add(path, target, info);
    } else if (info.isDirectory()) {
      if (ancestors.includes(target)) {
        throw new WalkError(
          "symlink_loop",
          `"${path}" is a symlink to "${text}", a directory that contains it`,
          path,
        );
      }
      visit(target, path, [...ancestors, target]);
    } else {
      throw new WalkError(
        "special_file",
        `"${path}" is a symlink to ${describeSpecial(info)}; only regular files can be deployed`,
        path,
      );
    }
  };

  visit(root, "", [root]);
  return files;
}
