#!/usr/bin/env node
// bench/accept-burst.mjs — how long a NEW connection waits for its first answer
// while the daemon is busy with others: B busy connections (one request
// outstanding each, as Postfix sends them, a warm-cache identity mix), then N
// new connections at once, each writing its first request as soon as connect()
// resolves. Node >= 20 (libuv >= 1.45) accepts one connection per event-loop
// turn, and a turn serves every busy connection that has a request ready, so
// the new ones wait about one turn per connection queued ahead of them
// (docs/server.md, "New connections while the daemon is busy").
//
//   npm run pretest && node bench/accept-burst.mjs      # busy 100 and 1,000, burst 100, workers 1 (~60 s)
//   node bench/accept-burst.mjs --busy 1000 --workers 2  # the same beside cluster workers
//   node bench/accept-burst.mjs --busy 100 --burst 100 --workers 1,2 --reps 3
//
// Runs the build of the test suite (build/: the load test's rig, test DNS server
// and identity mix; the daemon with production's Node flags). Reported per run:
// connect() max (the kernel's handshake), connect-to-first-answer p50/max of
// the new connections, the busy connections' latency meanwhile (p50/p99/max),
// and the load average (the figures are wall-clock latencies: on a shared
// machine they are "loaded" figures). Loopback only; every wait is bounded
// (ANSWER_TIMEOUT_MS per burst, the daemon stopped at the end of each run).
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RIG = path.join(ROOT, 'build', 'test', 'fuzz', 'rig.js');
const IDS = path.join(ROOT, 'build', 'test', 'fuzz', 'identities.js');
if (!fs.existsSync(RIG)) {
  process.stderr.write(`accept-burst: ${RIG} missing: run \`npm run pretest\`\n`);
  process.exit(2);
}
const { startRig } = await import(RIG);
const { IDENTITIES, identityRequest } = await import(IDS);

const argv = process.argv.slice(2);
const value = (f) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined; };
const list = (f, d) => (value(f) ?? d).split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const BUSY = list('--busy', '100,1000');
const BURST = Number(value('--burst') ?? 100);
const WORKERS = list('--workers', '1');
const REPS = Math.min(Number(value('--reps') ?? 1), 10);
const SETTLE_MS = 1000; // busy connections run this long before the burst
const ANSWER_TIMEOUT_MS = 60_000;

const REQUESTS = IDENTITIES.map((id, i) => identityRequest(id, `b${i}`));
const now = () => performance.now();
const q = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const f1 = (x) => (Number.isNaN(x) ? '-' : x.toFixed(1));

/** A connection that calls onAnswer for each answer (answers end with an empty line). */
function open(port, onAnswer) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.setEncoding('latin1');
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let end;
    while ((end = buf.indexOf('\n\n')) !== -1) {
      buf = buf.slice(end + 2);
      onAnswer(s);
    }
  });
  s.on('error', () => {});
  return s;
}

async function once(busyCount, workers) {
  const downs = [];
  const rig = await startRig({ teardown: (fn) => downs.push(fn) }, {
    maxConnections: busyCount + BURST + 100,
    logToFile: true,
    nofile: busyCount + BURST + 256,
    extra: workers > 1 ? `workers: ${workers}` : '',
  });
  const port = rig.d.port();
  let k = 0;
  let stop = false;
  const busyMs = [];
  const busy = [];
  try {
    // busy connections: their first answer opens them (the daemon accepted them), then back to back
    const opened = busyCount === 0 ? [] : Array.from({ length: busyCount }, () => new Promise((resolve) => {
      let at = 0;
      let first = true;
      const s = open(port, (sock) => {
        if (first) { first = false; resolve(); } else busyMs.push(now() - at);
        if (!stop) { at = now(); sock.write(REQUESTS[k++ % REQUESTS.length]); }
      });
      s.once('connect', () => { at = now(); s.write(REQUESTS[k++ % REQUESTS.length]); });
      s.once('close', resolve);
      busy.push(s);
    }));
    await Promise.race([Promise.all(opened), new Promise((r) => setTimeout(r, ANSWER_TIMEOUT_MS))]);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    busyMs.length = 0;
    const load0 = os.loadavg()[0];
    const connectMs = [];
    const firstMs = [];
    const t0 = now();
    const burst = Array.from({ length: BURST }, () => new Promise((resolve) => {
      const c0 = now();
      const s = open(port, (sock) => { firstMs.push(now() - c0); sock.destroy(); resolve(); });
      s.once('connect', () => { connectMs.push(now() - c0); s.write(REQUESTS[k++ % REQUESTS.length]); });
      s.once('close', resolve);
      setTimeout(() => { s.destroy(); resolve(); }, ANSWER_TIMEOUT_MS).unref();
    }));
    await Promise.all(burst);
    const burstMs = now() - t0;
    return {
      busy: busyCount, burst: BURST, workers,
      connectMaxMs: q(connectMs, 1), answered: firstMs.length,
      firstP50Ms: q(firstMs, 0.5), firstMaxMs: q(firstMs, 1), burstMs,
      busyP50Ms: q(busyMs, 0.5), busyP99Ms: q(busyMs, 0.99), busyMaxMs: q(busyMs, 1), busyAnswers: busyMs.length,
      loadavg: Math.max(load0, os.loadavg()[0]),
    };
  } finally {
    stop = true;
    for (const s of busy) s.destroy();
    for (const fn of downs.reverse()) await fn();
  }
}

const rows = [];
for (let r = 0; r < REPS; r++) for (const b of BUSY) for (const w of WORKERS) rows.push(await once(b, w));
process.stdout.write('| busy | burst | workers | connect max | new: first answer p50 / max | busy meanwhile p50 / p99 / max | load avg |\n|---|---|---|---|---|---|---|\n');
for (const x of rows) {
  process.stdout.write(`| ${x.busy} | ${x.burst} | ${x.workers} | ${f1(x.connectMaxMs)} ms | ${f1(x.firstP50Ms)} / ${f1(x.firstMaxMs)} ms (${x.answered} answered) | ${f1(x.busyP50Ms)} / ${f1(x.busyP99Ms)} / ${f1(x.busyMaxMs)} ms | ${x.loadavg.toFixed(1)} |\n`);
}
process.stdout.write(`${JSON.stringify(rows)}\n`);
