import type { IncomingMessage, ServerResponse } from "node:http";
import { safeEqual } from "../../lib/tokens.ts";
import { makePrivate } from "./protection-headers.ts";
import { headersForPath, type DeployRules } from "./rules.ts";

/**
 * Netlify's `Basic-Auth` in `_headers` (`/*` then `  Basic-Auth: user:pass other:pass2`): the
 * paths it covers answer 401 with `WWW-Authenticate` until the request carries one of the
 * pairs. Every pair is compared, in constant time, so the answer's timing says nothing about
 * which one came close. The header itself is never sent (`handler.ts` drops it from a route's
 * headers). A deploy without it costs one WeakMap lookup per request.
 */

export const BASIC_AUTH = "basic-auth";

const onlyBasicAuth = new WeakMap<DeployRules, DeployRules | null>();

function basicAuthRules(rules: DeployRules): DeployRules | null {
  let found = onlyBasicAuth.get(rules);
  if (found === undefined) {
    const headers = rules.headers
      .map((rule) => ({ ...rule, values: rule.values.filter(([name]) => name === BASIC_AUTH) }))
      .filter((rule) => rule.values.length > 0);
    found = headers.length === 0 ? null : { ...rules, headers };
    onlyBasicAuth.set(rules, found);
  }
  return found;
}

/** `true` when this answered (401); `false`: serve the request (privately when protected). */
export function checkBasicAuth(
  req: IncomingMessage,
  res: ServerResponse,
  rules: DeployRules,
  path: string,
): boolean {
  const auth = basicAuthRules(rules);
  if (auth === null) return false;
  const value = headersForPath(auth, path)[0]?.[1];
  if (value === undefined) return false;
  makePrivate(res);
  if (credentialsMatch(req.headers.authorization, value)) return false;
  const body = Buffer.from("Unauthorized\n");
  res.writeHead(401, [
    "www-authenticate",
    'Basic realm="Protected", charset="UTF-8"',
    "content-type",
    "text/plain; charset=utf-8",
    "content-length",
    String(body.length),
  ]);
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}

/** Whether `Authorization: Basic …` is one of the rule's `user:pass` pairs. */
export function credentialsMatch(authorization: string | undefined, rule: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]{1,4096})\s*$/i.exec(authorization ?? "");
  if (!match) return false;
  const given = Buffer.from(match[1]!, "base64").toString("utf8");
  let matched = false;
  for (const pair of rule.split(/\s+/)) {
    if (pair === "" || !pair.includes(":")) continue;
    // No early exit: every pair is compared.
    if (safeEqual(given, pair)) matched = true;
  }
  return matched;
}
