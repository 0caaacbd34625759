#!/usr/bin/env node
// bench/ip-parse.mjs — what parsing a client address costs per call
// (src/net/ip.ts parseIp): the warm mix's repeating addresses (IPv4 and
// IPv6 apart) and never-seen IPv6 addresses (every call a miss of the memo).
// A/B: pass another build's ip.js.
//
//   node bench/ip-parse.mjs [path/to/dist/net/ip.js] [calls=2000000] [rounds=5]
//
// Prints the best round per case in ns per call. In-process, no I/O; the best
// of several rounds is the figure least disturbed by other jobs.
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const file = path.resolve(process.argv[2] ?? path.join(HERE, '..', 'dist', 'net', 'ip.js'));
const N = Number(process.argv[3] ?? 2_000_000);
const ROUNDS = Number(process.argv[4] ?? 5);
const { parseIp } = await import(pathToFileURL(file).href);

const v4 = ['203.0.113.5', '203.0.113.20', '198.51.100.25', '203.0.113.41', '198.51.100.100', '192.0.2.10', '198.51.100.77', '203.0.113.66', '203.0.113.70', '203.0.113.6', '203.0.113.90', '192.0.2.99', '192.0.2.200'];
const v6 = ['2001:db8:25::10'];
const cold = Array.from({ length: 1 << 16 }, (_, i) => `2001:db8:c01d::${(i >>> 8).toString(16)}:${(i & 255).toString(16)}`);
let sink = 0;
function run(list, n, unique) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const a = unique ? `${list[i & (list.length - 1)]}:${(i >>> 16).toString(16)}`.slice(0, 39) : list[i % list.length];
    const r = parseIp(a);
    if (r) sink += r.family;
  }
  return Number(process.hrtime.bigint() - t0) / n;
}
for (const [name, list, unique, n] of [['IPv4, warm mix', v4, false, N], ['IPv6, warm mix', v6, false, N], ['IPv6, never seen', cold, true, N / 4]]) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) best = Math.min(best, run(list, n, unique));
  console.log(`${name.padEnd(18)} ${best.toFixed(1).padStart(7)} ns/call`);
}
if (sink === 0) console.log('');
