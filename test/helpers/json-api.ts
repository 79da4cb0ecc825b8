/** An HTTP answer: status, headers, the body parsed as JSON (the text when it is not) and the text. */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/**
 * Calls a JSON API as the test servers' `api()` helpers do: `body` is sent as JSON unless it is
 * a string, which is sent as is.
 */
export async function callJsonApi<T>(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<ApiResponse<T>> {
  const sent: Record<string, string> = { ...headers };
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    sent["content-type"] ??= "application/json";
  }
  const response = await fetch(url, { method, headers: sent, body: payload });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? "" : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}
