import { spawn, type SpawnOptions } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program with an argument vector (never a shell string) and collects its output.
 * Output beyond `maxOutput` bytes per stream is dropped, so a chatty child cannot exhaust memory.
 */
export function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string | Buffer; maxOutput?: number } = {},
): Promise<RunResult> {
  const { input, maxOutput = 8 * 1024 * 1024, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, shell: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    child.stdout?.on("data", (chunk: Buffer) => {
      if ((outSize += chunk.length) <= maxOutput) out.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if ((errSize += chunk.length) <= maxOutput) err.push(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
    if (child.stdin) {
      // A child that exits before reading its input (nft refusing a ruleset) closes the pipe:
      // its exit status tells what happened, and the EPIPE must not crash the process.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}

/** Like `run`, but a non-zero exit is an error carrying the child's stderr. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args[0] ?? ""} failed (${result.code ?? result.signal}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}
