/**
 * identity — normalise the identity a request presents, once per request.
 *
 * Rules (issue "Identity checks"): lower case; strip ONE trailing dot; IDN
 * (non-ASCII) names to ASCII with url.domainToASCII; IPv4-mapped IPv6 to IPv4;
 * IPv6 in canonical RFC 5952 form. Names that domainToASCII refuses are kept
 * lower-cased as given, so a syntax check can still see (and refuse) them.
 *
 * What can go wrong: nothing throws; an unparsable client_address leaves
 * `client` null (checks that need it skip).
 */
import { domainToASCII } from 'node:url';
import { parseIp, type ParsedIp } from './ip.js';
import type { PolicyRequest } from '../protocol/request.js';

export interface Identity {
  /** the client's address, parsed; null when client_address is empty or not an address */
  readonly client: ParsedIp | null;
  /** canonical text of the client address (or the raw value when unparsable) */
  readonly clientAddress: string;
  /** normalised HELO/EHLO name, '' when none was given */
  readonly helo: string;
  /** sender address as given ('' = null sender <>) */
  readonly sender: string;
  readonly nullSender: boolean;
  /** normalised domain part of the sender, '' for <> or a sender without "@" */
  readonly senderDomain: string;
  /** sender domain is an address literal like [192.0.2.1] */
  readonly senderDomainIsLiteral: boolean;
  /** normalised domain part of the recipient ('' when absent) */
  readonly recipientDomain: string;
  /** the client authenticated with SASL (sasl_username set) */
  readonly sasl: boolean;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Normalise a domain name: lower case, one trailing dot off, IDN to ASCII. */
export function normalizeDomain(name: string): string {
  let n = name.trim();
  if (n.endsWith('.') && !n.endsWith('..')) n = n.slice(0, -1);
  if (NON_ASCII.test(n)) {
    const ascii = domainToASCII(n);
    return ascii === '' ? n.toLowerCase() : ascii;
  }
  return n.toLowerCase();
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1);
}

export function identityOf(req: PolicyRequest): Identity {
  const client = req.client_address === '' ? null : parseIp(req.client_address);
  const sender = req.sender;
  const rawDomain = domainOf(sender);
  const literal = rawDomain.startsWith('[') && rawDomain.endsWith(']');
  const helo = req.helo_name === '' ? '' : normalizeHelo(req.helo_name);
  return {
    client,
    clientAddress: client ? client.text : req.client_address,
    helo,
    sender,
    nullSender: sender === '' || sender === '<>',
    senderDomain: rawDomain === '' ? '' : literal ? rawDomain.toLowerCase() : normalizeDomain(rawDomain),
    senderDomainIsLiteral: literal,
    recipientDomain: req.recipient === '' ? '' : normalizeDomain(domainOf(req.recipient)),
    sasl: req.sasl_username !== '',
  };
}

/** HELO: address literals keep their brackets (lower-cased), names are normalised domains. */
export function normalizeHelo(helo: string): string {
  const h = helo.trim();
  if (h.startsWith('[')) return h.toLowerCase();
  return normalizeDomain(h);
}
