#!/usr/bin/env node
// bench/hostile.mjs — `npm run bench:hostile`: issue 13's attacks against the
// daemon on its defaults, each beside one honest client, with what the "Done
// when" asks for: the daemon stays up, stays under about 300 MB RSS, and
// answers the honest client within a second without deferring it.
//
//   npm run bench:hostile                     every attack, 20 s each (~2 min)
//   node bench/hostile.mjs [--seconds 20] [--attacks mxflood,slowzone,pipeline,idle]
//        [--cli PATH] [--out DIR] [--slow-ms 3000] [--idle 2000] [--metrics]
//   --metrics: also turn on the daemon's metrics endpoint and sample its cache sizes
//              and V8 heap every second (a diagnosis of where RSS goes; off by default,
//              so the daemon runs on its defaults)
//
// Attacks (a fresh daemon for each):
//   mxflood   4 connections, as fast as answers come: sender x@mxflood.attack.example
//             (10 MX hosts x 4,000 private A records), HELO h0.mxflood.attack.example
//             (4,000 private A records) in a new upper/lower case per request (a new
//             identity each time, while the DNS answers stay cached)
//   slowzone  100 connections asking new names under slow.attack.example (answers
//             after --slow-ms, 3 s) for HELO and sender, one request at a time each
//   pipeline  one connection streaming 64 KB requests (new slow-zone names) and never
//             reading an answer
//   idle      --idle (2,000 = server.max_connections) connections that connect and
//             send nothing, then 100 new ones a second: each over the cap closes the
//             one idle longest (PI_SERVER_IDLE_EVICTED)
// Beside each, the honest client: its own persistent connection, a never-seen good
// identity every 200 ms (client 203.0.113.5 with FCrDNS mail.honest.example, HELO
// hN.honest.example, sender a@sN.honest.example: honest.example answers at once),
// one request at a time as Postfix sends them. It reconnects if its connection is
// closed.
//
// The DNS server is the suite's hostile one (test/helpers/hostile-dns.ts, built into
// build/ by `npm run pretest`), as a child process (lib/hostile-dns.mjs). The daemon
// (dist/cli.js, production Node flags) runs on the embedded defaults; its config sets
// only the log (info, to a file) and identity.public_networks to the documentation
// ranges (the lab's addresses; lib/lab-networks.mjs); the listener and the DNS server
// come on the command line (--listen, --dns).
//
// Per attack: the daemon's peak RSS (VmHWM, reset when the attack starts) and RSS
// every second, its CPU time (user + system, /proc) over the attack and per decision
// it logged, the honest client's answers (verbs), p50 / max latency and how many took
// over a second, the attacker's answers, and whether the daemon stayed up (its
// process is alive and a last honest request is answered after the attack). The
// machine may be shared: the other processes' CPU during each attack is reported
// (busy time from /proc/stat minus the daemon, the DNS server and this process).
//
// Output: a table on stdout; DIR (default /tmp/policyd-identity-bench/hostile-<date>)
// gets hostile.json, the configs and the daemon logs. Loopback only; every wait and
// connection is bounded; every child is stopped by its pid.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, startDaemon, killAll } from './lib/procs.mjs';
import { treeCpuSplit, cpuOf, treeMem, resetPeak, machineBusy, loadavg, machineInfo } from './lib/proc.mjs';
import { LAB_IDENTITY_YAML } from './lib/lab-networks.mjs';
import { startHostileDnsChild } from './lib/hostile-dns.mjs';

const argv = process.argv.slice(2);
const value = (f) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined; };
const SECONDS = Math.min(Number(value('--seconds') ?? 20), 60);
const ATTACKS = (value('--attacks') ?? 'mxflood,slowzone,pipeline,idle').split(',').filter(Boolean);
const SLOW_MS = Number(value('--slow-ms') ?? 3000);
const IDLE = Number(value('--idle') ?? 2000);
const METRICS = argv.includes('--metrics');
const CLI = value('--cli') ? path.resolve(value('--cli')) : path.join(ROOT, 'dist', 'cli.js');
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const OUT = path.resolve(value('--out') ?? `/tmp/policyd-identity-bench/hostile-${stamp}`);
const HONEST_EVERY_MS = 200;
const ANSWER_TIMEOUT_MS = 15_000; // longer than dns.deadline (5 s): a missing answer is the daemon's fault
const KNOWN = new Set(['mxflood', 'slowzone', 'pipeline', 'idle']);
const say = (m) => process.stderr.write(`hostile: ${m}\n`);
for (const a of ATTACKS) if (!KNOWN.has(a)) { say(`unknown attack ${a} (known: ${[...KNOWN].join(', ')})`); process.exit(2); }
if (!fs.existsSync(CLI)) { say(`${CLI} missing: run \`npm run build\``); process.exit(2); }
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });
fs.mkdirSync(OUT, { recursive: true });

// ---- requests ------------------------------------------------------------------------
/** A RCPT-stage request in Postfix 3.7's attribute order (the attributes that matter here). */
function request({ client, name = 'unknown', helo, sender, n, pad = '' }) {
  return 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n'
    + `client_address=${client}\nclient_name=${name}\nclient_port=${1024 + (n % 60000)}\nreverse_client_name=${name}\n`
    + `server_address=192.0.2.25\nserver_port=25\nhelo_name=${helo}\nsender=${sender}\nrecipient=bob@example.com\n`
    + `recipient_count=0\nqueue_id=\ninstance=${n.toString(16)}.1\nsize=0\n${pad}\n`;
}
let honestSeq = 0;
/** A never-seen good identity: honest.example answers every name at once (A 203.0.113.5, MX mail.honest.example). */
const honestRequest = (tag) => {
  const n = honestSeq++;
  return request({ client: '203.0.113.5', name: 'mail.honest.example', helo: `h${tag}${n}.honest.example`, sender: `a@s${tag}${n}.honest.example`, n });
};
/** HELO h0.mxflood.attack.example in the case pattern of n's bits: a new identity per request. */
function caseVariant(name, n) {
  let out = '';
  let bit = 0;
  for (const ch of name) {
    if (/[a-z]/.test(ch)) { out += (n >> bit) & 1 ? ch.toUpperCase() : ch; bit++; } else out += ch;
  }
  return out;
}
const PAD_64K = Array.from({ length: 8 }, (_, i) => `pad${i}=${'x'.repeat(7900)}\n`).join(''); // 8 attributes under every parser limit

// ---- a Postfix-like client: one request at a time ---------------------------------------
class Client {
  constructor(port) { this.port = port; this.sock = null; this.buf = ''; this.waiter = null; this.reconnects = -1; this.closedByServer = 0; }
  async connect() {
    this.reconnects++;
    const sock = net.connect({ host: '127.0.0.1', port: this.port });
    sock.setEncoding('latin1');
    sock.setNoDelay(true);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, 10_000);
      sock.once('connect', () => { clearTimeout(t); resolve(); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
    });
    sock.on('error', () => {});
    sock.on('data', (d) => {
      this.buf += d;
      const end = this.buf.indexOf('\n\n');
      if (end !== -1 && this.waiter) { const text = this.buf.slice(0, end); this.buf = this.buf.slice(end + 2); const w = this.waiter; this.waiter = null; w(text); }
    });
    sock.on('close', () => {
      if (this.sock === sock) { this.sock = null; this.closedByServer++; }
      if (this.waiter) { const w = this.waiter; this.waiter = null; w('<closed>'); }
    });
    this.sock = sock;
    this.buf = '';
  }
  /** { action, verb, ms } — action '<closed>' / '<timeout>' when there was no answer */
  async ask(text) {
    if (this.sock === null) await this.connect();
    const t0 = performance.now();
    const reply = await new Promise((resolve) => {
      const t = setTimeout(() => { this.waiter = null; resolve('<timeout>'); }, ANSWER_TIMEOUT_MS);
      this.waiter = (r) => { clearTimeout(t); resolve(r); };
      this.sock.write(text);
    });
    const action = /^action=(.*)$/m.exec(reply)?.[1] ?? reply;
    return { action, verb: action.split(' ')[0], ms: performance.now() - t0 };
  }
  close() { const s = this.sock; this.sock = null; s?.destroy(); }
}

const tally = (list) => list.reduce((m, v) => { m[v] = (m[v] ?? 0) + 1; return m; }, {});
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null);

/** The honest client: a new good identity every 200 ms until stop(); each request waits for its answer. */
function honestLoop(port, tag) {
  const c = new Client(port);
  const answers = [];
  let running = true;
  const done = (async () => {
    const t0 = Date.now();
    for (let i = 0; running; i++) {
      const due = t0 + i * HONEST_EVERY_MS;
      if (due > Date.now()) await sleep(due - Date.now());
      if (!running) break;
      try { answers.push(await c.ask(honestRequest(tag))); } catch (e) { answers.push({ action: `<${e.code ?? e.message}>`, verb: `<${e.code ?? e.message}>`, ms: 0 }); await sleep(100); }
    }
    c.close();
  })();
  return { answers, client: c, stop: async () => { running = false; await done; } };
}

// ---- the attacks --------------------------------------------------------------------------
/** Each returns { stop(): Promise<summary> } once its connections are open. */
const ATTACK = {
  // 4 connections, back to back: the big MX set behind a sender domain, a HELO in a new case per request
  async mxflood(port) {
    let running = true;
    const verbs = [];
    let n = 0;
    const conns = await Promise.all(Array.from({ length: 4 }, async () => { const c = new Client(port); await c.connect(); return c; }));
    const loops = conns.map(async (c, k) => {
      while (running) {
        const i = n++;
        const r = await c.ask(request({ client: `198.51.100.${10 + k}`, helo: caseVariant('h0.mxflood.attack.example', i), sender: `x@mxflood.attack.example`, n: i }));
        verbs.push(r.verb);
      }
    });
    return { async stop() { running = false; await Promise.all(loops); conns.forEach((c) => c.close()); return { connections: 4, answers: tally(verbs), answered: verbs.length }; } };
  },

  // 100 connections, each one request at a time on new names of the slow zone
  async slowzone(port) {
    let running = true;
    const verbs = [];
    let n = 0;
    const conns = [];
    for (let k = 0; k < 100; k++) { const c = new Client(port); await c.connect(); conns.push(c); }
    const loops = conns.map(async (c, k) => {
      while (running) {
        const i = n++;
        const r = await c.ask(request({ client: `198.51.100.${100 + k}`, helo: `h${i}.slow.attack.example`, sender: `a@s${i}.slow.attack.example`, n: i }));
        if (running) verbs.push(r.verb);
      }
    });
    // the attack's requests still waiting when it ends are not waited for: the connections close
    return { async stop() { running = false; conns.forEach((c) => c.close()); await Promise.all(loops); return { connections: 100, answers: tally(verbs), answered: verbs.length }; } };
  },

  // one connection streams 64 KB requests and never reads
  async pipeline(port) {
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    sock.on('error', () => {});
    let closed = false;
    sock.on('close', () => { closed = true; });
    sock.pause(); // never read an answer
    let written = 0;
    let running = true;
    const pump = () => {
      while (running && !closed) {
        const i = written;
        if (!sock.write(request({ client: '198.51.100.7', helo: `p${i}.slow.attack.example`, sender: `a@p${i}.slow.attack.example`, n: i, pad: PAD_64K }))) { written++; sock.once('drain', pump); return; }
        written++;
      }
    };
    pump();
    const size = request({ client: '198.51.100.7', helo: 'p0.slow.attack.example', sender: 'a@p0.slow.attack.example', n: 0, pad: PAD_64K }).length;
    return { async stop() { running = false; const wasClosed = closed; sock.destroy(); return { connections: 1, requests_written: written, mib_written: +(written * size / 2 ** 20).toFixed(1), closed_by_daemon: wasClosed }; } };
  },

  // IDLE idle connections (the default cap), then 100 new idle ones a second
  async idle(port) {
    const socks = new Set();
    let opened = 0;
    let closedByDaemon = 0;
    let failed = 0;
    let running = true;
    const open = () => new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const t = setTimeout(() => { s.destroy(); failed++; resolve(); }, 10_000);
      s.once('connect', () => { clearTimeout(t); opened++; socks.add(s); resolve(); });
      s.once('error', () => { clearTimeout(t); failed++; resolve(); });
      s.once('close', () => { if (socks.delete(s) && running) closedByDaemon++; });
      s.resume();
    });
    for (let i = 0; i < IDLE; i += 100) await Promise.all(Array.from({ length: Math.min(100, IDLE - i) }, open));
    const filledAt = opened;
    const churn = (async () => {
      while (running) {
        const t0 = Date.now();
        await Promise.all(Array.from({ length: 100 }, open));
        await sleep(Math.max(0, 1000 - (Date.now() - t0)));
      }
    })();
    return {
      async stop() {
        running = false;
        await churn;
        const open_at_end = socks.size;
        for (const s of socks) s.destroy();
        return { connections: opened, opened_first: filledAt, churn_opened: opened - filledAt, closed_by_daemon: closedByDaemon, failed, open_at_end };
      },
    };
  },
};

// ---- one attack on a fresh daemon -----------------------------------------------------------
function writeConfig(name) {
  const file = path.join(OUT, `${name}.yaml`);
  const logFile = path.join(OUT, `${name}.log`);
  fs.writeFileSync(file, [
    `# bench/hostile.mjs (${name}): the embedded defaults; only the log (a file) and the lab's`,
    '# documentation addresses counted as public. Listener and DNS server: --listen, --dns.',
    'log:',
    '  level: info',
    `  destination: ${logFile}`,
    LAB_IDENTITY_YAML,
    ...(METRICS ? ["metrics: { listen: '127.0.0.1:0' }"] : []),
  ].join('\n'));
  fs.rmSync(logFile, { force: true });
  return { config: file, logFile };
}

/** decision lines and warn/error codes of a log file */
function scanLog(file) {
  const codes = {};
  let decisions = 0;
  if (!fs.existsSync(file)) return { decisions, codes };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.includes('"msg":"decision"')) { decisions++; continue; }
    const m = /"code":"(PI_[A-Z_]+)"/.exec(line);
    if (m) codes[m[1]] = (codes[m[1]] ?? 0) + 1;
  }
  return { decisions, codes };
}

/** --metrics: the daemon's cache sizes and V8 heap now (MiB, entries) */
const GAUGES = { dns_cache_bytes: 'policyd_identity_dns_cache_bytes', dns_cache_entries: 'policyd_identity_dns_cache_entries',
  identity_cache_bytes: 'policyd_identity_identity_cache_bytes', identity_cache_entries: 'policyd_identity_identity_cache_entries',
  dns_inflight: 'policyd_identity_dns_inflight', dns_queued: 'policyd_identity_dns_queued',
  heap_used: 'nodejs_heap_size_used_bytes', heap_total: 'nodejs_heap_size_total_bytes', external: 'nodejs_external_memory_bytes' };
async function sampleGauges(url) {
  try {
    const body = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
    const out = {};
    for (const [k, name] of Object.entries(GAUGES)) {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
      const v = m ? Number(m[1]) : null;
      out[k] = v === null ? null : k.endsWith('bytes') || k.startsWith('heap') || k === 'external' ? +(v / 2 ** 20).toFixed(1) : v;
    }
    return out;
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

const alive = (pid) => { try { return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };

async function runAttack(name, dns) {
  say(`${name}: ${SECONDS} s beside the honest client`);
  const cfg = writeConfig(name);
  const d = await startDaemon({ cli: CLI, ...cfg, dns: dns.server, label: name });
  // one honest request first: the daemon has started (and the honest zone is warm at the DNS server)
  const warm = new Client(d.port);
  const first = await warm.ask(honestRequest('w'));
  warm.close();
  await sleep(500);
  const rssStart = treeMem(d.pid).rss_mib;
  resetPeak(d.pid);
  const c0 = treeCpuSplit(d.pid);
  const dnsCpu0 = cpuOf(dns.pid);
  const self0 = process.cpuUsage();
  const b0 = machineBusy();
  const la0 = loadavg();
  const q0 = (await dns.stats()).queries;
  const t0 = Date.now();
  const honest = honestLoop(d.port, name.slice(0, 2));
  const attack = await ATTACK[name](d.port);
  const rss = [];
  const gauges = [];
  let metricsUrl = null;
  if (METRICS) {
    for (let i = 0; i < 30 && !metricsUrl; i++) {
      metricsUrl = /"msg":"metrics endpoint listening"[^\n]*"metrics":"([^"]+)"|"metrics":"([^"]+)"[^\n]*"msg":"metrics endpoint listening"/.exec(fs.readFileSync(cfg.logFile, 'utf8'));
      metricsUrl = metricsUrl ? (metricsUrl[1] ?? metricsUrl[2]) : null;
      if (!metricsUrl) await sleep(100);
    }
  }
  let maxPendingSlow = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    await sleep(1000);
    rss.push(treeMem(d.pid).rss_mib);
    if (metricsUrl) gauges.push(await sampleGauges(metricsUrl));
    maxPendingSlow = Math.max(maxPendingSlow, (await dns.stats()).pendingSlow);
  }
  const attackSummary = await attack.stop();
  await honest.stop();
  const wall = (Date.now() - t0) / 1000;
  const c1 = treeCpuSplit(d.pid);
  const mem = treeMem(d.pid);
  const cpuS = c1.user + c1.sys - c0.user - c0.sys;
  const dnsCpu = cpuOf(dns.pid) - dnsCpu0;
  const selfU = process.cpuUsage(self0);
  const selfCpu = (selfU.user + selfU.system) / 1e6;
  const other = Math.max(0, machineBusy() - b0 - cpuS - dnsCpu - selfCpu) / wall;
  const queries = (await dns.stats()).queries - q0;
  // stayed up: alive, and a new honest request after the attack is answered
  await sleep(500);
  const upAfter = alive(d.pid);
  let last = { action: '<daemon gone>', verb: '<daemon gone>', ms: 0 };
  if (upAfter) { const c = new Client(d.port); try { last = await c.ask(honestRequest('z')); } catch (e) { last = { action: `<${e.code ?? e.message}>`, verb: '<error>', ms: 0 }; } c.close(); }
  const stayedUp = upAfter && alive(d.pid) && !last.verb.startsWith('<');
  await d.stop();
  const log = scanLog(cfg.logFile);
  const hs = honest.answers;
  const lat = hs.map((a) => a.ms).sort((a, b) => a - b);
  const decisions = Math.max(1, log.decisions - 2); // without the warm-up and the last request
  const rec = {
    attack: name, seconds: +wall.toFixed(1), stayed_up: stayedUp, first_answer: first.action, last_answer: last.action,
    rss_start_mib: rssStart, peak_rss_mib: mem.hwm_mib, rss_end_mib: mem.rss_mib, rss_series_mib: rss,
    ...(METRICS ? { gauges_series: gauges } : {}),
    cpu_s: +cpuS.toFixed(2), cpu_user_s: +(c1.user - c0.user).toFixed(2), cpu_sys_s: +(c1.sys - c0.sys).toFixed(2),
    cores: +(cpuS / wall).toFixed(2), decisions: log.decisions, cpu_us_per_decision: Math.round((cpuS * 1e6) / decisions),
    dns_queries: queries, max_pending_slow: maxPendingSlow,
    honest: { requests: hs.length, answers: tally(hs.map((a) => a.verb)), p50_ms: +(pct(lat, 0.5) ?? 0).toFixed(1), p99_ms: +(pct(lat, 0.99) ?? 0).toFixed(1),
      max_ms: +(lat.at(-1) ?? 0).toFixed(1), over_1s: lat.filter((x) => x > 1000).length, reconnects: honest.client.reconnects },
    attacker: attackSummary, log_codes: log.codes,
    machine: { other_cores: +other.toFixed(2), loadavg_before: la0, loadavg_after: loadavg(), bench_cpu_s: +selfCpu.toFixed(2), dns_cpu_s: +dnsCpu.toFixed(2) },
  };
  const h = rec.honest;
  say(`  ${name}: up ${stayedUp}, peak RSS ${rec.peak_rss_mib} MiB (start ${rssStart}), CPU ${rec.cpu_s} s (${rec.cores} cores, ${rec.cpu_us_per_decision} µs/decision, ${log.decisions} decisions); `
    + `honest ${h.requests}: ${JSON.stringify(h.answers)} p50 ${h.p50_ms} max ${h.max_ms} ms, ${h.over_1s} over 1 s; attacker ${JSON.stringify(attackSummary)}; other load ${rec.machine.other_cores} cores, loadavg ${la0[0]}`);
  return rec;
}

// ---- main -------------------------------------------------------------------------------------
const meta = { ...machineInfo(), command: `node bench/hostile.mjs ${argv.join(' ')}`.trim(), seconds: SECONDS, slow_ms: SLOW_MS, cli: path.relative(ROOT, CLI), out: OUT };
say(`attacks ${ATTACKS.join(',')}, ${SECONDS} s each; output in ${OUT}`);
const dns = await startHostileDnsChild({ slowMs: SLOW_MS });
const results = [];
let failed = null;
try {
  for (const a of ATTACKS) results.push(await runAttack(a, dns));
} catch (e) {
  failed = e;
  say(`FAILED: ${e.stack ?? e}`);
}
await dns.stop();
fs.writeFileSync(path.join(OUT, 'hostile.json'), JSON.stringify({ meta, results }, null, 2));

// ---- report ---------------------------------------------------------------------------------------
const fmt = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
const lines = [
  `# Hostile attacks (bench/hostile.mjs), ${meta.date}, git ${meta.git}, ${meta.host_cpus} CPUs, Node ${meta.node}`,
  '',
  `\`${meta.command}\`; ${SECONDS} s per attack, a fresh daemon each, defaults + lab public_networks.`,
  '',
  '| attack | up | peak RSS MiB (start) | daemon CPU s (cores) | CPU µs/decision | honest answers | honest p50 / max ms (> 1 s) | attacker | other load (cores) |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const r of results) {
  const h = r.honest;
  const att = r.attacker.answers ? `${r.attacker.answered} answered: ${fmt(r.attacker.answers)}` : fmt(r.attacker);
  lines.push(`| ${r.attack} | ${r.stayed_up ? 'yes' : '**no**'} | ${r.peak_rss_mib} (${r.rss_start_mib}) | ${r.cpu_s} (${r.cores}) | ${r.cpu_us_per_decision} | ${h.requests}: ${fmt(h.answers)} | ${h.p50_ms} / ${h.max_ms} (${h.over_1s}) | ${att} | ${r.machine.other_cores} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
say(`done; ${OUT}/hostile.json`);
killAll();
process.exit(failed ? 1 : 0);
