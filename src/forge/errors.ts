/**
 * The forge's one error type. Each carries the HTTP status and the exact JSON body GitLab would
 * send, so handlers throw and never build error responses by hand.
 */
export class ForgeError extends Error {
  override name = "ForgeError";

  constructor(
    readonly statusCode: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.message === "string" ? body.message : JSON.stringify(body));
  }
}

/** `{"message":"401 Unauthorized"}` */
export const unauthorized = (): ForgeError => new ForgeError(401, { message: "401 Unauthorized" });

/** `{"message":"403 Forbidden"}` or `{"message":"403 Forbidden - <reason>"}` */
export const forbidden = (reason?: string): ForgeError =>
  new ForgeError(403, { message: reason ? `403 Forbidden - ${reason}` : "403 Forbidden" });

/** `not_found!('Project')` → `{"message":"404 Project Not Found"}`; no resource → `404 Not found`. */
export const notFound = (resource?: string): ForgeError =>
  new ForgeError(404, { message: resource ? `404 ${resource} Not Found` : "404 Not found" });

/** Grape's parameter errors: `{"error":"key is missing"}`. */
export const badParams = (error: string, status = 400): ForgeError =>
  new ForgeError(status, { error });

/** Model validation: `{"message":{"title":["can't be blank"]}}`. */
export const invalidRecord = (messages: Record<string, string[]>, status = 400): ForgeError =>
  new ForgeError(status, { message: messages });

/** A plain `{"message":"..."}` with any status (409 conflicts, 412 preconditions...). */
export const withMessage = (status: number, message: string): ForgeError =>
  new ForgeError(status, { message });

export const preconditionFailed = (): ForgeError => withMessage(412, "412 Precondition Failed");

export const invalidToken = (description: string): ForgeError =>
  new ForgeError(401, { error: "invalid_token", error_description: description });

export const insufficientScope = (scopes: readonly string[]): ForgeError =>
  new ForgeError(403, {
    error: "insufficient_scope",
    error_description: "The request requires higher privileges than provided by the access token.",
    scope: scopes.join(" "),
  });
