import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import {
  Check,
  ConfirmButton,
  CopyField,
  Empty,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  Notice,
  TimeAgo,
} from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import type { BuildHook, EnvVar, Site } from "../lib/types.ts";
import { useSite, useSiteName } from "./site.tsx";

export function SettingsPage() {
  const name = useSiteName();
  const site = useSite(name);
  if (site.isPending) return <Loading what="settings" />;
  if (site.error) return <ErrorBox error={site.error} />;
  return (
    <div className="settings">
      {site.data.build_settings.repo_url ? (
        <BuildSettings site={site.data} />
      ) : (
        <Empty title="This site is not linked to a repository">
          <p>
            Its deploys are uploaded (<code>slipway deploy</code>, <code>netlify deploy</code>). To
            build it from git, <Link to="/new">link a repository</Link>.
          </p>
        </Empty>
      )}
      <EnvVars site={site.data} />
      {site.data.build_settings.repo_url ? <BuildHooks site={site.data} /> : null}
      {site.data.git_webhook ? <GitWebhook site={site.data} /> : null}
      <DangerZone site={site.data} />
    </div>
  );
}

/** A site's build settings; saving sends only the fields that changed. */
export function BuildSettings({ site }: { site: Site }) {
  const client = useQueryClient();
  const s = site.build_settings;
  const [form, setForm] = useState({
    repo_branch: s.repo_branch ?? "",
    cmd: s.cmd ?? "",
    dir: s.dir ?? "",
    base: s.base ?? "",
    allowed_branches: s.allowed_branches.join(", "),
    build_network: s.build_network,
    deploy_previews: s.deploy_previews,
    stop_builds: s.stop_builds,
  });
  const save = useMutation({
    // Only what changed is sent: naming the branch again makes Slipway re-link the repository.
    mutationFn: () => {
      const branches = form.allowed_branches
        .split(/[,\s]+/)
        .map((b) => b.trim())
        .filter(Boolean);
      const next: Record<string, unknown> = {
        repo_branch: form.repo_branch.trim(),
        cmd: form.cmd,
        dir: form.dir.trim(),
        base: form.base.trim(),
        build_network: form.build_network,
        deploy_previews: form.deploy_previews,
        stop_builds: form.stop_builds,
      };
      const now: Record<string, unknown> = {
        repo_branch: s.repo_branch ?? "",
        cmd: s.cmd ?? "",
        dir: s.dir ?? "",
        base: s.base ?? "",
        build_network: s.build_network,
        deploy_previews: s.deploy_previews,
        stop_builds: s.stop_builds,
      };
      const repo = Object.fromEntries(
        Object.entries(next).filter(([key, value]) => value !== now[key]),
      );
      if (branches.join(",") !== s.allowed_branches.join(",")) repo.allowed_branches = branches;
      return api<Site>("PATCH", `/sites/${seg(site.id)}`, { repo });
    },
    onSuccess: (updated) => client.setQueryData(["site", site.name], updated),
  });
  const set = (key: keyof typeof form) => (value: string | boolean) =>
    setForm((f) => ({ ...f, [key]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const err = (field: string) =>
    fieldError(save.error, `repo.${field}`) ?? fieldError(save.error, field);
  return (
    <section className="card" aria-labelledby="build-settings">
      <h2 id="build-settings">Build settings</h2>
      <form onSubmit={submit} className="form-grid">
        <Field label="Production branch" error={err("repo_branch")}>
          <input
            name="repo_branch"
            value={form.repo_branch}
            onChange={(e) => set("repo_branch")(e.target.value)}
            required
          />
        </Field>
        <Field
          label="Branches that deploy"
          hint="Comma-separated; pushes to other branches are recorded and skipped."
          error={err("allowed_branches")}
        >
          <input
            name="allowed_branches"
            value={form.allowed_branches}
            onChange={(e) => set("allowed_branches")(e.target.value)}
          />
        </Field>
        <Field
          label="Build command"
          hint="Runs in the sandbox with sh, in the base directory."
          error={err("cmd")}
        >
          <textarea
            name="cmd"
            rows={2}
            value={form.cmd}
            onChange={(e) => set("cmd")(e.target.value)}
            spellCheck={false}
          />
        </Field>
        <Field label="Publish directory" error={err("dir")}>
          <input
            name="dir"
            value={form.dir}
            onChange={(e) => set("dir")(e.target.value)}
            placeholder="dist"
          />
        </Field>
        <Field label="Base directory" error={err("base")}>
          <input
            name="base"
            value={form.base}
            onChange={(e) => set("base")(e.target.value)}
            placeholder="(repository root)"
          />
        </Field>
        <Check name="build_network" checked={form.build_network} onChange={set("build_network")}>
          Build network (package installs); off runs the build command with no network at all
        </Check>
        <Check
          name="deploy_previews"
          checked={form.deploy_previews}
          onChange={set("deploy_previews")}
        >
          Deploy previews: build each pull or merge request at deploy-preview-N--{site.name}; off
          records their webhooks as ignored
        </Check>
        <Check name="stop_builds" checked={form.stop_builds} onChange={set("stop_builds")}>
          Stop builds (pushes are recorded, nothing is built)
        </Check>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            Save build settings
          </button>
          {save.isSuccess ? (
            <span className="saved" role="status">
              Saved. The next build uses them.
            </span>
          ) : null}
        </div>
        <ErrorBox error={save.error} />
      </form>
    </section>
  );
}

const CONTEXTS = [
  ["all", "All deploy contexts"],
  ["production", "Production"],
  ["deploy-preview", "Deploy previews"],
  ["branch-deploy", "Branch deploys"],
  ["dev", "Local development"],
] as const;

function EnvVars({ site }: { site: Site }) {
  const client = useQueryClient();
  const base = `/accounts/${seg(site.account_id)}/env`;
  const query = `?site_id=${seg(site.id)}`;
  const key = ["site", site.name, "env"];
  const vars = useQuery({ queryKey: key, queryFn: () => get<EnvVar[]>(`${base}${query}`) });
  const [form, setForm] = useState({ key: "", value: "", context: "all", secret: false });
  const add = useMutation({
    mutationFn: () =>
      api<EnvVar[]>("POST", `${base}${query}`, [
        {
          key: form.key.trim(),
          is_secret: form.secret,
          values: [{ value: form.value, context: form.context }],
        },
      ]),
    onSuccess: async () => {
      setForm({ key: "", value: "", context: "all", secret: false });
      await client.invalidateQueries({ queryKey: key });
    },
  });
  const remove = useMutation({
    mutationFn: (k: string) => api<void>("DELETE", `${base}/${seg(k)}${query}`),
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
  });
  return (
    <section className="card" aria-labelledby="env-vars">
      <h2 id="env-vars">Environment variables</h2>
      <p className="muted">
        This site&apos;s own variables, given to its builds (they override the account&apos;s).
        Values are masked; a secret variable&apos;s values are never shown again once saved.
      </p>
      <ErrorBox error={vars.error ?? remove.error} />
      {vars.data && vars.data.length === 0 ? (
        <p className="muted">No variables yet: add one below.</p>
      ) : null}
      {vars.data && vars.data.length > 0 ? (
        <table className="table" aria-label="Environment variables">
          <thead>
            <tr>
              <th>Key</th>
              <th>Values</th>
              <th>Updated</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {vars.data.map((v) => (
              <tr key={v.key} data-env={v.key}>
                <td>
                  <code>{v.key}</code>{" "}
                  {v.is_secret ? <span className="badge badge-muted">secret</span> : null}
                </td>
                <td>
                  {v.values.map((value) => (
                    <MaskedValue key={value.id} context={value.context} value={value.value} />
                  ))}
                </td>
                <td>
                  <TimeAgo at={v.updated_at} />
                </td>
                <td>
                  <ConfirmButton
                    className="btn btn-small"
                    confirm={`Delete ${v.key}?`}
                    onConfirm={() => remove.mutate(v.key)}
                  >
                    Delete
                  </ConfirmButton>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form
        className="inline-form"
        aria-label="Add a variable"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate();
        }}
      >
        <Field label="Key" error={fieldError(add.error, "key")}>
          <input
            name="env_key"
            value={form.key}
            onChange={(e) => setForm((f) => ({ ...f, key: e.target.value }))}
            required
            pattern="[A-Za-z_][A-Za-z0-9_]*"
            title="Letters, digits and underscores"
          />
        </Field>
        <Field label="Value">
          <input
            name="env_value"
            type={form.secret ? "password" : "text"}
            autoComplete="off"
            value={form.value}
            onChange={(e) => setForm((f) => ({ ...f, value: e.target.value }))}
          />
        </Field>
        <Field label="Context">
          <select
            name="env_context"
            value={form.context}
            onChange={(e) => setForm((f) => ({ ...f, context: e.target.value }))}
          >
            {CONTEXTS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        <Check checked={form.secret} onChange={(secret) => setForm((f) => ({ ...f, secret }))}>
          Secret
        </Check>
        <button type="submit" className="btn" disabled={add.isPending}>
          Add variable
        </button>
      </form>
      <ErrorBox error={add.error} />
    </section>
  );
}

function MaskedValue({ context, value }: { context: string; value: string | undefined }) {
  const [shown, setShown] = useState(false);
  const label = CONTEXTS.find(([c]) => c === context)?.[1] ?? context;
  return (
    <div className="env-value">
      <span className="muted">{label}:</span>{" "}
      {value === undefined ? (
        <span className="muted" title="Secret: write-only">
          ••••••••
        </span>
      ) : (
        <>
          <code>{shown ? value : "••••••••"}</code>{" "}
          <button type="button" className="btn btn-link" onClick={() => setShown((s) => !s)}>
            {shown ? "hide" : "show"}
          </button>
        </>
      )}
    </div>
  );
}

function BuildHooks({ site }: { site: Site }) {
  const client = useQueryClient();
  const key = ["site", site.name, "build-hooks"];
  const hooks = useQuery({
    queryKey: key,
    queryFn: () => get<BuildHook[]>(`/sites/${seg(site.id)}/build_hooks`),
  });
  const [title, setTitle] = useState("");
  const [branch, setBranch] = useState(site.build_settings.repo_branch ?? "");
  const create = useMutation({
    mutationFn: () =>
      api<BuildHook>("POST", `/sites/${seg(site.id)}/build_hooks`, {
        title: title.trim(),
        branch: branch.trim(),
      }),
    onSuccess: async () => {
      setTitle("");
      await client.invalidateQueries({ queryKey: key });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      api<void>("DELETE", `/sites/${seg(site.id)}/build_hooks/${seg(id)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
  });
  return (
    <section className="card" aria-labelledby="build-hooks">
      <h2 id="build-hooks">Build hooks</h2>
      <p className="muted">
        A POST to a hook&apos;s URL builds its branch (from a CMS, a cron job…).
      </p>
      <ErrorBox error={hooks.error ?? remove.error} />
      {hooks.data && hooks.data.length === 0 ? <p className="muted">No build hooks yet.</p> : null}
      {hooks.data?.map((hook) => (
        <div key={hook.id} className="hook-row">
          <div>
            <strong>{hook.title}</strong> <span className="muted">builds</span>{" "}
            <code>{hook.branch}</code>
          </div>
          <CopyField label="URL" value={hook.url} />
          <ConfirmButton
            className="btn btn-small"
            confirm="Delete this hook?"
            onConfirm={() => remove.mutate(hook.id)}
          >
            Delete
          </ConfirmButton>
        </div>
      ))}
      <form
        className="inline-form"
        aria-label="Add a build hook"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Field label="Name" error={fieldError(create.error, "title")}>
          <input value={title} onChange={(e) => setTitle(e.target.value)} required />
        </Field>
        <Field label="Branch" error={fieldError(create.error, "branch")}>
          <input value={branch} onChange={(e) => setBranch(e.target.value)} required />
        </Field>
        <button type="submit" className="btn" disabled={create.isPending}>
          Add build hook
        </button>
      </form>
      <ErrorBox error={create.error} />
    </section>
  );
}

function GitWebhook({ site }: { site: Site }) {
  const client = useQueryClient();
  const rotate = useMutation({
    mutationFn: () => api<Site>("POST", `/sites/${seg(site.id)}/git_webhook/rotate`),
    onSuccess: (updated) => client.setQueryData(["site", site.name], updated),
  });
  const hook = site.git_webhook;
  if (!hook) return null;
  return (
    <section className="card" aria-labelledby="git-webhook">
      <h2 id="git-webhook">Git webhook</h2>
      <p className="muted">
        Where the provider sends pushes.{" "}
        {site.git_connection_id
          ? "Slipway installed it through the site's git connection; after rotating the secret, use Repair on the Link tab to update it at the provider."
          : "Register it at the provider with this secret (see the Link tab for where)."}
      </p>
      <CopyField label="URL" value={hook.url} />
      <CopyField label="Secret" value={hook.secret} secret />
      <ConfirmButton
        confirm="Rotate the secret? The provider's copy stops working until it is updated."
        onConfirm={() => rotate.mutate()}
        disabled={rotate.isPending}
      >
        Rotate secret
      </ConfirmButton>
      {rotate.isSuccess ? <Notice kind="ok">The secret was rotated.</Notice> : null}
      <ErrorBox error={rotate.error} />
    </section>
  );
}

function DangerZone({ site }: { site: Site }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const unlink = useMutation({
    mutationFn: () => api<Site>("PUT", `/sites/${seg(site.id)}/unlink_repo`),
    onSuccess: (updated) => client.setQueryData(["site", site.name], updated),
  });
  const remove = useMutation({
    mutationFn: () => api<void>("DELETE", `/sites/${seg(site.id)}`),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["sites"] });
      void navigate({ to: "/" });
    },
  });
  return (
    <section className="card danger" aria-labelledby="danger">
      <h2 id="danger">Unlink or delete</h2>
      {site.build_settings.repo_url ? (
        <div className="danger-row">
          <p>
            Unlink the repository: builds stop; the deploy key and webhook Slipway installed at the
            provider are removed. The published deploy stays online.
          </p>
          <ConfirmButton
            className="btn btn-danger"
            confirm="Unlink the repository?"
            onConfirm={() => unlink.mutate()}
          >
            Unlink repository
          </ConfirmButton>
        </div>
      ) : null}
      <div className="danger-row">
        <p>Delete the site, its deploys and settings. Its address stops answering.</p>
        <ConfirmButton
          className="btn btn-danger"
          confirm={`Delete ${site.name} for good?`}
          onConfirm={() => remove.mutate()}
        >
          Delete site
        </ConfirmButton>
      </div>
      <ErrorBox error={unlink.error ?? remove.error} />
    </section>
  );
}
