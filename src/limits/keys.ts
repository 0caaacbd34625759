/**
 * limits/keys — what a rule counts under: the key text of a request, and
 * whether a rule applies to it at all (only/except selectors).
 *
 * Normalisation (so one client cannot dodge a limit by spelling): addresses
 * in canonical form with IPv4-mapped IPv6 read as IPv4 (net/identity.ts);
 * client_network masked to the rule's prefix per family (203.0.113.0/24,
 * 2001:db8:1:2::/64); names lower case, trailing dot off, IDN as ASCII;
 * sender and sasl_username lower case (a limit may be stricter, never looser,
 * than the account system's own case rules). A composite key joins its parts
 * with "|" after escaping "%" and "|", so no two tuples share a key; a key
 * longer than MAX_KEY_TEXT is replaced by "%sha256:" and its SHA-256 (bounded
 * Redis keys), a form no plain key can take (it starts with a bare "%").
 *
 * What can go wrong: a request without the attribute (no SASL login, null
 * sender, no HELO, unparsable client address) has no key: the rule does not
 * apply (null), it is never counted under an empty key.
 */
import { createHash } from 'node:crypto';
import { bigToV6 } from '../net/ip.js';
import type { ParsedIp } from '../net/ip.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { KeyAttr, Selector } from './config.js';

export const MAX_KEY_TEXT = 200;

/**
 * Hashed keys start with "%": a plain key never does (escapePart turns every
 * "%" of a value into "%25", and "%" is always followed by 25 or 7C), so no
 * client can send a value whose key equals someone else's hashed key.
 */
export const HASHED_KEY_PREFIX = '%sha256:';

export interface NetworkBits {
  readonly ipv4: number;
  readonly ipv6: number;
}

/** The client's network as "a.b.c.0/24" or "2001:db8::/64". */
export function networkOf(ip: ParsedIp, bits: NetworkBits): string {
  if (ip.family === 4) {
    const n = Number(ip.value);
    // >>> 0: keep the mask and the result unsigned 32-bit (1 << 32 would wrap)
    const mask = bits.ipv4 === 0 ? 0 : (0xffffffff << (32 - bits.ipv4)) >>> 0;
    const net = (n & mask) >>> 0;
    return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${bits.ipv4}`;
  }
  const mask = bits.ipv6 === 0 ? 0n : ((1n << BigInt(bits.ipv6)) - 1n) << BigInt(128 - bits.ipv6);
  return `${bigToV6(ip.value & mask)}/${bits.ipv6}`;
}

/** One attribute of the request, normalised; '' when the request has none. */
export function attrValue(attr: KeyAttr, req: PolicyRequest, id: Identity, bits: NetworkBits): string {
  switch (attr) {
    case 'client_address': return id.client ? id.client.text : '';
    case 'client_network': return id.client ? networkOf(id.client, bits) : '';
    case 'helo_name': return id.helo;
    case 'sender': {
      if (id.nullSender) return '';
      const at = id.sender.lastIndexOf('@');
      return at === -1 ? id.sender.toLowerCase() : `${id.sender.slice(0, at).toLowerCase()}@${id.senderDomain}`;
    }
    case 'sender_domain': return id.senderDomain;
    case 'sasl_username': return req.sasl_username.toLowerCase();
    case 'recipient_domain': return id.recipientDomain;
  }
}

const NEEDS_ESCAPE = /[%|]/;

function escapePart(v: string): string {
  // hot path: most values hold neither character; test before replacing
  return NEEDS_ESCAPE.test(v) ? v.replace(/%/g, '%25').replace(/\|/g, '%7C') : v;
}

/** The key text of a request under `attrs`, or null when an attribute is missing. */
export function keyOf(attrs: readonly KeyAttr[], req: PolicyRequest, id: Identity, bits: NetworkBits): string | null {
  let key: string;
  if (attrs.length === 1) {
    key = attrValue(attrs[0]!, req, id, bits);
    if (key === '') return null;
    key = escapePart(key);
  } else {
    key = '';
    for (let i = 0; i < attrs.length; i++) {
      const v = attrValue(attrs[i]!, req, id, bits);
      if (v === '') return null;
      key += i === 0 ? escapePart(v) : `|${escapePart(v)}`;
    }
  }
  return key.length > MAX_KEY_TEXT ? `${HASHED_KEY_PREFIX}${createHash('sha256').update(key).digest('hex')}` : key;
}

/** A compiled only/except block. */
export interface CompiledSelector {
  /** true when the block states no condition at all */
  readonly empty: boolean;
  /** every given condition holds */
  all(req: PolicyRequest, id: Identity): boolean;
  /** at least one given condition holds */
  any(req: PolicyRequest, id: Identity): boolean;
}

/** `domain` is `d` or a subdomain of it (label boundary: evilexample.com is not under example.com). */
export function domainUnder(domain: string, list: readonly string[]): boolean {
  for (const d of list) {
    if (domain === d) return true;
    if (domain.length > d.length && domain.endsWith(d) && domain.charCodeAt(domain.length - d.length - 1) === 46 /* . */) return true;
  }
  return false;
}

export function compileSelector(s: Selector): CompiledSelector {
  const tests: Array<(req: PolicyRequest, id: Identity) => boolean> = [];
  if (s.sasl !== null) { const want = s.sasl; tests.push((_req, id) => id.sasl === want); }
  if (s.clients.size > 0) tests.push((_req, id) => id.client !== null && s.clients.hasParsed(id.client));
  if (s.sender_domains.length > 0) tests.push((_req, id) => id.senderDomain !== '' && domainUnder(id.senderDomain, s.sender_domains));
  if (s.recipient_domains.length > 0) tests.push((_req, id) => id.recipientDomain !== '' && domainUnder(id.recipientDomain, s.recipient_domains));
  if (s.server_ports.length > 0) { const ports = s.server_ports.map(String); tests.push((req) => ports.includes(req.server_port)); }
  if (s.policy_contexts.length > 0) tests.push((req) => s.policy_contexts.includes(req.policy_context));
  return {
    empty: tests.length === 0,
    all: (req, id) => tests.every((f) => f(req, id)),
    any: (req, id) => tests.some((f) => f(req, id)),
  };
}
