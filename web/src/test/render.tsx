import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi } from "vitest";

/** What the page sent to the API: method, path (after `/api/v1`) and parsed JSON body. */
export interface SentRequest {
  method: string;
  path: string;
  body: unknown;
}

/** An answer of the fake API: a status and a JSON body (204 for none). */
export interface FakeAnswer {
  status?: number;
  body?: unknown;
}

type Route = (request: SentRequest) => FakeAnswer | undefined;

/**
 * Replaces `fetch` with the API's answers from `route` (`undefined`: 404), and records every
 * request the page sends.
 */
export function fakeApi(route: Route): SentRequest[] {
  const sent: SentRequest[] = [];
  vi.stubGlobal("fetch", async (input: string, init: RequestInit = {}) => {
    const request: SentRequest = {
      method: init.method ?? "GET",
      path: String(input).replace(/^\/api\/v1/, ""),
      body: typeof init.body === "string" ? (JSON.parse(init.body) as unknown) : undefined,
    };
    sent.push(request);
    const answer = route(request) ?? { status: 404, body: { code: 404, message: "Not Found" } };
    const status = answer.status ?? 200;
    return new Response(
      answer.body === undefined ? null : JSON.stringify(answer.body),
      status === 204 ? { status } : { status, headers: { "content-type": "application/json" } },
    );
  });
  return sent;
}

/**
 * Renders `ui` with a query client of its own (no retries, nothing shared between tests);
 * `show` puts another page in its place with the same client (leaving a page and coming back).
 */
export function renderWithClient(ui: ReactElement) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  const wrap = (page: ReactElement) => (
    <QueryClientProvider client={client}>{page}</QueryClientProvider>
  );
  const rendered = render(wrap(ui));
  return { ...rendered, client, show: (page: ReactElement) => rendered.rerender(wrap(page)) };
}
