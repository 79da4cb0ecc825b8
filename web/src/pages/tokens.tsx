import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import {
  ConfirmButton,
  CopyField,
  Empty,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  TimeAgo,
} from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import type { AccessToken } from "../lib/types.ts";

/** What a token may do (the API's `scope`): everything, GET only, or what a CI job needs. */
type TokenScope = "all" | "read" | "deploy";
type ScopedToken = AccessToken & { scope?: TokenScope };
const SCOPE_LABELS: Record<TokenScope, string> = {
  all: "everything",
  read: "read only",
  deploy: "deploy (CI)",
};

/** Personal access tokens, for netlify-cli, `slipway deploy` and scripts: create (shown once), revoke. */
export function TokensPage() {
  const client = useQueryClient();
  const tokens = useQuery({
    queryKey: ["access-tokens"],
    queryFn: () => get<ScopedToken[]>("/access_tokens"),
  });
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [scope, setScope] = useState<TokenScope>("all");
  const create = useMutation({
    mutationFn: () =>
      api<AccessToken & { token: string }>("POST", "/access_tokens", {
        name: name.trim(),
        ...(days ? { expires_in_days: Number(days) } : {}),
        ...(scope !== "all" ? { scope } : {}),
      }),
    onSuccess: async () => {
      setName("");
      await client.invalidateQueries({ queryKey: ["access-tokens"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api<void>("DELETE", `/access_tokens/${seg(id)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["access-tokens"] }),
  });
  useEffect(() => {
    document.title = "Access tokens · Slipway";
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <div>
      <h1>Personal access tokens</h1>
      <p className="muted">
        For <code>netlify-cli</code> (<code>NETLIFY_AUTH_TOKEN</code>, with{" "}
        <code>NETLIFY_API_URL={location.origin}</code>), <code>slipway deploy</code> (
        <code>SLIPWAY_AUTH_TOKEN</code>) and scripts. A token acts as you, on all your sites.
      </p>
      <section className="card" aria-labelledby="new-token">
        <h2 id="new-token">New token</h2>
        <form className="inline-form" onSubmit={submit}>
          <Field
            label="Name"
            hint="What it is for, e.g. laptop or CI"
            error={fieldError(create.error, "name")}
          >
            <input
              name="token_name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
              maxLength={100}
            />
          </Field>
          <Field label="Expires" error={fieldError(create.error, "expires_in_days")}>
            <select name="expires" value={days} onChange={(e) => setDays(e.target.value)}>
              <option value="">Never</option>
              <option value="7">In 7 days</option>
              <option value="30">In 30 days</option>
              <option value="90">In 90 days</option>
              <option value="365">In a year</option>
            </select>
          </Field>
          <Field label="Scope" error={fieldError(create.error, "scope")}>
            <select
              name="scope"
              value={scope}
              onChange={(e) => setScope(e.target.value as TokenScope)}
            >
              <option value="all">Everything you can do</option>
              <option value="read">Read only (GET)</option>
              <option value="deploy">Deploy only (CI: deploys, uploads, builds)</option>
            </select>
          </Field>
          <button type="submit" className="btn btn-primary" disabled={create.isPending}>
            Create token
          </button>
        </form>
        <ErrorBox error={create.error} />
        {create.data ? (
          <div className="alert alert-ok new-token" role="status">
            <strong>Copy the token now: it is shown only this once.</strong>
            <CopyField label={create.data.name} value={create.data.token} />
          </div>
        ) : null}
      </section>
      <ErrorBox error={tokens.error ?? revoke.error} />
      {tokens.isPending ? <Loading what="tokens" /> : null}
      {tokens.data && tokens.data.length === 0 ? (
        <Empty title="You have no tokens">Create one above for the CLI.</Empty>
      ) : null}
      {tokens.data && tokens.data.length > 0 ? (
        <div className="table-wrap">
          <table className="table" aria-label="Access tokens">
            <thead>
              <tr>
                <th>Name</th>
                <th>Scope</th>
                <th>Created</th>
                <th>Last used</th>
                <th>Expires</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id} data-token={t.name}>
                  <td>
                    {t.name}{" "}
                    {t.current ? <span className="badge badge-muted">this session</span> : null}
                  </td>
                  <td>{SCOPE_LABELS[t.scope ?? "all"]}</td>
                  <td>
                    <TimeAgo at={t.created_at} />
                  </td>
                  <td>
                    <TimeAgo at={t.last_used_at} />
                  </td>
                  <td>{t.expires_at ? new Date(t.expires_at).toLocaleDateString() : "never"}</td>
                  <td>
                    <ConfirmButton
                      className="btn btn-small"
                      confirm={`Revoke ${t.name}? What uses it stops working.`}
                      onConfirm={() => revoke.mutate(t.id)}
                    >
                      Revoke
                    </ConfirmButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
