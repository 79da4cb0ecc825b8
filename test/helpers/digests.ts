import { createHash } from "node:crypto";

/** Lowercase hex SHA-1, as deploy manifests and the digest protocol name file contents. */
export const sha1 = (data: string | Buffer): string =>
  createHash("sha1").update(data).digest("hex");
