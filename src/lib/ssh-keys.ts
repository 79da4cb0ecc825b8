import { createHash, createPublicKey, type JsonWebKey } from "node:crypto";
import { createRequire } from "node:module";
import type ssh2 from "ssh2";

/** `SHA256:<base64 without padding>` of the key blob, as `ssh-keygen -l` prints it. */
export function fingerprintSha256(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** Colon-separated MD5 of the key blob (GitLab's `fingerprint`). */
export function fingerprintMd5(blob: Buffer): string {
  return createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");
}

/** GitLab's key "technologies" (`Gitlab::SSHPublicKey::TECHNOLOGIES`). */
export type KeyTechnology = "rsa" | "dsa" | "ecdsa" | "ed25519" | "ecdsa_sk" | "ed25519_sk";

/** Every algorithm name GitLab recognises, DSA included (recognised, then refused). */
export const KEY_ALGORITHMS: Readonly<Record<string, KeyTechnology>> = {
  "ssh-rsa": "rsa",
  "ssh-dss": "dsa",
  "ecdsa-sha2-nistp256": "ecdsa",
  "ecdsa-sha2-nistp384": "ecdsa",
  "ecdsa-sha2-nistp521": "ecdsa",
  "ssh-ed25519": "ed25519",
  "sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa_sk",
  "sk-ssh-ed25519@openssh.com": "ed25519_sk",
};

/** GitLab's default key restrictions: DSA is forbidden, the rest allowed with no minimum size. */
export const ALLOWED_TECHNOLOGIES: ReadonlySet<KeyTechnology> = new Set([
  "rsa",
  "ecdsa",
  "ed25519",
  "ecdsa_sk",
  "ed25519_sk",
]);

/** The Key model's messages (`app/models/key.rb`, `SshKeyValidator`), word for word. */
export const KeyMessages = {
  blank: "can't be blank",
  tooLong: (max: number) => `is too long (maximum is ${max} characters)`,
  invalid: "is invalid",
  forbiddenType: "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK",
  cannotBeGenerated: "cannot be generated",
  taken: "has already been taken",
  expired: "has expired",
} as const;

/** The Key model's `key` length limit. */
export const MAX_KEY_LENGTH = 5000;

/** What the wire-format blob says about a key. */
export interface PublicKeyBlobInfo {
  /** The algorithm name inside the blob, e.g. `ssh-ed25519`. */
  type: string;
  technology: KeyTechnology;
  /** RSA/DSA: modulus (p) bit length; ECDSA: curve size; Ed25519 and security keys: 256. */
  bits: number;
}

export interface ParsedPublicKey extends PublicKeyBlobInfo {
  blob: Buffer;
  base64: string;
  /** The first comment token, if any (GitLab keeps only that one). */
  comment: string | undefined;
  /** `type base64 [first-comment-token]`, without any authorized_keys options. */
  sanitized: string;
  /** True when authorized_keys options (`no-pty,from="..." ssh-rsa ...`) preceded the key. */
  hadOptions: boolean;
  /** MD5, colon hex. */
  fingerprint: string;
  /** `SHA256:<base64 without padding>`. */
  fingerprintSha256: string;
}

/** Reads SSH wire-format fields (RFC 4251 §5); every read fails soft with `undefined`. */
class WireReader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  bytes(): Buffer | undefined {
    if (this.offset + 4 > this.data.length) return undefined;
    const length = this.data.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (length > this.data.length - start) return undefined;
    this.offset = start + length;
    return this.data.subarray(start, start + length);
  }

  string(): string | undefined {
    return this.bytes()?.toString("latin1");
  }

  /** A positive mpint, returned without leading zero bytes. */
  positiveMpint(): Buffer | undefined {
    const raw = this.bytes();
    if (raw === undefined || raw.length === 0 || (raw[0]! & 0x80) !== 0) return undefined;
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return start === raw.length ? undefined : raw.subarray(start);
  }

  get done(): boolean {
    return this.offset === this.data.length;
  }
}

function bitLength(unsigned: Buffer): number {
  const first = unsigned[0] ?? 0;
  return (unsigned.length - 1) * 8 + (32 - Math.clz32(first));
}

const b64url = (b: Buffer): string => b.toString("base64url");

/** Lets OpenSSL check the numbers (on-curve points, a usable RSA modulus). */
function importable(jwk: JsonWebKey): boolean {
  try {
    createPublicKey({ key: jwk, format: "jwk" });
    return true;
  } catch {
    return false;
  }
}

const CURVES = {
  nistp256: { jwk: "P-256", bits: 256, coordinate: 32 },
  nistp384: { jwk: "P-384", bits: 384, coordinate: 48 },
  nistp521: { jwk: "P-521", bits: 521, coordinate: 66 },
} as const;

function ecdsaPoint(curveName: string, point: Buffer): number | undefined {
  if (!Object.hasOwn(CURVES, curveName)) return undefined;
  const curve = CURVES[curveName as keyof typeof CURVES];
  if (point.length !== 1 + 2 * curve.coordinate || point[0] !== 0x04) return undefined;
  const x = point.subarray(1, 1 + curve.coordinate);
  const y = point.subarray(1 + curve.coordinate);
  return importable({ kty: "EC", crv: curve.jwk, x: b64url(x), y: b64url(y) })
    ? curve.bits
    : undefined;
}

function ed25519Point(point: Buffer): boolean {
  return point.length === 32 && importable({ kty: "OKP", crv: "Ed25519", x: b64url(point) });
}

/**
 * Decodes an SSH public key blob (the base64 part of `ssh-ed25519 AAAA...`): checks its
 * structure field by field, rejects trailing bytes, and works out the key size.
 */
export function parsePublicKeyBlob(blob: Buffer): PublicKeyBlobInfo | undefined {
  const reader = new WireReader(blob);
  const type = reader.string();
  if (type === undefined || !Object.hasOwn(KEY_ALGORITHMS, type)) return undefined;
  const technology = KEY_ALGORITHMS[type]!;
  let bits: number | undefined;
  switch (technology) {
    case "rsa": {
      const e = reader.positiveMpint();
      const n = reader.positiveMpint();
      if (e && n && importable({ kty: "RSA", e: b64url(e), n: b64url(n) })) bits = bitLength(n);
      break;
    }
    case "dsa": {
      const [p, q, g, y] = [1, 2, 3, 4].map(() => reader.positiveMpint());
      if (p && q && g && y) bits = bitLength(p);
      break;
    }
    case "ecdsa": {
      const curve = reader.string();
      const point = reader.bytes();
      if (curve !== undefined && point && type === `ecdsa-sha2-${curve}`) {
        bits = ecdsaPoint(curve, point);
      }
      break;
    }
    case "ed25519": {
      const point = reader.bytes();
      if (point && ed25519Point(point)) bits = 256;
      break;
    }
    case "ecdsa_sk": {
      const curve = reader.string();
      const point = reader.bytes();
      const application = reader.string();
      if (curve === "nistp256" && point && application !== undefined) {
        bits = ecdsaPoint(curve, point);
      }
      break;
    }
    case "ed25519_sk": {
      const point = reader.bytes();
      const application = reader.string();
      if (point && application !== undefined && ed25519Point(point)) bits = 256;
      break;
    }
  }
  if (bits === undefined || !reader.done) return undefined;
  return { type, technology, bits };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64: canonical padding and no stray characters (Node's decoder skips them). */
function decodeBase64(text: string): Buffer | undefined {
  if (text === "" || !BASE64.test(text)) return undefined;
  const decoded = Buffer.from(text, "base64");
  return decoded.toString("base64") === text ? decoded : undefined;
}

/** How many whitespace-separated chunks a wrapped base64 body may be split into. */
const MAX_BASE64_CHUNKS = 128;

const ALGORITHM_ALTERNATION = Object.keys(KEY_ALGORITHMS)
  .map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
  .join("|");
const FIRST_ALGORITHM = new RegExp(`(?:^|\\s)(?:${ALGORITHM_ALTERNATION})(?=\\s)`);

/**
 * Parses an OpenSSH public key line, `type base64 [comment]`, the way `Gitlab::SSHPublicKey`
 * does: authorized_keys options before the first algorithm name are stripped, a base64 body
 * wrapped over several lines is joined back, the type named in the text must be the type
 * inside the blob, and only the first comment token is kept. `undefined` when no key is found.
 */
export function parsePublicKey(text: string): ParsedPublicKey | undefined {
  let line = text.trim();
  let hadOptions = false;
  const first = line.split(/\s/, 1)[0] ?? "";
  if (!Object.hasOwn(KEY_ALGORITHMS, first)) {
    const match = FIRST_ALGORITHM.exec(line);
    if (!match) return undefined;
    line = line.slice(match.index).trimStart();
    hadOptions = true;
  }
  const [type = "", ...parts] = line.split(/\s+/);
  let base64 = "";
  for (let i = 0; i < Math.min(parts.length, MAX_BASE64_CHUNKS); i++) {
    base64 += parts[i];
    // Such a key could never be stored (5000 characters at most): spare the decoding.
    if (base64.length > MAX_KEY_LENGTH) break;
    const blob = decodeBase64(base64);
    const info = blob && parsePublicKeyBlob(blob);
    if (!blob || !info || info.type !== type) continue;
    const comment = parts[i + 1];
    return {
      ...info,
      blob,
      base64,
      comment,
      sanitized: comment === undefined ? `${type} ${base64}` : `${type} ${base64} ${comment}`,
      hadOptions,
      fingerprint: fingerprintMd5(blob),
      fingerprintSha256: fingerprintSha256(blob),
    };
  }
  return undefined;
}

/** Length in characters (code points), as Rails counts it; cheap for short strings. */
export function characterCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is a single character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** The outcome of the Key model's key checks, with GitLab's messages in GitLab's order. */
export interface KeyValidation {
  /** The parsed key; set even when the key is refused (a DSA key has a fingerprint). */
  parsed: ParsedPublicKey | undefined;
  /** What would be stored: the sanitized key, or the trimmed input if it does not parse. */
  sanitized: string;
  errors: { key: string[]; fingerprint_sha256: string[] };
}

/**
 * The Key model's validations of `key` (`app/models/key.rb`), in the order Rails runs them:
 * presence, length (5000), format (must start with a known algorithm name), then
 * fingerprint presence ("cannot be generated") and the type restriction. So a malformed key
 * gets several messages at once, as in GitLab:
 * - `""` → key: can't be blank, is invalid, type is forbidden; fingerprint: cannot be generated
 * - `"some key"` → key: is invalid, type is forbidden; fingerprint: cannot be generated
 * - `"ssh-rsa AAAAbroken"` → key: type is forbidden; fingerprint: cannot be generated
 * - a well-formed DSA key → key: type is forbidden (its fingerprint can be generated)
 * - `no-pty ssh-ed25519 AAAA...` → key: is invalid (GitLab's format check is anchored at the
 *   start, so keys with authorized_keys options are refused rather than silently losing their
 *   `from=`/`command=` restrictions)
 *
 * Uniqueness and expiry need the database and the clock; the caller adds those.
 */
export function validatePublicKey(text: string): KeyValidation {
  const trimmed = text.trim();
  const parsed = trimmed === "" ? undefined : parsePublicKey(trimmed);
  const sanitized = parsed && !parsed.hadOptions ? parsed.sanitized : trimmed;
  const key: string[] = [];
  const fingerprint_sha256: string[] = [];
  if (sanitized === "") key.push(KeyMessages.blank);
  if (characterCount(sanitized) > MAX_KEY_LENGTH) key.push(KeyMessages.tooLong(MAX_KEY_LENGTH));
  const startsWithAlgorithm = Object.keys(KEY_ALGORITHMS).some((a) => sanitized.startsWith(a));
  if (!startsWithAlgorithm) key.push(KeyMessages.invalid);
  if (!parsed) fingerprint_sha256.push(KeyMessages.cannotBeGenerated);
  if (!parsed || !ALLOWED_TECHNOLOGIES.has(parsed.technology)) {
    key.push(KeyMessages.forbiddenType);
  }
  return { parsed, sanitized, errors: { key, fingerprint_sha256 } };
}

/**
 * A new Ed25519 key pair in OpenSSH format (`private` ends with a newline, as OpenSSH requires).
 * ssh2's generator emits an unreadable private key about once in 256 times (mscdex/ssh2#1390:
 * OpenSSH refuses those too), so each key is read back before it is used, and a bad one replaced.
 */
export function generateEd25519KeyPair(comment?: string): { private: string; public: string } {
  // Loaded at the first key: the platform needs ssh2 for nothing else.
  const { utils } = createRequire(import.meta.url)("ssh2") as typeof ssh2;
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519", comment === undefined ? {} : { comment });
    if (!(utils.parseKey(pair.private) instanceof Error)) {
      return { private: pair.private.trimEnd() + "\n", public: pair.public.trim() };
    }
  }
  throw new Error("could not generate a readable Ed25519 key");
}
