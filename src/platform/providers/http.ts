/**
 * The one way adapters talk to providers: JSON over HTTP(S) with a time limit, the platform's
 * private-address policy checked at connect time, and no credential ever in a log line or an
 * error message. Owned by the GitLab adapter's author; the other adapters use it as is.
 */
export interface ProviderRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
}

export interface ProviderResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the body is not JSON, or null when empty. */
  body: unknown;
}

export interface ProviderHttp {
  request(request: ProviderRequest): Promise<ProviderResponse>;
}
