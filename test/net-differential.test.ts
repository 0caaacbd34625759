/**
 * net-differential — the hot-path address code (net/ip.ts parseIp, net/special.ts
 * classifyIp) against plain references that share none of its code, over
 * boundary and generated inputs. Why: both were rewritten for speed (char
 * loops instead of node:net isIP, 32-bit pre-tests instead of BigInt masks);
 * a subtle slip would misclassify a client address (internal vs global) or
 * give two texts the same canonical form. These references are slow and
 * obvious on purpose.
 *
 * References:
 *   - parseIp: acceptance by node:net isIP (the text before a "%" zone index),
 *     value and RFC 5952 text by the WHATWG URL parser's IPv6 host serializer
 *     (it compresses the first longest run of 2+ zero groups, lower case,
 *     like RFC 5952 §4.2); IPv4-mapped addresses come back as IPv4.
 *   - classifyIp: the IANA IPv4 / IPv6 Special-Purpose Address Registries,
 *     transcribed below on their own (not imported from src), judged by
 *     BigInt masks and the longest prefix, the globally reachable carve-outs
 *     first.
 */
import t from 'tap';
import { isIP } from 'node:net';
import { parseIp, compileCidrs, type ParsedIp } from '../src/net/ip.js';
import { classifyIp } from '../src/net/special.js';

let seed = 20261206;
const r = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const rand32 = (): bigint => (BigInt(r(0x10000)) << 16n) | BigInt(r(0x10000));
const rand128 = (): bigint => (rand32() << 96n) | (rand32() << 64n) | (rand32() << 32n) | rand32();

function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** What parseIp must answer, from node:net and WHATWG URL only. */
function parseRef(input: string): { family: 4 | 6; value: bigint; text: string } | null {
  const s = input.trim();
  const z = s.includes('%') ? s.slice(0, s.indexOf('%')) : s;
  const fam = isIP(z);
  if (fam === 4) {
    if (z !== s) return null; // a zone index on an IPv4 address: not an address
    const p = s.split('.').map(Number);
    return { family: 4, value: BigInt(p[0]! * 2 ** 24 + p[1]! * 65536 + p[2]! * 256 + p[3]!), text: s };
  }
  if (fam !== 6) return null;
  const h = new URL(`http://[${z}]/`).hostname.slice(1, -1);
  const [a, b] = h.includes('::') ? h.split('::') as [string, string] : [h, null];
  const head = a === '' ? [] : a.split(':');
  const tail = b === null || b === '' ? [] : b.split(':');
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const value = groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn, text: v4Text(Number(value & 0xffffffffn)) };
  return { family: 6, value, text: h };
}

t.test('parseIp: accepted, value and canonical text equal node:net isIP + the URL parser, over boundary and generated IPv6 text', async (tt) => {
  const hex = '0123456789abcdefABCDEF';
  const group = (): string => {
    if (r(3) === 0) return '0';
    let o = '';
    const len = 1 + r(4);
    for (let k = 0; k < len; k++) o += hex[r(r(3) === 0 ? 22 : 16)];
    return o;
  };
  const inputs = [
    '::', '::1', '::ffff:1.2.3.4', '::1.2.3.4', '::ffff:0:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:1.2.3.4', '::FFFF:1.2.3.4',
    'fe80::1%eth0', 'FE80::1%', '1::', '1:0:0:2:0:0:0:3', '1:0:0:0:2:0:0:3', '0:0:1:0:0:1:0:0', ' ::1 ', '\t2001:DB8::1\n',
    '64:ff9b::1.2.3.4', '64:ff9b::192.0.2.33', '::ffff:ffff:ffff', '0::ffff:1.2.3.4', '::0:ffff:1.2.3.4', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '1::2::3', ':::', '1:::2', '::1.2.3', '::1.2.3.256', '::01.2.3.4',
    '::ffff:1.2.3.4%eth0', '1.2.3.4', '01.2.3.4', '1.2.3.4 ', '1.2.3.256', '1.2.3', '1.2.3.4%eth0', '١.٢.٣.٤', '::١', '', ' ', '%', '::%',
    '00000::1', '0000::1', '::ffff:0.0.0.0', '::ffff:255.255.255.255', '::fffe:1.2.3.4', '2001:db8::1:0:0:1', '2001:0:0:1::1',
    `${'1:'.repeat(4000)}1`, `${'1.'.repeat(4000)}1`,
  ];
  while (inputs.length < 60_000) {
    const n = 1 + r(8);
    const gs: string[] = [];
    for (let k = 0; k < n; k++) gs.push(group());
    if (r(3) === 0) gs[n - 1] = `${r(256)}.${r(256)}.${r(256)}.${r(256)}`;
    if (r(4) === 0 && n <= 6) gs.splice(0, Math.min(n, 2), '0', 'ffff');
    let s: string;
    if (r(3) === 0 || n === 8) s = gs.join(':');
    else {
      const at = r(n + 1);
      s = `${gs.slice(0, at).join(':')}::${gs.slice(at).join(':')}`;
    }
    if (r(10) === 0) s = `::ffff:${s.replace(/^::/, '')}`;
    if (r(20) === 0) s += ['%eth0', '%', ' ', ':', '.', 'g'][r(6)];
    inputs.push(s);
  }
  let valid = 0;
  let wrong = 0;
  for (const input of inputs) {
    const want = parseRef(input);
    const got = parseIp(input);
    if (want !== null) valid++;
    const same = want === null ? got === null
      : got !== null && got.family === want.family && got.value === want.value && got.text === want.text;
    if (!same && wrong++ < 10) {
      tt.fail(`${JSON.stringify(input.slice(0, 80))}: parseIp ${got === null ? 'null' : `${got.family} ${got.text} ${got.value.toString(16)}`}, `
        + `want ${want === null ? 'null' : `${want.family} ${want.text} ${want.value.toString(16)}`}`);
    }
  }
  tt.equal(wrong, 0, `${inputs.length} inputs, ${valid} addresses: family, value and text as the references say`);
  tt.ok(valid > 30_000, 'most of them are addresses');
});

// IANA IPv4 Special-Purpose Address Registry: the blocks whose "Globally Reachable" is False
// (with 100.64.0.0/10, multicast, 192.88.99.0/24: see special.ts for the deliberate choices).
const REF_V4_INTERNAL = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.0.0/29',
  '192.0.0.8/32', '192.0.0.170/31', '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24',
  '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32',
];
const REF_V4_GLOBAL = ['192.0.0.9/32', '192.0.0.10/32'];
// IANA IPv6 Special-Purpose Address Registry (2025-10-09), Globally Reachable False; ::ffff:0:0/96 goes by the IPv4 inside
const REF_V6_INTERNAL = [
  '::/128', '::1/128', '64:ff9b:1::/48', '100::/64', '100:0:0:1::/64', '2001::/23', '2001::/32', '2001:2::/48', '2001:10::/28',
  '2001:db8::/32', '2002::/16', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8',
];
const REF_V6_GLOBAL = ['2001:1::1/128', '2001:1::2/128', '2001:1::3/128', '2001:3::/32', '2001:4:112::/48', '2001:20::/28', '2001:30::/28'];
// globally reachable blocks with no internal block around them: must stay global
const REF_GLOBAL_ALONE = ['64:ff9b::/96', '2620:4f:8000::/48', '192.31.196.0/24', '192.52.193.0/24', '192.175.48.0/24'];

interface RefBlock { text: string; bits: number; net: bigint; last: bigint; prefix: number }

function refBlock(cidr: string): RefBlock {
  const [addr, p] = cidr.split('/') as [string, string];
  const prefix = Number(p);
  const v4 = !addr.includes(':');
  const bits = v4 ? 32 : 128;
  const ref = parseRef(addr)!;
  const hostBits = BigInt(bits - prefix);
  const net = (ref.value >> hostBits) << hostBits;
  return { text: cidr, bits, net, last: net | ((1n << hostBits) - 1n), prefix };
}

const V4_IN = REF_V4_INTERNAL.map(refBlock);
const V4_GL = REF_V4_GLOBAL.map(refBlock);
const V6_IN = REF_V6_INTERNAL.map(refBlock);
const V6_GL = REF_V6_GLOBAL.map(refBlock);

/** global, and the internal block's prefix text when not */
function classifyRef(family: 4 | 6, value: bigint, publicNets: RefBlock[]): { global: boolean; block: string | null; overridden: boolean } {
  if (family === 6 && value >> 32n === 0xffffn) {
    family = 4;
    value &= 0xffffffffn;
  }
  const inside = (b: RefBlock) => b.bits === (family === 4 ? 32 : 128) && value >= b.net && value <= b.last;
  if ((family === 4 ? V4_GL : V6_GL).some(inside)) return { global: true, block: null, overridden: false };
  let best: RefBlock | null = null;
  for (const b of family === 4 ? V4_IN : V6_IN) if (inside(b) && (best === null || b.prefix > best.prefix)) best = b;
  if (best === null) return { global: true, block: null, overridden: false };
  if (publicNets.some(inside)) return { global: true, block: best.text, overridden: true };
  return { global: false, block: best.text, overridden: false };
}

t.test('classifyIp equals a BigInt reference over the IANA registries: every block\'s first and last address, +-1, and random addresses', async (tt) => {
  const PUBLIC = ['192.0.2.0/25', '10.1.0.0/16', '2001:db8:1::/48', 'fc00::/8', '::ffff:100.64.0.0/106'];
  const publicSet = compileCidrs(PUBLIC);
  const publicRef = [
    ...['192.0.2.0/25', '10.1.0.0/16', '100.64.0.0/10'].map(refBlock), // ::ffff:100.64.0.0/106 is the IPv4 /10
    ...['2001:db8:1::/48', 'fc00::/8'].map(refBlock),
  ];
  const values: Array<[4 | 6, bigint]> = [];
  const near = (b: RefBlock, family: 4 | 6) => {
    const max = (1n << BigInt(b.bits)) - 1n;
    for (const v of [b.net - 1n, b.net, b.net + 1n, b.last - 1n, b.last, b.last + 1n, b.net | (rand128() & (b.last - b.net))]) {
      if (v >= 0n && v <= max) values.push([family, v]);
      // the same IPv4 value as a raw IPv4-mapped IPv6 value (not through parseIp)
      if (family === 4 && v >= 0n && v <= max) values.push([6, (0xffffn << 32n) | v]);
    }
  };
  for (const b of [...V4_IN, ...V4_GL, ...REF_GLOBAL_ALONE.filter((c) => !c.includes(':')).map(refBlock)]) near(b, 4);
  for (const b of [...V6_IN, ...V6_GL, ...REF_GLOBAL_ALONE.filter((c) => c.includes(':')).map(refBlock)]) near(b, 6);
  for (const c of ['10.1.0.0/16', '192.0.2.0/25', '2001:db8:1::/48', 'fc00::/8']) near(refBlock(c), c.includes(':') ? 6 : 4);
  const v6Tops = [...V6_IN, ...V6_GL].map((b) => b.net >> 96n);
  for (let i = 0; i < 20_000; i++) {
    switch (r(4)) {
      case 0: values.push([4, rand32()]); break;
      case 1: values.push([6, rand128()]); break;
      // an address whose top 32 bits equal a block's (the pre-test passes), the rest random
      case 2: values.push([6, (v6Tops[r(v6Tops.length)]! << 96n) | (rand128() & ((1n << 96n) - 1n))]); break;
      // near a block's top bits: one bit flipped
      default: {
        const b = V6_IN[r(V6_IN.length)]!;
        values.push([6, (b.net ^ (1n << BigInt(127 - r(48)))) | (rand128() & ((1n << 64n) - 1n))]);
      }
    }
  }
  let wrong = 0;
  for (const [family, value] of values) {
    const ip: ParsedIp = { family, value, text: family === 4 ? v4Text(Number(value)) : `v6 ${value.toString(16)}` };
    for (const [set, ref] of [[undefined, []], [publicSet, publicRef]] as const) {
      const want = classifyRef(family, value, ref as RefBlock[]);
      const got = classifyIp(ip, set);
      if ((got.global !== want.global || (got.block?.cidr ?? null) !== want.block || got.overridden !== want.overridden) && wrong++ < 10) {
        tt.fail(`${family} ${value.toString(16)}${set ? ' (public_networks)' : ''}: ${JSON.stringify({ ...got, block: got.block?.cidr ?? null })}, want ${JSON.stringify(want)}`);
      }
    }
  }
  tt.equal(wrong, 0, `${values.length} addresses, each with and without public_networks, classified as the reference`);
  tt.ok(Object.isFrozen(classifyIp(parseIp('10.0.0.1')!)) && Object.isFrozen(classifyIp(parseIp('192.0.2.200')!, publicSet)), 'the shared answers are frozen');
  tt.equal(classifyIp(parseIp('8.8.8.8')!).global, true);
});
