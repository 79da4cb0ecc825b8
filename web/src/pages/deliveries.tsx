import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { Empty, ErrorBox, Loading, ShortSha, TimeAgo } from "../components/ui.tsx";
import { get, seg } from "../lib/api.ts";
import type { Delivery } from "../lib/types.ts";
import { useSite, useSiteName } from "./site.tsx";

const OUTCOMES = ["built", "coalesced", "ignored", "duplicate", "rejected", "failed"] as const;
const OUTCOME_KIND: Record<string, string> = {
  built: "ok",
  coalesced: "ok",
  ignored: "muted",
  duplicate: "muted",
  rejected: "bad",
  failed: "bad",
};

/** Whether the delivery's signature (or secret token) was checked and what came of it. */
function signature(delivery: Delivery): { label: string; kind: string } {
  if (delivery.outcome === "rejected" && /signature|token|secret/i.test(delivery.reason)) {
    return { label: "refused", kind: "bad" };
  }
  if (delivery.outcome === "rejected") return { label: "—", kind: "muted" };
  return { label: "verified", kind: "ok" };
}

/**
 * Every request to the site's git webhook and what became of it (built, skipped and why,
 * refused and why), filterable by outcome and text — the provider's "Recent deliveries", here.
 */
export function DeliveriesPage() {
  const name = useSiteName();
  const site = useSite(name);
  const search = useSearch({ from: "/sites/$siteName/deliveries" });
  const navigate = useNavigate({ from: "/sites/$siteName/deliveries" });
  const deliveries = useQuery({
    queryKey: ["site", name, "deliveries"],
    queryFn: () => get<Delivery[]>(`/sites/${seg(name)}/webhook_deliveries?per_page=100`),
    refetchInterval: 5000,
  });
  const outcome = search.outcome ?? "";
  const q = (search.q ?? "").trim().toLowerCase();
  const shown = (deliveries.data ?? []).filter(
    (d) =>
      (outcome === "" || d.outcome === outcome) &&
      (q === "" ||
        [d.reason, d.event, d.provider, d.branch, d.sha, d.delivery_key]
          .filter(Boolean)
          .some((text) => String(text).toLowerCase().includes(q))),
  );
  const setFilter = (next: { outcome?: string; q?: string }) =>
    void navigate({
      search: (prev) => {
        const merged = { ...prev, ...next };
        return {
          ...(merged.outcome ? { outcome: merged.outcome } : {}),
          ...(merged.q ? { q: merged.q } : {}),
        };
      },
      replace: true,
    });

  return (
    <div>
      <div className="filters" role="search">
        <label>
          <span className="sr-only">Outcome</span>
          <select
            aria-label="Outcome"
            value={outcome}
            onChange={(e) => setFilter({ outcome: e.target.value })}
          >
            <option value="">All outcomes</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <input
          type="search"
          aria-label="Search deliveries"
          placeholder="Search reason, branch, event, commit"
          value={search.q ?? ""}
          onChange={(e) => setFilter({ q: e.target.value })}
        />
        <span className="muted">
          {deliveries.data ? `${shown.length} of ${deliveries.data.length}` : null}
        </span>
      </div>
      <ErrorBox error={deliveries.error} />
      {deliveries.isPending ? <Loading what="deliveries" /> : null}
      {deliveries.data && deliveries.data.length === 0 ? (
        <Empty title="No webhook deliveries yet">
          <p>
            Nothing has called this site&apos;s webhook. Push to the repository; if nothing appears
            here, the provider is not sending it: check the webhook on the{" "}
            <Link to="/sites/$siteName/link" params={{ siteName: name }}>
              Link
            </Link>{" "}
            tab
            {site.data?.git_webhook ? (
              <>
                {" "}
                (its URL is <code>{site.data.git_webhook.url}</code>)
              </>
            ) : null}
            .
          </p>
        </Empty>
      ) : null}
      {deliveries.data && deliveries.data.length > 0 && shown.length === 0 ? (
        <p className="muted">No delivery matches these filters.</p>
      ) : null}
      {shown.length > 0 ? (
        <div className="table-wrap">
          <table className="table deliveries" aria-label="Webhook deliveries">
            <thead>
              <tr>
                <th>Received</th>
                <th>Provider · event</th>
                <th>Branch · commit</th>
                <th>Signature</th>
                <th>Outcome</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => {
                const sig = signature(d);
                return (
                  <tr key={d.id} data-outcome={d.outcome}>
                    <td>
                      <TimeAgo at={d.received_at} />
                    </td>
                    <td>
                      {d.provider ?? "unknown"} · {d.event ?? "—"}
                      {d.delivery_key ? (
                        <div className="muted small" title="The provider's id of this delivery">
                          {d.delivery_key}
                        </div>
                      ) : null}
                    </td>
                    <td>
                      {d.branch ? <code>{d.branch}</code> : <span className="muted">—</span>}{" "}
                      <ShortSha sha={d.sha} />
                    </td>
                    <td>
                      <span className={`badge badge-${sig.kind}`}>{sig.label}</span>
                    </td>
                    <td>
                      <span className={`badge badge-${OUTCOME_KIND[d.outcome] ?? "muted"}`}>
                        {d.outcome}
                      </span>{" "}
                      <span className="muted small">HTTP {d.status_code}</span>
                    </td>
                    <td className="reason">{d.reason}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
