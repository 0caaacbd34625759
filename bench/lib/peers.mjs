// bench/lib/peers.mjs — postfwd2 and policyd-weight beside this daemon, in
// one run, against the same DNS: runs the peer harness in bench/peers/
// (run-peer-bench.sh; bench/peers/README.md) with this daemon as its `custom:`
// target, then reads its results.
//
// That harness (root only) installs Debian's postfwd, policyd-weight and
// dnsmasq-base if missing (with a policy-rc.d so no package starts a system
// service), builds a network namespace with only `lo`, serves the identities
// from dnsmasq on 127.0.0.1:53 inside it, and measures each target in turn
// with its load generator (policyload.mjs: the same Postfix-like closed loop
// as bench/loadgen.mjs) and cpuacct cgroups. Our daemon runs there with the
// same settings as in the rest of the bench (info log, one line per decision,
// to a file) and resolves through that dnsmasq.
//
// Knobs (environment): PEER_CONNS
// ("1 8 64"), PEER_REPS (2), PEER_DURATION_S (10), PEER_REQUESTS (1000000, so
// runs end by duration), PEER_TARGETS (builtin
// targets, default "ceiling postfwd2-nocache postfwd2 policyd-weight"),
// PEER_QUIET_WAIT_S (45: how long to wait for a quiet machine before each
// run), PEER_MAX_EXTRA (1: extra runs when one was noisy), PEER_ROUNDS (1: how
// often the whole target list is measured, every even round in reverse order, so
// that a drift of the machine's speed does not fall on one target only).
//
// What can go wrong: not root, apt failing: the promise
// rejects with the reason and the report says the peers were skipped.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, PRODUCTION_NODE_ARGS } from './procs.mjs';
import { LAB_IDENTITY_YAML } from './lab-networks.mjs';

export const PEER_PORT = 10050;

function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runPeers({ out, say }) {
  const script = path.join(ROOT, 'bench', 'peers', 'run-peer-bench.sh');
  if (process.getuid?.() !== 0) throw new Error('the peer harness needs root (network namespace, cgroups, apt)');
  fs.mkdirSync(out, { recursive: true });
  const logFile = path.join(out, 'policyd-identity.log');
  const config = path.join(out, 'policyd-identity.yaml');
  fs.writeFileSync(config, `# bench config for the peer run: defaults, info log to a file, lab addresses public\nworkers: 1\nlog:\n  level: info\n  destination: ${logFile}\n${LAB_IDENTITY_YAML}`);
  const runDir = path.join(out, 'run');
  const targets = (process.env.PEER_TARGETS ?? 'ceiling postfwd2-nocache postfwd2 policyd-weight').split(/\s+/).filter(Boolean);
  const custom = `custom:policyd-identity:${PEER_PORT}:exec node ${PRODUCTION_NODE_ARGS.join(' ')} dist/cli.js serve --config ${config} --listen inet:127.0.0.1:${PEER_PORT} --dns 127.0.0.1:53`;
  const env = {
    ...process.env, RUN_DIR: runDir, CONNS: process.env.PEER_CONNS ?? '1 8 64', REPS: process.env.PEER_REPS ?? '2',
    DURATION_S: process.env.PEER_DURATION_S ?? '10',
    // a cap far above what 10 s reach, so every target runs the whole duration (20,000
    // requests took this daemon and the ceiling under a second: too short to be stable)
    REQUESTS: process.env.PEER_REQUESTS ?? '1000000', ROUNDS: process.env.PEER_ROUNDS ?? '1', WARMUP: '1000', QUIET_WAIT_S: process.env.PEER_QUIET_WAIT_S ?? '45', MAX_EXTRA: process.env.PEER_MAX_EXTRA ?? '1',
  };
  say(`peers: ${script} ${[...targets, 'custom:policyd-identity'].join(' ')} (CONNS="${env.CONNS}" REPS=${env.REPS} ROUNDS=${env.ROUNDS} DURATION_S=${env.DURATION_S})`);
  const rc = await new Promise((resolve) => {
    const child = spawn('bash', [script, ...targets, custom], { cwd: ROOT, env, stdio: ['ignore', fs.openSync(path.join(out, 'harness.out'), 'w'), 'pipe'] });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('exit', (code) => resolve(code));
  });
  // the daemon's decision log (about 1 GB after a peer run): keep its last 200 kB
  try {
    const size = fs.statSync(logFile).size;
    if (size > 200_000) {
      const fd = fs.openSync(logFile, 'r');
      const tail = Buffer.alloc(200_000);
      fs.readSync(fd, tail, 0, tail.length, size - tail.length);
      fs.closeSync(fd);
      fs.writeFileSync(logFile, tail.toString('utf8').replace(/^[^\n]*\n/, ''));
    }
  } catch { /* no log: the daemon did not start, the results say so */ }
  const resultsFile = path.join(runDir, 'results.jsonl');
  if (!fs.existsSync(resultsFile)) throw new Error(`peer harness exited ${rc} without results (see ${out}/harness.out)`);
  const runs = fs.readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  // per target and concurrency: medians of the quiet runs (all runs when none was quiet)
  const groups = new Map();
  for (const r of runs) {
    const k = `${r.target}\t${r.connections}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  const summary = [];
  for (const [k, rs] of groups) {
    const [target, conns] = k.split('\t');
    const quiet = rs.filter((r) => !r.noisy);
    const use = quiet.length ? quiet : rs;
    summary.push({
      target, connections: Number(conns), runs: `${quiet.length}/${rs.length}`, all_noisy: quiet.length === 0,
      req_per_s: median(use.map((r) => r.req_per_s)), p50_ms: median(use.map((r) => r.p50_ms)), p99_ms: median(use.map((r) => r.p99_ms)),
      cpu_ms_per_req: median(use.map((r) => (r.requests ? (1000 * r.target_cpu_s) / r.requests : null))),
      dns_q_per_req: median(use.map((r) => (r.requests ? r.dns_queries / r.requests : null))),
      rss_mib: median(use.map((r) => r.rss_kib / 1024)), procs: median(use.map((r) => r.procs)),
      other_cores: median(use.map((r) => r.other_cores)), errors: rs.reduce((s, r) => s + (r.errors > 0 ? r.errors : 0), 0),
    });
  }
  // what each target answered per identity, first pass (cold caches)
  const decisions = {};
  for (const name of fs.readdirSync(runDir)) {
    const f = path.join(runDir, name, 'decisions-cold.json');
    if (!fs.existsSync(f)) continue;
    try {
      const d = JSON.parse(fs.readFileSync(f, 'utf8'));
      decisions[name] = Object.fromEntries(Object.entries(d.by_label ?? {}).map(([label, v]) => [label, v.example]));
    } catch { /* an empty file: the target did not start */ }
  }
  const meta = fs.existsSync(path.join(runDir, 'meta.txt')) ? fs.readFileSync(path.join(runDir, 'meta.txt'), 'utf8') : '';
  return { rc, script, date: new Date().toISOString(), targets: [...targets, 'policyd-identity'], env: { CONNS: env.CONNS, REPS: env.REPS, ROUNDS: env.ROUNDS, DURATION_S: env.DURATION_S, REQUESTS: env.REQUESTS }, meta, summary, decisions, runs: runs.length, runDir };
}
