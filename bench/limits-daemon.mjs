#!/usr/bin/env node
// bench/limits-daemon.mjs — decisions/s of the whole daemon with rate limits,
// memory backend against Redis on loopback, at 64 persistent connections, and
// Redis round trips per decision (commandstats / requests).
//
//   npm run build && node bench/limits-daemon.mjs [--requests 30000] [--connections 64]
//
// Starts its own loopback DNS server (bench/lib/dns-server.mjs), its own
// redis-server on a free 127.0.0.1 port (no persistence, temp dir), and the
// daemon three times: no rules, two rules on the memory backend, the same two
// rules on Redis. Each rule is generous (never exceeded), so the figures are
// the cost of checking and counting, not of refusing. Loopback only; every
// child is killed at the end.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { LAB_IDENTITY_YAML } from './lib/lab-networks.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i === -1 ? d : Number(process.argv[i + 1]); };
const REQUESTS = arg('requests', 30000);
const CONNS = arg('connections', 64);
const dir = mkdtempSync(join(tmpdir(), 'pi-limits-bench-'));
const children = [];
const cleanup = () => { for (const c of children) try { c.kill('SIGKILL'); } catch {} rmSync(dir, { recursive: true, force: true }); };
process.on('exit', cleanup);
const killAll = setTimeout(() => { console.error('limits-daemon: global timeout'); process.exit(2); }, 600_000);
killAll.unref();

const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitPort(port, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

const dns = fork(join(HERE, 'lib', 'dns-server.mjs'), [], { stdio: 'ignore' });
children.push(dns);
const dnsPort = await new Promise((r) => dns.on('message', (m) => m.port && r(m.port)));

const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
children.push(redis);
await waitPort(redisPort);
const redisCli = (...a) => spawnSync('redis-cli', ['-p', String(redisPort), ...a], { encoding: 'utf8' }).stdout;

const RULES = `  rules:
    - id: client-net
      key: client_network
      unit: recipients
      charge_on: attempts
      limit: [500000/1h, 1000000/1d]
    - id: helo-random
      key: client_address
      distinct: helo_name
      limit: 10000/1h`;

async function run(name, limitsYaml) {
  const port = await freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `listen: [inet:127.0.0.1:${port}]\nlog: { level: info, destination: ${join(dir, name + '.log')} }\ndns: { servers: ["127.0.0.1:${dnsPort}"] }\n${LAB_IDENTITY_YAML}${limitsYaml}\n`);
  const d = spawn(process.execPath, ['--max-semi-space-size=4', join(ROOT, 'dist', 'cli.js'), 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  d.stderr.on('data', (x) => (err += x));
  children.push(d);
  await waitPort(port).catch((e) => { throw new Error(`${e.message}: ${err}`); });
  if (name === 'redis') redisCli('CONFIG', 'RESETSTAT');
  const lg = spawnSync(process.execPath, [join(HERE, 'loadgen.mjs'), '--port', String(port), '--connections', String(CONNS), '--requests', String(REQUESTS), '--warmup', '3000', '--duration-s', '30'], { encoding: 'utf8', timeout: 120_000 });
  const r = JSON.parse(lg.stdout.trim().split('\n').pop());
  let roundTrips = null;
  if (name === 'redis') {
    const stats = redisCli('INFO', 'commandstats');
    // scripts only: commandstats also counts the commands a script runs inside Redis
    const calls = [...stats.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)].reduce((a, m) => a + Number(m[2]), 0);
    roundTrips = calls / (r.requests + 3000);
  }
  d.kill('SIGTERM');
  await sleep(300);
  return { name, req_per_s: Math.round(r.req_per_s), p50_ms: r.p50_ms, p99_ms: r.p99_ms, errors: r.errors, redis_scripts_per_decision: roundTrips };
}

const rows = [];
const REPS = arg('reps', 2);
for (let rep = 0; rep < REPS; rep++) {
  rows.push(await run('no-rules', 'limits: { rules: [] }'));
  rows.push(await run('memory', `limits:\n  backend: memory\n${RULES}`));
  rows.push(await run('redis', `limits:\n  backend: redis\n  redis: { url: "redis://127.0.0.1:${redisPort}" }\n${RULES}`));
}
console.log(`| run (${CONNS} connections, ${REQUESTS} requests, 2 rules) | req/s | p50 ms | p99 ms | errors | Redis scripts per decision |`);
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.req_per_s} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.redis_scripts_per_decision === null ? '' : r.redis_scripts_per_decision.toFixed(2)} |`);
process.exit(0);
