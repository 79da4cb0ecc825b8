import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { get, seg } from "../lib/api.ts";
import type { DetectedBuildSettings, GitConnection, ProviderRepo } from "../lib/types.ts";
import { useDebounced } from "./pickers.tsx";
import { Field } from "./ui.tsx";

export interface BuildValues {
  cmd: string;
  dir: string;
  base: string;
}

/**
 * What the repository's files say about its build on `branch` (netlify.toml, or a framework's
 * files). A platform without the endpoint (404, 501) or any failure leaves the fields to the
 * person: a suggestion that did not come is not an error.
 */
export function useDetectedBuild(
  connection: GitConnection,
  repo: ProviderRepo,
  branch: string,
): DetectedBuildSettings | null {
  const term = useDebounced(branch.trim(), 400);
  const detected = useQuery({
    queryKey: ["git-connections", connection.id, "repos", repo.id, "build-settings", term],
    queryFn: async () => {
      try {
        return await get<DetectedBuildSettings>(
          `/git_connections/${seg(connection.id)}/repos/${seg(repo.id)}/build_settings?branch=${encodeURIComponent(term)}`,
        );
      } catch {
        return null;
      }
    },
    enabled: term !== "",
    staleTime: 60_000,
    retry: false,
  });
  return detected.data ?? null;
}

/** "Detected: Vite" or "From netlify.toml", for the fields a detection filled. */
export function detectedLabel(detected: DetectedBuildSettings | null): string | null {
  if (!detected) return null;
  if (detected.source === "netlify.toml") return "From netlify.toml";
  if (detected.framework) return `Detected: ${detected.framework.name}`;
  return null;
}

/**
 * Build command, publish directory and base directory, prefilled from the repository where it
 * makes them obvious; a field the person typed in is never overwritten.
 */
export function BuildFields({
  connection,
  repo,
  branch,
  values,
  onChange,
  errorOf,
}: {
  connection: GitConnection;
  repo: ProviderRepo;
  branch: string;
  values: BuildValues;
  onChange: (values: BuildValues) => void;
  errorOf: (field: keyof BuildValues) => string | undefined;
}) {
  const detected = useDetectedBuild(connection, repo, branch);
  const [typed, setTyped] = useState<Record<keyof BuildValues, boolean>>({
    cmd: false,
    dir: false,
    base: false,
  });
  useEffect(() => {
    if (!detected) return;
    const next = { ...values };
    let changed = false;
    for (const field of ["cmd", "dir", "base"] as const) {
      const suggestion = detected[field] ?? "";
      if (!typed[field] && next[field] !== suggestion) {
        next[field] = suggestion;
        changed = true;
      }
    }
    if (changed) onChange(next);
    // Only a new detection fills the fields (not each keystroke elsewhere).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [detected]);
  const label = detectedLabel(detected);
  const filled = (field: keyof BuildValues) =>
    label !== null && !typed[field] && (detected?.[field] ?? "") !== "";
  const set = (field: keyof BuildValues) => (value: string) => {
    setTyped((t) => ({ ...t, [field]: true }));
    onChange({ ...values, [field]: value });
  };
  const hint = (field: keyof BuildValues, fallback: string) =>
    filled(field) ? (
      <>
        <span className="detected" data-testid={`detected-${field}`}>
          {label}
        </span>{" "}
        · {fallback}
      </>
    ) : (
      fallback
    );
  return (
    <>
      <Field
        label="Build command"
        hint={hint("cmd", "Runs with sh in a sandbox, e.g. npm ci && npm run build")}
        error={errorOf("cmd")}
      >
        <input
          name="cmd"
          value={values.cmd}
          onChange={(e) => set("cmd")(e.target.value)}
          spellCheck={false}
        />
      </Field>
      <Field
        label="Publish directory"
        hint={hint("dir", "What the build leaves to publish, e.g. dist")}
        error={errorOf("dir")}
      >
        <input name="dir" value={values.dir} onChange={(e) => set("dir")(e.target.value)} />
      </Field>
      <Field
        label="Base directory"
        hint={hint("base", "Where the build runs; empty: the repository's root")}
        error={errorOf("base")}
      >
        <input name="base" value={values.base} onChange={(e) => set("base")(e.target.value)} />
      </Field>
    </>
  );
}
