#!/usr/bin/env node
// bench/loadgen.mjs — a load generator that behaves like Postfix's smtpd
// towards a policy server: C persistent connections, each with exactly one
// request outstanding (send a request, wait for the whole reply, send the
// next). Builtin `net` only.
//
//   node bench/loadgen.mjs --port P [--connections 8] [--requests 20000]
//        [--duration-s 10] [--warmup 1000] [--per-connection K]
//        [--mix default | cold | cold-good | file:PATH] [--cold-start N]
//        [--rate R] [--timeout-ms 5000]
//
//   --requests N        measured requests in all (whichever of N and the
//                       duration comes first ends the run)
//   --per-connection K  instead: every connection sends exactly K measured
//                       requests (the 1,000-connection memory run)
//   --warmup W          W requests first, not measured (JIT, caches)
//   --mix default       the 17 labelled identities of lib/mix.mjs, cycled
//                       (connection k starts at block k); instance= and
//                       client_port= are new for every request, as if each
//                       came from a new SMTP session
//   --mix cold          every request a never-seen identity (cold caches);
//                       --cold-start N picks where the sequence starts
//   --mix cold-good     the same, good identities only (FCrDNS, HELO = PTR
//                       name, sender domain with an MX): the bad fourth skipped
//   --rate R            open loop instead of closed: R requests/s arrive on a
//                       fixed schedule (for --duration-s, or --requests of
//                       them) and each goes out on an idle connection, or
//                       waits in a FIFO until one is free. Latency is then
//                       reported twice: from the write (service, p99_ms) and
//                       from the scheduled arrival (response, resp_p99_ms,
//                       which includes the wait for a connection). A per-
//                       second timeline (answered, p99) is in `timeline`.
//                       Arrivals still waiting 10 s after the schedule ended
//                       are not sent (`unsent`): a server that cannot keep up
//                       must not stretch the run without bound.
//   --mix file:PATH     blocks from a Postfix-format file (e.g. the peer
//                       bench's requests-mix.txt)
//
// Every reply is checked: name=value lines only, exactly one non-empty
// action=, no CR, nothing unsolicited, within --timeout-ms; a label whose
// answers disagree during the run is reported (a reply out of order would
// show up there). Output: one JSON object on stdout — requests/s, latency
// p50/p90/p99/max (write to complete reply), errors by kind, actions, per
// label actions and one example reply, and this process's CPU seconds.
// Exit 0 without errors, 1 with errors, 2 on bad usage.
//
// Loopback targets only (127.0.0.0/8, ::1).
import net from 'node:net';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { mixTemplates, fileTemplates, coldRequest, coldHasPtr, fillTemplate } from './lib/mix.mjs';

// ---- options -----------------------------------------------------------------
function usage(msg) {
  process.stderr.write(`loadgen: ${msg}\n`);
  process.exit(2);
}
const o = { host: '127.0.0.1', port: 0, connections: 1, requests: 20000, durationS: 10, warmup: 0,
  perConnection: 0, mix: 'default', coldStart: 1, timeoutMs: 5000, rate: 0 };
{
  const a = process.argv.slice(2);
  const num = (i) => { const v = Number(a[i]); if (!Number.isFinite(v) || v < 0) usage(`${a[i - 1]} needs a number`); return v; };
  for (let i = 0; i < a.length; i++) {
    switch (a[i]) {
      case '--host': o.host = a[++i]; break;
      case '--port': o.port = num(++i); break;
      case '--connections': o.connections = num(++i) | 0; break;
      case '--requests': o.requests = num(++i) | 0; break;
      case '--duration-s': o.durationS = num(++i); break;
      case '--warmup': o.warmup = num(++i) | 0; break;
      case '--per-connection': o.perConnection = num(++i) | 0; break;
      case '--mix': o.mix = a[++i] ?? ''; break;
      case '--cold-start': o.coldStart = num(++i) | 0; break;
      case '--timeout-ms': o.timeoutMs = num(++i); break;
      case '--rate': o.rate = num(++i); break;
      default: usage(`unknown option ${a[i]}`);
    }
  }
  if (!o.port) usage('--port is required');
  if (o.connections < 1 || o.connections > 5000) usage('--connections: 1..5000');
  const loop = (net.isIPv4(o.host) && o.host.startsWith('127.')) || o.host === '::1';
  if (!loop) usage(`refusing a non-loopback target ${o.host}`);
  if (o.rate && o.perConnection) usage('--rate and --per-connection exclude each other');
  if (o.rate > 100000) usage('--rate: at most 100000/s');
}

// ---- requests ------------------------------------------------------------------
let templates = null;
if (o.mix === 'default') templates = mixTemplates();
else if (o.mix.startsWith('file:')) templates = fileTemplates(fs.readFileSync(o.mix.slice(5), 'latin1'));
else if (o.mix !== 'cold' && o.mix !== 'cold-good') usage(`unknown mix ${o.mix}`);
if (templates && templates.length === 0) usage('no request blocks');

let serial = Math.floor(Math.random() * 0x7fffffff); // a fresh start per run: no (instance, port) repeats
let coldNext = o.coldStart;
const pidTag = (process.pid & 0xffff).toString(16);
/** The next request for a connection, and its label. */
function nextRequest(c) {
  if (!templates) {
    let n = coldNext++ >>> 0;
    if (o.mix === 'cold-good' && !coldHasPtr(n)) n = coldNext++ >>> 0; // skip the no-PTR one (never two in a row)
    return [coldHasPtr(n) ? 'cold-good' : 'cold-noptr', coldRequest(n)];
  }
  const t = templates[c.cursor++ % templates.length];
  serial++;
  return [t.label, fillTemplate(t, `${pidTag}.${serial.toString(16)}.0`, String(1024 + (serial % 64000)))];
}

// ---- reply checks ----------------------------------------------------------------
/** The action value of a reply, or an Error naming what is wrong. */
function actionOf(text) {
  if (text.includes('\r')) return new Error('malformed:cr');
  let action = null;
  for (const line of text.split('\n')) {
    if (line.indexOf('=') <= 0) return new Error('malformed:not-name=value');
    if (line.startsWith('action=')) {
      if (action !== null) return new Error('malformed:two-actions');
      action = line.slice(7);
    }
  }
  if (action === null || action.trim() === '') return new Error('malformed:no-action');
  return action;
}
const verbOf = (action) => {
  const sp = action.indexOf(' ');
  return (sp === -1 ? action : action.slice(0, sp)).toUpperCase();
};

// ---- state -------------------------------------------------------------------------
const capacity = o.perConnection ? o.perConnection * o.connections
  : o.rate ? Math.min(o.requests, Math.ceil(o.rate * o.durationS) + 1) : o.requests;
const latency = new Float64Array(capacity);
// --rate: response latency (from the scheduled arrival), the FIFO of arrival times, the timeline
const respLatency = o.rate ? new Float64Array(capacity) : null;
const doneAt = o.rate ? new Float64Array(capacity) : null; // completion time (ms since t0) per answered request
let fifo = [];
let fifoHead = 0;
let scheduled = 0; // arrivals generated so far
let maxQueue = 0;
let waited = 0; // arrivals sent more than 2 ms after their time (no idle connection)
let unsent = 0; // arrivals dropped 10 s after the schedule ended (the server could not keep up)
const DRAIN_MS = 10_000;
let nLatency = 0;
let measuring = false;
let warmLeft = o.warmup;
let issued = 0;
let errors = 0;
let deadline = Infinity;
let t0 = 0;
let tLast = 0;
let cpuStart = null;
let done = false;
const errorKinds = Object.create(null);
const actions = Object.create(null);
const byLabel = Object.create(null);
const conns = [];

function fail(c, kind) {
  errors++;
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  c.pending = false;
  c.dead = true;
  c.sock?.destroy();
  check();
}

function send(c) {
  if (done || c.dead || c.pending) return;
  let measured = false;
  if (warmLeft > 0) warmLeft--;
  else if (o.rate) {
    if (!measuring || fifoHead >= fifo.length) { if (measuring) check(); return; } // idle until the next arrival
    c.arrival = fifo[fifoHead++];
    if (performance.now() - c.arrival > 2) waited++; // it waited for a free connection (the tick is 1 ms)
    if (fifoHead > 4096 && fifoHead * 2 > fifo.length) { fifo = fifo.slice(fifoHead); fifoHead = 0; }
    measured = true;
    issued++;
    c.sent++;
  } else {
    if (!measuring) return; // warm-up over: wait until every connection is idle, then start
    if (o.perConnection ? c.sent >= o.perConnection : issued >= o.requests || performance.now() >= deadline) { check(); return; }
    measured = true;
    issued++;
    c.sent++;
  }
  const [label, text] = nextRequest(c);
  c.label = label;
  c.measured = measured;
  c.pending = true;
  c.t = performance.now();
  c.sock.write(text);
}

function onReply(c, text) {
  const ms = performance.now() - c.t;
  c.pending = false;
  const action = actionOf(text);
  if (action instanceof Error) { fail(c, action.message); return; }
  if (c.measured) {
    if (o.rate && nLatency < capacity) { respLatency[nLatency] = performance.now() - c.arrival; doneAt[nLatency] = performance.now() - t0; }
    if (nLatency < capacity) latency[nLatency++] = ms;
    tLast = performance.now();
    const verb = verbOf(action);
    actions[verb] = (actions[verb] ?? 0) + 1;
    const L = (byLabel[c.label] ??= { actions: Object.create(null), example: action });
    L.actions[verb] = (L.actions[verb] ?? 0) + 1;
  }
  if (!measuring && warmLeft === 0) { check(); return; }
  send(c);
}

function connect(c) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: o.host, port: o.port });
    c.sock = sock;
    sock.setEncoding('latin1');
    sock.setNoDelay(true);
    sock.once('connect', () => resolve(true));
    sock.on('data', (d) => {
      c.buf += d;
      let end;
      while ((end = c.buf.indexOf('\n\n')) !== -1) {
        const text = c.buf.slice(0, end);
        c.buf = c.buf.slice(end + 2);
        if (!c.pending) { fail(c, 'unsolicited'); return; }
        onReply(c, text);
        if (c.dead) return;
      }
      if (c.buf.length > 65536) fail(c, 'malformed:oversized');
    });
    sock.on('error', (e) => { c.err = e.code ?? e.message; });
    sock.on('close', () => {
      resolve(false);
      if (done || c.dead) return;
      // the server closed a connection we still use: an error whether a request was pending or not
      fail(c, `${c.pending ? 'closed' : 'closed-idle'}:${c.err ?? 'eof'}`);
    });
  });
}

const finishedAll = () => (o.perConnection ? conns.every((c) => c.dead || c.sent >= o.perConnection)
  : o.rate ? (scheduled >= capacity || performance.now() >= deadline) && fifoHead >= fifo.length
    : issued >= o.requests || performance.now() >= deadline);

/** --rate: add the arrivals due by now to the FIFO and hand them to idle connections. */
let arrivalTimer = null;
function arrive() {
  if (done) return;
  const now = performance.now();
  const due = Math.min(capacity, Math.floor(((Math.min(now, deadline) - t0) * o.rate) / 1000) + 1);
  for (; scheduled < due; scheduled++) fifo.push(t0 + (scheduled * 1000) / o.rate);
  for (const c of conns) {
    if (fifoHead >= fifo.length) break;
    if (!c.pending && !c.dead) send(c);
  }
  const q = fifo.length - fifoHead;
  if (q > maxQueue) maxQueue = q;
  if (scheduled >= capacity || now >= deadline) { clearInterval(arrivalTimer); arrivalTimer = null; check(); }
}

function startMeasuring() {
  measuring = true;
  t0 = performance.now();
  tLast = t0;
  cpuStart = process.cpuUsage();
  if (!o.perConnection) {
    deadline = t0 + o.durationS * 1000;
    setTimeout(check, o.durationS * 1000 + 5).unref();
  }
  if (o.rate) {
    arrivalTimer = setInterval(arrive, 1);
    setTimeout(() => { unsent += fifo.length - fifoHead; fifoHead = fifo.length; check(); }, o.durationS * 1000 + DRAIN_MS).unref();
    arrive();
    return;
  }
  for (const c of conns) send(c);
}

function check() {
  if (done) return;
  if (!measuring) {
    if (warmLeft === 0 && conns.every((c) => !c.pending)) startMeasuring();
    return;
  }
  if (conns.some((c) => c.pending)) return;
  if (o.rate && arrivalTimer !== null && conns.some((c) => !c.dead)) return;
  if (!finishedAll() && conns.some((c) => !c.dead)) return;
  finish();
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return +sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))].toFixed(3);
}

function finish(hard = false) {
  if (done) return;
  done = true;
  clearInterval(sweeper);
  const cpu = cpuStart ? process.cpuUsage(cpuStart) : { user: 0, system: 0 };
  for (const c of conns) c.sock?.destroy();
  const sorted = latency.slice(0, nLatency).sort(); // a copy: --rate's timeline reads latency[] in order
  let sum = 0;
  for (const v of sorted) sum += v;
  const seconds = Math.max(tLast - t0, 1e-9) / 1000;
  const inconsistent = Object.entries(byLabel).filter(([, v]) => Object.keys(v.actions).length > 1).map(([k]) => k);
  // --rate: response latency percentiles and a per-second timeline (answered, service p99)
  let rateOut = {};
  if (o.rate) {
    const resp = respLatency.subarray(0, nLatency).slice().sort();
    const secs = Math.ceil(seconds) || 1;
    const perSec = Array.from({ length: secs }, () => []);
    for (let i = 0; i < nLatency; i++) perSec[Math.min(secs - 1, Math.floor(doneAt[i] / 1000))].push(latency[i]);
    rateOut = {
      rate: o.rate, scheduled, unsent, max_queue: maxQueue, waited_for_connection: waited,
      resp_p50_ms: pct(resp, 0.5), resp_p99_ms: pct(resp, 0.99), resp_max_ms: nLatency ? +resp[nLatency - 1].toFixed(3) : null,
      timeline: perSec.map((xs, s) => { const srt = Float64Array.from(xs).sort(); return { s, answered: xs.length, p99_ms: pct(srt, 0.99) }; }),
    };
  }
  const out = {
    connections: o.connections, mix: o.mix, requests: nLatency, errors, error_kinds: errorKinds,
    seconds: +seconds.toFixed(3), req_per_s: +(nLatency / seconds).toFixed(1),
    p50_ms: pct(sorted, 0.5), p90_ms: pct(sorted, 0.9), p99_ms: pct(sorted, 0.99), p999_ms: pct(sorted, 0.999),
    max_ms: nLatency ? +sorted[nLatency - 1].toFixed(3) : null, mean_ms: nLatency ? +(sum / nLatency).toFixed(3) : null,
    actions, by_label: byLabel, inconsistent_labels: inconsistent, cold_next: coldNext, warmup_requests: o.warmup,
    loadgen_cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(3), hard_timeout: hard,
    loadgen_total_cpu_s: +((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(3),
    ...rateOut,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(hard ? 2 : errors ? 1 : 0));
}

// one sweep for time-outs instead of a timer per request
const sweeper = setInterval(() => {
  const now = performance.now();
  for (const c of conns) if (c.pending && now - c.t > o.timeoutMs) fail(c, 'timeout');
}, 50);
// a hard bound on the whole run, whatever the server does
const hardMs = (o.perConnection ? 600 : o.durationS + 60) * 1000 + o.timeoutMs;
setTimeout(() => finish(true), hardMs).unref();

// connect in batches (a listen backlog overflow would cost a 1 s SYN retry)
for (let i = 0; i < o.connections; i++) {
  conns.push({ sock: null, buf: '', pending: false, measured: false, dead: false, t: 0, arrival: 0, sent: 0, cursor: i, label: '', err: null });
}
for (let i = 0; i < conns.length; i += 100) {
  const ok = await Promise.all(conns.slice(i, i + 100).map(connect));
  if (ok.some((x) => !x)) usage(`cannot connect to ${o.host}:${o.port} (${conns.find((c) => c.err)?.err ?? 'closed'})`);
}
if (warmLeft === 0) startMeasuring();
else for (const c of conns) send(c);
