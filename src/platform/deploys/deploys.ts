import { open, rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import { objectId, OBJECT_ID } from "../../lib/ids.ts";
import type { Actor } from "../accounts/tokens.ts";
import { recordAudit } from "../audit/record.ts";
import { deployContext } from "./context.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import { notifyDeployEvent } from "../notifications/notify.ts";
import type { Deploy, DeployState, Site } from "../db/schema.ts";
import { DECLARABLE_STATES, type DeployServices } from "./digest.ts";
import { declareContent } from "./digest-declare.ts";
import { completeDeploy, DEPLOY_QUEUE, deployJobKey } from "./digest-finish.ts";
import { parseFilesMap, parseFunctionsMap } from "./digest-maps.ts";
import { tempPath } from "./durable-files.ts";
import { manifestBlobs, recordBlobOwnership } from "./ownership.ts";
import { previousPublishedDeploy, restoreDeploy as publishExplicitly } from "./publish-switch.ts";
import { chunksOf } from "./verified-upload.ts";
import { extractZip, ZipError } from "./zip.ts";
import { invalidField, notFound, PlatformError } from "../errors.ts";
import { authorize, type Ability } from "../accounts/policies.ts";
import { checkBranch } from "../sites/repo-settings.ts";
import { assertStorageQuota } from "../quotas/quotas.ts";

/**
 * Deploys for the API: loading (another account's deploy is "Deploy not found"), direct deploys
 * (Netlify's digest protocol and zip bodies; the state machine is `deploys/digest.ts`), and
 * what a member does with deploys — restore, rollback, lock, cancel, delete.
 */

/**
 * Netlify's `deployFiles` (the createSiteDeploy / updateSiteDeploy body), read by hand rather
 * than by the route schema: the same route also takes zip bodies, and a `files` map may hold
 * tens of thousands of entries that the service checks (count first) with messages naming the
 * path. Unknown fields (`include_upload_url`, `framework`, `build_version`, `functions_config`,
 * `edge_functions`…) are accepted and ignored.
 */
export interface DeployBody {
  files?: unknown;
  functions?: unknown;
  draft?: boolean;
  async?: boolean;
  branch?: string;
  title?: string;
  deploySource?: string;
}

/** Largest zip body accepted (its expanded size is limited separately). */
export const MAX_ZIP_BYTES = 512 * 1024 * 1024;

const refused = (message: string): PlatformError => new PlatformError("unprocessable", message);

export async function findDeploy(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  ability: Ability = "read",
): Promise<{ deploy: Deploy; site: Site }> {
  const key = id.toLowerCase();
  if (!OBJECT_ID.test(key)) throw notFound("Deploy");
  const deploy = await ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", key)
    .executeTakeFirst();
  if (!deploy) throw notFound("Deploy");
  return { deploy, site: await siteOfDeploy(ctx, actor, deploy, ability) };
}

/** What an upload needs of its deploy: not the `required` lists (430 KB for 10,000 files). */
export type UploadTarget = Pick<Deploy, "id" | "site_id" | "build_id" | "state" | "error_message">;

/** `findDeploy` for the uploads of a digest deploy, each of which reads its deploy. */
export async function findUploadTarget(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
): Promise<{ deploy: UploadTarget; site: Site }> {
  const key = id.toLowerCase();
  if (!OBJECT_ID.test(key)) throw notFound("Deploy");
  const deploy = await ctx.db
    .selectFrom("deploys")
    .select(["id", "site_id", "build_id", "state", "error_message"])
    .where("id", "=", key)
    .executeTakeFirst();
  if (!deploy) throw notFound("Deploy");
  return { deploy, site: await siteOfDeploy(ctx, actor, deploy, "update") };
}

async function siteOfDeploy(
  ctx: PlatformContext,
  actor: Actor,
  deploy: Pick<Deploy, "site_id">,
  ability: Ability,
): Promise<Site> {
  const site = await ctx.db
    .selectFrom("sites")
    .selectAll()
    .where("id", "=", deploy.site_id)
    .executeTakeFirst();
  if (!site) throw notFound("Deploy");
  authorize(actor, ability, site, "Deploy");
  return site;
}

/** A deploy that must belong to the given site (by id or name), as `/sites/:site_id/deploys/:id`. */
export async function findSiteDeploy(
  ctx: PlatformContext,
  actor: Actor,
  site: Site,
  deployId: string,
  ability: Ability = "read",
): Promise<Deploy> {
  const { deploy } = await findDeploy(ctx, actor, deployId, ability);
  if (deploy.site_id !== site.id) throw notFound("Deploy");
  return deploy;
}

export interface DeployListQuery {
  state?: DeployState;
  branch?: string;
  production?: boolean;
  latestPublished?: boolean;
  offset: number;
  limit: number;
}

export async function listSiteDeploys(
  ctx: PlatformContext,
  site: Site,
  query: DeployListQuery,
): Promise<{ deploys: Deploy[]; total: number }> {
  let base = ctx.db.selectFrom("deploys").where("site_id", "=", site.id);
  if (query.state !== undefined) base = base.where("state", "=", query.state);
  if (query.branch !== undefined) base = base.where("branch", "=", query.branch);
  if (query.production === true) base = base.where("context", "=", "production");
  if (query.production === false) base = base.where("context", "!=", "production");
  if (query.latestPublished === true) {
    base = base.where("id", "=", site.published_deploy_id ?? "");
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const deploys = await base
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  return { deploys, total: Number(n) };
}

export interface NewDeployOptions {
  draft: boolean;
  branch?: string;
  title?: string;
  deploySource: string;
}

/**
 * Draft, production or branch deploy — decided here, at creation, once: netlify-cli creates a
 * draft with `draft: true` and then sends `draft: false` when it declares the files.
 */
function newDeployRow(site: Site, options: NewDeployOptions, now: string): Deploy {
  const branch = options.branch === undefined ? null : checkBranch("branch", options.branch);
  const context = options.draft
    ? "deploy-preview"
    : branch === null
      ? "production"
      : deployContext(site, branch);
  return {
    id: objectId(),
    site_id: site.id,
    build_id: null,
    state: "new",
    context,
    branch,
    commit_ref: null,
    title: options.title ?? null,
    draft: options.draft ? 1 : 0,
    locked: 0,
    error_message: null,
    required: "[]",
    file_count: null,
    size_bytes: null,
    deploy_source: options.deploySource,
    required_functions: "[]",
    warnings: "[]",
    review_id: null,
    review_url: null,
    review_state: null,
    approved_by: null,
    commit_url: null,
    committer: null,
    created_at: now,
    updated_at: now,
    published_at: null,
    expired_at: null,
    summary: null,
  };
}

function declarationOf(body: DeployBody) {
  return {
    files: body.files === undefined ? undefined : parseFilesMap(body.files),
    functions: body.functions === undefined ? undefined : parseFunctionsMap(body.functions),
  };
}

/** `POST /sites/:site_id/deploys` with a JSON body: a new direct deploy, maybe with its files. */
export async function createDirectDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  body: DeployBody,
  query: { title?: string; branch?: string; draft?: boolean },
): Promise<Deploy> {
  const { files, functions } = declarationOf(body);
  await assertStorageQuota(ctx, site.account_id);
  const branch = body.branch ?? query.branch;
  const title = body.title ?? query.title;
  const row = newDeployRow(
    site,
    {
      draft: body.draft ?? query.draft ?? false,
      ...(branch !== undefined ? { branch } : {}),
      ...(title !== undefined ? { title } : {}),
      deploySource: body.deploySource ?? "api",
    },
    isoNow(ctx),
  );
  await ctx.db.insertInto("deploys").values(row).execute();
  await notifyDeployEvent(ctx, undefined, row.id, "deploy_created");
  ctx.log.info(
    { siteId: site.id, deployId: row.id, context: row.context, draft: row.draft === 1 },
    "direct deploy created",
  );
  if (files === undefined && functions === undefined) return row;
  return declareContent(ctx, services, site, row.id, {
    files: files ?? new Map(),
    ...(functions !== undefined ? { functions } : {}),
    ...(body.async !== undefined ? { async: body.async } : {}),
  });
}

/**
 * `PUT /sites/:site_id/deploys/:deploy_id`: declares the files (and functions). `draft` is
 * ignored here (decided at creation); `title` and `commit_ref` may be set.
 */
export async function updateDirectDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deploy: Deploy,
  body: DeployBody,
  query: { commit_ref?: string; title?: string },
): Promise<Deploy> {
  if (deploy.build_id !== null) {
    throw refused(
      `deploy ${deploy.id} was made by a build; only deploys created with POST /api/v1/sites/:site_id/deploys take files`,
    );
  }
  if (!DECLARABLE_STATES.includes(deploy.state)) {
    throw refused(
      `deploy ${deploy.id} is ${deploy.state} and no longer takes a list of files; create a new deploy`,
    );
  }
  const { files, functions } = declarationOf(body);
  if (files !== undefined) await assertStorageQuota(ctx, site.account_id);
  const title = body.title ?? query.title;
  if (title !== undefined || query.commit_ref !== undefined) {
    await ctx.db
      .updateTable("deploys")
      .set({
        ...(title !== undefined ? { title } : {}),
        ...(query.commit_ref !== undefined ? { commit_ref: query.commit_ref } : {}),
        updated_at: isoNow(ctx),
      })
      .where("id", "=", deploy.id)
      .execute();
  }
  if (files === undefined && functions === undefined) {
    return ctx.db
      .selectFrom("deploys")
      .selectAll()
      .where("id", "=", deploy.id)
      .executeTakeFirstOrThrow();
  }
  return declareContent(ctx, services, site, deploy.id, {
    files: files ?? new Map(),
    ...(functions !== undefined ? { functions } : {}),
    ...(body.async !== undefined ? { async: body.async } : {}),
  });
}

/** Copies a request body to a temp file, refusing more than `MAX_ZIP_BYTES`. */
export async function spoolZip(services: DeployServices, body: Readable): Promise<string> {
  const path = tempPath(services.uploadDir, "zip");
  const handle = await open(path, "wx", 0o600);
  let size = 0;
  try {
    for await (const chunk of chunksOf(body)) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > MAX_ZIP_BYTES) {
        throw invalidField(
          "zip",
          `the zip is larger than ${MAX_ZIP_BYTES / (1024 * 1024)} MiB (the limit); deploy fewer files at once, or use the file digest protocol`,
        );
      }
      await handle.write(bytes);
    }
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  return path;
}

/**
 * A zip deploy: the archive is checked and its files stored first; only then does the deploy
 * exist (`processing`, with its manifest and finishing job), so a refused or interrupted zip
 * leaves no half-published deploy. It is finished (ready, published when it may be) before
 * the answer.
 */
export async function createZipDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  zipPath: string,
  options: Omit<NewDeployOptions, "deploySource">,
): Promise<Deploy> {
  const row = newDeployRow(site, { ...options, deploySource: "zip" }, isoNow(ctx));
  let extracted;
  try {
    extracted = await extractZip(zipPath, { blobs: services.blobs, tmpDir: services.uploadDir });
  } catch (error) {
    if (error instanceof ZipError) throw invalidField("zip", error.message);
    throw error;
  }
  const { manifest, stats } = extracted;
  // Its blobs are stored already; refused, they are the collector's (storage/gc.ts).
  await assertStorageQuota(ctx, site.account_id, stats.totalBytes);
  await services.manifests.put(row.id, manifest);
  const now = isoNow(ctx);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto("deploys")
      .values({
        ...row,
        state: "processing",
        file_count: stats.files,
        size_bytes: stats.totalBytes,
        updated_at: now,
      })
      .execute();
    await recordBlobOwnership(trx, site.account_id, manifestBlobs(manifest), now);
    await ctx.jobs.enqueue(
      { queue: DEPLOY_QUEUE, payload: { deployId: row.id }, dedupeKey: deployJobKey(row.id) },
      trx,
    );
  });
  ctx.log.info(
    { siteId: site.id, deployId: row.id, files: stats.files, newBlobs: stats.newBlobs },
    "zip deploy stored",
  );
  if (services.finishInline !== false) await completeDeploy(ctx, services, row.id);
  return ctx.db
    .selectFrom("deploys")
    .selectAll()
    .where("id", "=", row.id)
    .executeTakeFirstOrThrow();
}

/**
 * `POST /deploys/:id/cancel`: a deploy that is not finished ends in `error` ("Cancelled"); a
 * build's deploy cancels its build. A ready deploy cannot be cancelled; an already failed one
 * is returned as it is.
 */
/**
 * Deletes a deploy that is not the site's published one (its manifest too; blobs stay for a
 * later collection). A deploy whose build is still running must be cancelled first.
 */
export async function deleteDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  deploy: Deploy,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const site = await trx
      .updateTable("sites")
      .set((eb) => ({ state: eb.ref("state") }))
      .where("id", "=", deploy.site_id)
      .returning(["published_deploy_id"])
      .executeTakeFirst();
    if (site?.published_deploy_id === deploy.id) {
      throw refused(
        `deploy ${deploy.id} is the site's published deploy and cannot be deleted; publish another deploy first (restore or rollback)`,
      );
    }
    if (deploy.build_id !== null) {
      const build = await trx
        .selectFrom("builds")
        .select("state")
        .where("id", "=", deploy.build_id)
        .executeTakeFirst();
      if (build && (build.state === "enqueued" || build.state === "building")) {
        throw refused(
          `deploy ${deploy.id} belongs to build ${deploy.build_id}, which is still ${build.state}; cancel it first (POST /api/v1/deploys/${deploy.id}/cancel)`,
        );
      }
    }
    await notifyDeployEvent(ctx, trx, deploy.id, "deploy_deleted");
    await trx.deleteFrom("deploys").where("id", "=", deploy.id).execute();
  });
  await services.manifests.delete(deploy.id);
}

/** `POST /deploys/:id/lock` / `unlock`. Unlocking publishes nothing: the next deploy does. */
export async function setDeployLock(
  ctx: PlatformContext,
  deploy: Deploy,
  locked: boolean,
): Promise<Deploy> {
  return ctx.db.transaction().execute(async (trx) => {
    const site = await trx
      .selectFrom("sites")
      .select(["account_id", "name"])
      .where("id", "=", deploy.site_id)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, {
      action: locked ? "deploy.lock" : "deploy.unlock",
      accountId: site.account_id,
      target: { type: "deploy", id: deploy.id, name: site.name },
      fields: ["locked"],
    });
    const updated = await trx
      .updateTable("deploys")
      .set({ locked: locked ? 1 : 0, updated_at: isoNow(ctx) })
      .where("id", "=", deploy.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await notifyDeployEvent(ctx, trx, deploy.id, locked ? "deploy_locked" : "deploy_unlocked");
    return updated;
  });
}

/**
 * `POST /sites/:site_id/deploys/:deploy_id/restore`: publishes a ready deploy now (rollback or
 * roll-forward; no rebuild). Drafts and branch deploys too: this is an explicit request, as on
 * Netlify. A deploy that is not ready is refused.
 */
export async function restoreSiteDeploy(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
  deploy: Deploy,
): Promise<Deploy> {
  const outcome = await publishExplicitly(ctx, site.id, deploy.id);
  if (!outcome.ok) {
    const message = `cannot publish deploy ${deploy.id}: ${outcome.reason}`;
    throw outcome.expired ? new PlatformError("gone", message) : refused(message);
  }
  services.onPublished?.(site.name);
  ctx.log.info({ siteId: site.id, deployId: deploy.id }, "deploy restored");
  return outcome.deploy;
}

/** `PUT /sites/:site_id/rollback`: publishes the deploy published before the current one. */
export async function rollbackSite(
  ctx: PlatformContext,
  services: DeployServices,
  site: Site,
): Promise<Deploy> {
  const previous = await previousPublishedDeploy(ctx, site);
  if (!previous) {
    throw refused(
      "there is no earlier published deploy to roll back to; restore a specific deploy with POST /api/v1/sites/:site_id/deploys/:deploy_id/restore",
    );
  }
  return restoreSiteDeploy(ctx, services, site, previous);
}

/** Each branch's newest ready (non-draft) deploy: what `{branch}--{site}` serves. */
export async function deployedBranches(
  ctx: PlatformContext,
  site: Site,
): Promise<{ branch: string; deployId: string }[]> {
  const rows = await ctx.db
    .selectFrom("deploys")
    .select(["id", "branch"])
    .where("site_id", "=", site.id)
    .where("state", "=", "ready")
    .where("draft", "=", 0)
    .where("branch", "is not", null)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(5000)
    .execute();
  const seen = new Map<string, string>();
  for (const row of rows) {
    if (row.branch !== null && !seen.has(row.branch)) seen.set(row.branch, row.id);
  }
  return [...seen].map(([branch, deployId]) => ({ branch, deployId }));
}
