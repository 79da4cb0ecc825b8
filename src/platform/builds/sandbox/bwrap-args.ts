import { lstat, readlink, realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { SandboxConfigError } from "./errors.ts";
import { SLIRP_DNS } from "./firewall.ts";
import { SANDBOX_DEFAULTS } from "./limits.ts";
import type { SandboxOptions } from "./run.ts";
import { sandboxSeccompFilter } from "./seccomp.ts";

/**
 * What the build sees: the checkout read-write at /build, size-limited tmpfs at /tmp and HOME,
 * /usr and a few /etc files read-only, and nothing else of the host. Hidden paths under a bound
 * tree are covered (an empty read-only tmpfs, or /dev/null). bwrap reads all of it from pipes,
 * never from its argument vector: the site's environment may hold secrets.
 */

export const SANDBOX_WORKDIR = "/build";
export const SANDBOX_HOME = "/home/build";
/** The uid/gid the build sees inside the sandbox. */
export const SANDBOX_INNER_ID = 1000;

/**
 * The child's fds bwrap reads. 3 to 7 carry `bwrapInputs()`, in this order; with network, 8 and
 * 9 are bwrap's --info-fd and --block-fd (the command waits on 9 until its network is set up).
 */
export const BWRAP_FD = {
  args: 3,
  passwd: 4,
  group: 5,
  seccomp: 6,
  resolvConf: 7,
  info: 8,
  block: 9,
} as const;

/** The /etc files a build needs: name resolution, TLS roots, the dynamic linker's cache, time. */
export const ETC_ESSENTIALS = [
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/services",
  "/etc/protocols",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/ca-certificates.conf",
  "/etc/pki",
  "/etc/crypto-policies",
  "/etc/alternatives",
  "/etc/localtime",
  "/etc/timezone",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/mime.types",
  "/etc/os-release",
] as const;

type BwrapOptions = Pick<
  SandboxOptions,
  "network" | "tmpSizeBytes" | "homeSizeBytes" | "extraReadOnlyPaths" | "hidePaths"
>;

/** What to write to fds 3 to 7 of bwrap (see BWRAP_FD). */
export async function bwrapInputs(
  options: BwrapOptions,
  workDir: string,
  env: Record<string, string>,
): Promise<Buffer[]> {
  const args = await bwrapArguments(options, workDir, env);
  return [
    Buffer.from(args.map((a) => a + "\0").join("")),
    Buffer.from(
      `root:x:0:0:root:/root:/bin/sh\n` +
        `build:x:${SANDBOX_INNER_ID}:${SANDBOX_INNER_ID}:build:${SANDBOX_HOME}:/bin/sh\n` +
        `nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    ),
    Buffer.from(`root:x:0:\nbuild:x:${SANDBOX_INNER_ID}:\nnogroup:x:65534:\n`),
    sandboxSeccompFilter(),
    Buffer.from(`nameserver ${SLIRP_DNS}\n`),
  ];
}

interface SystemDir {
  path: string;
  symlink?: string;
}

/** /bin, /lib… are symlinks into /usr on merged-/usr systems and directories elsewhere. */
async function systemDirs(): Promise<SystemDir[]> {
  const dirs: SystemDir[] = [];
  for (const path of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    try {
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        dirs.push({ path, symlink: await readlink(path) });
      } else if (info.isDirectory()) {
        dirs.push({ path });
      }
    } catch {
      /* not on this system */
    }
  }
  return dirs;
}

function systemDirArguments(dirs: readonly SystemDir[]): string[] {
  return dirs.flatMap((d) =>
    d.symlink !== undefined ? ["--symlink", d.symlink, d.path] : ["--ro-bind", d.path, d.path],
  );
}

async function bwrapArguments(
  options: BwrapOptions,
  workDir: string,
  env: Record<string, string>,
): Promise<string[]> {
  const fd = (n: number): string => String(n);
  const dirs = await systemDirs();
  const args = [
    "--unshare-all",
    ...(options.network === false
      ? []
      : ["--info-fd", fd(BWRAP_FD.info), "--block-fd", fd(BWRAP_FD.block)]),
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "slipway-build",
    "--uid",
    String(SANDBOX_INNER_ID),
    "--gid",
    String(SANDBOX_INNER_ID),
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/usr",
    "/usr",
    ...systemDirArguments(dirs),
  ];
  for (const path of ETC_ESSENTIALS) {
    if (path !== "/etc/resolv.conf") args.push("--ro-bind-try", path, path);
  }
  args.push("--ro-bind-data", fd(BWRAP_FD.passwd), "/etc/passwd");
  args.push("--ro-bind-data", fd(BWRAP_FD.group), "/etc/group");
  args.push("--ro-bind-data", fd(BWRAP_FD.resolvConf), "/etc/resolv.conf");
  args.push("--proc", "/proc", "--dev", "/dev");
  args.push("--size", String(options.tmpSizeBytes ?? SANDBOX_DEFAULTS.tmpSizeBytes));
  args.push("--tmpfs", "/dev/shm");
  args.push("--size", String(options.tmpSizeBytes ?? SANDBOX_DEFAULTS.tmpSizeBytes));
  args.push("--tmpfs", "/tmp");
  args.push("--symlink", "../tmp", "/var/tmp");
  args.push("--size", String(options.homeSizeBytes ?? SANDBOX_DEFAULTS.homeSizeBytes));
  args.push("--tmpfs", SANDBOX_HOME);
  const extra: string[] = [];
  for (const path of options.extraReadOnlyPaths ?? []) {
    if (!isAbsolute(path))
      throw new SandboxConfigError(`extraReadOnlyPaths: ${path} is not absolute`);
    const real = await realpath(path);
    extra.push(real);
    args.push("--ro-bind", real, real);
  }
  args.push("--bind", workDir, SANDBOX_WORKDIR);

  // Identity-bound trees: a path under one of them is visible at the same path inside.
  const roots = [
    "/usr",
    ...dirs.filter((d) => !d.symlink).map((d) => d.path),
    ...ETC_ESSENTIALS,
    ...extra,
  ];
  for (const hidden of options.hidePaths ?? []) {
    for (const mapped of await sandboxPathsOf(hidden, roots, workDir)) {
      if (mapped.isDirectory) {
        args.push("--size", "4096", "--tmpfs", mapped.path, "--remount-ro", mapped.path);
      } else {
        args.push("--ro-bind", "/dev/null", mapped.path);
      }
    }
  }
  // The sandbox's own root (a tmpfs holding the mount points) is not a place to write either.
  args.push("--remount-ro", "/", "--remount-ro", "/dev");
  args.push("--seccomp", fd(BWRAP_FD.seccomp));
  args.push("--chdir", SANDBOX_WORKDIR, "--clearenv");
  for (const [name, value] of Object.entries(env)) args.push("--setenv", name, value);
  for (const arg of args) {
    if (arg.includes("\0")) throw new SandboxConfigError("sandbox argument contains NUL");
  }
  return args;
}

/** Where a host path would be visible inside the sandbox (so it can be covered up). */
async function sandboxPathsOf(
  hidden: string,
  roots: readonly string[],
  workDir: string,
): Promise<{ path: string; isDirectory: boolean }[]> {
  if (!isAbsolute(hidden)) throw new SandboxConfigError(`hidePaths: ${hidden} is not absolute`);
  let real: string;
  let isDirectory: boolean;
  try {
    real = await realpath(hidden);
    isDirectory = (await stat(real)).isDirectory();
  } catch {
    return []; // nothing there, nothing to hide
  }
  const found: { path: string; isDirectory: boolean }[] = [];
  for (const candidate of new Set([resolve(hidden), real])) {
    if (isInside(candidate, workDir)) {
      found.push({ path: resolve(SANDBOX_WORKDIR, relative(workDir, candidate)), isDirectory });
      continue;
    }
    for (const root of roots) {
      if (candidate === root || isInside(root, candidate)) {
        throw new SandboxConfigError(
          `cannot hide ${hidden}: the sandbox needs ${root}, which it contains`,
        );
      }
      if (isInside(candidate, root)) found.push({ path: candidate, isDirectory });
    }
  }
  return found;
}

function isInside(path: string, dir: string): boolean {
  return path !== dir && path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}
