// Rate limits, without Redis: the limits: config section (errors with positions,
// crossCheck), the GCRA algorithm against tables of timestamps on a fake clock,
// distinct values, key normalisation, the limiter's RCPT / END-OF-MESSAGE flow on
// the memory backend, backend failures, and the memory bound (1,000,000 keys).
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText, formatConfigError } from '../src/config/load.js';
import { limitsSpec, crossCheck, parseLimit, type LimitsConfig, type LimitWindow } from '../src/limits/config.js';
import { gcraApply, distinctApply, PEEK, CONSUME, FORCE, type Mode } from '../src/limits/algorithm.js';
import { keyOf, networkOf, domainUnder, MAX_KEY_TEXT } from '../src/limits/keys.js';
import { MemoryBackend } from '../src/limits/memory.js';
import { createLimiter, createLimiterWith, retryText, BACKEND_FAILURE_ACTION } from '../src/limits/limiter.js';
import type { Backend } from '../src/limits/backend.js';
import { identityOf } from '../src/net/identity.js';
import { parseIp } from '../src/net/ip.js';
import type { Finding } from '../src/checks/types.js';
import { limitsFromYaml, request, rcpt, eom, captureLog, quietLog } from './helpers/limits.js';

const T0 = 1_700_000_000_000;

const req = request;
const limitsOf = limitsFromYaml;
const capture = captureLog;
const quiet = quietLog;

// ---- config -----------------------------------------------------------------------

t.test('limits defaults: memory backend, no rules, Redis settings filled', async (t) => {
  const l = limitsOf('');
  t.equal(l.backend, 'memory');
  t.equal(l.max_keys, 100_000);
  t.same(l.rules, []);
  t.equal(l.redis.timeout, 50, 'per-call timeout 50 ms');
  t.equal(l.redis.prefix, 'policyd-identity:');
  t.equal(l.redis.tls, null);
  t.equal(l.redis.url, 'redis://127.0.0.1:6379');
});

t.test('a rule is parsed with defaults resolved', async (t) => {
  const l = limitsOf(`
limits:
  rules:
    - id: per-net
      key: client_network
      limit: ["300/1h", "2000 per day"]
      code: "450 5.7.1"
    - id: helo-random
      key: client_address
      distinct: helo_name
      limit: 3/h
    - id: out
      key: [sasl_username]
      unit: recipients
      only: { sasl: true, server_ports: [587, 465] }
      except: { clients: [192.0.2.0/24] }
      limit: 500/1d
      action: hold
`);
  const [net, helo, out] = l.rules;
  t.same(net!.key, ['client_network'], 'one key becomes a list');
  t.same(net!.limit.map((w) => [w.max, w.ms]), [[300, 3_600_000], [2000, 86_400_000]]);
  t.equal(net!.charge_on, 'accepted', 'default charge_on: accepted');
  t.equal(net!.unit, 'messages', 'default unit: messages');
  t.equal(net!.action, 'defer', 'default action defer');
  t.equal(net!.code, '450 4.7.1', 'DSN class fixed to the reply class');
  t.same(net!.network, { ipv4: 24, ipv6: 64 });
  t.equal(net!.on_backend_failure, 'skip', 'fail open by default');
  t.match(net!.message, /\{retry_after\}/, 'the default text says when to retry');
  t.equal(helo!.charge_on, 'attempts', 'distinct rules count attempts by default');
  t.equal(helo!.limit[0]!.ms, 3_600_000, '"3/h" is 3 per 1h');
  t.equal(out!.unit, 'recipients');
  t.equal(out!.only.sasl, true);
  t.same(out!.only.server_ports, [587, 465]);
  t.ok(out!.except.clients.has('192.0.2.7'));
});

t.test('old rule keys counts/count are read as unit/charge_on, with a warning check-config prints', async (t) => {
  const r = loadConfigText('limits:\n  rules:\n    - { id: a, key: client_address, counts: recipients, count: attempts, limit: 3/1h }\n', 'old.yaml');
  t.ok(r.ok, 'still loads');
  if (!r.ok) return;
  const rule = r.config.limits.rules[0]!;
  t.equal(rule.unit, 'recipients');
  t.equal(rule.charge_on, 'attempts');
  const lines = r.warnings.map(formatConfigError);
  t.equal(lines.length, 2);
  t.match(lines[0], /^old\.yaml:3:\d+: limits\.rules\[0\]\.counts: "counts" is now called "unit" \(unit: "recipients"\); the old name is still read \[PI_CONFIG_DEPRECATED\]$/);
  t.match(lines[1], /limits\.rules\[0\]\.count: "count" is now called "charge_on" \(charge_on: "attempts"\)/);
});

t.test('limit strings', async (t) => {
  const ok: Array<[string, number, number, string]> = [
    ['100/1h', 100, 3_600_000, '100 per 1h'],
    ['100 per 1h', 100, 3_600_000, '100 per 1h'],
    ['5/s', 5, 1000, '5 per 1s'],
    ['2000/1d', 2000, 86_400_000, '2000 per 1d'],
    ['10 per minute', 10, 60_000, '10 per 1m'],
    ['7/90m', 7, 5_400_000, '7 per 90m'],
  ];
  for (const [s, max, ms, text] of ok) t.same(parseLimit(s), { max, ms, text }, s);
  for (const bad of ['100', '100/', '/1h', 'x/1h', '0/1h', '100/500ms', '100/32d', '2000000/1d', '100/1y']) {
    t.type(parseLimit(bad), 'string', `${bad} is refused`);
  }
});

t.test('config errors name line, column and key path', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown key attribute', 'limits:\n  rules:\n    - id: a\n      key: client_ip\n      limit: 1/1h\n', /^test\.yaml:4:12: limits\.rules\[0\]\.key: expected one of client_address/],
    ['bad limit in a list', 'limits:\n  rules:\n    - id: a\n      key: sender\n      limit: [1/1h, 5/forever]\n', /^test\.yaml:5:21: limits\.rules\[0\]\.limit\[1\]: bad window/],
    ['two windows of one length', 'limits:\n  rules:\n    - id: a\n      key: sender\n      limit: [1/1h, 5/60m]\n', /limit\[1\]: two limits with the same window 1h/],
    ['duplicate rule id', 'limits:\n  rules:\n    - { id: a, key: sender, limit: 1/1h }\n    - { id: a, key: helo_name, limit: 1/1h }\n', /^test\.yaml:4:13: limits\.rules\[1\]\.id: rule id "a" is used twice/],
    ['distinct of its own key', 'limits:\n  rules:\n    - { id: a, key: helo_name, distinct: helo_name, limit: 3/1h }\n', /rules\[0\]\.distinct: distinct: helo_name is also the rule's key/],
    ['unit with distinct', 'limits:\n  rules:\n    - { id: a, key: client_address, distinct: helo_name, unit: recipients, limit: 3/1h }\n', /rules\[0\]\.unit: unit does not apply/],
    ['old and new name at once', 'limits:\n  rules:\n    - { id: a, key: client_address, count: attempts, charge_on: attempts, limit: 3/1h }\n', /rules\[0\]\.count: "count" is the old name of "charge_on"; give only "charge_on"/],
    ['recipient_domain counted at END-OF-MESSAGE', 'limits:\n  rules:\n    - { id: a, key: recipient_domain, limit: 3/1h }\n', /rules\[0\]\.key: recipient_domain is only known at RCPT.*charge_on: attempts/],
    ['bad rule id', 'limits:\n  rules:\n    - { id: "Per Net", key: sender, limit: 1/1h }\n', /rules\[0\]\.id: expected a rule id/],
    ['missing limit', 'limits:\n  rules:\n    - { id: a, key: sender }\n', /rules\[0\]\.limit: missing required key "limit"/],
    ['unknown rule key', 'limits:\n  rules:\n    - { id: a, key: sender, limit: 1/1h, window: 1h }\n', /rules\[0\]\.window: unknown key/],
    ['bad action', 'limits:\n  rules:\n    - { id: a, key: sender, limit: 1/1h, action: block }\n', /rules\[0\]\.action: expected one of reject, defer/],
    ['bad selector CIDR', 'limits:\n  rules:\n    - { id: a, key: sender, limit: 1/1h, except: { clients: [10.0.0.0/33] } }\n', /rules\[0\]\.except\.clients: not an IP address or CIDR/],
    ['bad redis url', 'limits:\n  redis:\n    url: http://localhost\n', /^test\.yaml:3:10: limits\.redis\.url: expected a redis:\/\/ or rediss:\/\/ URL/],
    ['bad redis timeout', 'limits:\n  redis:\n    timeout: 0ms\n', /limits\.redis\.timeout: duration out of range/],
    ['key attribute twice', 'limits:\n  rules:\n    - { id: a, key: [sender, sender], limit: 1/1h }\n', /key\[1\]: key attribute sender is listed twice/],
  ];
  for (const [name, yaml, re] of cases) {
    const r = loadConfigText(yaml, 'test.yaml');
    t.notOk(r.ok, `${name}: refused`);
    if (!r.ok) t.match(r.errors.map(formatConfigError).join('\n'), re, name);
  }
});

t.test('crossCheck: cluster mode needs Redis; Redis files must be readable', async (t) => {
  const withRules = limitsOf('limits:\n  rules:\n    - { id: a, key: sender, limit: 1/1h }\n');
  const noRules = limitsOf('');
  t.match(crossCheck({ workers: 2, limits: withRules }).join('\n'), /backend memory .* workers: 2 .*limits\.backend: redis/, 'memory + workers 2 + rules refused');
  t.same(crossCheck({ workers: 1, limits: withRules }), [], 'one worker: fine');
  t.same(crossCheck({ workers: 4, limits: noRules }), [], 'no rules: nothing to split');
  const redis = limitsOf('limits:\n  backend: redis\n  rules:\n    - { id: a, key: sender, limit: 1/1h }\n');
  t.same(crossCheck({ workers: 4, limits: redis }), [], 'Redis backend in cluster mode: fine');
  const dir = mkdtempSync(join(tmpdir(), 'pi-limits-'));
  const pw = join(dir, 'pw');
  writeFileSync(pw, 'secret\n');
  chmodSync(pw, 0o600);
  const good = limitsOf(`limits:\n  backend: redis\n  redis:\n    password_file: ${pw}\n`);
  t.same(crossCheck({ workers: 1, limits: good }), [], 'readable password file');
  // parsed without the loader, which runs crossCheck itself and would refuse it
  const ctx = { issues: [] };
  const bad = limitsSpec.parse({ backend: 'redis', redis: { password_file: join(dir, 'missing'), tls: { ca_file: join(dir, 'nope.pem') } } }, ['limits'], ctx) as LimitsConfig;
  t.same(ctx.issues, []);
  const errs = crossCheck({ workers: 1, limits: bad });
  t.equal(errs.length, 2);
  t.match(errs[0], /password_file: cannot read .*ENOENT/);
  t.match(errs[1], /tls\.ca_file: cannot read/);
});

t.test('limitsSpec parses on its own (used by config/schema.ts)', async (t) => {
  const ctx = { issues: [] };
  const r = limitsSpec.parse({ rules: [{ id: 'x', key: 'sender', limit: '1/1h' }] }, ['limits'], ctx);
  t.same(ctx.issues, []);
  t.equal((r as LimitsConfig).rules[0]!.id, 'x');
});

// ---- algorithm ----------------------------------------------------------------------

const W = (max: number, ms: number): LimitWindow => ({ max, ms, text: `${max} per ${ms}ms` });

/** Run rows of [t (ms after T0), mode, cost, allowed, retryAfter] through one state. */
function runTable(t: Test, windows: LimitWindow[], rows: Array<[number, Mode, number, boolean, number]>): void {
  const s = new Array<number>(2 * windows.length).fill(0);
  const next = new Array<number>(2 * windows.length).fill(0);
  for (const [at, mode, cost, allowed, retry] of rows) {
    const v = gcraApply(s, 0, windows, cost, mode, T0 + at, next);
    t.same([v.allowed, v.retryAfter], [allowed, retry], `t=${at} mode=${['peek', 'consume', 'force'][mode]} cost=${cost}`);
  }
}

t.test('GCRA: 3 per 1s, a burst then one every 333.3 ms, exact at the edges', async (t) => {
  runTable(t, [W(3, 1000)], [
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, false, 334], // the bucket is full: 1000/3 ms, rounded up
    [0, PEEK, 1, false, 334],
    [333, CONSUME, 1, false, 1], // 333 < 333.33: one millisecond short
    [334, CONSUME, 1, true, 0], // first conforming instant
    [335, CONSUME, 1, false, 332],
  ]);
});

t.test('GCRA: refused events are not counted; refill is exact', async (t) => {
  runTable(t, [W(3, 1000)], [
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, true, 0],
    ...Array.from({ length: 5 }, (): [number, Mode, number, boolean, number] => [100, CONSUME, 1, false, 234]),
    [334, CONSUME, 1, true, 0],
    [667, CONSUME, 1, true, 0], // TAT was 1333.33; 1333.33+333.33-667 = 999.67 <= 1000
    [999, CONSUME, 1, false, 1], // 1666.67+333.33-999 = 1001
    [1000, CONSUME, 1, true, 0],
    [5000, CONSUME, 1, true, 0], // drained long ago: a full bucket again
    [5000, CONSUME, 1, true, 0],
    [5000, CONSUME, 1, true, 0],
    [5000, CONSUME, 1, false, 334],
  ]);
});

t.test('GCRA: several windows, all checked, all updated or none', async (t) => {
  // 2 per second and 3 per 10 seconds
  runTable(t, [W(2, 1000), W(3, 10_000)], [
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, true, 0],
    [0, CONSUME, 1, false, 500], // the 1 s window refuses (500 ms); the 10 s one would allow
    [500, CONSUME, 1, true, 0], // third of three in 10 s
    [1500, CONSUME, 1, false, 1834], // 1 s window fine; 10 s window: 13333.3 - 1500 - 10000, rounded up
    [3333, CONSUME, 1, false, 1],
    [3334, CONSUME, 1, true, 0],
    [3334, PEEK, 1, false, 3333], // 10 s window: the next one 3333.3 ms later
  ]);
});

t.test('GCRA: force counts accepted mail even past the limit, debt capped at one window', async (t) => {
  runTable(t, [W(10, 1000)], [
    [0, FORCE, 5, true, 0],
    [0, FORCE, 5, true, 0],
    [0, PEEK, 1, false, 100],
    [0, FORCE, 8, false, 800], // over: counted anyway (the mail was accepted)
    [0, PEEK, 1, false, 900],
    [0, FORCE, 1000, false, 100_800], // far over: counted, but the debt is capped at 2 windows from now
    [0, PEEK, 1, false, 1100],
    [1100, PEEK, 1, true, 0],
  ]);
});

t.test('GCRA: peek never writes; cost above the burst never conforms', async (t) => {
  runTable(t, [W(5, 1000)], [
    [0, PEEK, 1, true, 0],
    [0, PEEK, 5, true, 0],
    [0, PEEK, 6, false, 200],
    [0, CONSUME, 6, false, 200],
    [0, CONSUME, 5, true, 0],
    [0, PEEK, 1, false, 200],
  ]);
});

t.test('GCRA: remaining counts what still fits', async (t) => {
  const s = [0, 0];
  const next = [0, 0];
  const w = [W(4, 4000)];
  t.equal(gcraApply(s, 0, w, 1, PEEK, T0, next).remaining, 4, 'empty: 4 fit');
  t.equal(gcraApply(s, 0, w, 1, CONSUME, T0, next).remaining, 3, 'after one: 3');
  t.equal(gcraApply(s, 0, w, 2, CONSUME, T0, next).remaining, 1);
  t.equal(gcraApply(s, 0, w, 1, PEEK, T0 + 1000, next).remaining, 2, 'one refilled after T/N');
});

t.test('distinct values over sliding windows (memory backend algorithm)', async (t) => {
  const seen = new Map<string, number>();
  const w = [W(3, 60_000)];
  const step = (v: string, at: number, mode: Mode = CONSUME) => distinctApply(seen, v, w, mode, T0 + at, 4);
  t.ok(step('a', 0).allowed);
  t.ok(step('b', 1000).allowed);
  t.ok(step('a', 2000).allowed, 'a value seen again is not new');
  t.ok(step('c', 3000).allowed, 'third distinct value: at the limit');
  t.notOk(step('d', 4000, PEEK).allowed, 'a fourth would be over');
  t.equal(seen.size, 3, 'peek did not add');
  t.ok(step('c', 4000, PEEK).allowed, 'a known value passes a peek');
  const v = step('d', 5000);
  t.notOk(v.allowed, 'fourth distinct value refused');
  t.equal(v.retryAfter, 1000 + 60_000 - 5000, 'until b (the oldest in the window after a was seen again) ages out');
  t.notOk(step('e', 61_500).allowed, 'a, c, d (refused, but seen) and e within the window');
  t.ok(step('e', 63_001).allowed, 'only d and e left in the window');
  t.ok(step('f', 200_000).allowed, 'all aged out: fine again');
  t.ok(seen.size <= 4, 'bounded at limit + 1 values');
});

// ---- keys -----------------------------------------------------------------------------

t.test('key normalisation', async (t) => {
  const bits = { ipv4: 24, ipv6: 64 };
  const k = (attrs: Parameters<typeof keyOf>[0], a: Record<string, string>) => {
    const r = req(a);
    return keyOf(attrs, r, identityOf(r), bits);
  };
  t.equal(k(['client_address'], { client_address: '::ffff:203.0.113.5' }), '203.0.113.5', 'IPv4-mapped IPv6 is the IPv4 address');
  t.equal(k(['client_network'], { client_address: '::ffff:203.0.113.77' }), '203.0.113.0/24');
  t.equal(k(['client_network'], { client_address: '203.0.113.200' }), '203.0.113.0/24');
  t.equal(k(['client_network'], { client_address: '2001:DB8:1:2:aaaa::1' }), '2001:db8:1:2::/64', 'IPv6 masked to /64, canonical text');
  t.equal(k(['client_network'], { client_address: '2001:db8:1:2:ffff:ffff:ffff:ffff' }), '2001:db8:1:2::/64', 'same /64, same key');
  t.not(k(['client_network'], { client_address: '2001:db8:1:3::1' }), '2001:db8:1:2::/64', 'next /64: another key');
  t.equal(k(['client_address'], { client_address: '2001:0DB8:0:0:0:0:0:0001' }), '2001:db8::1', 'IPv6 canonical form');
  t.equal(networkOf(parseIp('198.51.100.255')!, { ipv4: 16, ipv6: 48 }), '198.51.0.0/16');
  t.equal(networkOf(parseIp('2001:db8:abcd:1234::9')!, { ipv4: 16, ipv6: 48 }), '2001:db8:abcd::/48');
  t.equal(k(['helo_name'], { helo_name: 'MAIL.Example.NET.' }), 'mail.example.net', 'HELO: case and one trailing dot');
  t.equal(k(['sender'], { sender: 'Alice.B@EXAMPLE.net' }), 'alice.b@example.net', 'sender lower-cased');
  t.equal(k(['sender_domain'], { sender: 'x@Bücher.Example' }), 'xn--bcher-kva.example', 'IDN to ASCII');
  t.equal(k(['sasl_username'], { sasl_username: 'Alice' }), 'alice');
  t.equal(k(['recipient_domain'], { recipient: 'x@Example.ORG' }), 'example.org');
  t.equal(k(['sasl_username'], { sasl_username: '' }), null, 'no SASL login: no key, the rule does not apply');
  t.equal(k(['sender'], { sender: '' }), null, 'null sender: no key');
  t.equal(k(['helo_name'], { helo_name: '' }), null, 'no HELO: no key');
  t.equal(k(['client_address'], { client_address: 'unknown' }), null, 'unparsable address: no key');
  t.equal(k(['sasl_username', 'client_address'], { sasl_username: 'Bob' }), 'bob|203.0.113.5', 'a tuple');
  t.not(k(['sender', 'helo_name'], { sender: 'a|b@x.example', helo_name: 'c' }), k(['sender', 'helo_name'], { sender: 'a@x.example', helo_name: 'b|c' }),
    'a "|" inside a value cannot forge another tuple');
  t.equal(k(['sender', 'helo_name'], { sender: 'a|b%@x.example', helo_name: 'c' }), 'a%7Cb%25@x.example|c');
  const long = k(['sender'], { sender: `${'x'.repeat(300)}@example.net` })!;
  t.match(long, /^%sha256:[0-9a-f]{64}$/, `keys over ${MAX_KEY_TEXT} characters are hashed`);
  t.ok(domainUnder('mx.example.com', ['example.com']) && domainUnder('example.com', ['example.com']));
  t.notOk(domainUnder('evilexample.com', ['example.com']), 'label boundary');
});

// ---- the limiter on the memory backend --------------------------------------------------

t.test('no rules: a no-op limiter, one shared empty answer', async (t) => {
  const l = createLimiter(limitsOf(''), quiet);
  const r = req({});
  const a = l.evaluate(r, identityOf(r));
  const b = l.evaluate(r, identityOf(r));
  t.equal(a, b, 'the same promise');
  t.equal(await a, await b, 'the same array');
  t.same(await a, []);
  t.ok(Object.isFrozen(await a));
  t.same(l.stats(), {});
  await l.record(r, identityOf(r));
  await l.close();
});

t.test('charge_on: accepted — checked at RCPT, counted at END-OF-MESSAGE', async (t) => {
  const l = createLimiter(limitsOf(`
limits:
  rules:
    - id: per-client
      key: client_address
      limit: 2/1h
      message: "slow down, {key}: {limit}; retry in {retry_after}"
`), quiet);
  t.teardown(() => l.close());
  for (let i = 0; i < 5; i++) {
    const f = await rcpt(l, { instance: 'm1' }, T0);
    t.equal(f[0]!.result, 'pass', `RCPT ${i + 1}: peeks, counts nothing`);
  }
  await eom(l, { instance: 'm1', recipient_count: 5 }, T0);
  t.equal((await rcpt(l, { instance: 'm2' }, T0 + 1))[0]!.result, 'pass', 'one message of two');
  await eom(l, { instance: 'm2', recipient_count: 1 }, T0 + 1);
  const [f] = await rcpt(l, { instance: 'm3' }, T0 + 2);
  t.equal(f!.check, 'limit:per-client');
  t.equal(f!.result, 'fail');
  t.same(f!.action, { action: 'defer', code: '450 4.7.1', message: 'slow down, {key}: {limit}; retry in {retry_after}', score: 0 });
  t.equal(f!.vars!.key, '203.0.113.5');
  t.equal(f!.vars!.limit, '2 messages per 1h');
  t.equal(f!.vars!.retry_after, '30m', '1h / 2 after the bucket filled');
  t.equal(f!.vars!.retry_after_seconds, '1800');
  t.match(f!.reason, /client_address 203\.0\.113\.5: over 2 messages per 1h, retry in 30m/);
  const other = await rcpt(l, { client_address: '198.51.100.9' }, T0 + 2);
  t.equal(other[0]!.result, 'pass', 'another client has its own count');
  t.equal((await rcpt(l, {}, T0 + 1_800_001))[0]!.result, 'pass', 'room again after T/N');
  const s = l.stats();
  t.equal(s['rule.per-client.pass'], 8);
  t.equal(s['rule.per-client.fail'], 1);
  t.equal(s.keys, 1, 'peeks of new keys store nothing');
});

t.test('unit: recipients — recipient_count is counted at END-OF-MESSAGE', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: r, key: sender_domain, unit: recipients, limit: 5/1d }\n'), quiet);
  t.teardown(() => l.close());
  await eom(l, { recipient_count: 3 }, T0);
  t.equal((await rcpt(l, {}, T0))[0]!.result, 'pass', '3 of 5');
  await eom(l, { recipient_count: 3 }, T0);
  const [f] = await rcpt(l, { sender: 'other@EXAMPLE.NET' }, T0);
  t.equal(f!.result, 'fail', '6 of 5: over, same domain whatever the case');
  t.equal(f!.vars!.limit, '5 recipients per 1d');
  await eom(l, { recipient_count: 0 }, T0);
  t.equal(l.stats()['backend.failures'], 0);
});

t.test('charge_on: attempts — recipients: every RCPT counts, refused ones do not', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: a, key: client_network, unit: recipients, charge_on: attempts, limit: 3/1m }\n'), quiet);
  t.teardown(() => l.close());
  const results = [];
  for (let i = 0; i < 5; i++) results.push((await rcpt(l, { client_address: `203.0.113.${i + 1}` }, T0))[0]!.result);
  t.same(results, ['pass', 'pass', 'pass', 'fail', 'fail'], 'one /24, one count');
  t.equal((await rcpt(l, {}, T0 + 20_000))[0]!.result, 'pass', 'refused attempts used nothing: one more after T/N');
  await eom(l, { recipient_count: 50 }, T0 + 20_000);
  t.equal((await rcpt(l, {}, T0 + 40_000))[0]!.result, 'pass', 'attempts rules ignore END-OF-MESSAGE');
});

t.test('charge_on: attempts — messages: the first RCPT of a transaction counts, the others pass', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: m, key: client_address, charge_on: attempts, limit: 2/1h }\n'), quiet);
  t.teardown(() => l.close());
  const r = async (instance: string) => (await rcpt(l, { instance }, T0))[0]!;
  t.equal((await r('t1')).result, 'pass');
  t.equal((await r('t1')).result, 'pass');
  t.match((await r('t1')).reason, /already counted/);
  t.equal((await r('t2')).result, 'pass');
  t.equal((await r('t3')).result, 'fail', 'third message');
  t.equal((await r('t3')).result, 'fail', 'still not counted, still refused');
  t.equal((await r('t2')).result, 'pass', 'more recipients of an accepted message pass');
});

t.test('distinct: HELO randomisation per client address', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: helo-random, key: client_address, distinct: helo_name, limit: 3/1h, action: reject, code: "550 5.7.1" }\n'), quiet);
  t.teardown(() => l.close());
  const h = async (helo: string, client = '203.0.113.5') => (await rcpt(l, { helo_name: helo, client_address: client }, T0))[0]!;
  t.equal((await h('a.example')).result, 'pass');
  t.equal((await h('B.example.')).result, 'pass');
  t.equal((await h('b.example')).result, 'pass', 'same name, other spelling: not new');
  t.equal((await h('c.example')).result, 'pass');
  const f = await h('d.example');
  t.equal(f.result, 'fail', 'a fourth HELO name within the hour');
  t.equal(f.vars!.limit, '3 distinct helo_name per 1h');
  t.equal(f.action!.action, 'reject');
  t.equal((await h('e.example', '198.51.100.1')).result, 'pass', 'another client');
});

t.test('only / except selectors', async (t) => {
  const l = createLimiter(limitsOf(`
limits:
  rules:
    - id: out
      key: sasl_username
      charge_on: attempts
      unit: recipients
      limit: 1/1h
      only: { sasl: true, server_ports: [587] }
      except: { clients: [10.0.0.0/8], sender_domains: [partner.example] }
    - id: ctx
      key: client_address
      limit: 1/1h
      only: { policy_contexts: [submission], recipient_domains: [example.org] }
`), quiet);
  t.teardown(() => l.close());
  const ids = async (a: Record<string, string>) => (await rcpt(l, a, T0)).map((f) => f.check);
  t.same(await ids({}), [], 'not SASL, no policy_context: no rule applies');
  t.same(await ids({ sasl_username: 'u1', server_port: '25' }), [], 'SASL on port 25: not this rule');
  t.same(await ids({ sasl_username: 'u1', server_port: '587' }), ['limit:out']);
  t.same(await ids({ sasl_username: 'u1', server_port: '587', client_address: '10.1.2.3' }), [], 'except clients');
  t.same(await ids({ sasl_username: 'u1', server_port: '587', sender: 'x@mail.partner.example' }), [], 'except: any condition exempts');
  t.same(await ids({ policy_context: 'submission', recipient: 'x@sub.example.org' }), ['limit:ctx'], 'only: all conditions hold');
  t.same(await ids({ policy_context: 'submission', recipient: 'x@example.com' }), [], 'only: one condition fails');
});

t.test('states other than RCPT give the shared empty answer', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: a, key: client_address, charge_on: attempts, limit: 1/1h }\n'), quiet);
  t.teardown(() => l.close());
  const answers: Finding[][] = [];
  for (const state of ['CONNECT', 'EHLO', 'MAIL', 'DATA', 'END-OF-MESSAGE', 'VRFY']) answers.push(await rcpt(l, { protocol_state: state }, T0));
  t.ok(answers.every((a) => a === answers[0] && a.length === 0));
  t.equal((await rcpt(l, {}, T0))[0]!.result, 'pass', 'nothing was counted before RCPT');
});

t.test('IPv6 /64 and IPv4-mapped clients share their counts', async (t) => {
  const l = createLimiter(limitsOf('limits:\n  rules:\n    - { id: n, key: client_network, unit: recipients, charge_on: attempts, limit: 2/1h }\n    - { id: a, key: client_address, unit: recipients, charge_on: attempts, limit: 2/1h }\n'), quiet);
  t.teardown(() => l.close());
  const res = async (client: string) => (await rcpt(l, { client_address: client }, T0)).map((f) => f.result).join(',');
  t.equal(await res('2001:db8:1:2::1'), 'pass,pass');
  t.equal(await res('2001:db8:1:2:ffff::9'), 'pass,pass');
  t.equal(await res('2001:db8:1:2::77'), 'fail,pass', 'third address in the /64: network over, address fine');
  t.equal(await res('203.0.113.5'), 'pass,pass');
  t.equal(await res('::ffff:203.0.113.5'), 'pass,pass');
  t.equal(await res('::FFFF:203.0.113.5'), 'fail,fail', 'mapped and plain IPv4 are one client');
});

t.test('backend failures: skip (fail open) or defer, counted, logged once per interval', async (t) => {
  const { log, lines } = capture();
  let mode: 'throw' | 'reject' = 'reject';
  const broken: Backend = {
    kind: 'redis',
    gcra: () => { if (mode === 'throw') throw new Error('boom'); return Promise.reject(new Error('Command timed out')); },
    distinct: () => Promise.reject(new Error('Command timed out')),
    up: () => false,
    ready: () => Promise.resolve(false),
    size: () => 0,
    close: () => Promise.resolve(),
  };
  const cfg = limitsOf('limits:\n  rules:\n    - { id: open, key: client_address, limit: 1/1h }\n    - { id: closed, key: client_address, limit: 1/1h, on_backend_failure: defer }\n    - { id: d, key: client_address, distinct: helo_name, limit: 1/1h }\n');
  const l = createLimiterWith(cfg, broken, log);
  const f = await rcpt(l, {}, T0);
  t.same(f.map((x) => x.result), ['skip', 'tempfail', 'skip']);
  t.match(f[0]!.reason, /backend unavailable, rule skipped \(fail open\)/);
  t.equal(f[1]!.action, BACKEND_FAILURE_ACTION, 'defer uses the backend-failure action, never the rule\'s 5xx');
  t.equal(BACKEND_FAILURE_ACTION.code!.startsWith('4'), true);
  mode = 'throw';
  for (let i = 0; i < 10; i++) await rcpt(l, {}, T0);
  await eom(l, { recipient_count: 2 }, T0);
  const s = l.stats();
  t.equal(s['backend.failures'], 3 + 30 + 2, 'every failed call counted (END-OF-MESSAGE: the two charge_on: accepted rules)');
  t.equal(s['rule.open.skip'], 11);
  t.equal(s['rule.closed.tempfail'], 11);
  t.equal(s['backend.up'], 0);
  const down = lines.filter((x) => x.code === 'PI_LIMITS_BACKEND_DOWN');
  t.equal(down.length, 1, 'logged once within the interval');
  t.equal(down[0]!.level, 40, 'at warn level');
  t.equal(down[0]!.reason, 'Command timed out');
});

t.test('retry texts', async (t) => {
  t.same([retryText(1), retryText(999), retryText(36_000), retryText(60_000), retryText(125_000), retryText(3_600_000), retryText(5_400_000)],
    ['1s', '1s', '36s', '1m', '2m 5s', '1h', '1h 30m']);
});

t.test('memory backend: 1,000,000 distinct keys stay under max_keys', async (t) => {
  const max = 50_000;
  const m = new MemoryBackend(max, { sweep: false });
  t.teardown(() => m.close());
  const rule = { id: 'r', windows: [W(10, 3_600_000), W(100, 86_400_000)] };
  let peak = 0;
  for (let i = 0; i < 1_000_000; i++) {
    m.gcra(rule, `k${i}`, 1, CONSUME, T0 + i);
    if (m.size() > peak) peak = m.size();
  }
  t.ok(peak <= max, `never more than max_keys (peak ${peak})`);
  t.ok(m.size() >= max / 2, 'at least the max_keys/2 most recent keys are kept');
  t.equal(m.gcra(rule, 'k999999', 1, PEEK, T0 + 1_000_000).remaining, 9, 'a recent key keeps its count');
  t.equal(m.gcra(rule, 'k0', 1, PEEK, T0 + 1_000_000).remaining, 10, 'the oldest keys were evicted first');
  // drained keys are swept without waiting for the bound
  const m2 = new MemoryBackend(1000, { sweep: false });
  for (let i = 0; i < 500; i++) m2.gcra({ id: 's', windows: [W(1, 1000)] }, `k${i}`, 1, CONSUME, T0);
  t.equal(m2.size(), 500);
  t.equal(m2.sweep(T0 + 500), 0, 'nothing drained yet');
  t.equal(m2.sweep(T0 + 1001), 500, 'all drained after the window');
  t.equal(m2.size(), 0);
  await m2.close();
});

t.test('the YAML examples in docs/limits.md are valid configs', async (t) => {
  const doc = readFileSync(join(process.cwd(), 'docs', 'limits.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => !b.includes('{ ... }'));
  t.ok(blocks.length >= 3, `${blocks.length} examples`);
  for (const b of blocks) {
    const r = loadConfigText(b, 'docs/limits.md');
    t.ok(r.ok, r.ok ? `valid: ${b.split('\n').find((l) => l.includes('id:'))?.trim() ?? b.split('\n')[1]}` : r.errors.map(formatConfigError).join('\n'));
  }
});
