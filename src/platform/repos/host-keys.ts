import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { runWithDeadline } from "../../lib/process.ts";

/**
 * SSH host key pinning for git fetches. A site's store remembers, per host and port, the keys
 * the server presented on first contact (trust on first use, for self-hosted hosts); every later
 * connection must present one of them, or it fails with "host key changed".
 */

/** A host key as in known_hosts, without the host field: `ssh-ed25519 AAAAC3…`. */
export type HostKey = string;

/** Where a site's pinned host keys live (the database, later; a file or memory for now). */
export interface HostKeyStore {
  get(host: string, port: number): Promise<readonly HostKey[] | undefined>;
  save(host: string, port: number, keys: readonly HostKey[]): Promise<void>;
}

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

export interface ParsedHostKey {
  type: string;
  base64: string;
  blob: Buffer;
}

/** Parses `type base64` (extra fields ignored); undefined unless well-formed and self-consistent. */
export function parseHostKey(text: string): ParsedHostKey | undefined {
  const [type, base64] = text.trim().split(/\s+/);
  if (type === undefined || base64 === undefined || !KEY_TYPES.has(type)) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, "base64");
  // The blob starts with its own type name (uint32 length + string).
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (blob.length < 4 + length || blob.subarray(4, 4 + length).toString("latin1") !== type) {
    return undefined;
  }
  return { type, base64, blob };
}

/** `ED25519 SHA256:…`, as ssh prints it. */
export function hostKeyFingerprint(key: HostKey): string {
  const parsed = parseHostKey(key);
  if (!parsed) return "(unreadable key)";
  const label = parsed.type
    .replace(/^ssh-/, "")
    .replace(/^ecdsa-sha2-.*/, "ecdsa")
    .replace(/@openssh\.com$/, "")
    .toUpperCase();
  const digest = createHash("sha256").update(parsed.blob).digest("base64").replace(/=+$/, "");
  return `${label} SHA256:${digest}`;
}

/** The name under which a host's keys are recorded (known_hosts syntax). */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A known_hosts file pinning `keys` for `name`. */
export function knownHostsContent(name: string, keys: readonly HostKey[]): string {
  return keys.map((key) => `${name} ${key}\n`).join("");
}

export class HostKeyScanError extends Error {
  override name = "HostKeyScanError";
}

/**
 * Asks the server at `address:port` for its host keys with ssh-keyscan (argument vector; the
 * address is an IP the caller already checked). Throws if it presents none.
 */
export async function scanHostKeys(
  address: string,
  port: number,
  options: { timeoutSec?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<HostKey[]> {
  const timeoutSec = options.timeoutSec ?? 15;
  const result = await runWithDeadline(
    "ssh-keyscan",
    ["-T", String(timeoutSec), "-p", String(port), "-t", "ed25519,ecdsa,rsa", "--", address],
    {
      env: options.env ?? { PATH: "/usr/local/bin:/usr/bin:/bin", LC_ALL: "C" },
      timeoutMs: (timeoutSec + 5) * 1000,
    },
  );
  const keys: HostKey[] = [];
  for (const line of result.stdout.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const [, type, base64] = line.trim().split(/\s+/);
    const key = `${type} ${base64}`;
    if (parseHostKey(key) && !keys.includes(key)) keys.push(key);
  }
  if (keys.length === 0) {
    const why = result.timedOut
      ? "timed out"
      : result.stderr
          .trim()
          .split("\n")
          .filter((l) => !l.startsWith("#"))
          .at(-1) || "no SSH server answered";
    throw new HostKeyScanError(
      `could not read the SSH host key of ${address} port ${port}: ${why}`,
    );
  }
  return keys;
}

/** Pinned keys in memory (tests, one-off tools). */
export class MemoryHostKeyStore implements HostKeyStore {
  readonly entries = new Map<string, HostKey[]>();

  async get(host: string, port: number): Promise<readonly HostKey[] | undefined> {
    return this.entries.get(knownHostsName(host, port));
  }

  async save(host: string, port: number, keys: readonly HostKey[]): Promise<void> {
    this.entries.set(knownHostsName(host, port), [...keys]);
  }
}

/** Pinned keys in a known_hosts-format file (one per site), replaced atomically on change. */
export class FileHostKeyStore implements HostKeyStore {
  constructor(readonly path: string) {}

  async get(host: string, port: number): Promise<readonly HostKey[] | undefined> {
    const name = knownHostsName(host, port);
    const keys = (await this.read())
      .filter(([entry]) => entry === name)
      .map(([, type, base64]) => `${type} ${base64}`)
      .filter((key) => parseHostKey(key) !== undefined);
    return keys.length ? keys : undefined;
  }

  async save(host: string, port: number, keys: readonly HostKey[]): Promise<void> {
    const name = knownHostsName(host, port);
    const others = (await this.read()).filter(([entry]) => entry !== name);
    const content =
      others.map((fields) => fields.join(" ") + "\n").join("") + knownHostsContent(name, keys);
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, content, { mode: 0o644 });
    await rename(temp, this.path);
  }

  private async read(): Promise<string[][]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    return text
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => line.trim().split(/\s+/));
  }
}
