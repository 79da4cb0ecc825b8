/**
 * Netlify's deploy notification events that Slipway emits, and its hook types. Left out:
 * `deploy_request_rejected` (Slipway has no rejection; a closed pull request supersedes the
 * waiting deploy) and the "previously failed/successful" variants and `deploy_restored`, whose
 * API names Netlify does not document.
 */
export const DEPLOY_EVENTS = [
  "deploy_created",
  "deploy_building",
  "deploy_failed",
  "deploy_succeeded",
  "deploy_locked",
  "deploy_unlocked",
  "deploy_deleted",
  "deploy_request_pending",
  "deploy_request_accepted",
] as const;

export type DeployEvent = (typeof DEPLOY_EVENTS)[number];

export const isDeployEvent = (value: string): value is DeployEvent =>
  (DEPLOY_EVENTS as readonly string[]).includes(value);

export const HOOK_TYPES = ["url", "slack", "email"] as const;
export type HookType = (typeof HOOK_TYPES)[number];

export const isHookType = (value: string): value is HookType =>
  (HOOK_TYPES as readonly string[]).includes(value);

export interface HookField {
  name: string;
  title: string;
  type: "string";
  /** Slipway: whether the hook may leave it out. */
  optional?: boolean;
  /** Slipway: never shown again once saved. */
  secret?: boolean;
}

/** Netlify's `hookType` list (`GET /hooks/types`). */
export const HOOK_TYPE_FIELDS: Readonly<Record<HookType, readonly HookField[]>> = {
  url: [
    { name: "url", title: "URL to notify", type: "string" },
    {
      name: "signature_secret",
      title: "JWS secret token",
      type: "string",
      optional: true,
      secret: true,
    },
  ],
  slack: [{ name: "url", title: "Slack incoming webhook URL", type: "string", secret: true }],
  email: [{ name: "email", title: "Email to notify", type: "string" }],
};

/** How a person reads the event ("Deploy succeeded"). */
export const EVENT_TITLES: Readonly<Record<DeployEvent, string>> = {
  deploy_created: "Deploy created",
  deploy_building: "Deploy started",
  deploy_failed: "Deploy failed",
  deploy_succeeded: "Deploy succeeded",
  deploy_locked: "Deploy locked",
  deploy_unlocked: "Deploy unlocked",
  deploy_deleted: "Deploy deleted",
  deploy_request_pending: "Deploy request pending",
  deploy_request_accepted: "Deploy request accepted",
};
