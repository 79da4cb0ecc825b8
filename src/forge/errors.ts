import { DomainError, type ErrorKind } from "../lib/errors.ts";

/**
 * The forge's one error type: a domain error (its kind gives the HTTP status through the one
 * table in `src/lib/errors.ts`) carrying the exact JSON body GitLab would send, so handlers throw
 * and never build error responses by hand.
 */
export class ForgeError extends DomainError {
  override name = "ForgeError";

  constructor(
    kind: ErrorKind,
    readonly body: Readonly<Record<string, unknown>>,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(kind, typeof body.message === "string" ? body.message : JSON.stringify(body), headers);
  }
}

/** `{"message":"401 Unauthorized"}` */
export const unauthorized = (): ForgeError =>
  new ForgeError("unauthenticated", { message: "401 Unauthorized" });

/** `{"message":"403 Forbidden"}` or `{"message":"403 Forbidden - <reason>"}` */
export const forbidden = (reason?: string): ForgeError =>
  new ForgeError("forbidden", { message: reason ? `403 Forbidden - ${reason}` : "403 Forbidden" });

/** `not_found!('Project')` → `{"message":"404 Project Not Found"}`; no resource → `404 Not found`. */
export const notFound = (resource?: string): ForgeError =>
  new ForgeError("not_found", {
    message: resource ? `404 ${resource} Not Found` : "404 Not found",
  });

/** Grape's parameter errors: `{"error":"key is missing"}` (400 unless GitLab says otherwise). */
export const badParams = (error: string, kind: ErrorKind = "bad_request"): ForgeError =>
  new ForgeError(kind, { error });

/** Model validation: `{"message":{"title":["can't be blank"]}}` (400 unless GitLab says otherwise). */
export const invalidRecord = (
  messages: Record<string, string[]>,
  kind: ErrorKind = "bad_request",
): ForgeError => new ForgeError(kind, { message: messages });

/** A plain `{"message":"..."}` of any kind (409 conflicts, 422 refusals...). */
export const withMessage = (kind: ErrorKind, message: string): ForgeError =>
  new ForgeError(kind, { message });

export const preconditionFailed = (): ForgeError =>
  withMessage("precondition_failed", "412 Precondition Failed");

export const invalidToken = (description: string): ForgeError =>
  new ForgeError("unauthenticated", { error: "invalid_token", error_description: description });

export const insufficientScope = (scopes: readonly string[]): ForgeError =>
  new ForgeError("forbidden", {
    error: "insufficient_scope",
    error_description: "The request requires higher privileges than provided by the access token.",
    scope: scopes.join(" "),
  });
