/**
 * A small seeded PRNG (mulberry32): the same seed gives the same sequence on every machine, so
 * generated benchmark data (and, with fixed commit dates, even commit ids) are reproducible.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + (this.nextU32() % (max - min + 1));
  }

  /** `count` distinct integers from [0, n), in the order drawn. */
  sample(n: number, count: number): number[] {
    const chosen = new Set<number>();
    const limit = Math.min(count, n);
    while (chosen.size < limit) chosen.add(this.int(0, n - 1));
    return [...chosen];
  }

  /**
   * `size` bytes of text: lines of up to 76 characters from a 64-character alphabet, like
   * base64. It compresses about as badly as real source with entropy (~0.77 under zlib), so pack
   * sizes are comparable with the measured anchors.
   */
  text(size: number): Buffer {
    const out = Buffer.allocUnsafe(size);
    let word = 0;
    let bits = 0;
    for (let i = 0; i < size; i++) {
      if (i % 77 === 76 || i === size - 1) {
        out[i] = 0x0a;
        continue;
      }
      if (bits < 6) {
        word = this.nextU32();
        bits = 32;
      }
      out[i] = ALPHABET[word & 63] ?? 0x2e;
      word >>>= 6;
      bits -= 6;
    }
    return out;
  }
}

const ALPHABET = Buffer.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
