import type { FastifyReply, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import type { Page } from "../db/page.ts";

export const PaginationQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, default: 20 })),
});
export type PaginationQuery = Static<typeof PaginationQuery>;

/** GitLab's defaults: page 1, 20 per page, at most 100. */
export function readPage(query: PaginationQuery): Page {
  const page = query.page ?? 1;
  const perPage = Math.min(query.per_page ?? 20, 100);
  return { page, perPage, offset: (page - 1) * perPage };
}

/** Sets X-Total, X-Total-Pages, X-Per-Page, X-Page, X-Next-Page, X-Prev-Page and Link. */
export function setPaginationHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  page: Page,
  total: number,
): void {
  const totalPages = Math.max(1, Math.ceil(total / page.perPage));
  const next = page.page < totalPages ? page.page + 1 : null;
  const prev = page.page > 1 ? page.page - 1 : null;
  const base = new URL(request.url, `http://${request.headers.host ?? "localhost"}`);
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
