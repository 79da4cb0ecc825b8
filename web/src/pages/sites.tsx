import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useState } from "react";
import { LinkBadge } from "../components/link-badge.tsx";
import { Empty, ErrorBox, Loading, StateBadge, TimeAgo } from "../components/ui.tsx";
import { get, seg } from "../lib/api.ts";
import type { Deploy, Site, SiteLink } from "../lib/types.ts";

const RUNNING = new Set([
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

/** Every site the user can see, with its production URL, last deploy, branch and link health. */
export function SitesPage() {
  const [filter, setFilter] = useState("");
  const sites = useQuery({
    queryKey: ["sites"],
    queryFn: () => get<Site[]>("/sites?per_page=200"),
    refetchInterval: 5000,
  });
  useEffect(() => {
    document.title = "Sites · Slipway";
  }, []);
  const loaded = sites.data !== undefined;
  useEffect(() => {
    // When the list is on screen (bench/dashboard.ts reads it with the Performance API).
    if (loaded && performance.getEntriesByName("slipway:sites-rendered").length === 0) {
      performance.mark("slipway:sites-rendered");
    }
  }, [loaded]);
  const shown = (sites.data ?? []).filter((site) =>
    site.name.includes(filter.trim().toLowerCase()),
  );
  return (
    <div>
      <div className="page-head">
        <h1>Sites</h1>
        <Link to="/new" className="btn btn-primary">
          New site from git
        </Link>
      </div>
      <ErrorBox error={sites.error} />
      {sites.isPending ? <Loading what="your sites" /> : null}
      {sites.data && sites.data.length === 0 ? (
        <Empty title="You have no sites yet">
          <p>
            <Link to="/new">Link a repository</Link> and every push builds and publishes it. Or
            deploy a folder from your machine with <code>npx slipway deploy --dir public</code> (or{" "}
            <code>netlify deploy</code>) and an <Link to="/account/tokens">access token</Link>.
          </p>
        </Empty>
      ) : null}
      {sites.data && sites.data.length > 8 ? (
        <input
          type="search"
          className="filter"
          placeholder="Filter sites by name"
          aria-label="Filter sites by name"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      ) : null}
      {shown.length > 0 ? (
        <ul className="site-list" aria-label="Sites" data-ready="true">
          {shown.map((site) => (
            <SiteRow key={site.id} site={site} />
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function SiteRow({ site }: { site: Site }) {
  const latest = useQuery({
    queryKey: ["sites", site.id, "latest-deploy"],
    queryFn: () => get<Deploy[]>(`/sites/${seg(site.id)}/deploys?per_page=1`),
    refetchInterval: (query) => (RUNNING.has(query.state.data?.[0]?.state ?? "") ? 2000 : 10_000),
  });
  const link = useQuery({
    queryKey: ["sites", site.id, "link"],
    queryFn: () => get<SiteLink>(`/sites/${seg(site.id)}/link`),
    enabled: site.build_settings.repo_url !== null,
    refetchInterval: 30_000,
  });
  const deploy = latest.data?.[0];
  const published = site.published_deploy;
  return (
    <li className="site-row" data-site={site.name}>
      <div className="site-main">
        <Link to="/sites/$siteName" params={{ siteName: site.name }} className="site-name">
          {site.name}
        </Link>
        <a href={site.url} target="_blank" rel="noreferrer" className="site-url">
          {site.url.replace(/^https?:\/\//, "")}
        </a>
      </div>
      <div className="site-meta">
        <span className="site-deploy">
          <span className="meta-label">Last deploy</span>
          {deploy ? (
            <>
              <StateBadge
                state={deploy.state}
                label={published && deploy.id === published.id ? "published" : undefined}
              />{" "}
              <TimeAgo at={deploy.updated_at} />
            </>
          ) : latest.isPending ? (
            <span className="muted">…</span>
          ) : (
            <span className="muted">no deploys yet</span>
          )}
        </span>
        <span className="site-branch">
          <span className="meta-label">Branch</span>
          {site.build_settings.repo_branch ? (
            <code>{site.build_settings.repo_branch}</code>
          ) : (
            <span className="muted">no git</span>
          )}
        </span>
        <span className="site-link">
          <span className="meta-label">Repository</span>
          <LinkBadge site={site} link={link.data} />
        </span>
      </div>
    </li>
  );
}
