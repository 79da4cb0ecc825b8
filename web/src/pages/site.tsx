import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Outlet, useLocation, useNavigate, useParams } from "@tanstack/react-router";
import { useEffect } from "react";
import {
  Duration,
  Empty,
  ErrorBox,
  Loading,
  ShortSha,
  StateBadge,
  TimeAgo,
} from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import type { Build, Deploy, Site } from "../lib/types.ts";

export const RUNNING_STATES = new Set([
  "new",
  "enqueued",
  "building",
  "uploading",
  "uploaded",
  "preparing",
  "prepared",
  "processing",
  "processed",
  "retrying",
]);

export const CONTEXT_LABEL: Record<string, string> = {
  production: "Production",
  "branch-deploy": "Branch deploy",
  "deploy-preview": "Deploy preview",
};

/** A deploy's title: its commit message, or what it was made from. */
export function deployTitle(deploy: Deploy): string {
  if (deploy.title) return deploy.title;
  if (deploy.branch) return `Deploy of ${deploy.branch}`;
  return `Deploy from ${deploy.deploy_source ?? "the API"}`;
}

export function useSiteName(): string {
  return useParams({ strict: false }).siteName ?? "";
}

/** The site of the page (by name, as in `admin_url`), kept fresh while the page is open. */
export function useSite(name: string) {
  return useQuery({
    queryKey: ["site", name],
    queryFn: () => get<Site>(`/sites/${seg(name)}`),
    refetchInterval: 5000,
  });
}

export function SiteLayout() {
  const name = useSiteName();
  const location = useLocation();
  const site = useSite(name);
  useEffect(() => {
    document.title = `${name} · Slipway`;
  }, [name]);
  if (site.isPending) return <Loading what="the site" />;
  if (site.error) {
    return (
      <div>
        <h1>{name}</h1>
        <ErrorBox error={site.error} />
        <p>
          <Link to="/">Back to your sites</Link>
        </p>
      </div>
    );
  }
  const s = site.data;
  const settings = s.build_settings;
  const rest = location.pathname.split("/").slice(3).join("/");
  const onDeploys = rest === "" || rest.startsWith("deploys");
  return (
    <div>
      <div className="page-head">
        <div>
          <h1 className="site-title">{s.name}</h1>
          <p className="site-sub">
            <a href={s.url} target="_blank" rel="noreferrer">
              {s.url.replace(/^https?:\/\//, "")}
            </a>
            {settings.repo_url ? (
              <>
                {" · "}
                <span title={settings.repo_url}>{settings.repo_path ?? settings.repo_url}</span>
                {settings.repo_branch ? (
                  <>
                    {" @ "}
                    <code>{settings.repo_branch}</code>
                  </>
                ) : null}
              </>
            ) : (
              <span className="muted"> · not linked to a repository</span>
            )}
          </p>
        </div>
      </div>
      {s.link_broken_reason ? (
        <div className="alert alert-error" role="alert">
          <strong>Builds are stopped: </strong>
          {s.link_broken_reason}{" "}
          <Link to="/sites/$siteName/link" params={{ siteName: s.name }}>
            See the link and repair it
          </Link>
        </div>
      ) : null}
      <nav className="tabs" aria-label="Site">
        <Link
          to="/sites/$siteName"
          params={{ siteName: s.name }}
          activeOptions={{ exact: true }}
          className={onDeploys ? "active" : undefined}
          aria-current={onDeploys ? "page" : undefined}
        >
          Deploys
        </Link>
        <Link
          to="/sites/$siteName/settings"
          params={{ siteName: s.name }}
          activeProps={{ className: "active" }}
        >
          Settings
        </Link>
        <Link
          to="/sites/$siteName/domains"
          params={{ siteName: s.name }}
          activeProps={{ className: "active" }}
        >
          Domains
        </Link>
        <Link
          to="/sites/$siteName/deliveries"
          params={{ siteName: s.name }}
          activeProps={{ className: "active" }}
        >
          Webhook deliveries
        </Link>
        <Link
          to="/sites/$siteName/link"
          params={{ siteName: s.name }}
          activeProps={{ className: "active" }}
        >
          Link
        </Link>
      </nav>
      <Outlet />
    </div>
  );
}

/** The site's deploys, newest first; new ones appear and change state without a reload. */
export function SiteDeploysPage() {
  const name = useSiteName();
  const site = useSite(name);
  const client = useQueryClient();
  const navigate = useNavigate();
  const deploys = useQuery({
    queryKey: ["site", name, "deploys"],
    queryFn: () => get<Deploy[]>(`/sites/${seg(name)}/deploys?per_page=50`),
    refetchInterval: (query) =>
      (query.state.data ?? []).some((d) => RUNNING_STATES.has(d.state)) ? 1000 : 3000,
  });
  const trigger = useMutation({
    mutationFn: (clearCache: boolean) =>
      api<Build>("POST", `/sites/${seg(name)}/builds${clearCache ? "?clear_cache=true" : ""}`),
    onSuccess: async (build) => {
      await client.invalidateQueries({ queryKey: ["site", name] });
      if (build.deploy_id === null) return; // a new build has its deploy: the type allows none
      void navigate({
        to: "/sites/$siteName/deploys/$deployId",
        params: { siteName: name, deployId: build.deploy_id },
      });
    },
  });
  const unlock = useMutation({
    mutationFn: (deployId: string) => api<Deploy>("POST", `/deploys/${seg(deployId)}/unlock`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["site", name] }),
  });
  const published = site.data?.published_deploy ?? null;
  const linked = Boolean(site.data?.build_settings.repo_url);
  return (
    <div>
      <div className="toolbar">
        {linked ? (
          <>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => trigger.mutate(false)}
              disabled={trigger.isPending}
            >
              Trigger deploy
            </button>
            <button
              type="button"
              className="btn"
              onClick={() => trigger.mutate(true)}
              disabled={trigger.isPending}
            >
              Clear cache and deploy
            </button>
          </>
        ) : null}
      </div>
      <ErrorBox error={trigger.error ?? unlock.error} />
      {published?.locked ? (
        <div className="alert alert-warn" role="status">
          <strong>Auto publishing is locked</strong> on the deploy{" "}
          <Link
            to="/sites/$siteName/deploys/$deployId"
            params={{ siteName: name, deployId: published.id }}
          >
            {published.id.slice(0, 8)}
          </Link>
          : new production deploys are built but not published.{" "}
          <button
            type="button"
            className="btn btn-small"
            onClick={() => unlock.mutate(published.id)}
          >
            Unlock
          </button>
        </div>
      ) : null}
      <ErrorBox error={deploys.error} />
      {deploys.isPending ? <Loading what="deploys" /> : null}
      {deploys.data && deploys.data.length === 0 ? (
        <Empty title="No deploys yet">
          {linked ? (
            <p>Push to the production branch, or press Trigger deploy.</p>
          ) : (
            <p>
              Link a repository (<Link to="/new">New site from git</Link>) or deploy a folder with{" "}
              <code>npx slipway deploy --dir public --site {name} --prod</code>.
            </p>
          )}
        </Empty>
      ) : null}
      {deploys.data && deploys.data.length > 0 ? (
        <ul className="deploy-list" aria-label="Deploys">
          {deploys.data.map((deploy) => (
            <DeployRow
              key={deploy.id}
              deploy={deploy}
              siteName={name}
              published={published?.id === deploy.id}
            />
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function DeployRow({
  deploy,
  siteName,
  published,
}: {
  deploy: Deploy;
  siteName: string;
  published: boolean;
}) {
  const finished = !RUNNING_STATES.has(deploy.state);
  return (
    <li
      className={`deploy-row${published ? " is-published" : ""}`}
      data-deploy={deploy.id}
      data-state={deploy.state}
    >
      <div className="deploy-state">
        <StateBadge state={deploy.state} />
        {published ? <span className="badge badge-ok">published</span> : null}
        {deploy.locked ? <span className="badge badge-warn">locked</span> : null}
      </div>
      <div className="deploy-what">
        <Link
          to="/sites/$siteName/deploys/$deployId"
          params={{ siteName, deployId: deploy.id }}
          className="deploy-title"
        >
          {deployTitle(deploy)}
        </Link>
        <span className="deploy-facts">
          <span>{CONTEXT_LABEL[deploy.context] ?? deploy.context}</span>
          {deploy.branch ? (
            <span>
              <code>{deploy.branch}</code>
            </span>
          ) : null}
          {deploy.commit_ref ? (
            <span>
              <ShortSha sha={deploy.commit_ref} url={deploy.commit_url} />
            </span>
          ) : null}
          {deploy.committer ? <span className="deploy-author">by {deploy.committer}</span> : null}
          {deploy.review_id !== null ? <span>#{deploy.review_id}</span> : null}
        </span>
        {deploy.state === "error" && deploy.error_message ? (
          <span className="deploy-error">{deploy.error_message.split("\n")[0]}</span>
        ) : null}
      </div>
      <div className="deploy-when">
        <TimeAgo at={deploy.created_at} />
        <span className="muted">
          <Duration from={deploy.created_at} to={finished ? deploy.updated_at : null} />
        </span>
      </div>
      <div className="deploy-links">
        <a
          href={deploy.deploy_url}
          target="_blank"
          rel="noreferrer"
          title="This deploy's own permanent address"
        >
          permalink
        </a>
      </div>
    </li>
  );
}
