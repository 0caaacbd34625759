#!/usr/bin/env node
// bench/ctxsw.mjs — context switches per request, by thread, at 64 connections:
// the ceiling, the daemon with one info line per decision, and the daemon at
// log level warn (no decision line), one after the other, each run REPS times.
// For each: an unmeasured warm-up of 5,000 requests, then /proc/PID/task/*/status
// (voluntary_ctxt_switches, nonvoluntary_ctxt_switches) and /proc/PID/stat CPU
// before and after a loadgen run of N requests. Threads are split into the
// main thread (the event loop: JavaScript, the log's write(2), the socket
// path) and the rest (V8's GC helpers and libuv's threadpool: Node 20 names
// them all "node", so they are counted together).
//
//   node bench/ctxsw.mjs [--requests 60000] [--reps 2] [--cli PATH/dist/cli.js] [--out DIR]
//
// Prints one line per run and a JSON line per run on stdout.
//
// What can go wrong: a daemon that does not come up fails the run (procs.mjs);
// the counts include whatever else preempts the daemon on a shared machine (the
// load generator it wakes, other jobs): compare targets of the same run only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startDns, startDaemon, startCeiling, runLoadgen, killAll } from './lib/procs.mjs';
import { LAB_IDENTITY_YAML } from './lib/lab-networks.mjs';
import { cpuOf } from './lib/proc.mjs';

const argv = process.argv.slice(2);
const value = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const N = Number(value('--requests', '60000'));
const REPS = Number(value('--reps', '2'));
const CLI = path.resolve(value('--cli', path.join(ROOT, 'dist', 'cli.js')));
const OUT = value('--out', fs.mkdtempSync(path.join(os.tmpdir(), 'ctxsw-')));
fs.mkdirSync(OUT, { recursive: true });

/** switches of the main thread and of all other threads of pid */
function switches(pid) {
  const out = { main: { vol: 0, invol: 0 }, helpers: { vol: 0, invol: 0, threads: 0 } };
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let st;
    try { st = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'); } catch { continue; } // thread gone
    const vol = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)[1]);
    const invol = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)[1]);
    const k = Number(tid) === pid ? out.main : out.helpers;
    k.vol += vol;
    k.invol += invol;
    if (k === out.helpers) k.threads++;
  }
  return out;
}

const dns = await startDns({});
try {
  for (let rep = 1; rep <= REPS; rep++) {
    for (const [label, level] of [['ceiling', null], ['daemon-info', 'info'], ['daemon-warn', 'warn']]) {
      let target;
      if (level === null) target = await startCeiling();
      else {
        const cfg = path.join(OUT, `${label}.yaml`);
        const logFile = path.join(OUT, `${label}.log`);
        fs.writeFileSync(cfg, ['log:', `  level: ${level}`, `  destination: ${logFile}`, LAB_IDENTITY_YAML].join('\n'));
        target = await startDaemon({ cli: CLI, config: cfg, logFile, dns: dns.server, label });
      }
      try {
        await runLoadgen(target.port, ['--connections', 64, '--mix', 'default', '--requests', 5000, '--duration-s', 15]);
        const a = switches(target.pid);
        const c0 = cpuOf(target.pid);
        const r = await runLoadgen(target.port, ['--connections', 64, '--mix', 'default', '--warmup', 64, '--requests', N, '--duration-s', 30]);
        const b = switches(target.pid);
        const n = r.requests + (r.warmup_requests ?? 0);
        const per = (x) => +(x / n).toFixed(3);
        const rec = {
          target: label, rep, requests: n, cpu_us_per_req: +(((cpuOf(target.pid) - c0) * 1e6) / n).toFixed(1),
          main_invol: per(b.main.invol - a.main.invol), main_vol: per(b.main.vol - a.main.vol),
          helpers_invol: per(b.helpers.invol - a.helpers.invol), helpers_vol: per(b.helpers.vol - a.helpers.vol), helper_threads: b.helpers.threads,
          loadavg: os.loadavg().map((x) => +x.toFixed(2)),
        };
        process.stderr.write(`${label} rep ${rep}: ${rec.cpu_us_per_req} µs CPU/request; main thread ${rec.main_invol} involuntary / ${rec.main_vol} voluntary switches per request, ${rec.helper_threads} other threads ${rec.helpers_invol} / ${rec.helpers_vol}\n`);
        process.stdout.write(`${JSON.stringify(rec)}\n`);
      } finally {
        await target.stop();
      }
    }
  }
} finally {
  await dns.stop();
  killAll();
}
process.exit(0);
