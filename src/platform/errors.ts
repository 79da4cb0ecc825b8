/**
 * The platform's one error type. The body is Netlify's error shape, `{code, message}`, plus
 * `field` when one request field is at fault. Handlers and services throw; one handler in
 * `app.ts` sends. Messages are for people: what is wrong, where, and what to do.
 */
export class PlatformError extends Error {
  override name = "PlatformError";

  constructor(
    readonly statusCode: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get body(): { code: number; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.statusCode, message: this.message }
      : { code: this.statusCode, message: this.message, field: this.field };
  }
}

export const badRequest = (message: string): PlatformError => new PlatformError(400, message);

export const unauthorized = (message: string): PlatformError =>
  new PlatformError(401, message, undefined, { "www-authenticate": 'Bearer realm="slipway"' });

export const forbidden = (message: string): PlatformError => new PlatformError(403, message);

/** Objects the caller cannot see are "not found", exactly like objects that do not exist. */
export const notFound = (what: string): PlatformError =>
  new PlatformError(404, `${what} not found`);

/** A request field that is refused: `{code: 422, message: "<field>: <reason>", field}`. */
export const invalidField = (field: string, reason: string): PlatformError =>
  new PlatformError(422, `${field}: ${reason}`, field);
