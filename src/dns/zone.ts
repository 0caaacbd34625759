/**
 * dns/zone — which zone a query belongs to, for the per-zone in-flight share
 * (dns.max_inflight_per_zone, src/dns/resolver.ts).
 *
 * A client controls its reverse zone and its sender domain's and HELO's
 * records; a zone of its making can answer slowly on purpose. Queries are
 * grouped by who runs the zone, as far as a name tells:
 *   - names (A, AAAA, MX): the registered domain (public-suffix list via
 *     tldts, private suffixes included: each blogspot.com user runs its own
 *     zone); a name under no known suffix: its last two labels;
 *   - PTR of an IPv4 address: its /24 (the usual reverse delegation unit);
 *   - PTR of an IPv6 address: its /48 (the usual end-site assignment).
 * The key is only a grouping: a wrong guess costs fairness, never a wrong
 * answer.
 *
 * What can go wrong: nothing throws; tldts never throws on strings, and the
 * caller refuses names over 253 octets before asking (so the parse is bounded).
 */
import { getDomain } from 'tldts';
import type { ParsedIp } from '../net/ip.js';

const TLDTS_OPTIONS = {
  allowPrivateDomains: true,
  extractHostname: false, // a host name already, not a URL
  validateHostname: false, // "_dmarc"-style labels must not hide the domain
  detectIp: false,
} as const;

/** The zone key of a host or domain name (lower case, no trailing dot). */
export function nameZone(name: string): string {
  const d = getDomain(name, TLDTS_OPTIONS);
  if (d !== null && d !== '') return d;
  const last = name.lastIndexOf('.');
  if (last <= 0) return name;
  const prev = name.lastIndexOf('.', last - 1);
  return prev === -1 ? name : name.slice(prev + 1);
}

/** The zone key of an address's reverse name: its /24 (IPv4) or /48 (IPv6). */
export function reverseZone(ip: ParsedIp): string {
  if (ip.family === 4) return `v4:${ip.text.slice(0, ip.text.lastIndexOf('.'))}`;
  return `v6:${(ip.value >> 80n).toString(16)}`;
}
