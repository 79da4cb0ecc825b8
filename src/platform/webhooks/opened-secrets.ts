import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";
import { readWebhookSecret } from "../sites/secrets.ts";

/**
 * Opened webhook secrets by site and sealed value (a rotated secret is another key, so it is
 * opened afresh): opening one (AES-GCM) for every delivery cost more than checking its
 * signature. Kept in this process's memory only, like the master key that opens them.
 */
const openedSecrets = new Map<string, string | null>();
const OPENED_SECRETS_KEPT = 1000;

/** The secret the site's git webhook checks, or null when not linked (`readWebhookSecret`). */
export function webhookSecret(ctx: PlatformContext, site: Site): string | null {
  const key = `${site.id}\n${site.webhook_secret_sealed}`;
  const cached = openedSecrets.get(key);
  if (cached !== undefined) return cached;
  const secret = readWebhookSecret(ctx, site);
  if (openedSecrets.size >= OPENED_SECRETS_KEPT) {
    openedSecrets.delete(openedSecrets.keys().next().value!);
  }
  openedSecrets.set(key, secret);
  return secret;
}
