#!/usr/bin/env node
// bench/run.mjs — `npm run bench`: measure the daemon (dist/) against the
// ceiling of Node's socket path and, with --full, against postfwd2 and
// policyd-weight; write the tables.
//
//   npm run bench                       quick run (~4 min): every phase once
//   npm run bench -- --full             everything, repeated, plus a CPU
//                                       profile, the semi-space A/B and the
//                                       Perl peers (root)
//   node bench/run.mjs [--full] [--write] [--out DIR] [--phases a,b,...]
//        [--conns 1,8,64,512] [--reps N] [--cli PATH] [--node-args "FLAGS"]
//        [--sustained-s 60] [--sustained-rate 1000] [--semi "default,2,4,8,16"]
//   --cli PATH: another build of the daemon's cli.js (to A/B a patch)
//   --baseline PATH: a second build (e.g. the commit before a change) measured
//                in the same run as the daemon, interleaved, in the warm and
//                sustained phases (target "baseline"): before/after side by side;
//                --baseline-desc TEXT says what it is in the report
//   --node-args "FLAGS": the daemon's Node flags (default: production's, src/cli.ts NODE_FLAGS)
//   --sustained-s N: length of the sustained cold phase (default 60)
//   --sustained-rate R: its arrival rate, identities/s (default 1000, the issue's load;
//                a lower rate shows latency and memory below saturation)
//   --peers-from DIR: put the peer run of an earlier bench run (DIR/extra.json)
//                into this report (the peer run takes long; the report says
//                when it ran)
//   --semi LIST: the --max-semi-space-size values (MiB) the semispace phase
//                compares; "default" = no flag (V8's own default); a value may
//                carry more Node flags after "+", e.g. "4+--single-threaded-gc"
//
// Phases (in this order): probe (every identity of the mix on a restarted
// daemon: its answer, the DNS queries of the first request, and of the same
// identity again; then the whole mix cold / again / after the identity cache
// expired), warm (1, 8, 64, 512 connections, ceiling and daemon interleaved),
// cold (never-seen identities: every request misses every cache), sustained
// (never-seen good identities at a fixed arrival rate — 1,000/s for 60 s on
// 100 connections — against a DNS server that answers in 2.5-7.5 ms, 1 % in
// 300 ms: RSS over time, p99, DNS queries and CPU per identity), c1000
// (1,000 connections: peak RSS, p99), workers (workers: 2 against 1, and the
// ceiling likewise), stdio (the daemon's own CPU per request with no socket:
// N and then 2N warm-mix requests, one at a time, over a pipe to `serve --stdio`, CPU from
// getrusage at exit, (2N − N) / N; the least noisy figure on a shared
// machine, for A/B of hot-path changes), profile (--full: node --cpu-prof of the daemon under
// 64-connection load, top self-time functions), semispace (--full: the
// daemon under --max-semi-space-size=N for each N: CPU per request through
// stdio, warm at 64 connections, then 1,000 connections (peak RSS), and a
// 20 s sustained cold run each), peers (--full, root: the peer harness
// in bench/peers/ with this daemon as a custom target, same dnsmasq).
//
// Output: DIR (default /tmp/policyd-identity-bench/<date>) gets
// results.jsonl (one object per measured run), report.md, every log and
// profile. bench/RESULTS.md is written by a complete --full run, or with --write.
//
// Noise: the machine may be shared. Before each run we wait (quick: up to 3
// s, full: up to 20 s) for the rest of the machine to use at most 0.25 cores,
// record what it used during the run (busy time from /proc/stat minus the
// daemon, the DNS server and the load generator), and flag runs above 0.25
// cores as noisy; --full repeats noisy runs (at most 2 extra). Summaries are
// medians of the quiet runs (of all runs, marked *, when none was quiet).
//
// Everything listens on 127.0.0.1 only; the daemon resolves through the
// bench's own DNS server (lib/dns-server.mjs) or, for the peers, the peer
// bench's dnsmasq inside its loopback-only network namespace.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { ROOT, startDns, startDaemon, startCeiling, runLoadgen, probeClient, killAll, PRODUCTION_NODE_ARGS } from './lib/procs.mjs';
import { treeCpuSplit, cpuOf, treeMem, resetPeak, machineBusy, loadavg, machineInfo, udpCounters } from './lib/proc.mjs';
import { identityTemplates, IDENTITIES, fillTemplate, coldRequest, mixTemplates } from './lib/mix.mjs';
import { topSelf, formatTop } from './lib/profile.mjs';
import { runPeers } from './lib/peers.mjs';
import { renderReport } from './lib/report.mjs';
import { LAB_IDENTITY_YAML } from './lib/lab-networks.mjs';

// ---- options ---------------------------------------------------------------------
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const value = (f) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined; };
const FULL = flag('--full');
const S = FULL
  ? { conns: [1, 8, 64, 512], reps: 3, warmup: 3000, requests: 2_000_000, durationS: 8, coldRequests: 200_000, coldDurationS: 6,
    c1000PerConn: 100, workerConns: [8, 64, 512], workerReps: 2, quietWaitS: 20, maxExtra: 2, profileS: 10 }
  : { conns: [1, 8, 64, 512], reps: 1, warmup: 2000, requests: 1_000_000, durationS: 3, coldRequests: 100_000, coldDurationS: 2.5,
    c1000PerConn: 30, workerConns: [64], workerReps: 1, quietWaitS: 3, maxExtra: 0, profileS: 6 };
// the sustained cold phase (issue 11: a production MX's never-seen clients): fixed arrival
// rate, persistent connections, DNS answers delayed as a real resolver's would be
S.sustained = { rate: 1000, conns: 100, durationS: 60, delay: '2.5-7.5,0.01@300', slowestDnsMs: 300 };
// the semi-space A/B: values in MiB ('default': no flag), and the sustained run's length there
S.semi = { values: ['default', '2', '4', '8', '16'], coldS: 20, reps: FULL ? 2 : 1 };
// the stdio phase: N requests, then 2N, per build (and per semi-space value in the A/B), reps
S.stdio = { n: FULL ? 50_000 : 30_000, reps: FULL ? 5 : 3 };
// (runs end by duration; the request counts are only caps)
if (value('--conns')) S.conns = value('--conns').split(',').map(Number);
if (value('--reps')) S.reps = S.workerReps = Number(value('--reps'));
if (value('--sustained-s')) S.sustained.durationS = Number(value('--sustained-s'));
if (value('--sustained-rate')) S.sustained.rate = Number(value('--sustained-rate'));
if (value('--semi')) S.semi.values = value('--semi').split(',').map((v) => v.trim()).filter(Boolean);
const ALL = ['probe', 'warm', 'cold', 'sustained', 'c1000', 'workers', 'stdio', ...(FULL ? ['profile', 'semispace', 'peers'] : [])];
const PHASES = value('--phases') ? value('--phases').split(',') : ALL;
const NOISE_MAX = 0.25;
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const OUT = path.resolve(value('--out') ?? `/tmp/policyd-identity-bench/${stamp}`);
// bench/RESULTS.md: a complete --full run (every phase) or an explicit --write; a
// partial run (--phases, --conns, --reps, --cli) never replaces it by accident
const PARTIAL = ['--phases', '--conns', '--reps', '--cli', '--node-args', '--sustained-s', '--sustained-rate', '--semi'].some((o) => argv.includes(o));
const WRITE = flag('--write') || (FULL && !PARTIAL);
// --cli PATH: measure another build of the daemon (A/B of a patch); the report names it
const CLI = value('--cli') ? path.resolve(value('--cli')) : path.join(ROOT, 'dist', 'cli.js');
const BASELINE = value('--baseline') ? path.resolve(value('--baseline')) : null;
if (BASELINE && !fs.existsSync(BASELINE)) { process.stderr.write(`bench: --baseline ${BASELINE} missing\n`); process.exit(2); }
// --node-args "FLAGS": the daemon's Node flags instead of production's (src/cli.ts NODE_FLAGS + the systemd unit's heap limit, lib/procs.mjs); "" for none
const NODE_ARGS = value('--node-args') !== undefined ? value('--node-args').split(/\s+/).filter(Boolean) : PRODUCTION_NODE_ARGS;
fs.mkdirSync(OUT, { recursive: true });
const resultsFile = path.join(OUT, 'results.jsonl');
const say = (m) => process.stderr.write(`bench: ${m}\n`);
const tStart = Date.now();
// Ctrl-C / kill: stop every child we started (the exit hook in lib/procs.mjs does the rest)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

if (!fs.existsSync(CLI)) { say(`${CLI} missing: run \`npm run build\` (npm run bench does)`); process.exit(2); }

// ---- the daemon's configuration: production-like (info log, one line per decision, to a file) ----
function writeConfig(name, { workers = 1 } = {}) {
  const file = path.join(OUT, `${name}.yaml`);
  fs.writeFileSync(file, [
    `# bench config (${name}): defaults, except the log goes to a file and the lab's addresses count as public`,
    `workers: ${workers}`,
    'log:',
    '  level: info',
    `  destination: ${path.join(OUT, `${name}.log`)}`,
    LAB_IDENTITY_YAML,
  ].join('\n'));
  return { config: file, logFile: path.join(OUT, `${name}.log`) };
}

/**
 * Count the daemon's log lines (one per decision at level info) and keep only
 * the last 200: a full run writes gigabytes otherwise.
 */
function trimLog(file, from = 0) {
  if (!fs.existsSync(file)) return null;
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  let decisions = 0;
  let n;
  let pos = from;
  const needle = Buffer.from('"msg":"decision"');
  // answers of the DNS trouble kind (DEFER_IF_PERMIT) and warnings are kept apart (at most 100
  // lines, FILE.deferred): the sustained phase asks why a good identity was not accepted
  const deferNeedle = Buffer.from('DEFER_IF_PERMIT');
  const warnNeedle = Buffer.from('"level":"warn"');
  const kept = [];
  let carry = Buffer.alloc(0);
  while ((n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0) {
    pos += n;
    const chunk = Buffer.concat([carry, buf.subarray(0, n)]);
    let from = 0;
    let nl;
    while ((nl = chunk.indexOf(10, from)) !== -1) {
      lines++;
      const line = chunk.subarray(from, nl);
      if (line.includes(needle)) decisions++;
      if (kept.length < 100 && (line.includes(deferNeedle) || line.includes(warnNeedle))) kept.push(line.toString('utf8'));
      from = nl + 1;
    }
    carry = Buffer.from(chunk.subarray(from));
  }
  fs.closeSync(fd);
  const keep = Math.min(pos, 200_000);
  const tailBuf = Buffer.alloc(keep);
  const fd2 = fs.openSync(file, 'r');
  fs.readSync(fd2, tailBuf, 0, keep, pos - keep);
  fs.closeSync(fd2);
  fs.writeFileSync(file, tailBuf.toString('utf8').split('\n').slice(-200).join('\n'));
  if (kept.length) fs.appendFileSync(`${file}.deferred`, `${kept.join('\n')}\n`);
  return { lines, decisions, bytes: pos - from, deferred: kept };
}
/** Count and cut the log of a running or stopped daemon (the daemon appends: O_APPEND follows the cut). */
function cutLog(d, phase) {
  const t = trimLog(d.logFile, d.logStart);
  if (!t) return;
  d.logStart = fs.statSync(d.logFile).size;
  const logs = (extra.logs ??= []);
  const e = logs.find((l) => l.phase === phase && l.daemon === d.label && l.pid === d.pid);
  if (e) { e.lines += t.lines; e.decisions += t.decisions; e.bytes += t.bytes; } else logs.push({ phase, daemon: d.label, pid: d.pid, file: d.logFile, ...t });
}
async function stopDaemon(d, phase) {
  await d.stop();
  cutLog(d, phase);
}

// ---- measuring one run --------------------------------------------------------------
async function waitQuiet() {
  const t0 = Date.now();
  let other = 0;
  for (;;) {
    const b0 = machineBusy();
    await sleep(1000);
    other = machineBusy() - b0;
    if (other <= NOISE_MAX || Date.now() - t0 >= S.quietWaitS * 1000) return { waited_s: +((Date.now() - t0) / 1000).toFixed(1), before_cores: +other.toFixed(2) };
  }
}

const records = [];
function keep(rec) {
  records.push(rec);
  fs.appendFileSync(resultsFile, `${JSON.stringify(rec)}\n`);
  const cpu = rec.cpu_ms_per_req !== null ? `${rec.cpu_ms_per_req} ms CPU/req` : '';
  say(`  ${rec.phase} ${rec.target} c=${rec.connections}${rec.rep ? ` rep ${rec.rep}` : ''}: ${rec.req_per_s} req/s, p50 ${rec.p50_ms} p99 ${rec.p99_ms} max ${rec.max_ms} ms, ${cpu}, DNS ${rec.dns_q_per_req} q/req, peak RSS ${rec.hwm_mib} MiB, errors ${rec.errors}, other load ${rec.other_cores} cores${rec.noisy ? ' (noisy)' : ''}`);
  return rec;
}

/**
 * One measured run of the load generator against `target` (daemon or ceiling):
 * an unmeasured warm-up, then counters before/after the measured run.
 */
async function measure(dns, target, phase, conns, { mix = 'default', warmup = S.warmup, requests = S.requests, durationS = S.durationS,
  perConnection = 0, coldStart = 0, rep = 0, resetHwm = true, rate = 0, sampleMs = 0, variant = undefined } = {}) {
  const quiet = await waitQuiet();
  const common = ['--connections', conns, '--mix', mix];
  const cold = mix.startsWith('cold');
  if (warmup > 0) {
    const w = await runLoadgen(target.port, [...common, '--requests', warmup, '--duration-s', 15, ...(cold ? ['--cold-start', coldStart] : [])]);
    coldStart = w.cold_next;
  }
  if (resetHwm) resetPeak(target.pid);
  const la0 = loadavg();
  const b0 = machineBusy();
  const c0 = treeCpuSplit(target.pid);
  const d0 = cpuOf(dns.pid);
  const q0 = (await dns.stats()).total;
  const udp0 = udpCounters();
  const t0 = Date.now();
  // sampleMs: the daemon's RSS, CPU and the DNS server's query count every sampleMs during
  // the run (RSS over time), and for 10 s after it (does the memory come back?)
  const samples = [];
  let sampler = null;
  if (sampleMs) {
    const sample = async () => {
      const m = treeMem(target.pid);
      const c = treeCpuSplit(target.pid);
      const q = (await dns.stats()).total;
      samples.push({ t_s: +((Date.now() - t0) / 1000).toFixed(1), rss_mib: m.rss_mib, cpu_s: +(c.user + c.sys - c0.user - c0.sys).toFixed(2), dns_queries: q - q0 });
    };
    await sample();
    sampler = setInterval(() => { sample().catch(() => {}); }, sampleMs);
  }
  // --warmup <conns>: every connection is accepted and answers once before the clock starts (a
  // burst of new connections waits in the listen queue: libuv accepts one per event-loop turn);
  // those requests are counted in the CPU and DNS figures per request below.
  const r = await runLoadgen(target.port, [...common, '--warmup', conns,
    ...(perConnection ? ['--per-connection', perConnection] : ['--requests', requests, '--duration-s', durationS]),
    ...(rate ? ['--rate', rate] : []),
    ...(cold ? ['--cold-start', coldStart] : [])]);
  const answered = r.requests + (r.warmup_requests ?? 0);
  const wall = (Date.now() - t0) / 1000;
  const q1 = (await dns.stats()).total;
  const udp1 = udpCounters();
  const c1 = treeCpuSplit(target.pid);
  const targetCpu = c1.user + c1.sys - c0.user - c0.sys;
  const dnsCpu = cpuOf(dns.pid) - d0;
  const busy = machineBusy() - b0;
  const mem = treeMem(target.pid);
  const other = Math.max(0, busy - targetCpu - dnsCpu - r.loadgen_total_cpu_s) / wall;
  if (sampler) {
    clearInterval(sampler);
    for (let i = 0; i < 5; i++) { await sleep(2000); samples.push({ ...samples.at(-1), t_s: +((Date.now() - t0) / 1000).toFixed(1), rss_mib: treeMem(target.pid).rss_mib, after: true }); }
  }
  if (target.logFile) cutLog(target, phase);
  const { by_label: byLabel, ...rest } = r;
  return keep({
    phase, target: target.label, rep, ...(variant !== undefined ? { variant } : {}), ...rest, by_label: byLabel, ...(sampleMs ? { samples } : {}),
    wall_s: +wall.toFixed(3), target_cpu_s: +targetCpu.toFixed(2), target_user_s: +(c1.user - c0.user).toFixed(2), target_sys_s: +(c1.sys - c0.sys).toFixed(2),
    cpu_ms_per_req: r.requests ? +((1000 * targetCpu) / answered).toFixed(4) : null,
    target_cores: +(targetCpu / wall).toFixed(2), loadgen_cores: +(r.loadgen_cpu_s / Math.max(r.seconds, 1e-3)).toFixed(2),
    dns_queries: q1 - q0, dns_q_per_req: r.requests ? +((q1 - q0) / answered).toFixed(3) : null, dns_cpu_s: +dnsCpu.toFixed(2),
    other_cores: +other.toFixed(2), noisy: other > NOISE_MAX, quiet_wait: quiet, loadavg_before: la0, loadavg_after: loadavg(),
    rss_mib: mem.rss_mib, hwm_mib: mem.hwm_mib, cold_next: r.cold_next,
    // machine-wide UDP drops during the run (a DNS answer dropped for a full socket buffer times out)
    udp_rcvbuf_errors: udp1.rcvbuf_errors - udp0.rcvbuf_errors, udp_in_errors: udp1.in_errors - udp0.in_errors,
  });
}

// ---- phases ---------------------------------------------------------------------------
const extra = {}; // non-run results for the report

/** Every identity on a fresh daemon: answer, DNS queries of the first request and of a repeat. */
async function phaseProbe(dns) {
  say('probe: every identity on a restarted daemon (cold caches)');
  const cfg = writeConfig('probe');
  const rows = [];
  const tmpl = identityTemplates();
  const cold = [
    { label: 'cold-good (synthetic)', kind: 'good', expect: 'accept', text: (k) => coldRequest(0xa0001).replace(/instance=[^\n]*/, `instance=p1.${k}.0`) },
    { label: 'cold-noptr (synthetic)', kind: 'bad', expect: 'refuse', text: (k) => coldRequest(0xa0003).replace(/instance=[^\n]*/, `instance=p2.${k}.0`) },
  ];
  const cases = [
    ...tmpl.map((t) => ({ label: t.label, kind: t.kind, expect: t.expect, text: (k) => fillTemplate(t, `b0b.${k}.${t.label.length}.0`, String(40000 + k)) })),
    ...cold,
  ];
  for (const c of cases) {
    const d = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'probe' });
    const cl = await probeClient(d.port);
    const s0 = (await dns.stats()).seq;
    const a1 = await cl.ask(c.text(1));
    await sleep(30); // a lookup started but not awaited would still show up
    const q1 = await dns.queriesSince(s0);
    const s1 = (await dns.stats()).seq;
    const a2 = await cl.ask(c.text(2)); // the same identity, a new message
    await sleep(30);
    const q2 = await dns.queriesSince(s1);
    cl.close();
    await stopDaemon(d, 'probe');
    rows.push({ label: c.label, kind: c.kind, expect: c.expect, action: a1, action_repeat: a2,
      queries: q1.length, query_list: q1.map(([, type, name]) => `${type} ${name}`), queries_repeat: q2.length });
    say(`  ${c.label}: ${a1.slice(0, 70)} | ${q1.length} queries, repeat ${q2.length}`);
  }
  extra.probe = rows;

  // The whole mix on one fresh daemon: cold pass, at once again (identity cache), after 2.5 s (resolver cache).
  const d = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'probe' });
  const cl = await probeClient(d.port);
  const mix = mixTemplates();
  const passes = [];
  for (const [i, name] of ['cold', 'again at once', 'after 2.5 s (identity cache expired)'].entries()) {
    if (i === 2) await sleep(2500);
    const s0 = (await dns.stats()).seq;
    for (const [k, t] of mix.entries()) await cl.ask(fillTemplate(t, `ca5e.${i}.${k}.0`, String(30000 + k)));
    await sleep(30);
    const q = (await dns.stats()).seq - s0;
    passes.push({ pass: name, requests: mix.length, queries: q, q_per_req: +(q / mix.length).toFixed(2) });
  }
  cl.close();
  await stopDaemon(d, 'probe');
  extra.mixPasses = passes;
  say(`  mix passes: ${passes.map((p) => `${p.pass}: ${p.queries} queries`).join('; ')}`);
}

/** Warm caches: ceiling and daemon interleaved at every concurrency. */
async function phaseWarm(dns) {
  say('warm: ceiling and daemon, interleaved');
  const cfg = writeConfig('warm');
  const daemon = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'policyd-identity' });
  const ceiling = await startCeiling();
  const baseline = BASELINE ? await startDaemon({ cli: BASELINE, nodeArgs: NODE_ARGS, ...writeConfig('baseline'), dns: dns.server, label: 'baseline' }) : null;
  for (const conns of S.conns) {
    const big = conns >= 512;
    const opts = { warmup: big ? S.warmup * 2 : S.warmup, requests: big ? S.requests * 2 : S.requests, durationS: big ? S.durationS * 1.5 : S.durationS };
    let quiet = 0;
    for (let rep = 1; quiet < S.reps && rep <= S.reps + S.maxExtra; rep++) {
      const order = [ceiling, daemon, ...(baseline ? [baseline] : [])];
      for (let k = 0; k < rep - 1; k++) order.push(order.shift()); // rotate: each target goes first in turn
      const pair = [];
      for (const t of order) pair.push(await measure(dns, t, 'warm', conns, { ...opts, rep }));
      if (!pair.some((r) => r.noisy)) quiet++;
    }
  }
  await ceiling.stop();
  await stopDaemon(daemon, 'warm');
  if (baseline) await stopDaemon(baseline, 'warm');
}

/** Cold caches: every request an identity the daemon has never seen. */
let coldNext = 1;
async function phaseCold(dns) {
  say('cold: never-seen identities (every lookup goes to the DNS server)');
  const cfg = writeConfig('cold');
  const daemon = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'policyd-identity' });
  for (const conns of S.conns) {
    for (let rep = 1; rep <= S.reps; rep++) {
      const r = await measure(dns, daemon, 'cold', conns, { mix: 'cold', warmup: 300, requests: S.coldRequests, durationS: S.coldDurationS, coldStart: coldNext, rep });
      coldNext = r.cold_next;
    }
  }
  await stopDaemon(daemon, 'cold');
}

/**
 * Sustained cold load, as a production MX sees it (issue 11): never-seen good identities
 * arriving at a fixed rate on persistent connections, a DNS server with a realistic delay.
 * Peak RSS is over the daemon's whole life (not reset); RSS sampled every second.
 */
async function phaseSustained() {
  const ss = S.sustained;
  say(`sustained: ${ss.rate} never-seen good identities/s for ${ss.durationS} s on ${ss.conns} connections, DNS delay ${ss.delay}`);
  const sdns = await startDns({ delay: ss.delay });
  try {
    // with --baseline: the baseline first, then this build, each a fresh daemon on its own identities
    const runs = [...(BASELINE ? [['baseline', BASELINE, 1 << 24]] : []), ['policyd-identity', CLI, 1]];
    for (const [label, cli, coldStart] of runs) {
      const cfg = writeConfig(label === 'baseline' ? 'sustained-baseline' : 'sustained');
      // the deferred lines are appended (line 175): an earlier run into the same --out
      // directory must not lend this run its DEFER_IF_PERMIT lines
      fs.rmSync(`${cfg.logFile}.deferred`, { force: true });
      const daemon = await startDaemon({ cli, nodeArgs: NODE_ARGS, ...cfg, dns: sdns.server, label });
      const rssStart = treeMem(daemon.pid).rss_mib;
      const slow0 = (await sdns.stats()).slow;
      const rec = await measure(sdns, daemon, 'sustained', ss.conns, { mix: 'cold-good', warmup: 0, rate: ss.rate, requests: ss.rate * ss.durationS + 1,
        durationS: ss.durationS, coldStart, resetHwm: false, sampleMs: 1000 });
      rec.rss_start_mib = rssStart;
      rec.dns_delay = ss.delay;
      rec.dns_slow_answers = (await sdns.stats()).slow - slow0;
      // why an answer was DEFER_IF_PERMIT, and the warnings (the decision lines of lib/../log)
      const defFile = `${cfg.logFile}.deferred`;
      rec.deferred_lines = fs.existsSync(defFile) ? fs.readFileSync(defFile, 'utf8').trim().split('\n').slice(0, 12).map((l) => l.slice(0, 600)) : [];
      fs.writeFileSync(resultsFile, `${records.map((x) => JSON.stringify(x)).join('\n')}\n`);
      await stopDaemon(daemon, 'sustained');
    }
  } finally {
    await sdns.stop();
  }
}

/**
 * --max-semi-space-size A/B: a daemon per value, interleaved; warm at 64 connections
 * (CPU/request, p99, RSS) and a shorter sustained cold run (peak RSS, CPU/identity).
 */
async function phaseSemispace(dns) {
  const sem = S.semi;
  say(`semispace: --max-semi-space-size ${sem.values.join(', ')} (MiB; default = no flag), ${sem.reps} rep(s)`);
  // "4" -> --max-semi-space-size=4; "default" -> no such flag; "4+--single-threaded-gc" -> both flags
  const flagsOf = (v) => {
    const [size, ...more] = v.split('+');
    return [...NODE_ARGS.filter((a) => !a.startsWith('--max-semi-space-size')), ...(size === 'default' ? [] : [`--max-semi-space-size=${size}`]), ...more];
  };
  // CPU per request without sockets, per value (the least noisy figure: GC cost shows here)
  await stdioCost(dns, sem.values.map((v) => ({ label: `semi-${v}`, variant: v, cli: CLI, nodeArgs: flagsOf(v) })), S.stdio.n, S.stdio.reps, 'semispace-stdio');
  const sdns = await startDns({ delay: S.sustained.delay });
  try {
    let coldStart = 1;
    for (let rep = 1; rep <= sem.reps; rep++) {
      const order = rep % 2 ? sem.values : [...sem.values].reverse();
      for (const v of order) {
        const label = `semi-${v}`;
        const cfg = writeConfig(`semi${v}`);
        const d = await startDaemon({ cli: CLI, nodeArgs: flagsOf(v), ...cfg, dns: dns.server, label });
        await measure(dns, d, 'semispace', 64, { rep, variant: v });
        // then 1,000 connections on the same daemon: the peak RSS the young generation's size costs
        await measure(dns, d, 'semispace-c1000', 1000, { perConnection: S.c1000PerConn, warmup: 2000, resetHwm: false, rep, variant: v });
        await stopDaemon(d, 'semispace');
        const dc = await startDaemon({ cli: CLI, nodeArgs: flagsOf(v), ...cfg, dns: sdns.server, label });
        const r = await measure(sdns, dc, 'semispace-cold', S.sustained.conns, { mix: 'cold-good', warmup: 0, rate: S.sustained.rate,
          requests: S.sustained.rate * sem.coldS + 1, durationS: sem.coldS, coldStart, resetHwm: false, rep, variant: v });
        coldStart = r.cold_next;
        await stopDaemon(dc, 'semispace');
      }
    }
  } finally {
    await sdns.stop();
  }
}

/**
 * The daemon's CPU per request without sockets: `serve --stdio` gets N (then 2N) requests of
 * the warm mix over a pipe, one at a time (the next when the answer is back, as Postfix
 * does); lib/exit-cpu.mjs records the daemon process's CPU at exit (the bench's own CPU is
 * not in it). (cpu(2N) − cpu(N)) / N cancels start-up, config and the cold first
 * pass. Runs of the builds (and flag variants) alternate; min and median over the reps.
 */
async function stdioCost(dns, variants, n, reps, phase) {
  const t = mixTemplates();
  const once = async (v, k) => {
    const cfg = writeConfig(`stdio-${v.label}`);
    fs.writeFileSync(cfg.logFile, '');
    const cpuOut = path.join(OUT, `stdio-cpu-${v.label}.json`);
    fs.rmSync(cpuOut, { force: true });
    const child = spawn(process.execPath, [...v.nodeArgs, '--import', path.join(ROOT, 'bench', 'lib', 'exit-cpu.mjs'), v.cli, 'serve', '--stdio',
      '--config', cfg.config, '--dns', dns.server], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT, env: { ...process.env, BENCH_CPU_OUT: cpuOut } });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    const exited = new Promise((r) => child.once('exit', r));
    // One request at a time, as Postfix sends them (a pipe full of requests would
    // measure how the daemon holds pipelined input instead): write, wait for the reply.
    await new Promise((resolve) => {
      let i = 0;
      let buf = '';
      const next = () => {
        if (i >= k) { child.stdin.end(); resolve(); return; }
        child.stdin.write(fillTemplate(t[i % t.length], `5d10.${i.toString(16)}.0`, String(1024 + (i % 60000))));
        i++;
      };
      child.stdout.setEncoding('latin1');
      child.stdout.on('data', (d) => {
        buf += d;
        let end;
        while ((end = buf.indexOf('\n\n')) !== -1) { buf = buf.slice(end + 2); next(); }
      });
      child.once('exit', resolve);
      child.stdin.on('error', () => {});
      next();
    });
    const code = await exited;
    clearTimeout(timer);
    if (code !== 0 || !fs.existsSync(cpuOut)) throw new Error(`stdio run of ${v.label} exited ${code}`);
    const u = JSON.parse(fs.readFileSync(cpuOut, 'utf8'));
    const answered = trimLog(cfg.logFile)?.decisions ?? 0;
    return { cpu_us: u.user_us + u.system_us, answered };
  };
  for (let rep = 1; rep <= reps; rep++) {
    for (const v of rep % 2 ? variants : [...variants].reverse()) {
      const quiet = await waitQuiet();
      const b0 = machineBusy();
      const t0 = Date.now();
      const a = await once(v, n);
      const b = await once(v, 2 * n);
      const wall = (Date.now() - t0) / 1000;
      const other = Math.max(0, machineBusy() - b0 - (a.cpu_us + b.cpu_us) / 1e6) / wall;
      const rec = { phase, target: v.label, variant: v.variant, rep, connections: 0, requests: n, errors: (a.answered === n && b.answered === 2 * n) ? 0 : 1,
        answered: [a.answered, b.answered], cpu_ms_per_req: +((b.cpu_us - a.cpu_us) / n / 1000).toFixed(4), cpu_ms_n: a.cpu_us / 1000, cpu_ms_2n: b.cpu_us / 1000,
        other_cores: +other.toFixed(2), noisy: other > NOISE_MAX, quiet_wait: quiet, loadavg_before: loadavg(), node_args: v.nodeArgs };
      records.push(rec);
      fs.appendFileSync(resultsFile, `${JSON.stringify(rec)}\n`);
      say(`  ${phase} ${v.label} rep ${rep}: ${us1(rec.cpu_ms_per_req)} µs CPU/request (N ${n}: ${Math.round(a.cpu_us / 1000)} ms, 2N: ${Math.round(b.cpu_us / 1000)} ms), other load ${rec.other_cores} cores`);
    }
  }
}
const us1 = (ms) => (ms * 1000).toFixed(1);

async function phaseStdio(dns) {
  say(`stdio: CPU per request without sockets (${S.stdio.n} and ${2 * S.stdio.n} requests through serve --stdio, ${S.stdio.reps} reps)`);
  const variants = [{ label: 'policyd-identity', cli: CLI, nodeArgs: NODE_ARGS }];
  if (BASELINE) variants.push({ label: 'baseline', cli: BASELINE, nodeArgs: NODE_ARGS });
  await stdioCost(dns, variants, S.stdio.n, S.stdio.reps, 'stdio');
}

/** 1,000 connections: peak RSS over the daemon's whole life, p99. */
async function phaseC1000(dns) {
  say(`c1000: 1,000 connections x ${S.c1000PerConn} requests`);
  const cfg = writeConfig('c1000');
  const daemon = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'policyd-identity' });
  const ceiling = await startCeiling();
  for (const t of [ceiling, daemon]) {
    await measure(dns, t, 'c1000', 1000, { perConnection: S.c1000PerConn, warmup: 2000, resetHwm: false });
  }
  await ceiling.stop();
  await stopDaemon(daemon, 'c1000');
}

/** workers: 2 against 1, and the ceiling likewise, interleaved. */
async function phaseWorkers(dns) {
  say('workers: 1 and 2 worker processes (daemon and ceiling)');
  const w1 = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...writeConfig('workers1'), dns: dns.server, label: 'policyd-identity' });
  const w2cfg = writeConfig('workers2', { workers: 2 });
  const w2 = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...w2cfg, dns: dns.server, workers: 2, label: 'policyd-identity-w2' });
  const c1 = await startCeiling();
  const c2 = await startCeiling({ workers: 2 });
  for (const conns of S.workerConns) {
    for (let rep = 1; rep <= S.workerReps; rep++) {
      for (const t of rep % 2 ? [w1, w2, c1, c2] : [w2, w1, c2, c1]) await measure(dns, t, 'workers', conns, { rep });
    }
  }
  for (const p of [c1, c2]) await p.stop();
  for (const d of [w1, w2]) await stopDaemon(d, 'workers');
}

/** CPU profile of the daemon under 64-connection warm load. */
async function phaseProfile(dns) {
  say('profile: node --cpu-prof, 64 connections, warm');
  const dir = path.join(OUT, 'profile');
  fs.mkdirSync(dir, { recursive: true });
  const cfg = writeConfig('profile');
  const daemon = await startDaemon({ cli: CLI, nodeArgs: NODE_ARGS, ...cfg, dns: dns.server, label: 'policyd-identity (profiled)', nodeArgs: [...NODE_ARGS, '--cpu-prof', '--cpu-prof-dir', dir] });
  await measure(dns, daemon, 'profile', 64, { requests: 10_000_000, durationS: S.profileS });
  await stopDaemon(daemon, 'profile');
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) { say('  no profile written'); return; }
  const top = topSelf(path.join(dir, file), 30, ROOT);
  extra.profile = { file: path.join(dir, file), ...top };
  say(`\n${formatTop(top)}\n`);
}

// ---- main --------------------------------------------------------------------------------
const meta = { ...machineInfo(), cli: path.relative(ROOT, CLI), baseline: BASELINE, baseline_desc: value('--baseline-desc') ?? '', node_args: NODE_ARGS, mode: FULL ? 'full' : 'quick', command: `node bench/run.mjs ${argv.join(' ')}`.trim(), settings: S, phases: PHASES, out: OUT };
fs.writeFileSync(path.join(OUT, 'meta.json'), JSON.stringify(meta, null, 2));
say(`${meta.mode} run, phases ${PHASES.join(',')}; output in ${OUT}`);
let failed = null;
const dns = await startDns();
try {
  if (PHASES.includes('probe')) await phaseProbe(dns);
  if (PHASES.includes('warm')) await phaseWarm(dns);
  if (PHASES.includes('cold')) await phaseCold(dns);
  if (PHASES.includes('sustained')) await phaseSustained();
  if (PHASES.includes('c1000')) await phaseC1000(dns);
  if (PHASES.includes('workers')) await phaseWorkers(dns);
  if (PHASES.includes('stdio')) await phaseStdio(dns);
  if (PHASES.includes('profile')) await phaseProfile(dns);
  if (PHASES.includes('semispace')) await phaseSemispace(dns);
} catch (e) {
  failed = e;
  say(`FAILED: ${e.stack ?? e}`);
}
await dns.stop();
if (value('--peers-from') && !PHASES.includes('peers')) {
  const from = path.resolve(value('--peers-from'), 'extra.json');
  try {
    extra.peers = { ...JSON.parse(fs.readFileSync(from, 'utf8')).peers, from };
  } catch (e) {
    say(`--peers-from: ${from}: ${e.message}`);
  }
}
if (!failed && PHASES.includes('peers')) {
  try {
    extra.peers = await runPeers({ out: path.join(OUT, 'peers'), say });
  } catch (e) {
    extra.peers = { skipped: String(e.message ?? e) };
    say(`peers skipped: ${e.message ?? e}`);
  }
}
meta.duration_s = Math.round((Date.now() - tStart) / 1000);
const md = renderReport({ meta, records, extra, identities: IDENTITIES });
fs.writeFileSync(path.join(OUT, 'report.md'), md);
fs.writeFileSync(path.join(OUT, 'extra.json'), JSON.stringify(extra, null, 2));
if (WRITE && !failed) {
  fs.writeFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), md);
  say('wrote bench/RESULTS.md');
}
process.stdout.write(md);
say(`done in ${meta.duration_s} s; ${OUT}/report.md, results.jsonl`);
killAll();
process.exit(failed ? 1 : 0);
