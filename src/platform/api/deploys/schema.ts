import { Type, type Static } from "typebox";

export const DeployParams = Type.Object({ deploy_id: Type.String({ maxLength: 100 }) });
export type DeployParams = Static<typeof DeployParams>;

export const SiteDeployParams = Type.Object({
  site_id: Type.String({ maxLength: 255 }),
  deploy_id: Type.String({ maxLength: 100 }),
});
export type SiteDeployParams = Static<typeof SiteDeployParams>;

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
