// bench/lib/zone.mjs — the DNS data behind the benchmark's identities.
//
// The same answers as the peer harness's dnsmasq (bench/peers/dnsmasq.conf), so the daemon, postfwd2 and policyd-weight judge
// the same world: host records (A/AAAA plus the matching PTR), MX records, a
// generic dynamic pool 198.51.100.64-127 (dyn-198-51-100-N.dsl.isp.example, both
// directions, like dnsmasq's synth-domain), a PTR without an address, a null
// MX, SPF records of the good senders' domains, and the local DNSBL/RHSBL
// entries. Plus the synthetic cold-cache world of
// lib/mix.mjs (2001:db8:c01d::/48 clients; <host>.<company>.example names,
// a registered domain per identity).
//
// Semantics as dnsmasq with `local=/#/`: a name we do not know is NXDOMAIN;
// a known name without the asked type is NODATA. TTL 300 s, negative 60 s.
//
// What can go wrong: nothing; unknown input is NXDOMAIN.
import { coldHasPtr, coldHostName, coldNumber, coldAddress, COLD_HOSTS, COLD_CLIENT_PREFIX, COLD_MX_PREFIX } from './mix.mjs';

export const TTL = 300;
export const NEG_TTL = 60;

/** name -> { A, AAAA, MX: [{preference, exchange}], PTR, TXT } */
const zone = new Map();
const entry = (name) => {
  const k = name.toLowerCase();
  let e = zone.get(k);
  if (!e) zone.set(k, (e = {}));
  return e;
};
const add = (name, type, value) => (entry(name)[type] ??= []).push(value);

/** A or AAAA plus the PTR pointing back (dnsmasq host-record). */
function host(name, ...addrs) {
  for (const a of addrs) {
    add(name, a.includes(':') ? 'AAAA' : 'A', a);
    add(arpa(a), 'PTR', name);
  }
}
const mx = (domain, exchange, preference = 10) => add(domain, 'MX', { preference, exchange });

// good identities
host('mail.example.net', '203.0.113.5');
host('mail6.example.net', '2001:db8:25::10');
mx('example.net', 'mail.example.net');
host('smtp.shop.example.org', '203.0.113.20');
mx('shop.example.org', 'smtp.shop.example.org');
host('out1.mailer.example.com', '198.51.100.25');
host('mx.lists.example.com', '198.51.100.26');
mx('lists.example.com', 'mx.lists.example.com');
host('mail-sor-f41.google.com', '203.0.113.41');
host('gmail-smtp-in.l.google.com', '203.0.113.42');
mx('gmail.com', 'gmail-smtp-in.l.google.com', 5);
host('mx.example.com', '192.0.2.25');
mx('example.com', 'mx.example.com');
host('mx.example.org', '192.0.2.26');
mx('example.org', 'mx.example.org');
// dynamic pool (generic PTRs) and its ISP
for (let i = 64; i <= 127; i++) host(`dyn-198-51-100-${i}.dsl.isp.example`, `198.51.100.${i}`);
host('mx.isp.example', '198.51.100.1');
mx('isp.example', 'mx.isp.example');
// bad identities (no PTR at all for 192.0.2.10, 203.0.113.90, 192.0.2.99: NXDOMAIN)
host('relay.badhelo.example.net', '203.0.113.66');
mx('badhelo.example.net', 'relay.badhelo.example.net');
host('host70.example.org', '203.0.113.70');
add('6.113.0.203.in-addr.arpa', 'PTR', 'host6.nofcrdns.example.org'); // PTR without an address
mx('nofcrdns.example.org', 'mx.example.org');
mx('nullmx.example.com', '.', 0); // RFC 7505
host('mta.listed.example.org', '192.0.2.200');
mx('listed.example.org', 'mta.listed.example.org');
// SPF (RFC 7208) for the good senders' domains, as real domains publish it: the
// daemon judges provider forgery and the MAIL FROM identity on SPF. gmail.com
// redirects to _spf.google.com as the real one does; 203.0.113.40/29 stands for
// Google's outbound ranges (mail-sor-f41 is in it, the forger 192.0.2.99 is not).
add('gmail.com', 'TXT', 'v=spf1 redirect=_spf.google.com');
add('_spf.google.com', 'TXT', 'v=spf1 ip4:203.0.113.40/29 ~all');
add('example.net', 'TXT', 'v=spf1 ip4:203.0.113.5 ip6:2001:db8:25::10 -all');
add('shop.example.org', 'TXT', 'v=spf1 ip4:203.0.113.20 -all');
add('lists.example.com', 'TXT', 'v=spf1 ip4:198.51.100.25 -all');
// local DNSBL / RHSBL (only the peers query them)
add('200.2.0.192.dnsbl.bench.test', 'A', '127.0.0.2');
add('200.2.0.192.dnsbl.bench.test', 'TXT', 'listed in the local bench DNSBL');
add('listed.example.org.rhsbl.bench.test', 'A', '127.0.0.2');
add('listed.example.org.rhsbl.bench.test', 'TXT', 'listed in the local bench RHSBL');

/** The reverse-DNS name of an address. */
export function arpa(addr) {
  if (!addr.includes(':')) return `${addr.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${expand6(addr).split('').reverse().join('.')}.ip6.arpa`;
}
/** 32 hex nibbles of an IPv6 address (no embedded IPv4 form needed here). */
function expand6(addr) {
  const [head, tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = addr.includes('::') && tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

// ---- the synthetic cold world ----------------------------------------------
const COLD_CLIENT_NIBBLES = expand6(COLD_CLIENT_PREFIX).slice(0, 12); // 2001:0db8:c01d
const COLD_SPF = `v=spf1 ip6:${COLD_CLIENT_PREFIX}/48 -all`;
const COLD_HOST_SET = new Set(COLD_HOSTS);

/** Answers for a name or reverse name of the cold world, or null (NXDOMAIN). */
function coldLookup(name) {
  if (name.endsWith('.ip6.arpa')) {
    const nib = name.slice(0, -'.ip6.arpa'.length).split('.').reverse().join('');
    if (nib.length !== 32 || !nib.startsWith(COLD_CLIENT_NIBBLES)) return null;
    const n = parseInt(nib.slice(24), 16);
    if (!coldHasPtr(n)) return null;
    return { PTR: [coldHostName(n)] };
  }
  // <company>.example (the sender domain), mx.<company>.example, <host>.<company>.example
  const labels = name.split('.');
  if (labels.length < 2 || labels.length > 3 || labels[labels.length - 1] !== 'example') return null;
  const n = coldNumber(labels[labels.length - 2]);
  if (n < 0) return null;
  if (labels.length === 2) return { MX: [{ preference: 10, exchange: `mx.${labels[0]}.example` }], TXT: [COLD_SPF] };
  if (labels[0] === 'mx') return { AAAA: [coldAddress(COLD_MX_PREFIX, n)] };
  // only the host name the client's PTR names exists (the other prefixes: NXDOMAIN, as in a real zone)
  if (COLD_HOST_SET.has(labels[0]) && name === coldHostName(n)) return { AAAA: [coldAddress(COLD_CLIENT_PREFIX, n)] };
  return null;
}

/**
 * Answer one question. Returns { rcode: 'NOERROR' | 'NXDOMAIN', answers: [...] }
 * with answers as dns-packet records.
 */
export function lookup(qname, qtype) {
  const name = qname.toLowerCase().replace(/\.$/, '');
  const e = zone.get(name) ?? (name.endsWith('.example') || name.endsWith('.ip6.arpa') ? coldLookup(name) : null);
  if (!e) return { rcode: 'NXDOMAIN', answers: [] };
  const answers = [];
  for (const data of e[qtype] ?? []) {
    answers.push({ type: qtype, name, ttl: TTL, data: qtype === 'TXT' ? [data] : data });
  }
  return { rcode: 'NOERROR', answers };
}
