import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { CertificateCard } from "../components/certificate.tsx";
import {
  Check,
  Empty,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  notAtField,
  StateBadge,
  TimeAgo,
} from "../components/ui.tsx";
import { ApiError, api, get, seg } from "../lib/api.ts";
import type { Certificate, Site, SiteDomain } from "../lib/types.ts";
import { useSite, useSiteName } from "./site.tsx";

/** States that change by themselves soon: the page asks again quickly while one is shown. */
const MOVING = new Set(["verifying", "issuing"]);

const KIND_LABEL: Record<SiteDomain["kind"], string> = {
  primary: "primary domain",
  www: "www companion (redirects to the primary domain)",
  alias: "alias (redirects to the primary domain)",
  wildcard: "wildcard alias",
};

/** How often to ask for the domains and the certificate, given what is shown now. */
export function pollInterval(
  domains: SiteDomain[] | undefined,
  cert: Certificate | null | undefined,
): number {
  const states = [...(domains ?? []).map((d) => d.state), cert?.state];
  if (states.some((s) => s !== undefined && MOVING.has(s))) return 1500;
  // A renewal under way (one that keeps failing waits for its next try: no hurry).
  if (cert?.state === "renewing" && cert.renewal_failures === 0) return 1500;
  // Waiting for the first check (it runs right after a change).
  if ((domains ?? []).some((d) => d.state === "pending_dns" && d.checked_at === null)) return 3000;
  return 30_000;
}

/** `GET /sites/:id/ssl`; a site without custom domain or upload has none (404): null. */
async function loadCertificate(siteId: string): Promise<Certificate | null> {
  try {
    return await get<Certificate>(`/sites/${seg(siteId)}/ssl`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/**
 * A site's custom domains and HTTPS: the primary domain and aliases, each name's state with
 * Slipway's reason and advice word for word, the certificate (renewal trouble first), and the
 * HTTPS settings. The states move by themselves (DNS checks, ACME orders): the page polls.
 */
export function DomainsPage() {
  const name = useSiteName();
  const site = useSite(name);
  if (site.isPending) return <Loading what="the domains" />;
  if (site.error) return <ErrorBox error={site.error} />;
  return <Domains site={site.data} />;
}

export function Domains({ site }: { site: Site }) {
  const client = useQueryClient();
  const key = ["site", site.name, "domains"];
  // One query for both: a domain's new state and the certificate's are shown together.
  const status = useQuery({
    queryKey: key,
    queryFn: async () => {
      const [domains, cert] = await Promise.all([
        get<SiteDomain[]>(`/sites/${seg(site.id)}/domains`),
        loadCertificate(site.id),
      ]);
      return { domains, cert };
    },
    refetchInterval: (query) => pollInterval(query.state.data?.domains, query.state.data?.cert),
  });
  const domains = status.data?.domains;
  const refresh = async (updated?: Site) => {
    if (updated) client.setQueryData(["site", site.name], updated);
    await client.invalidateQueries({ queryKey: key });
  };
  return (
    <div className="domains">
      <DomainNames site={site} onSaved={refresh} />
      <section className="card" aria-labelledby="domain-states">
        <h2 id="domain-states">Domain status</h2>
        <ErrorBox error={status.error} />
        {status.isPending ? <Loading what="the domains" /> : null}
        {domains && domains.length === 0 ? (
          <Empty title="No custom domain yet">
            <p>
              The site answers at{" "}
              <a href={site.url} target="_blank" rel="noreferrer">
                {site.url.replace(/^https?:\/\//, "")}
              </a>
              . To serve it at a domain you own, enter it above as the primary domain, then point
              its DNS at this Slipway (an A or AAAA record); Slipway checks it and gets a
              certificate for it, and says here what to change when it cannot.
            </p>
          </Empty>
        ) : null}
        {domains && domains.length > 0 ? (
          <ul className="domain-list" aria-label="Domains">
            {domains.map((d) => (
              <DomainRow key={d.domain} domain={d} />
            ))}
          </ul>
        ) : null}
      </section>
      <CertificateCard site={site} cert={status.data?.cert} onChanged={() => void refresh()} />
      <HttpsSettings site={site} onSaved={refresh} />
    </div>
  );
}

function DomainRow({ domain }: { domain: SiteDomain }) {
  return (
    <li className={`domain-row domain-${domain.state}`} data-domain={domain.domain}>
      <div className="domain-head">
        <code className="domain-name">{domain.domain}</code>
        <StateBadge state={domain.state} />
        <span className="muted small">{KIND_LABEL[domain.kind]}</span>
      </div>
      {domain.reason ? <p className="domain-reason">{domain.reason}</p> : null}
      <p className="muted small">
        {domain.checked_at ? (
          <>
            Checked <TimeAgo at={domain.checked_at} />
          </>
        ) : (
          "Not checked yet"
        )}
      </p>
    </li>
  );
}

/** The primary domain and the aliases (one per line); saving replaces both. */
function DomainNames({ site, onSaved }: { site: Site; onSaved: (s: Site) => Promise<void> }) {
  const [primary, setPrimary] = useState(site.custom_domain ?? "");
  const [aliases, setAliases] = useState(site.domain_aliases.join("\n"));
  const save = useMutation({
    mutationFn: () =>
      api<Site>("PATCH", `/sites/${seg(site.id)}`, {
        custom_domain: primary.trim() === "" ? null : primary.trim(),
        domain_aliases: aliases
          .split(/[\s,]+/)
          .map((a) => a.trim())
          .filter(Boolean),
      }),
    onSuccess: async (updated) => {
      setPrimary(updated.custom_domain ?? "");
      setAliases(updated.domain_aliases.join("\n"));
      await onSaved(updated);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const aliasError =
    save.error instanceof ApiError && save.error.field?.startsWith("domain_aliases")
      ? save.error.message
      : undefined;
  return (
    <section className="card" aria-labelledby="domain-names">
      <h2 id="domain-names">Custom domains</h2>
      <form className="form-grid" onSubmit={submit} aria-label="Custom domains">
        <Field
          label="Primary domain"
          hint="e.g. www.example.com; the apex or www twin redirects to it. Empty: none."
          error={fieldError(save.error, "custom_domain")}
        >
          <input
            name="custom_domain"
            value={primary}
            onChange={(e) => setPrimary(e.target.value)}
            placeholder="www.example.com"
            spellCheck={false}
            autoCapitalize="off"
          />
        </Field>
        <Field
          label="Aliases"
          hint="One per line; they redirect to the primary domain. *.example.com is allowed."
          error={aliasError}
        >
          <textarea
            name="domain_aliases"
            rows={3}
            value={aliases}
            onChange={(e) => setAliases(e.target.value)}
            spellCheck={false}
            autoCapitalize="off"
          />
        </Field>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            Save domains
          </button>
          {save.isSuccess ? (
            <span className="saved" role="status">
              Saved. Slipway checks the new names now.
            </span>
          ) : null}
        </div>
        <ErrorBox error={notAtField(save.error, ["custom_domain", "domain_aliases"])} />
      </form>
    </section>
  );
}

const HSTS_CHOICES: Array<[number, string]> = [
  [300, "5 minutes (to try it)"],
  [86_400, "1 day"],
  [604_800, "1 week"],
  [31_536_000, "1 year"],
  [63_072_000, "2 years"],
];

/** Netlify's force_ssl and Slipway's HSTS setting. */
function HttpsSettings({ site, onSaved }: { site: Site; onSaved: (s: Site) => Promise<void> }) {
  const [forceSsl, setForceSsl] = useState(site.force_ssl);
  const [hsts, setHsts] = useState(site.hsts_max_age !== null && site.hsts_max_age > 0);
  const [maxAge, setMaxAge] = useState(site.hsts_max_age || 31_536_000);
  const save = useMutation({
    mutationFn: () =>
      api<Site>("PATCH", `/sites/${seg(site.id)}`, {
        force_ssl: forceSsl,
        hsts_max_age: hsts ? maxAge : null,
      }),
    onSuccess: onSaved,
  });
  const choices = HSTS_CHOICES.some(([s]) => s === maxAge)
    ? HSTS_CHOICES
    : [...HSTS_CHOICES, [maxAge, `${maxAge} seconds`] as [number, string]];
  return (
    <section className="card" aria-labelledby="https-settings">
      <h2 id="https-settings">HTTPS</h2>
      <form
        className="form-grid"
        aria-label="HTTPS settings"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Check name="force_ssl" checked={forceSsl} onChange={setForceSsl}>
          Force HTTPS: plain HTTP requests for a domain with a certificate are redirected to HTTPS
          {site.ssl ? null : " (nothing is redirected until a certificate serves the domain)"}
        </Check>
        <Check name="hsts" checked={hsts} onChange={setHsts}>
          HSTS: browsers remember to use HTTPS only for this long (hard to undo for visitors: start
          short)
        </Check>
        {hsts ? (
          <Field label="HSTS max-age" error={fieldError(save.error, "hsts_max_age")}>
            <select
              name="hsts_max_age"
              value={maxAge}
              onChange={(e) => setMaxAge(Number(e.target.value))}
            >
              {choices.map(([seconds, label]) => (
                <option key={seconds} value={seconds}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
        ) : null}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            Save HTTPS settings
          </button>
          {save.isSuccess ? (
            <span className="saved" role="status">
              Saved.
            </span>
          ) : null}
        </div>
        <ErrorBox error={notAtField(save.error, ["hsts_max_age"])} />
      </form>
    </section>
  );
}
