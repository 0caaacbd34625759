/**
 * checks/lib/hostname — RFC 5321 syntax of HELO/EHLO arguments and domain names.
 *
 * Grammar (RFC 5321 §4.1.2, §4.1.3; ABNF strings are case-insensitive):
 *   Domain          = sub-domain *("." sub-domain)
 *   sub-domain      = Let-dig [Ldh-str]        ; letters, digits, inner hyphens; no "_"
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                           General-address-literal ) "]"
 *   IPv4-address-literal = Snum 3("." Snum)    ; 0..255
 *   IPv6-address-literal = "IPv6:" IPv6-addr
 * Lengths: labels 1..63 octets, a domain at most 255 octets (RFC 5321 §4.5.3.1.2).
 *
 * Decisions (documented in docs/checks.md):
 *   - General-address-literal ("[tag:content]") is refused: no such tag is in use
 *     for SMTP, and Postfix refuses it too (valid_mailhost_literal).
 *   - An IPv4 literal whose first octet is 0 (but is not 0.0.0.0) is refused, as
 *     Postfix's valid_ipv4_hostaddr() does ("bad initial octet value").
 *   - A bare IP address (no brackets) is accepted as syntax, as Postfix's
 *     reject_invalid_helo_hostname accepts it for compatibility; helo_not_fqdn
 *     refuses it, like reject_non_fqdn_helo_hostname.
 *   - All-numeric labels are valid Domain syntax (RFC 5321 Let-dig); a name whose
 *     LAST label is all-numeric is not a FQDN (no top-level domain is numeric).
 * Names arrive normalised (identity.ts: lower case, one trailing dot removed,
 * IDN converted to ASCII), so "Mail.Example.COM." and "bücher.example" are valid.
 *
 * What can go wrong: nothing throws; every input gets a form and a reason.
 */
import { parseIp, type ParsedIp } from '../../net/ip.js';
import type { Identity } from '../../net/identity.js';
import type { PolicyRequest } from '../../protocol/request.js';

export type HeloForm =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly name: string; readonly why: string }
  /** a valid [IPv4] or [IPv6:...] literal */
  | { readonly kind: 'literal'; readonly name: string; readonly ip: ParsedIp }
  /** an IP address without brackets */
  | { readonly kind: 'bare-ip'; readonly name: string; readonly ip: ParsedIp }
  /** a syntactically valid domain name; `notFqdn` says why it is not fully qualified, '' if it is */
  | { readonly kind: 'name'; readonly name: string; readonly notFqdn: string };

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
const NUMERIC = /^[0-9]+$/;
const DOTTED_QUAD = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/;

/** Show one offending character readably (control characters escaped). */
function showChar(c: string): string {
  return JSON.stringify(c);
}

/** Why `name` is not an RFC 5321 Domain, or null when it is one. */
export function domainSyntaxError(name: string): string | null {
  if (name === '') return 'empty name';
  if (name.length > 253) return `longer than 253 characters (${name.length}; RFC 1035 §2.3.4)`;
  for (const label of name.split('.')) {
    if (label === '') return 'empty label (misplaced dot)';
    if (label.length > 63) return `label longer than 63 characters (${label.length})`;
    if (!LDH_LABEL.test(label)) {
      const bad = /[^a-z0-9-]/i.exec(label);
      if (bad) return `invalid character ${showChar(bad[0])} in label "${label}"`;
      return `label "${label}" starts or ends with a hyphen`;
    }
  }
  return null;
}

/** Why a valid Domain is not fully qualified, or '' when it is. */
export function notFqdnReason(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot === -1) return 'no dot in the name';
  if (NUMERIC.test(name.slice(dot + 1))) return 'the last label is all-numeric';
  return '';
}

/** Parse "[a.b.c.d]" / "[IPv6:...]": the address, or why it is not a valid literal. */
export function parseAddressLiteral(text: string): { ip: ParsedIp } | { why: string } {
  if (!text.startsWith('[')) return { why: "'[' expected at start" };
  const close = text.indexOf(']');
  if (close === -1) return { why: "']' expected at end" };
  if (close !== text.length - 1) return { why: "unexpected text after ']'" };
  const inner = text.slice(1, -1);
  if (inner.length > 64) return { why: 'too much text inside [...]' };
  if (/^ipv6:/i.test(inner)) {
    const v6 = inner.slice(5);
    // no zone index (%eth0), no prefix, hex/colon/dot only (RFC 5321 IPv6-addr)
    if (!v6.includes(':') || !/^[0-9a-f:.]+$/i.test(v6)) return { why: `malformed IPv6 address "${v6}"` };
    const ip = parseIp(v6);
    if (ip === null) return { why: `malformed IPv6 address "${v6}"` };
    return { ip };
  }
  const quad = DOTTED_QUAD.exec(inner);
  if (quad) {
    const octets = quad.slice(1, 5).map(Number);
    if (octets.some((o) => o > 255)) return { why: `invalid octet value in "${inner}"` };
    // Postfix valid_ipv4_hostaddr(): "Allow 0.0.0.0 but not 0.1.2.3"
    if (octets[0] === 0 && octets.some((o) => o !== 0)) return { why: `bad initial octet value in "${inner}"` };
    const ip = parseIp(octets.join('.'));
    if (ip === null) return { why: `malformed IPv4 address "${inner}"` };
    return { ip };
  }
  if (inner.includes(':')) {
    if (parseIp(inner) !== null) return { why: 'IPv6 address literal without the "IPv6:" tag' };
    return { why: `general address literal "[${inner}]" is not supported` };
  }
  return { why: `malformed address literal "[${inner}]"` };
}

/**
 * Classify the HELO/EHLO argument of a request. Presence is judged on the raw
 * attribute, so "HELO ." (empty after normalisation) is invalid, not missing.
 */
export function heloForm(req: PolicyRequest, id: Identity): HeloForm {
  if (req.helo_name.trim() === '') return { kind: 'none' };
  const name = id.helo;
  if (name === '') return { kind: 'invalid', name: req.helo_name, why: 'empty name' };
  if (name.startsWith('[')) {
    const lit = parseAddressLiteral(name);
    return 'ip' in lit ? { kind: 'literal', name, ip: lit.ip } : { kind: 'invalid', name, why: lit.why };
  }
  const bare = parseIp(name);
  if (bare !== null && name.indexOf('%') === -1) return { kind: 'bare-ip', name, ip: bare };
  const err = domainSyntaxError(name);
  if (err !== null) return { kind: 'invalid', name, why: err };
  return { kind: 'name', name, notFqdn: notFqdnReason(name) };
}

/**
 * A name we may look up in DNS: labels of 1..63 of letters, digits, "-" or "_"
 * (DNS itself allows "_"), at most 253 characters. Used for PTR targets, MX
 * hosts and sender domains before querying.
 */
export function isLookupableName(name: string): boolean {
  if (name === '' || name.length > 253) return false;
  for (const label of name.split('.')) {
    if (label === '' || label.length > 63 || !/^[a-z0-9_-]+$/i.test(label)) return false;
  }
  return true;
}

/** name equals domain or is below it, on a label boundary (evilgoogle.com is not under google.com). */
export function isUnder(name: string, domain: string): boolean {
  return name === domain || (name.length > domain.length && name.endsWith(domain) && name[name.length - domain.length - 1] === '.');
}
