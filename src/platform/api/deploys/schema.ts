import { Type, type Static } from "typebox";
import type { DeployBody } from "../../deploys/deploys.ts";
import { invalidField } from "../../errors.ts";

export const DeployParams = Type.Object({ deploy_id: Type.String({ maxLength: 100 }) });
export type DeployParams = Static<typeof DeployParams>;

export const SiteDeployParams = Type.Object({
  site_id: Type.String({ maxLength: 255 }),
  deploy_id: Type.String({ maxLength: 100 }),
});
export type SiteDeployParams = Static<typeof SiteDeployParams>;

export const DeployFunctionParams = Type.Object({
  deploy_id: Type.String({ maxLength: 100 }),
  name: Type.String({ maxLength: 255 }),
});
export type DeployFunctionParams = Static<typeof DeployFunctionParams>;

export const DEPLOY_STATES = [
  "new",
  "pending_review",
  "accepted",
  "rejected",
  "enqueued",
  "building",
  "uploading",
  "uploaded",
  "preparing",
  "prepared",
  "processing",
  "processed",
  "ready",
  "error",
  "retrying",
  "skipped",
] as const;

/** Netlify's listSiteDeploys query (`deploy-previews` is accepted; Slipway has none). */
export const ListDeploysQuery = Type.Object({
  state: Type.Optional(Type.Enum([...DEPLOY_STATES])),
  branch: Type.Optional(Type.String({ maxLength: 255 })),
  production: Type.Optional(Type.Boolean()),
  "deploy-previews": Type.Optional(Type.Boolean()),
  "latest-published": Type.Optional(Type.Boolean()),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type ListDeploysQuery = Static<typeof ListDeploysQuery>;

/**
 * createSiteDeploy's query: Netlify's `title` and `branch`, and (Slipway's addition, for zip
 * bodies that cannot carry JSON fields) `draft`. The list filters are accepted and ignored.
 */
export const CreateDeployQuery = Type.Object({
  title: Type.Optional(Type.String({ maxLength: 1000 })),
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  draft: Type.Optional(Type.Boolean()),
});
export type CreateDeployQuery = Static<typeof CreateDeployQuery>;

export const UpdateDeployQuery = Type.Object({
  commit_ref: Type.Optional(Type.String({ maxLength: 255 })),
  title: Type.Optional(Type.String({ maxLength: 1000 })),
});
export type UpdateDeployQuery = Static<typeof UpdateDeployQuery>;

export const UploadFileQuery = Type.Object({
  size: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type UploadFileQuery = Static<typeof UploadFileQuery>;

export const UploadFunctionQuery = Type.Object({
  runtime: Type.Optional(Type.String({ maxLength: 64 })),
  invocation_mode: Type.Optional(Type.String({ maxLength: 64 })),
  timeout: Type.Optional(Type.Integer({ minimum: 0 })),
  size: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type UploadFunctionQuery = Static<typeof UploadFunctionQuery>;

function optional<T>(
  body: Record<string, unknown>,
  field: string,
  type: "boolean" | "string",
  max = 1000,
): T | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) {
    throw invalidField(field, `must be ${type === "boolean" ? "true or false" : "a string"}`);
  }
  if (typeof value === "string" && value.length > max) {
    throw invalidField(field, `must be at most ${max} characters`);
  }
  return value as T;
}

export function readDeployBody(body: unknown): DeployBody {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw invalidField("body", "must be a JSON object (Netlify's deployFiles)");
  }
  const record = body as Record<string, unknown>;
  const out: DeployBody = {};
  if (record.files !== undefined && record.files !== null) out.files = record.files;
  if (record.functions !== undefined && record.functions !== null) {
    out.functions = record.functions;
  }
  const draft = optional<boolean>(record, "draft", "boolean");
  if (draft !== undefined) out.draft = draft;
  const async = optional<boolean>(record, "async", "boolean");
  if (async !== undefined) out.async = async;
  const branch = optional<string>(record, "branch", "string", 255);
  if (branch !== undefined && branch !== "") out.branch = branch;
  const title = optional<string>(record, "title", "string");
  if (title !== undefined) out.title = title;
  const source = optional<string>(record, "deploy_source", "string", 64);
  if (source !== undefined && /^[a-z0-9_-]{1,64}$/i.test(source)) out.deploySource = source;
  return out;
}
