/** Netlify's deploy contexts of a value; `branch` needs the branch in `context_parameter`. */
export const VALUE_CONTEXTS = [
  "all",
  "dev",
  "dev-server",
  "branch-deploy",
  "deploy-preview",
  "production",
  "branch",
] as const;
export type ValueContext = (typeof VALUE_CONTEXTS)[number];

/** The contexts a listing can be filtered by (`context_name`). */
export const CONTEXT_NAMES = [
  "all",
  "dev",
  "dev-server",
  "branch-deploy",
  "deploy-preview",
  "production",
] as const;
export type ContextName = (typeof CONTEXT_NAMES)[number];

export const SCOPES = ["builds", "functions", "runtime", "post-processing"] as const;
export type Scope = (typeof SCOPES)[number];
