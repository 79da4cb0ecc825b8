import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "@tanstack/react-router";
import { useEffect } from "react";
import { DeploySummaryView } from "../components/deploy-summary.tsx";
import { LogViewer } from "../components/log-viewer.tsx";
import {
  ActionButton,
  ErrorBox,
  Fact,
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
      if (next.deploy_id === null) return; // a new build has its deploy: the type allows none
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
            <Fact label="Context">{CONTEXT_LABEL[d.context] ?? d.context}</Fact>
            {d.branch ? (
              <Fact label="Branch">
                <code>{d.branch}</code>
              </Fact>
            ) : null}
            {d.commit_ref ? (
              <Fact label="Commit">
                <ShortSha sha={d.commit_ref} url={d.commit_url} />
              </Fact>
            ) : null}
            {d.committer ? <Fact label="Author">{d.committer}</Fact> : null}
            {b ? (
              <Fact label="Build">
                #{b.number} · {b.trigger}
              </Fact>
            ) : null}
            <Fact label="Started">
              <TimeAgo at={d.created_at} />
            </Fact>
            <Fact label="Duration">
              {b ? (
                <Duration from={b.started_at ?? b.created_at} to={b.finished_at} />
              ) : (
                <Duration from={d.created_at} to={running ? null : d.updated_at} />
              )}
            </Fact>
            {d.published_at ? (
              <Fact label="Published">
                <TimeAgo at={d.published_at} />
              </Fact>
            ) : null}
            <Fact label="Permalink">
              <a href={d.deploy_url} target="_blank" rel="noreferrer">
                {d.deploy_url.replace(/^https?:\/\//, "")}
              </a>
            </Fact>
          </dl>
        </div>
        <div className="deploy-actions" role="group" aria-label="Deploy actions">
          {d.state === "ready" && !isPublished ? (
            <ActionButton
              className="btn btn-primary"
              busy={publish.isPending}
              onClick={() => publish.mutate()}
            >
              Publish this deploy
            </ActionButton>
          ) : null}
          {isPublished ? (
            // One button whose words change, so that the keyboard's focus stays on it.
            <ActionButton busy={lock.isPending} onClick={() => lock.mutate(!d.locked)}>
              {d.locked ? "Unlock auto publishing" : "Lock auto publishing"}
            </ActionButton>
          ) : null}
          {running ? (
            <ActionButton
              className="btn btn-danger"
              busy={cancel.isPending}
              onClick={() => cancel.mutate()}
            >
              Cancel build
            </ActionButton>
          ) : null}
          {!running && b ? (
            <ActionButton busy={retry.isPending} onClick={() => retry.mutate()}>
              Retry build
            </ActionButton>
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
      {d.summary ? <DeploySummaryView summary={d.summary} /> : null}
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
