/**
 * checks/lib/hostname — syntax of HELO/EHLO arguments and domain names.
 *
 * Two grammars for a HELO name (checks.helo_invalid.syntax):
 *   - "postfix" (default): exactly Postfix's valid_hostname()
 *     (src/util/valid_hostname.c): labels of letters, digits, "-" and "_"
 *     ("_" anywhere: "grr.."), 1..63 characters, no hyphen at the start or
 *     end of a label, no empty label, at least one non-digit in the name,
 *     at most 255 characters. This is what reject_invalid_helo_hostname
 *     accepts, so real clients named "mail_01.example.net" pass.
 *   - "rfc5321": RFC 5321 §4.1.2 Domain (sub-domain = Let-dig [Ldh-str]; no
 *     "_"), labels 1..63 octets, at most 255 octets (§4.5.3.1.2).
 * Address literals (RFC 5321 §4.1.3):
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                           General-address-literal ) "]"
 *   IPv4-address-literal = Snum 3("." Snum)    ; 0..255
 *   IPv6-address-literal = "IPv6:" IPv6-addr
 * IPv6 literals: "postfix" follows valid_ipv6_hostaddr() (at most 7 ":",
 * one "::", groups of 1..4 hex digits, an IPv4 tail after 2..6 fields), so
 * "[IPv6:1:2:3:4:5:6:7::]" is refused (eight ":"); "rfc5321" follows
 * IPv6-comp/IPv6v4-comp: "::" stands for at least two groups, so at most 6
 * groups (4 with an IPv4 tail) may stand beside it.
 *
 * Decisions (documented in docs/checks.md):
 *   - General-address-literal ("[tag:content]") is refused: no such tag is in use
 *     for SMTP, and Postfix refuses it too (valid_mailhost_literal).
 *   - An IPv4 literal whose first octet is 0 (but is not 0.0.0.0) is refused, as
 *     Postfix's valid_ipv4_hostaddr() does ("bad initial octet value").
 *   - A bare IP address (no brackets) is accepted as syntax, as Postfix's
 *     reject_invalid_helo_hostname accepts it for compatibility; helo_not_fqdn
 *     refuses it, like reject_non_fqdn_helo_hostname.
 *   - An all-numeric name that is not an address ("123", "1.2.3") is refused in
 *     the postfix grammar ("numeric hostname"); RFC 5321's Let-dig allows it.
 *     Either way a name whose LAST label is all-numeric is not a FQDN.
 * Names arrive normalised (identity.ts: lower case, one trailing dot removed,
 * IDN converted to ASCII), so "Mail.Example.COM." and "bücher.example" are valid.
 * Cost: one pass over at most 255 characters; no backtracking regex.
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

/** Which HELO grammar to apply (checks.helo_invalid.syntax). */
export type HeloSyntax = 'postfix' | 'rfc5321';
export const HELO_SYNTAXES: readonly HeloSyntax[] = ['postfix', 'rfc5321'];

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

/**
 * Why `name` fails Postfix's valid_hostname(), or null when it passes. A
 * transcription of the C loop: one pass, the same checks in the same order.
 */
export function postfixHostnameError(name: string): string | null {
  if (name === '') return 'empty name';
  let labelLength = 0;
  let nonNumeric = false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (digit || alpha || c === 95 /* _ */) {
      labelLength++;
      if (labelLength > 63) return 'label longer than 63 characters';
      if (!digit) nonNumeric = true;
    } else if (c === 46 /* . */) {
      if (labelLength === 0 || i + 1 === name.length) return 'empty label (misplaced dot)';
      labelLength = 0;
    } else if (c === 45 /* - */) {
      nonNumeric = true;
      labelLength++;
      const next = name.charCodeAt(i + 1);
      if (labelLength === 1 || i + 1 === name.length || next === 46) return 'misplaced hyphen (a label starts or ends with "-")';
    } else {
      return `invalid character ${showChar(name[i]!)}`;
    }
  }
  if (!nonNumeric) return 'numeric name that is not an address';
  if (name.length > 255) return `longer than 255 characters (${name.length})`;
  return null;
}

/** Why `name` is not a HELO name under `syntax`, or null. */
export function heloNameError(name: string, syntax: HeloSyntax): string | null {
  return syntax === 'postfix' ? postfixHostnameError(name) : domainSyntaxError(name);
}

/**
 * Postfix valid_ipv6_hostaddr() (src/util/valid_hostname.c): at most 7 ":",
 * at most one "::", no lone leading ":", hex groups of 1..4 digits, an IPv4
 * tail only after 2..6 fields, and a trailing ":" only as part of "::".
 */
export function postfixIpv6Valid(addr: string): boolean {
  let nullField = 0;
  let field = 0;
  let len = 0;
  let i = 0;
  for (;;) {
    if (i === addr.length) {
      if (field < 2) return false;
      if (len === 0 && nullField !== field - 1) return false;
      return true;
    }
    const ch = addr[i]!;
    if (ch === '.') {
      if (field < 2 || field > 6) return false;
      return validIpv4Text(addr.slice(i - len));
    }
    if (ch === ':') {
      if (field === 0 && len === 0 && /[0-9a-z]/i.test(addr[i + 1] ?? '')) return false;
      field++;
      if (field > 7) return false;
      i++;
      len = 0;
      if (addr[i] === ':') {
        if (nullField > 0) return false;
        nullField = field;
      }
      continue;
    }
    let n = 0;
    while (i + n < addr.length && /[0-9a-f]/i.test(addr[i + n]!)) n++;
    if (n > 4 || n === 0) return false;
    len = n;
    i += n;
  }
}

/** Postfix valid_ipv4_hostaddr(): four dotted decimal octets 0..255, "0.x.y.z" only as 0.0.0.0. */
function validIpv4Text(addr: string): boolean {
  const m = DOTTED_QUAD.exec(addr);
  if (m === null) return false;
  const o = m.slice(1, 5).map(Number);
  if (o.some((x) => x > 255)) return false;
  return !(o[0] === 0 && o.some((x) => x !== 0));
}

/**
 * RFC 5321 §4.1.3 IPv6-addr: IPv6-full (8 groups), IPv6-comp ("::" with at
 * most 6 groups beside it), IPv6v4-full (6 groups + IPv4), IPv6v4-comp ("::"
 * with at most 4 groups beside it + IPv4). "::" stands for at least two groups.
 */
export function rfc5321Ipv6Valid(addr: string): boolean {
  let head = addr;
  let v4 = false;
  const lastColon = addr.lastIndexOf(':');
  if (addr.indexOf('.', lastColon) !== -1) {
    if (!validIpv4Text(addr.slice(lastColon + 1))) return false;
    head = addr.slice(0, lastColon + 1);
    v4 = true;
    // "a:b:c:d:e:f:" + v4 or "...::" + v4: the tail colon belongs to the v4 part
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsOk = (part: string): number => {
    if (part === '') return 0;
    const g = part.split(':');
    for (const x of g) if (!/^[0-9a-f]{1,4}$/i.test(x)) return -1;
    return g.length;
  };
  const dbl = head.indexOf('::');
  if (dbl === -1) {
    const n = groupsOk(head);
    return n === (v4 ? 6 : 8);
  }
  if (head.indexOf('::', dbl + 1) !== -1) return false;
  const left = groupsOk(head.slice(0, dbl));
  const right = groupsOk(head.slice(dbl + 2));
  if (left < 0 || right < 0) return false;
  return left + right <= (v4 ? 4 : 6);
}

/** Why a valid Domain is not fully qualified, or '' when it is. */
export function notFqdnReason(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot === -1) return 'no dot in the name';
  if (NUMERIC.test(name.slice(dot + 1))) return 'the last label is all-numeric';
  return '';
}

/** Parse "[a.b.c.d]" / "[IPv6:...]": the address, or why it is not a valid literal. */
export function parseAddressLiteral(text: string, syntax: HeloSyntax = 'postfix'): { ip: ParsedIp } | { why: string } {
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
    if (syntax === 'postfix' ? !postfixIpv6Valid(v6) : !rfc5321Ipv6Valid(v6)) {
      return { why: `malformed IPv6 address "${v6}" (${syntax === 'postfix' ? 'Postfix valid_ipv6_hostaddr()' : 'RFC 5321 §4.1.3: "::" stands for at least two groups'})` };
    }
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
 * `syntax`: the grammar (default Postfix's); only helo_invalid reads the
 * configured one, the other checks judge names Postfix would accept.
 */
export function heloForm(req: PolicyRequest, id: Identity, syntax: HeloSyntax = 'postfix'): HeloForm {
  if (req.helo_name.trim() === '') return { kind: 'none' };
  const name = id.helo;
  if (name === '') return { kind: 'invalid', name: req.helo_name, why: 'empty name' };
  if (name.startsWith('[')) {
    const lit = parseAddressLiteral(name, syntax);
    return 'ip' in lit ? { kind: 'literal', name, ip: lit.ip } : { kind: 'invalid', name, why: lit.why };
  }
  const bare = parseIp(name);
  if (bare !== null && name.indexOf('%') === -1) return { kind: 'bare-ip', name, ip: bare };
  const err = heloNameError(name, syntax);
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
