/** The edge's own short text answers (errors, not found), built once. */

export type PlainReply = ReturnType<typeof plain>;

export function plain(
  status: number,
  text: string,
  extra: string[] = [],
): { status: number; headers: string[]; body: Buffer } {
  const body = Buffer.from(text + "\n");
  return {
    status,
    body,
    headers: [
      "content-type",
      "text/plain; charset=utf-8",
      "content-length",
      String(body.length),
      "cache-control",
      "no-cache",
      ...extra,
    ],
  };
}

export const NOT_FOUND = plain(404, "Not Found");
export const BAD_REQUEST = plain(400, "Bad Request");
export const URI_TOO_LONG = plain(414, "URI Too Long");
export const METHOD_NOT_ALLOWED = plain(405, "Method Not Allowed", ["allow", "GET, HEAD"]);
export const INTERNAL_ERROR = plain(500, "Internal Server Error");
export const UNAVAILABLE = plain(503, "Service Unavailable");
