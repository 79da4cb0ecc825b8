import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Prng } from "./prng.ts";
import { childEnv, execChecked } from "./proc.ts";

export interface RepoShape {
  files: number;
  dirs: number;
  commits: number;
  seed: number;
}

/** The anchors' make-repo: 2,000 files of 1–18 KiB in 40 directories, 50 commits. */
export const FULL_SHAPE: RepoShape = { files: 2000, dirs: 40, commits: 50, seed: 0x5117a7 };
export const QUICK_SHAPE: RepoShape = { files: 200, dirs: 10, commits: 10, seed: 0x5117a7 };

const KIB = 1024;
/** Fixed identity and dates: the same shape and seed give the same commit ids everywhere. */
const EPOCH = 1_700_000_000;

/**
 * A deterministic working repository (branch `main`). The first commit adds every file; each
 * later one rewrites 10 files and appends to 20 others, as the anchors' make-repo did.
 */
export class GeneratedRepo {
  private commitCount = 0;

  private constructor(
    readonly dir: string,
    private readonly prng: Prng,
    private readonly paths: readonly string[],
    private readonly home: string,
  ) {}

  static async create(dir: string, home: string, shape: RepoShape): Promise<GeneratedRepo> {
    const prng = new Prng(shape.seed);
    mkdirSync(dir, { recursive: true });
    mkdirSync(home, { recursive: true });
    const width = String(shape.files).length;
    const paths: string[] = [];
    for (let d = 0; d < shape.dirs; d++) mkdirSync(join(dir, dirName(d)), { recursive: true });
    for (let i = 0; i < shape.files; i++) {
      const path = `${dirName(i % shape.dirs)}/file-${String(i).padStart(width, "0")}.txt`;
      paths.push(path);
      writeFileSync(join(dir, path), prng.text(prng.int(1 * KIB, 18 * KIB)));
    }
    const repo = new GeneratedRepo(dir, prng, paths, home);
    await repo.git(["init", "--quiet", "--initial-branch=main", "."]);
    await repo.git(["add", "--all"]);
    await repo.commit("Add the generated tree");
    for (let c = 1; c < shape.commits; c++) {
      for (const i of prng.sample(paths.length, 10)) repo.rewrite(i);
      for (const i of prng.sample(paths.length, 20)) repo.append(i, prng.int(256, 2 * KIB));
      await repo.commit(`Change ${c}: rewrite 10 files, append to 20`);
    }
    return repo;
  }

  get fileCount(): number {
    return this.paths.length;
  }

  /** The "one new commit" of the fetch benchmark: ~4 KiB appended to each of `files` files. */
  async commitChange(files = 5): Promise<string> {
    for (const i of this.prng.sample(this.paths.length, files)) {
      this.append(i, this.prng.int(3 * KIB, 5 * KIB));
    }
    await this.commit(`Bench change ${this.commitCount}`);
    return this.head();
  }

  async head(): Promise<string> {
    return (await this.git(["rev-parse", "HEAD"])).trim();
  }

  /** Runs git in this repository with a hermetic environment (no user or system config). */
  async git(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<string> {
    const result = await execChecked("git", ["-C", this.dir, ...args], {
      env: this.env(extraEnv),
      timeoutMs: 300_000,
    });
    return result.stdout;
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const date = `${EPOCH + this.commitCount * 3600} +0000`;
    return childEnv({
      HOME: this.home,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Slipway Bench",
      GIT_AUTHOR_EMAIL: "bench@slipway.invalid",
      GIT_COMMITTER_NAME: "Slipway Bench",
      GIT_COMMITTER_EMAIL: "bench@slipway.invalid",
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
      ...extra,
    });
  }

  private async commit(message: string): Promise<void> {
    await this.git(["commit", "--quiet", "--all", "--no-verify", "--message", message]);
    this.commitCount++;
  }

  private rewrite(index: number): void {
    const path = this.paths[index];
    if (path === undefined) return;
    writeFileSync(join(this.dir, path), this.prng.text(this.prng.int(1 * KIB, 18 * KIB)));
  }

  private append(index: number, bytes: number): void {
    const path = this.paths[index];
    if (path === undefined) return;
    appendFileSync(join(this.dir, path), this.prng.text(bytes));
  }
}

function dirName(d: number): string {
  return `dir-${String(d).padStart(2, "0")}`;
}
