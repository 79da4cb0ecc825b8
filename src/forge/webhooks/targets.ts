import type { ForgeConfig } from "../../config.ts";
import { normalizeHostEntry } from "../../config.ts";

/**
 * Whether a hook may reach `url` although its host is a loopback or private address: the
 * operator allowed every such address (`SLIPWAY_FORGE_ALLOW_LOCAL_WEBHOOKS`), or this host or
 * `host:port` by name (`SLIPWAY_FORGE_ALLOWED_WEBHOOK_HOSTS`; under `slipway start`, the
 * platform beside the forge). Everything else goes through the address guard.
 */
export function localTargetAllowed(
  config: Pick<ForgeConfig, "allowLocalWebhooks" | "allowedWebhookHosts">,
  url: string,
): boolean {
  if (config.allowLocalWebhooks) return true;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = normalizeHostEntry(parsed.hostname);
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return (
    config.allowedWebhookHosts.includes(`${host}:${port}`) ||
    config.allowedWebhookHosts.includes(host)
  );
}
