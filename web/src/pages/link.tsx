import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { CopyField, Empty, ErrorBox, Fact, Loading, Notice, TimeAgo } from "../components/ui.tsx";
import { ApiError, api, get, seg } from "../lib/api.ts";
import type { HealthItem, LinkStep, SiteLink } from "../lib/types.ts";
import { useSite, useSiteName } from "./site.tsx";

const STEP_LABEL: Record<string, string> = {
  repository: "Repository found",
  deploy_key: "Deploy key made",
  install_key: "Deploy key installed",
  webhook: "Webhook installed",
  branch: "Branch read with the key",
  clone_access: "Clone access",
  cleanup: "Clean-up",
};

/** Link steps as a list: what was done, and for a failed step the diagnosis and the fix. */
export function LinkSteps({ steps, live }: { steps: LinkStep[]; live?: boolean }) {
  if (steps.length === 0) return live ? <p className="muted">Starting…</p> : null;
  return (
    <ol className="steps" aria-label="Link steps" aria-live={live ? "polite" : "off"}>
      {steps.map((step, i) => (
        <li
          key={`${step.step}-${i}`}
          className={`step step-${step.status}`}
          data-step={step.step}
          data-status={step.status}
        >
          <span className="step-icon" aria-hidden="true">
            {step.status === "ok" ? "✓" : step.status === "failed" ? "✗" : "–"}
          </span>
          <div>
            <strong>{STEP_LABEL[step.step] ?? step.step}</strong>{" "}
            <span className="sr-only">({step.status})</span>
            <div className="step-message">{step.message}</div>
            {step.hint ? <div className="step-hint">{step.hint}</div> : null}
          </div>
        </li>
      ))}
    </ol>
  );
}

function HealthRow({ label, item }: { label: string; item: HealthItem | null | undefined }) {
  if (!item) return null;
  const kind = item.ok === true ? "ok" : item.ok === false ? "bad" : "muted";
  return (
    <li className={`health health-${kind}`} data-health={label}>
      <span className={`badge badge-${kind}`}>
        {item.ok === true ? "ok" : item.ok === false ? "failing" : "unknown"}
      </span>
      <div>
        <strong>{label}</strong>
        <div>{item.message}</div>
        {item.hint ? <div className="step-hint">{item.hint}</div> : null}
      </div>
    </li>
  );
}

interface ManualSteps {
  provider: string;
  deploy_key: {
    public_key: string | null;
    where: string;
    not_here: string;
    read_only: string;
    api: string | null;
  };
  webhook: {
    url: string;
    secret: string;
    secret_field: string;
    events: string[];
    where: string;
    content_type: string | null;
    api: string | null;
  };
  steps: string[];
}

/** For a site linked by hand: what to paste where at the provider, with copy buttons. */
export function ManualLink({ manual }: { manual: ManualSteps }) {
  return (
    <div className="manual">
      <h3>1. Add the deploy key</h3>
      <p>{manual.deploy_key.where}</p>
      {manual.deploy_key.public_key ? (
        <CopyField label="Public key" value={manual.deploy_key.public_key} />
      ) : null}
      <p className="muted">
        Put it {manual.deploy_key.not_here}. {manual.deploy_key.read_only}.
      </p>
      <h3>2. Add the webhook</h3>
      <p>{manual.webhook.where}</p>
      <CopyField label="URL" value={manual.webhook.url} />
      <CopyField label={manual.webhook.secret_field} value={manual.webhook.secret} secret />
      <p className="muted">
        Events: {manual.webhook.events.join(", ")}
        {manual.webhook.content_type ? ` · Content type: ${manual.webhook.content_type}` : ""}
      </p>
      {manual.steps.length > 0 ? (
        <details>
          <summary>All steps as text</summary>
          <ol>
            {manual.steps.map((s) => (
              <li key={s}>{s}</li>
            ))}
          </ol>
        </details>
      ) : null}
    </div>
  );
}

interface RepairAnswer extends SiteLink {
  repair: { status: string; steps: LinkStep[]; error: string | null };
  build_id: string | null;
  deploy_id: string | null;
}

/** The link to the repository: how it was made, whether it is healthy, and Repair. */
export function LinkPage() {
  const name = useSiteName();
  const client = useQueryClient();
  const key = ["site", name, "link-page"];
  const site = useSite(name);
  const linked = site.data ? site.data.build_settings.repo_url !== null : undefined;
  const link = useQuery({
    queryKey: key,
    queryFn: () => get<SiteLink>(`/sites/${seg(name)}/link`),
    refetchInterval: 15_000,
    enabled: linked === true,
  });
  const check = useMutation({
    mutationFn: () => api<SiteLink>("POST", `/sites/${seg(name)}/link/check`),
    onSuccess: (fresh) => {
      client.setQueryData(key, fresh);
      void client.invalidateQueries({ queryKey: ["site", name] });
    },
  });
  const repair = useMutation({
    mutationFn: () => api<RepairAnswer>("POST", `/sites/${seg(name)}/link/repair`),
    onSuccess: (fresh) => {
      client.setQueryData(key, fresh);
      void client.invalidateQueries({ queryKey: ["site", name] });
    },
  });

  if (linked === false) {
    return (
      <Empty title="This site is not linked to a repository">
        <p>
          Its deploys are uploaded (<code>slipway deploy</code>, <code>netlify deploy</code>). To
          build it from git, <Link to="/new">link a repository</Link>.
        </p>
      </Empty>
    );
  }
  if (link.isPending) return <Loading what="the link" />;
  if (link.error) {
    if (link.error instanceof ApiError && link.error.status === 422) {
      return (
        <Empty title="This site is not linked to a repository">
          <p>
            {link.error.message}. <Link to="/new">Link a repository</Link>.
          </p>
        </Empty>
      );
    }
    return <ErrorBox error={link.error} />;
  }
  const l = link.data;
  const health = l.health;
  return (
    <div className="link-page">
      <section className="card" aria-labelledby="link-what">
        <h2 id="link-what">Repository</h2>
        <dl className="facts">
          <Fact label="Repository">{l.repository.path ?? l.repository.url}</Fact>
          <Fact label="Branch">
            <code>{l.repository.branch}</code>
          </Fact>
          <Fact label="Linked">
            {l.through_connection && l.connection
              ? `through the ${l.connection.provider} connection ${l.connection.remote_identity ?? ""} on ${new URL(l.connection.base_url).host}`
              : "by hand (deploy key and webhook added at the provider by you)"}
          </Fact>
          {l.deploy_key ? (
            <Fact label="Deploy key">
              <code>{l.deploy_key.fingerprint}</code>
            </Fact>
          ) : null}
        </dl>
        {l.steps.length > 0 ? (
          <>
            <h3>What linking did</h3>
            <LinkSteps steps={l.steps} />
          </>
        ) : null}
      </section>

      {l.through_connection ? (
        <section className="card" aria-labelledby="link-health">
          <div className="section-head">
            <h2 id="link-health">Health</h2>
            <div className="toolbar">
              <button
                type="button"
                className="btn"
                onClick={() => check.mutate()}
                disabled={check.isPending}
              >
                {check.isPending ? "Checking…" : "Check now"}
              </button>
              <button
                type="button"
                className="btn btn-primary"
                onClick={() => repair.mutate()}
                disabled={repair.isPending}
              >
                {repair.isPending ? "Repairing…" : "Repair"}
              </button>
            </div>
          </div>
          <ErrorBox error={check.error ?? repair.error} />
          {l.link_broken_reason ? (
            <div className="alert alert-error" role="alert">
              <strong>Builds are stopped: </strong>
              {l.link_broken_reason}
            </div>
          ) : null}
          {health ? (
            <>
              <p className="muted">
                {health.healthy
                  ? "Everything checked is fine."
                  : "Something is wrong; Repair puts back what Slipway installed."}{" "}
                Checked <TimeAgo at={health.checked_at} />.
              </p>
              <ul className="health-list">
                <HealthRow label="Connection" item={health.connection} />
                <HealthRow label="Deploy key" item={health.deploy_key} />
                <HealthRow label="Webhook" item={health.webhook} />
                <HealthRow label="Branch" item={health.branch} />
                <li className="health health-muted">
                  <span className="badge badge-muted">
                    {health.last_delivery.received ? "received" : "none yet"}
                  </span>
                  <div>
                    <strong>Last delivery</strong>
                    <div>{health.last_delivery.message}</div>
                  </div>
                </li>
              </ul>
            </>
          ) : (
            <p className="muted">Not checked yet: press Check now.</p>
          )}
          {repair.data ? (
            <div className="repair-result" role="status">
              <h3>What Repair did ({repair.data.repair.status})</h3>
              <LinkSteps steps={repair.data.repair.steps} />
              {repair.data.deploy_id ? (
                <p>
                  Builds resumed:{" "}
                  <Link
                    to="/sites/$siteName/deploys/$deployId"
                    params={{ siteName: name, deployId: repair.data.deploy_id }}
                  >
                    watch the new build
                  </Link>
                  .
                </p>
              ) : null}
            </div>
          ) : null}
          {check.isSuccess && !repair.data ? <Notice kind="info">Checked just now.</Notice> : null}
        </section>
      ) : null}

      {l.manual ? (
        <section className="card" aria-labelledby="link-manual">
          <h2 id="link-manual">At the provider, by hand</h2>
          <ManualLink manual={l.manual as ManualSteps} />
        </section>
      ) : null}
    </div>
  );
}
