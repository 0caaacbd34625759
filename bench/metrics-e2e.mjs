// bench/metrics-e2e — requests/s and CPU per request through the real daemon on one
// connection, with no metrics, with this project's Metrics (src/metrics), and with
// prom-client's labelled inc() on the hot path. The decider reports 8 findings per
// request, as the engine does. node bench/metrics-e2e.mjs
import net from 'node:net';
import client from 'prom-client';
// compiled sources: dist/ (npm run build) by default, or PI_BUILD=build-x/src/
const B = new URL(process.env.PI_BUILD ? `../${process.env.PI_BUILD}` : '../dist/', import.meta.url).href;
const { startDaemon } = await import(B + 'server/daemon.js');
const { loadConfigText } = await import(B + 'config/load.js');
const { Metrics } = await import(B + 'metrics/metrics.js');
const { pino } = await import('pino');
const cfg = loadConfigText('listen: [inet:127.0.0.1:0]\nlog: {level: warn}\n', 'x').config;
const log = pino({ level: 'warn' });
const CHECKS = ['helo_missing','helo_invalid','helo_not_fqdn','helo_unknown','rdns_missing','rdns_unconfirmed','client_private','sender_null_mx'];
const D = { action: { verb: 'DUNNO' }, fired: [], findings: [], summary: '' };
function variant(kind) {
  if (kind === 'none') return { hooks: {}, onFinding: () => {} };
  if (kind === 'ours') { const m = new Metrics({ role: 'single', version: 'x', processMetrics: false }); return { hooks: m.hooks(), onFinding: m.observeFinding }; }
  const r = new client.Registry();
  const req = new client.Counter({ name: 'r', help: 'h', labelNames: ['protocol_state','action'], registers: [r] });
  const chk = new client.Counter({ name: 'c', help: 'h', labelNames: ['check','result'], registers: [r] });
  const lat = new client.Histogram({ name: 'l', help: 'h', buckets: [0.0001,0.00025,0.0005,0.001,0.0025,0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10], registers: [r] });
  return { hooks: { onDecision: (q, d, sent, us) => { req.inc({ protocol_state: q.protocol_state, action: sent.verb }); lat.observe(us / 1e6); } },
           onFinding: (f) => chk.inc({ check: f.check, result: f.result }) };
}
async function run(kind, n) {
  const v = variant(kind);
  const decider = { decide() { for (let i = 0; i < 8; i++) v.onFinding({ check: CHECKS[i], result: i === 3 ? 'fail' : 'pass', reason: '' }); return D; } };
  const d = await startDaemon({ config: cfg, log, decider, hooks: v.hooks });
  const port = Number(d.addresses()[0].split(':').pop());
  const s = net.connect(port, '127.0.0.1'); s.setNoDelay(true); s.setEncoding('latin1');
  await new Promise((r) => s.once('connect', r));
  const reqText = 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.5\nhelo_name=mail.example.net\nsender=a@example.net\nrecipient=b@example.org\n\n';
  let buf = ''; let got = 0; let resolve;
  s.on('data', (x) => { buf += x; let i; while ((i = buf.indexOf('\n\n')) !== -1) { buf = buf.slice(i + 2); got++; if (got < n) s.write(reqText); else resolve(); } });
  const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
  await new Promise((r) => { resolve = r; s.write(reqText); });
  const ns = Number(process.hrtime.bigint() - t0); const cpu = process.cpuUsage(c0);
  s.destroy(); await d.shutdown();
  return { kind, reqPerS: Math.round(n / (ns / 1e9)), cpuUsPerReq: ((cpu.user + cpu.system) / n).toFixed(1) };
}
const res = { none: [], ours: [], prom: [] };
const ROUNDS = Number(process.argv[2] ?? 9);
for (let round = 0; round < ROUNDS; round++) for (const k of ['none', 'ours', 'prom']) res[k].push(await run(k, 20000));
for (const k of Object.keys(res)) { const xs = res[k].map((r) => r.reqPerS).sort((a, b) => a - b); const cs = res[k].map((r) => Number(r.cpuUsPerReq)).sort((a, b) => a - b); console.log(k.padEnd(5), 'median req/s', xs[xs.length >> 1], 'all', xs.join(' '), ' median cpu µs/req (server+client in-process)', cs[cs.length >> 1]); }
