import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runChecked } from "../../src/lib/run.ts";

/** Test fixtures: real OpenSSH public keys, and blobs crafted for types ssh-keygen cannot make. */

/** SSH wire-format string (uint32 length + bytes). */
export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** SSH mpint of a positive number given as big-endian bytes. */
export function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString(
    (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed,
  );
}

/** `type base64 [comment]`, the type read from the blob's first field. */
export function keyLine(blob: Buffer, comment?: string): string {
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1");
  const base = `${type} ${blob.toString("base64")}`;
  return comment === undefined ? base : `${base} ${comment}`;
}

function ed25519Point(): Buffer {
  const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url");
}

function p256Point(): Buffer {
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
    format: "jwk",
  });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, "base64url"),
    Buffer.from(jwk.y!, "base64url"),
  ]);
}

/** A new, unique Ed25519 key line made with node:crypto (fast; for keys that must not clash). */
export function freshEd25519(comment = "test@slipway"): string {
  return keyLine(Buffer.concat([sshString("ssh-ed25519"), sshString(ed25519Point())]), comment);
}

/** `sk-ssh-ed25519@openssh.com` (a FIDO security key; ssh-keygen needs the device to make one). */
export function skEd25519(comment = "sk@slipway"): string {
  const blob = Buffer.concat([
    sshString("sk-ssh-ed25519@openssh.com"),
    sshString(ed25519Point()),
    sshString("ssh:"),
  ]);
  return keyLine(blob, comment);
}

/** `sk-ecdsa-sha2-nistp256@openssh.com`. */
export function skEcdsa(comment = "sk@slipway"): string {
  const blob = Buffer.concat([
    sshString("sk-ecdsa-sha2-nistp256@openssh.com"),
    sshString("nistp256"),
    sshString(p256Point()),
    sshString("ssh:"),
  ]);
  return keyLine(blob, comment);
}

/** A structurally valid `ssh-dss` key (1024-bit p), for when ssh-keygen refuses to make DSA. */
export function craftedDsa(comment = "dsa@slipway"): string {
  const p = Buffer.concat([Buffer.from([0xc0]), randomBytes(127)]);
  const q = Buffer.concat([Buffer.from([0x90]), randomBytes(19)]);
  const g = Buffer.concat([Buffer.from([0x20]), randomBytes(127)]);
  const y = Buffer.concat([Buffer.from([0x30]), randomBytes(127)]);
  const blob = Buffer.concat([
    sshString("ssh-dss"),
    sshMpint(p),
    sshMpint(q),
    sshMpint(g),
    sshMpint(y),
  ]);
  return keyLine(blob, comment);
}

export interface OpenSshKey {
  /** The `.pub` line as ssh-keygen wrote it (`type base64 comment`). */
  line: string;
  /** `ssh-keygen -l -E sha256` → `SHA256:...` */
  sha256: string;
  /** `ssh-keygen -l -E md5` → `aa:bb:...` */
  md5: string;
  bits: number;
}

export interface OpenSshKeys {
  rsa1024: OpenSshKey;
  rsa2048: OpenSshKey;
  ecdsa256: OpenSshKey;
  ecdsa384: OpenSshKey;
  ecdsa521: OpenSshKey;
  ed25519: OpenSshKey;
  /** ssh-keygen's DSA key, or a crafted one if this OpenSSH was built without DSA. */
  dsa: string;
}

async function keygen(dir: string, name: string, args: string[]): Promise<OpenSshKey> {
  const file = join(dir, name);
  await runChecked("ssh-keygen", [
    "-q",
    ...args,
    "-N",
    "",
    "-C",
    `${name}@slipway.test`,
    "-f",
    file,
  ]);
  const line = (await readFile(`${file}.pub`, "utf8")).trim();
  const sha = (await runChecked("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`])).split(
    " ",
  );
  const md5 = (await runChecked("ssh-keygen", ["-l", "-E", "md5", "-f", `${file}.pub`])).split(" ");
  return { line, sha256: sha[1]!, md5: md5[1]!.replace(/^MD5:/, ""), bits: Number(sha[0]) };
}

/** Generates one key of each type with the real `ssh-keygen`. */
export async function generateOpenSshKeys(): Promise<OpenSshKeys> {
  const dir = await mkdtemp(join(tmpdir(), "slipway-keys-"));
  try {
    const [rsa1024, rsa2048, ecdsa256, ecdsa384, ecdsa521, ed25519] = await Promise.all([
      keygen(dir, "rsa1024", ["-t", "rsa", "-b", "1024"]),
      keygen(dir, "rsa2048", ["-t", "rsa", "-b", "2048"]),
      keygen(dir, "ecdsa256", ["-t", "ecdsa", "-b", "256"]),
      keygen(dir, "ecdsa384", ["-t", "ecdsa", "-b", "384"]),
      keygen(dir, "ecdsa521", ["-t", "ecdsa", "-b", "521"]),
      keygen(dir, "ed25519", ["-t", "ed25519"]),
    ]);
    const dsaFile = join(dir, "dsa");
    const made = await run("ssh-keygen", [
      "-q",
      "-t",
      "dsa",
      "-N",
      "",
      "-C",
      "dsa@slipway.test",
      "-f",
      dsaFile,
    ]);
    const dsa = made.code === 0 ? (await readFile(`${dsaFile}.pub`, "utf8")).trim() : craftedDsa();
    return { rsa1024, rsa2048, ecdsa256, ecdsa384, ecdsa521, ed25519, dsa };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
