// bench/metrics-hotpath — what the metrics calls cost per decision:
// prom-client 15 (labels as objects, as documented), prom-client with cached
// label children, and a hand-written exposition (pre-bound counters in a Map,
// fixed-bucket histogram). One "decision" = requests{protocol_state,action}.inc
// + latency histogram observe + 8 check-result counter incs (one per check),
// the calls the daemon makes per answered request.
//
//   node bench/metrics-hotpath.mjs [decisions=1000000] [rounds=5]
import client from 'prom-client';

const N = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const STATES = ['RCPT', 'RCPT', 'RCPT', 'CONNECT', 'EHLO', 'MAIL', 'DATA', 'END-OF-MESSAGE'];
const ACTIONS = ['DUNNO', 'DUNNO', 'DUNNO', 'REJECT', 'DEFER_IF_PERMIT', '550', 'WARN', 'DUNNO'];
const CHECKS = ['helo_syntax', 'helo_not_fqdn', 'helo_resolves', 'client_private', 'rdns_missing', 'rdns_fcrdns', 'sender_mx', 'provider_forgery'];
const RESULTS = ['pass', 'pass', 'pass', 'fail', 'pass', 'skip', 'tempfail', 'pass'];
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function promPlain() {
  const r = new client.Registry();
  const req = new client.Counter({ name: 'a_requests_total', help: 'h', labelNames: ['protocol_state', 'action'], registers: [r] });
  const chk = new client.Counter({ name: 'a_checks_total', help: 'h', labelNames: ['check', 'result'], registers: [r] });
  const lat = new client.Histogram({ name: 'a_seconds', help: 'h', buckets: BUCKETS, registers: [r] });
  return {
    r,
    decide(i) {
      req.inc({ protocol_state: STATES[i & 7], action: ACTIONS[i & 7] });
      lat.observe(((i & 1023) + 50) / 1e6);
      for (let c = 0; c < 8; c++) chk.inc({ check: CHECKS[c], result: RESULTS[(i + c) & 7] });
    },
  };
}

function promCached() {
  const r = new client.Registry();
  const req = new client.Counter({ name: 'b_requests_total', help: 'h', labelNames: ['protocol_state', 'action'], registers: [r] });
  const chk = new client.Counter({ name: 'b_checks_total', help: 'h', labelNames: ['check', 'result'], registers: [r] });
  const lat = new client.Histogram({ name: 'b_seconds', help: 'h', buckets: BUCKETS, registers: [r] });
  const reqC = new Map();
  const chkC = new Map();
  return {
    r,
    decide(i) {
      const s = STATES[i & 7], a = ACTIONS[i & 7];
      const k = s + '\0' + a;
      let c = reqC.get(k);
      if (!c) reqC.set(k, (c = req.labels(s, a)));
      c.inc();
      lat.observe(((i & 1023) + 50) / 1e6);
      for (let j = 0; j < 8; j++) {
        const kk = CHECKS[j] + '\0' + RESULTS[(i + j) & 7];
        let cc = chkC.get(kk);
        if (!cc) chkC.set(kk, (cc = chk.labels(CHECKS[j], RESULTS[(i + j) & 7])));
        cc.inc();
      }
    },
  };
}

function handWritten() {
  const req = new Map();
  const chk = new Map();
  const counts = new Float64Array(BUCKETS.length + 1);
  let sum = 0;
  const bump = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
  return {
    decide(i) {
      bump(req, STATES[i & 7] + '\0' + ACTIONS[i & 7]);
      const v = ((i & 1023) + 50) / 1e6;
      let b = 0;
      while (b < BUCKETS.length && v > BUCKETS[b]) b++;
      counts[b]++;
      sum += v;
      for (let j = 0; j < 8; j++) bump(chk, CHECKS[j] + '\0' + RESULTS[(i + j) & 7]);
    },
  };
}

function run(name, impl) {
  for (let i = 0; i < 50_000; i++) impl.decide(i); // warm up
  const per = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) impl.decide(i);
    per.push(Number(process.hrtime.bigint() - t0) / N);
  }
  per.sort((a, b) => a - b);
  console.log(`${name.padEnd(28)} median ${per[Math.floor(per.length / 2)].toFixed(0)} ns/decision  (min ${per[0].toFixed(0)}, max ${per[per.length - 1].toFixed(0)})`);
}

function handNested() {
  // per label value a small object / Map: no string building on the hot path
  const req = new Map();
  const chk = new Map();
  const counts = new Float64Array(BUCKETS.length + 1);
  let sum = 0;
  return {
    decide(i) {
      const s = STATES[i & 7];
      let byAction = req.get(s);
      if (byAction === undefined) req.set(s, (byAction = new Map()));
      const a = ACTIONS[i & 7];
      byAction.set(a, (byAction.get(a) ?? 0) + 1);
      const v = ((i & 1023) + 50) / 1e6;
      let b = 0;
      while (b < BUCKETS.length && v > BUCKETS[b]) b++;
      counts[b]++;
      sum += v;
      for (let j = 0; j < 8; j++) {
        let r = chk.get(CHECKS[j]);
        if (r === undefined) chk.set(CHECKS[j], (r = { pass: 0, fail: 0, tempfail: 0, skip: 0 }));
        r[RESULTS[(i + j) & 7]]++;
      }
    },
  };
}

console.log(`${N} decisions x ${ROUNDS} rounds, node ${process.version}, prom-client 15`);
run('prom-client, label objects', promPlain());
run('prom-client, cached children', promCached());
run('hand-written, string keys', handWritten());
run('hand-written, nested maps', handNested());
const p = promCached();
for (let i = 0; i < 1000; i++) p.decide(i);
const t0 = process.hrtime.bigint();
const text = await p.r.metrics();
console.log(`prom-client scrape of these metrics: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} ms, ${text.length} bytes`);
