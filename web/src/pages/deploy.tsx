import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "@tanstack/react-router";
import { useEffect } from "react";
import { LogViewer } from "../components/log-viewer.tsx";
import {
  ErrorBox,
  Loading,
  Notice,
  ShortSha,
  StateBadge,
  TimeAgo,
  Duration,
} from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import type { Build, Deploy } from "../lib/types.ts";
import { CONTEXT_LABEL, deployTitle, RUNNING_STATES, useSite } from "./site.tsx";

/**
 * One deploy: what it is, its live build log, and what can be done with it — publish it
 * (instant rollback to an older one), lock or unlock auto publishing, retry, cancel.
 */
export function DeployPage() {
  const { siteName, deployId } = useParams({ from: "/sites/$siteName/deploys/$deployId" });
  const client = useQueryClient();
  const navigate = useNavigate();
  const site = useSite(siteName);
  const deploy = useQuery({
    queryKey: ["site", siteName, "deploy", deployId],
    queryFn: () => get<Deploy>(`/sites/${seg(siteName)}/deploys/${seg(deployId)}`),
    refetchInterval: (query) =>
      RUNNING_STATES.has(query.state.data?.state ?? "new") ? 1000 : 10_000,
  });
  const buildId = deploy.data?.build_id ?? null;
  const build = useQuery({
    queryKey: ["build", buildId],
    queryFn: () => get<Build>(`/builds/${seg(buildId ?? "")}`),
    enabled: buildId !== null,
    refetchInterval: (query) => (query.state.data?.done ? false : 1000),
  });
  useEffect(() => {
    document.title = `Deploy ${deployId.slice(0, 8)} · ${siteName} · Slipway`;
  }, [deployId, siteName]);

  const refresh = () => client.invalidateQueries({ queryKey: ["site", siteName] });
  const publish = useMutation({
    mutationFn: () =>
      api<Deploy>("POST", `/sites/${seg(siteName)}/deploys/${seg(deployId)}/restore`),
    onSuccess: refresh,
  });
  const lock = useMutation({
    mutationFn: (locked: boolean) =>
      api<Deploy>("POST", `/deploys/${seg(deployId)}/${locked ? "lock" : "unlock"}`),
    onSuccess: refresh,
  });
  const cancel = useMutation({
    mutationFn: async (): Promise<unknown> =>
      buildId
        ? api<Build>("POST", `/builds/${seg(buildId)}/cancel`)
        : api<Deploy>("POST", `/deploys/${seg(deployId)}/cancel`),
    onSuccess: async () => {
      await refresh();
      await client.invalidateQueries({ queryKey: ["build", buildId] });
    },
  });
  const retry = useMutation({
    mutationFn: () => {
      const branch = deploy.data?.branch;
      return api<Build>(
        "POST",
        `/sites/${seg(siteName)}/builds${branch ? `?branch=${encodeURIComponent(branch)}` : ""}`,
      );
    },
    onSuccess: async (next) => {
      await refresh();
      void navigate({
        to: "/sites/$siteName/deploys/$deployId",
        params: { siteName, deployId: next.deploy_id },
      });
    },
  });

  if (deploy.isPending) return <Loading what="the deploy" />;
  if (deploy.error) return <ErrorBox error={deploy.error} />;
  const d = deploy.data;
  const b = build.data;
  const publishedId = site.data?.published_deploy?.id;
  const isPublished = publishedId === d.id;
  const running = RUNNING_STATES.has(d.state) || (b !== undefined && !b.done);
  const diagnosis = b?.error ?? d.error_message;
  const actionError = publish.error ?? lock.error ?? cancel.error ?? retry.error;

  return (
    <div className="deploy-page">
      <p className="crumbs">
        <Link to="/sites/$siteName" params={{ siteName }}>
          ← All deploys of {siteName}
        </Link>
      </p>
      <div className="deploy-head">
        <div>
          <h2 className="deploy-heading">
            {deployTitle(d)} <StateBadge state={d.state} />
            {isPublished ? <span className="badge badge-ok">published</span> : null}
            {d.locked ? <span className="badge badge-warn">locked</span> : null}
          </h2>
          <dl className="facts">
            <div>
              <dt>Context</dt>
              <dd>{CONTEXT_LABEL[d.context] ?? d.context}</dd>
            </div>
            {d.branch ? (
              <div>
                <dt>Branch</dt>
                <dd>
                  <code>{d.branch}</code>
                </dd>
              </div>
            ) : null}
            {d.commit_ref ? (
              <div>
                <dt>Commit</dt>
                <dd>
                  <ShortSha sha={d.commit_ref} url={d.commit_url} />
                </dd>
              </div>
            ) : null}
            {d.committer ? (
              <div>
                <dt>Author</dt>
                <dd>{d.committer}</dd>
              </div>
            ) : null}
            {b ? (
              <div>
                <dt>Build</dt>
                <dd>
                  #{b.number} · {b.trigger}
                </dd>
              </div>
            ) : null}
            <div>
              <dt>Started</dt>
              <dd>
                <TimeAgo at={d.created_at} />
              </dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>
                {b ? (
                  <Duration from={b.started_at ?? b.created_at} to={b.finished_at} />
                ) : (
                  <Duration from={d.created_at} to={running ? null : d.updated_at} />
                )}
              </dd>
            </div>
            {d.published_at ? (
              <div>
                <dt>Published</dt>
                <dd>
                  <TimeAgo at={d.published_at} />
                </dd>
              </div>
            ) : null}
            <div>
              <dt>Permalink</dt>
              <dd>
                <a href={d.deploy_url} target="_blank" rel="noreferrer">
                  {d.deploy_url.replace(/^https?:\/\//, "")}
                </a>
              </dd>
            </div>
          </dl>
        </div>
        <div className="deploy-actions" role="group" aria-label="Deploy actions">
          {d.state === "ready" && !isPublished ? (
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => publish.mutate()}
              disabled={publish.isPending}
            >
              Publish this deploy
            </button>
          ) : null}
          {isPublished ? (
            d.locked ? (
              <button
                type="button"
                className="btn"
                onClick={() => lock.mutate(false)}
                disabled={lock.isPending}
              >
                Unlock auto publishing
              </button>
            ) : (
              <button
                type="button"
                className="btn"
                onClick={() => lock.mutate(true)}
                disabled={lock.isPending}
              >
                Lock auto publishing
              </button>
            )
          ) : null}
          {running ? (
            <button
              type="button"
              className="btn btn-danger"
              onClick={() => cancel.mutate()}
              disabled={cancel.isPending}
            >
              Cancel build
            </button>
          ) : null}
          {!running && b ? (
            <button
              type="button"
              className="btn"
              onClick={() => retry.mutate()}
              disabled={retry.isPending}
            >
              Retry build
            </button>
          ) : null}
        </div>
      </div>
      <ErrorBox error={actionError} />
      {publish.isSuccess ? (
        <Notice kind="ok">
          This deploy is now published at {d.url.replace(/^https?:\/\//, "")}.
        </Notice>
      ) : null}
      {d.locked && isPublished ? (
        <Notice kind="warn">
          Auto publishing is locked: new production deploys are built but this one stays published
          until you unlock.
        </Notice>
      ) : null}
      {diagnosis && !running ? (
        <div className="alert alert-error diagnosis" role="alert" data-testid="diagnosis">
          <strong>Why it failed</strong>
          <pre>{diagnosis}</pre>
        </div>
      ) : null}
      {d.warnings.length > 0 ? (
        <Notice kind="warn">
          {d.warnings.map((w) => (
            <span key={w}>{w} </span>
          ))}
        </Notice>
      ) : null}
      {buildId ? (
        <LogViewer
          buildId={buildId}
          onEnd={() => {
            void client.invalidateQueries({ queryKey: ["build", buildId] });
            void refresh();
          }}
        />
      ) : (
        <p className="muted">
          This deploy was uploaded ({d.deploy_source ?? "API"}), not built: it has no build log.
        </p>
      )}
    </div>
  );
}
