/**
 * ip — IP address parsing, canonical forms and CIDR matching (IPv4 and IPv6).
 *
 * Addresses are compared in one canonical form: IPv4 dotted quad; IPv6 as
 * RFC 5952 text (lower case, longest zero run compressed); an IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`) is treated as the IPv4 address it carries.
 * CIDR sets are compiled once (at config load) into per-family prefix lists and
 * matched with integer/BigInt arithmetic, no string work per lookup.
 *
 * What can go wrong: parse functions return null for anything that is not an
 * address or prefix; `compileCidrs` throws a plain Error naming the bad entry
 * (the config loader turns it into PI_CONFIG_INVALID with a position).
 */
import { isIP } from 'node:net';

export interface ParsedIp {
  family: 4 | 6;
  /** IPv4: 32-bit unsigned; IPv6: 128-bit BigInt */
  value: bigint;
  /** canonical text */
  text: string;
}

/**
 * Dotted quad to a 32-bit unsigned number, or null. One pass over the char
 * codes: no split, no regex, no strings (this runs for every request's client
 * address; the split/regex version allocated five strings and ran four regex
 * tests; bench/ip-parse.mjs measures it).
 */
function v4ToInt(s: string): number | null {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255 || ++dots > 3) return null;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else return null;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return null;
  return n * 256 + octet;
}

function intToV4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function v6ToBig(s: string): bigint | null {
  let str = s;
  const pct = str.indexOf('%');
  if (pct !== -1) str = str.slice(0, pct); // zone index: not part of the address
  let tail: number[] = [];
  const lastColon = str.lastIndexOf(':');
  if (str.indexOf('.', lastColon) !== -1) {
    const v4 = v4ToInt(str.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [(v4 >>> 16) & 0xffff, v4 & 0xffff];
    str = str.slice(0, lastColon + 1); // "::ffff:", "::" or "1:2:3:4:5:6:"
    if (!str.endsWith('::')) str = str.slice(0, -1);
  }
  const dbl = str.indexOf('::');
  if (dbl !== str.lastIndexOf('::')) return null;
  const parseGroups = (t: string): number[] | null => {
    if (t === '') return [];
    const out: number[] = [];
    for (const g of t.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl !== -1) {
    const head = parseGroups(str.slice(0, dbl));
    const rest = parseGroups(str.slice(dbl + 2));
    if (!head || !rest) return null;
    const fill = 8 - head.length - rest.length - tail.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  } else {
    const g = parseGroups(str);
    if (!g) return null;
    groups = [...g, ...tail];
  }
  if (groups.length !== 8) return null;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** RFC 5952 canonical text of a 128-bit value. */
export function bigToV6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

const V4_MAPPED_PREFIX = 0xffffn << 32n;

/**
 * Parse an address (no brackets, no prefix). IPv4-mapped IPv6 comes back as
 * IPv4. Returns null when it is not an address.
 *
 * (Not memoised on purpose: a bounded Map of recent results made every
 * never-seen address 11 µs dearer — its entries survive a scavenge or two and
 * die in old space — while a hit saved under 1 µs; bench/ip-parse.mjs.)
 */
export function parseIp(input: string): ParsedIp | null {
  const s = input.trim();
  const fam = isIP(s.indexOf('%') === -1 ? s : s.slice(0, s.indexOf('%')));
  if (fam === 4) {
    const n = v4ToInt(s);
    if (n === null) return null; // isIP accepts nothing else, but keep the type narrow
    // isIP accepts only the canonical dotted quad (no leading zeros, no spaces): s is its text
    return { family: 4, value: BigInt(n), text: s };
  }
  if (fam === 6) {
    const v = v6ToBig(s);
    if (v === null) return null;
    if (v >> 32n === 0xffffn && (v & ~0xffffffffn) === V4_MAPPED_PREFIX) {
      const n = Number(v & 0xffffffffn);
      return { family: 4, value: BigInt(n), text: intToV4(n) };
    }
    return { family: 6, value: v, text: bigToV6(v) };
  }
  return null;
}

/** Canonical text of an address, or null. */
export function canonicalIp(input: string): string | null {
  return parseIp(input)?.text ?? null;
}

export interface Cidr {
  family: 4 | 6;
  prefix: number;
  /** network value, host bits cleared */
  net: bigint;
  text: string;
}

/** Parse `a.b.c.d/n`, `v6/n`, or a bare address (a host prefix). Null if invalid. */
export function parseCidr(input: string): Cidr | null {
  const s = input.trim();
  const slash = s.indexOf('/');
  const addr = parseIp(slash === -1 ? s : s.slice(0, slash));
  if (!addr) return null;
  const rawIsV6 = (slash === -1 ? s : s.slice(0, slash)).includes(':');
  const bits = addr.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    // ::ffff:a.b.c.d/n is written in IPv6 prefix bits: translate to IPv4 bits.
    if (addr.family === 4 && rawIsV6) {
      if (prefix < 96) return null;
      prefix -= 96;
    }
    if (prefix > bits) return null;
  }
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  const net = addr.value & mask;
  const text = `${addr.family === 4 ? intToV4(Number(net)) : bigToV6(net)}/${prefix}`;
  return { family: addr.family, prefix, net, text };
}

/** A compiled set of prefixes; `has` answers membership for canonical or raw addresses. */
export class CidrSet {
  private readonly v4: Array<{ net: number; mask: number }> = [];
  private readonly v6: Array<{ net: bigint; mask: bigint }> = [];
  readonly entries: readonly string[];

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) {
      if (c.family === 4) {
        // >>> 0 keeps the mask an unsigned 32-bit number (1 << 32 would wrap)
        const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
        this.v4.push({ net: Number(c.net), mask });
      } else {
        const mask = c.prefix === 0 ? 0n : ((1n << BigInt(c.prefix)) - 1n) << BigInt(128 - c.prefix);
        this.v6.push({ net: c.net, mask });
      }
    }
    this.entries = cidrs.map((c) => c.text);
  }

  /** configs print as their entries */
  toJSON(): readonly string[] {
    return this.entries;
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  hasParsed(ip: ParsedIp): boolean {
    if (ip.family === 4) {
      const n = Number(ip.value);
      for (const e of this.v4) if (((n & e.mask) >>> 0) === e.net) return true;
      return false;
    }
    for (const e of this.v6) if ((ip.value & e.mask) === e.net) return true;
    return false;
  }

  has(address: string): boolean {
    const ip = parseIp(address);
    return ip !== null && this.hasParsed(ip);
  }
}

/** Compile a list of CIDR strings; throws Error naming the first bad entry. */
export function compileCidrs(list: readonly string[]): CidrSet {
  const out: Cidr[] = [];
  for (const s of list) {
    const c = parseCidr(s);
    if (!c) throw new Error(`not an IP address or CIDR prefix: ${JSON.stringify(s)}`);
    out.push(c);
  }
  return new CidrSet(out);
}
