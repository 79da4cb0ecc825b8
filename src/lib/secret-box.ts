import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const VERSION = "v1";

/**
 * Authenticated encryption (AES-256-GCM) of secrets stored in a database. The key lives outside
 * the database (a file or an environment variable), so a copied database file reveals nothing.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("the secret key must be 32 bytes");
    this.#key = key;
  }

  /**
   * `context` (optional) is bound to the ciphertext as associated data, e.g. `deploy_key:<id>`:
   * a sealed value copied into another row then fails to open instead of being used there.
   */
  seal(plaintext: string, context?: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    if (context !== undefined) cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString("base64"), tag.toString("base64"), body.toString("base64")].join(
      ":",
    );
  }

  open(sealed: string, context?: string): string {
    const [version, iv, tag, body] = sealed.split(":");
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) {
      throw new Error("sealed secret has an unknown format");
    }
    const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(iv, "base64"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    if (context !== undefined) decipher.setAAD(Buffer.from(context, "utf8"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString(
      "utf8",
    );
  }
}
