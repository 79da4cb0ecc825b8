import type { PlatformApp } from "./app.ts";

/**
 * Makes an (encapsulated) scope take every request body as raw bytes, whatever its
 * Content-Type, up to `limit` bytes: the git webhook intake signs and checks the exact bytes
 * (an HMAC over a re-serialized object would not match), and build hooks accept any body.
 * Register it inside `app.register(...)` so that the API's JSON parser stays as it is.
 */
export function acceptRawBodies(scope: PlatformApp, limit: number): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit: limit },
    (_request, body: Buffer | string, done) => {
      done(null, typeof body === "string" ? Buffer.from(body) : body);
    },
  );
}
