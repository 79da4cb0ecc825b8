import type { ErrorKind } from "../../lib/errors.ts";
import type { Key, User } from "../db/schema.ts";

/**
 * What the git transports (SSH, smart HTTP) ask before they run git: who the client is and
 * whether it may fetch or push. The answers follow GitLab's `Gitlab::GitAccess#check`, with its
 * exact messages, because git clients show them to people verbatim; the forge's domain gives
 * them (`projects/git-access.ts`, wired in `server.ts`).
 */

export type GitOperation = "download" | "push";

/** What a credential allows at most, before the project is looked at (GitLab's abilities). */
export interface GitAbilities {
  download: boolean;
  push: boolean;
}

export type GitActor =
  /** A user, through one of their SSH keys (`key`) or a personal access token. */
  | { kind: "user"; user: User; key?: Key; abilities: GitAbilities }
  /** A deploy key: it acts for no user, only through its project attachments. */
  | { kind: "deploy_key"; key: Key }
  | { kind: "anonymous" };

/** GitLab's `GitAccess::ERROR_MESSAGES` (the ones the forge can produce). */
export const GitAccessMessages = {
  projectNotFound:
    "The project you were looking for could not be found or you don't have permission to view it.",
  download: "You are not allowed to download code from this project.",
  upload: "You are not allowed to upload code for this project.",
  authDownload: "You are not allowed to download code.",
  authUpload: "You are not allowed to upload code.",
  pushCode: "You are not allowed to push code to this project.",
  deployKeyUpload: "This deploy key does not have write access to this project.",
  noRepo: "A repository for this project does not exist yet.",
  commandNotAllowed: "The command you're trying to execute is not allowed.",
  keyExpired: "Your SSH key has expired.",
  accountBlocked: "Your account has been blocked.",
} as const;

export type GitAccessDecision =
  | {
      allowed: true;
      projectId: number;
      /** Whom a push is attributed to: the user, or the deploy key's owner. */
      pusherId: number | null;
    }
  | { allowed: false; status: Extract<ErrorKind, "not_found" | "forbidden">; message: string };

/** The decisions a git transport asks the forge for. */
export interface GitAccess {
  /** Git over HTTP: who a personal access token (the Basic password) stands for; rejects if invalid. */
  actorForToken(token: string): Promise<GitActor>;
  /**
   * SSH: the key a client authenticates with, by its public key blob. Expired keys are found
   * too, so that git can be told so; a user key whose user is gone is not found.
   */
  findKeyForBlob(blob: Buffer): Promise<Key | undefined>;
  /** SSH: who a key stands for right now (re-read at every command). */
  actorForKey(keyId: number): Promise<GitActor>;
  /** Decides one git operation on the project named by the path the client sent. */
  check(actor: GitActor, rawPath: string, operation: GitOperation): Promise<GitAccessDecision>;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/**
 * Turns a path as a git client sends it (`/group/site.git`, `group/site`) into `group/site`.
 * Anything but exactly two plain segments — `..`, absolute paths, `~user`, percent-encoding,
 * quotes, option-like `--x` — is `undefined`, which callers answer as "not found".
 */
export function parseProjectPath(raw: string): string | undefined {
  if (raw.length === 0 || raw.length > 520) return undefined;
  let path = raw.startsWith("/") ? raw.slice(1) : raw;
  if (path.endsWith(".git")) path = path.slice(0, -4);
  const parts = path.split("/");
  if (parts.length !== 2) return undefined;
  for (const part of parts) {
    if (!SEGMENT.test(part) || part.includes("..")) return undefined;
  }
  return parts.join("/");
}
