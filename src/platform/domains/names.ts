import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { invalidField } from "../errors.ts";

/**
 * Domain names as a site may claim them: IDNA to ASCII (`bücher.example` → `xn--bcher-kva.example`),
 * lower case, no trailing dot, DNS lengths, no IP address, at least two labels, a wildcard only
 * as the whole first label of an alias, and nothing under the platform's own sites domain but
 * the site's own name there.
 */

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_DOMAIN = 253;

export interface DomainRules {
  /** `SLIPWAY_SITES_DOMAIN`. */
  sitesDomain: string;
  /** The site's name: `{name}.{sitesDomain}` is the one name under the sites domain it may use. */
  siteName: string;
  /** `*.example.com` is allowed (aliases only). */
  wildcard: boolean;
}

const show = (value: string): string =>
  JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);

/** The ASCII form of `raw`, or a 422 naming `field` and what is wrong with it. */
export function checkDomain(field: string, raw: string, rules: DomainRules): string {
  const trimmed = raw.trim().replace(/\.$/, "");
  if (trimmed === "") throw invalidField(field, "must not be empty");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || /[/?#@\s]/.test(trimmed)) {
    throw invalidField(
      field,
      `${show(raw)} is not a domain name: give the host name alone (example.com), without a scheme, path, port or spaces`,
    );
  }
  const bare = trimmed.replace(/^\[|\]$/g, "");
  if (isIP(bare) !== 0 || /^[0-9.]+$/.test(bare)) {
    throw invalidField(
      field,
      `${show(raw)} is an IP address; a custom domain must be a DNS name that points at this Slipway (an A/AAAA record)`,
    );
  }
  if (trimmed.includes(":")) {
    throw invalidField(field, `${show(raw)} is not a domain name: leave the port out`);
  }
  const wildcard = trimmed.startsWith("*.");
  if (trimmed.includes("*") && !(wildcard && !trimmed.slice(2).includes("*"))) {
    throw invalidField(
      field,
      `${show(raw)}: a wildcard must be the whole first label, as in *.example.com`,
    );
  }
  if (wildcard && !rules.wildcard) {
    throw invalidField(
      field,
      `${show(raw)}: a wildcard is allowed only in domain_aliases, not as the site's custom_domain`,
    );
  }
  const rest = wildcard ? trimmed.slice(2) : trimmed;
  // WHATWG's domainToASCII: UTS #46 mapping and Punycode; "" when the name is not valid IDNA.
  const ascii = domainToASCII(rest);
  if (ascii === "" || ascii.length + (wildcard ? 2 : 0) > MAX_DOMAIN) {
    throw invalidField(
      field,
      ascii === ""
        ? `${show(raw)} is not a valid domain name (letters, digits and hyphens in dot-separated labels; international names are accepted)`
        : `${show(raw)} is longer than ${MAX_DOMAIN} characters once encoded`,
    );
  }
  const labels = ascii.split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw invalidField(
        field,
        label.length > 63
          ? `${show(raw)}: the label ${show(label)} is longer than 63 characters`
          : `${show(raw)}: the label ${show(label)} is not valid (1 to 63 letters, digits or hyphens, not starting or ending with a hyphen)`,
      );
    }
  }
  if (labels.length < 2) {
    throw invalidField(
      field,
      `${show(raw)} is not a fully qualified domain name: use a name like www.example.com`,
    );
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    throw invalidField(field, `${show(raw)} is not a domain name (its last label is a number)`);
  }
  const domain = wildcard ? `*.${ascii}` : ascii;
  const sites = rules.sitesDomain.toLowerCase();
  const own = `${rules.siteName}.${sites}`;
  if ((ascii === sites || ascii.endsWith(`.${sites}`)) && domain !== own) {
    throw invalidField(
      field,
      `${show(raw)} is under this platform's sites domain ${sites}, where every site already has its own name; the only name there this site may use is ${own}`,
    );
  }
  return domain;
}

/** `www.example.com` ⇄ `example.com`: the name Netlify serves and redirects beside a primary domain. */
export function wwwCompanion(domain: string): string | undefined {
  if (domain.startsWith("*.")) return undefined;
  if (domain.startsWith("www.")) {
    const apex = domain.slice(4);
    return apex.includes(".") ? apex : undefined;
  }
  return `www.${domain}`;
}

/** The wildcard that covers `host` (`a.example.com` → `*.example.com`), if it has a parent. */
export function wildcardOf(host: string): string | undefined {
  const dot = host.indexOf(".");
  if (dot === -1) return undefined;
  const parent = host.slice(dot + 1);
  return parent.includes(".") ? `*.${parent}` : undefined;
}

/** Whether a certificate name (maybe `*.x`) covers `host`, by the one-label wildcard rule. */
export function nameCovers(certName: string, host: string): boolean {
  const name = certName.toLowerCase();
  if (name === host) return true;
  return name.startsWith("*.") && wildcardOf(host) === name;
}
