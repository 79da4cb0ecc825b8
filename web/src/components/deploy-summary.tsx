import type { DeploySummary } from "../lib/types.ts";

/**
 * What the publish found in the deploy's `_redirects`, `_headers` and `netlify.toml`: a warning
 * per kind of rule with lines that were ignored (each line and why), and the counts otherwise.
 */
export function DeploySummaryView({ summary }: { summary: DeploySummary }) {
  const warnings = summary.messages.filter((m) => m.type === "warning");
  const infos = summary.messages.filter((m) => m.type !== "warning");
  return (
    <section className="deploy-summary" aria-label="Deploy summary">
      {warnings.map((m) => (
        <div key={m.title} className="alert alert-warn rule-warning" role="status">
          <strong>{m.title}</strong>
          <p>{m.description}</p>
          {m.details ? <pre>{m.details}</pre> : null}
        </div>
      ))}
      {infos.length > 0 ? (
        <ul className="summary-facts">
          {infos.map((m) => (
            <li key={m.title} title={m.description}>
              {m.title}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
