import type { DeployKey } from "../../db/schema.ts";

/**
 * Netlify's `deployKey` (`id, public_key, created_at`) plus its SHA-256 `fingerprint`, the one
 * providers show next to installed keys. Built field by field: the sealed private half can
 * never slip into a response.
 */
export function presentDeployKey(key: DeployKey) {
  return {
    id: key.id,
    public_key: key.public_key,
    fingerprint: key.fingerprint,
    account_id: key.account_id,
    created_at: key.created_at,
  };
}

/** A deploy key's JSON (`POST /deploy_keys`). */
export type DeployKeyJson = ReturnType<typeof presentDeployKey>;
