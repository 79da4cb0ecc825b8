import { createHmac, timingSafeEqual } from "node:crypto";
import { safeEqual } from "../../lib/tokens.ts";

/**
 * Who sent a delivery, and whether it carries the site's secret. Everything here is a pure
 * function of the request's headers and raw body: the secret comes from the site the URL names,
 * never from the payload.
 *
 * | provider | event header | proof | delivery id |
 * |---|---|---|---|
 * | GitLab (and the forge) | `X-Gitlab-Event` | `X-Gitlab-Token`: the secret itself | `Idempotency-Key` |
 * | GitHub | `X-GitHub-Event` | `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` | `X-GitHub-Delivery` |
 * | Gitea, Forgejo, Gogs | `X-Gitea-Event` / `X-Forgejo-Event` / `X-Gogs-Event` | `X-Gitea-Signature: <hex HMAC>` (or the Forgejo/Gogs twin, or `X-Hub-Signature-256`) | `X-Gitea-Delivery` / … |
 * | Bitbucket Cloud | `X-Event-Key` | `X-Hub-Signature: sha256=<hex HMAC>` | `X-Request-UUID` |
 *
 * Gitea also sends `X-GitHub-Event` mirrors, so it is recognised first. Bitbucket's
 * `X-Hook-UUID` names the webhook, not the delivery (it is the same for every push), so it is
 * never used to detect duplicates.
 */

export type WebhookProvider = "gitlab" | "github" | "gitea" | "bitbucket";

/** Node's request headers: lower-case names; repeated headers arrive joined or as arrays. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

export function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

export interface Sender {
  provider: WebhookProvider;
  /** The provider's event name as sent (`Push Hook`, `push`, `repo:push`, …), capped. */
  event: string;
}

const MAX_EVENT = 100;

/** The provider a delivery claims to come from, by its event header; undefined when none. */
export function identifySender(headers: RequestHeaders): Sender | undefined {
  const candidates: Array<[string, WebhookProvider]> = [
    ["x-gitea-event", "gitea"],
    ["x-forgejo-event", "gitea"],
    ["x-gogs-event", "gitea"],
    ["x-gitlab-event", "gitlab"],
    ["x-event-key", "bitbucket"],
    ["x-github-event", "github"],
  ];
  for (const [name, provider] of candidates) {
    const value = header(headers, name)?.trim();
    if (value !== undefined && value !== "") {
      return { provider, event: value.slice(0, MAX_EVENT) };
    }
  }
  return undefined;
}

const MAX_DELIVERY_KEY = 200;

/**
 * The provider's id of this delivery, stable across its redeliveries (the dedupe key); a
 * generic `Idempotency-Key` is accepted from any sender. Anything too long or not printable
 * ASCII is not used (the delivery is then deduplicated by its commit only).
 */
export function deliveryKey(provider: WebhookProvider, headers: RequestHeaders): string | null {
  const names: Record<WebhookProvider, string[]> = {
    gitlab: ["idempotency-key"],
    github: ["x-github-delivery"],
    gitea: ["x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery"],
    bitbucket: ["x-request-uuid"],
  };
  for (const name of [...names[provider], "idempotency-key"]) {
    const value = header(headers, name)?.trim();
    if (value === undefined || value === "") continue;
    return value.length <= MAX_DELIVERY_KEY && /^[\x21-\x7e]+$/.test(value) ? value : null;
  }
  return null;
}

export type Verdict = { ok: true } | { ok: false; missing: boolean; detail: string };

/** `hex(HMAC-SHA256(secret, body))`, as GitHub, Gitea and Bitbucket sign deliveries. */
export function hmacSha256Hex(secret: string, body: Buffer | string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/**
 * Whether `provided` (a hex HMAC-SHA256, after its `sha256=` prefix if any) signs `body` with
 * `secret`. The comparison is constant-time over the 32-byte digests; a value of the wrong
 * length or alphabet is simply not a match (checked first: `timingSafeEqual` throws on
 * unequal lengths).
 */
export function hexSignatureMatches(provided: string, body: Buffer, secret: string): boolean {
  if (!HEX_SHA256.test(provided)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  const given = Buffer.from(provided, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A `sha256=<hex>` header value (GitHub's `X-Hub-Signature-256`, Bitbucket's `X-Hub-Signature`). */
export function prefixedSignatureMatches(value: string, body: Buffer, secret: string): boolean {
  const prefix = "sha256=";
  if (value.length !== prefix.length + 64 || value.slice(0, prefix.length).toLowerCase() !== prefix)
    return false;
  return hexSignatureMatches(value.slice(prefix.length), body, secret);
}

const missing = (detail: string): Verdict => ({ ok: false, missing: true, detail });
const bad = (detail: string): Verdict => ({ ok: false, missing: false, detail });

/** Checks the delivery's proof of the site's secret, the way its provider sends it. */
export function verifySender(
  provider: WebhookProvider,
  headers: RequestHeaders,
  body: Buffer,
  secret: string,
): Verdict {
  switch (provider) {
    case "gitlab": {
      const token = header(headers, "x-gitlab-token");
      if (token === undefined || token === "") return missing("no X-Gitlab-Token header");
      return safeEqual(token, secret)
        ? { ok: true }
        : bad("X-Gitlab-Token is not the site's webhook secret");
    }
    case "github": {
      const signature = header(headers, "x-hub-signature-256");
      if (signature === undefined || signature === "") {
        return missing(
          header(headers, "x-hub-signature") === undefined
            ? "no X-Hub-Signature-256 header"
            : "no X-Hub-Signature-256 header (the SHA-1 X-Hub-Signature alone is not accepted)",
        );
      }
      return prefixedSignatureMatches(signature, body, secret)
        ? { ok: true }
        : bad("X-Hub-Signature-256 is not the HMAC-SHA256 of the body with the site's secret");
    }
    case "gitea": {
      for (const name of ["x-gitea-signature", "x-forgejo-signature", "x-gogs-signature"]) {
        const signature = header(headers, name);
        if (signature === undefined || signature === "") continue;
        return hexSignatureMatches(signature, body, secret)
          ? { ok: true }
          : bad(`${canonical(name)} is not the HMAC-SHA256 of the body with the site's secret`);
      }
      const hub = header(headers, "x-hub-signature-256");
      // A hook without a secret still sends its headers, empty: `X-Hub-Signature-256: sha256=`.
      if (hub !== undefined && hub !== "" && hub.toLowerCase() !== "sha256=") {
        return prefixedSignatureMatches(hub, body, secret)
          ? { ok: true }
          : bad("X-Hub-Signature-256 is not the HMAC-SHA256 of the body with the site's secret");
      }
      return missing("no X-Gitea-Signature header (the hook has no secret)");
    }
    case "bitbucket": {
      const signature = header(headers, "x-hub-signature");
      if (signature === undefined || signature === "") {
        return missing("no X-Hub-Signature header (the webhook has no secret)");
      }
      return prefixedSignatureMatches(signature, body, secret)
        ? { ok: true }
        : bad("X-Hub-Signature is not sha256=<HMAC-SHA256 of the body with the site's secret>");
    }
  }
}

function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** Where the secret goes at each provider, for the message a refused delivery gets. */
export function secretHint(provider: WebhookProvider): string {
  switch (provider) {
    case "gitlab":
      return "Set the project hook's Secret token to the site's git_webhook.secret (GET /api/v1/sites/:site_id shows it)";
    case "github":
      return "Set the repository webhook's Secret to the site's git_webhook.secret (GET /api/v1/sites/:site_id shows it); GitHub then signs each delivery with X-Hub-Signature-256";
    case "gitea":
      return "Set the repository webhook's Secret to the site's git_webhook.secret (GET /api/v1/sites/:site_id shows it); Gitea and Forgejo then sign each delivery with X-Gitea-Signature";
    case "bitbucket":
      return "Set the repository webhook's Secret to the site's git_webhook.secret (GET /api/v1/sites/:site_id shows it); Bitbucket then signs each delivery with X-Hub-Signature";
  }
}
