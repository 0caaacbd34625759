/**
 * prng — a small seeded PRNG for the fuzz, load and fault tests, so that a
 * failing case can be replayed from the seed printed in the test output.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator; 128-bit state,
 * passes PractRand) seeded through splitmix32 from one 32-bit seed.
 * Math.random() is never used by the tests that take a seed.
 *
 * What can go wrong: nothing; `int(0)` returns 0.
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
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

  constructor(readonly seed: number) {
    const sm = splitmix32(seed);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.u32(); // mix the state
  }

  /** a uniformly random unsigned 32-bit integer */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** an integer in [0, n) */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** an integer in [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** true with probability p */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** a child generator with its own seed (print `child.seed` to replay just that case) */
  fork(): Prng {
    return new Prng(this.u32());
  }
}

/** The seed from the environment variable `name` (decimal or 0x hex), else a fresh random one. */
export function seedFromEnv(name: string): number {
  const v = process.env[name];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff) return n;
    throw new Error(`${name}=${v}: expected an unsigned 32-bit integer (decimal or 0x...)`);
  }
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(performance.now() * 1000)) >>> 0;
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
