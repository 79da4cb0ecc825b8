import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Reads a secret file, or creates it (mode 0600) with `create()` the first time. */
export function readOrCreateSecretFile(
  path: string,
  create: () => string,
): {
  value: string;
  created: boolean;
} {
  if (existsSync(path)) return { value: readFileSync(path, "utf8").trim(), created: false };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const value = create();
  writeFileSync(path, value + "\n", { mode: 0o600, flag: "wx" });
  return { value, created: true };
}
