import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, seg } from "../lib/api.ts";
import type { Certificate, Site } from "../lib/types.ts";
import { Dialog } from "./dialog.tsx";
import {
  ActionButton,
  ConfirmButton,
  Empty,
  ErrorBox,
  Fact,
  Field,
  fieldError,
  notAtField,
  Notice,
  StateBadge,
  TimeAgo,
} from "./ui.tsx";

/** `2026-03-01 (in 84 days)`: a date a person acts on, with how far away it is. */
export function dateAndDistance(iso: string, now = Date.now()): string {
  const date = new Date(iso);
  const days = Math.round((date.getTime() - now) / 86_400_000);
  const when =
    days > 1
      ? `in ${days} days`
      : days === 1
        ? "tomorrow"
        : days === 0
          ? "today"
          : days === -1
            ? "yesterday"
            : `${-days} days ago`;
  return `${date.toISOString().slice(0, 10)} (${when})`;
}

function daysUntil(iso: string, now = Date.now()): number {
  return (Date.parse(iso) - now) / 86_400_000;
}

/** A renewal that keeps failing, or a certificate close to its end: said before anything else. */
function CertificateWarning({ cert }: { cert: Certificate }) {
  if (cert.expires_at === null) return null;
  const expires = dateAndDistance(cert.expires_at);
  if (cert.state === "renewing" && cert.renewal_failures > 0) {
    return (
      <div className="alert alert-error" role="alert" data-testid="renewal-failing">
        <strong>
          Renewal is failing ({cert.renewal_failures}{" "}
          {cert.renewal_failures === 1 ? "try" : "tries"} in a row). The certificate expires on{" "}
          {expires}.
        </strong>
        {cert.reason ? <p>{cert.reason}</p> : null}
      </div>
    );
  }
  if (cert.source === "custom" && daysUntil(cert.expires_at) < 21) {
    return (
      <div className="alert alert-warn" role="alert">
        <strong>The uploaded certificate expires on {expires}.</strong> Slipway does not renew a
        certificate you brought: upload its successor.
      </div>
    );
  }
  return null;
}

/** The site's certificate: what it is, why it is in its state, and what can be done. */
export function CertificateCard({
  site,
  cert,
  onChanged,
}: {
  site: Site;
  /** undefined while loading (its error is the domains'), null: none. */
  cert: Certificate | null | undefined;
  onChanged: () => void;
}) {
  const provision = useMutation({
    mutationFn: () => api<Certificate>("POST", `/sites/${seg(site.id)}/ssl`),
    onSuccess: onChanged,
  });
  const remove = useMutation({
    mutationFn: () => api<void>("DELETE", `/sites/${seg(site.id)}/ssl`),
    onSuccess: onChanged,
  });
  const actionError = provision.error ?? remove.error;
  return (
    <section className="card" aria-labelledby="certificate">
      <div className="section-head">
        <h2 id="certificate">Certificate</h2>
        <div className="toolbar">
          {cert?.source !== "custom" ? (
            <ActionButton busy={provision.isPending} onClick={() => provision.mutate()}>
              Provision certificate now
            </ActionButton>
          ) : null}
          <UploadCertificate site={site} onUploaded={onChanged} />
        </div>
      </div>
      <ErrorBox error={actionError} />
      {provision.isSuccess ? (
        <Notice kind="info">Slipway is checking the domains and asking for a certificate.</Notice>
      ) : null}
      {cert === null ? (
        <Empty title="No certificate">
          <p>
            Set a primary domain above: Slipway gets a certificate for it automatically once its DNS
            points here. Or upload a certificate you have (a wildcard one, or one from your own CA).
          </p>
        </Empty>
      ) : null}
      {cert ? (
        <>
          <CertificateWarning cert={cert} />
          <dl className="facts" aria-label="Certificate details">
            <Fact label="State">
              <StateBadge state={cert.state} />
            </Fact>
            <Fact label="Source">
              {cert.source === "custom"
                ? "uploaded"
                : cert.source === "acme"
                  ? "obtained by Slipway (ACME)"
                  : "none yet"}
            </Fact>
            {cert.issuer ? <Fact label="Issuer">{cert.issuer}</Fact> : null}
            <Fact label="Domains">
              {cert.domains.length > 0 ? (
                <span className="cert-domains">
                  {cert.domains.map((d) => (
                    <code key={d}>{d}</code>
                  ))}
                </span>
              ) : (
                <span className="muted">none yet</span>
              )}
            </Fact>
            {cert.issued_at ? (
              <Fact label="Valid from">
                <TimeAgo at={cert.issued_at} />
              </Fact>
            ) : null}
            {cert.expires_at ? (
              <Fact label="Expires">
                <time dateTime={cert.expires_at} data-testid="cert-expires">
                  {dateAndDistance(cert.expires_at)}
                </time>
              </Fact>
            ) : null}
            {cert.renew_at ? <Fact label="Renews">{dateAndDistance(cert.renew_at)}</Fact> : null}
            {cert.next_attempt_at && cert.state !== "active" && cert.state !== "custom" ? (
              <Fact label="Next try">
                <time dateTime={cert.next_attempt_at}>
                  {new Date(cert.next_attempt_at).toLocaleString()}
                </time>
              </Fact>
            ) : null}
          </dl>
          {cert.reason && !(cert.state === "renewing" && cert.renewal_failures > 0) ? (
            <p className="domain-reason">{cert.reason}</p>
          ) : null}
          {cert.source === "custom" ? (
            <ConfirmButton
              className="btn btn-small"
              confirm="Remove the uploaded certificate? Slipway then gets one itself (when it can)."
              onConfirm={() => remove.mutate()}
              disabled={remove.isPending}
            >
              Remove uploaded certificate
            </ConfirmButton>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

/** "Upload a certificate": a dialog with the PEM fields Netlify's API takes. */
function UploadCertificate({ site, onUploaded }: { site: Site; onUploaded: () => void }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ certificate: "", key: "", ca_certificates: "" });
  const upload = useMutation({
    mutationFn: () =>
      api<Certificate>("POST", `/sites/${seg(site.id)}/ssl`, {
        certificate: form.certificate,
        key: form.key,
        ...(form.ca_certificates.trim() ? { ca_certificates: form.ca_certificates } : {}),
      }),
    onSuccess: () => {
      // The key leaves the page's memory with the dialog.
      setForm({ certificate: "", key: "", ca_certificates: "" });
      setOpen(false);
      onUploaded();
    },
  });
  const set = (field: keyof typeof form) => (value: string) =>
    setForm((f) => ({ ...f, [field]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    upload.mutate();
  };
  return (
    <>
      <button type="button" className="btn" onClick={() => setOpen(true)}>
        Upload a certificate
      </button>
      <Dialog
        open={open}
        title="Upload a certificate"
        onClose={() => {
          setOpen(false);
          upload.reset();
        }}
      >
        <form className="form-grid one-column" onSubmit={submit} aria-label="Upload a certificate">
          <p className="muted">
            PEM text. The private key is stored encrypted and never shown again; Slipway does not
            renew an uploaded certificate.
          </p>
          <Field
            label="Certificate"
            hint="-----BEGIN CERTIFICATE----- …, the intermediates may follow"
            error={fieldError(upload.error, "certificate")}
          >
            <textarea
              name="certificate"
              rows={5}
              value={form.certificate}
              onChange={(e) => set("certificate")(e.target.value)}
              spellCheck={false}
              required
            />
          </Field>
          <Field
            label="Private key"
            hint="-----BEGIN PRIVATE KEY----- …, without a passphrase"
            error={fieldError(upload.error, "key")}
          >
            <textarea
              name="key"
              rows={5}
              value={form.key}
              onChange={(e) => set("key")(e.target.value)}
              spellCheck={false}
              autoComplete="off"
              required
            />
          </Field>
          <Field
            label="CA certificates (optional)"
            hint="The chain, if not after the certificate"
            error={fieldError(upload.error, "ca_certificates")}
          >
            <textarea
              name="ca_certificates"
              rows={3}
              value={form.ca_certificates}
              onChange={(e) => set("ca_certificates")(e.target.value)}
              spellCheck={false}
            />
          </Field>
          <ErrorBox error={notAtField(upload.error, ["certificate", "key", "ca_certificates"])} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={upload.isPending}>
              {upload.isPending ? "Checking…" : "Upload certificate"}
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}
