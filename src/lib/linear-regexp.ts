/**
 * Regular expressions from untrusted input, matched without backtracking. The syntax is
 * JavaScript's with the `u` flag (code points, no flags otherwise), minus what no automaton can
 * do — back-references and look-around — and minus Unicode property escapes; the pattern is
 * compiled to a Thompson NFA and run as a Pike VM, one pass over the text with every thread in
 * step. A test costs O(n · s) for n code points and s states, whatever the pattern: `(a+)+$` or
 * `a*a*a*a*b` take the same time as `ab` per state. This is the guarantee RE2 gives, and what
 * GitLab relies on for regex branch filters.
 */

export class LinearRegExpError extends Error {}

/** States a pattern may compile to (counted repetitions multiply them). */
export const MAX_STATES = 10_000;

export interface LinearRegExp {
  /** Does the pattern match somewhere in `text` (like `RegExp.prototype.test`, unanchored)? */
  test(text: string, meter?: { steps: number }): boolean;
}

type Assertion = "start" | "end" | "word" | "not-word";
type Node =
  | { readonly kind: "set"; readonly ranges: readonly number[] }
  | { readonly kind: "seq"; readonly items: readonly Node[] }
  | { readonly kind: "alt"; readonly items: readonly Node[] }
  | { readonly kind: "repeat"; readonly item: Node; readonly min: number; readonly max: number }
  | { readonly kind: "assert"; readonly what: Assertion };

const MAX_CP = 0x10ffff;
const DIGIT = [0x30, 0x39];
const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f,
  0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
];
const LINE_TERMINATORS = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];
const SYNTAX = new Set("^$\\.*+?()[]{}|/");

/** Sorted, merged [lo, hi, lo, hi, …] ranges. */
function normalise(ranges: readonly number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (out.length > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(ranges: readonly number[]): number[] {
  const sorted = normalise(ranges);
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < sorted.length; i += 2) {
    if (sorted[i]! > next) out.push(next, sorted[i]! - 1);
    next = sorted[i + 1]! + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

function inRanges(ranges: Int32Array, cp: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (cp < ranges[i]!) return false;
    if (cp <= ranges[i + 1]!) return true;
  }
  return false;
}

const isWord = (cp: number): boolean => cp >= 0 && inRanges(WORD_SET, cp);
const WORD_SET = Int32Array.from(WORD);

/** A recursive-descent parser over the pattern's code points. */
class Parser {
  private readonly cps: number[];
  private pos = 0;

  constructor(source: string) {
    this.cps = Array.from(source, (ch) => ch.codePointAt(0)!);
  }

  parse(): Node {
    const node = this.disjunction();
    if (this.pos < this.cps.length) this.fail("an unmatched )");
    return node;
  }

  private peek(offset = 0): number | undefined {
    return this.cps[this.pos + offset];
  }

  private eat(ch: string): boolean {
    if (this.peek() !== ch.codePointAt(0)) return false;
    this.pos++;
    return true;
  }

  private fail(what: string): never {
    throw new LinearRegExpError(`not a valid regular expression (${what})`);
  }

  private unsupported(what: string): never {
    throw new LinearRegExpError(`uses ${what}, which is not supported`);
  }

  private disjunction(): Node {
    const items = [this.alternative()];
    while (this.eat("|")) items.push(this.alternative());
    return items.length === 1 ? items[0]! : { kind: "alt", items };
  }

  private alternative(): Node {
    const items: Node[] = [];
    for (;;) {
      const ch = this.peek();
      if (ch === undefined || ch === 0x7c /* | */ || ch === 0x29 /* ) */) break;
      items.push(this.term());
    }
    return items.length === 1 ? items[0]! : { kind: "seq", items };
  }

  private term(): Node {
    if (this.eat("^")) return { kind: "assert", what: "start" };
    if (this.eat("$")) return { kind: "assert", what: "end" };
    if (this.peek() === 0x5c && this.peek(1) === 0x62 /* \b */) {
      this.pos += 2;
      return { kind: "assert", what: "word" };
    }
    if (this.peek() === 0x5c && this.peek(1) === 0x42 /* \B */) {
      this.pos += 2;
      return { kind: "assert", what: "not-word" };
    }
    const atom = this.atom();
    return this.quantifier(atom);
  }

  private quantifier(item: Node): Node {
    let min: number;
    let max: number;
    if (this.eat("*")) [min, max] = [0, Infinity];
    else if (this.eat("+")) [min, max] = [1, Infinity];
    else if (this.eat("?")) [min, max] = [0, 1];
    else if (this.peek() === 0x7b /* { */) {
      const bounds = this.braces();
      if (bounds === undefined) this.fail("a lone {");
      [min, max] = bounds;
    } else return item;
    this.eat("?"); // lazy or greedy: the same for whether there is a match
    if (max < min) this.fail("numbers out of order in a {} quantifier");
    return { kind: "repeat", item, min, max };
  }

  /** `{n}`, `{n,}` or `{n,m}` at the current position, or undefined. */
  private braces(): [number, number] | undefined {
    const start = this.pos;
    this.pos++;
    const min = this.digits();
    if (min === undefined) {
      this.pos = start;
      return undefined;
    }
    let max = min;
    if (this.eat(",")) max = this.digits() ?? Infinity;
    if (!this.eat("}")) {
      this.pos = start;
      return undefined;
    }
    return [min, max];
  }

  private digits(): number | undefined {
    let text = "";
    while (this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x39) {
      text += String.fromCodePoint(this.cps[this.pos++]!);
    }
    return text === "" ? undefined : Number(text);
  }

  private atom(): Node {
    const ch = this.peek();
    if (ch === undefined) this.fail("a missing atom");
    if (ch === 0x2e /* . */) {
      this.pos++;
      return { kind: "set", ranges: complement(LINE_TERMINATORS) };
    }
    if (ch === 0x28 /* ( */) return this.group();
    if (ch === 0x5b /* [ */) return this.characterClass();
    if (ch === 0x5c /* \ */) {
      this.pos++;
      return { kind: "set", ranges: this.escape(false) };
    }
    if (ch === 0x2a || ch === 0x2b || ch === 0x3f || ch === 0x7b || ch === 0x7d || ch === 0x5d) {
      this.fail(`a lone ${String.fromCodePoint(ch)}`);
    }
    this.pos++;
    return { kind: "set", ranges: [ch, ch] };
  }

  private group(): Node {
    this.pos++;
    if (this.eat("?")) {
      if (this.eat(":")) {
        // non-capturing
      } else if (this.peek() === 0x3d || this.peek() === 0x21) {
        this.unsupported("look-ahead");
      } else if (this.eat("<")) {
        if (this.peek() === 0x3d || this.peek() === 0x21) this.unsupported("look-behind");
        while (this.peek() !== undefined && this.peek() !== 0x3e /* > */) this.pos++;
        if (!this.eat(">")) this.fail("an unterminated group name");
      } else {
        this.fail("an unknown group kind");
      }
    }
    const node = this.disjunction();
    if (!this.eat(")")) this.fail("an unterminated group");
    return node;
  }

  private characterClass(): Node {
    this.pos++;
    const negated = this.eat("^");
    const ranges: number[] = [];
    while (!this.eat("]")) {
      if (this.peek() === undefined) this.fail("an unterminated character class");
      const from = this.classAtom();
      if (this.peek() === 0x2d /* - */ && this.peek(1) !== 0x5d && this.peek(1) !== undefined) {
        this.pos++;
        const to = this.classAtom();
        if (!isSingle(from) || !isSingle(to)) this.fail("a class escape in a range");
        if (to[0]! < from[0]!) this.fail("a range out of order");
        ranges.push(from[0]!, to[0]!);
      } else {
        ranges.push(...from);
      }
    }
    return { kind: "set", ranges: negated ? complement(ranges) : normalise(ranges) };
  }

  private classAtom(): number[] {
    const ch = this.cps[this.pos++]!;
    if (ch !== 0x5c) return [ch, ch];
    if (this.eat("b")) return [0x08, 0x08];
    if (this.eat("-")) return [0x2d, 0x2d];
    return this.escape(true);
  }

  /** The code points an escape (after its backslash) stands for, as ranges. */
  private escape(inClass: boolean): number[] {
    const ch = this.peek();
    if (ch === undefined) this.fail("a \\ at the end");
    const letter = String.fromCodePoint(ch);
    this.pos++;
    switch (letter) {
      case "d":
        return DIGIT;
      case "D":
        return complement(DIGIT);
      case "w":
        return WORD;
      case "W":
        return complement(WORD);
      case "s":
        return SPACE;
      case "S":
        return complement(SPACE);
      case "t":
        return [0x09, 0x09];
      case "n":
        return [0x0a, 0x0a];
      case "v":
        return [0x0b, 0x0b];
      case "f":
        return [0x0c, 0x0c];
      case "r":
        return [0x0d, 0x0d];
      case "p":
      case "P":
        return this.unsupported("Unicode property escapes (\\p{…})");
      case "k":
        return this.unsupported("back-references");
      case "c": {
        const control = this.peek();
        const isLetter =
          control !== undefined &&
          ((control >= 0x41 && control <= 0x5a) || (control >= 0x61 && control <= 0x7a));
        if (!isLetter) this.fail("\\c without a letter");
        this.pos++;
        return [control % 32, control % 32];
      }
      case "x": {
        const cp = this.hex(2);
        return [cp, cp];
      }
      case "u": {
        const cp = this.unicodeEscape();
        return [cp, cp];
      }
      case "0":
        if (this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x39) {
          this.fail("an octal escape");
        }
        return [0, 0];
      default:
        if (ch >= 0x31 && ch <= 0x39) {
          if (inClass) this.fail("a decimal escape in a class");
          return this.unsupported("back-references");
        }
        if (SYNTAX.has(letter)) return [ch, ch];
        return this.fail(`the escape \\${letter}`);
    }
  }

  private hex(count: number): number {
    const text = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + count));
    if (text.length !== count || !/^[0-9A-Fa-f]+$/.test(text)) this.fail("a bad hex escape");
    this.pos += count;
    return parseInt(text, 16);
  }

  private unicodeEscape(): number {
    if (this.eat("{")) {
      let text = "";
      while (this.peek() !== undefined && this.peek() !== 0x7d) {
        text += String.fromCodePoint(this.cps[this.pos++]!);
      }
      if (!this.eat("}") || !/^[0-9A-Fa-f]+$/.test(text)) this.fail("a bad \\u{…} escape");
      const cp = parseInt(text, 16);
      if (cp > MAX_CP) this.fail("a code point out of range");
      return cp;
    }
    const cp = this.hex(4);
    // A surrogate pair written as two escapes is one code point with the `u` flag.
    if (cp >= 0xd800 && cp <= 0xdbff && this.peek() === 0x5c && this.peek(1) === 0x75) {
      const saved = this.pos;
      this.pos += 2;
      const text = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 4));
      if (/^[0-9A-Fa-f]{4}$/.test(text)) {
        const low = parseInt(text, 16);
        if (low >= 0xdc00 && low <= 0xdfff) {
          this.pos += 4;
          return (cp - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        }
      }
      this.pos = saved;
    }
    return cp;
  }
}

function isSingle(ranges: readonly number[]): boolean {
  return ranges.length === 2 && ranges[0] === ranges[1];
}

interface SplitInst {
  op: "split";
  /** Preferred and other next instruction (for a match/no-match answer either order works). */
  x: number;
  y: number;
}
interface JumpInst {
  op: "jmp";
  x: number;
}
interface SetInst {
  op: "set";
  ranges: Int32Array;
}
type Inst = SetInst | SplitInst | JumpInst | { op: "assert"; what: Assertion } | { op: "match" };

/** Thompson's construction; `emit` appends and returns the new instruction's index. */
class Compiler {
  readonly program: Inst[] = [];

  private emit(inst: Inst): number {
    if (this.program.length >= MAX_STATES) {
      throw new LinearRegExpError(
        `is too complex (more than ${MAX_STATES} states; large {n,m} counts multiply them)`,
      );
    }
    this.program.push(inst);
    return this.program.length - 1;
  }

  compile(node: Node): void {
    switch (node.kind) {
      case "set":
        this.emit({ op: "set", ranges: Int32Array.from(node.ranges) });
        return;
      case "assert":
        this.emit({ op: "assert", what: node.what });
        return;
      case "seq":
        for (const item of node.items) this.compile(item);
        return;
      case "alt": {
        // split L1, next; L1: a; jmp end; next: split L2, … ; last: z; end:
        const jumps: JumpInst[] = [];
        node.items.forEach((item, i) => {
          if (i === node.items.length - 1) {
            this.compile(item);
            return;
          }
          const split: SplitInst = { op: "split", x: 0, y: 0 };
          this.emit(split);
          split.x = this.program.length;
          this.compile(item);
          const jump: JumpInst = { op: "jmp", x: 0 };
          this.emit(jump);
          jumps.push(jump);
          split.y = this.program.length;
        });
        for (const jump of jumps) jump.x = this.program.length;
        return;
      }
      case "repeat": {
        for (let i = 0; i < node.min; i++) this.compile(node.item);
        if (node.max === Infinity) {
          // L: split body, end; body; jmp L; end:
          const loop = this.program.length;
          const split: SplitInst = { op: "split", x: 0, y: 0 };
          this.emit(split);
          split.x = this.program.length;
          this.compile(node.item);
          this.emit({ op: "jmp", x: loop });
          split.y = this.program.length;
          return;
        }
        // Each optional copy may be skipped to the end.
        const splits: SplitInst[] = [];
        for (let i = node.min; i < node.max; i++) {
          const split: SplitInst = { op: "split", x: 0, y: 0 };
          this.emit(split);
          split.x = this.program.length;
          splits.push(split);
          this.compile(node.item);
        }
        for (const split of splits) split.y = this.program.length;
        return;
      }
    }
  }

  finish(): Inst[] {
    this.emit({ op: "match" });
    return this.program;
  }
}

/** Compiles a pattern; throws `LinearRegExpError` (with a message for people) if it cannot. */
export function compileLinearRegExp(source: string): LinearRegExp {
  const compiler = new Compiler();
  compiler.compile(new Parser(source).parse());
  return new PikeVm(compiler.finish());
}

class PikeVm implements LinearRegExp {
  private readonly seen: Int32Array;
  private readonly stack: number[] = [];
  private steps = 0;

  constructor(private readonly program: readonly Inst[]) {
    this.seen = new Int32Array(program.length);
  }

  test(text: string, meter?: { steps: number }): boolean {
    const cps = Array.from(text, (ch) => ch.codePointAt(0)!);
    this.seen.fill(-1);
    this.steps = 0;
    let current: number[] = [];
    let next: number[] = [];
    try {
      for (let pos = 0; pos <= cps.length; pos++) {
        const at = pos < cps.length ? cps[pos]! : -1;
        // Unanchored: a thread starts at every position. Threads enter a list through their
        // ε-closure, each instruction at most once per position.
        if (this.close(0, pos, cps, current)) return true;
        if (pos === cps.length) return false;
        next.length = 0;
        for (const pc of current) {
          this.steps++;
          if (!inRanges((this.program[pc] as SetInst).ranges, at)) continue;
          if (this.close(pc + 1, pos + 1, cps, next)) return true;
        }
        [current, next] = [next, current];
      }
      return false;
    } finally {
      if (meter !== undefined) meter.steps += this.steps;
    }
  }

  /**
   * Adds to `list` the threads reachable from `start` at position `pos` without consuming a
   * code point (`seen[pc] === pos` marks those already added); true if the match is one.
   */
  private close(start: number, pos: number, cps: readonly number[], list: number[]): boolean {
    const { stack, seen, program } = this;
    stack.length = 0;
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      this.steps++;
      if (seen[pc] === pos) continue;
      seen[pc] = pos;
      const inst = program[pc]!;
      switch (inst.op) {
        case "match":
          return true;
        case "set":
          list.push(pc);
          break;
        case "jmp":
          stack.push(inst.x);
          break;
        case "split":
          stack.push(inst.y, inst.x);
          break;
        case "assert":
          if (holds(inst.what, pos, cps)) stack.push(pc + 1);
          break;
      }
    }
    return false;
  }
}

function holds(what: Assertion, pos: number, cps: readonly number[]): boolean {
  if (what === "start") return pos === 0;
  if (what === "end") return pos === cps.length;
  const boundary = isWord(cps[pos - 1] ?? -1) !== isWord(cps[pos] ?? -1);
  return boundary === (what === "word");
}
