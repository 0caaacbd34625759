/**
 * special — is an address globally reachable? (IANA special-purpose registries)
 *
 * Sources, "Globally Reachable" column (RFC 8190), read for this table:
 *   - IANA IPv4 Special-Purpose Address Space,
 *     https://www.iana.org/assignments/iana-ipv4-special-registry/
 *     (registry last updated 2020-09-04);
 *   - IANA IPv6 Special-Purpose Address Space,
 *     https://www.iana.org/assignments/iana-ipv6-special-registry/
 *     (registry last updated 2025-10-09: 100:0:0:1::/64 dummy prefix,
 *     RFC 9780; 2001:1::3/128 DNS-SD SRP anycast, RFC 9665, globally
 *     reachable; 5f00::/16 SRv6 SIDs, RFC 9602; 3fff::/20 documentation,
 *     RFC 9637).
 * Every block below is NOT globally reachable, except the carve-outs in the
 * EXCEPTIONS lists, which are. Blocks the registries mark globally reachable
 * and that sit in no internal block (64:ff9b::/96, 2620:4f:8000::/48,
 * 192.31.196.0/24, 192.52.193.0/24, 192.175.48.0/24) need no row.
 * CPython's Lib/ipaddress.py keeps a similar table (it lacked 2001:1::3 until
 * cpython#151049).
 *
 * The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 * 2001:db8::/32, 3fff::/20) are internal here, like every other block: a
 * client or an MX host there is a placeholder or a lab, not the Internet.
 * identity.public_networks (empty by default) lets a lab count them as public.
 *
 * Deliberate differences from CPython's `is_global`, for an MTA's point of view
 * (an SMTP client, a HELO address or an MX host address must be a unicast
 * address that the Internet can reach):
 *   - 100.64.0.0/10 (CGNAT, RFC 6598) is internal (CPython: neither private nor global);
 *   - multicast 224.0.0.0/4 and ff00::/8 are internal (separate IANA registries);
 *   - 192.88.99.0/24 (6to4 relay anycast, deprecated by RFC 7526) is internal;
 *   - fec0::/10 (site-local, deprecated by RFC 3879) is internal;
 *   - 5f00::/16 (SRv6 SIDs, RFC 9602; IANA: not globally reachable) is internal.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged by the IPv4 address it carries
 * (parseIp already maps it; classifyIp maps it again for raw values).
 *
 * What can go wrong: nothing throws; text that is not an address is reported
 * as not global with block null (callers skip unparsable input before).
 */
import { parseCidr, parseIp, type CidrSet, type ParsedIp } from './ip.js';

export interface SpecialBlock {
  /** the registry prefix, e.g. "10.0.0.0/8" */
  readonly cidr: string;
  /** the registry's name for it, e.g. "private-use" */
  readonly name: string;
  /** the defining document, e.g. "RFC 1918" */
  readonly rfc: string;
}

interface CompiledBlock extends SpecialBlock {
  readonly family: 4 | 6;
  readonly prefix: number;
  readonly net: bigint;
  readonly mask: bigint;
  /** the top 32 bits of net and mask, as numbers: a cheap first test (see longestMatch) */
  readonly net32: number;
  readonly mask32: number;
  /** what classifyIp answers for an address in this block (frozen, shared): internal, and overridden */
  readonly internal: IpClass;
  readonly overridden: IpClass;
}

function compile(family: 4 | 6, rows: ReadonlyArray<readonly [string, string, string]>): CompiledBlock[] {
  const bits = family === 4 ? 32 : 128;
  return rows.map(([cidr, name, rfc]) => {
    const c = parseCidr(cidr);
    if (!c || c.family !== family) throw new Error(`special.ts: bad table entry ${cidr}`);
    const mask = c.prefix === 0 ? 0n : ((1n << BigInt(c.prefix)) - 1n) << BigInt(bits - c.prefix);
    const top = BigInt(bits - 32);
    const plain: SpecialBlock = Object.freeze({ cidr: c.text, name, rfc });
    return {
      cidr: c.text, name, rfc, family, prefix: c.prefix, net: c.net, mask,
      net32: Number(c.net >> top), mask32: Number(mask >> top),
      internal: Object.freeze({ global: false, block: plain, overridden: false }),
      overridden: Object.freeze({ global: true, block: plain, overridden: true }),
    };
  });
}

/** IPv4 blocks that are not globally reachable. */
const V4_INTERNAL = compile(4, [
  ['0.0.0.0/8', '"this network"', 'RFC 791'],
  ['10.0.0.0/8', 'private-use', 'RFC 1918'],
  ['100.64.0.0/10', 'shared address space (CGNAT)', 'RFC 6598'],
  ['127.0.0.0/8', 'loopback', 'RFC 1122'],
  ['169.254.0.0/16', 'link-local', 'RFC 3927'],
  ['172.16.0.0/12', 'private-use', 'RFC 1918'],
  ['192.0.0.0/24', 'IETF protocol assignments', 'RFC 6890'],
  ['192.0.0.0/29', 'IPv4 service continuity prefix', 'RFC 7335'],
  ['192.0.0.8/32', 'IPv4 dummy address', 'RFC 7600'],
  ['192.0.0.170/31', 'NAT64/DNS64 discovery', 'RFC 7050'],
  ['192.0.2.0/24', 'documentation (TEST-NET-1)', 'RFC 5737'],
  ['192.88.99.0/24', 'deprecated 6to4 relay anycast', 'RFC 7526'],
  ['192.168.0.0/16', 'private-use', 'RFC 1918'],
  ['198.18.0.0/15', 'benchmarking', 'RFC 2544'],
  ['198.51.100.0/24', 'documentation (TEST-NET-2)', 'RFC 5737'],
  ['203.0.113.0/24', 'documentation (TEST-NET-3)', 'RFC 5737'],
  ['224.0.0.0/4', 'multicast', 'RFC 5771'],
  ['240.0.0.0/4', 'reserved', 'RFC 1112'],
  ['255.255.255.255/32', 'limited broadcast', 'RFC 919'],
]);

/** Globally reachable carve-outs inside the IPv4 blocks above. */
const V4_GLOBAL_EXCEPTIONS = compile(4, [
  ['192.0.0.9/32', 'Port Control Protocol anycast', 'RFC 7723'],
  ['192.0.0.10/32', 'TURN anycast', 'RFC 8155'],
]);

/** IPv6 blocks that are not globally reachable. */
const V6_INTERNAL = compile(6, [
  ['::/128', 'unspecified address', 'RFC 4291'],
  ['::1/128', 'loopback', 'RFC 4291'],
  // ::ffff:0:0/96 (IPv4-mapped) is not listed: classifyIp judges the IPv4 inside
  ['64:ff9b:1::/48', 'IPv4/IPv6 translation, local use', 'RFC 8215'],
  ['100::/64', 'discard-only', 'RFC 6666'],
  ['100:0:0:1::/64', 'dummy IPv6 prefix', 'RFC 9780'],
  ['2001::/23', 'IETF protocol assignments', 'RFC 2928'],
  ['2001::/32', 'Teredo', 'RFC 4380'],
  ['2001:2::/48', 'benchmarking', 'RFC 5180'],
  ['2001:10::/28', 'deprecated ORCHID', 'RFC 4843'],
  ['2001:db8::/32', 'documentation', 'RFC 3849'],
  ['2002::/16', '6to4', 'RFC 3056'],
  ['3fff::/20', 'documentation', 'RFC 9637'],
  ['5f00::/16', 'SRv6 SIDs', 'RFC 9602'],
  ['fc00::/7', 'unique-local', 'RFC 4193'],
  ['fe80::/10', 'link-local unicast', 'RFC 4291'],
  ['fec0::/10', 'deprecated site-local', 'RFC 3879'],
  ['ff00::/8', 'multicast', 'RFC 4291'],
]);

/** Globally reachable carve-outs inside 2001::/23. */
const V6_GLOBAL_EXCEPTIONS = compile(6, [
  ['2001:1::1/128', 'Port Control Protocol anycast', 'RFC 7723'],
  ['2001:1::2/128', 'TURN anycast', 'RFC 8155'],
  ['2001:1::3/128', 'DNS-SD Service Registration Protocol anycast', 'RFC 9665'],
  ['2001:3::/32', 'AMT', 'RFC 7450'],
  ['2001:4:112::/48', 'AS112-v6', 'RFC 7535'],
  ['2001:20::/28', 'ORCHIDv2', 'RFC 7343'],
  ['2001:30::/28', 'drone remote ID (DRIP)', 'RFC 9374'],
]);

/**
 * The most specific block of `blocks` containing `value` (longest prefix), or
 * null. `top32` is the address's top 32 bits as a number: a block whose top
 * 32 bits do not match is passed over without BigInt arithmetic. Why: each
 * `value & mask` allocates a BigInt, 24 per IPv6 address (every block of
 * both tables), about 0.7 KB per call and 4 calls per never-seen identity
 * (client, HELO and MX host addresses: bench/coldpath.mjs --alloc-sites);
 * now only the one or two blocks whose top bits match are tested whole.
 */
function longestMatch(blocks: readonly CompiledBlock[], value: bigint, top32: number): CompiledBlock | null {
  let best: CompiledBlock | null = null;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (((top32 & b.mask32) >>> 0) !== b.net32) continue;
    if ((value & b.mask) === b.net && (best === null || b.prefix > best.prefix)) best = b;
  }
  return best;
}

export interface IpClass {
  /** globally reachable (or declared so by identity.public_networks) */
  readonly global: boolean;
  /** the special-purpose block that makes it internal; null when global */
  readonly block: SpecialBlock | null;
  /** internal per IANA, but listed in the override set (identity.public_networks) */
  readonly overridden: boolean;
}

const V4_MAPPED_HIGH = 0xffffn;

/** The answer for a global address that no block names (frozen, shared: no object per call). */
const GLOBAL: IpClass = Object.freeze({ global: true, block: null, overridden: false });

/**
 * Classify an address. `publicNetworks` (identity.public_networks) lists
 * prefixes that count as global even though IANA says otherwise (labs, test
 * setups on documentation or private ranges).
 */
export function classifyIp(ip: ParsedIp, publicNetworks?: CidrSet): IpClass {
  let family = ip.family;
  let value = ip.value;
  if (family === 6 && value >> 32n === V4_MAPPED_HIGH) {
    // ::ffff:a.b.c.d that did not come through parseIp: judge the IPv4 inside
    family = 4;
    value &= 0xffffffffn;
  }
  const internal = family === 4 ? V4_INTERNAL : V6_INTERNAL;
  const exceptions = family === 4 ? V4_GLOBAL_EXCEPTIONS : V6_GLOBAL_EXCEPTIONS;
  const top32 = family === 4 ? Number(value) : Number(value >> 96n);
  if (longestMatch(exceptions, value, top32) !== null) return GLOBAL;
  const block = longestMatch(internal, value, top32);
  if (block === null) return GLOBAL;
  if (publicNetworks !== undefined && publicNetworks.size > 0) {
    const asParsed: ParsedIp = family === ip.family ? ip : { family: 4, value, text: ip.text };
    if (publicNetworks.hasParsed(asParsed)) return block.overridden;
  }
  return block.internal;
}

/** True when the address (text or parsed) is globally reachable. Unparsable text: false. */
export function isGlobalIp(ip: ParsedIp | string, publicNetworks?: CidrSet): boolean {
  const p = typeof ip === 'string' ? parseIp(ip) : ip;
  return p !== null && classifyIp(p, publicNetworks).global;
}

/** "10.0.0.1 is private-use (10.0.0.0/8, RFC 1918)" style description of a class, for reasons. */
export function describeIpClass(text: string, c: IpClass): string {
  if (c.block === null) return `${text} is globally reachable`;
  const where = `${c.block.name} (${c.block.cidr}, ${c.block.rfc})`;
  return c.overridden ? `${text} is ${where}, counted as public by identity.public_networks` : `${text} is ${where}`;
}
