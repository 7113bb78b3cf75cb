/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32)
 * for fuzzing: the same seed gives the same sequence on every machine, so a
 * failing case can be replayed from its seed and iteration alone.
 */

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const mix = splitmix32(seed);
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    // The first outputs of sfc32 still show the seed: discard them.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /**
   * An independent stream for one iteration of a run: replaying iteration
   * `i` needs only (seed, i), not the iterations before it.
   */
  static forIteration(seed: number, iteration: number): Prng {
    const mix = splitmix32((seed ^ Math.imul(iteration + 1, 0x27d4eb2d)) >>> 0);
    return new Prng(mix() ^ iteration);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Picks by weight: `[[3, 'a'], [1, 'b']]` gives 'a' three times as often. */
  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((sum, [w]) => sum + w, 0);
    let r = this.float() * total;
    for (const [w, value] of entries) {
      if (r < w) return value;
      r -= w;
    }
    return (entries[entries.length - 1] as readonly [number, T])[1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /**
   * A length with a bias towards the small and the edges that matter to a
   * WebSocket parser (125/126, 65535/65536).
   */
  length(max: number): number {
    const edges = [0, 1, 2, 125, 126, 127, 65535, 65536].filter((n) => n <= max);
    if (this.chance(0.2) && edges.length > 0) return this.pick(edges);
    // Log-uniform: short payloads are common, long ones occur.
    return Math.min(max, Math.floor(Math.exp(this.float() * Math.log(max + 1))));
  }

  /** Valid UTF-8 text of exactly `n` bytes, mixing 1- to 4-byte characters. */
  text(n: number): string {
    const parts: string[] = [];
    let bytes = 0;
    while (bytes < n) {
      let ch = this.pick(this.pick(ALPHABETS));
      if (bytes + Buffer.byteLength(ch) > n) ch = 'a';
      parts.push(ch);
      bytes += Buffer.byteLength(ch);
    }
    return parts.join('');
  }
}

// 1-, 2-, 3- and 4-byte UTF-8 characters.
const ALPHABETS = ['abcdefghijklmnopqrstuvwxyz0123456789 {}":,', 'éüßñ€', '日本語テキスト', '😀🚀🎉'].map((a) => Array.from(a));
