// Rate limits on a real redis-server (test/helpers/redis.ts starts one on a free
// loopback port): two limiters (two daemons) sharing one Redis stay exact under
// concurrency, the Lua script answers exactly like the in-process algorithm, a
// restarted daemon keeps its counts, and a killed, hung or absent Redis never
// holds a request longer than the timeout (fail open, logged, counted) and is
// used again when it returns.
import t from 'tap';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from './helpers/redis.js';
import type { LimitsConfig, LimitWindow } from '../src/limits/config.js';
import { createLimiter } from '../src/limits/limiter.js';
import { MemoryBackend } from '../src/limits/memory.js';
import { RedisBackend } from '../src/limits/redis.js';
import { PEEK, CONSUME, FORCE, type Mode } from '../src/limits/algorithm.js';
import { limitsFromYaml, rcpt, eom, captureLog, quietLog } from './helpers/limits.js';

/** per-call timeout in the outage tests, and the slack allowed on a loaded test machine */
const TIMEOUT = 50;
const SLACK = 250;
/** tests about counting, not outages: a timeout that a busy CI machine cannot hit (a timed-out call would be skipped) */
const PATIENT = { timeout: 2000 };

let redis: RedisHandle;
let prefixSeq = 0;

t.before(async () => {
  redis = await startRedis();
});
t.teardown(async () => {
  await redis?.stop();
});

function limitsOf(rules: string, opts: { url?: string; prefix?: string; timeout?: number } = {}): LimitsConfig {
  return limitsFromYaml(`limits:
  backend: redis
  redis:
    url: ${opts.url ?? redis.url}
    prefix: "${opts.prefix ?? `t${process.pid}-${++prefixSeq}:`}"
    timeout: ${opts.timeout ?? TIMEOUT}ms
    connect_timeout: 500ms
  rules:
${rules}`);
}

const capture = captureLog;
const quiet = quietLog;

async function until(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < end; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

t.test('two daemons, one Redis: 2,000 concurrent checks from 50 connections against 300 let exactly 300 through', async (t) => {
  const cfg = limitsOf('    - { id: burst, key: client_address, unit: recipients, charge_on: attempts, limit: 300/1d }\n', PATIENT);
  const a = createLimiter(cfg, quiet);
  const b = createLimiter(cfg, quiet);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.ok(await a.ready(), 'daemon A connected');
  t.ok(await b.ready(), 'daemon B connected');
  const results = { pass: 0, fail: 0, skip: 0, tempfail: 0 };
  const connections = Array.from({ length: 50 }, async (_, c) => {
    const l = c % 2 === 0 ? a : b;
    for (let i = 0; i < 40; i++) {
      const [f] = await rcpt(l, { instance: `c${c}.${i}` });
      results[f!.result]++;
    }
  });
  await Promise.all(connections);
  t.same(results, { pass: 300, fail: 1700, skip: 0, tempfail: 0 });
  t.equal(a.stats()['rule.burst.pass']! + b.stats()['rule.burst.pass']!, 300, 'stats agree');
  // the state key has a TTL: Redis never keeps an idle key
  const r = new Redis(redis.url);
  t.teardown(() => r.quit());
  const keys = await r.keys(`${cfg.redis.prefix}*`);
  t.same(keys, [`${cfg.redis.prefix}burst:203.0.113.5`]);
  const ttl = await r.pttl(keys[0]!);
  t.ok(ttl > 0 && ttl <= 86_400_001, `TTL set (${ttl} ms)`);
});

t.test('charge_on: accepted across two daemons: RCPT on one, END-OF-MESSAGE on the other', async (t) => {
  const cfg = limitsOf('    - { id: acc, key: sender_domain, unit: recipients, limit: 5/1h }\n', PATIENT);
  const a = createLimiter(cfg, quiet);
  const b = createLimiter(cfg, quiet);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await Promise.all([a.ready(), b.ready()]);
  t.equal((await rcpt(b))[0]!.result, 'pass');
  await eom(a, { recipient_count: 3 });
  t.equal((await rcpt(b))[0]!.result, 'pass', '3 of 5');
  await eom(b, { recipient_count: 2 });
  const [f] = await rcpt(a);
  t.equal(f!.result, 'fail', '5 of 5 used: no room for one more');
  t.equal(f!.vars!.retry_after, '12m', '1h / 5');
});

t.test('the Lua script answers exactly like the in-process algorithm (seeded random event table)', async (t) => {
  const cfg = limitsOf('    - { id: x, key: client_address, limit: 1/1h }\n', PATIENT);
  const rb = new RedisBackend(cfg.redis, quiet);
  const mb = new MemoryBackend(1000, { sweep: false });
  t.teardown(() => Promise.all([rb.close(), mb.close()]));
  t.ok(await rb.ready());
  const windows: LimitWindow[] = [{ max: 5, ms: 2000, text: '' }, { max: 12, ms: 10_000, text: '' }, { max: 7, ms: 3001, text: '' }];
  const rule = { id: 'cmp', windows };
  // mulberry32: a small seeded PRNG (32-bit integer arithmetic via Math.imul)
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  let now = 1_700_000_000_000;
  let mismatches = 0;
  let refused = 0;
  for (let i = 0; i < 600; i++) {
    now += rnd(4) === 0 ? rnd(3000) : rnd(200);
    const mode = ([PEEK, CONSUME, CONSUME, FORCE] as Mode[])[rnd(4)]!;
    const cost = mode === FORCE ? 1 + rnd(10) : 1 + rnd(2);
    const key = `k${rnd(3)}`;
    const m = mb.gcra(rule, key, cost, mode, now);
    const r = await rb.gcra(rule, key, cost, mode, now);
    if (!m.allowed) refused++;
    if (JSON.stringify(m) !== JSON.stringify(r)) {
      mismatches++;
      if (mismatches <= 3) t.same(r, m, `event ${i}: t=${now} mode=${mode} cost=${cost} ${key}`);
    }
  }
  t.equal(mismatches, 0, 'every verdict identical');
  t.ok(refused > 50 && refused < 550, `the table exercises both answers (${refused} refused of 600)`);
});

t.test('a restarted daemon keeps the counts (they live in Redis)', async (t) => {
  const cfg = limitsOf('    - { id: keep, key: sasl_username, unit: recipients, charge_on: attempts, limit: 20/1d, only: { sasl: true } }\n', PATIENT);
  const first = createLimiter(cfg, quiet);
  await first.ready();
  for (let i = 0; i < 10; i++) t.equal((await rcpt(first, { sasl_username: 'Carol' }))[0]!.result, 'pass');
  await first.close();
  const second = createLimiter(cfg, quiet);
  t.teardown(() => second.close());
  await second.ready();
  const results: string[] = [];
  for (let i = 0; i < 11; i++) results.push((await rcpt(second, { sasl_username: 'carol' }))[0]!.result);
  t.same(results, [...Array<string>(10).fill('pass'), 'fail'], '10 more, then refused');
});

t.test('distinct HELO names per client in HyperLogLogs, shared by two daemons, with TTLs', async (t) => {
  const cfg = limitsOf('    - { id: helo-random, key: client_address, distinct: helo_name, limit: 3/1h }\n', PATIENT);
  const a = createLimiter(cfg, quiet);
  const b = createLimiter(cfg, quiet);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await Promise.all([a.ready(), b.ready()]);
  const res: string[] = [];
  for (const [l, helo] of [[a, 'one.example'], [b, 'two.example'], [a, 'ONE.example'], [b, 'three.example'], [a, 'four.example']] as const) {
    res.push((await rcpt(l, { helo_name: helo }))[0]!.result);
  }
  t.same(res, ['pass', 'pass', 'pass', 'pass', 'fail'], 'the fourth distinct name is refused, a repeat is not new');
  const r = new Redis(redis.url);
  t.teardown(() => r.quit());
  const keys = await r.keys(`${cfg.redis.prefix}*`);
  t.equal(keys.length, 1, 'one bucket so far');
  t.match(keys[0], /helo-random:203\.0\.113\.5:d3600000:\d+$/);
  const ttl = await r.pttl(keys[0]!);
  t.ok(ttl > 3_600_000 && ttl <= 4_500_000, `bucket expires when it leaves the union (${ttl} ms)`);
});

t.test('EVALSHA falls back to EVAL after SCRIPT FLUSH', async (t) => {
  const cfg = limitsOf('    - { id: flush, key: client_address, charge_on: attempts, unit: recipients, limit: 2/1h }\n', PATIENT);
  const l = createLimiter(cfg, quiet);
  t.teardown(() => l.close());
  await l.ready();
  t.equal((await rcpt(l))[0]!.result, 'pass');
  t.match(await redis.command('SCRIPT', 'FLUSH'), /^\+OK/);
  t.equal((await rcpt(l))[0]!.result, 'pass', 'NOSCRIPT answered by loading the script again');
  t.equal((await rcpt(l))[0]!.result, 'fail', 'and counting went on');
  t.equal(l.stats()['backend.failures'], 0);
});

t.test('Redis killed mid-run: every call settles within the timeout, fail open, logged; counting resumes', async (t) => {
  const { log, lines } = capture();
  const cfg = limitsOf(
    '    - { id: big, key: client_address, unit: recipients, charge_on: attempts, limit: 1000000/1d }\n'
    + '    - { id: strict, key: client_address, unit: recipients, charge_on: attempts, limit: 1000000/1d, on_backend_failure: defer }\n'
    + '    - { id: small, key: sender, unit: recipients, charge_on: attempts, limit: 3/1d }\n',
  );
  const l = createLimiter(cfg, log);
  t.teardown(() => l.close());
  t.ok(await l.ready());
  let stop = false;
  let slowest = 0;
  const seen = { pass: 0, fail: 0, skip: 0, tempfail: 0 };
  const connections = Array.from({ length: 50 }, async (_, c) => {
    for (let i = 0; i < 5000 && !stop; i++) {
      const t0 = performance.now();
      const f = await rcpt(l, { instance: `k${c}.${i}` });
      const took = performance.now() - t0;
      if (took > slowest) slowest = took;
      seen[f[0]!.result]++;
      seen[f[1]!.result]++;
      await new Promise((r) => setTimeout(r, 2));
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  const passedBefore = seen.pass;
  await redis.kill();
  await new Promise((r) => setTimeout(r, 800));
  const outage = { ...seen };
  await redis.restart();
  await until('the limiter uses Redis again', async () => (await rcpt(l, { client_address: '192.0.2.1' }))[0]!.result === 'pass');
  stop = true;
  await Promise.all(connections);

  t.ok(passedBefore > 0, 'Redis answered before the kill');
  t.ok(outage.skip > 0, `fail open while down (${outage.skip} skipped)`);
  t.ok(outage.tempfail > 0, `on_backend_failure: defer gave tempfail (${outage.tempfail})`);
  t.ok(slowest <= TIMEOUT + SLACK, `slowest call ${slowest.toFixed(1)} ms (bound ${TIMEOUT} + ${SLACK} ms)`);
  const down = lines.filter((x) => x.code === 'PI_LIMITS_BACKEND_DOWN');
  t.ok(down.length >= 1 && down.length <= 4, `logged once per interval per source (${down.length} lines), not per call`);
  t.ok(l.stats()['backend.failures']! > 10, 'failures counted');
  t.ok(lines.some((x) => x.msg === 'rate-limit backend connected'), 'the return is logged');
  // Redis came back empty (no persistence): counting starts again and is exact
  const fresh = [];
  for (let i = 0; i < 4; i++) fresh.push((await rcpt(l, { sender: 'fresh@example.net', client_address: '192.0.2.2' }))[2]!.result);
  t.same(fresh, ['pass', 'pass', 'pass', 'fail'], 'counting resumed');
  t.equal(l.stats()['backend.up'], 1);
});

t.test('a hung Redis (SIGSTOP): calls time out within the bound; answers again after SIGCONT', async (t) => {
  const cfg = limitsOf('    - { id: hung, key: client_address, unit: recipients, charge_on: attempts, limit: 1000/1d }\n');
  const l = createLimiter(cfg, quiet);
  t.teardown(() => l.close());
  t.ok(await l.ready());
  t.equal((await rcpt(l))[0]!.result, 'pass');
  redis.pause();
  try {
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: 20 }, () => rcpt(l)));
    const took = performance.now() - t0;
    t.ok(all.every((f) => f[0]!.result === 'skip'), 'skipped (fail open)');
    t.ok(took >= TIMEOUT - 5 && took <= TIMEOUT + SLACK, `settled after ${took.toFixed(1)} ms (timeout ${TIMEOUT} ms)`);
  } finally {
    redis.resume();
  }
  await until('Redis answers again', async () => (await rcpt(l))[0]!.result === 'pass');
  t.pass('resumed');
});

t.test('no Redis at all: answers at once, ready() gives up after connect_timeout', async (t) => {
  const cfg = limitsOf('    - { id: none, key: client_address, limit: 10/1h }\n', { url: 'redis://127.0.0.1:1' });
  const { log, lines } = capture();
  const l = createLimiter(cfg, log);
  t.teardown(() => l.close());
  const t0 = performance.now();
  const [f] = await rcpt(l);
  t.ok(performance.now() - t0 < TIMEOUT + SLACK, 'no waiting');
  t.equal(f!.result, 'skip');
  t.equal(await l.ready(), false, 'ready() resolves false');
  await eom(l, { recipient_count: 1 });
  t.ok(lines.some((x) => x.code === 'PI_LIMITS_BACKEND_DOWN'), 'logged');
  t.equal(l.stats()['backend.up'], 0);
});
