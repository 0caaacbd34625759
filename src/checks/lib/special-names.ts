/**
 * checks/lib/special-names — domain names that are local by definition.
 *
 * A HELO with one of these names names no host on the Internet: it is a
 * machine's local default (localhost, *.localdomain, *.lan, *.local), or a
 * name reserved so that it never resolves in the global DNS.
 *
 * Sources: IANA Special-Use Domain Names registry — localhost and invalid
 * (RFC 6761 §6.3, §6.4), local (RFC 6762), home.arpa (RFC 8375), onion
 * (RFC 7686), alt (RFC 9476); internal (ICANN board resolution 2024, reserved
 * for private use); localdomain and lan are unregistered but common local
 * defaults (rspamd hfilter checks_hello lists them).
 *
 * Deliberately NOT here: "test" and "example" (RFC 6761 §6.2, §6.5 say
 * applications SHOULD NOT treat them specially, and lab/test DNS zones use
 * them); helo_unknown judges such names by their DNS records.
 *
 * What can go wrong: nothing; a suffix match on label boundaries.
 */
import { isUnder } from './hostname.js';

export interface SpecialName {
  readonly suffix: string;
  readonly source: string;
}

const SPECIAL_USE: readonly SpecialName[] = [
  { suffix: 'localhost', source: 'RFC 6761' },
  { suffix: 'localdomain', source: 'local default, not in the DNS' },
  { suffix: 'local', source: 'RFC 6762 (multicast DNS)' },
  { suffix: 'lan', source: 'local default, not in the DNS' },
  { suffix: 'home.arpa', source: 'RFC 8375' },
  { suffix: 'internal', source: 'reserved for private use by ICANN' },
  { suffix: 'invalid', source: 'RFC 6761' },
  { suffix: 'alt', source: 'RFC 9476' },
  { suffix: 'onion', source: 'RFC 7686' },
];

/** The special-use suffix `name` falls under, or null. */
export function specialUseName(name: string): SpecialName | null {
  for (const s of SPECIAL_USE) if (isUnder(name, s.suffix)) return s;
  return null;
}
