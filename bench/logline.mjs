#!/usr/bin/env node
// bench/logline.mjs — the decision line alone: CPU per line (user + system, so
// the batch's write(2) is in it) for one or more builds, written through each
// build's own logger (log/logger.ts createLogger, info, batched, as the daemon
// makes it) to a file in a temporary directory, alternating builds each round.
// The lines are the warm mix's kind: plain ASCII values, an accepted request
// (no fired, no found), 4,096 distinct requests used in turn.
//
//   node bench/logline.mjs [--n 400000] [--rounds 4] [--dest DIR|/dev/null] [--cli A/dist/cli.js --cli B/dist/cli.js ...]
//
// Default build: this checkout's dist/. A build without writeDecisionLine (before
// the Buffer encoder) gets decisionLine's string through lineWriter, as its
// daemon did. Prints one line per build and round, then a JSON summary (min
// and median ns per line per build).
//
// What can go wrong: a build without lineWriter (older than the hand-built line)
// is refused with its path. The figure is the line's own cost, not what it does
// to the rest of a request (caches): bench/hotpath.mjs --log-level warn shows that.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib/procs.mjs';

const argv = process.argv.slice(2);
const value = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const N = Number(value('--n', '400000'));
const ROUNDS = Number(value('--rounds', '4'));
const clis = argv.flatMap((a, i) => (a === '--cli' ? [path.resolve(argv[i + 1])] : []));
if (clis.length === 0) clis.push(path.join(ROOT, 'dist', 'cli.js'));
const destDir = value('--dest', fs.mkdtempSync(path.join(os.tmpdir(), 'logline-')));

const builds = [];
for (const cli of clis) {
  const dist = path.dirname(cli);
  const imp = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
  const logger = await imp('log/logger.js');
  const dl = await imp('server/decision-line.js');
  const { toPolicyRequest } = await imp('protocol/request.js');
  if (typeof logger.lineWriter !== 'function') throw new Error(`${cli}: no lineWriter (a build before the hand-built decision line)`);
  builds.push({ cli, logger, dl, toPolicyRequest, runs: [] });
}

const attrs = Array.from({ length: 4096 }, (_, i) => ({
  request: 'smtpd_access_policy', protocol_state: 'RCPT', instance: `4B1C21E0F3.A7d2.${i}`, client_address: `203.0.113.${i % 250}`,
  client_name: `mail${i % 50}.example.net`, helo_name: `mail${i % 50}.example.net`, sender: `alice${i}@example.net`, recipient: 'bob@example.org',
}));
const decision = { action: { verb: 'DUNNO' }, fired: [], findings: [{ check: 'helo_missing', result: 'pass', reason: '' }, { check: 'rdns_missing', result: 'pass', reason: '' }] };

function once(b, k) {
  const reqs = attrs.map((a) => b.toPolicyRequest(a));
  const file = destDir === '/dev/null' ? '/dev/null' : path.join(destDir, `build${k}.log`);
  if (file !== '/dev/null') fs.rmSync(file, { force: true });
  const log = b.logger.createLogger({ level: 'info', destination: file });
  const raw = b.logger.lineWriter(log);
  const viaBuffer = typeof b.dl.writeDecisionLine === 'function';
  const t0 = 1765000000000;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const req = reqs[i & 4095];
    if (viaBuffer) b.dl.writeDecisionLine(raw, req, decision, 'DUNNO', 12.3, t0 + (i >> 4));
    else raw.write(b.dl.decisionLine(req, decision, 'DUNNO', 12.3, t0 + (i >> 4), raw.escape));
  }
  b.logger.flushNow(log);
  const c = process.cpuUsage(c0);
  if (file !== '/dev/null') fs.rmSync(file, { force: true });
  return { ns: ((c.user + c.system) * 1000) / N, sys_ns: (c.system * 1000) / N };
}

for (let r = 1; r <= ROUNDS; r++) {
  const order = r % 2 ? builds : [...builds].reverse();
  for (const b of order) {
    const k = builds.indexOf(b);
    const x = once(b, k);
    b.runs.push(x.ns);
    process.stderr.write(`round ${r} ${path.relative(ROOT, b.cli)}: ${x.ns.toFixed(0)} ns CPU per line (system ${x.sys_ns.toFixed(0)})\n`);
  }
}
const stat = (xs) => { const s = [...xs].sort((a, b) => a - b); return { min_ns: Math.round(s[0]), median_ns: Math.round(s[Math.floor(s.length / 2)]) }; };
process.stdout.write(`${JSON.stringify({ n: N, rounds: ROUNDS, dest: destDir, builds: builds.map((b) => ({ cli: path.relative(ROOT, b.cli), ...stat(b.runs) })) })}\n`);
if (destDir !== '/dev/null' && !argv.includes('--dest')) fs.rmSync(destDir, { recursive: true, force: true });
process.exit(0);
