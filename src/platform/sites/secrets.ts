import { randomBytes } from "node:crypto";
import type { PlatformContext } from "../context.ts";
import type { Site } from "../db/schema.ts";

/**
 * A site's sealed columns: its build environment and its git webhook secret. Each is sealed
 * under its own context naming the site, so a sealed value copied to another site or column
 * does not open.
 */

const envContext = (siteId: string): string => `site_env:${siteId}`;
const webhookContext = (siteId: string): string => `site_webhook:${siteId}`;

/** A fresh webhook secret: 32 random bytes, hex (accepted as a token or HMAC key everywhere). */
const newWebhookSecret = (): string => randomBytes(32).toString("hex");

/** A fresh webhook secret, sealed for the site. */
export function sealNewWebhookSecret(ctx: PlatformContext, siteId: string): string {
  return ctx.secrets.seal(newWebhookSecret(), webhookContext(siteId));
}

/** The site's build environment (opened from its sealed column). */
export function readEnv(ctx: PlatformContext, site: Site): Record<string, string> {
  if (site.env_sealed === null) return {};
  return JSON.parse(ctx.secrets.open(site.env_sealed, envContext(site.id))) as Record<
    string,
    string
  >;
}

/** The secret the site's git webhook checks (token or HMAC key), or null when not linked. */
export function readWebhookSecret(ctx: PlatformContext, site: Site): string | null {
  return site.webhook_secret_sealed === null
    ? null
    : ctx.secrets.open(site.webhook_secret_sealed, webhookContext(site.id));
}

export function sealEnv(
  ctx: PlatformContext,
  siteId: string,
  env: Record<string, string>,
): string | null {
  return Object.keys(env).length === 0
    ? null
    : ctx.secrets.seal(JSON.stringify(env), envContext(siteId));
}
