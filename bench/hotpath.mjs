#!/usr/bin/env node
// bench/hotpath.mjs — the warm path's JavaScript cost, in-process: no socket,
// no pipe, no other process to wake. One Session (src/server/session.ts) with
// the daemon's own ServerContext (the decision log line at info to a file, the
// metrics hooks, the engine with its identity cache) gets the warm mix of
// bench/lib/mix.mjs, one request at a time; its answers go to a sink that only
// counts them. After a cold pass (DNS through the bench's loopback server)
// every request is answered synchronously from the identity cache, so the
// measured loop is exactly the daemon's per-request JavaScript and GC.
//
//   node [--max-semi-space-size=4] [--cpu-prof] bench/hotpath.mjs [--n 50000] [--reps 5] [--cli PATH/dist/cli.js] [--alloc] [--log-level warn]
//
// Prints CPU µs per request (process.cpuUsage, user + system) per rep, min
// and median. --cli points at another build's dist/cli.js (A/B of a patch:
// run both, alternately). This is the figure a hot-path change moves first; the
// socket figures (run.mjs warm, stdio) add the kernel's and the peer's share.
// --alloc adds one pass under the sampling heap profiler: bytes allocated per
// request (garbage included) and the functions that allocate them.
// --log-level warn: no decision line (what the line and its writes cost: the
// difference to the default info).
//
// What can go wrong: a request not answered synchronously after the cold pass
// (an identity-cache miss: the TTL expired during a long rep) is awaited and
// counted in `async`; a rep with any is flagged, its figure includes DNS work.
import path from 'node:path';
import inspector from 'node:inspector/promises';
import { ROOT } from './lib/procs.mjs';
import { startInProcess } from './lib/in-process.mjs';
import { mixTemplates, fillTemplate } from './lib/mix.mjs';

const argv = process.argv.slice(2);
const value = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const N = Number(value('--n', '50000'));
const REPS = Number(value('--reps', '5'));
const CLI = path.resolve(value('--cli', path.join(ROOT, 'dist', 'cli.js')));
const ALLOC = argv.includes('--alloc');
const LOG_LEVEL = value('--log-level', 'info');
const { ctx, counters, Session, close } = await startInProcess({ cli: CLI, name: 'hotpath', dnsDelay: '', logLevel: LOG_LEVEL });
try {
  let answered = 0;
  let wake = null;
  const session = new Session(() => ctx, { write: () => { answered++; if (wake) { const w = wake; wake = null; w(); } }, end() {} }, 'hotpath');
  const t = mixTemplates();
  // the instance and client_port change with every request, as in the socket bench (a new SMTP session each time)
  const build = (i) => fillTemplate(t[i % t.length], `407.${i.toString(16)}.0`, String(1024 + (i % 60000)));
  // Made before the clock starts, and flat as a socket hands them over (bytes decoded
  // as latin1): a string built by concatenation is a rope that the parser's first
  // look flattens, a copy per request that the daemon never makes (~400 bytes, and
  // slower character access). POOL distinct requests, used in turn.
  const POOL = 8192;
  const pool = Array.from({ length: POOL }, (_, i) => Buffer.from(build(i), 'latin1').toString('latin1'));
  const request = (i) => pool[i % POOL];
  const ask = (i) => {
    const before = answered;
    session.receive(request(i));
    if (answered > before) return null;
    return new Promise((res) => { wake = res; });
  };
  // cold pass: fill the DNS cache and the identity cache
  for (let i = 0; i < t.length * 2; i++) await ask(i);
  const results = [];
  for (let rep = 1; rep <= REPS; rep++) {
    let pending = 0;
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const p = ask(i);
      if (p !== null) { pending++; await p; }
    }
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - w0) / 1e3;
    const us = (c.user + c.system) / N;
    results.push(us);
    process.stderr.write(`hotpath rep ${rep}: ${us.toFixed(2)} µs CPU/request (${(wall / N).toFixed(2)} µs wall), ${N} requests${pending ? `, ${pending} async (cache expired?)` : ''}\n`);
    // The identity cache holds entries for 2 s: refresh them between reps.
    for (let i = 0; i < t.length; i++) await ask(i);
  }
  const sorted = [...results].sort((a, b) => a - b);
  // --alloc: one more pass of N requests under V8's sampling heap profiler, garbage
  // included (what GC has to deal with, not what survives): bytes allocated per
  // request, and the top allocating functions (inlined callees count as their caller)
  let alloc;
  if (ALLOC) {
    const s = new inspector.Session();
    s.connect();
    await s.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < N; i++) { const p = ask(i); if (p !== null) await p; }
    const { profile } = await s.post('HeapProfiler.stopSampling');
    s.disconnect();
    let total = 0;
    const by = new Map();
    const walk = (n) => {
      total += n.selfSize;
      if (n.selfSize > 0) { const f = n.callFrame; const k = `${f.functionName || '(anonymous)'} ${path.relative(ROOT, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}`; by.set(k, (by.get(k) ?? 0) + n.selfSize); }
      for (const c of n.children) walk(c);
    };
    walk(profile.head);
    alloc = { bytes_per_request: Math.round(total / N), top: [...by].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${Math.round(v / N)} ${k}`) };
    process.stderr.write(`hotpath alloc: ${alloc.bytes_per_request} bytes/request\n${alloc.top.map((l) => `  ${l}`).join('\n')}\n`);
  }
  process.stdout.write(`${JSON.stringify({ cli: path.relative(ROOT, CLI), n: N, reps: REPS, node_args: process.execArgv, log_level: LOG_LEVEL, min_us: +sorted[0].toFixed(2), median_us: +sorted[Math.floor(sorted.length / 2)].toFixed(2), runs_us: results.map((x) => +x.toFixed(2)), decisions: counters.requests, ...(alloc ? { alloc_bytes_per_request: alloc.bytes_per_request } : {}) })}\n`);
} finally {
  await close();
}
process.exit(0);
