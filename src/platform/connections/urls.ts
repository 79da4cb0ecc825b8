import type { PlatformConfig } from "../../config.ts";

/** Where a GitHub App connection's webhooks arrive (at the host root, like site hooks). */
export const GITHUB_APP_WEBHOOK_PATH = "/webhooks/github-app";

/** The URL to paste into the App's settings (Webhook URL); at the host root like site hooks. */
export function githubAppWebhookUrl(
  config: Pick<PlatformConfig, "publicUrl">,
  connectionId: string,
): string {
  return `${config.publicUrl}${GITHUB_APP_WEBHOOK_PATH}/${connectionId}`;
}
