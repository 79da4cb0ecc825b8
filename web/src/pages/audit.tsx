import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Empty, ErrorBox, Loading, StateBadge, TimeAgo } from "../components/ui.tsx";
import { apiCall, get, lastPage, seg } from "../lib/api.ts";
import type { AccountSummary, AuditEntry } from "../lib/types.ts";

const PER_PAGE = 50;
const LOG_TYPES = [
  "site",
  "deploy",
  "env",
  "session",
  "token",
  "deploy_key",
  "git_connection",
  "api",
];

function who(entry: AuditEntry): string {
  const p = entry.payload;
  if (p.actor_kind === "system") return "Slipway";
  if (p.actor_kind === "anonymous") return "not signed in";
  return p.actor_email || p.actor_name;
}

function target(entry: AuditEntry): string {
  const p = entry.payload;
  if (p.target_type === null) return "";
  return `${p.target_type.replace(/_/g, " ")} ${p.target_name ?? p.target_id ?? ""}`.trim();
}

/**
 * Who changed what in an account, newest first (`GET /accounts/:account_id/audit`): its owners
 * see it, administrators see every account's. Searchable and filterable by kind.
 */
export function AuditPage() {
  const accounts = useQuery({
    queryKey: ["accounts"],
    queryFn: () => get<AccountSummary[]>("/accounts"),
  });
  const [chosen, setChosen] = useState<string>();
  const [query, setQuery] = useState("");
  const [logType, setLogType] = useState("");
  const [page, setPage] = useState(1);
  const account = chosen ?? accounts.data?.find((a) => a.default)?.slug ?? accounts.data?.[0]?.slug;
  const params = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
  if (query.trim()) params.set("query", query.trim());
  if (logType) params.set("log_type", logType);
  const events = useQuery({
    queryKey: ["audit", account, params.toString()],
    enabled: account !== undefined,
    placeholderData: keepPreviousData,
    queryFn: async () => {
      const answer = await apiCall<AuditEntry[]>(
        "GET",
        `/accounts/${seg(account!)}/audit?${params.toString()}`,
      );
      return { entries: answer.body, pages: lastPage(answer.headers) ?? 1 };
    },
  });
  useEffect(() => {
    document.title = "Audit log · Slipway";
  }, []);
  const filter = (change: () => void) => {
    change();
    setPage(1);
  };

  return (
    <div>
      <h1>Audit log</h1>
      <p className="muted">
        Every change made in the account — by the dashboard, the API or the CLI — and every refused
        attempt, with who made it and from where. Values are never recorded, only the names of the
        fields that changed.
      </p>
      <div className="filters" role="search">
        {accounts.data && accounts.data.length > 1 ? (
          <select
            aria-label="Account"
            value={account ?? ""}
            onChange={(e) => filter(() => setChosen(e.target.value))}
          >
            {accounts.data.map((a) => (
              <option key={a.id} value={a.slug}>
                {a.name}
              </option>
            ))}
          </select>
        ) : null}
        <select
          aria-label="Kind of change"
          value={logType}
          onChange={(e) => filter(() => setLogType(e.target.value))}
        >
          <option value="">All kinds</option>
          {LOG_TYPES.map((t) => (
            <option key={t} value={t}>
              {t.replace(/_/g, " ")}
            </option>
          ))}
        </select>
        <input
          type="search"
          aria-label="Search the audit log"
          placeholder="Search action, person, site"
          value={query}
          onChange={(e) => filter(() => setQuery(e.target.value))}
        />
      </div>
      <ErrorBox error={accounts.error ?? events.error} />
      {events.isPending && account !== undefined ? <Loading what="the audit log" /> : null}
      {events.data && events.data.entries.length === 0 ? (
        <Empty title={query || logType ? "Nothing matches" : "Nothing recorded yet"}>
          <p>
            {query || logType
              ? "No event matches these filters."
              : "Changes to this account's sites, keys, connections and settings will appear here."}
          </p>
        </Empty>
      ) : null}
      {events.data && events.data.entries.length > 0 ? (
        <div className="table-wrap">
          <table className="table" aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Result</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {events.data.entries.map((e) => (
                <tr key={e.id}>
                  <td>
                    <TimeAgo at={e.payload.timestamp} />
                  </td>
                  <td>
                    {who(e)}
                    {e.payload.actor_via ? (
                      <span className="muted"> · {e.payload.actor_via}</span>
                    ) : null}
                  </td>
                  <td>
                    <code>{e.payload.action}</code> {target(e)}
                    {e.payload.changed_fields.length > 0 ? (
                      <div className="muted">{e.payload.changed_fields.join(", ")}</div>
                    ) : null}
                    {e.payload.route ? <div className="muted">{e.payload.route}</div> : null}
                  </td>
                  <td>
                    <StateBadge
                      state={e.payload.result === "success" ? "ready" : "error"}
                      label={e.payload.result === "success" ? "done" : "refused"}
                    />
                    {e.payload.reason ? <div className="muted">{e.payload.reason}</div> : null}
                  </td>
                  <td className="muted">{e.payload.source_address ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {events.data && events.data.pages > 1 ? (
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
            Newer
          </button>
          <span className="muted">
            page {page} of {events.data.pages}
          </span>
          <button
            type="button"
            disabled={page >= events.data.pages}
            onClick={() => setPage(page + 1)}
          >
            Older
          </button>
        </nav>
      ) : null}
    </div>
  );
}
