import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState, type RefObject } from "react";
import { ErrorBox, Field, Loading } from "./ui.tsx";
import { get, seg } from "../lib/api.ts";
import type { GitConnection, ProviderBranch, ProviderRepo } from "../lib/types.ts";

/**
 * What linking through a connection asks the provider for: the repository (searchable, paged)
 * and its branch (picked from the repository's branches, or typed).
 */

/** `value`, once it has not changed for `ms`. */
export function useDebounced(value: string, ms = 250): string {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

const PAGE = 10;

/** A repository the connection reaches: searched at the provider, shown a page at a time. */
export function RepoPicker({
  connection,
  chosen,
  onChoose,
}: {
  connection: GitConnection;
  chosen: ProviderRepo | null;
  onChoose: (r: ProviderRepo) => void;
}) {
  const [search, setSearch] = useState("");
  const [debounced, setDebounced] = useState("");
  const [page, setPage] = useState(0);
  const previous = useRef<HTMLButtonElement>(null);
  const next = useRef<HTMLButtonElement>(null);
  // A pager button that disables itself (first or last page) hands the focus to the other one.
  const refocus = useRef<RefObject<HTMLButtonElement | null> | null>(null);
  useEffect(() => {
    refocus.current?.current?.focus();
    refocus.current = null;
  }, [page]);
  useEffect(() => {
    const timer = setTimeout(() => {
      setDebounced(search.trim());
      setPage(0);
    }, 250);
    return () => clearTimeout(timer);
  }, [search]);
  const repos = useQuery({
    queryKey: ["git-connections", connection.id, "repos", debounced],
    queryFn: () =>
      get<ProviderRepo[]>(
        `/git_connections/${seg(connection.id)}/repos${debounced ? `?search=${encodeURIComponent(debounced)}` : ""}`,
      ),
  });
  const all = repos.data ?? [];
  const pages = Math.max(1, Math.ceil(all.length / PAGE));
  const shown = all.slice(page * PAGE, page * PAGE + PAGE);
  return (
    <section className="card" aria-labelledby="step-repo">
      <h2 id="step-repo">2. Repository</h2>
      <input
        type="search"
        aria-label="Search repositories"
        placeholder="Search repositories"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      <ErrorBox error={repos.error} />
      {repos.isPending ? <Loading what="repositories" /> : null}
      {repos.data && all.length === 0 ? (
        <p className="muted">
          No repository {debounced ? `matches “${debounced}”` : "is visible to this token"}.
        </p>
      ) : null}
      <ul className="choices" role="radiogroup" aria-label="Repositories">
        {shown.map((r) => (
          <li key={r.id}>
            <label className="choice">
              <input
                type="radio"
                name="repo"
                checked={chosen?.id === r.id}
                onChange={() => onChoose(r)}
              />
              <span>
                <strong>{r.full_path}</strong>{" "}
                <span className="muted">
                  {r.private ? "private" : "public"} · {r.default_branch}
                </span>
              </span>
            </label>
          </li>
        ))}
      </ul>
      {pages > 1 ? (
        <div className="pager">
          <button
            ref={previous}
            type="button"
            className="btn btn-small"
            disabled={page === 0}
            onClick={() => {
              if (page === 1) refocus.current = next;
              setPage((p) => p - 1);
            }}
          >
            Previous
          </button>
          <span className="muted">
            Page {page + 1} of {pages}
          </span>
          <button
            ref={next}
            type="button"
            className="btn btn-small"
            disabled={page + 1 >= pages}
            onClick={() => {
              if (page + 2 >= pages) refocus.current = previous;
              setPage((p) => p + 1);
            }}
          >
            Next
          </button>
        </div>
      ) : null}
    </section>
  );
}

/** Branches listed before a search box is offered. */
const BRANCH_SEARCH_FROM = 15;

/**
 * The branch to build: a select of the repository's branches (its default branch preselected,
 * searchable at the provider when there are many), and a text field to type any name.
 */
export function BranchPicker({
  connection,
  repo,
  value,
  onChange,
  error,
}: {
  connection: GitConnection;
  repo: ProviderRepo;
  value: string;
  onChange: (branch: string) => void;
  error?: string | undefined;
}) {
  const [search, setSearch] = useState("");
  const term = useDebounced(search.trim());
  const typed = useRef<HTMLInputElement>(null);
  const branches = useQuery({
    queryKey: ["git-connections", connection.id, "repos", repo.id, "branches", term],
    queryFn: () =>
      get<ProviderBranch[]>(
        `/git_connections/${seg(connection.id)}/repos/${seg(repo.id)}/branches${term ? `?search=${encodeURIComponent(term)}` : ""}`,
      ),
  });
  const names = branches.data?.map((b) => b.name) ?? [];
  const listed = names.includes(value);
  return (
    <div className="branch-picker">
      {names.length > BRANCH_SEARCH_FROM || term !== "" ? (
        <input
          type="search"
          aria-label="Search branches"
          placeholder="Search branches"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      ) : null}
      <Field
        label="Branch"
        hint={
          branches.isPending
            ? "Reading the repository's branches…"
            : `${names.length} ${term ? `matching “${term}”` : names.length === 1 ? "branch" : "branches"}; the default is ${repo.default_branch}.`
        }
      >
        <select
          name="branch_choice"
          value={listed ? value : ""}
          onChange={(e) => {
            if (e.target.value === "") typed.current?.focus();
            else onChange(e.target.value);
          }}
        >
          {names.map((name) => (
            <option key={name} value={name}>
              {name}
              {name === repo.default_branch ? " (default)" : ""}
            </option>
          ))}
          <option value="">
            {listed || value === "" ? "Another branch…" : `${value} (typed)`}
          </option>
        </select>
      </Field>
      <ErrorBox error={branches.error} />
      <Field label="Branch name" hint="Or type any branch name." error={error}>
        <input
          ref={typed}
          name="branch"
          value={value}
          onChange={(e) => onChange(e.target.value)}
          required
          spellCheck={false}
        />
      </Field>
    </div>
  );
}
