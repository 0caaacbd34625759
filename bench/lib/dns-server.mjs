// bench/lib/dns-server.mjs — the benchmark's loopback DNS server (a child
// process, so its CPU is not the daemon's or the load generator's).
//
//   const dns = fork('bench/lib/dns-server.mjs')   // then: message {ready, port}
//   dns.send({ op: 'stats' })       -> { op: 'stats', total, byType, seq }
//   dns.send({ op: 'log', since })  -> { op: 'log', queries: [[seq, type, name], ...] }
//
// UDP on 127.0.0.1 only, answers from lib/zone.mjs (authoritative, TTL 300 s,
// NXDOMAIN / NODATA with an SOA in the authority section, EDNS echoed). The
// counters are exact; the query log keeps the last 8192 queries (enough for
// the per-identity probes, which read it after every request).
//
// Delay (argv, for the sustained cold phase): `--delay MIN-MAX[,SHARE@SLOW]`
// in ms, e.g. `--delay 2.5-7.5,0.01@300`: every answer waits a uniform
// MIN..MAX ms, and a SHARE of them SLOW ms instead (a distant authoritative
// server). The random choices come from a fixed-seed generator, so two runs
// delay the same queries alike. Without --delay answers go out at once.
//
// What can go wrong: a packet that does not decode is counted as malformed and
// dropped (the daemon then times out and says so). Exits when the parent goes.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { lookup, NEG_TTL } from './zone.mjs';

const RCODE = { NOERROR: 0, NXDOMAIN: 3 };
// --delay MIN-MAX[,SHARE@SLOW] (ms)
const delayArg = process.argv.includes('--delay') ? process.argv[process.argv.indexOf('--delay') + 1] : '';
const dm = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(?:,(0?\.\d+|0|1)@(\d+(?:\.\d+)?))?$/.exec(delayArg ?? '');
if (delayArg && !dm) { process.stderr.write(`bench dns: bad --delay ${delayArg} (want MIN-MAX[,SHARE@SLOW] in ms)\n`); process.exit(2); }
const DELAY = dm ? { min: Number(dm[1]), max: Number(dm[2]), share: Number(dm[3] ?? 0), slow: Number(dm[4] ?? 0) } : null;
// mulberry32: a small fixed-seed PRNG (reproducible delays across runs)
let seed = 0x5eed1234;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
let delayed = 0;
let slowAnswers = 0;
const LOG_SIZE = 8192;
const log = new Array(LOG_SIZE);
let seq = 0;
let malformed = 0;
const byType = Object.create(null);

const soa = (name) => {
  const apex = name.split('.').slice(-2).join('.') || '.';
  return { type: 'SOA', name: apex, ttl: NEG_TTL,
    data: { mname: `ns.${apex}`, rname: `hostmaster.${apex}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: NEG_TTL } };
};

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  let q;
  try { q = dnsPacket.decode(msg); } catch { malformed++; return; }
  const question = q.questions?.[0];
  if (q.type !== 'query' || !question) { malformed++; return; }
  const name = question.name.toLowerCase().replace(/\.$/, '');
  log[seq % LOG_SIZE] = [seq, question.type, name];
  seq++;
  byType[question.type] = (byType[question.type] ?? 0) + 1;
  const r = lookup(name, question.type);
  const flags = (q.flags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | RCODE[r.rcode];
  const edns = (q.additionals ?? []).some((a) => a.type === 'OPT')
    ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] }] : [];
  const out = dnsPacket.encode({ type: 'response', id: q.id, flags, questions: [question], answers: r.answers,
    authorities: r.answers.length ? [] : [soa(name)], additionals: edns });
  if (!DELAY) { sock.send(out, rinfo.port, rinfo.address); return; }
  const slow = rand() < DELAY.share;
  if (slow) slowAnswers++;
  delayed++;
  setTimeout(() => sock.send(out, rinfo.port, rinfo.address), slow ? DELAY.slow : DELAY.min + rand() * (DELAY.max - DELAY.min));
});
sock.on('error', (e) => { process.stderr.write(`bench dns: ${e.message}\n`); process.exit(1); });
sock.bind(0, '127.0.0.1', () => process.send?.({ op: 'ready', port: sock.address().port }));

process.on('message', (m) => {
  if (m?.op === 'stats') process.send({ op: 'stats', total: seq, byType: { ...byType }, seq, malformed, delayed, slow: slowAnswers });
  else if (m?.op === 'log') {
    const from = Math.max(m.since ?? 0, seq - LOG_SIZE);
    const queries = [];
    for (let i = from; i < seq; i++) queries.push(log[i % LOG_SIZE]);
    process.send({ op: 'log', queries });
  }
});
process.on('disconnect', () => process.exit(0));
