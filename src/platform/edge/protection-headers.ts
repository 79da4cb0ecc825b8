import type { ServerResponse } from "node:http";

/**
 * Makes whatever the edge answers next on `res` private: `Cache-Control: private, no-store`
 * (replacing the deploy's own, `_headers` included) and `Vary: Cookie, Authorization` added to
 * the answer's own `Vary`. Only protected requests pay for it; the edge's `writeHead` calls stay
 * as they are.
 */
export function makePrivate(res: ServerResponse): void {
  if (isPrivate(res)) return; // both checks of one request (password, Basic-Auth) may ask
  const original = res.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  const replaced = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const reason = typeof rest[0] === "string" ? rest[0] : undefined;
    const given = rest[reason === undefined ? 0 : 1];
    const list: string[] = [];
    const vary = ["Cookie", "Authorization"];
    const add = (name: string, value: unknown): void => {
      const lower = name.toLowerCase();
      if (lower === "cache-control") return;
      if (lower === "vary") {
        for (const part of String(value).split(",")) {
          const word = part.trim();
          if (word !== "" && !vary.some((v) => v.toLowerCase() === word.toLowerCase())) {
            vary.push(word);
          }
        }
        return;
      }
      if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
      else if (value !== undefined) list.push(name, String(value));
    };
    if (Array.isArray(given)) {
      for (let i = 0; i + 1 < given.length; i += 2) add(String(given[i]), given[i + 1]);
    } else if (given !== undefined && given !== null) {
      for (const [name, value] of Object.entries(given)) add(name, value);
    }
    const earlier = this.getHeader("vary");
    if (earlier !== undefined) {
      add("vary", earlier);
      this.removeHeader("vary");
    }
    this.removeHeader("cache-control");
    list.push("cache-control", "private, no-store", "vary", vary.join(", "));
    return reason === undefined
      ? original.call(this, status, list)
      : original.call(this, status, reason, list);
  } as ServerResponse["writeHead"];
  Object.defineProperty(replaced, PRIVATE, { value: true });
  res.writeHead = replaced;
}

const PRIVATE = Symbol("private answer");

function isPrivate(res: ServerResponse): boolean {
  return (res.writeHead as unknown as Record<symbol, unknown>)[PRIVATE] === true;
}
