import multipart from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { PlatformContext } from "../../context.ts";
import type { DeployServices } from "../../deploys/digest.ts";
import {
  acceptFileUpload,
  acceptFunctionUpload,
  MAX_FILE_BYTES,
  remainingUploads,
} from "../../deploys/digest-uploads.ts";
import { ManifestPathError, validateManifestPath } from "../../deploys/manifest.ts";
import { chunksOf } from "../../deploys/verified-upload.ts";
import { cancelDeploy } from "../../builds/service.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { invalidField } from "../../errors.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { SiteParams } from "../sites/schema.ts";
import { findSite } from "../../sites/sites.ts";
import { presentDeploy, presentDeployedBranch, presentFile, presentFunction } from "./presenter.ts";
import {
  CreateDeployQuery,
  DeployFunctionParams,
  DeployParams,
  ListDeploysQuery,
  readDeployBody,
  SiteDeployParams,
  UpdateDeployQuery,
  UploadFileQuery,
  UploadFunctionQuery,
} from "./schema.ts";
import {
  createDirectDeploy,
  createZipDeploy,
  deleteDeploy,
  deployedBranches,
  findDeploy,
  findSiteDeploy,
  findUploadTarget,
  listSiteDeploys,
  MAX_ZIP_BYTES,
  restoreSiteDeploy,
  rollbackSite,
  setDeployLock,
  spoolZip,
  updateDirectDeploy,
} from "../../deploys/deploys.ts";

/**
 * A `files` map of a 50,000-file deploy with long paths fits; a larger body (e.g. 100,000
 * entries) still arrives, so that it is refused with a 422 that says why, not a bare 413.
 */
const DECLARATION_BODY_LIMIT = 64 * 1024 * 1024;

export async function deployRoutes(
  app: PlatformApp,
  ctx: PlatformContext,
  services: DeployServices,
): Promise<void> {
  const present = async (deploy: Parameters<typeof presentDeploy>[1], siteName: string) =>
    presentDeploy(ctx.config, deploy, siteName, await remainingUploads(ctx, deploy));

  app.get(
    "/sites/:site_id/deploys",
    { schema: { params: SiteParams, querystring: ListDeploysQuery } },
    async (request, reply) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id);
      const page = readPage(request.query);
      const q = request.query;
      const { deploys, total } = await listSiteDeploys(ctx, site, {
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.branch !== undefined ? { branch: q.branch } : {}),
        ...(q.production !== undefined ? { production: q.production } : {}),
        ...(q["latest-published"] !== undefined ? { latestPublished: q["latest-published"] } : {}),
        offset: page.offset,
        limit: page.perPage,
      });
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      return deploys.map((d) => presentDeploy(ctx.config, d, site.name));
    },
  );

  app.get(
    "/sites/:site_id/deploys/:deploy_id",
    { schema: { params: SiteDeployParams } },
    async (request) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id);
      const deploy = await findSiteDeploy(ctx, actor, site, request.params.deploy_id);
      return present(deploy, site.name);
    },
  );

  app.get("/deploys/:deploy_id", { schema: { params: DeployParams } }, async (request) => {
    const { deploy, site } = await findDeploy(ctx, requireActor(request), request.params.deploy_id);
    return present(deploy, site.name);
  });

  app.post(
    "/deploys/:deploy_id/cancel",
    { schema: { params: DeployParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const { deploy, site } = await findDeploy(ctx, actor, request.params.deploy_id, "update");
      const cancelled = await cancelDeploy(ctx, actor, deploy);
      request.log.info({ deployId: deploy.id, state: cancelled.state }, "deploy cancel requested");
      return reply.code(201).send(presentDeploy(ctx.config, cancelled, site.name));
    },
  );

  for (const action of ["lock", "unlock"] as const) {
    app.post(
      `/deploys/:deploy_id/${action}`,
      { schema: { params: DeployParams } },
      async (request) => {
        const actor = requireActor(request);
        const { deploy, site } = await findDeploy(ctx, actor, request.params.deploy_id, "update");
        const updated = await setDeployLock(ctx, deploy, action === "lock");
        request.log.info({ deployId: deploy.id, action }, "deploy lock changed");
        return presentDeploy(ctx.config, updated, site.name);
      },
    );
  }

  app.post(
    "/sites/:site_id/deploys/:deploy_id/restore",
    { schema: { params: SiteDeployParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id, "update");
      const deploy = await findSiteDeploy(ctx, actor, site, request.params.deploy_id, "update");
      const restored = await restoreSiteDeploy(ctx, services, site, deploy);
      return reply.code(201).send(presentDeploy(ctx.config, restored, site.name));
    },
  );

  app.put(
    "/sites/:site_id/rollback",
    { schema: { params: SiteParams } },
    async (request, reply) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
      const published = await rollbackSite(ctx, services, site);
      request.log.info({ siteId: site.id, deployId: published.id }, "site rolled back");
      return reply.code(204).send();
    },
  );

  app.delete(
    "/sites/:site_id/deploys/:deploy_id",
    { schema: { params: SiteDeployParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id);
      const deploy = await findSiteDeploy(ctx, actor, site, request.params.deploy_id, "delete");
      await deleteDeploy(ctx, services, deploy);
      return reply.code(204).send();
    },
  );

  app.delete(
    "/deploys/:deploy_id",
    { schema: { params: DeployParams } },
    async (request, reply) => {
      const { deploy } = await findDeploy(
        ctx,
        requireActor(request),
        request.params.deploy_id,
        "delete",
      );
      await deleteDeploy(ctx, services, deploy);
      return reply.code(204).send();
    },
  );

  app.get(
    "/sites/:site_id/deployed-branches",
    { schema: { params: SiteParams } },
    async (request) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id);
      return (await deployedBranches(ctx, site)).map(({ branch, deployId }) =>
        presentDeployedBranch(ctx.config, site.id, site.name, branch, deployId),
      );
    },
  );

  // Creating and declaring: JSON (Netlify's deployFiles), or a zip as the raw body or as the
  // multipart field `zip`.
  await app.register(async (scope: PlatformApp) => {
    scope.addContentTypeParser("application/zip", (_request, payload, done) => {
      done(null, payload);
    });
    await scope.register(multipart, {
      limits: { files: 1, fileSize: MAX_ZIP_BYTES + 1, fields: 20, fieldSize: 4096 },
    });

    scope.post(
      "/sites/:site_id/deploys",
      {
        bodyLimit: DECLARATION_BODY_LIMIT,
        schema: { params: SiteParams, querystring: CreateDeployQuery },
      },
      async (request) => {
        const site = await findSite(ctx, requireActor(request), request.params.site_id, "update");
        const zip = await zipFromRequest(services, request);
        if (zip !== undefined) {
          try {
            const draft = zip.fields.draft ?? request.query.draft ?? false;
            const branch = zip.fields.branch ?? request.query.branch;
            const title = zip.fields.title ?? request.query.title;
            const deploy = await createZipDeploy(ctx, services, site, zip.path, {
              draft,
              ...(branch !== undefined ? { branch } : {}),
              ...(title !== undefined ? { title } : {}),
            });
            return presentDeploy(ctx.config, deploy, site.name);
          } finally {
            await rm(zip.path, { force: true });
          }
        }
        const deploy = await createDirectDeploy(
          ctx,
          services,
          site,
          readDeployBody(request.body),
          request.query,
        );
        return presentDeploy(ctx.config, deploy, site.name);
      },
    );

    scope.put(
      "/sites/:site_id/deploys/:deploy_id",
      {
        bodyLimit: DECLARATION_BODY_LIMIT,
        schema: { params: SiteDeployParams, querystring: UpdateDeployQuery },
      },
      async (request) => {
        const actor = requireActor(request);
        const site = await findSite(ctx, actor, request.params.site_id, "update");
        const deploy = await findSiteDeploy(ctx, actor, site, request.params.deploy_id, "update");
        const updated = await updateDirectDeploy(
          ctx,
          services,
          site,
          deploy,
          readDeployBody(request.body),
          request.query,
        );
        return presentDeploy(ctx.config, updated, site.name);
      },
    );
  });

  // Uploads: any body is the file's bytes, streamed (never buffered whole) into the store.
  await app.register(async (scope: PlatformApp) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => {
      done(null, payload);
    });

    scope.put(
      "/deploys/:deploy_id/files/*",
      { schema: { querystring: UploadFileQuery } },
      async (request) => {
        const params = request.params as { deploy_id: string };
        const { deploy, site } = await findUploadTarget(
          ctx,
          requireActor(request),
          params.deploy_id,
        );
        const path = uploadPath(request, params.deploy_id);
        if (request.query.size !== undefined && request.query.size > MAX_FILE_BYTES) {
          throw invalidField(
            "size",
            `${path} is over the per-file limit of ${MAX_FILE_BYTES} bytes`,
          );
        }
        const upload = await acceptFileUpload(ctx, services, site, deploy, path, bodyOf(request));
        return presentFile(upload);
      },
    );

    scope.put(
      "/deploys/:deploy_id/functions/:name",
      { schema: { params: DeployFunctionParams, querystring: UploadFunctionQuery } },
      async (request) => {
        const { deploy, site } = await findUploadTarget(
          ctx,
          requireActor(request),
          request.params.deploy_id,
        );
        const upload = await acceptFunctionUpload(
          ctx,
          services,
          site,
          deploy,
          request.params.name,
          request.query.runtime,
          bodyOf(request),
        );
        return presentFunction(upload);
      },
    );
  });
}

/** The request's body as chunks (an empty body is an empty file). */
function bodyOf(request: FastifyRequest): AsyncIterable<Buffer | string> {
  const body = request.body as Readable | undefined;
  return body === undefined ? (async function* () {})() : chunksOf(body);
}

/**
 * Everything after `/files/` in the request target, percent-decoded segment by segment (an
 * encoded `/` inside a name is refused), as netlify-cli encodes it with `encodeURI`.
 */
function uploadPath(request: FastifyRequest, deployId: string): string {
  const target = (request.raw.url ?? "").split("?", 1)[0] ?? "";
  const marker = `/deploys/${deployId}/files/`;
  const at = target.indexOf(marker);
  const encoded = at === -1 ? "" : target.slice(at + marker.length);
  try {
    return validateManifestPath(encoded, { urlEncoded: true });
  } catch (error) {
    if (error instanceof ManifestPathError) {
      throw invalidField("path", `the file path ${JSON.stringify(encoded)} ${error.reason}`);
    }
    throw error;
  }
}

interface ZipUpload {
  path: string;
  fields: { draft?: boolean; branch?: string; title?: string };
}

/** A zip body (raw or multipart `zip`) spooled to a temp file, or undefined for JSON. */
async function zipFromRequest(
  services: DeployServices,
  request: FastifyRequest,
): Promise<ZipUpload | undefined> {
  const type = (request.headers["content-type"] ?? "").toLowerCase();
  const length = Number(request.headers["content-length"]);
  if (type.startsWith("application/zip") || request.isMultipart()) {
    if (length > MAX_ZIP_BYTES + 64 * 1024) {
      throw invalidField("zip", `the zip is larger than ${MAX_ZIP_BYTES} bytes (the limit)`);
    }
  }
  if (type.startsWith("application/zip")) {
    return { path: await spoolZip(services, request.body as Readable), fields: {} };
  }
  if (!request.isMultipart()) return undefined;
  const fields: ZipUpload["fields"] = {};
  let path: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === "file") {
        if (part.fieldname === "zip" && path === undefined) {
          path = await spoolZip(services, part.file);
        } else {
          part.file.resume();
        }
        continue;
      }
      const value = String(part.value);
      if (part.fieldname === "draft") fields.draft = value === "true";
      if (part.fieldname === "branch" && value !== "") fields.branch = value;
      if (part.fieldname === "title") fields.title = value;
    }
  } catch (error) {
    if (path !== undefined) await rm(path, { force: true });
    throw error;
  }
  if (path === undefined) {
    throw invalidField("zip", "the multipart body has no file field named zip");
  }
  return { path, fields };
}
