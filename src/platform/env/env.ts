import { recordAudit, type AuditAction } from "../audit/record.ts";
import type { Kysely } from "kysely";
import { isUniqueViolation } from "../../lib/database.ts";
import { objectId, uuid } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { Account, EnvVar, PlatformDatabase, Site, User } from "../db/schema.ts";
import { invalidField, notFound, PlatformError } from "../errors.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import { checkBranch } from "../sites/repo-settings.ts";
import { findAccountForActor } from "../accounts/accounts.ts";
import { readEnv } from "../sites/secrets.ts";
import { findSite } from "../sites/sites.ts";
import { SCOPES, type ContextName, type Scope, type ValueContext } from "./contexts.ts";

/**
 * Netlify's environment variables API ("Envelope"). A variable belongs to an account (shared by
 * its sites) or to one site of it, has scopes (where it is visible) and one value per deploy
 * context (`all`, `production`, `branch` + a branch name...). Values are sealed at rest with
 * context `env_var:<id>`; a secret variable's values are never returned (only its `dev` value,
 * which Netlify defines as readable), and nothing here logs a value.
 */

/** Netlify's `envVarValue` as a client sends it (the `id` of an existing value keeps it). */
export interface EnvValueInput {
  id?: string;
  value?: string;
  context?: ValueContext;
  context_parameter?: string;
}

/** One variable of `createEnvVars`, and a change of `updateEnvVar` (`key` renames). */
export interface EnvVarInput {
  key?: string;
  scopes?: Scope[];
  values?: EnvValueInput[];
  is_secret?: boolean;
}

/** `setEnvVarValue`: one value for one context. */
export interface EnvValueChange {
  context: ValueContext;
  context_parameter?: string;
  value: string;
}

/** One value of a variable, as stored (sealed) and presented (`value` left out for secrets). */
export interface StoredValue {
  id: string;
  value: string;
  context: ValueContext;
  context_parameter?: string;
}

/** A variable with its opened values and who last changed it. */
export interface EnvVarView {
  row: EnvVar;
  scopes: Scope[];
  values: StoredValue[];
  updatedBy: Pick<User, "id" | "full_name" | "email"> | null;
}

/** Where variables live: the account's own, or one of its sites'. */
export interface EnvOwner {
  account: Account;
  site: Site | null;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How many variables one account (or one site) may hold. */
const MAX_VARS_PER_OWNER = 1000;

const sealContext = (id: string): string => `env_var:${id}`;

/**
 * The account named by `:account_id` (its id or, as the CLI sends it, its slug) and, with
 * `site_id`, one of its sites. Another account's, or a site of another account, is a 404.
 * Every change (deleting included) needs `update`: whoever may overwrite a value may drop it.
 */
export async function resolveEnvOwner(
  ctx: PlatformContext,
  actor: Actor,
  accountIdOrSlug: string,
  siteId: string | undefined,
  ability: Extract<Ability, "read" | "update">,
): Promise<EnvOwner> {
  const account = await findAccountForActor(ctx, actor, accountIdOrSlug);
  authorize(actor, ability, { account_id: account.id }, "Account");
  if (siteId === undefined || siteId === "") return { account, site: null };
  const site = await findSite(ctx, actor, siteId, ability);
  if (site.account_id !== account.id) throw notFound("Site");
  return { account, site };
}

/** `GET /sites/:site_id/env`: the site's own variables, its account found from the site. */
export async function siteEnvOwner(
  ctx: PlatformContext,
  actor: Actor,
  siteId: string,
): Promise<EnvOwner> {
  const site = await findSite(ctx, actor, siteId);
  const account = await ctx.db
    .selectFrom("accounts")
    .selectAll()
    .where("id", "=", site.account_id)
    .executeTakeFirstOrThrow();
  return { account, site };
}

function ownerRows(db: Kysely<PlatformDatabase>, owner: EnvOwner) {
  const base = db.selectFrom("env_vars").where("account_id", "=", owner.account.id);
  return owner.site === null
    ? base.where("site_id", "is", null)
    : base.where("site_id", "=", owner.site.id);
}

function openValues(ctx: PlatformContext, row: EnvVar): StoredValue[] {
  return JSON.parse(ctx.secrets.open(row.values_sealed, sealContext(row.id))) as StoredValue[];
}

async function view(ctx: PlatformContext, rows: readonly EnvVar[]): Promise<EnvVarView[]> {
  const userIds = [...new Set(rows.map((r) => r.updated_by).filter((id) => id !== null))];
  const users = new Map(
    userIds.length === 0
      ? []
      : (
          await ctx.db
            .selectFrom("users")
            .select(["id", "full_name", "email"])
            .where("id", "in", userIds)
            .execute()
        ).map((u) => [u.id, u]),
  );
  return rows.map((row) => ({
    row,
    scopes: JSON.parse(row.scopes) as Scope[],
    values: openValues(ctx, row),
    updatedBy: row.updated_by === null ? null : (users.get(row.updated_by) ?? null),
  }));
}

export interface EnvListFilter {
  contextName?: ContextName;
  scope?: Scope | "post_processing";
}

/** A value that applies when listing for `context` (its own context, or `all`). */
const appliesTo = (value: StoredValue, context: ContextName): boolean =>
  value.context === context || value.context === "all";

/**
 * The owner's variables by key. `context_name` keeps the values for that context (and `all`)
 * and drops variables left without one; `scope` keeps the variables visible in that scope.
 */
export async function listEnvVars(
  ctx: PlatformContext,
  owner: EnvOwner,
  filter: EnvListFilter = {},
): Promise<EnvVarView[]> {
  const rows = await ownerRows(ctx.db, owner).selectAll().orderBy("key").execute();
  const scope = filter.scope === "post_processing" ? "post-processing" : filter.scope;
  const views = await view(
    ctx,
    rows.filter((r) => scope === undefined || (JSON.parse(r.scopes) as Scope[]).includes(scope)),
  );
  const contextName = filter.contextName;
  if (contextName === undefined) return views;
  return views
    .map((v) => ({ ...v, values: v.values.filter((value) => appliesTo(value, contextName)) }))
    .filter((v) => v.values.length > 0);
}

async function findRow(
  db: Kysely<PlatformDatabase>,
  owner: EnvOwner,
  key: string,
): Promise<EnvVar | undefined> {
  return ownerRows(db, owner).selectAll().where("key", "=", key).executeTakeFirst();
}

function notFoundVar(key: string, owner: EnvOwner): PlatformError {
  const where = owner.site === null ? `account ${owner.account.slug}` : `site ${owner.site.name}`;
  return new PlatformError(
    "not_found",
    `Environment variable ${JSON.stringify(key.slice(0, 255))} not found in ${where}`,
  );
}

export async function getEnvVar(
  ctx: PlatformContext,
  owner: EnvOwner,
  key: string,
): Promise<EnvVarView> {
  const row = await findRow(ctx.db, owner, key);
  if (!row) throw notFoundVar(key, owner);
  return (await view(ctx, [row]))[0]!;
}

function checkKey(field: string, key: string): string {
  if (!KEY.test(key)) {
    throw invalidField(
      field,
      `${JSON.stringify(key.slice(0, 80))} is not a valid environment variable name (letters, digits and _, not starting with a digit)`,
    );
  }
  return key;
}

function checkScopes(field: string, scopes: Scope[] | undefined, secret: boolean): Scope[] {
  if (scopes === undefined) return SCOPES.filter((s) => !(secret && s === "post-processing"));
  if (scopes.length === 0) {
    throw invalidField(field, `must name at least one of ${SCOPES.join(", ")}`);
  }
  if (secret && scopes.includes("post-processing")) {
    throw invalidField(field, "a secret variable cannot be used in the post-processing scope");
  }
  return SCOPES.filter((s) => scopes.includes(s));
}

/** `context_parameter` names the branch of a `branch` value, and only that. */
function checkContextParameter(
  field: string,
  context: ValueContext,
  parameter: string | undefined,
): string | undefined {
  const given = parameter === undefined || parameter === "" ? undefined : parameter;
  if (context === "branch") {
    if (given === undefined) {
      throw invalidField(field, 'is required with context "branch": the branch name');
    }
    return checkBranch(field, given);
  }
  if (given !== undefined) {
    throw invalidField(field, `is only for context "branch" (this value's context is ${context})`);
  }
  return undefined;
}

/**
 * The values of a create or update, checked: a context (default `all`), a branch for `branch`
 * values, one value per context, no NUL (a build's environment cannot carry one). A value sent
 * without `value` but with the `id` of a current value keeps that value (clients send back
 * what they read, and a secret's values are not readable).
 */
function checkValues(
  field: string,
  input: EnvValueInput[] | undefined,
  current: readonly StoredValue[],
): StoredValue[] {
  const seen = new Set<string>();
  return (input ?? []).map((v, i) => {
    const f = `${field}.${i}`;
    const context = v.context ?? "all";
    const parameter = checkContextParameter(`${f}.context_parameter`, context, v.context_parameter);
    const slot = `${context}\0${parameter ?? ""}`;
    if (seen.has(slot)) {
      throw invalidField(
        `${f}.context`,
        `a second value for context ${context}${parameter === undefined ? "" : ` ${parameter}`}; send one value per context`,
      );
    }
    seen.add(slot);
    const kept = v.id === undefined ? undefined : current.find((c) => c.id === v.id);
    let value = v.value;
    if (value === undefined) {
      if (kept === undefined) throw invalidField(`${f}.value`, "is required");
      // A kept value stays in its own context: moving a secret's masked production value to
      // the readable `dev` context would reveal it.
      if (kept.context !== context || kept.context_parameter !== parameter) {
        throw invalidField(`${f}.value`, "is required to move a value to another context");
      }
      value = kept.value;
    }
    if (value.includes("\0")) throw invalidField(`${f}.value`, "must not contain NUL characters");
    return {
      id: kept?.id ?? uuid(),
      value,
      context,
      ...(parameter === undefined ? {} : { context_parameter: parameter }),
    };
  });
}

function sealValues(ctx: PlatformContext, id: string, values: StoredValue[]): string {
  return ctx.secrets.seal(JSON.stringify(values), sealContext(id));
}

function conflict(key: string, owner: EnvOwner): PlatformError {
  return new PlatformError(
    "conflict",
    `Environment variable ${key} already exists in ${owner.site === null ? `account ${owner.account.slug}` : `site ${owner.site.name}`}; change it with PUT or PATCH /api/v1/accounts/${owner.account.slug}/env/${key}${owner.site === null ? "" : `?site_id=${owner.site.id}`}`,
  );
}

/** `createEnvVars`: every variable is checked, then all are stored at once, or none. */
export async function createEnvVars(
  ctx: PlatformContext,
  actor: Actor,
  owner: EnvOwner,
  body: EnvVarInput[],
): Promise<EnvVarView[]> {
  const now = isoNow(ctx);
  const keys = new Set<string>();
  const rows: EnvVar[] = body.map((input, i) => {
    if (input.key === undefined) throw invalidField(`${i}.key`, "is required");
    const key = checkKey(`${i}.key`, input.key);
    if (keys.has(key)) throw invalidField(`${i}.key`, `${key} appears twice in the request`);
    keys.add(key);
    const secret = input.is_secret === true;
    const id = objectId();
    return {
      id,
      account_id: owner.account.id,
      site_id: owner.site?.id ?? null,
      key,
      scopes: JSON.stringify(checkScopes(`${i}.scopes`, input.scopes, secret)),
      is_secret: secret ? 1 : 0,
      values_sealed: sealValues(ctx, id, checkValues(`${i}.values`, input.values, [])),
      updated_by: actor.user.id,
      created_at: now,
      updated_at: now,
    };
  });
  try {
    await ctx.db.transaction().execute(async (trx) => {
      const { n } = await ownerRows(trx, owner)
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      if (Number(n) + rows.length > MAX_VARS_PER_OWNER) {
        throw new PlatformError(
          "unprocessable",
          `At most ${MAX_VARS_PER_OWNER} environment variables per account or site`,
        );
      }
      for (const row of rows) {
        if (await findRow(trx, owner, row.key)) throw conflict(row.key, owner);
        await trx.insertInto("env_vars").values(row).execute();
        await auditEnv(trx, owner, "env.create", row.key, ["key", "scopes", "is_secret", "values"]);
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(rows.map((r) => r.key).join(", "), owner);
    throw error;
  }
  return view(ctx, rows);
}

/**
 * `updateEnvVar` (PUT): the variable's scopes, values and secrecy are replaced by what is sent
 * (scopes default to all, as on create); `key` renames it.
 */
export async function updateEnvVar(
  ctx: PlatformContext,
  actor: Actor,
  owner: EnvOwner,
  key: string,
  input: EnvVarInput,
): Promise<EnvVarView> {
  const now = isoNow(ctx);
  try {
    const updated = await ctx.db.transaction().execute(async (trx) => {
      const row = await findRow(trx, owner, key);
      if (!row) throw notFoundVar(key, owner);
      const newKey = input.key === undefined ? row.key : checkKey("key", input.key);
      if (newKey !== row.key && (await findRow(trx, owner, newKey))) throw conflict(newKey, owner);
      const secret = input.is_secret ?? row.is_secret === 1;
      if (row.is_secret === 1 && !secret) {
        throw invalidField(
          "is_secret",
          "a secret variable cannot become readable again; delete it and create it anew",
        );
      }
      const values = checkValues("values", input.values, openValues(ctx, row));
      await auditEnv(trx, owner, "env.update", row.key, Object.keys(input));
      return trx
        .updateTable("env_vars")
        .set({
          key: newKey,
          scopes: JSON.stringify(checkScopes("scopes", input.scopes, secret)),
          is_secret: secret ? 1 : 0,
          values_sealed: sealValues(ctx, row.id, values),
          updated_by: actor.user.id,
          updated_at: now,
        })
        .where("id", "=", row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    return (await view(ctx, [updated]))[0]!;
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(input.key ?? key, owner);
    throw error;
  }
}

/** `setEnvVarValue` (PATCH): sets the value of one context, adding it or replacing it. */
export async function setEnvVarValue(
  ctx: PlatformContext,
  actor: Actor,
  owner: EnvOwner,
  key: string,
  input: EnvValueChange,
): Promise<EnvVarView> {
  const parameter = checkContextParameter(
    "context_parameter",
    input.context,
    input.context_parameter,
  );
  if (input.value.includes("\0")) throw invalidField("value", "must not contain NUL characters");
  const updated = await ctx.db.transaction().execute(async (trx) => {
    const row = await findRow(trx, owner, key);
    if (!row) throw notFoundVar(key, owner);
    const values = openValues(ctx, row);
    const same = (v: StoredValue): boolean =>
      v.context === input.context && v.context_parameter === parameter;
    const existing = values.find(same);
    const next: StoredValue = {
      id: existing?.id ?? uuid(),
      value: input.value,
      context: input.context,
      ...(parameter === undefined ? {} : { context_parameter: parameter }),
    };
    const merged = existing ? values.map((v) => (same(v) ? next : v)) : [...values, next];
    await auditEnv(trx, owner, "env.update", row.key, [`values.${input.context}`]);
    return trx
      .updateTable("env_vars")
      .set({
        values_sealed: sealValues(ctx, row.id, merged),
        updated_by: actor.user.id,
        updated_at: isoNow(ctx),
      })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  return (await view(ctx, [updated]))[0]!;
}

export async function deleteEnvVar(
  ctx: PlatformContext,
  owner: EnvOwner,
  key: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const result = await ownerRowsDelete(trx, owner).where("key", "=", key).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFoundVar(key, owner);
    await auditEnv(trx, owner, "env.delete", key, []);
  });
}

/** An audit event for a change to the variable `key` (names of fields only, never values). */
function auditEnv(
  trx: Kysely<PlatformDatabase>,
  owner: EnvOwner,
  action: AuditAction,
  key: string,
  fields: readonly string[],
): Promise<void> {
  return recordAudit(trx, {
    action,
    accountId: owner.account.id,
    target: { type: owner.site === null ? "account_env" : "site_env", id: key, name: key },
    fields,
  });
}

function ownerRowsDelete(db: Kysely<PlatformDatabase>, owner: EnvOwner) {
  const base = db.deleteFrom("env_vars").where("account_id", "=", owner.account.id);
  return owner.site === null
    ? base.where("site_id", "is", null)
    : base.where("site_id", "=", owner.site.id);
}

/** `deleteEnvVarValue`: removes one value by its id; the variable stays (maybe valueless). */
export async function deleteEnvVarValue(
  ctx: PlatformContext,
  actor: Actor,
  owner: EnvOwner,
  key: string,
  valueId: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = await findRow(trx, owner, key);
    if (!row) throw notFoundVar(key, owner);
    const values = openValues(ctx, row);
    const rest = values.filter((v) => v.id !== valueId);
    if (rest.length === values.length) {
      throw new PlatformError(
        "not_found",
        `Environment variable ${key} has no value with id ${JSON.stringify(valueId.slice(0, 100))}`,
      );
    }
    await auditEnv(trx, owner, "env.update", row.key, ["values"]);
    await trx
      .updateTable("env_vars")
      .set({
        values_sealed: sealValues(ctx, row.id, rest),
        updated_by: actor.user.id,
        updated_at: isoNow(ctx),
      })
      .where("id", "=", row.id)
      .execute();
  });
}

/**
 * The value of a variable for a build: the branch's own value, else the context's, else `all`.
 */
function valueForBuild(
  values: readonly StoredValue[],
  context: string,
  branch: string,
): string | undefined {
  return (
    values.find((v) => v.context === "branch" && v.context_parameter === branch) ??
    values.find((v) => v.context === context) ??
    values.find((v) => v.context === "all")
  )?.value;
}

/**
 * The environment variables a build of `site` sees in `context` (`production`, `deploy-preview`
 * or `branch-deploy`) on `branch`: the site's legacy
 * `repo.env`, then the account's variables in the `builds` scope, then the site's own (each
 * later source wins, as a site's variable overrides its account's on Netlify). Secret values
 * are included: builds are what they are for.
 */
export async function buildEnvVars(
  ctx: PlatformContext,
  site: Site,
  context: string,
  branch: string,
): Promise<Record<string, string>> {
  const rows = await ctx.db
    .selectFrom("env_vars")
    .selectAll()
    .where("account_id", "=", site.account_id)
    .where((eb) => eb.or([eb("site_id", "is", null), eb("site_id", "=", site.id)]))
    .execute();
  // Account variables first, so that the site's own override them.
  rows.sort((a, b) => Number(a.site_id !== null) - Number(b.site_id !== null));
  const env: Record<string, string> = { ...readEnv(ctx, site) };
  for (const row of rows) {
    if (!(JSON.parse(row.scopes) as Scope[]).includes("builds")) continue;
    const value = valueForBuild(openValues(ctx, row), context, branch);
    if (value !== undefined) env[row.key] = value;
  }
  return env;
}
