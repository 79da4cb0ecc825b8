/**
 * What went wrong, in the terms both servers' domains use. A domain error names its kind; the
 * one table below turns a kind into an HTTP status, and each server's HTTP layer turns the error
 * into its own body (Netlify's `{code, message}` on the platform, GitLab's on the forge).
 */
export type ErrorKind =
  | "bad_request"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "gone"
  | "precondition_failed"
  | "too_large"
  | "unsupported_media_type"
  | "unprocessable"
  | "rate_limited"
  | "bad_gateway"
  | "unavailable";

/** The one table from a domain error's kind to its HTTP status. */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  bad_gateway: 502,
  unavailable: 503,
};

const KIND_OF_STATUS = new Map<number, ErrorKind>(
  Object.entries(HTTP_STATUS).map(([kind, status]) => [status, kind as ErrorKind]),
);

/**
 * The kind whose status is `status`, for the few answers whose status is itself the domain's
 * decision (a webhook delivery tells its sender the truth with it, a transport error keeps
 * Fastify's). A status the table does not name becomes the nearest kind of its class — a
 * client's fault is `bad_request`, the platform's `unavailable` — never a crash.
 */
export function kindOfStatus(status: number): ErrorKind {
  return KIND_OF_STATUS.get(status) ?? (status < 500 ? "bad_request" : "unavailable");
}

/** The base of every domain error the HTTP layers know how to answer. */
export class DomainError extends Error {
  override name = "DomainError";

  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Headers the answer must carry (`WWW-Authenticate` on a 401). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  get statusCode(): number {
    return HTTP_STATUS[this.kind];
  }
}
