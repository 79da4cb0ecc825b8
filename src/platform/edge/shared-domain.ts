import type { Logger } from "../../lib/logger.ts";
import type { DeployRules, HeaderRule } from "./rules.ts";

/** Why a deploy's `Set-Cookie` rules are not applied on the shared sites domain. */
export const SET_COOKIE_ON_SHARED_DOMAIN =
  "Set-Cookie from _headers or netlify.toml is not sent on the platform's shared sites domain (every site there could set cookies for the others: cookie tossing); it is sent on the site's custom domains";

/**
 * The rules without any `Set-Cookie`, for hosts under the shared sites domain: sibling sites
 * under one registrable domain can set cookies for each other (`Domain=` the parent), so a
 * tenant could plant a session cookie in another's visitors (cookie tossing).
 */
export function withoutSetCookie(rules: DeployRules): DeployRules {
  const setsCookie = (rule: HeaderRule) => rule.values.some(([name]) => name === "set-cookie");
  if (!rules.headers.some(setsCookie)) return rules;
  const headers = rules.headers.flatMap((rule) => {
    if (!setsCookie(rule)) return [rule];
    const values = rule.values.filter(([name]) => name !== "set-cookie");
    return values.length === 0 ? [] : [{ ...rule, values }];
  });
  return { ...rules, headers, errors: [...rules.errors, SET_COOKIE_ON_SHARED_DOMAIN] };
}

/** Which hosts are under the shared sites domain, and their rules (Set-Cookie dropped, logged). */
export function sharedDomainPolicy(sharedSitesDomain: string | undefined, logger?: Logger) {
  const suffix =
    sharedSitesDomain === undefined
      ? undefined
      : `.${sharedSitesDomain.toLowerCase().replace(/\.$/, "")}`;
  return {
    /** `host` is normalised (lowercase, no port, no trailing dot). */
    isShared: (host: string): boolean => suffix !== undefined && host.endsWith(suffix),
    rulesFor:
      (deployId: string) =>
      (rules: DeployRules): DeployRules => {
        const adapted = withoutSetCookie(rules);
        if (adapted !== rules) logger?.warn({ deployId }, `edge: ${SET_COOKIE_ON_SHARED_DOMAIN}`);
        return adapted;
      },
  };
}
