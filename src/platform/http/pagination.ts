import type { FastifyReply, FastifyRequest } from "fastify";

export interface Page {
  page: number;
  perPage: number;
  offset: number;
}

/** Netlify's defaults: page 1, 100 per page (the CLI always asks for 100). */
export function readPage(query: { page?: number; per_page?: number }): Page {
  const page = query.page ?? 1;
  const perPage = query.per_page ?? 100;
  return { page, perPage, offset: (page - 1) * perPage };
}

/**
 * Sets Netlify's `Link` header (`first`, `prev`, `next`, `last`) and `X-Total-Count`. Links are
 * built on the configured public URL, never on the request's Host header.
 */
export function setPaginationHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  publicUrl: string,
  page: Page,
  total: number,
): void {
  const lastPage = Math.max(1, Math.ceil(total / page.perPage));
  const base = new URL(request.url, `${publicUrl}/`);
  const target = new URL(`${publicUrl}${base.pathname}${base.search}`);
  const link = (n: number, rel: string): string => {
    target.searchParams.set("page", String(n));
    target.searchParams.set("per_page", String(page.perPage));
    return `<${target.toString()}>; rel="${rel}"`;
  };
  const links = [link(1, "first")];
  if (page.page > 1) links.push(link(Math.min(page.page - 1, lastPage), "prev"));
  if (page.page < lastPage) links.push(link(page.page + 1, "next"));
  links.push(link(lastPage, "last"));
  reply.headers({ link: links.join(", "), "x-total-count": String(total) });
}
