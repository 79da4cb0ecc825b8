import type { EnvVarView, StoredValue } from "../../env/env.ts";

/**
 * Netlify's `envVarValue`. A secret variable's values are written only; Netlify lets the
 * `dev` value (local development) be read, so only that one keeps its `value`.
 */
function presentValue(value: StoredValue, secret: boolean) {
  return {
    id: value.id,
    ...(secret && value.context !== "dev" ? {} : { value: value.value }),
    context: value.context,
    ...(value.context_parameter === undefined
      ? {}
      : { context_parameter: value.context_parameter }),
  };
}

/** Netlify's `envVar`; `updated_by` names the member who last changed it. */
export function presentEnvVar(view: EnvVarView) {
  const secret = view.row.is_secret === 1;
  return {
    key: view.row.key,
    scopes: view.scopes,
    values: view.values.map((v) => presentValue(v, secret)),
    is_secret: secret,
    updated_at: view.row.updated_at,
    updated_by:
      view.updatedBy === null
        ? {}
        : {
            id: view.updatedBy.id,
            full_name: view.updatedBy.full_name,
            email: view.updatedBy.email,
          },
  };
}

/** A variable's JSON (`GET /accounts/:id/env`). */
export type EnvVarJson = ReturnType<typeof presentEnvVar>;
