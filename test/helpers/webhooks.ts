import { randomBytes } from "node:crypto";
import { hmacSha256Hex } from "../../src/platform/webhooks/signatures.ts";

/**
 * Webhook deliveries made by hand, the way each provider makes them: its event and delivery id
 * headers and its proof of the secret (GitLab's token, GitHub's and Bitbucket's `sha256=` HMAC,
 * Gitea's bare HMAC), posted to a site's webhook URL.
 */

export type Provider = "gitlab" | "github" | "gitea" | "bitbucket";

/** Each provider's event header value for a push. */
const PUSH_EVENT: Record<Provider, string> = {
  gitlab: "Push Hook",
  github: "push",
  gitea: "push",
  bitbucket: "repo:push",
};

/** A random 40-hex commit id. */
export const randomSha = (): string => randomBytes(20).toString("hex");

/**
 * The headers `provider` sends with a delivery of `body`, signed with `secret`: a push unless
 * `event` names another event; `id` is the delivery id (random by default).
 */
export function signedHeaders(
  provider: Provider,
  secret: string,
  body: string | Buffer,
  options: { event?: string; id?: string } = {},
): Record<string, string> {
  const event = options.event ?? PUSH_EVENT[provider];
  const id = options.id ?? randomBytes(8).toString("hex");
  const mac = hmacSha256Hex(secret, body);
  switch (provider) {
    case "gitlab":
      return { "x-gitlab-event": event, "x-gitlab-token": secret, "idempotency-key": id };
    case "github":
      return {
        "x-github-event": event,
        "x-hub-signature-256": `sha256=${mac}`,
        "x-github-delivery": id,
      };
    case "gitea":
      return {
        "x-gitea-event": event,
        "x-github-event": event,
        "x-gitea-signature": mac,
        "x-gitea-delivery": id,
      };
    case "bitbucket":
      // Bitbucket sends the hook's own id with every delivery: the same for all of them.
      return {
        "x-event-key": event,
        "x-hub-signature": `sha256=${mac}`,
        "x-request-uuid": id,
        "x-hook-uuid": "{same-for-every-delivery}",
      };
  }
}

/** The intake's answer: status, the JSON body (`{}` when it is not JSON) and the raw text. */
export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/** POSTs a delivery (as JSON unless the headers name another content type). */
export async function postWebhook(
  url: string,
  headers: Headers | Record<string, string>,
  body?: string | Buffer,
): Promise<WebhookAnswer> {
  const sent = new Headers(headers);
  if (!sent.has("content-type")) sent.set("content-type", "application/json");
  const response = await fetch(url, { method: "POST", headers: sent, body });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text };
}
