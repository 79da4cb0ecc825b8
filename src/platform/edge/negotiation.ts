/**
 * What a request asks of a file's representation: the encodings it accepts, a byte range, an
 * ETag it already has; and which content types are worth compressing.
 */

export type Encoding = "br" | "gzip";

const COMPRESSIBLE_TYPES = new Set([
  "application/javascript",
  "application/json",
  "application/ld+json",
  "application/manifest+json",
  "application/wasm",
  "application/xml",
  "application/xhtml+xml",
  "application/rss+xml",
  "application/atom+xml",
  "application/vnd.ms-fontobject",
  "application/x-font-ttf",
  "font/otf",
  "font/ttf",
  "image/bmp",
  "image/svg+xml",
  "image/vnd.microsoft.icon",
  "image/x-icon",
]);

export function isCompressible(contentType: string): boolean {
  const type = contentType.split(";", 1)[0]!.trim();
  return (
    type.startsWith("text/") ||
    COMPRESSIBLE_TYPES.has(type) ||
    type.endsWith("+json") ||
    type.endsWith("+xml")
  );
}

export function etagMatches(header: string, sha1: string): boolean {
  if (header.trim() === "*") return true;
  for (let tag of header.split(",")) {
    tag = tag.trim();
    if (tag.startsWith("W/")) tag = tag.slice(2);
    if (tag === `"${sha1}"` || tag === `"${sha1}-br"` || tag === `"${sha1}-gzip"`) return true;
  }
  return false;
}

export type RangeResult = { start: number; end: number } | "unsatisfiable" | undefined;

/** A single `bytes=` range; `undefined` means "ignore the header and send everything". */
export function parseRange(header: string, size: number): RangeResult {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

const encodingMemo = new Map<string, Encoding | undefined>();

/** br if accepted (and not less preferred than gzip), else gzip, else none. */
export function negotiateEncoding(header: string | undefined): Encoding | undefined {
  if (header === undefined || header === "") return undefined;
  if (encodingMemo.has(header)) return encodingMemo.get(header);
  let br: number | undefined;
  let gz: number | undefined;
  let star: number | undefined;
  for (const part of header.split(",")) {
    const [rawName = "", ...params] = part.split(";");
    const name = rawName.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(param);
      if (m) q = Number(m[1]);
    }
    if (Number.isNaN(q)) q = 0;
    if (name === "br") br = q;
    else if (name === "gzip" || name === "x-gzip") gz = q;
    else if (name === "*") star = q;
  }
  const brQ = br ?? star ?? 0;
  const gzQ = gz ?? star ?? 0;
  const result: Encoding | undefined = brQ > 0 && brQ >= gzQ ? "br" : gzQ > 0 ? "gzip" : undefined;
  if (encodingMemo.size >= 256) encodingMemo.clear();
  encodingMemo.set(header, result);
  return result;
}
