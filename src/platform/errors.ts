import { DomainError, HTTP_STATUS, kindOfStatus, type ErrorKind } from "../lib/errors.ts";

/**
 * The platform's one error type. Its kind becomes the HTTP status through the one table in
 * `src/lib/errors.ts`; its body is Netlify's error shape, `{code, message}`, plus `field` when
 * one request field is at fault. The domain throws; one handler in `http/app.ts` sends.
 * Messages are for people: what is wrong, where, and what to do.
 */
export class PlatformError extends DomainError {
  override name = "PlatformError";

  constructor(
    kind: ErrorKind,
    message: string,
    readonly field?: string,
    headers: Record<string, string> = {},
  ) {
    super(kind, message, headers);
  }

  /** An error whose status is itself the decision (a webhook answer tells its sender the truth). */
  static withStatus(status: number, message: string): PlatformError {
    return new PlatformError(kindOfStatus(status), message);
  }

  get body(): { code: number; message: string; field?: string } {
    const code = HTTP_STATUS[this.kind];
    return this.field === undefined
      ? { code, message: this.message }
      : { code, message: this.message, field: this.field };
  }
}

export const badRequest = (message: string): PlatformError =>
  new PlatformError("bad_request", message);

export const unauthorized = (message: string): PlatformError =>
  new PlatformError("unauthenticated", message, undefined, {
    "www-authenticate": 'Bearer realm="slipway"',
  });

export const forbidden = (message: string): PlatformError =>
  new PlatformError("forbidden", message);

/** Objects the caller cannot see are "not found", exactly like objects that do not exist. */
export const notFound = (what: string): PlatformError =>
  new PlatformError("not_found", `${what} not found`);

/** A request the platform understood but will not do (a deploy that is not waiting, …). */
export const refused = (message: string): PlatformError =>
  new PlatformError("unprocessable", message);

/** A request field that is refused: `{code: 422, message: "<field>: <reason>", field}`. */
export const invalidField = (field: string, reason: string): PlatformError =>
  new PlatformError("unprocessable", `${field}: ${reason}`, field);
