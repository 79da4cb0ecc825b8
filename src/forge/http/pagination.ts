import type { FastifyReply, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import type { Page } from "../db/page.ts";

/**
 * GitLab's `params :pagination`: integers, and `per_page` `except_values: [0]` (`per_page has a
 * value not allowed`). Other out-of-range values are not refused; `readPage` reads them as
 * Kaminari does.
 */
export const PaginationQuery = Type.Object({
  page: Type.Optional(Type.Integer({ default: 1 })),
  per_page: Type.Optional(Type.Integer({ default: 20, not: { const: 0 } })),
});
export type PaginationQuery = Static<typeof PaginationQuery>;

/**
 * Kaminari's reading, as GitLab's lists do it: a page below 1 is the first page, a negative
 * `per_page` is the default 20, and more than 100 per page is 100.
 */
export function readPage(query: PaginationQuery): Page {
  const page = Math.max(query.page ?? 1, 1);
  const asked = query.per_page ?? 20;
  const perPage = asked < 0 ? 20 : Math.min(asked, 100);
  return { page, perPage, offset: (page - 1) * perPage };
}

/**
 * Sets X-Total, X-Total-Pages, X-Per-Page, X-Page, X-Next-Page, X-Prev-Page and Link. Like
 * GitLab (which puts its configured host in them), the links start with the forge's public URL,
 * not with whatever Host the request came through: behind a TLS proxy they stay https.
 */
export function setPaginationHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  page: Page,
  total: number,
): void {
  const totalPages = Math.max(1, Math.ceil(total / page.perPage));
  const next = page.page < totalPages ? page.page + 1 : null;
  const prev = page.page > 1 ? page.page - 1 : null;
  const base = new URL(request.publicUrl.replace(/\/+$/, "") + request.url);
  const link = (n: number, rel: string): string => {
    base.searchParams.set("page", String(n));
    base.searchParams.set("per_page", String(page.perPage));
    return `<${base.toString()}>; rel="${rel}"`;
  };
  const links = [
    prev !== null ? link(prev, "prev") : null,
    next !== null ? link(next, "next") : null,
    link(1, "first"),
    link(totalPages, "last"),
  ].filter((l): l is string => l !== null);
  reply.headers({
    "x-total": String(total),
    "x-total-pages": String(totalPages),
    "x-per-page": String(page.perPage),
    "x-page": String(page.page),
    "x-next-page": next === null ? "" : String(next),
    "x-prev-page": prev === null ? "" : String(prev),
    link: links.join(", "),
  });
}

/** Paginates an in-memory list (lists here are small; the database does the filtering). */
export function paginate<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  query: PaginationQuery,
  items: readonly T[],
): T[] {
  const page = readPage(query);
  setPaginationHeaders(request, reply, page, items.length);
  return items.slice(page.offset, page.offset + page.perPage);
}
