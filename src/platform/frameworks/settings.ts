import type { DetectedFramework } from "./detect.ts";
import type { NetlifyToml, TomlBuildSettings } from "./netlify-toml.ts";

/**
 * The settings a build runs with, and where each came from, in Netlify's precedence (lowest
 * first):
 *
 * 1. the site's settings (API/dashboard: `repo.cmd`, `repo.dir`, `repo.base`, env variables);
 * 2. framework detection, for the command and publish directory the site leaves unset;
 * 3. `netlify.toml`'s `[build]`, which overrides both;
 * 4. its `[context.<deploy context>]`, then `[context.<branch name>]`, which override `[build]`.
 *
 * The base directory is settled first (it is where detection looks); environment variables
 * from the file are laid over the site's, key by key.
 */

export type SettingSource =
  | { kind: "site" }
  | { kind: "framework"; name: string }
  | { kind: "netlify.toml"; section: string };

export interface Setting {
  value: string | null;
  /** null: nothing set it. */
  source: SettingSource | null;
}

export interface ResolvedBuildSettings {
  base: Setting;
  command: Setting;
  publish: Setting;
  ignore: Setting;
  /** Variables from netlify.toml (over the site's own); each with the section it came from. */
  environment: Record<string, { value: string; section: string }>;
  framework: DetectedFramework["framework"] | null;
}

export interface SiteBuildSettings {
  command: string | null;
  publish: string | null;
  base: string | null;
}

/** The sections of `toml` that apply, lowest precedence first, with their names. */
export function applicableSections(
  toml: NetlifyToml | null,
  context: string,
  branch: string,
): Array<{ section: string; settings: TomlBuildSettings }> {
  if (toml === null) return [];
  const sections = [{ section: "[build]", settings: toml.build }];
  for (const name of new Set([context, branch])) {
    const settings = toml.contexts[name];
    if (settings !== undefined) sections.push({ section: `[context.${name}]`, settings });
  }
  return sections;
}

/** The base directory alone: where to look for the framework. */
export function resolveBase(
  site: SiteBuildSettings,
  toml: NetlifyToml | null,
  context: string,
  branch: string,
): Setting {
  return overridden(
    { value: site.base, source: site.base === null ? null : { kind: "site" } },
    applicableSections(toml, context, branch),
    "base",
  );
}

export function resolveBuildSettings(input: {
  site: SiteBuildSettings;
  toml: NetlifyToml | null;
  detected: DetectedFramework | null;
  context: string;
  branch: string;
}): ResolvedBuildSettings {
  const { site, toml, detected, context, branch } = input;
  const sections = applicableSections(toml, context, branch);
  const fromSiteOrFramework = (value: string | null, detectedValue: string | undefined): Setting =>
    value !== null
      ? { value, source: { kind: "site" } }
      : detectedValue !== undefined
        ? { value: detectedValue, source: { kind: "framework", name: detected!.framework.name } }
        : { value: null, source: null };
  const environment: ResolvedBuildSettings["environment"] = {};
  for (const { section, settings } of sections) {
    for (const [key, value] of Object.entries(settings.environment ?? {})) {
      environment[key] = { value, section };
    }
  }
  return {
    base: resolveBase(site, toml, context, branch),
    command: overridden(fromSiteOrFramework(site.command, detected?.cmd), sections, "command"),
    publish: overridden(fromSiteOrFramework(site.publish, detected?.dir), sections, "publish"),
    ignore: overridden({ value: null, source: null }, sections, "ignore"),
    environment,
    framework: detected?.framework ?? null,
  };
}

function overridden(
  start: Setting,
  sections: ReturnType<typeof applicableSections>,
  key: "command" | "publish" | "base" | "ignore",
): Setting {
  let setting = start;
  for (const { section, settings } of sections) {
    const value = settings[key];
    if (value !== undefined) setting = { value, source: { kind: "netlify.toml", section } };
  }
  return setting;
}

/** "from netlify.toml [context.deploy-preview]", "from framework detection (Vite)", …. */
export function describeSource(source: SettingSource | null): string {
  if (source === null) return "not set";
  switch (source.kind) {
    case "site":
      return "from the site's settings";
    case "framework":
      return `from framework detection (${source.name})`;
    case "netlify.toml":
      return `from netlify.toml ${source.section}`;
  }
}
