import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { CopyField, Empty, ErrorBox, Field, fieldError, Loading } from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import type {
  DeployKey,
  GitConnection,
  LinkStep,
  ProviderRepo,
  Site,
  SiteLink,
} from "../lib/types.ts";
import { BuildFields, type BuildValues } from "../components/build-fields.tsx";
import { BranchPicker, RepoPicker } from "../components/pickers.tsx";
import { LinkSteps, ManualLink } from "./link.tsx";

const PROVIDERS = [
  ["gitlab", "GitLab (and Slipway's built-in git host)"],
  ["github", "GitHub"],
  ["gitea", "Gitea / Forgejo"],
  ["bitbucket", "Bitbucket"],
] as const;

/** A site name from a repository path: its last segment, as a host name label. */
function nameFrom(path: string): string {
  const last = path.split("/").pop() ?? "";
  return last
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

const MODES = [
  ["connection", "Through a git connection"],
  ["manual", "By hand (a git URL and a deploy key)"],
] as const;

type Mode = (typeof MODES)[number][0];

export function NewSitePage() {
  const [mode, setMode] = useState<Mode>("connection");
  const tabs = useRef<Record<string, HTMLButtonElement | null>>({});
  useEffect(() => {
    document.title = "New site · Slipway";
  }, []);
  // Tabs as the ARIA pattern has them: one tab stop, arrows (and Home, End) move between tabs.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const index = MODES.findIndex(([m]) => m === mode);
    const next =
      event.key === "ArrowRight"
        ? (index + 1) % MODES.length
        : event.key === "ArrowLeft"
          ? (index + MODES.length - 1) % MODES.length
          : event.key === "Home"
            ? 0
            : event.key === "End"
              ? MODES.length - 1
              : -1;
    if (next === -1) return;
    event.preventDefault();
    const [chosen] = MODES[next]!;
    setMode(chosen);
    tabs.current[chosen]?.focus();
  };
  return (
    <div>
      <h1>New site from git</h1>
      <div className="segmented" role="tablist" aria-label="How to link" onKeyDown={onKeyDown}>
        {MODES.map(([value, label]) => (
          <button
            key={value}
            ref={(el) => {
              tabs.current[value] = el;
            }}
            type="button"
            role="tab"
            id={`mode-${value}`}
            aria-selected={mode === value}
            aria-controls="mode-panel"
            tabIndex={mode === value ? 0 : -1}
            className={mode === value ? "active" : ""}
            onClick={() => setMode(value)}
          >
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="mode-panel" aria-labelledby={`mode-${mode}`}>
        {mode === "connection" ? <ConnectionFlow /> : <ManualFlow />}
      </div>
    </div>
  );
}

function ConnectionFlow() {
  const connections = useQuery({
    queryKey: ["git-connections"],
    queryFn: () => get<GitConnection[]>("/git_connections"),
  });
  const [connectionId, setConnectionId] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [repo, setRepo] = useState<ProviderRepo | null>(null);
  const list = connections.data ?? [];
  const chosen =
    list.find((c) => c.id === connectionId) ?? (list.length === 1 ? list[0] : undefined);

  return (
    <div className="flow">
      <section className="card" aria-labelledby="step-connection">
        <h2 id="step-connection">1. Git connection</h2>
        <p className="muted">
          Slipway uses it to install a read-only deploy key and the webhook at the provider for you.
        </p>
        <ErrorBox error={connections.error} />
        {connections.isPending ? <Loading what="connections" /> : null}
        {list.length > 0 ? (
          <ul className="choices" role="radiogroup" aria-label="Git connections">
            {list.map((c) => (
              <li key={c.id}>
                <label className="choice">
                  <input
                    type="radio"
                    name="connection"
                    checked={chosen?.id === c.id}
                    onChange={() => {
                      setConnectionId(c.id);
                      setRepo(null);
                    }}
                  />
                  <span>
                    <strong>{c.provider}</strong> · {c.remote_identity ?? "?"} on{" "}
                    {new URL(c.base_url).host}
                    {c.last_error ? <span className="field-message"> {c.last_error}</span> : null}
                  </span>
                </label>
              </li>
            ))}
          </ul>
        ) : null}
        {connections.data && list.length === 0 && !adding ? (
          <p>No connection yet: add one with a token of the provider.</p>
        ) : null}
        {adding || (connections.data && list.length === 0) ? (
          <AddConnection
            onAdded={(c) => {
              setConnectionId(c.id);
              setAdding(false);
            }}
          />
        ) : (
          <button type="button" className="btn btn-small" onClick={() => setAdding(true)}>
            Add a connection
          </button>
        )}
      </section>
      {chosen ? <RepoPicker connection={chosen} chosen={repo} onChoose={setRepo} /> : null}
      {chosen && repo ? (
        <CreateLinkedSite key={`${chosen.id}:${repo.id}`} connection={chosen} repo={repo} />
      ) : null}
    </div>
  );
}

function AddConnection({ onAdded }: { onAdded: (c: GitConnection) => void }) {
  const client = useQueryClient();
  const [provider, setProvider] = useState("gitlab");
  const [baseUrl, setBaseUrl] = useState("");
  const [token, setToken] = useState("");
  const [username, setUsername] = useState("");
  const add = useMutation({
    mutationFn: () =>
      api<GitConnection>("POST", "/git_connections", {
        provider,
        ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}),
        ...(provider === "bitbucket" && username.trim()
          ? { username: username.trim(), app_password: token }
          : { token }),
      }),
    onSuccess: async (c) => {
      await client.invalidateQueries({ queryKey: ["git-connections"] });
      onAdded(c);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  return (
    <form className="form-grid" onSubmit={submit} aria-label="Add a git connection">
      <Field label="Provider" error={fieldError(add.error, "provider")}>
        <select name="provider" value={provider} onChange={(e) => setProvider(e.target.value)}>
          {PROVIDERS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </Field>
      <Field
        label="Provider URL"
        hint={
          provider === "gitea"
            ? "Required for Gitea."
            : "Empty for the public service; the built-in git host is http://127.0.0.1:3000 by default."
        }
        error={fieldError(add.error, "base_url")}
      >
        <input
          name="base_url"
          type="url"
          value={baseUrl}
          onChange={(e) => setBaseUrl(e.target.value)}
          placeholder="https://gitlab.example.com"
        />
      </Field>
      {provider === "bitbucket" ? (
        <Field label="Username (with an app password)" hint="Leave empty to use an access token.">
          <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} />
        </Field>
      ) : null}
      <Field
        label={provider === "bitbucket" && username ? "App password" : "Token"}
        hint="Kept encrypted, never shown again. GitLab: a personal access token with the api scope."
        error={fieldError(add.error, "token")}
      >
        <input
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
        />
      </Field>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={add.isPending}>
          {add.isPending ? "Checking the token…" : "Add connection"}
        </button>
      </div>
      <ErrorBox error={add.error} />
    </form>
  );
}

interface CreatedSite extends Site {
  build_id?: string;
  deploy_id?: string;
  link?: { status: "linked" | "failed"; steps: LinkStep[]; error: string | null };
}

export function CreateLinkedSite({
  connection,
  repo,
}: {
  connection: GitConnection;
  repo: ProviderRepo;
}) {
  const client = useQueryClient();
  const [name, setName] = useState(nameFrom(repo.full_path));
  const [branch, setBranch] = useState(repo.default_branch);
  const [build, setBuild] = useState<BuildValues>({ cmd: "", dir: "", base: "" });
  const [liveSteps, setLiveSteps] = useState<LinkStep[]>([]);
  const polling = useRef(false);
  const create = useMutation({
    mutationFn: () =>
      api<CreatedSite>("POST", "/sites", {
        name: name.trim(),
        repo: {
          provider: connection.provider,
          connection_id: connection.id,
          repo_path: repo.full_path,
          repo_branch: branch.trim(),
          cmd: build.cmd,
          dir: build.dir.trim(),
          ...(build.base.trim() ? { base: build.base.trim() } : {}),
        },
      }),
    onSettled: () => {
      polling.current = false;
      void client.invalidateQueries({ queryKey: ["sites"] });
    },
  });
  // While the link is being made, its steps are read as each is recorded.
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setLiveSteps([]);
    polling.current = true;
    const siteName = name.trim();
    const poll = async () => {
      while (polling.current) {
        try {
          const link = await get<SiteLink>(`/sites/${seg(siteName)}/link`);
          if (polling.current) setLiveSteps(link.steps);
        } catch {
          // not created yet
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    void poll();
    create.mutate();
  };
  const result = create.data;
  const steps = result?.link?.steps ?? liveSteps;
  return (
    <section className="card" aria-labelledby="step-build">
      <h2 id="step-build">3. Build and create</h2>
      <form className="form-grid" onSubmit={submit} aria-label="Create the site">
        <Field
          label="Site name"
          hint="Its address: <name>.<sites domain>"
          error={fieldError(create.error, "name")}
        >
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <BranchPicker
          connection={connection}
          repo={repo}
          value={branch}
          onChange={setBranch}
          error={fieldError(create.error, "repo.repo_branch")}
        />
        <BuildFields
          connection={connection}
          repo={repo}
          branch={branch}
          values={build}
          onChange={setBuild}
          errorOf={(field) => fieldError(create.error, `repo.${field}`)}
        />
        <div className="form-actions">
          <button
            type="submit"
            className="btn btn-primary"
            disabled={create.isPending || result !== undefined}
          >
            {create.isPending ? "Linking…" : "Create site"}
          </button>
        </div>
      </form>
      <ErrorBox error={create.error} />
      {create.isPending || result ? <LinkSteps steps={steps} live={create.isPending} /> : null}
      {result?.link?.status === "failed" ? (
        <div className="alert alert-error" role="alert">
          <strong>Linking failed: </strong>
          {result.link.error ?? "see the failed step above"}. The site {result.name} was created;{" "}
          <Link to="/sites/$siteName/link" params={{ siteName: result.name }}>
            repair the link
          </Link>{" "}
          once the cause is fixed.
        </div>
      ) : null}
      {result && result.link?.status !== "failed" ? (
        <div className="alert alert-ok" role="status">
          <strong>{result.name} is linked.</strong>{" "}
          {result.deploy_id ? (
            <Link
              to="/sites/$siteName/deploys/$deployId"
              params={{ siteName: result.name, deployId: result.deploy_id }}
              className="btn btn-primary"
            >
              Watch the first build
            </Link>
          ) : (
            <Link to="/sites/$siteName" params={{ siteName: result.name }}>
              Open the site
            </Link>
          )}
        </div>
      ) : null}
    </section>
  );
}

function ManualFlow() {
  const client = useQueryClient();
  const [provider, setProvider] = useState("gitlab");
  const [repoUrl, setRepoUrl] = useState("");
  const [name, setName] = useState("");
  const [branch, setBranch] = useState("main");
  const [cmd, setCmd] = useState("");
  const [dir, setDir] = useState("");
  const key = useMutation({ mutationFn: () => api<DeployKey>("POST", "/deploy_keys") });
  const create = useMutation({
    mutationFn: () =>
      api<CreatedSite>("POST", "/sites", {
        ...(name.trim() ? { name: name.trim() } : {}),
        repo: {
          provider,
          repo_url: repoUrl.trim(),
          repo_branch: branch.trim(),
          cmd,
          dir: dir.trim(),
          deploy_key_id: key.data?.id,
        },
      }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["sites"] }),
  });
  const link = useQuery({
    queryKey: ["site", create.data?.name ?? "", "link-page"],
    queryFn: () => get<SiteLink>(`/sites/${seg(create.data?.name ?? "")}/link`),
    enabled: create.data !== undefined,
  });
  return (
    <div className="flow">
      <section className="card" aria-labelledby="manual-key">
        <h2 id="manual-key">1. A deploy key</h2>
        <p className="muted">
          Slipway keeps the private half (encrypted). Add the public half to the repository as a
          read-only <strong>deploy key</strong> — not to your profile&apos;s SSH keys.
        </p>
        {key.data ? (
          <CopyField label="Public key" value={key.data.public_key} />
        ) : (
          <button
            type="button"
            className="btn"
            onClick={() => key.mutate()}
            disabled={key.isPending}
          >
            Make a deploy key
          </button>
        )}
        <ErrorBox error={key.error} />
      </section>
      <section className="card" aria-labelledby="manual-site">
        <h2 id="manual-site">2. The repository and the build</h2>
        <form
          className="form-grid"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Field label="Provider">
            <select value={provider} onChange={(e) => setProvider(e.target.value)}>
              {PROVIDERS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
              <option value="git">Another git server</option>
            </select>
          </Field>
          <Field
            label="Repository URL (SSH)"
            hint="e.g. git@gitlab.com:group/project.git"
            error={fieldError(create.error, "repo.repo_url")}
          >
            <input
              value={repoUrl}
              onChange={(e) => setRepoUrl(e.target.value)}
              required
              spellCheck={false}
            />
          </Field>
          <Field
            label="Site name"
            hint="Empty: a generated one"
            error={fieldError(create.error, "name")}
          >
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label="Branch" error={fieldError(create.error, "repo.repo_branch")}>
            <input value={branch} onChange={(e) => setBranch(e.target.value)} required />
          </Field>
          <Field label="Build command" error={fieldError(create.error, "repo.cmd")}>
            <input value={cmd} onChange={(e) => setCmd(e.target.value)} spellCheck={false} />
          </Field>
          <Field label="Publish directory" error={fieldError(create.error, "repo.dir")}>
            <input value={dir} onChange={(e) => setDir(e.target.value)} />
          </Field>
          <div className="form-actions">
            <button
              type="submit"
              className="btn btn-primary"
              disabled={!key.data || create.isPending || create.data !== undefined}
            >
              Create site
            </button>
            {!key.data ? <span className="muted">Make the deploy key first.</span> : null}
          </div>
        </form>
        <ErrorBox error={create.error} />
      </section>
      {create.data ? (
        <section className="card" aria-labelledby="manual-provider">
          <h2 id="manual-provider">3. At the provider</h2>
          {link.isPending ? <Loading what="the steps" /> : null}
          <ErrorBox error={link.error} />
          {link.data?.manual ? (
            <ManualLink manual={link.data.manual as Parameters<typeof ManualLink>[0]["manual"]} />
          ) : null}
          <p>
            Then{" "}
            <Link to="/sites/$siteName" params={{ siteName: create.data.name }}>
              open {create.data.name}
            </Link>
            : the first build {create.data.deploy_id ? "has started" : "starts with the next push"};
            if it ran before the key was added, press Retry.
          </p>
        </section>
      ) : null}
      {!create.data && !key.data ? (
        <Empty title="Three steps">
          Make a key, name the repository, then paste the key and the webhook at the provider.
        </Empty>
      ) : null}
    </div>
  );
}
