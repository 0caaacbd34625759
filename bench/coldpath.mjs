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
//
// Prints CPU µs per identity (process.cpuUsage, user + system) per rep, min
// and median, and DNS queries per identity (the server's counter). --cli
// points at another build's dist/cli.js (A/B of a patch: run both,
// alternately; the cold identities are numbered from --start, so two runs can
// use disjoint names and never meet a cache entry of the other).
//
// What can go wrong: an identity not accepted (DNS trouble on a loaded
// machine) is counted in `not_dunno`; a rep with any is flagged.
import path from 'node:path';
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
const CLI = path.resolve(value('--cli', path.join(ROOT, 'dist', 'cli.js')));
const { dns, ctx, counters, Session, close } = await startInProcess({ cli: CLI, name: 'coldpath', dnsDelay: DELAY });
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

  await rep(Math.min(2000, N)); // warm the code (JIT), not the caches: every identity is new
  const results = [];
  const q0 = (await dns.stats()).seq;
  for (let i = 1; i <= REPS; i++) {
    const before = notDunno;
    const s0 = (await dns.stats()).seq;
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await rep(N);
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - w0) / 1e6;
    const q = ((await dns.stats()).seq - s0) / N;
    const us = (c.user + c.system) / N;
    results.push(us);
    process.stderr.write(`coldpath rep ${i}: ${us.toFixed(1)} µs CPU/identity (user ${(c.user / N).toFixed(1)}, sys ${(c.system / N).toFixed(1)}), ${q.toFixed(2)} DNS queries/identity, ${(N / wall * 1000).toFixed(0)} identities/s${notDunno > before ? `, ${notDunno - before} not DUNNO` : ''}\n`);
  }
  const sorted = [...results].sort((a, b) => a - b);
  const queries = ((await dns.stats()).seq - q0) / (N * REPS);
  process.stdout.write(`${JSON.stringify({ cli: path.relative(ROOT, CLI), n: N, reps: REPS, inflight: INFLIGHT, delay: DELAY || '0', node_args: process.execArgv,
    min_us: +sorted[0].toFixed(1), median_us: +sorted[Math.floor(sorted.length / 2)].toFixed(1), runs_us: results.map((x) => +x.toFixed(1)),
    dns_queries_per_identity: +queries.toFixed(2), not_dunno: notDunno })}\n`);
} finally {
  await close();
}
process.exit(0);
