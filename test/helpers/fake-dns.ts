/**
 * fake-dns — a zone-backed DnsLookup for unit tests, recording every query.
 *
 * Lookup semantics (like a recursive resolver as Node reports it):
 *   - name absent from the zone            -> notfound NXDOMAIN
 *   - name present, type absent            -> notfound NODATA
 *   - type (or the whole name) set to a failure word (SERVFAIL, TIMEOUT,
 *     REFUSED)                             -> tempfail with that reason
 *   - CNAME on a name                      -> followed (at most 8 steps) for
 *     every type, the answer is the target's (the resolver returns the final
 *     records, as c-ares does); a dangling CNAME is NXDOMAIN
 * PTR data is keyed by the reverse name (in-addr.arpa / ip6.arpa); a zone key
 * that is an IP address is turned into its reverse name, and ptr(address)
 * queries that reverse name, so tests see the ip6.arpa nibble form.
 * `failWhen(type, name)` injects a failure for chosen queries (tempfail tests).
 * `calls` lists every query in order as { type, name } (name = the DNS name
 * asked: the reverse name for PTR).
 *
 * Never touches the network.
 */
import type { DnsAnswer, DnsLookup, MxRecord } from '../../src/dns/types.js';
import { parseIp } from '../../src/net/ip.js';

export type Failure = 'SERVFAIL' | 'TIMEOUT' | 'REFUSED';
export type RrType = 'A' | 'AAAA' | 'MX' | 'PTR' | 'TXT';

export interface ZoneNode {
  A?: string[] | Failure;
  AAAA?: string[] | Failure;
  /** [preference, exchange]; exchange "." is a null MX */
  MX?: Array<[number, string]> | Failure;
  PTR?: string[] | Failure;
  /** one string per record */
  TXT?: string[] | Failure;
  CNAME?: string;
}

export type Zone = Record<string, ZoneNode | Failure>;

export interface Call {
  readonly type: RrType;
  readonly name: string;
}

/** in-addr.arpa / ip6.arpa name of an address. */
export function reverseName(address: string): string {
  const ip = parseIp(address);
  if (ip === null) throw new Error(`fake-dns: not an address: ${address}`);
  if (ip.family === 4) return `${ip.text.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = ip.value.toString(16).padStart(32, '0');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

function keyOf(name: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  return parseIp(n) !== null ? reverseName(n) : n;
}

export class FakeDns implements DnsLookup {
  readonly calls: Call[] = [];
  private readonly zone = new Map<string, ZoneNode | Failure>();
  failWhen: (type: RrType, name: string) => Failure | null = () => null;

  constructor(zone: Zone = {}) {
    for (const [k, v] of Object.entries(zone)) this.zone.set(keyOf(k), v);
  }

  count(type?: RrType): number {
    return type === undefined ? this.calls.length : this.calls.filter((c) => c.type === type).length;
  }

  private answer<T>(type: RrType, qname: string, map: (raw: unknown) => T[]): Promise<DnsAnswer<T>> {
    this.calls.push({ type, name: qname });
    const injected = this.failWhen(type, qname);
    if (injected !== null) return Promise.resolve({ status: 'tempfail', records: [], reason: injected });
    let name = qname;
    for (let hops = 0; hops < 8; hops++) {
      const node = this.zone.get(name);
      if (node === undefined) return Promise.resolve({ status: 'notfound', records: [], reason: 'NXDOMAIN' });
      if (typeof node === 'string') return Promise.resolve({ status: 'tempfail', records: [], reason: node });
      const data = node[type];
      if (data === undefined && node.CNAME !== undefined) {
        name = keyOf(node.CNAME);
        continue;
      }
      if (data === undefined || (Array.isArray(data) && data.length === 0)) {
        return Promise.resolve({ status: 'notfound', records: [], reason: 'NODATA' });
      }
      if (typeof data === 'string') return Promise.resolve({ status: 'tempfail', records: [], reason: data });
      return Promise.resolve({ status: 'ok', records: map(data), reason: 'NOERROR' });
    }
    return Promise.resolve({ status: 'tempfail', records: [], reason: 'CNAME loop' });
  }

  a(name: string): Promise<DnsAnswer<string>> {
    return this.answer('A', name, (d) => d as string[]);
  }

  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.answer('AAAA', name, (d) => (d as string[]).map((x) => parseIp(x)?.text ?? x));
  }

  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.answer('MX', name, (d) =>
      (d as Array<[number, string]>).map(([priority, exchange]) => ({ priority, exchange: exchange === '.' ? '' : exchange.toLowerCase().replace(/\.$/, '') })),
    );
  }

  ptr(address: string): Promise<DnsAnswer<string>> {
    // records kept exactly as the zone gives them (case, trailing dot): the checks must normalise
    return this.answer('PTR', reverseName(address), (d) => d as string[]);
  }

  txt(name: string): Promise<DnsAnswer<string>> {
    return this.answer('TXT', name, (d) => d as string[]);
  }
}
