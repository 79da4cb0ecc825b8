import type { LinkHealth, Site, SiteLink } from "../lib/types.ts";

/** What is wrong with a link, one short phrase per failed check (key, webhook, connection...). */
export function linkProblems(health: LinkHealth | null): string[] {
  if (!health) return [];
  const problems: string[] = [];
  if (health.connection && health.connection.ok === false) problems.push("connection");
  if (health.deploy_key.ok === false) problems.push("deploy key");
  if (health.webhook.ok === false) problems.push("webhook");
  if (health.branch.ok === false) problems.push("branch");
  return problems;
}

/** The link's health in one badge: key, webhook and connection (the data of `GET /sites/:id/link`). */
export function LinkBadge({ site, link }: { site: Site; link: SiteLink | undefined }) {
  if (!site.build_settings.repo_url) {
    return <span className="badge badge-muted">no repository</span>;
  }
  if (site.link_broken_reason) {
    return (
      <span className="badge badge-bad" title={site.link_broken_reason}>
        link broken
      </span>
    );
  }
  if (!link) return <span className="badge badge-muted">link …</span>;
  const health = link.health;
  if (!health) {
    return (
      <span
        className="badge badge-muted"
        title="Not checked yet: open the Link tab and press Check now"
      >
        {link.through_connection ? "linked, not checked" : "linked by hand"}
      </span>
    );
  }
  const problems = linkProblems(health);
  if (problems.length === 0 && health.healthy) {
    return (
      <span
        className="badge badge-ok"
        title={`Checked ${new Date(health.checked_at).toLocaleString()}`}
      >
        link healthy
      </span>
    );
  }
  const messages = [health.connection, health.deploy_key, health.webhook, health.branch]
    .filter((item) => item && item.ok === false)
    .map((item) => item?.message)
    .join("\n");
  return (
    <span className="badge badge-bad" title={messages}>
      {problems.length > 0 ? `${problems.join(", ")} failing` : "link unhealthy"}
    </span>
  );
}
