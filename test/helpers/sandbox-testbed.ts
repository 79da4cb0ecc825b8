import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import {
  runSandboxed,
  type OutputLine,
  type SandboxOptions,
} from "../../src/platform/builds/sandbox/run.ts";

/** What the sandbox's tests share: a 0711 scratch root, work dirs under it, and `build()`. */

const bwrapMissing = !existsSync("/usr/bin/bwrap") && !existsSync("/usr/local/bin/bwrap");
const notRoot = process.getuid?.() !== 0;

/** Why the sandbox tests cannot run on this machine, or false. */
export const sandboxSkip: string | false = bwrapMissing
  ? "bubblewrap is not installed (apt-get install bubblewrap)"
  : notRoot
    ? "the sandbox tests check per-build uids and need root"
    : false;

export interface BuildRun {
  result: Awaited<ReturnType<typeof runSandboxed>>;
  lines: OutputLine[];
  text: string;
  workDir: string;
}

export interface Testbed {
  /** A 0711 directory removed after the file's tests (the build uid must reach below it). */
  readonly root: string;
  newWorkDir(): Promise<string>;
  /** Runs a command with test-sized limits, collecting its lines. */
  build(options: Partial<SandboxOptions> & { command: string }): Promise<BuildRun>;
}

/** Call at the top of a test file: registers the hooks that make and remove the root. */
export function sandboxTestbed(): Testbed {
  let root = "";
  let counter = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-sandbox-test-"));
    await chmod(root, 0o711);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const newWorkDir = async (): Promise<string> => {
    const dir = join(root, `work-${++counter}`);
    await mkdir(dir);
    return dir;
  };
  return {
    get root() {
      return root;
    },
    newWorkDir,
    async build(options) {
      const lines: OutputLine[] = [];
      const workDir = options.workDir ?? (await newWorkDir());
      const result = await runSandboxed({
        timeoutMs: 20_000,
        killGraceMs: 1000,
        ...options,
        workDir,
        onLine: (line) => lines.push(line),
      });
      const text = lines.map((l) => l.line).join("\n");
      return { result, lines, text, workDir };
    },
  };
}

/** A build uid of the test's own choosing, so the test can look for its processes. */
export const testUid = (): number => 2_100_000_000 + Math.floor(Math.random() * 1_000_000);

/** slirp4netns processes this test process started (they run as the platform's user). */
export async function slirpProcesses(): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (
      /^Name:\s+slirp4netns$/m.test(status) &&
      /^PPid:\s+(\d+)$/m.exec(status)?.[1] === String(process.pid)
    ) {
      if (!/^State:\s+Z/m.test(status)) found.push(Number(pid));
    }
  }
  return found;
}
