/**
 * dns/types — the small DNS interface the checks see.
 *
 * Every lookup settles (never rejects) with one of three outcomes, the same
 * classes Postfix's dns_lookup() uses:
 *   ok        records found
 *   notfound  NXDOMAIN or NODATA (authoritative absence)
 *   tempfail  SERVFAIL, REFUSED, timeout, connection error, malformed reply,
 *             or the request's deadline passed
 * `reason` keeps the detail for logs and explanations (NOERROR, NXDOMAIN,
 * NODATA, SERVFAIL, REFUSED, TIMEOUT, DEADLINE, BADRESP, CONNREFUSED, ...).
 * Classification from Node's error codes happens in exactly one place:
 * src/dns/classify.ts.
 *
 * Unit tests pass a fake implementing DnsLookup; the daemon passes a
 * request-scoped view of the cached resolver (src/dns/resolver.ts).
 *
 * What can go wrong: nothing at run time (types only).
 */

export type DnsStatus = 'ok' | 'notfound' | 'tempfail';

export interface DnsAnswer<T> {
  readonly status: DnsStatus;
  /** empty unless status is 'ok' */
  readonly records: readonly T[];
  /** NOERROR when ok; otherwise why (NXDOMAIN, NODATA, SERVFAIL, TIMEOUT, DEADLINE, ...) */
  readonly reason: string;
  /**
   * tempfail answers made from a bug only (reason INTERNAL, src/checks/lib/lookup.ts):
   * the thrown error's message, for logs and explanations. `reason` stays a code word,
   * so nothing ever parses prose to learn the outcome.
   */
  readonly detail?: string;
  /**
   * ok answers only: records the server sent beyond the MAX_RECORDS (32) kept
   * (src/dns/resolver.ts); absent when nothing was dropped. Reasons add it as
   * "(+N more)".
   */
  readonly omitted?: number;
}

export interface MxRecord {
  /** target host, lower case, no trailing dot; '' for a null MX (RFC 7505 ".") */
  readonly exchange: string;
  readonly priority: number;
}

export interface DnsLookup {
  /** IPv4 addresses of a name (CNAMEs followed) */
  a(name: string): Promise<DnsAnswer<string>>;
  /** IPv6 addresses of a name, canonical text */
  aaaa(name: string): Promise<DnsAnswer<string>>;
  mx(name: string): Promise<DnsAnswer<MxRecord>>;
  /** PTR names of an address (IPv4 or IPv6; in-addr.arpa / ip6.arpa built here), lower case, no trailing dot */
  ptr(address: string): Promise<DnsAnswer<string>>;
  /** TXT records of a name, one string per record (its character-strings joined, RFC 7208 §3.3) */
  txt(name: string): Promise<DnsAnswer<string>>;
}
