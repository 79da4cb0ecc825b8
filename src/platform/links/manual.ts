import type { RepoProvider } from "../db/schema.ts";

/**
 * For a site linked without a connection, the provider's half is done by hand. These are the
 * exact steps in each provider's own terms — the seed thread's users put the key in their
 * profile's SSH keys instead of the repository's deploy keys, and never created the webhook.
 */

export interface ManualLinkInput {
  provider: RepoProvider | null;
  /** The repository's web page, when it can be derived from its URL. */
  repoWebUrl: string | null;
  publicKey: string | null;
  webhookUrl: string;
  secret: string;
}

export interface ManualSteps {
  provider: string;
  deploy_key: {
    public_key: string | null;
    where: string;
    not_here: string;
    read_only: string;
    api: string | null;
  };
  webhook: {
    url: string;
    secret: string;
    secret_field: string;
    events: string[];
    where: string;
    content_type: string | null;
    api: string | null;
  };
  steps: string[];
}

interface ProviderGuide {
  name: string;
  keyWhere: (web: string) => string;
  keyNotHere: string;
  readOnly: string;
  keyApi: string | null;
  hookWhere: (web: string) => string;
  secretField: string;
  events: string[];
  contentType: string | null;
  hookApi: string | null;
}

const at = (web: string, suffix: string): string => (web === "" ? "" : ` (${web}${suffix})`);

const GUIDES: Record<"gitlab" | "github" | "bitbucket" | "gitea" | "git", ProviderGuide> = {
  gitlab: {
    name: "GitLab",
    keyWhere: (web) =>
      `in the project: Settings → Repository → Deploy keys → Add new key${at(web, "/-/settings/repository")}`,
    keyNotHere:
      "not in your user's SSH keys (User settings → SSH Keys): a deploy key belongs to the project and gives access to it alone",
    readOnly: "leave “Grant write permissions to this key” unchecked (Slipway only reads)",
    keyApi: "POST /api/v4/projects/:id/deploy_keys with title, key and can_push=false",
    hookWhere: (web) =>
      `in the project: Settings → Webhooks → Add new webhook${at(web, "/-/hooks")}`,
    secretField: "Secret token",
    events: ["Push events", "Merge request events"],
    contentType: null,
    hookApi:
      "POST /api/v4/projects/:id/hooks with url, token (the secret), push_events=true and merge_requests_events=true",
  },
  github: {
    name: "GitHub",
    keyWhere: (web) =>
      `in the repository: Settings → Deploy keys → Add deploy key${at(web, "/settings/keys")}`,
    keyNotHere:
      "not in your account's SSH and GPG keys: a deploy key belongs to the repository and gives access to it alone",
    readOnly: "leave “Allow write access” unchecked (Slipway only reads)",
    keyApi: "POST /repos/{owner}/{repo}/keys with title, key and read_only=true",
    hookWhere: (web) =>
      `in the repository: Settings → Webhooks → Add webhook${at(web, "/settings/hooks")}`,
    secretField: "Secret",
    events: ["Pushes", "Pull requests"],
    contentType: "application/json",
    hookApi:
      'POST /repos/{owner}/{repo}/hooks with config {url, secret, content_type: "json"} and events ["push", "pull_request"]',
  },
  bitbucket: {
    name: "Bitbucket",
    keyWhere: (web) =>
      `in the repository: Repository settings → Access keys → Add key${at(web, "/admin/access-keys/")}`,
    keyNotHere:
      "not in Personal settings → SSH keys: an access key belongs to the repository and is read-only",
    readOnly: "access keys are always read-only",
    keyApi: "POST /2.0/repositories/{workspace}/{repo_slug}/deploy-keys with label and key",
    hookWhere: (web) =>
      `in the repository: Repository settings → Webhooks → Add webhook${at(web, "/admin/webhooks")}`,
    secretField: "Secret",
    events: ["Repository: Push", "Pull request: Created, Updated, Merged, Declined"],
    contentType: null,
    hookApi:
      'POST /2.0/repositories/{workspace}/{repo_slug}/hooks with url, secret, active=true and events ["repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected"]',
  },
  gitea: {
    name: "Gitea",
    keyWhere: (web) =>
      `in the repository: Settings → Deploy Keys → Add Deploy Key${at(web, "/settings/keys")}`,
    keyNotHere:
      "not in your user's Settings → SSH / GPG Keys: a deploy key belongs to the repository and gives access to it alone",
    readOnly: "leave “Enable Write Access” unchecked (Slipway only reads)",
    keyApi: "POST /api/v1/repos/{owner}/{repo}/keys with title, key and read_only=true",
    hookWhere: (web) =>
      `in the repository: Settings → Webhooks → Add Webhook → Gitea${at(web, "/settings/hooks")}`,
    secretField: "Secret",
    events: ["Push", "Pull Request"],
    contentType: "application/json",
    hookApi:
      'POST /api/v1/repos/{owner}/{repo}/hooks with type "gitea", config {url, secret, content_type: "json"} and events ["push", "pull_request"]',
  },
  git: {
    name: "your git host",
    keyWhere: () => "in the repository's deploy keys (some hosts call them access keys)",
    keyNotHere: "not in a user's SSH keys",
    readOnly: "read-only access is enough",
    keyApi: null,
    hookWhere: () => "in the repository's webhook settings",
    secretField: "the secret (or token) field",
    events: ["push"],
    contentType: "application/json",
    hookApi: null,
  },
};

export function manualSteps(input: ManualLinkInput): ManualSteps {
  const provider =
    input.provider === "gitlab" ||
    input.provider === "github" ||
    input.provider === "bitbucket" ||
    input.provider === "gitea"
      ? input.provider
      : "git";
  const guide = GUIDES[provider];
  const web = input.repoWebUrl ?? "";
  const keyStep =
    input.publicKey === null
      ? 'Create a deploy key (POST /api/v1/deploy_keys) and set it on the site (PATCH /api/v1/sites/:site_id {"repo": {"deploy_key_id": "<id>"}}); then add its public key'
      : "Add the site's deploy key (deploy_key.public_key)";
  return {
    provider: guide.name,
    deploy_key: {
      public_key: input.publicKey,
      where: guide.keyWhere(web),
      not_here: guide.keyNotHere,
      read_only: guide.readOnly,
      api: guide.keyApi,
    },
    webhook: {
      url: input.webhookUrl,
      secret: input.secret,
      secret_field: guide.secretField,
      events: guide.events,
      where: guide.hookWhere(web),
      content_type: guide.contentType,
      api: guide.hookApi,
    },
    steps: [
      `${keyStep} at ${guide.name} ${guide.keyWhere(web)} — ${guide.keyNotHere}; ${guide.readOnly}.`,
      `Create a webhook at ${guide.name} ${guide.hookWhere(web)}: URL ${input.webhookUrl}, the site's webhook secret in the “${guide.secretField}” field${guide.contentType ? `, content type ${guide.contentType}` : ""}, events: ${guide.events.join(", ")}.`,
      "Push a commit, then check GET /api/v1/sites/:site_id/webhook_deliveries (or POST /api/v1/sites/:site_id/link/check) to see that it arrived.",
    ],
  };
}
