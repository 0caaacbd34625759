/**
 * checks.test — every identity check against a zone-backed fake DnsLookup.
 *
 * Table-driven: each row is a request (attributes as Postfix sends them), a
 * DNS zone (test/helpers/fake-dns.ts) and the expected finding. The fake never
 * touches the network. Also: IANA special-purpose vectors (CPython
 * test_ipaddress semantics), Postfix valid_hostname vectors, generic-rDNS
 * vectors (haraka-net-utils), the "a DNS tempfail never makes a fail"
 * property for every check, and the query counts the request memo achieves.
 *
 * Test addresses come from the documentation ranges (192.0.2.0/24,
 * 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32); the test config declares
 * them public through identity.public_networks, which is exactly what that key
 * is for. Some rows use real public addresses as strings inside DNS answers.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import t from 'tap';
import { CHECKS, CHECK_IDS } from '../src/checks/index.js';
import { judgeGenericName } from '../src/checks/lib/generic-rdns.js';
import { describeAnswer, dnsTempfail } from '../src/checks/lib/format.js';
import { heloForm, postfixIpv6Valid, rfc5321Ipv6Valid } from '../src/checks/lib/hostname.js';
import { loadConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import type { DnsLookup } from '../src/dns/types.js';
import { compileCidrs, parseIp } from '../src/net/ip.js';
import { identityOf } from '../src/net/identity.js';
import { classifyIp, isGlobalIp } from '../src/net/special.js';
import type { CheckContext, CheckDef, Finding } from '../src/checks/types.js';
import { toPolicyRequest } from '../src/protocol/request.js';
import { FakeDns, reverseName, type Zone } from './helpers/fake-dns.js';

// ---- fixtures ------------------------------------------------------------------

const TEST_YAML = `
identity:
  my_names: [mx.ours.example]
  my_addresses: [198.51.100.25, "2001:db8:ffff::25"]
  public_networks: [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, "2001:db8::/32"]
`;

function config(yaml: string): Config {
  const r = loadConfigText(yaml, 'test.yaml');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}

const CONFIG = config(TEST_YAML);
/** The strict IANA reading, the default: no prefix declared public. */
/** helo_invalid with the strict RFC 5321 grammar */
const CONFIG_RFC5321 = config(`${TEST_YAML}checks:\n  helo_invalid:\n    syntax: rfc5321\n`);
const CONFIG_NO_OVERRIDE = config(TEST_YAML.replace(/ {2}public_networks:.*\n/, '  public_networks: []\n'));

/** The shared lab zone. Rows add or replace names with `zone`. */
const ZONE: Zone = {
  // a good IPv4 client: PTR, FCrDNS, HELO = PTR name
  '203.0.113.5': { PTR: ['mail.example.net'] },
  'mail.example.net': { A: ['203.0.113.5'], AAAA: ['2001:db8:5::25'] },
  'out.example.net': { A: ['203.0.113.6'] },
  '203.0.113.6': { PTR: ['out.example.net'] },
  // a good IPv6 client
  '2001:db8:5::25': { PTR: ['mail.example.net'] },
  // the sender domain and its MX
  'example.net': { MX: [[10, 'mx.example.net']] },
  'mx.example.net': { A: ['203.0.113.25'], AAAA: ['2001:db8:5::26'] },
  // a domain without MX (implicit MX), one without anything, one with a null MX
  'a-only.example': { A: ['192.0.2.80'] },
  'empty.example': {},
  'nullmx.example': { MX: [[0, '.']] },
  'nullmx-mixed.example': { MX: [[10, 'mx.example.net'], [0, '.']] },
  // provider domains
  'gmail.com': { MX: [[5, 'gmail-smtp-in.l.google.com']] },
  'gmail-smtp-in.l.google.com': { A: ['142.250.102.27'] },
  '209.85.221.53': { PTR: ['mail-wr1-f53.google.com'] },
  'mail-wr1-f53.google.com': { A: ['209.85.221.53'] },
  '198.51.100.66': { PTR: ['evilgoogle.com'] },
  'evilgoogle.com': { A: ['198.51.100.66'] },
  // SRS forwarder
  'forwarder.example': { MX: [[10, 'mx.example.net']] },
  // IDN
  'xn--bcher-kva.example': { A: ['192.0.2.90'], MX: [[10, 'mx.example.net']] },
};

interface Row {
  readonly name: string;
  readonly check: string;
  readonly attrs?: Record<string, string>;
  readonly zone?: Zone;
  readonly config?: Config;
  readonly want: Finding['result'];
  readonly reason?: RegExp;
  readonly ptr?: string;
  /** exact number of DNS queries this check alone makes (fresh memo) */
  readonly queries?: number;
}

const BASE_ATTRS: Record<string, string> = {
  request: 'smtpd_access_policy',
  protocol_state: 'RCPT',
  protocol_name: 'ESMTP',
  client_address: '203.0.113.5',
  client_name: 'mail.example.net',
  helo_name: 'mail.example.net',
  sender: 'alice@example.net',
  recipient: 'bob@ours.example',
  server_address: '198.51.100.1',
  instance: '1.1',
};

function makeCtx(attrs: Record<string, string>, dns: DnsLookup, cfg: Config = CONFIG, memo = new Map<string, Promise<unknown>>()): CheckContext {
  const req = toPolicyRequest({ ...BASE_ATTRS, ...attrs });
  return { req, id: identityOf(req), dns, settings: cfg, memo };
}

const BY_ID = new Map<string, CheckDef>(CHECKS.map((c) => [c.id, c]));

function check(id: string): CheckDef {
  const c = BY_ID.get(id);
  if (c === undefined) throw new Error(`no check ${id}`);
  return c;
}

async function runRow(row: Row): Promise<{ f: Finding; dns: FakeDns }> {
  const dns = new FakeDns({ ...ZONE, ...row.zone });
  const f = await check(row.check).run(makeCtx(row.attrs ?? {}, dns, row.config));
  return { f, dns };
}

function runTable(title: string, rows: readonly Row[]): void {
  t.test(title, async (tt) => {
    for (const row of rows) {
      const { f, dns } = await runRow(row);
      tt.equal(f.check, row.check, `${row.name}: finding names its check`);
      tt.equal(f.result, row.want, `${row.name}: ${row.want} (${f.reason})`);
      tt.ok(f.reason.length > 0, `${row.name}: has a reason`);
      if (row.reason) tt.match(f.reason, row.reason, `${row.name}: reason`);
      if (row.ptr !== undefined) tt.equal(f.vars?.ptr, row.ptr, `${row.name}: vars.ptr`);
      if (row.queries !== undefined) tt.equal(dns.count(), row.queries, `${row.name}: ${row.queries} queries (${JSON.stringify(dns.calls)})`);
    }
  });
}

// ---- registry ------------------------------------------------------------------

t.test('registry: the issue table order, defaults per check', async (tt) => {
  tt.same(CHECK_IDS, [
    'helo_missing', 'helo_invalid', 'helo_not_fqdn', 'helo_address_literal', 'helo_private', 'helo_unknown',
    'helo_mismatch', 'helo_impersonation', 'spf_helo', 'spf_helo_softfail', 'spf_helo_permerror',
    'rdns_missing', 'rdns_unconfirmed', 'rdns_generic',
    'rdns_helo_mismatch', 'client_private', 'sender_domain_unknown', 'sender_null_mx', 'sender_mx_bogus',
    'sender_mx_required', 'client_not_sender_mx', 'spf_mail_from', 'spf_mail_from_softfail', 'spf_mail_from_permerror',
    'sender_provider_forgery',
  ]);
  const want: Record<string, [string, string | undefined]> = {
    helo_missing: ['reject', '503 5.5.1'],
    helo_invalid: ['reject', '501 5.5.2'],
    helo_not_fqdn: ['reject', '504 5.5.2'],
    helo_address_literal: ['warn', undefined], // RFC 5321 §4.1.4: MUST NOT refuse
    helo_private: ['reject', '550 5.7.1'],
    helo_unknown: ['defer', '450 4.7.1'],
    helo_mismatch: ['warn', undefined],
    helo_impersonation: ['reject', '550 5.7.1'],
    rdns_missing: ['defer', '450 4.7.25'],
    rdns_unconfirmed: ['defer', '450 4.7.25'],
    rdns_generic: ['warn', undefined],
    rdns_helo_mismatch: ['warn', undefined],
    client_private: ['reject', '550 5.7.1'],
    sender_domain_unknown: ['reject', '550 5.7.1'], // X.7.1: smtpd_dsn_fix() leaves it alone
    sender_null_mx: ['reject', '550 5.7.27'],
    sender_mx_bogus: ['reject', '550 5.7.1'],
    sender_mx_required: ['off', '550 5.7.1'],
    client_not_sender_mx: ['off', '550 5.7.1'],
    sender_provider_forgery: ['reject', '550 5.7.1'],
    // RFC 7208 §8.4 + RFC 7372 §3.2 (fail), §8.5 (softfail: not the sole reason to reject), §8.7 (permerror: local policy)
    spf_helo: ['reject', '550 5.7.23'],
    spf_helo_softfail: ['warn', undefined],
    spf_helo_permerror: ['warn', undefined],
    spf_mail_from: ['reject', '550 5.7.23'],
    spf_mail_from_softfail: ['warn', undefined],
    spf_mail_from_permerror: ['warn', undefined],
  };
  for (const c of CHECKS) {
    const [action, code] = want[c.id]!;
    tt.equal(c.defaults.action, action, `${c.id} action`);
    tt.equal(c.defaults.code, code, `${c.id} code`);
    tt.ok(c.defaults.message.length > 0 && !/[\r\n]/.test(c.defaults.message), `${c.id} has a one-line message`);
    tt.type(c.defaults.score, 'number', `${c.id} has a score`);
    tt.ok(c.summary.length > 0, `${c.id} summary`);
  }
  tt.equal(check('rdns_generic').defaults.score, 2);
  tt.equal(check('helo_address_literal').defaults.score, 2);
  tt.equal(check('helo_mismatch').defaults.score, 1);
  tt.equal(check('rdns_helo_mismatch').defaults.score, 1);
  // the config schema picks the defaults up from the registry
  tt.equal(CONFIG.checks.sender_null_mx?.code, '550 5.7.27');
  tt.equal(CONFIG.checks.client_not_sender_mx?.action, 'off');
});

// ---- special-purpose registries -------------------------------------------------

t.test('special: IANA special-purpose registries (CPython test_ipaddress vectors)', async (tt) => {
  const vectors: Array<[string, boolean]> = [
    // IPv4 (testReservedIpv4 / testPrivateNetworks, is_global)
    ['192.0.0.0', false], ['192.0.0.9', true], ['192.0.0.10', true], ['192.0.0.255', false], ['192.0.0.170', false],
    ['192.0.7.1', true], ['203.0.113.1', false], ['192.0.2.128', false], ['192.0.3.0', true],
    ['192.168.1.1', false], ['192.169.0.0', true], ['10.255.255.255', false], ['11.0.0.0', true],
    ['172.31.255.255', false], ['172.32.0.0', true], ['169.254.100.200', false], ['169.255.100.200', true],
    ['127.100.200.254', false], ['128.0.0.0', true], ['0.0.0.0', false], ['0.1.2.3', false],
    ['100.64.0.0', false], ['100.127.255.255', false], ['100.128.0.0', true], ['100.63.255.255', true],
    ['198.18.0.1', false], ['198.19.255.255', false], ['198.20.0.0', true], ['198.51.100.7', false],
    ['240.0.0.1', false], ['255.255.255.255', false], ['8.8.8.8', true], ['1.1.1.1', true],
    ['192.31.196.1', true], ['192.52.193.1', true], ['192.175.48.1', true],
    // IPv6 (testReservedIpv6 / testPrivateNetworks)
    ['::1', false], ['::', false], ['::ff', true], ['100::', false], ['100::ffff', false], ['100:0:0:1::', false], ['100:0:0:1::ffff', false], ['100:0:0:2::', true], // RFC 9780 dummy prefix
   
    ['64:ff9b:1::', false], ['64:ff9b::808:808', true],
    ['2001::', false], ['2001::1', false], ['2001:1::1', true], ['2001:1::2', true], ['2001:1::3', true], ['2001:1::4', false], // RFC 9665 SRP anycast
   
    ['2001:2::', false], ['2001:3::', true], ['2001:4::', false], ['2001:4:112::', true], ['2001:10::', false],
    ['2001:20::', true], ['2001:30::', true], ['2001:40::', false], ['2001:db8::1', false], ['2002::', false],
    ['3fff::', false], ['fc00::', false], ['fc00:ffff:ffff:ffff::', false], ['fdff::1', false],
    ['fbff:ffff::', true], ['fe80::1', false], ['febf:ffff::', false], ['200::1', true],
    ['2606:4700:4700::1111', true], ['2a00:1450:4001::1', true],
    // IPv4-mapped: judged by the IPv4 address
    ['::ffff:10.0.0.1', false], ['::ffff:8.8.8.8', true], ['::ffff:100.64.1.1', false], ['::ffff:c0a8:101', false],
    // deliberate MTA choices beyond CPython (documented in special.ts)
    ['224.0.0.1', false], ['239.255.255.250', false], ['ff02::1', false], ['fec0::1', false],
    ['192.88.99.1', false], ['5f00::1', false],
  ];
  for (const [addr, global] of vectors) tt.equal(isGlobalIp(addr), global, `${addr} global=${global}`);
  tt.equal(isGlobalIp('not-an-ip'), false, 'unparsable is not global');
  const c = classifyIp(parseIp('100.64.1.2')!);
  tt.match(c.block, { cidr: '100.64.0.0/10', rfc: 'RFC 6598' }, 'CGNAT named');
  tt.equal(classifyIp(parseIp('192.0.0.171')!).block?.cidr, '192.0.0.170/31', 'most specific block named');
  const raw = { family: 6 as const, value: (0xffffn << 32n) | 0x0a000001n, text: '::ffff:10.0.0.1' };
  tt.equal(classifyIp(raw).global, false, 'raw v4-mapped value judged by its IPv4');
  const pub = compileCidrs(['10.9.0.0/16', '2001:db8::/32']);
  tt.equal(classifyIp(parseIp('10.9.1.1')!, pub).global, true, 'public_networks override');
  tt.equal(classifyIp(parseIp('10.9.1.1')!, pub).overridden, true);
  tt.equal(classifyIp(parseIp('10.8.1.1')!, pub).global, false, 'outside the override');
  tt.equal(classifyIp(parseIp('2001:db8::9')!, pub).global, true, 'IPv6 override');
});

// ---- HELO syntax: Postfix valid_hostname vectors and RFC 5321 ------------------------

t.test('net/ip parseIp: IPv6 forms, RFC 5952 text, the 128-bit value (one-pass parser)', async (tt) => {
  const vectors: Array<[string, string | null, bigint?]> = [
    ['::', '::', 0n], ['::1', '::1', 1n], ['1::', '1::', 1n << 112n],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', (0x20010db8n << 96n) | 1n],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // the first of two equal zero runs (RFC 5952 §4.2.3)
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], // the longest run
    ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // one zero group is not "::" (RFC 5952 §4.2.2)
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'], ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'], ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['::ffff:192.0.2.1', '192.0.2.1', 0xc0000201n], ['0:0:0:0:0:ffff:c000:201', '192.0.2.1'], // IPv4-mapped: the IPv4 address
    ['fe80::1%eth0', 'fe80::1'], [' 2001:db8::25 ', '2001:db8::25'],
    [':::', null], ['1:::2', null], [':1::', null], ['1::2::3', null], ['12345::', null], ['1:2:3:4:5:6:7:8:9', null],
    ['1:2:3:4:5:6:7', null], ['g::1', null], ['::1.2.3', null], ['::256.1.1.1', null], ['', null],
  ];
  for (const [input, text, value] of vectors) {
    const p = parseIp(input);
    tt.equal(p?.text ?? null, text, `${JSON.stringify(input)} -> ${text}`);
    if (value !== undefined) tt.equal(p?.value, value, `${JSON.stringify(input)}: value`);
  }
  // every 16-bit group position and zero-run shape against a BigInt reference
  for (let mask = 0; mask < 256; mask++) {
    const groups = Array.from({ length: 8 }, (_, i) => ((mask >> i) & 1 ? 0 : 0x1000 + i * 0x111));
    const full = groups.map((g) => g.toString(16)).join(':');
    const ref = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
    const p = parseIp(full);
    tt.ok(p !== null && (p.family === 4 || p.value === ref), `${full}: value`);
    if (p !== null && p.family === 6) tt.equal(parseIp(p.text)?.value, ref, `${full} -> ${p.text}: its text parses back`);
  }
});

t.test('net/ip parseIp: IPv4 accepted exactly where node:net isIP says 4 (its own char loop, not the regex)', async (tt) => {
  const vectors = [
    '0.0.0.0', '255.255.255.255', '192.0.2.1', '10.0.0.10', '1.2.3.4', ' 192.0.2.7 ', '01.2.3.4', '1.02.3.4', '1.2.3.00', '0.0.0.00',
    '256.1.1.1', '1.1.1.256', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4%eth0', '1.2.3.4/32', '1.2.3.4\n',
    '١.٢.٣.٤', '1.2.3.4 x', '1234.1.1.1', '+1.2.3.4', '1.2.3.0x4', '', '.', '...', '999.999.999.999', '100.64.0.1',
  ];
  // and random strings over the alphabet that matters
  const alphabet = '0123456789.:% ';
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let i = 0; i < 3000; i++) {
    let v = '';
    const len = 1 + rnd(16);
    for (let k = 0; k < len; k++) v += alphabet[rnd(i % 2 === 0 ? 11 : alphabet.length)];
    vectors.push(v);
  }
  let checked = 0;
  for (const input of vectors) {
    const s = input.trim();
    const want = isIP(s) === 4 ? s : null;
    const p = parseIp(input);
    const got = p !== null && p.family === 4 && !s.includes(':') ? p.text : null;
    if (s.includes(':')) continue; // IPv6 and mapped forms: the test above
    checked++;
    if (got !== want) tt.fail(`${JSON.stringify(input)}: parseIp ${JSON.stringify(got)}, isIP ${JSON.stringify(want)}`);
    if (p !== null) {
      const parts = s.split('.').map(Number);
      tt.equal(p.value, BigInt(((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!), `${input}: value`);
    }
  }
  tt.ok(checked > 1000, `${checked} IPv4 candidates compared with isIP`);
  tt.equal(parseIp('1.2.3.4')?.text, '1.2.3.4');
  tt.equal(parseIp('01.2.3.4'), null, 'a leading zero is not canonical (isIP refuses it)');
});

t.test('net/ip parseIp: IPv6 accepted exactly where node:net isIP says 6 (its own parser, not the regex)', async (tt) => {
  let seed = 12345;
  const r = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const hex = '0123456789abcdefABCDEFg';
  const piece = (): string => {
    switch (r(11)) {
      case 0: return ':';
      case 1: return '::';
      case 2: return ':::';
      case 3: {
        let o = '';
        for (let k = 0; k < 4; k++) o += (k > 0 ? '.' : '') + (r(5) < 4 ? String(r(256)) : ['', '00', `0${r(10)}`, String(r(300))][r(4)]);
        return o;
      }
      case 4: return `%${['eth0', '', '1', '$', 'a:b'][r(5)]}`;
      case 5: return '.';
      case 9: return [' ', 'é', '::ffff:', '٣', '\t', '0x1', '-'][r(7)]!;
      case 10: return `::ffff:${r(256)}.${r(256)}.1.${r(300)}`;
      default: {
        let o = '';
        const len = r(6);
        for (let k = 0; k < len; k++) o += hex[r(r(8) === 0 ? hex.length : 16)];
        return o;
      }
    }
  };
  const inputs = [':::', '::', ':::1', '1:::', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '::ffff:01.2.3.4', 'fe80::1%$', '::1%', '%::1', ':'];
  while (inputs.length < 60_000) {
    let s = '';
    const parts = 1 + r(14);
    for (let k = 0; k < parts; k++) {
      s += piece();
      if (r(3) > 0 && k < parts - 1 && !s.endsWith(':')) s += ':';
    }
    if (s.includes(':')) inputs.push(s);
  }
  let valid = 0;
  let wrong = 0;
  for (const input of inputs) {
    const s = input.trim();
    const want = isIP(s.includes('%') ? s.slice(0, s.indexOf('%')) : s) === 6;
    if (want) valid++;
    if ((parseIp(input) !== null) !== want && wrong++ < 10) tt.fail(`${JSON.stringify(input)}: isIP ${want ? '' : 'not '}6, parseIp disagrees`);
  }
  tt.equal(wrong, 0, `${inputs.length} strings with a colon, ${valid} of them IPv6: parseIp agrees with isIP on each`);
  tt.ok(valid > 2000, 'enough of them are addresses');
});

t.test('hostname: Postfix valid_hostname.in/.ref vectors (default grammar) and RFC 5321 (strict grammar)', async (tt) => {
  const d63 = '123456789012345678901234567890123456789012345678901234567890123';
  const d64 = `${d63}4`;
  // [helo, form kind with syntax "postfix", form kind with syntax "rfc5321" (when different), not-fqdn?]
  // Postfix's kinds follow postfix/src/util/valid_hostname.ref: a HELO passes
  // reject_invalid_helo_hostname when valid_hostname() or valid_hostaddr() accepts it.
  const vectors: Array<[string, string, string | null, boolean?]> = [
    [d63, 'invalid', 'name', true], // "numeric hostname" (Postfix); RFC 5321 Let-dig allows it
    [d64, 'invalid', null],
    [`a.${d63}.b`, 'name', null, false],
    [`a.${d64}.b`, 'invalid', null],
    ['1.2.3.4', 'bare-ip', null],
    ['321.255.255.255', 'invalid', 'name', true],
    ['0.0.0.0', 'bare-ip', null],
    ['255.255.255.255', 'bare-ip', null],
    ['1.2.3.321', 'invalid', 'name', true],
    ['1.2.3', 'invalid', 'name', true],
    ['1.2.3.4.5', 'invalid', 'name', true],
    ['1..2.3.4', 'invalid', null],
    ['.1.2.3.4', 'invalid', null],
    ['1.2.3.4.5.', 'invalid', 'name', true], // one trailing dot is removed (Postfix dup_if_truncate too)
    ['1', 'invalid', 'name', true],
    ['.', 'invalid', null],
    ['321', 'invalid', 'name', true],
    ['f', 'name', null, true],
    ['f.2.3.4', 'name', null, true],
    ['1.2.3.4f', 'name', null, false],
    ['1.2.3.f', 'name', null, false],
    ['-.a.b', 'invalid', null], ['a.-.b', 'invalid', null], ['a.b.-', 'invalid', null], ['-aa.b.b', 'invalid', null], ['aa-.b.b', 'invalid', null],
    ['a.-bb.b', 'invalid', null], ['a.bb-.b', 'invalid', null], ['a.b.-bb', 'invalid', null], ['a.b.bb-', 'invalid', null],
    ['a-a.b-b', 'name', null, false],
    ['[1.2.3.4]', 'literal', null],
    ['[321.255.255.255]', 'invalid', null],
    ['[1.2.3.4', 'invalid', null],
    ['[1.2.3.4]foo', 'invalid', null],
    [`[${'x'.repeat(101)}]`, 'invalid', null],
    // "_": Postfix valid_hostname() accepts it anywhere in a label ("grr.."), RFC 5321 does not
    ['mail_server.example.com', 'name', 'invalid', false],
    ['mail_01.example.net', 'name', 'invalid', false],
    ['_mail.example.net', 'name', 'invalid', false],
    ['mail_.example.net', 'name', 'invalid', false],
    ['mail server.example.com', 'invalid', null],
    ['mail*.example.com', 'invalid', null],
    ['Mail.Example.COM.', 'name', null, false],
    ['bücher.example', 'name', null, false],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`, 'invalid', null], // 260 chars
    ['[IPv6:2001:db8::1]', 'literal', null],
    ['[ipv6:2001:DB8::1]', 'literal', null],
    ['[IPv6:::ffff:192.0.2.1]', 'literal', null],
    ['[2001:db8::1]', 'invalid', null],
    ['[::]', 'invalid', null],
    ['[ipv6::::]', 'invalid', null],
    ['[IPv6:2001:db8::1%eth0]', 'invalid', null],
    ['[IPv6:1.2.3.4]', 'invalid', null],
    // RFC 5321 §4.1.3: "::" stands for at least two groups; Postfix: at most 7 ":"
    ['[IPv6:1:2:3:4:5:6:7::]', 'invalid', null],
    ['[IPv6:::1:2:3:4:5:6:7]', 'invalid', null],
    ['[IPv6:1:2:3:4:5:6::7]', 'literal', 'invalid'],
    ['[IPv6:1:2:3:4:5::6]', 'literal', null],
    ['[IPv6:1:2:3:4:5:6:7:8]', 'literal', null],
    ['[IPv6:1:2:3:4:5:6:7:8:9]', 'invalid', null],
    ['[IPv6:1:2:3:4:5:6:7]', 'invalid', null],
    ['[IPv6:1::2::3]', 'invalid', null],
    ['[IPv6:1:2:3:4:5:6:1.2.3.4]', 'literal', null],
    ['[IPv6:1:2:3:4::1.2.3.4]', 'literal', null],
    ['[IPv6:1:2:3:4:5::1.2.3.4]', 'literal', 'invalid'],
    ['[IPv6:12345::1]', 'invalid', null],
    ['[x-tag:content]', 'invalid', null],
    ['[0.1.2.3]', 'invalid', null], // Postfix valid_ipv4_hostaddr: bad initial octet
    ['[0.0.0.0]', 'literal', null],
    ['[001.002.003.004]', 'literal', null], // RFC 5321 Snum = 1*3DIGIT
    ['2001:db8::1', 'bare-ip', null],
  ];
  for (const [helo, pfKind, rfcKind, notFqdn] of vectors) {
    const req = toPolicyRequest({ ...BASE_ATTRS, helo_name: helo });
    const pf = heloForm(req, identityOf(req));
    tt.equal(pf.kind, pfKind, `postfix: ${JSON.stringify(helo).slice(0, 40)} is ${pfKind}`);
    const rfc = heloForm(req, identityOf(req), 'rfc5321');
    tt.equal(rfc.kind, rfcKind ?? pfKind, `rfc5321: ${JSON.stringify(helo).slice(0, 40)} is ${rfcKind ?? pfKind}`);
    for (const form of [pf, rfc]) {
      if (notFqdn !== undefined && form.kind === 'name') tt.equal(form.notFqdn !== '', notFqdn, `${helo.slice(0, 40)} fqdn=${!notFqdn}`);
    }
  }
});

t.test('hostname: the IPv6 literal rules on their own (Postfix valid_ipv6_hostaddr, RFC 5321 IPv6-addr)', async (tt) => {
  const cases: Array<[string, boolean, boolean]> = [
    // [address, Postfix, RFC 5321]
    ['1:2:3:4:5:6:7::', false, false],
    ['::1:2:3:4:5:6:7', false, false],
    ['1:2:3:4:5:6::7', true, false],
    ['1::', true, true],
    ['::1', true, true],
    ['::', true, true],
    [':1::2', false, false],
    ['1:2:3:4:5:6:7:', false, false],
    ['1:2:3:4:5:6:7:8', true, true],
    ['1:2:3:4:5:6:7', true, false], // Postfix counts ":", not groups; the literal still needs a real address (parseIp)
    ['::ffff:1.2.3.4', true, true],
    ['1:2:3:4:5:6:1.2.3.4', true, true],
    ['1:2:3:4:5:6:7:1.2.3.4', false, false],
    ['1::2:3:4:5:1.2.3.4', true, false],
    ['1::1.2.3.256', false, false],
    ['abcde::1', false, false],
  ];
  for (const [a, pf, rfc] of cases) {
    tt.equal(postfixIpv6Valid(a), pf, `Postfix ${a}`);
    tt.equal(rfc5321Ipv6Valid(a), rfc, `RFC 5321 ${a}`);
  }
});

// ---- HELO checks -------------------------------------------------------------------

runTable('helo_missing', [
  { name: 'RCPT without HELO', check: 'helo_missing', attrs: { helo_name: '' }, want: 'fail', reason: /before RCPT/ },
  { name: 'MAIL without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'MAIL' }, want: 'fail' },
  { name: 'DATA without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'DATA' }, want: 'fail' },
  { name: 'END-OF-MESSAGE without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'END-OF-MESSAGE' }, want: 'fail' },
  { name: 'CONNECT without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'CONNECT' }, want: 'skip' },
  { name: 'EHLO state without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'EHLO' }, want: 'skip' },
  { name: 'VRFY without HELO', check: 'helo_missing', attrs: { helo_name: '', protocol_state: 'VRFY' }, want: 'skip' },
  { name: 'RCPT with HELO', check: 'helo_missing', want: 'pass', queries: 0 },
  { name: 'HELO "." is given (invalid, not missing)', check: 'helo_missing', attrs: { helo_name: '.' }, want: 'pass' },
  // Postfix always sends helo_name= (empty without HELO); an absent attribute means "unknown"
  { name: 'RCPT, helo_name attribute absent', check: 'helo_missing', attrs: { helo_name: undefined as unknown as string }, want: 'skip', reason: /no helo_name attribute/ },
]);

runTable('helo_invalid', [
  { name: 'valid name', check: 'helo_invalid', want: 'pass', queries: 0 },
  { name: 'underscore accepted as Postfix valid_hostname() does', check: 'helo_invalid', attrs: { helo_name: 'mail_1.example.net' }, want: 'pass' },
  { name: 'underscore refused by the RFC 5321 grammar', check: 'helo_invalid', attrs: { helo_name: 'mail_1.example.net' }, config: CONFIG_RFC5321, want: 'fail', reason: /RFC 5321.*invalid character "_"/ },
  { name: 'all-numeric name refused (Postfix: numeric hostname)', check: 'helo_invalid', attrs: { helo_name: '1.2.3' }, want: 'fail', reason: /numeric/ },
  { name: 'IPv6 literal: :: for one group after seven', check: 'helo_invalid', attrs: { helo_name: '[IPv6:1:2:3:4:5:6:7::]' }, want: 'fail', reason: /malformed IPv6/ },
  { name: 'leading hyphen', check: 'helo_invalid', attrs: { helo_name: '-mail.example.net' }, want: 'fail', reason: /hyphen/ },
  { name: 'empty label', check: 'helo_invalid', attrs: { helo_name: 'mail..example.net' }, want: 'fail', reason: /empty label/ },
  { name: 'HELO "."', check: 'helo_invalid', attrs: { helo_name: '.' }, want: 'fail', reason: /empty name/ },
  { name: 'IPv6 literal without tag', check: 'helo_invalid', attrs: { helo_name: '[2001:db8::1]' }, want: 'fail', reason: /IPv6:/ },
  { name: 'IPv6 literal', check: 'helo_invalid', attrs: { helo_name: '[IPv6:2001:db8::1]' }, want: 'pass' },
  { name: 'general literal refused', check: 'helo_invalid', attrs: { helo_name: '[x-foo:bar]' }, want: 'fail', reason: /general address literal/ },
  { name: 'bad octet', check: 'helo_invalid', attrs: { helo_name: '[192.0.2.256]' }, want: 'fail', reason: /octet/ },
  { name: 'bare IP accepted (helo_not_fqdn judges)', check: 'helo_invalid', attrs: { helo_name: '192.0.2.1' }, want: 'pass' },
  { name: 'IDN name', check: 'helo_invalid', attrs: { helo_name: 'bücher.example' }, want: 'pass' },
  { name: 'trailing dot and case', check: 'helo_invalid', attrs: { helo_name: 'MAIL.Example.NET.' }, want: 'pass' },
  { name: 'no HELO', check: 'helo_invalid', attrs: { helo_name: '' }, want: 'skip' },
]);

runTable('helo_not_fqdn', [
  { name: 'FQDN', check: 'helo_not_fqdn', want: 'pass', queries: 0 },
  { name: 'single label', check: 'helo_not_fqdn', attrs: { helo_name: 'mailserver' }, want: 'fail', reason: /no dot/ },
  { name: 'localhost', check: 'helo_not_fqdn', attrs: { helo_name: 'localhost' }, want: 'fail' },
  { name: 'numeric last label', check: 'helo_not_fqdn', attrs: { helo_name: 'host.123' }, want: 'fail', reason: /all-numeric/ },
  { name: 'bare IPv4', check: 'helo_not_fqdn', attrs: { helo_name: '203.0.113.5' }, want: 'fail', reason: /bare IP.*\[203\.0\.113\.5\]/ },
  { name: 'bare IPv6', check: 'helo_not_fqdn', attrs: { helo_name: '2001:db8:5::25' }, want: 'fail', reason: /\[IPv6:2001:db8:5::25\]/ },
  { name: 'address literal', check: 'helo_not_fqdn', attrs: { helo_name: '[203.0.113.5]' }, want: 'pass' },
  { name: 'trailing dot', check: 'helo_not_fqdn', attrs: { helo_name: 'mail.example.net.' }, want: 'pass' },
  { name: 'invalid left to helo_invalid', check: 'helo_not_fqdn', attrs: { helo_name: 'bad name' }, want: 'skip' },
  { name: '"_" is a name (Postfix valid_hostname), judged for dots', check: 'helo_not_fqdn', attrs: { helo_name: 'bad_name' }, want: 'fail', reason: /no dot/ },
  { name: 'no HELO', check: 'helo_not_fqdn', attrs: { helo_name: '' }, want: 'skip' },
]);

runTable('helo_address_literal', [
  { name: 'own IPv4 literal', check: 'helo_address_literal', attrs: { helo_name: '[203.0.113.5]' }, want: 'pass', queries: 0 },
  { name: 'other IPv4 literal', check: 'helo_address_literal', attrs: { helo_name: '[203.0.113.99]' }, want: 'fail', reason: /not the client's address 203\.0\.113\.5/ },
  { name: 'own IPv6 literal, other spelling', check: 'helo_address_literal', attrs: { client_address: '2001:db8:5::25', helo_name: '[IPv6:2001:DB8:5:0:0:0:0:25]' }, want: 'pass' },
  { name: 'other IPv6 literal', check: 'helo_address_literal', attrs: { client_address: '2001:db8:5::25', helo_name: '[IPv6:2001:db8:5::26]' }, want: 'fail' },
  { name: 'v4-mapped literal equals IPv4 client', check: 'helo_address_literal', attrs: { helo_name: '[IPv6:::ffff:203.0.113.5]' }, want: 'pass' },
  { name: 'v4-mapped client equals IPv4 literal', check: 'helo_address_literal', attrs: { client_address: '::ffff:203.0.113.5', helo_name: '[203.0.113.5]' }, want: 'pass' },
  { name: 'name, not a literal', check: 'helo_address_literal', want: 'skip' },
  { name: 'unparsable client', check: 'helo_address_literal', attrs: { client_address: 'unknown', helo_name: '[203.0.113.5]' }, want: 'skip' },
]);

runTable('helo_private', [
  { name: 'RFC 1918 literal', check: 'helo_private', attrs: { helo_name: '[10.0.0.1]' }, want: 'fail', reason: /private-use \(10\.0\.0\.0\/8, RFC 1918\)/, queries: 0 },
  { name: 'CGNAT literal', check: 'helo_private', attrs: { helo_name: '[100.64.1.1]' }, want: 'fail', reason: /CGNAT/ },
  { name: 'loopback literal', check: 'helo_private', attrs: { helo_name: '[127.0.0.1]' }, want: 'fail' },
  { name: 'link-local IPv6 literal', check: 'helo_private', attrs: { helo_name: '[IPv6:fe80::1]' }, want: 'fail' },
  { name: 'ULA IPv6 literal', check: 'helo_private', attrs: { helo_name: '[IPv6:fd00::1]' }, want: 'fail', reason: /unique-local/ },
  { name: 'v4-mapped private literal', check: 'helo_private', attrs: { helo_name: '[IPv6:::ffff:192.168.1.1]' }, want: 'fail' },
  { name: 'bare private IP', check: 'helo_private', attrs: { helo_name: '192.168.1.1' }, want: 'fail' },
  { name: 'public literal', check: 'helo_private', attrs: { helo_name: '[8.8.8.8]' }, want: 'pass' },
  { name: 'documentation literal counted public by override', check: 'helo_private', attrs: { helo_name: '[203.0.113.5]' }, want: 'pass', reason: /identity\.public_networks/ },
  { name: 'documentation literal without override', check: 'helo_private', attrs: { helo_name: '[203.0.113.5]' }, config: CONFIG_NO_OVERRIDE, want: 'fail', reason: /TEST-NET-3/ },
  { name: 'localhost', check: 'helo_private', attrs: { helo_name: 'localhost' }, want: 'fail', queries: 0 },
  { name: '*.localhost', check: 'helo_private', attrs: { helo_name: 'foo.localhost' }, want: 'fail' },
  { name: 'localhost.localdomain', check: 'helo_private', attrs: { helo_name: 'localhost.localdomain' }, want: 'fail' },
  { name: '*.local', check: 'helo_private', attrs: { helo_name: 'printer.local' }, want: 'fail', reason: /RFC 6762/ },
  { name: '*.lan', check: 'helo_private', attrs: { helo_name: 'pc.lan' }, want: 'fail' },
  { name: '*.home.arpa', check: 'helo_private', attrs: { helo_name: 'router.home.arpa' }, want: 'fail', reason: /RFC 8375/ },
  { name: '*.internal', check: 'helo_private', attrs: { helo_name: 'x.corp.internal' }, want: 'fail' },
  { name: '*.invalid', check: 'helo_private', attrs: { helo_name: 'a.invalid' }, want: 'fail' },
  { name: 'LOCALHOST. (case, dot)', check: 'helo_private', attrs: { helo_name: 'LOCALHOST.' }, want: 'fail' },
  { name: 'lan is a label boundary match only', check: 'helo_private', attrs: { helo_name: 'mail.plan' }, zone: { 'mail.plan': { A: ['198.51.100.3'] } }, want: 'pass' },
  { name: 'name resolving only to private', check: 'helo_private', attrs: { helo_name: 'mail.corp.example' }, zone: { 'mail.corp.example': { A: ['10.1.2.3'], AAAA: ['fd00::3'] } }, want: 'fail', reason: /only to internal/, queries: 2 },
  { name: 'name with one global address', check: 'helo_private', attrs: { helo_name: 'mixed.example' }, zone: { 'mixed.example': { A: ['10.1.2.3'], AAAA: ['2001:db8::3'] } }, want: 'pass', queries: 2 },
  { name: 'a global A address settles it: AAAA not asked', check: 'helo_private', attrs: { helo_name: 'mixed6.example' }, zone: { 'mixed6.example': { A: ['198.51.100.3'], AAAA: ['fd00::3'] } }, want: 'pass', queries: 1 },
  { name: 'IPv6 client: private AAAA only, A global', check: 'helo_private', attrs: { client_address: '2001:db8:5::25', helo_name: 'mixed.example' }, zone: { 'mixed.example': { A: ['198.51.100.3'], AAAA: ['fd00::3'] } }, want: 'pass', queries: 2 },
  { name: 'name without addresses', check: 'helo_private', attrs: { helo_name: 'nx.example' }, want: 'pass', reason: /helo_unknown/ },
  { name: 'private A + AAAA SERVFAIL', check: 'helo_private', attrs: { helo_name: 'half.example' }, zone: { 'half.example': { A: ['10.1.2.3'], AAAA: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'A TIMEOUT', check: 'helo_private', attrs: { helo_name: 'slow.example' }, zone: { 'slow.example': { A: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'non-FQDN not looked up', check: 'helo_private', attrs: { helo_name: 'mailserver' }, want: 'skip', queries: 0 },
  { name: 'good HELO', check: 'helo_private', want: 'pass' },
]);

runTable('helo_unknown', [
  // the client's family first; the other only when the first has no records (lib/lookup.ts lookupAddresses)
  { name: 'has A', check: 'helo_unknown', want: 'pass', reason: /^HELO mail\.example\.net exists: A mail\.example\.net -> 203\.0\.113\.5$/, queries: 1 },
  { name: 'AAAA only', check: 'helo_unknown', attrs: { helo_name: 'v6.example' }, zone: { 'v6.example': { AAAA: ['2001:db8::7'] } }, want: 'pass', reason: /A v6\.example -> NODATA; AAAA v6\.example -> 2001:db8::7/, queries: 2 },
  { name: 'IPv6 client: AAAA asked first, A not needed', check: 'helo_unknown', attrs: { client_address: '2001:db8:5::25' }, want: 'pass', reason: /exists: AAAA mail\.example\.net -> 2001:db8:5::25$/, queries: 1 },
  { name: 'A SERVFAIL, AAAA found', check: 'helo_unknown', attrs: { helo_name: 'sfa.example' }, zone: { 'sfa.example': { A: 'SERVFAIL', AAAA: ['2001:db8::8'] } }, want: 'pass', queries: 2 },
  { name: 'MX only', check: 'helo_unknown', attrs: { helo_name: 'mxonly.example' }, zone: { 'mxonly.example': { MX: [[10, 'mx.example.net']] } }, want: 'pass', queries: 3 },
  { name: 'null MX counts as existing (Postfix)', check: 'helo_unknown', attrs: { helo_name: 'nullmx.example' }, want: 'pass' },
  { name: 'NXDOMAIN', check: 'helo_unknown', attrs: { helo_name: 'nx.example' }, want: 'fail', reason: /no A, AAAA or MX/, queries: 3 },
  { name: 'NODATA everywhere', check: 'helo_unknown', attrs: { helo_name: 'empty.example' }, want: 'fail' },
  { name: 'A SERVFAIL beats not found', check: 'helo_unknown', attrs: { helo_name: 'sf.example' }, zone: { 'sf.example': { A: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'MX TIMEOUT beats not found', check: 'helo_unknown', attrs: { helo_name: 'to.example' }, zone: { 'to.example': { MX: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'AAAA REFUSED but A found', check: 'helo_unknown', attrs: { helo_name: 'ref.example' }, zone: { 'ref.example': { A: ['192.0.2.9'], AAAA: 'REFUSED' } }, want: 'pass' },
  { name: 'IDN HELO looked up as A-label', check: 'helo_unknown', attrs: { helo_name: 'BÜCHER.example.' }, want: 'pass', reason: /xn--bcher-kva\.example/ },
  { name: 'CNAME followed', check: 'helo_unknown', attrs: { helo_name: 'alias.example' }, zone: { 'alias.example': { CNAME: 'mail.example.net' } }, want: 'pass' },
  { name: 'literal skipped', check: 'helo_unknown', attrs: { helo_name: '[203.0.113.5]' }, want: 'skip', queries: 0 },
  { name: 'non-FQDN skipped', check: 'helo_unknown', attrs: { helo_name: 'mailserver' }, want: 'skip', queries: 0 },
]);

runTable('helo_mismatch', [
  { name: 'HELO resolves to the client', check: 'helo_mismatch', want: 'pass', queries: 1 },
  { name: 'A lists another address: AAAA asked too', check: 'helo_mismatch', attrs: { helo_name: 'out.example.net' }, want: 'fail', queries: 2 },
  { name: 'the client only as an IPv4-mapped AAAA record', check: 'helo_mismatch', attrs: { helo_name: 'mapped.example' }, zone: { 'mapped.example': { A: ['192.0.2.1'], AAAA: ['::ffff:203.0.113.5'] } }, want: 'pass', queries: 2 },
  { name: 'IPv6 client, AAAA matches', check: 'helo_mismatch', attrs: { client_address: '2001:DB8:5:0::25' }, want: 'pass' },
  { name: 'other address', check: 'helo_mismatch', attrs: { helo_name: 'out.example.net' }, want: 'fail', reason: /does not resolve to the client 203\.0\.113\.5/ },
  { name: 'no records', check: 'helo_mismatch', attrs: { helo_name: 'nx.example' }, want: 'fail' },
  { name: 'A TIMEOUT', check: 'helo_mismatch', attrs: { helo_name: 'slow.example' }, zone: { 'slow.example': { A: 'TIMEOUT', AAAA: ['2001:db8::1'] } }, want: 'tempfail' },
  { name: 'literal skipped', check: 'helo_mismatch', attrs: { helo_name: '[203.0.113.5]' }, want: 'skip' },
  { name: 'no HELO', check: 'helo_mismatch', attrs: { helo_name: '' }, want: 'skip' },
]);

runTable('helo_impersonation', [
  { name: 'our name', check: 'helo_impersonation', attrs: { helo_name: 'mx.ours.example' }, want: 'fail', queries: 0 },
  { name: 'our name, case and dot', check: 'helo_impersonation', attrs: { helo_name: 'MX.Ours.Example.' }, want: 'fail' },
  { name: 'other name', check: 'helo_impersonation', want: 'pass' },
  { name: 'our IPv4 address literal', check: 'helo_impersonation', attrs: { helo_name: '[198.51.100.25]' }, want: 'fail', reason: /my_addresses/ },
  { name: 'our IPv6 address literal', check: 'helo_impersonation', attrs: { helo_name: '[IPv6:2001:db8:ffff:0::25]' }, want: 'fail' },
  { name: 'the server_address as literal', check: 'helo_impersonation', attrs: { helo_name: '[198.51.100.1]' }, want: 'fail', reason: /server_address/ },
  { name: 'the client own literal', check: 'helo_impersonation', attrs: { helo_name: '[203.0.113.5]' }, want: 'pass' },
  { name: 'nothing configured', check: 'helo_impersonation', config: config(''), want: 'skip' },
]);

// ---- rDNS checks ----------------------------------------------------------------

const V6_CLIENT = '2001:db8:5::25';

runTable('rdns_missing', [
  { name: 'PTR present', check: 'rdns_missing', want: 'pass', reason: /PTR 203\.0\.113\.5 -> mail\.example\.net/ },
  { name: 'NXDOMAIN', check: 'rdns_missing', attrs: { client_address: '198.51.100.77' }, want: 'fail', reason: /NXDOMAIN/, queries: 1 },
  { name: 'NODATA', check: 'rdns_missing', attrs: { client_address: '198.51.100.78' }, zone: { '198.51.100.78': {} }, want: 'fail', reason: /NODATA/ },
  { name: 'SERVFAIL', check: 'rdns_missing', attrs: { client_address: '198.51.100.79' }, zone: { '198.51.100.79': { PTR: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'TIMEOUT', check: 'rdns_missing', attrs: { client_address: '198.51.100.79' }, zone: { '198.51.100.79': 'TIMEOUT' }, want: 'tempfail' },
  { name: 'IPv6 client, ip6.arpa PTR', check: 'rdns_missing', attrs: { client_address: V6_CLIENT }, want: 'pass' },
  { name: 'unparsable client', check: 'rdns_missing', attrs: { client_address: 'unknown' }, want: 'skip', queries: 0 },
]);

runTable('rdns_unconfirmed', [
  { name: 'confirmed', check: 'rdns_unconfirmed', want: 'pass', ptr: 'mail.example.net', reason: /A mail\.example\.net -> 203\.0\.113\.5/, queries: 2 },
  { name: 'PTR name resolves elsewhere', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.7' }, zone: { '198.51.100.7': { PTR: ['mail.example.net'] } }, want: 'fail', reason: /no PTR name resolves back/ },
  { name: 'PTR name NXDOMAIN', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.7' }, zone: { '198.51.100.7': { PTR: ['gone.example'] } }, want: 'fail' },
  { name: 'no PTR fails too (Postfix reject_unknown_client_hostname)', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.77' }, want: 'fail', reason: /no PTR name/ },
  { name: 'forward TIMEOUT is tempfail', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.7' }, zone: { '198.51.100.7': { PTR: ['slow.example'] }, 'slow.example': { A: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'PTR SERVFAIL', check: 'rdns_unconfirmed', zone: { '203.0.113.5': { PTR: 'SERVFAIL' } }, want: 'tempfail' },
  {
    name: 'several PTR names, the second confirms', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.8' },
    zone: { '198.51.100.8': { PTR: ['other.example', 'real.example'] }, 'other.example': { A: ['198.51.100.9'] }, 'real.example': { A: ['198.51.100.8'] } },
    want: 'pass', ptr: 'real.example', queries: 3,
  },
  {
    name: 'a confirmed name beats a tempfailed one', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.8' },
    zone: { '198.51.100.8': { PTR: ['slow.example', 'real.example'] }, 'slow.example': { A: 'SERVFAIL' }, 'real.example': { A: ['198.51.100.8'] } },
    want: 'pass', ptr: 'real.example',
  },
  {
    name: 'only dns.max_ptr_names (3) names are checked', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.8' },
    zone: {
      '198.51.100.8': { PTR: ['n1.example', 'n2.example', 'n3.example', 'n4.example'] },
      'n1.example': { A: ['198.51.100.1'] }, 'n2.example': { A: ['198.51.100.2'] }, 'n3.example': { A: ['198.51.100.3'] }, 'n4.example': { A: ['198.51.100.8'] },
    },
    want: 'fail', reason: /n4\.example \(beyond dns\.max_ptr_names=3\)/, queries: 4,
  },
  {
    name: 'CNAME-chained PTR target (resolver follows)', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.10' },
    zone: { '198.51.100.10': { PTR: ['alias.example'] }, 'alias.example': { CNAME: 'host.example' }, 'host.example': { A: ['198.51.100.10'] } },
    want: 'pass', ptr: 'alias.example',
  },
  {
    name: 'RFC 2317 classless PTR through a CNAME', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.11' },
    zone: { '198.51.100.11': { CNAME: '11.0/26.100.51.198.in-addr.arpa' }, '11.0/26.100.51.198.in-addr.arpa': { PTR: ['h11.example'] }, 'h11.example': { A: ['198.51.100.11'] } },
    want: 'pass', ptr: 'h11.example',
  },
  {
    name: 'PTR answer with case and trailing dot', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.12' },
    zone: { '198.51.100.12': { PTR: ['H12.Example.'] }, 'h12.example': { A: ['198.51.100.12'] } },
    want: 'pass', ptr: 'h12.example',
  },
  { name: 'numeric PTR target ignored', check: 'rdns_unconfirmed', attrs: { client_address: '198.51.100.13' }, zone: { '198.51.100.13': { PTR: ['198.51.100.13'] } }, want: 'fail', reason: /not a host name/, queries: 1 },
  { name: 'IPv6 client confirmed by AAAA', check: 'rdns_unconfirmed', attrs: { client_address: V6_CLIENT }, want: 'pass', ptr: 'mail.example.net', reason: /AAAA mail\.example\.net -> 2001:db8:5::25/ },
  {
    name: 'IPv6 client: only A would match -> fail', check: 'rdns_unconfirmed', attrs: { client_address: '2001:db8:6::1' },
    zone: { '2001:db8:6::1': { PTR: ['v4only.example'] }, 'v4only.example': { A: ['203.0.113.5'] } }, want: 'fail',
  },
  { name: 'v4-mapped client judged as IPv4', check: 'rdns_unconfirmed', attrs: { client_address: '::ffff:203.0.113.5' }, want: 'pass', ptr: 'mail.example.net' },
]);

runTable('rdns_generic', [
  // haraka-net-utils dynamic_rdns vectors
  { name: 'host-109-168-232-131.stv.ru', check: 'rdns_generic', attrs: { client_address: '109.168.232.131' }, zone: { '109.168.232.131': { PTR: ['host-109-168-232-131.stv.ru'] }, 'host-109-168-232-131.stv.ru': { A: ['109.168.232.131'] } }, want: 'fail', ptr: 'host-109-168-232-131.stv.ru', reason: /octets 109-168-232-131/ },
  { name: '0x3ec6ec81.inet.dsl.telianet.dk', check: 'rdns_generic', attrs: { client_address: '62.198.236.129' }, zone: { '62.198.236.129': { PTR: ['0x3ec6ec81.inet.dsl.telianet.dk'] }, '0x3ec6ec81.inet.dsl.telianet.dk': { A: ['62.198.236.129'] } }, want: 'fail', reason: /hex 3ec6ec81/ },
  { name: 'mail-ww0-f53.google.com', check: 'rdns_generic', attrs: { client_address: '74.125.82.53' }, zone: { '74.125.82.53': { PTR: ['mail-ww0-f53.google.com'] }, 'mail-ww0-f53.google.com': { A: ['74.125.82.53'] } }, want: 'pass' },
  { name: 'dns.google', check: 'rdns_generic', attrs: { client_address: '8.8.8.8' }, zone: { '8.8.8.8': { PTR: ['dns.google'] }, 'dns.google': { A: ['8.8.8.8'] } }, want: 'pass', reason: /no host part/ },
  { name: 'good mail server', check: 'rdns_generic', want: 'pass', ptr: 'mail.example.net' },
  { name: 'pool word', check: 'rdns_generic', attrs: { client_address: '198.51.100.40' }, zone: { '198.51.100.40': { PTR: ['adsl-line.pool3.isp.example'] }, 'adsl-line.pool3.isp.example': { A: ['198.51.100.40'] } }, want: 'fail', reason: /adsl/ },
  { name: 'unconfirmed name is not judged', check: 'rdns_generic', attrs: { client_address: '198.51.100.41' }, zone: { '198.51.100.41': { PTR: ['dyn-198-51-100-41.isp.example'] } }, want: 'skip' },
  { name: 'forward tempfail', check: 'rdns_generic', attrs: { client_address: '198.51.100.41' }, zone: { '198.51.100.41': { PTR: ['dyn-198-51-100-41.isp.example'] }, 'dyn-198-51-100-41.isp.example': { A: 'SERVFAIL' } }, want: 'tempfail' },
  {
    name: 'a clean confirmed name beats a generic one', check: 'rdns_generic', attrs: { client_address: '198.51.100.42' },
    zone: { '198.51.100.42': { PTR: ['dsl-42.isp.example', 'mail.shop.example'] }, 'dsl-42.isp.example': { A: ['198.51.100.42'] }, 'mail.shop.example': { A: ['198.51.100.42'] } },
    want: 'pass', ptr: 'mail.shop.example',
  },
  { name: 'IPv6 generic name', check: 'rdns_generic', attrs: { client_address: '2001:db8:1:2::42' }, zone: { '2001:db8:1:2::42': { PTR: ['2001-db8-1-2--42.cust.isp.example'] }, '2001-db8-1-2--42.cust.isp.example': { AAAA: ['2001:db8:1:2::42'] } }, want: 'fail' },
  { name: 'unparsable client', check: 'rdns_generic', attrs: { client_address: 'unknown' }, want: 'skip' },
]);

t.test('generic-rdns heuristics', async (tt) => {
  const ip = (s: string) => parseIp(s)!;
  const vectors: Array<[string, string, boolean]> = [
    ['host-109-168-232-131.stv.ru', '109.168.232.131', true],
    ['0x3ec6ec81.inet.dsl.telianet.dk', '62.198.236.129', true],
    ['mail-ww0-f53.google.com', '74.125.82.53', false],
    ['dns.google', '8.8.8.8', false],
    ['c-73-1-2-3.hsd1.ca.comcast.net', '73.1.2.3', true],
    ['pool-71-163-12-34.washdc.fios.verizon.net', '71.163.12.34', true],
    ['34.12.163.71.dyn.example.net', '71.163.12.34', true], // reversed, dotted
    ['ip071163012034.isp.example', '71.163.12.34', true], // zero-padded digits
    ['p5b0e1234.dip0.t-ipconnect.de', '91.14.18.52', true], // hex inside a token
    ['static-73-1-2-3.isp.example', '73.1.2.3', false], // static exempt
    ['mx1.dsl.isp.example', '73.1.2.3', false], // mx host part exempt
    ['smtp-out.cable.isp.example', '73.1.2.3', false],
    ['mail.dyni.net', '203.0.113.5', false], // "dyn" only in the registered domain
    ['server1.dynamic-hosting.example', '203.0.113.5', false],
    ['dhcp-12.campus.example.edu', '203.0.113.5', true],
    ['ppp123.isp.co.uk', '203.0.113.5', true],
    ['mail.example.co.uk', '203.0.113.5', false],
    ['out-3.mta.example.com', '203.0.113.5', false],
  ];
  for (const [name, addr, generic] of vectors) {
    const v = judgeGenericName(name, ip(addr));
    tt.equal(v.generic, generic, `${name} (${addr}) generic=${generic}: ${v.why}`);
  }
});

const ip = (s: string) => parseIp(s)!;

t.test('rdns_generic: vector set of real reverse names (test/fixtures/rdns, sources in its README)', async (tt) => {
  const file = new URL('../../test/fixtures/rdns/vectors.tsv', import.meta.url);
  const rows = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('\t'));
  tt.ok(rows.length >= 120, `${rows.length} vectors`);
  let dynamic = 0;
  let caught = 0;
  const flagged: string[] = [];
  for (const [cls, name, addr, source] of rows) {
    tt.ok(cls === 'dynamic' || cls === 'legit', `${name}: class ${cls}`);
    tt.ok(source !== undefined && source !== '', `${name}: cites a source`);
    const v = judgeGenericName(name!, ip(addr === '-' ? '192.0.2.1' : addr!));
    if (cls === 'dynamic') {
      dynamic++;
      if (v.generic) caught++;
    } else if (v.generic) flagged.push(`${name}: ${v.why}`);
  }
  // figures in test/fixtures/rdns/README.md: 65/74 caught, 0 legit flagged (before: 42/74, 9 flagged)
  tt.same(flagged, [], 'no legitimate mail server is flagged');
  tt.ok(caught / dynamic >= 0.85, `dynamic names caught: ${caught}/${dynamic}`);
  for (const legit of ['66-220-155-151.mail-mail.facebook.com', 'o167-89-97-77.outbound-mail.sendgrid.net', 'c-76-121-96-159.business.wa.comcast.net', 'cmr-208-97-119-114.cr.net.cable.rogers.com']) {
    tt.ok(rows.some((r) => r[1] === legit && r[0] === 'legit'), `${legit} is in the set as legit`);
  }
});

t.test('rdns_generic: 253-character names of every shape get a verdict (one linear pass, no backtracking regex)', async (tt) => {
  const shapes = ['1-', 'a1', 'dsl-', '0x', 'ab', '9', 'a-1.', 'mail'];
  for (const s of shapes) {
    let name = '';
    while (name.length + s.length + 12 < 253) name += s;
    name = `${name.replace(/[-.]+$/, '')}x.example.net`.slice(-253).replace(/^[-.]+/, '');
    const v = judgeGenericName(name, ip('203.0.113.9'));
    tt.type(v.generic, 'boolean', `${s} x${Math.floor(name.length / s.length)}: ${v.why.slice(0, 60)}`);
  }
});

runTable('rdns_helo_mismatch', [
  { name: 'equal', check: 'rdns_helo_mismatch', want: 'pass', ptr: 'mail.example.net' },
  { name: 'same registered domain', check: 'rdns_helo_mismatch', attrs: { helo_name: 'relay.example.net' }, want: 'pass', reason: /both in example\.net/ },
  { name: 'different domains', check: 'rdns_helo_mismatch', attrs: { helo_name: 'mail.other.example' }, want: 'fail', ptr: 'mail.example.net' },
  {
    name: 'public suffix aware (co.uk)', check: 'rdns_helo_mismatch', attrs: { client_address: '198.51.100.50', helo_name: 'mx.other.co.uk' },
    zone: { '198.51.100.50': { PTR: ['mail.example.co.uk'] }, 'mail.example.co.uk': { A: ['198.51.100.50'] } }, want: 'fail', reason: /example\.co\.uk.*other\.co\.uk/,
  },
  {
    name: 'same domain under co.uk', check: 'rdns_helo_mismatch', attrs: { client_address: '198.51.100.50', helo_name: 'smtp.example.co.uk' },
    zone: { '198.51.100.50': { PTR: ['mail.example.co.uk'] }, 'mail.example.co.uk': { A: ['198.51.100.50'] } }, want: 'pass',
  },
  { name: 'lab TLD handled', check: 'rdns_helo_mismatch', attrs: { client_address: '198.51.100.51', helo_name: 'b.foo.test' }, zone: { '198.51.100.51': { PTR: ['a.foo.test'] }, 'a.foo.test': { A: ['198.51.100.51'] } }, want: 'pass' },
  { name: 'HELO literal', check: 'rdns_helo_mismatch', attrs: { helo_name: '[203.0.113.5]' }, want: 'skip', queries: 0 },
  { name: 'no confirmed PTR', check: 'rdns_helo_mismatch', attrs: { client_address: '198.51.100.77' }, want: 'skip' },
  { name: 'PTR TIMEOUT', check: 'rdns_helo_mismatch', zone: { '203.0.113.5': 'TIMEOUT' }, want: 'tempfail' },
]);

// ---- client ---------------------------------------------------------------------

runTable('client_private', [
  { name: 'RFC 1918', check: 'client_private', attrs: { client_address: '10.1.2.3' }, want: 'fail', reason: /private-use/, queries: 0 },
  { name: 'CGNAT', check: 'client_private', attrs: { client_address: '100.64.0.1' }, want: 'fail' },
  { name: 'v4-mapped private', check: 'client_private', attrs: { client_address: '::ffff:10.0.0.1' }, want: 'fail' },
  { name: 'v4-mapped public', check: 'client_private', attrs: { client_address: '::ffff:8.8.8.8' }, want: 'pass' },
  { name: 'link-local IPv6', check: 'client_private', attrs: { client_address: 'fe80::1' }, want: 'fail' },
  { name: 'ULA', check: 'client_private', attrs: { client_address: 'fd12:3456::1' }, want: 'fail' },
  { name: 'global IPv6', check: 'client_private', attrs: { client_address: '2606:4700:4700::1111' }, want: 'pass' },
  { name: 'documentation range, override', check: 'client_private', want: 'pass' },
  { name: 'documentation range, no override', check: 'client_private', config: CONFIG_NO_OVERRIDE, want: 'fail', reason: /RFC 5737/ },
  { name: 'documentation range under the embedded defaults', check: 'client_private', config: config(''), want: 'fail', reason: /RFC 5737/ },
  { name: '3fff::/20 under the embedded defaults', check: 'client_private', attrs: { client_address: '3fff::1' }, config: config(''), want: 'fail', reason: /RFC 9637/ },
  { name: 'IPv6 documentation, no override', check: 'client_private', attrs: { client_address: V6_CLIENT }, config: CONFIG_NO_OVERRIDE, want: 'fail', reason: /RFC 3849/ },
  { name: 'unparsable', check: 'client_private', attrs: { client_address: 'unknown' }, want: 'skip' },
]);

// ---- sender ---------------------------------------------------------------------

const SRS = 'SRS0=HHH=TT=gmail.com=user@forwarder.example';

runTable('sender_domain_unknown', [
  { name: 'has MX', check: 'sender_domain_unknown', want: 'pass', queries: 1 },
  { name: 'NXDOMAIN: one query', check: 'sender_domain_unknown', attrs: { sender: 'a@nx.example' }, want: 'fail', reason: /does not exist/, queries: 1 },
  { name: 'implicit MX (A only)', check: 'sender_domain_unknown', attrs: { sender: 'a@a-only.example' }, want: 'pass', reason: /implicit MX/, queries: 2 },
  { name: 'no MX, no address', check: 'sender_domain_unknown', attrs: { sender: 'a@empty.example' }, want: 'fail', reason: /no MX, A or AAAA/ },
  { name: 'MX SERVFAIL but A found', check: 'sender_domain_unknown', attrs: { sender: 'a@sf.example' }, zone: { 'sf.example': { MX: 'SERVFAIL', A: ['192.0.2.4'] } }, want: 'pass' },
  { name: 'MX SERVFAIL, no address', check: 'sender_domain_unknown', attrs: { sender: 'a@sf.example' }, zone: { 'sf.example': { MX: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'MX NODATA, A TIMEOUT', check: 'sender_domain_unknown', attrs: { sender: 'a@to.example' }, zone: { 'to.example': { A: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'null sender', check: 'sender_domain_unknown', attrs: { sender: '' }, want: 'skip', queries: 0 },
  { name: 'null sender <>', check: 'sender_domain_unknown', attrs: { sender: '<>' }, want: 'skip' },
  { name: 'address literal domain', check: 'sender_domain_unknown', attrs: { sender: 'a@[192.0.2.1]' }, want: 'skip', queries: 0 },
  { name: 'SRS sender: the forwarder domain is judged', check: 'sender_domain_unknown', attrs: { sender: SRS }, want: 'pass', reason: /forwarder\.example/ },
  { name: 'IDN sender domain', check: 'sender_domain_unknown', attrs: { sender: 'a@bücher.example' }, want: 'pass', reason: /xn--bcher-kva/ },
  { name: 'case and trailing dot', check: 'sender_domain_unknown', attrs: { sender: 'Alice@EXAMPLE.Net.' }, want: 'pass', reason: /^example\.net has MX/ },
  { name: 'malformed domain not looked up', check: 'sender_domain_unknown', attrs: { sender: 'a@bad..example' }, want: 'fail', queries: 0 },
]);

runTable('sender_null_mx', [
  { name: 'null MX', check: 'sender_null_mx', attrs: { sender: 'a@nullmx.example' }, want: 'fail', reason: /MX nullmx\.example -> 0 \./, queries: 1 },
  { name: 'any root MX counts (Postfix)', check: 'sender_null_mx', attrs: { sender: 'a@nullmx-mixed.example' }, want: 'fail' },
  { name: 'normal MX', check: 'sender_null_mx', want: 'pass' },
  { name: 'no MX', check: 'sender_null_mx', attrs: { sender: 'a@a-only.example' }, want: 'pass' },
  { name: 'MX SERVFAIL', check: 'sender_null_mx', zone: { 'example.net': { MX: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'null sender', check: 'sender_null_mx', attrs: { sender: '' }, want: 'skip' },
  { name: 'domain does not exist: skip, not pass (sender_domain_unknown judges it)', check: 'sender_null_mx', attrs: { sender: 'a@nx.example' }, want: 'skip', reason: /does not exist.*NXDOMAIN/ },
]);

runTable('sender_mx_bogus', [
  { name: 'usable MX: MX + A of the first host (a global A settles it)', check: 'sender_mx_bogus', want: 'pass', queries: 2 },
  { name: 'MX host with a private A and a global AAAA', check: 'sender_mx_bogus', attrs: { sender: 'a@half.example' }, zone: { 'half.example': { MX: [[10, 'mx.half.example']] }, 'mx.half.example': { A: ['10.0.0.25'], AAAA: ['2001:db8:6::25'] } }, want: 'pass', queries: 3 },
  { name: 'MX localhost', check: 'sender_mx_bogus', attrs: { sender: 'a@bogus.example' }, zone: { 'bogus.example': { MX: [[10, 'localhost']] }, localhost: { A: ['127.0.0.1'], AAAA: ['::1'] } }, want: 'fail', reason: /loopback/ },
  { name: 'MX host private only', check: 'sender_mx_bogus', attrs: { sender: 'a@corp.example' }, zone: { 'corp.example': { MX: [[10, 'mx.corp.example']] }, 'mx.corp.example': { A: ['10.0.0.25'] } }, want: 'fail', reason: /only internal/ },
  { name: 'MX host does not resolve', check: 'sender_mx_bogus', attrs: { sender: 'a@stale.example' }, zone: { 'stale.example': { MX: [[10, 'gone.stale.example']] } }, want: 'fail', reason: /no A\/AAAA/ },
  { name: 'MX target is an IP address', check: 'sender_mx_bogus', attrs: { sender: 'a@ipmx.example' }, zone: { 'ipmx.example': { MX: [[10, '192.0.2.25']] } }, want: 'fail', reason: /not a host name/, queries: 1 },
  {
    name: 'first host bad, second good', check: 'sender_mx_bogus', attrs: { sender: 'a@two.example' },
    zone: { 'two.example': { MX: [[20, 'mx.example.net'], [10, 'gone.two.example']] } }, want: 'pass', reason: /mx\.example\.net has a global address/, queries: 4,
  },
  { name: 'MX host SERVFAIL', check: 'sender_mx_bogus', attrs: { sender: 'a@sf.example' }, zone: { 'sf.example': { MX: [[10, 'mx.sf.example']] }, 'mx.sf.example': { A: 'SERVFAIL', AAAA: 'SERVFAIL' } }, want: 'tempfail' },
  { name: 'implicit MX with a private address', check: 'sender_mx_bogus', attrs: { sender: 'a@priv.example' }, zone: { 'priv.example': { A: ['192.168.1.1'] } }, want: 'fail', reason: /implicit MX/ },
  { name: 'implicit MX with a global address', check: 'sender_mx_bogus', attrs: { sender: 'a@a-only.example' }, want: 'pass' },
  { name: 'IPv6-only MX host', check: 'sender_mx_bogus', attrs: { sender: 'a@v6.example' }, zone: { 'v6.example': { MX: [[10, 'mx6.v6.example']] }, 'mx6.v6.example': { AAAA: ['2001:db8:6::25'] } }, want: 'pass' },
  { name: 'null MX left to sender_null_mx', check: 'sender_mx_bogus', attrs: { sender: 'a@nullmx.example' }, want: 'skip' },
  { name: 'NXDOMAIN left to sender_domain_unknown', check: 'sender_mx_bogus', attrs: { sender: 'a@nx.example' }, want: 'skip' },
  { name: 'no MX no A left to sender_domain_unknown', check: 'sender_mx_bogus', attrs: { sender: 'a@empty.example' }, want: 'skip' },
  { name: 'null sender', check: 'sender_mx_bogus', attrs: { sender: '' }, want: 'skip' },
]);

runTable('sender_mx_required', [
  { name: 'has MX', check: 'sender_mx_required', want: 'pass' },
  { name: 'A only', check: 'sender_mx_required', attrs: { sender: 'a@a-only.example' }, want: 'fail', reason: /NODATA/ },
  { name: 'NXDOMAIN: skip (sender_domain_unknown judges it)', check: 'sender_mx_required', attrs: { sender: 'a@nx.example' }, want: 'skip' },
  { name: 'MX TIMEOUT', check: 'sender_mx_required', zone: { 'example.net': { MX: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'null sender', check: 'sender_mx_required', attrs: { sender: '' }, want: 'skip' },
]);

runTable('client_not_sender_mx', [
  { name: 'client is the MX', check: 'client_not_sender_mx', attrs: { client_address: '203.0.113.25' }, want: 'pass', queries: 2 },
  { name: 'client is not an MX', check: 'client_not_sender_mx', want: 'fail', reason: /not an address of any MX host/ },
  { name: 'IPv6 client is the MX', check: 'client_not_sender_mx', attrs: { client_address: '2001:db8:5::26' }, want: 'pass', reason: /AAAA mx\.example\.net/ },
  { name: 'implicit MX', check: 'client_not_sender_mx', attrs: { client_address: '192.0.2.80', sender: 'a@a-only.example' }, want: 'pass' },
  { name: 'MX host TIMEOUT', check: 'client_not_sender_mx', zone: { 'mx.example.net': { A: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'null sender', check: 'client_not_sender_mx', attrs: { sender: '' }, want: 'skip' },
  { name: 'null MX', check: 'client_not_sender_mx', attrs: { sender: 'a@nullmx.example' }, want: 'skip' },
]);

const GOOGLE = { client_address: '209.85.221.53', helo_name: 'mail-wr1-f53.google.com', sender: 'someone@gmail.com' };

/** gmail.com's SPF, shaped like the published one (redirect to _spf.google.com, includes of netblocks, ~all). */
const GOOGLE_SPF: Zone = {
  'gmail.com': { MX: [[5, 'gmail-smtp-in.l.google.com']], TXT: ['v=spf1 redirect=_spf.google.com'] },
  'googlemail.com': { TXT: ['v=spf1 redirect=_spf.google.com'] },
  '_spf.google.com': { TXT: ['v=spf1 include:_netblocks.google.com include:_netblocks2.google.com ~all'] },
  '_netblocks.google.com': { TXT: ['v=spf1 ip4:209.85.128.0/17 ip4:74.125.0.0/16 ~all'] },
  '_netblocks2.google.com': { TXT: ['v=spf1 ip6:2a00:1450:4000::/36 ~all'] },
};

runTable('sender_provider_forgery', [
  { name: 'gmail.com from Google', check: 'sender_provider_forgery', attrs: GOOGLE, zone: GOOGLE_SPF, want: 'pass', reason: /SPF pass/, queries: 3 },
  { name: 'gmail.com from Google over IPv6', check: 'sender_provider_forgery', attrs: { ...GOOGLE, client_address: '2a00:1450:4864:20::52f' }, zone: GOOGLE_SPF, want: 'pass' },
  { name: 'gmail.com from elsewhere: softfail is forgery', check: 'sender_provider_forgery', attrs: { sender: 'someone@gmail.com' }, zone: GOOGLE_SPF, want: 'fail', reason: /SPF softfail/ },
  { name: 'googlemail.com from elsewhere', check: 'sender_provider_forgery', attrs: { client_address: '198.51.100.66', sender: 'x@googlemail.com' }, zone: GOOGLE_SPF, want: 'fail' },
  { name: 'a confirmed google.com PTR does not help a non-Google address', check: 'sender_provider_forgery', attrs: { client_address: '198.51.100.67', sender: 'x@gmail.com' },
    zone: { ...GOOGLE_SPF, '198.51.100.67': { PTR: ['fake.google.com'] }, 'fake.google.com': { A: ['198.51.100.67'] } }, want: 'fail' },
  { name: 'SPF TXT SERVFAIL', check: 'sender_provider_forgery', attrs: GOOGLE, zone: { ...GOOGLE_SPF, 'gmail.com': { TXT: 'SERVFAIL' } }, want: 'tempfail', reason: /temperror/ },
  { name: 'TIMEOUT inside the include chain', check: 'sender_provider_forgery', attrs: { sender: 'x@gmail.com' }, zone: { ...GOOGLE_SPF, '_netblocks.google.com': { TXT: 'TIMEOUT' } }, want: 'tempfail' },
  { name: 'yahoo.co.uk is not on the list (no wildcards)', check: 'sender_provider_forgery', attrs: { sender: 'x@yahoo.co.uk' }, want: 'skip', queries: 0 },
  { name: 'subdomain of a provider is not the provider', check: 'sender_provider_forgery', attrs: { sender: 'x@eu.gmail.com' }, want: 'skip', queries: 0 },
  { name: 'SRS sender judged by the forwarder domain', check: 'sender_provider_forgery', attrs: { sender: SRS }, want: 'skip', queries: 0 },
  { name: 'not a provider', check: 'sender_provider_forgery', want: 'skip', queries: 0 },
  { name: 'null sender', check: 'sender_provider_forgery', attrs: { sender: '' }, want: 'skip', queries: 0 },
  {
    name: 'configured list', check: 'sender_provider_forgery', attrs: { sender: 'x@example.org' }, config: config(`${TEST_YAML}providers: [example.org]\n`),
    zone: { 'example.org': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] } }, want: 'pass',
  },
  {
    name: 'configured list: gmail.com no longer judged', check: 'sender_provider_forgery', attrs: { sender: 'x@gmail.com' }, config: config(`${TEST_YAML}providers: [example.org]\n`),
    zone: GOOGLE_SPF, want: 'skip',
  },
]);

t.test('providers: exact names, the old mapping form read with a warning', async (tt) => {
  const def = loadConfigText('', 'x.yaml');
  tt.ok(def.ok && def.config.providers.includes('aol.com') && def.config.providers.includes('yahoo.co.jp') && def.config.providers.includes('me.com'));
  tt.ok(def.ok && def.config.providers.every((d) => !d.includes('*')), 'no wildcards in the defaults');
  tt.ok(def.ok && def.warnings.length === 0);
  const old = loadConfigText('providers:\n  gmail.com: [google.com]\n  yahoo.*: [yahoo.com]\n  Example.ORG: [example.net]\n', 'old.yaml');
  tt.ok(old.ok, 'the old form still loads');
  if (old.ok) {
    tt.same(old.config.providers, ['gmail.com', 'example.org'], 'exact keys kept, wildcard dropped');
    tt.equal(old.warnings.length, 1);
    tt.equal(old.warnings[0]!.code, 'PI_CONFIG_DEPRECATED');
    tt.equal(old.warnings[0]!.path, 'providers');
    tt.match(old.warnings[0]!.message, /dropped the wildcards yahoo\.\*/);
    tt.equal(old.warnings[0]!.line, 1);
  }
  const wild = loadConfigText('providers: ["yahoo.*"]\n', 'w.yaml');
  tt.notOk(wild.ok, 'a wildcard in the list is refused');
  if (!wild.ok) tt.match(wild.errors[0]!.message, /no wildcards/);
  const bad = loadConfigText('providers: gmail.com\n', 'b.yaml');
  tt.notOk(bad.ok, 'a bare string is refused');
});

// ---- properties across all checks ----------------------------------------------

/** A bad client: every DNS-dependent check fails for it with a healthy DNS. */
const BAD_ZONE: Zone = {
  ...ZONE,
  '198.51.100.90': { PTR: ['dsl-90.pool.isp.example', 'other.isp.example'] },
  'dsl-90.pool.isp.example': { A: ['198.51.100.90'] },
  'other.isp.example': { A: ['198.51.100.91'] },
  'helo.bad.example': { A: ['10.0.0.9'] },
  'bogus.example': { MX: [[10, 'mx.bogus.example']] },
  'mx.bogus.example': { A: ['10.0.0.25'] },
};

const SCENARIOS: ReadonlyArray<{ name: string; attrs: Record<string, string> }> = [
  { name: 'bad client, bad HELO, bogus MX', attrs: { client_address: '198.51.100.90', helo_name: 'helo.bad.example', sender: 'x@bogus.example' } },
  { name: 'gmail sender from a pool', attrs: { client_address: '198.51.100.90', helo_name: 'helo.bad.example', sender: 'x@gmail.com' } },
  { name: 'unknown everything', attrs: { client_address: '198.51.100.77', helo_name: 'nx.example', sender: 'x@nx.example' } },
  { name: 'null MX, no-MX HELO', attrs: { client_address: '198.51.100.77', helo_name: 'empty.example', sender: 'x@nullmx.example' } },
  { name: 'implicit-MX sender', attrs: { client_address: '198.51.100.90', helo_name: 'mail.example.net', sender: 'x@a-only.example' } },
  { name: 'good client', attrs: {} },
  { name: 'good IPv6 client', attrs: { client_address: V6_CLIENT } },
];

t.test('a DNS tempfail never produces fail (every check, every query)', async (tt) => {
  let failuresSeen = 0;
  for (const sc of SCENARIOS) {
    for (const c of CHECKS) {
      // 1. healthy DNS: record the queries this check makes on its own
      const healthy = new FakeDns(BAD_ZONE);
      const base = await c.run(makeCtx(sc.attrs, healthy));
      if (base.result === 'fail') failuresSeen++;
      // 2. every query of the check answered SERVFAIL, TIMEOUT or REFUSED: never 'fail'
      //    unless the check made no DNS query at all (syntax and address checks)
      for (const failure of ['SERVFAIL', 'TIMEOUT', 'REFUSED'] as const) {
        const dns = new FakeDns(BAD_ZONE);
        dns.failWhen = () => failure;
        const f = await c.run(makeCtx(sc.attrs, dns));
        if (dns.count() > 0) tt.not(f.result, 'fail', `${sc.name}/${c.id}: all DNS ${failure} -> ${f.result} (${f.reason})`);
        else tt.equal(f.result, base.result, `${sc.name}/${c.id}: no DNS used, same result`);
        // a DNS tempfail carries its outcome as data (the daemon's PI_DNS_* warning reads it, never the reason text)
        // (an SPF evaluation reports its own TEMPERROR: the library does not say which lookup failed)
        if (f.result === 'tempfail') tt.ok(f.dns === failure || f.dns === 'TEMPERROR', `${sc.name}/${c.id}: tempfail carries dns: ${failure} (got ${f.dns})`);
      }
      // 3. each single query failing in turn: a fail may only rest on answers that did not tempfail
      for (let i = 0; i < healthy.calls.length; i++) {
        const target = healthy.calls[i]!;
        const dns = new FakeDns(BAD_ZONE);
        dns.failWhen = (type, name) => (type === target.type && name === target.name ? 'SERVFAIL' : null);
        const f = await c.run(makeCtx(sc.attrs, dns));
        const consulted = dns.calls.some((x) => x.type === target.type && x.name === target.name);
        if (f.result === 'fail') tt.notOk(consulted, `${sc.name}/${c.id}: fails although ${target.type} ${target.name} tempfailed (${f.reason})`);
        else tt.pass(`${sc.name}/${c.id}: ${target.type} ${target.name} SERVFAIL -> ${f.result}`);
      }
    }
  }
  tt.ok(failuresSeen >= 15, `the scenarios exercise failing checks (${failuresSeen} fails with healthy DNS)`);
});

t.test('every check fails in the bad scenarios with healthy DNS', async (tt) => {
  const failed = new Set<string>();
  for (const sc of SCENARIOS) {
    for (const c of CHECKS) {
      const f = await c.run(makeCtx(sc.attrs, new FakeDns(BAD_ZONE)));
      if (f.result === 'fail') failed.add(c.id);
    }
  }
  const dnsChecks = ['helo_private', 'helo_unknown', 'helo_mismatch', 'rdns_missing', 'rdns_unconfirmed', 'rdns_generic', 'rdns_helo_mismatch',
    'sender_domain_unknown', 'sender_null_mx', 'sender_mx_bogus', 'sender_mx_required', 'client_not_sender_mx', 'sender_provider_forgery'];
  for (const id of dnsChecks) tt.ok(failed.has(id), `${id} fails in some scenario, so the tempfail property above is not vacuous`);
});

// ---- query counts: what the request memo saves ------------------------------------

async function runAll(attrs: Record<string, string>, zone: Zone, ids?: readonly string[]) {
  const dns = new FakeDns(zone);
  const memo = new Map<string, Promise<unknown>>();
  const checks = ids === undefined ? CHECKS : CHECKS.filter((c) => ids.includes(c.id));
  const findings = await Promise.all(checks.map((c) => c.run(makeCtx(attrs, dns, CONFIG, memo))));
  return { dns, memo, findings };
}

const DEFAULT_ON = CHECKS.filter((c) => c.defaults.action !== 'off').map((c) => c.id);

t.test('query counts with the shared memo (cold cache)', async (tt) => {
  // good IPv4 client, HELO = PTR name: PTR + A(ptr=helo) + MX(sender) + A(first MX host)
  // + TXT(helo) and TXT(sender domain) for SPF (neither publishes a record here: result none).
  // No AAAA: the client's family answers every question of the HELO and MX-host checks
  // (lib/lookup.ts lookupAddresses; was 8 queries with both families always asked)
  let r = await runAll({}, ZONE, DEFAULT_ON);
  tt.equal(r.dns.count(), 6, `good client, HELO = PTR name: 6 queries ${JSON.stringify(r.dns.calls)}`);
  tt.equal(r.dns.count('AAAA'), 0, 'no AAAA query for an IPv4 client whose names have global A records');
  tt.equal(r.dns.count('TXT'), 2, 'SPF: one TXT per identity');
  tt.same(r.findings.filter((f) => f.result !== 'pass' && f.result !== 'skip'), [], 'a good client passes every default check');
  const before = r.dns.count();
  await Promise.all(CHECKS.map((c) => c.run(makeCtx({}, r.dns, CONFIG, r.memo))));
  tt.equal(r.dns.count(), before, 'the same request again (all 19 checks, memo warm): no new query');
  // all 19 checks, incl. the off-by-default ones: client_not_sender_mx reuses A(mx host)
  r = await runAll({}, ZONE);
  tt.equal(r.dns.count(), 6, 'all checks incl. sender_mx_required and client_not_sender_mx: still 6');
  // HELO differs from the PTR name: + A of the HELO (+ its TXT, which replaces the PTR name's)
  r = await runAll({ helo_name: 'relay.example.net' }, { ...ZONE, 'relay.example.net': { A: ['203.0.113.5'] } }, DEFAULT_ON);
  tt.equal(r.dns.count(), 7, `good client, HELO != PTR name: 7 queries ${JSON.stringify(r.dns.calls)}`);
  // good IPv6 client: PTR(ip6.arpa) + AAAA(ptr=helo) + TXT(helo) + MX + TXT(sender) + AAAA(mx)
  r = await runAll({ client_address: V6_CLIENT }, ZONE, DEFAULT_ON);
  tt.equal(r.dns.count(), 6, `good IPv6 client: 6 queries ${JSON.stringify(r.dns.calls)}`);
  tt.equal(r.dns.count('A'), 0, 'no A query for an IPv6 client whose names have global AAAA records');
  const ptrCall = r.dns.calls.find((c) => c.type === 'PTR');
  tt.equal(ptrCall?.name, reverseName(V6_CLIENT), 'PTR asked under ip6.arpa');
  tt.match(ptrCall?.name, /^5\.2\.0\.0(\.0){16}\.5\.0\.0\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/);
  // a gmail sender from Google: the provider check reuses spf_mail_from's evaluation
  // (TXT gmail.com, _spf.google.com, _netblocks.google.com) and the HELO's TXT
  r = await runAll(GOOGLE, { ...ZONE, ...GOOGLE_SPF }, DEFAULT_ON);
  tt.equal(r.dns.count('TXT'), 4, `gmail sender from Google: 4 TXT queries ${JSON.stringify(r.dns.calls)}`);
  tt.same(r.findings.filter((f) => f.check.startsWith('spf_mail_from') || f.check === 'sender_provider_forgery').map((f) => f.result), ['pass', 'pass', 'pass', 'pass']);
  // bad client: no PTR, unknown HELO, sender NXDOMAIN: PTR + A/AAAA/MX(helo) + MX(sender)
  r = await runAll({ client_address: '198.51.100.77', helo_name: 'nx.example', sender: 'x@nx-sender.example' }, ZONE, DEFAULT_ON);
  tt.equal(r.dns.count(), 7, `bad client: 7 queries ${JSON.stringify(r.dns.calls)}`);
  // every (type, name) asked at most once, whatever the mix
  for (const sc of SCENARIOS) {
    const x = await runAll(sc.attrs, BAD_ZONE);
    const keys = x.dns.calls.map((c) => `${c.type} ${c.name}`);
    tt.equal(new Set(keys).size, keys.length, `${sc.name}: no query repeated (${keys.length} queries)`);
  }
});

t.test('a DnsLookup that rejects (a bug) becomes tempfail, not a crash', async (tt) => {
  const broken: DnsLookup = {
    a: () => Promise.reject(new Error('boom')),
    aaaa: () => Promise.reject(new Error('boom')),
    mx: () => Promise.reject(new Error('boom')),
    ptr: () => Promise.reject(new Error('boom')),
    txt: () => Promise.reject(new Error('boom')),
  };
  let tempfails = 0;
  for (const c of CHECKS) {
    const f = await c.run(makeCtx({}, broken));
    tt.not(f.result, 'fail', `${c.id}: ${f.result}`);
    if (f.result !== 'tempfail') continue;
    tempfails++;
    // the outcome travels as a code word, the error's message only as detail in the reason
    // (SPF checks get mailauth's TEMPERROR: the evaluator classified the failed lookup)
    tt.equal(f.dns, c.id.startsWith('spf_') ? 'TEMPERROR' : 'INTERNAL', `${c.id}: dns outcome is the code, not prose`);
  }
  tt.ok(tempfails > 0, 'some DNS check tempfailed');
});

t.test('describeAnswer shows an INTERNAL answer with its detail; dnsTempfail takes the code as is', async (tt) => {
  const a = { status: 'tempfail', records: [], reason: 'INTERNAL', detail: 'boom' } as const;
  tt.equal(describeAnswer('A', 'mail.example.net', a), 'A mail.example.net -> INTERNAL (boom) (temporary failure)');
  tt.equal(dnsTempfail('x', 'r', [a]).dns, 'INTERNAL');
  tt.equal(dnsTempfail('x', 'r', [{ status: 'tempfail', reason: 'SERVFAIL' }, { status: 'tempfail', reason: 'DEADLINE' }]).dns, 'DEADLINE');
  tt.equal(dnsTempfail('x', 'r', [{ status: 'ok', reason: 'NOERROR' }, { status: 'tempfail', reason: 'TIMEOUT' }]).dns, 'TIMEOUT');
});
