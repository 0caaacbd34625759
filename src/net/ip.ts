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

export interface ParsedIp {
  family: 4 | 6;
  /** IPv4: 32-bit unsigned; IPv6: 128-bit BigInt */
  value: bigint;
  /** canonical text */
  text: string;
}

/**
 * A dotted quad exactly as node:net isIP() accepts it (four decimal octets
 * 0-255, no leading zero, nothing else) to its 32-bit unsigned value; -1 when
 * it is not one. One pass over the char codes: no split, no regex, no strings.
 * Why not isIP: it runs a regex per call, and this runs for every request's
 * client address (issue 11 §4, the warm path; the earlier split/regex version
 * allocated five strings and ran four regex tests, bench/ip-parse.mjs).
 * test/checks.test.ts holds it equal to isIP over hostile vectors. Also the
 * dotted tail of an IPv6 address (isIP's IPv6 form has the same octets).
 */
function canonicalV4(s: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let lead = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255 || ++dots > 3) return -1;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      if (digits === 0) lead = c;
      else if (lead === 48) return -1; // "01": a leading zero
      octet = octet * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return n * 256 + octet;
}

function intToV4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The eight 16-bit groups of an IPv6 address, parsed in one pass over the
 * char codes into GROUPS (a module scratch array: parsing is synchronous).
 * Returns false when the text is not an address: it accepts exactly what
 * node:net isIP() calls IPv6 (the text before a "%" zone index), so parseIp
 * no longer runs isIP's long regex first (issue 11 §4, the warm path: one
 * regex per IPv6 client per request). test/checks.test.ts holds the two
 * equal over generated hostile text.
 *
 * Why not split/regex and BigInt as before (issue 11, CPU per never-seen
 * identity): a never-seen IPv6 client costs several parses per request (the
 * client, AAAA records, reverse names) and the old version split into
 * strings, ran a regex per group, spread arrays and did 8 BigInt shifts and
 * ORs, then 8 more BigInt shifts to print it: ~2-3 % of the cold path's CPU.
 * Numbers and one pass now; one BigInt per address is built from four
 * 32-bit words (ParsedIp.value stays a bigint for its users).
 */
const GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
const HEAD: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function v6Groups(s: string): boolean {
  let end = s.length;
  const pct = s.indexOf('%');
  if (pct !== -1) end = pct; // zone index: not part of the address
  let limit = 8;
  const lastColon = s.lastIndexOf(':', end - 1);
  if (lastColon === -1) return false;
  if (s.indexOf('.', lastColon) !== -1 && s.indexOf('.', lastColon) < end) {
    const v4 = canonicalV4(s.slice(lastColon + 1, end));
    if (v4 === -1) return false;
    GROUPS[6] = (v4 >>> 16) & 0xffff;
    GROUPS[7] = v4 & 0xffff;
    limit = 6;
    // "::ffff:", "::" or "1:2:3:4:5:6:": keep a "::" whole, drop a single separator
    end = s.charCodeAt(lastColon - 1) === 58 ? lastColon + 1 : lastColon;
  }
  let n = 0; // groups read
  let gap = -1; // where "::" stands, in groups read before it
  let cur = 0;
  let digits = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 58) {
      if (digits > 0) {
        if (n >= limit) return false;
        HEAD[n++] = cur;
        cur = 0;
        digits = 0;
      } else if (i > 0 && s.charCodeAt(i - 1) !== 58) return false;
      if (i + 1 < end && s.charCodeAt(i + 1) === 58) {
        if (gap !== -1) return false;
        gap = n;
        i++;
        if (i + 1 < end && s.charCodeAt(i + 1) === 58) return false; // a third ":"
      } else if (digits === 0 && n === 0 && gap === -1) return false; // a lone leading ":"
      continue;
    }
    const h = hexDigit(c);
    if (h < 0 || digits === 4) return false;
    cur = cur * 16 + h;
    digits++;
  }
  if (digits > 0) {
    if (n >= limit) return false;
    HEAD[n++] = cur;
  } else if (end > 0 && gap !== n) return false; // a trailing single ":"
  if (gap === -1) {
    if (n !== limit) return false;
    for (let k = 0; k < n; k++) GROUPS[k] = HEAD[k]!;
    return true;
  }
  const fill = limit - n;
  if (fill < 1) return false;
  for (let k = 0; k < gap; k++) GROUPS[k] = HEAD[k]!;
  for (let k = 0; k < fill; k++) GROUPS[gap + k] = 0;
  for (let k = gap; k < n; k++) GROUPS[fill + k] = HEAD[k]!;
  return true;
}

/**
 * The zero run RFC 5952 §4.2 writes as "::": the longest run of 2+ zero
 * groups, the first of equals; start * 16 + length, or -1 when there is none.
 */
function zeroRun(g: readonly number[]): number {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  return bestStart === -1 ? -1 : bestStart * 16 + bestLen;
}

/** RFC 5952 text of GROUPS: lower case, no leading zeros, the longest run of 2+ zero groups (the first of equals) as "::". */
function groupsToV6(g: readonly number[]): string {
  const run = zeroRun(g);
  const bestStart = run === -1 ? -1 : run >> 4;
  const bestLen = run & 15;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += g[i]!.toString(16);
  }
  return out;
}

/**
 * Whether s is already the RFC 5952 text groupsToV6(g) would build (s parsed
 * into g by v6Groups): compared char by char, nothing built. Why: most IPv6
 * text the daemon parses is canonical already (c-ares prints AAAA records
 * that way, Postfix the client address), and building it again cost ~400
 * bytes per parse in cons strings, toString(16) pieces and their flattening:
 * 2.5 KB per never-seen IPv6 identity (issue 11 §2, bench/coldpath.mjs
 * --alloc-sites). The same zero run as groupsToV6 (zeroRun).
 */
function isCanonicalV6(s: string, g: readonly number[]): boolean {
  const run = zeroRun(g);
  const bestStart = run === -1 ? -1 : run >> 4;
  const bestLen = run & 15;
  let pos = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      if (s.charCodeAt(pos) !== 58 || s.charCodeAt(pos + 1) !== 58) return false;
      pos += 2;
      i += bestLen - 1;
      continue;
    }
    if (pos > 0 && s.charCodeAt(pos - 1) !== 58) {
      if (s.charCodeAt(pos) !== 58) return false;
      pos++;
    }
    const v = g[i]!;
    for (let shift = v >= 0x1000 ? 12 : v >= 0x100 ? 8 : v >= 0x10 ? 4 : 0; shift >= 0; shift -= 4) {
      const d = (v >> shift) & 15;
      if (s.charCodeAt(pos++) !== (d < 10 ? 48 + d : 87 + d)) return false;
    }
  }
  return pos === s.length;
}

/** RFC 5952 canonical text of a 128-bit value. */
export function bigToV6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  return groupsToV6(g);
}

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
  // No colon: an IPv4 address or nothing (isIP's IPv6 forms all have one), so
  // the IPv4 check is ours, without node:net's regex (canonicalV4). Accepted
  // means canonical: s is its text. With a colon: IPv6 or nothing, v6Groups
  // validates as isIP does.
  if (s.indexOf(':') === -1) {
    const n = canonicalV4(s);
    return n === -1 ? null : { family: 4, value: BigInt(n), text: s };
  }
  if (v6Groups(s)) {
    const g = GROUPS;
    if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
      const n = ((g[6]! << 16) | g[7]!) >>> 0; // IPv4-mapped: the IPv4 address it carries
      return { family: 4, value: BigInt(n), text: intToV4(n) };
    }
    // four 32-bit words: 4 BigInt conversions, 3 shifts, 3 ORs (was 8 + 8 + 8)
    const value = (BigInt(((g[0]! << 16) | g[1]!) >>> 0) << 96n) | (BigInt(((g[2]! << 16) | g[3]!) >>> 0) << 64n)
      | (BigInt(((g[4]! << 16) | g[5]!) >>> 0) << 32n) | BigInt(((g[6]! << 16) | g[7]!) >>> 0);
    return { family: 6, value, text: isCanonicalV6(s, g) ? s : groupsToV6(g) };
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
