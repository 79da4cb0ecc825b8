/**
 * Command-line flags (`--name=value`, `--name value`, `--flag`) with environment fallbacks, so
 * `npm run bench -- git --rounds=3` and `BENCH_ROUNDS=3 npm run bench` mean the same.
 */
export class BenchOptions {
  private readonly flags = new Map<string, string | true>();
  readonly names: string[] = [];

  /** `valueFlags` take a value (`--rounds 3` or `--rounds=3`); the others are switches. */
  constructor(argv: readonly string[], valueFlags: ReadonlySet<string> = new Set()) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i] ?? "";
      if (arg.startsWith("--")) {
        const eq = arg.indexOf("=");
        if (eq !== -1) {
          this.flags.set(arg.slice(2, eq), arg.slice(eq + 1));
        } else {
          const name = arg.slice(2);
          const next = argv[i + 1];
          if (valueFlags.has(name) && next !== undefined) {
            this.flags.set(name, next);
            i++;
          } else {
            this.flags.set(name, true);
          }
        }
      } else {
        this.names.push(arg);
      }
    }
  }

  has(flag: string, envName?: string): boolean {
    if (this.flags.has(flag)) return this.flags.get(flag) !== "false";
    const env = envName === undefined ? undefined : process.env[envName];
    return env !== undefined && env !== "" && env !== "0" && env !== "false";
  }

  /** A positive integer from `--flag`, else `envName`, else `fallback`. */
  int(flag: string, envName: string, fallback: number): number {
    const fromFlag = this.flags.get(flag);
    const raw = typeof fromFlag === "string" ? fromFlag : process.env[envName];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(
        `--${flag} / ${envName} must be a positive integer, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  }

  /** A string from `--flag=value`, else `envName`, else `fallback`. */
  string(flag: string, envName: string, fallback: string): string {
    const fromFlag = this.flags.get(flag);
    if (typeof fromFlag === "string") return fromFlag;
    const env = process.env[envName];
    return env === undefined || env === "" ? fallback : env;
  }

  /** Flags nobody asked about (typos). */
  unknown(known: readonly string[]): string[] {
    return [...this.flags.keys()].filter((flag) => !known.includes(flag));
  }
}

export interface Benchmark {
  name: string;
  aliases: readonly string[];
  description: string;
  /** Flags it understands, for --help and for catching typos. */
  flags: readonly BenchFlag[];
  run(options: BenchOptions): Promise<void>;
}

export interface BenchFlag {
  flag: string;
  /** Name of the value, for flags that take one (`--rounds N`). */
  value?: string;
  env?: string;
  help: string;
}
