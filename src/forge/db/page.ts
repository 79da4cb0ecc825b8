/** One page of a list query: the window it reads (GitLab's `page` and `per_page`). */
export interface Page {
  page: number;
  perPage: number;
  offset: number;
}

/** The rows of one page, and how many rows the query matches in all. */
export interface PageOf<T> {
  total: number;
  items: T[];
}
