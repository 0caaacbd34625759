#!/usr/bin/env node
// bench/coldpath.mjs — the cold path's CPU per never-seen identity, in-process:
// no Postfix-side socket, no load generator, no pipe. Sessions
// (src/server/session.ts) with the daemon's own ServerContext (decision line
// at info to a file, metrics hooks, the engine with its caches) get never-seen
// good identities (bench/lib/mix.mjs coldRequest: IPv6 client with FCrDNS,
// HELO = PTR name, sender domain with MX and SPF), a fixed number in flight;
// DNS goes to the bench's loopback DNS server (a child process, answering at
// once unless --delay). So the figure is the daemon's own JavaScript, GC and
// c-ares work per identity, without the kernel's and the peers' share of the
// socket bench (run.mjs sustained), which a loaded machine disturbs most.
//
//   node [--max-semi-space-size=4] [--cpu-prof] bench/coldpath.mjs [--n 20000] [--reps 3]
//        [--inflight 50] [--delay 2.5-7.5] [--cli PATH/dist/cli.js] [--start N]
//        [--alloc-sites FILE.heapprofile]
//   node [--max-semi-space-size=4] bench/coldpath.mjs --entry-size 4000 [--cli ...]
//   node --expose-gc bench/coldpath.mjs --held 200 [--cli ...]
//
// Prints CPU µs per identity (process.cpuUsage, user + system) per rep, min
// and median, and DNS queries per identity (the server's counter). Beside it,
// JS heap bytes allocated per identity and bytes promoted to old space per
// identity, from V8's own GC records (v8.GCProfiler: for each collection the
// heap's used size before it, minus the used size after the previous one,
// plus what was added since the last one): Node 20 has no allocation counter,
// so this is an estimate, a slight lower bound (sweeping between collections
// lowers the used size too); "promoted" is old space's growth across
// scavenges, what outlives two young collections (a request waiting for DNS).
// --alloc-sites samples every allocation (V8's sampling heap profiler via the
// inspector, objects later collected included) during the first measured
// rep, writes the profile (open it in Chrome DevTools) and prints the top
// allocation sites by bytes; that rep's CPU figure then carries the
// profiler's cost, the others do not. --entry-size K measures what one
// identity-cache entry (src/engine/findings-cache.ts) keeps alive: two child
// processes each answer the same K identities (--inflight at a time) with
// identity_cache.ttl 60 s, one with the cache on, one with it off
// (identity_cache.size 0), and compare the heap used after a full GC; it
// prints that difference per entry beside the cache's own estimate
// (identityCacheBytes / entries, what identity_cache.max_bytes counts).
// --held K: the heap one request holds while it waits for DNS: K requests
// are started at once against a DNS server that answers after 400 ms, with
// both caches off (dns.cache.size 0, identity_cache.size 0); 200 ms in, the
// heap used after a full GC minus the same after a first round of K (all
// answered) is divided by K (needs --expose-gc). --cli
// points at another build's dist/cli.js (A/B of a patch: run both,
// alternately; the cold identities are numbered from --start, so two runs can
// use disjoint names and never meet a cache entry of the other).
//
// What can go wrong: an identity not accepted (DNS trouble on a loaded
// machine) is counted in `not_dunno`; a rep with any is flagged.
import path from 'node:path';
import fs from 'node:fs';
import v8 from 'node:v8';
import inspector from 'node:inspector';
import { ROOT } from './lib/procs.mjs';
import { startInProcess } from './lib/in-process.mjs';
import { coldRequest, coldHasPtr } from './lib/mix.mjs';

const argv = process.argv.slice(2);
const value = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const N = Number(value('--n', '20000'));
const REPS = Number(value('--reps', '3'));
const INFLIGHT = Number(value('--inflight', '50'));
const DELAY = value('--delay', '');
let next = Number(value('--start', '1048576')); // above the socket bench's numbers
const ALLOC_SITES = value('--alloc-sites', '');
const ENTRY_SIZE = Number(value('--entry-size', '0'));
const ENTRY_CHILD = value('--entry-size-child', '');
const HELD = Number(value('--held', '0'));
const CLI = path.resolve(value('--cli', path.join(ROOT, 'dist', 'cli.js')));
if (ENTRY_SIZE > 0 && ENTRY_CHILD === '') await entrySize();
if (HELD > 0) await held();
const cacheYaml = ENTRY_CHILD === '' ? '' : `identity_cache:\n  ttl: 60s\n  size: ${ENTRY_CHILD === 'on' ? 100000 : 0}\n  max_bytes: ${2 ** 34}`;
const { dns, ctx, counters, Session, stats, close } = await startInProcess({ cli: CLI, name: 'coldpath', dnsDelay: DELAY, yaml: cacheYaml });
try {
  let notDunno = 0;

  /** One rep: n identities, INFLIGHT sessions each asking its next identity when answered. */
  const rep = (n) => new Promise((done) => {
    let started = 0;
    let answeredAll = 0;
    const sessions = [];
    const ask = (k) => {
      if (started >= n) return;
      started++;
      if (!coldHasPtr(next)) next++; // good identities only, as run.mjs's cold-good mix (n % 4 === 3 has no PTR)
      sessions[k].receive(coldRequest(next++));
    };
    for (let k = 0; k < INFLIGHT; k++) {
      sessions.push(new Session(() => ctx, {
        write: (text) => {
          if (!String(text).startsWith('action=DUNNO')) notDunno++;
          if (++answeredAll === n) done();
          else queueMicrotask(() => ask(k));
        },
        end() {},
      }, `coldpath.${k}`));
    }
    for (let k = 0; k < INFLIGHT; k++) ask(k);
  });

  if (ENTRY_CHILD !== '') {
    await rep(ENTRY_SIZE);
    const gc = (await import('node:vm')).runInNewContext('gc');
    for (let i = 0; i < 3; i++) gc();
    const st = stats();
    process.stdout.write(`${JSON.stringify({ used: v8.getHeapStatistics().used_heap_size, entries: st.identityCacheSize, estimated: st.identityCacheBytes })}\n`);
    await close();
    process.exit(0);
  }
  await rep(Math.min(2000, N)); // warm the code (JIT), not the caches: every identity is new
  const results = [];
  const allocs = [];
  const promos = [];
  const q0 = (await dns.stats()).seq;
  for (let i = 1; i <= REPS; i++) {
    const before = notDunno;
    const sampling = ALLOC_SITES && i === 1 ? await startSampling() : null;
    const s0 = (await dns.stats()).seq;
    const used0 = v8.getHeapStatistics().used_heap_size;
    const gc = new v8.GCProfiler();
    gc.start();
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await rep(N);
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - w0) / 1e6;
    const heap = allocated(gc.stop(), used0, v8.getHeapStatistics().used_heap_size);
    if (sampling) await sampling.stop();
    const q = ((await dns.stats()).seq - s0) / N;
    const us = (c.user + c.system) / N;
    results.push(us);
    allocs.push(heap.allocated / N);
    promos.push(heap.promoted / N);
    process.stderr.write(`coldpath rep ${i}: ${us.toFixed(1)} µs CPU/identity (user ${(c.user / N).toFixed(1)}, sys ${(c.system / N).toFixed(1)}), ${(heap.allocated / N / 1024).toFixed(1)} KiB allocated/identity (${(heap.promoted / N / 1024).toFixed(1)} KiB promoted, ${heap.gcs} GCs, ${(heap.gcMs * 1000 / N).toFixed(1)} µs GC pause/identity), ${q.toFixed(2)} DNS queries/identity, ${(N / wall * 1000).toFixed(0)} identities/s${notDunno > before ? `, ${notDunno - before} not DUNNO` : ''}${sampling ? ' (alloc sampling on)' : ''}\n`);
  }
  const sorted = [...results].sort((a, b) => a - b);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const queries = ((await dns.stats()).seq - q0) / (N * REPS);
  process.stdout.write(`${JSON.stringify({ cli: path.relative(ROOT, CLI), n: N, reps: REPS, inflight: INFLIGHT, delay: DELAY || '0', node_args: process.execArgv,
    min_us: +sorted[0].toFixed(1), median_us: +sorted[Math.floor(sorted.length / 2)].toFixed(1), runs_us: results.map((x) => +x.toFixed(1)),
    alloc_bytes_per_identity: Math.round(median(allocs)), promoted_bytes_per_identity: Math.round(median(promos)),
    dns_queries_per_identity: +queries.toFixed(2), not_dunno: notDunno })}\n`);
} finally {
  await close();
}

/** --held: heap per request waiting for DNS (see the header). */
async function held() {
  const gc = (await import('node:vm')).runInNewContext('gc');
  const d = await startInProcess({ cli: CLI, name: 'coldpath-held', dnsDelay: '400-400', yaml: 'identity_cache:\n  size: 0\ndns:\n  cache:\n    size: 0\n' });
  let answered = 0;
  const sessions = [];
  for (let k = 0; k < HELD; k++) sessions.push(new d.Session(() => d.ctx, { write() { answered++; }, end() {} }, `held.${k}`));
  const round = () => { for (const s of sessions) { if (!coldHasPtr(next)) next++; s.receive(coldRequest(next++)); } };
  const until = async (n) => { for (let i = 0; i < 200 && answered < n; i++) await new Promise((r) => setTimeout(r, 50)); };
  const used = () => { for (let i = 0; i < 3; i++) gc(); return v8.getHeapStatistics().used_heap_size; };
  round(); // the code warm, every module loaded
  await until(HELD);
  const idle = used();
  round();
  await new Promise((r) => setTimeout(r, 200)); // every request waits for its first answers (400 ms)
  const busy = used();
  const waiting = HELD - (answered - HELD);
  await until(2 * HELD);
  process.stdout.write(`${JSON.stringify({ cli: path.relative(ROOT, CLI), requests: HELD, waiting, held_bytes_per_request: Math.round((busy - idle) / HELD) })}\n`);
  await d.close();
  process.exit(0);
}

/** --entry-size: the same identities in two children, identity cache on and off; heap difference per entry. */
async function entrySize() {
  const { execFileSync } = await import('node:child_process');
  const child = (mode) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', ...process.execArgv, new URL(import.meta.url).pathname,
    '--entry-size', String(ENTRY_SIZE), '--entry-size-child', mode, '--cli', CLI, '--start', String(next), '--inflight', String(INFLIGHT)],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000 }).trim().split('\n').pop());
  const on = child('on');
  const off = child('off');
  const real = (on.used - off.used) / on.entries;
  process.stdout.write(`${JSON.stringify({ cli: path.relative(ROOT, CLI), identities: ENTRY_SIZE, entries: on.entries,
    heap_bytes_per_entry: Math.round(real), estimated_bytes_per_entry: Math.round(on.estimated / on.entries) })}\n`);
  process.exit(0);
}

/**
 * Bytes allocated on the JS heap between two points, from the GC records in
 * between: each collection's used size before it minus the used size after
 * the previous one (the first: minus `used0`), plus `used1` minus the last
 * one's after. `promoted`: old space's growth across scavenges.
 */
function allocated(profile, used0, used1) {
  let last = used0;
  let total = 0;
  let promoted = 0;
  let gcMs = 0;
  const oldUsed = (s) => s.heapSpaceStatistics.find((x) => x.spaceName === 'old_space')?.spaceUsedSize ?? 0;
  for (const g of profile.statistics) {
    total += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - last);
    last = g.afterGC.heapStatistics.usedHeapSize;
    gcMs += g.cost / 1000; // cost is in µs
    if (g.gcType === 'Scavenge') promoted += Math.max(0, oldUsed(g.afterGC) - oldUsed(g.beforeGC));
  }
  total += Math.max(0, used1 - last);
  return { allocated: total, promoted, gcs: profile.statistics.length, gcMs };
}

/** V8's sampling heap profiler, collected objects included; stop() writes ALLOC_SITES and prints the top sites. */
async function startSampling() {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params = {}) => new Promise((resolve, reject) =>
    session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return {
    async stop() {
      const { profile } = await post('HeapProfiler.stopSampling');
      session.disconnect();
      fs.writeFileSync(ALLOC_SITES, JSON.stringify(profile));
      const sites = new Map();
      let total = 0;
      const walk = (node, stack) => {
        const f = node.callFrame;
        const here = `${f.functionName || '(anonymous)'} ${path.basename(f.url || '')}:${f.lineNumber + 1}`;
        const self = node.selfSize;
        total += self;
        if (self) {
          const key = `${here}  <  ${stack.slice(-2).reverse().join('  <  ')}`;
          sites.set(key, (sites.get(key) ?? 0) + self);
        }
        const next = [...stack, here];
        for (const ch of node.children) walk(ch, next);
      };
      walk(profile.head, []);
      const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 40);
      process.stderr.write(`allocation sites (sampled, ${(total / N / 1024).toFixed(1)} KiB/identity in all):\n`);
      for (const [k, v] of top) process.stderr.write(`  ${(v / N).toFixed(0).padStart(6)} B/id  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}\n`);
    },
  };
}
process.exit(0);
