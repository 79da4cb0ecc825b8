import fs from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Reads a secret file, or creates it (mode 0600) with `create()` the first time. Creation is
 * durable and atomic: the value goes to a temporary file that is fsynced, then linked into place
 * (unlike rename, link never replaces a file another process created meanwhile: that one wins
 * and is read back), and the directory is fsynced so the new name survives a power cut too. A
 * master key lost that way would leave every sealed secret unreadable.
 */
export function readOrCreateSecretFile(
  path: string,
  create: () => string,
): {
  value: string;
  created: boolean;
} {
  if (fs.existsSync(path)) return { value: fs.readFileSync(path, "utf8").trim(), created: false };
  const dir = dirname(path);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const value = create();
  const temp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  const fd = fs.openSync(temp, "wx", 0o600);
  try {
    fs.writeFileSync(fd, value + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return { value: fs.readFileSync(path, "utf8").trim(), created: false };
  } finally {
    fs.unlinkSync(temp);
  }
  syncDirectory(dir);
  return { value, created: true };
}

/** Makes a directory's entries (a file just linked or renamed in) durable. */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
