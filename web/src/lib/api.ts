/**
 * The dashboard talks only to the public API (`/api/v1`, same origin). The browser sends the
 * session cookie; state-changing requests add the session's CSRF token. Errors keep the API's
 * own words (`message`, and `field` when one field is at fault).
 */

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
const signedOutListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API answers 401 (the session ended or expired). */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export interface ApiAnswer<T> {
  body: T;
  headers: Headers;
}

export async function apiCall<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { quiet401?: boolean } = {},
): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken !== null) {
    headers["x-csrf-token"] = csrfToken;
  }
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: "same-origin",
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, "Slipway could not be reached: check that it is running and reload");
  }
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text !== "") {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    const error = parsed as { message?: unknown; field?: unknown } | undefined;
    const message =
      typeof error?.message === "string"
        ? error.message
        : `The request failed (${response.status} ${response.statusText})`;
    if (response.status === 401 && !options.quiet401) {
      for (const listener of signedOutListeners) listener();
    }
    const retryAfter = Number(response.headers.get("retry-after"));
    throw new ApiError(
      response.status,
      message,
      typeof error?.field === "string" ? error.field : undefined,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }
  return { body: parsed as T, headers: response.headers };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await apiCall<T>(method, path, body)).body;
}

export const get = <T>(path: string): Promise<T> => api<T>("GET", path);

/** `encodeURIComponent` for a path segment. */
export const seg = (value: string): string => encodeURIComponent(value);

/** The total count of a paginated list (the `Link` header's last page × per page is too rough). */
export function lastPage(headers: Headers): number | undefined {
  const link = headers.get("link");
  const match = link ? /[?&]page=(\d+)[^>]*>;\s*rel="last"/.exec(link) : null;
  return match?.[1] ? Number(match[1]) : undefined;
}
