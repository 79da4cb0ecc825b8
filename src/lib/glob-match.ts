/**
 * Glob matching for patterns that tenants write (`_headers` paths, forge branch filters), in
 * time linear in the text for a given number of wildcards — never a RegExp built from the
 * pattern, so no pattern can make the event loop backtrack.
 *
 * A pattern is a sequence of tokens:
 *   literal   its code points, compared exactly or case-folded (`GlobSyntax.foldCase`);
 *   segment   one or more code points other than "/" (a path segment, like `[^/]+`);
 *   star      any run of code points, except those of `GlobSyntax.starExcludes`
 *             (like `.*`, which stops at line terminators without the `s` flag).
 * It is anchored at both ends, optionally with one "/" allowed at the very end.
 *
 * How it stays linear: stars split the pattern into blocks of literals and segments. A segment
 * always takes the whole rest of its path segment (see `compileGlob` for the conditions that
 * make this exact), so a block matches at a given start in one way only, and ends later when it
 * starts later. The first block is compared at 0, the last one backwards from the end (or, when
 * it cannot be, searched like the others); each block between stars is searched for from where
 * the previous one ended, at every start a star can reach, its first literal found by a
 * streaming Knuth–Morris–Pratt automaton (long literals after it too), so no text position is
 * fed to one literal twice. Where stars may not cross some code points, the text falls into
 * "lines" between them, and the earliest end per line is kept (a later end in the same line
 * can reach nothing more). A match costs at most about 3 · n · f + 3 · m steps for a text of n
 * code points, a pattern of m, and f literals and segments in blocks between stars
 * (`Glob.floatingPieces`) — usually far less, as each search stops at its first hit when the
 * text has nothing a star excludes. `GlobMeter` counts the steps, so tests can check the bound
 * instead of the clock.
 */

export type GlobToken =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "segment" }
  | { readonly kind: "star" };

export interface GlobSyntax {
  /** Compare case-insensitively, as a RegExp with the `iu` flags does (simple case folding). */
  readonly foldCase: boolean;
  /** Code points a star does not match. */
  readonly starExcludes: readonly number[];
}

/** Counts the elementary steps of the matches it is given to. */
export interface GlobMeter {
  steps: number;
}

const SLASH = 0x2f;
/** Literals up to this long are compared in place while searching (see `scan`). */
const SHORT = 8;

/** A text prepared once for any number of patterns of the same syntax. */
export class GlobText {
  readonly syntax: GlobSyntax;
  readonly cps: Int32Array;
  readonly length: number;
  private stopIndices: number[] | undefined;
  private slashes: Int32Array | undefined;
  private previous: Int32Array | undefined;
  private stops: Int32Array | undefined;

  constructor(text: string, syntax: GlobSyntax) {
    this.syntax = syntax;
    const cps = new Int32Array(text.length);
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          cp = (cp - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          i++;
        }
      }
      if (syntax.starExcludes.includes(cp)) (this.stopIndices ??= []).push(n);
      cps[n++] = syntax.foldCase ? foldCodePoint(cp) : cp;
    }
    this.cps = n === cps.length ? cps : cps.subarray(0, n);
    this.length = n;
  }

  /** The first index at or after `i` that holds "/", or the length. */
  nextSlash(i: number): number {
    if (this.slashes === undefined) {
      const table = new Int32Array(this.length + 1);
      let next = this.length;
      table[next] = next;
      for (let j = this.length - 1; j >= 0; j--) {
        if (this.cps[j] === SLASH) next = j;
        table[j] = next;
      }
      this.slashes = table;
    }
    return this.slashes[i]!;
  }

  /** The last index at or before `i` that holds "/", or -1. */
  previousSlash(i: number): number {
    if (this.previous === undefined) {
      const table = new Int32Array(this.length);
      let previous = -1;
      for (let j = 0; j < this.length; j++) {
        if (this.cps[j] === SLASH) previous = j;
        table[j] = previous;
      }
      this.previous = table;
    }
    return this.previous[i]!;
  }

  /** The first index at or after `i` that holds a code point a star excludes, or the length. */
  nextStop(i: number): number {
    const indices = this.stopIndices;
    if (indices === undefined) return this.length;
    if (this.stops === undefined) {
      const table = new Int32Array(this.length + 1).fill(this.length);
      let from = 0;
      for (const index of indices) {
        table.fill(index, from, index + 1);
        from = index + 1;
      }
      this.stops = table;
    }
    return this.stops[i]!;
  }
}

interface LiteralPiece {
  readonly kind: "literal";
  readonly cps: Int32Array;
  /** Knuth–Morris–Pratt failure function: the longest proper border of cps[0..i]. */
  readonly fail: Int32Array;
}
type Piece = LiteralPiece | { readonly kind: "segment" };

interface Block {
  readonly pieces: readonly Piece[];
  /**
   * Every segment follows a literal ending in "/" within the block, so that the block can also
   * be matched backwards from its end, in one way (used for the last block).
   */
  readonly backwards: boolean;
}

export interface Glob {
  readonly syntax: GlobSyntax;
  /** Number of segments and stars as written (before adjacent stars are merged). */
  readonly wildcards: number;
  /**
   * Literals and segments between two stars. These are what a match searches for along the
   * text (the others are compared at the start or backwards from the end), so a match costs
   * O(n · (1 + floatingPieces)) in the worst case.
   */
  readonly floatingPieces: number;
  match(text: string | GlobText, meter?: GlobMeter): boolean;
}

/**
 * Compiles tokens into a matcher. Adjacent literals are joined and adjacent stars merged. So
 * that a segment can always take its whole path segment (and the match stays exact), a segment
 * must be followed by the end, by a literal starting with "/", or by a star that is itself
 * followed by the end or by such a literal; anything else is a programming error and throws.
 */
export function compileGlob(
  tokens: readonly GlobToken[],
  syntax: GlobSyntax,
  options: { optionalTrailingSlash?: boolean } = {},
): Glob {
  let wildcards = 0;
  const merged: GlobToken[] = [];
  for (const token of tokens) {
    const last = merged[merged.length - 1];
    if (token.kind !== "literal") wildcards++;
    if (token.kind === "literal") {
      if (token.text === "") continue;
      if (last?.kind === "literal") merged[merged.length - 1] = literal(last.text + token.text);
      else merged.push(token);
    } else if (token.kind !== "star" || last?.kind !== "star") {
      merged.push(token);
    }
  }
  const startsWithSlash = (token: GlobToken | undefined): boolean =>
    token === undefined || (token.kind === "literal" && token.text.startsWith("/"));
  merged.forEach((token, i) => {
    if (token.kind !== "segment") return;
    const next = merged[i + 1];
    if (!(next?.kind === "star" ? startsWithSlash(merged[i + 2]) : startsWithSlash(next))) {
      throw new Error(
        "a segment must be followed by the end, a literal starting with '/', or a star and then one of those",
      );
    }
  });

  const blocks: Block[] = [];
  let pieces: Piece[] = [];
  const close = (): void => {
    const backwards = pieces.every((piece, i) => {
      if (piece.kind === "literal") return true;
      const before = pieces[i - 1];
      return before?.kind === "literal" && before.cps[before.cps.length - 1] === SLASH;
    });
    blocks.push({ pieces, backwards });
    pieces = [];
  };
  for (const token of merged) {
    if (token.kind === "star") close();
    else if (token.kind === "segment") pieces.push({ kind: "segment" });
    else pieces.push(literalPiece(token.text, syntax));
  }
  close();
  const endsWithStar = merged[merged.length - 1]?.kind === "star";
  const trailingSlash = options.optionalTrailingSlash === true && !endsWithStar;
  return new BlockGlob(syntax, wildcards, blocks, trailingSlash);
}

function literal(text: string): GlobToken {
  return { kind: "literal", text };
}

function literalPiece(text: string, syntax: GlobSyntax): LiteralPiece {
  const cps = Int32Array.from(text, (ch) => {
    const cp = ch.codePointAt(0)!;
    return syntax.foldCase ? foldCodePoint(cp) : cp;
  });
  const fail = new Int32Array(cps.length);
  let k = 0;
  for (let i = 1; i < cps.length; i++) {
    while (k > 0 && cps[i] !== cps[k]) k = fail[k - 1]!;
    if (cps[i] === cps[k]) k++;
    fail[i] = k;
  }
  return { kind: "literal", cps, fail };
}

/**
 * Finds a literal's occurrences for non-decreasing positions, feeding each text position to a
 * Knuth–Morris–Pratt automaton at most once.
 */
class LiteralStream {
  private next = -1;
  private state = 0;
  private lastEnd = -1;

  constructor(
    private readonly piece: LiteralPiece,
    private readonly text: GlobText,
    private readonly meter: GlobMeter,
  ) {}

  /** Does the literal occur at x? */
  occursAt(x: number): boolean {
    const end = x + this.piece.cps.length - 1;
    if (end >= this.text.length) return false;
    this.run(x, end, Infinity);
    return this.lastEnd === end;
  }

  /** The first start at or after x where the literal occurs, or -1. */
  nextAt(x: number): number {
    const length = this.piece.cps.length;
    const firstEnd = x + length - 1;
    // Feeding stops at each occurrence it reaches, so an earlier answer can be the first.
    if (this.lastEnd < firstEnd) this.run(x, this.text.length - 1, firstEnd);
    return this.lastEnd >= firstEnd ? this.lastEnd - length + 1 : -1;
  }

  /**
   * Feeds the text from x (or from where feeding stopped, if later) through `end`, stopping
   * just after an occurrence that ends at `stopAfter` or later.
   */
  private run(x: number, end: number, stopAfter: number): void {
    const { cps: pattern, fail } = this.piece;
    if (this.next < x) {
      // Only occurrences starting at x or later can still be asked for: start afresh at x.
      this.next = x;
      this.state = 0;
    }
    const cps = this.text.cps;
    let q = this.state;
    let i = this.next;
    let steps = 0;
    while (i <= end) {
      const cp = cps[i]!;
      while (q > 0 && pattern[q] !== cp) {
        q = fail[q - 1]!;
        steps++;
      }
      if (pattern[q] === cp) q++;
      steps++;
      i++;
      if (q === pattern.length) {
        this.lastEnd = i - 1;
        q = fail[q - 1]!;
        if (i - 1 >= stopAfter) break;
      }
    }
    this.state = q;
    this.next = i;
    this.meter.steps += steps;
  }
}

class BlockGlob implements Glob {
  readonly floatingPieces: number;

  constructor(
    readonly syntax: GlobSyntax,
    readonly wildcards: number,
    private readonly blocks: readonly Block[],
    private readonly trailingSlash: boolean,
  ) {
    const last = blocks[blocks.length - 1]!;
    const scanned = blocks.slice(1, -1);
    // The last block is searched too when it cannot be matched backwards.
    if (blocks.length > 1 && !last.backwards) scanned.push(last);
    this.floatingPieces = scanned.reduce((sum, block) => sum + block.pieces.length, 0);
  }

  match(input: string | GlobText, meter: GlobMeter = { steps: 0 }): boolean {
    const text = typeof input === "string" ? new GlobText(input, this.syntax) : input;
    if (text.syntax !== this.syntax) throw new Error("the text was prepared for another syntax");
    const blocks = this.blocks;
    const first = forwards(blocks[0]!, 0, text, meter);
    if (first < 0) return false;
    if (blocks.length === 1) return this.ends(first, text);

    // Where the star before each next block may start: the earliest position per line.
    let entries = [first];
    for (let k = 1; k < blocks.length - 1; k++) {
      entries = this.advance(blocks[k]!, entries, text, meter);
      if (entries.length === 0) return false;
    }
    return this.finish(blocks[blocks.length - 1]!, entries, text, meter);
  }

  private ends(end: number, text: GlobText): boolean {
    const n = text.length;
    return end === n || (this.trailingSlash && end === n - 1 && text.cps[end] === SLASH);
  }

  /** Can the last block start where a star from the entries reaches, and end at the end? */
  private finish(block: Block, entries: number[], text: GlobText, meter: GlobMeter): boolean {
    const n = text.length;
    if (block.pieces.length === 0) return text.nextStop(entries[entries.length - 1]!) === n;
    if (block.backwards) {
      const ends = [n];
      if (this.trailingSlash && n > 0 && text.cps[n - 1] === SLASH) ends.push(n - 1);
      return ends.some((end) => {
        const start = backwards(block, end, text, meter);
        return start >= 0 && reachable(entries, start, text);
      });
    }
    let found = false;
    this.scan(block, entries, text, meter, (end) => (found = this.ends(end, text)));
    return found;
  }

  /** The earliest end of the block per line, over every start a star from the entries reaches. */
  private advance(block: Block, entries: number[], text: GlobText, meter: GlobMeter): number[] {
    const ends: number[] = [];
    this.scan(block, entries, text, meter, (end) => {
      const line = text.nextStop(end);
      if (ends.length === 0 || text.nextStop(ends[ends.length - 1]!) !== line) ends.push(end);
      // Ends grow with starts, so after one in the last line nothing better can follow.
      return line === text.length;
    });
    return ends;
  }

  /**
   * Calls `found` with the end of the block's match at each start a star from the entries
   * reaches (from p up to the next code point a star excludes), in order, until it returns true.
   */
  private scan(
    block: Block,
    entries: number[],
    text: GlobText,
    meter: GlobMeter,
    found: (end: number) => boolean,
  ): void {
    const pieces = block.pieces;
    // Short literals are compared in place (at most SHORT steps each); longer ones through a
    // stream, so that no text position is compared with them more than a constant number of
    // times. The first literal always streams: it finds the next start to try.
    const streams = pieces.map((piece, i) =>
      piece.kind === "literal" && (i === 0 || piece.cps.length > SHORT)
        ? new LiteralStream(piece, text, meter)
        : undefined,
    );
    const lead = streams[0];
    const cps = text.cps;
    const n = text.length;
    let steps = 0;
    search: for (const entry of entries) {
      const limit = text.nextStop(entry);
      for (let start = entry; start <= limit; start++) {
        steps++;
        let pos = start;
        let i = 0;
        if (lead !== undefined) {
          // Jump to the next place where the block's first literal occurs.
          pos = lead.nextAt(start);
          if (pos < 0) break search;
          if (pos > limit) continue search;
          start = pos;
          pos += (pieces[0] as LiteralPiece).cps.length;
          i = 1;
        }
        for (; i < pieces.length; i++) {
          const piece = pieces[i]!;
          const stream = streams[i];
          if (piece.kind === "segment") {
            steps++;
            if (pos >= n || cps[pos] === SLASH) break;
            pos = text.nextSlash(pos);
          } else if (stream !== undefined) {
            if (!stream.occursAt(pos)) break;
            pos += piece.cps.length;
          } else {
            const pattern = piece.cps;
            if (pos + pattern.length > n) break;
            let j = 0;
            while (j < pattern.length && cps[pos + j] === pattern[j]) j++;
            steps += j + 1;
            if (j < pattern.length) break;
            pos += pattern.length;
          }
        }
        if (i === pieces.length && found(pos)) break search;
      }
    }
    meter.steps += steps;
  }
}

/** Where the block ends when it starts at `start`, or -1. */
function forwards(block: Block, start: number, text: GlobText, meter: GlobMeter): number {
  const cps = text.cps;
  let pos = start;
  for (const piece of block.pieces) {
    if (piece.kind === "segment") {
      meter.steps++;
      if (pos >= text.length || cps[pos] === SLASH) return -1;
      pos = text.nextSlash(pos);
      continue;
    }
    const pattern = piece.cps;
    if (pos + pattern.length > text.length) return -1;
    for (let i = 0; i < pattern.length; i++) {
      meter.steps++;
      if (cps[pos + i] !== pattern[i]) return -1;
    }
    pos += pattern.length;
  }
  return pos;
}

/**
 * Where the block starts when it ends at `end`, or -1 (blocks whose segments each follow a
 * literal ending in "/": a segment then starts after the last "/" before its end).
 */
function backwards(block: Block, end: number, text: GlobText, meter: GlobMeter): number {
  const cps = text.cps;
  let pos = end;
  for (let k = block.pieces.length - 1; k >= 0; k--) {
    const piece = block.pieces[k]!;
    if (piece.kind === "segment") {
      meter.steps++;
      if (pos === 0 || cps[pos - 1] === SLASH) return -1;
      pos = text.previousSlash(pos - 1) + 1;
      continue;
    }
    const pattern = piece.cps;
    if (pos < pattern.length) return -1;
    pos -= pattern.length;
    for (let i = 0; i < pattern.length; i++) {
      meter.steps++;
      if (cps[pos + i] !== pattern[i]) return -1;
    }
  }
  return pos;
}

/** Can a star that starts at one of the entries stop at `s`? */
function reachable(entries: readonly number[], s: number, text: GlobText): boolean {
  for (const entry of entries) {
    if (entry > s) return false;
    if (text.nextStop(entry) >= s) return true;
  }
  return false;
}

const foldCache = new Map<number, number>();

/**
 * The code point a case-insensitive Unicode RegExp (`iu`) compares in place of `cp`: two code
 * points match each other exactly when their folds are equal. Derived from the engine's own
 * case mappings (upper case, then lower case, kept only when each is a single code point), with
 * the one code point where that differs from simple case folding (dotless i, which folds only
 * under Turkic rules); `glob-match.test.ts` checks it against the RegExp engine for every code
 * point.
 */
export function foldCodePoint(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
  const cached = foldCache.get(cp);
  if (cached !== undefined) return cached;
  let folded = cp;
  if (cp !== 0x131 && (cp < 0xd800 || cp > 0xdfff)) {
    const original = String.fromCodePoint(cp);
    const upper = original.toUpperCase();
    const base = isOneCodePoint(upper) ? upper : original;
    const lower = base.toLowerCase();
    folded = (isOneCodePoint(lower) ? lower : base).codePointAt(0)!;
  }
  if (foldCache.size < 8192) foldCache.set(cp, folded);
  return folded;
}

function isOneCodePoint(text: string): boolean {
  return text.length === 1 || (text.length === 2 && text.codePointAt(0)! > 0xffff);
}
