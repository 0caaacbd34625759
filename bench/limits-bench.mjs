#!/usr/bin/env node
// limits-bench — rate-limit decisions per second, memory backend and Redis on
// loopback, and Redis traffic per decision.
//
//   node bench/limits-bench.mjs [seconds-per-run]      (after `npm run build`)
//   LIMITS_BUILD=build-limits/src node bench/limits-bench.mjs 3
//   REDIS_URL=redis://127.0.0.1:6379 node bench/limits-bench.mjs   (use a running server)
//
// A "decision" is one Limiter.evaluate() at RCPT, the way the engine calls it,
// with a typical inbound rule set of 3 rules (per client /24 recipients as
// attempts, per sender domain as accepted, distinct HELO per client address)
// and with 1 rule. Clients are spread over 5,000 addresses in 100 /24s. N
// "connections" each run decisions one after another (Postfix sends one
// request at a time per connection), all at once, for a fixed time.
// Redis traffic is measured on the client socket: socket writes per decision
// (what auto-pipelining batches) and scripts executed per decision (INFO
// commandstats). Without REDIS_URL a throwaway redis-server is started on a
// free loopback port, no persistence, and killed at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';

const build = resolve(process.env.LIMITS_BUILD ?? 'dist');
const imp = (p) => import(pathToFileURL(join(build, p)).href);
const { createLimiter, createLimiterWith } = await imp('limits/limiter.js');
const { RedisBackend } = await imp('limits/redis.js');
const { loadConfigText } = await imp('config/load.js');
const { identityOf } = await imp('net/identity.js');
const { toPolicyRequest } = await imp('protocol/request.js');

const SECONDS = Number(process.argv[2] ?? 3);
const log = pino({ level: 'silent' });

const RULES3 = `
    - { id: net, key: client_network, unit: recipients, charge_on: attempts, limit: [500000/1h, 1000000/1d] }
    - { id: dom, key: sender_domain, unit: recipients, limit: 1000000/1h }
    - { id: helo, key: client_address, distinct: helo_name, limit: 1000/1h }`;
const RULES1 = `
    - { id: net, key: client_network, unit: recipients, charge_on: attempts, limit: 1000000/1h }`;

function limits(rules, backend, url) {
  const r = loadConfigText(`limits:\n  backend: ${backend}\n  max_keys: 1000000\n  redis: { url: "${url ?? 'redis://127.0.0.1:6379'}", prefix: "bench:", timeout: 1s }\n  rules:${rules}\n`, 'bench.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config.limits;
}

// 5,000 pre-built requests: the bench measures the limiter, not request parsing
const requests = Array.from({ length: 5000 }, (_, i) => {
  const attrs = Object.assign(Object.create(null), {
    request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: `198.18.${i % 100}.${Math.floor(i / 100) + 1}`,
    helo_name: `host${i % 7}.example.net`, sender: `u${i}@d${i % 300}.example`, recipient: 'x@example.org', instance: `i${i}`,
  });
  const req = toPolicyRequest(attrs);
  return { req, id: identityOf(req) };
});

async function run(limiter, connections) {
  let n = 0;
  const lat = [];
  let stop = false;
  const end = performance.now() + SECONDS * 1000;
  const worker = async (c) => {
    for (let i = c; !stop; i += connections) {
      const { req, id } = requests[i % requests.length];
      const t0 = performance.now();
      const f = await limiter.evaluate(req, id);
      if ((n & 63) === 0) lat.push(performance.now() - t0);
      if (f.length === 0) throw new Error('no findings');
      n++;
      if ((n & 1023) === 0 && performance.now() > end) stop = true;
      if (connections === 1 && performance.now() > end) stop = true;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, (_, c) => worker(c)));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]?.toFixed(3);
  return { n, perSec: Math.round(n / secs), p50: q(0.5), p99: q(0.99) };
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'pi-bench-redis-'));
  const port = await freePort();
  const child = spawn(process.env.REDIS_SERVER ?? 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((res) => { const s = net.connect(port, '127.0.0.1', () => { s.end(); res(true); }); s.on('error', () => res(false)); });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
}

/** scripts executed so far and Redis CPU seconds used so far */
async function redisCounters(url) {
  const { Redis } = await import('ioredis');
  const r = new Redis(url);
  const info = await r.info('commandstats') + await r.info('cpu');
  await r.quit();
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
  const cpu = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0);
  return { calls, cpu };
}

const out = [];
const row = (name, r, extra = '') => {
  out.push(`| ${name} | ${r.perSec.toLocaleString('en')} | ${r.p50} | ${r.p99} | ${extra} |`);
  console.error(out.at(-1));
};

console.error(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model}), ${SECONDS}s per run`);

for (const [name, rules] of [['3 rules', RULES3], ['1 rule', RULES1]]) {
  const l = createLimiter(limits(rules, 'memory'), log);
  await run(l, 64); // warm-up
  row(`memory, ${name}, 64 conns`, await run(l, 64));
  await l.close();
}

const ext = process.env.REDIS_URL;
const server = ext ? { url: ext, stop: () => {} } : await startRedis();
try {
  for (const [name, rules] of [['3 rules', RULES3], ['1 rule', RULES1]]) {
    for (const conns of [64, 1]) {
      const cfg = limits(rules, 'redis', server.url);
      const backend = new RedisBackend(cfg.redis, log);
      const l = createLimiterWith(cfg, backend, log);
      if (!(await l.ready())) throw new Error(`no Redis at ${server.url}`);
      await run(l, conns); // warm-up, loads the scripts
      // count socket writes: each is one batch of commands sent (auto-pipelining)
      const sock = backend.redis.stream;
      let writes = 0;
      const orig = sock.write.bind(sock);
      sock.write = (...a) => { writes++; return orig(...a); };
      const before = await redisCounters(server.url);
      const cpu0 = process.cpuUsage();
      const r = await run(l, conns);
      const cpu = process.cpuUsage(cpu0);
      const after = await redisCounters(server.url);
      const scripts = after.calls - before.calls;
      // CPU microseconds per decision: this process, and the Redis server
      const usNode = (cpu.user + cpu.system) / r.n;
      const usRedis = ((after.cpu - before.cpu) * 1e6) / r.n;
      sock.write = orig;
      const fails = l.stats()['backend.failures'];
      row(`redis loopback, ${name}, ${conns} conn${conns > 1 ? 's' : ''}`, r,
        `${(writes / r.n).toFixed(2)} writes, ${(scripts / r.n).toFixed(2)} scripts per decision; CPU per decision: node ${usNode.toFixed(0)} us, redis ${usRedis.toFixed(0)} us${fails ? `; ${fails} backend failures` : ''}`);
      await l.close();
    }
  }
} finally {
  server.stop();
}
console.log('| run | decisions/s | p50 ms | p99 ms | Redis traffic |\n|---|---|---|---|---|');
console.log(out.join('\n'));
