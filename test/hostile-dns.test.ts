/**
 * Hostile DNS (issue 13): the zones a client controls answer with floods and
 * slowly (test/helpers/hostile-dns.ts); every bound the resolver and the
 * checks promise is held here structurally — records kept, reason length,
 * queries sent, cache bytes, queries in flight per zone, what a request's DNS
 * view still holds — never by timing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { CachingResolver, MAX_NAME_LENGTH, MAX_RECORDS, answerBytes, type DnsConfig } from '../src/dns/resolver.js';
import { nameZone, reverseZone } from '../src/dns/zone.js';
import { TtlLru } from '../src/dns/cache.js';
import { CHECKS } from '../src/checks/index.js';
import { MAX_REASON } from '../src/checks/lib/format.js';
import { MAX_MX_HOSTS } from '../src/checks/lib/sender-mx.js';
import { loadConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import type { DnsLookup } from '../src/dns/types.js';
import { identityOf } from '../src/net/identity.js';
import { parseIp } from '../src/net/ip.js';
import { toPolicyRequest } from '../src/protocol/request.js';
import { ATTACK, FLOOD_A, FLOOD_PTR, MANY_MX, startHostileDns, type HostileDns } from './helpers/hostile-dns.js';

function dnsCfg(server: string, over: Partial<Omit<DnsConfig, 'cache'>> & { cache?: Partial<DnsConfig['cache']> } = {}): DnsConfig {
  const { cache, ...rest } = over;
  return {
    servers: [server], timeout: 4000, tries: 1, deadline: 5000, max_inflight: 100, max_inflight_per_zone: 50, max_ptr_names: 3,
    ...rest,
    cache: { size: 1000, max_bytes: 1 << 30, min_ttl: 0, max_ttl: 3_600_000, default_ttl: 300_000, negative_ttl: 60_000, tempfail_ttl: 2000, ...cache },
  };
}

async function hostile(t: Test, opts: { slowMs?: number } = {}): Promise<HostileDns> {
  const h = await startHostileDns(opts);
  t.teardown(() => h.stop());
  return h;
}

function resolver(t: Test, cfg: DnsConfig): CachingResolver {
  const r = new CachingResolver(cfg);
  t.teardown(() => r.close());
  return r;
}

t.test('per answer: at most MAX_RECORDS records kept, the rest counted', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));

  const a = await r.a(ATTACK.bigA);
  t.equal(a.status, 'ok');
  t.equal(a.records.length, MAX_RECORDS, `${FLOOD_A} A records -> ${MAX_RECORDS} kept`);
  t.equal(a.omitted, FLOOD_A - MAX_RECORDS, 'and the rest counted');

  const mx = await r.mx(ATTACK.manyMx);
  t.equal(mx.records.length, MAX_RECORDS, `${MANY_MX} MX -> ${MAX_RECORDS}`);
  t.equal(mx.omitted, MANY_MX - MAX_RECORDS);
  const prefs = mx.records.map((x) => x.priority);
  t.same(prefs, [...prefs].sort((x, y) => x - y), 'the most preferred ones, in order');
  t.ok(prefs[0] === 0 && prefs[MAX_RECORDS - 1]! <= 3, 'the lowest preferences the zone has (10 of each 0..99)');

  const nullLast = await r.mx(ATTACK.nullMxLast);
  t.equal(nullLast.records.length, MAX_RECORDS);
  t.ok(nullLast.records.some((x) => x.exchange === ''), 'a null MX survives the bound (RFC 7505), wherever the zone put it');

  const ptr = await r.ptr(`${ATTACK.ptrFloodPrefix}:1`);
  t.equal(ptr.records.length, MAX_RECORDS, `${FLOOD_PTR} PTR names on an ip6.arpa zone -> ${MAX_RECORDS}`);
  t.equal(ptr.omitted, FLOOD_PTR - MAX_RECORDS);
  t.equal(new Set(ptr.records).size, ptr.records.length, 'distinct');

  t.equal(r.stats.truncatedAnswers, 4);
  t.ok(r.cacheBytes < 4 * 6000, `four flood answers cached in ${r.cacheBytes} bytes (estimated), not hundreds of KB`);
});

t.test('names over 253 octets are refused before any lookup', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const long = `${'a'.repeat(60)}.`.repeat(4) + 'attack.example'; // 258 characters
  t.ok(long.length > MAX_NAME_LENGTH);
  for (const a of [await r.a(long), await r.aaaa(long), await r.mx(long), await r.scoped(Date.now() + 1000).a(long)]) {
    t.equal(a.status, 'tempfail');
    t.equal(a.reason, 'BADNAME');
  }
  t.equal(h.count(), 0, 'no query reached the server');
  t.equal(r.stats.badNames, 4);
  t.equal(r.cacheSize, 0, 'nothing cached under the long key');
  const exact = `${'a'.repeat(61)}.`.repeat(3) + 'b'.repeat(59) + '.example'; // 253
  t.equal(exact.length, MAX_NAME_LENGTH);
  t.equal((await r.a(exact)).reason, 'NXDOMAIN', 'a 253-character name is asked');
  t.equal((await r.a(`${exact}.`)).reason, 'NXDOMAIN', 'with its trailing dot too');
});

t.test('the cache is bounded by bytes as well as entries', async (t) => {
  const h = await hostile(t);
  const maxBytes = 6000;
  const r = resolver(t, dnsCfg(h.server, { cache: { size: 10_000, max_bytes: maxBytes } }));
  for (let i = 0; i < 10; i++) {
    await r.a(`h${i}.${ATTACK.mxFlood}`);
    t.ok(r.cacheBytes <= maxBytes, `after ${i + 1} flood answers: ${r.cacheBytes} <= ${maxBytes} bytes`);
  }
  t.ok(r.cacheEvictions > 0, 'older entries were evicted for bytes, not entries');
  t.ok(r.cacheSize < 10, `${r.cacheSize} entries kept`);
  t.ok(r.isCached('A', `h9.${ATTACK.mxFlood}`), 'the newest is kept');
});

t.test('TtlLru: bytes accounting, oversize entries refused, expired entries swept', (t) => {
  const c = new TtlLru<string>(100, 2, 1000);
  c.set(0, 'a', 'A', 1000, 0, 400);
  c.set(1, 'a', 'A6', 5000, 0, 400);
  t.equal(c.bytes, 800);
  c.set(0, 'b', 'B', 1000, 0, 400); // over 1000: the least recently used goes
  t.equal(c.bytes, 800);
  t.equal(c.evictions, 1);
  t.equal(c.get(0, 'a', 1), undefined);
  c.set(0, 'huge', 'H', 1000, 0, 2000);
  t.equal(c.get(0, 'huge', 1), undefined, 'bigger than max_bytes: not stored');
  c.set(0, 'b', 'B2', 1000, 0, 100); // replaced: bytes follow
  t.equal(c.bytes, 500);
  for (let i = 0; i < 50; i++) c.set(0, `t${i}`, 'x', 10, 0, 1);
  t.equal(c.size, 52);
  const swept = c.sweep(20, 1000); // everything but the 5 s entry has expired at t=20... and 'b' at 1000 has not
  t.equal(swept, 50, 'the expired short-TTL entries are swept without being read');
  t.equal(c.size, 2);
  t.equal(c.bytes, 500);
  // the amortised sweep in set(): two entries checked per insert
  const d = new TtlLru<string>(1000, 1);
  for (let i = 0; i < 100; i++) d.set(0, `e${i}`, 'x', 10, 0, 1);
  for (let i = 0; i < 100; i++) d.set(0, `n${i}`, 'x', 10_000, 100, 1);
  t.equal(d.size, 100, 'the 100 expired entries were swept by the next 100 inserts');
  t.equal(d.swept, 100);
  t.end();
});

t.test('zones: registered domain, reverse /24 and /48', (t) => {
  t.equal(nameZone('a.b.slow.attack.example'), 'attack.example');
  t.equal(nameZone('mail.example.co.uk'), 'example.co.uk');
  t.equal(nameZone('x.someone.blogspot.com'), 'someone.blogspot.com', 'private suffixes count: each user runs a zone');
  t.equal(nameZone('localhost'), 'localhost');
  t.equal(reverseZone(parseIp('203.0.113.77')!), 'v4:203.0.113');
  t.equal(reverseZone(parseIp('2001:db8:bad:1::5')!), reverseZone(parseIp('2001:db8:bad:ffff::9')!), 'one /48');
  t.not(reverseZone(parseIp('2001:db8:bad::1')!), reverseZone(parseIp('2001:db8:bae::1')!));
  t.end();
});

t.test('a slow zone takes at most its share of in-flight lookups; honest lookups are not queued behind it', async (t) => {
  const h = await hostile(t, { slowMs: 3000 });
  const perZone = 5;
  const r = resolver(t, dnsCfg(h.server, { max_inflight: 20, max_inflight_per_zone: perZone }));
  const slow = Array.from({ length: 40 }, (_, i) => r.a(`n${i}.${ATTACK.slowZone}`));
  t.equal(r.zoneInflight('attack.example'), perZone, 'the slow zone holds exactly its share');
  t.equal(r.inflight, perZone, 'and no more of the wire');
  t.equal(r.queued, 40 - perZone, 'the rest waits in the zone\'s own queue');
  t.equal(r.stats.zoneWaits, 40 - perZone);
  const honest = await r.a(ATTACK.honestHost);
  t.equal(honest.status, 'ok', 'the honest lookup is answered');
  t.same(honest.records, [ATTACK.honestIp]);
  t.ok(h.pending('slow') > 0, 'while the slow zone still holds its queries');
  t.ok(h.maxPending('slow') <= perZone, `the server never saw more than ${perZone} slow queries at once (${h.maxPending('slow')})`);
  r.close();
  const settled = await Promise.all(slow);
  t.ok(settled.every((a) => a.status === 'tempfail'), 'close() settles the waiting ones');
});

t.test('a zone cannot fill the whole queue', async (t) => {
  const h = await hostile(t, { slowMs: 3000 });
  const r = new CachingResolver(dnsCfg(h.server, { max_inflight: 4, max_inflight_per_zone: 2 }), { maxQueue: 40 });
  t.teardown(() => r.close());
  const slow = Array.from({ length: 30 }, (_, i) => r.a(`q${i}.${ATTACK.slowZone}`));
  t.equal(r.queued, 10, 'a zone waits in at most a quarter of the queue');
  t.equal(r.stats.queueFull, 30 - 2 - 10, 'the rest is refused at once (QUEUE_FULL)');
  const honest = await r.a(ATTACK.honestHost);
  t.equal(honest.status, 'ok');
  r.close();
  await Promise.all(slow);
});

t.test('one hard timer for all queries: each ends TIMEOUT timeout x tries after its own send; none armed when idle', async (t) => {
  const h = await hostile(t, { slowMs: 3000 });
  const r = resolver(t, dnsCfg(h.server, { timeout: 300, tries: 1 }));
  t.notOk(r.hardTimerArmed, 'no timer before any query');
  const t1 = Date.now();
  const first = r.a(`a.${ATTACK.slowZone}`).then((a) => ({ a, at: Date.now() - t1 }));
  t.ok(r.hardTimerArmed);
  await sleep(150);
  const t2 = Date.now();
  const second = r.a(`b.${ATTACK.slowZone}`).then((a) => ({ a, at: Date.now() - t2 }));
  const [x, y] = await Promise.all([first, second]);
  t.same([x.a.reason, y.a.reason], ['TIMEOUT', 'TIMEOUT']);
  t.ok(x.at >= 295 && y.at >= 295, `each after its own 300 ms (${x.at} / ${y.at} ms)`);
  t.ok(y.at < 300 + 400, `the second not held for a later round of the timer (${y.at} ms)`);
  t.notOk(r.hardTimerArmed, 'no timer once no query is on the wire');
  t.equal(await r.a(ATTACK.honestHost).then((a) => a.status), 'ok');
  t.notOk(r.hardTimerArmed, 'cleared when the answer came');
});

t.test('the hard timer runs on a monotonic clock: a wall clock stepped back does not keep a query (and its request) waiting', async (t) => {
  // An NTP step or `date -s` while a query is on the wire: the hard timer must still
  // end it timeout x tries after its send. (Broken by the one-timer FIFO when it
  // compared Date.now() with the send time: stepped back 60 s, the silent query was
  // re-sent to c-ares and kept for 60 s, and a request that skipped the deadline
  // race because of that hard timer with it.)
  const h = await hostile(t, { slowMs: 3000 });
  const r = resolver(t, dnsCfg(h.server, { timeout: 300, tries: 1 }));
  const v = r.scoped(Date.now() + 5000);
  const t0 = performance.now();
  const slow = v.a(`step.${ATTACK.slowZone}`);
  t.notOk(v.armed, 'on the wire with its hard timer before the deadline: not raced');
  const realNow = Date.now;
  Date.now = () => realNow() - 60_000;
  t.teardown(() => { Date.now = realNow; });
  const got = await Promise.race([slow.then((a) => a.reason), sleep(1500).then(() => 'still waiting after 1.5 s')]);
  Date.now = realNow;
  t.equal(got, 'TIMEOUT', `ended by the hard timer (${Math.round(performance.now() - t0)} ms)`);
  t.notOk(r.hardTimerArmed, 'no timer left');
});

t.test('a query whose hard timer ends before the request deadline is not raced; a queued one is', async (t) => {
  const h = await hostile(t, { slowMs: 3000 });
  // hard timer 300 ms (timeout x tries), deadline 5 s: the query settles in time by itself
  const r = resolver(t, dnsCfg(h.server, { timeout: 300, tries: 1, max_inflight: 1 }));
  const v = r.scoped(Date.now() + 5000);
  const t0 = Date.now();
  const slow = v.a(`z.${ATTACK.slowZone}`);
  t.notOk(v.armed, 'no deadline timer for a query on the wire');
  t.equal(v.pending, 0, 'and no waiter');
  // max_inflight 1: this one waits in the queue, where it may wait up to dns.deadline
  const queued = v.a(ATTACK.honestHost);
  t.ok(v.armed, 'a queued query races the deadline');
  t.equal(v.pending, 1);
  t.equal((await slow).reason, 'TIMEOUT', 'the hard timer ends the silent query');
  t.ok(Date.now() - t0 < 2000, `by the hard timer, not the deadline (${Date.now() - t0} ms)`);
  t.equal((await queued).status, 'ok');
  t.notOk(v.armed, 'released once answered');
  // a deadline closer than the hard timer: raced, DEADLINE
  const w = r.scoped(Date.now() + 100);
  const near = w.a(`y.${ATTACK.slowZone}`);
  t.ok(w.armed, 'a deadline before the hard timer: raced');
  t.equal((await near).reason, 'DEADLINE');
});

t.test('a request\'s DNS view holds nothing once its lookups have answered or its deadline passed', async (t) => {
  const h = await hostile(t, { slowMs: 3000 });
  const r = resolver(t, dnsCfg(h.server));

  const v = r.scoped(Date.now() + 4000);
  const p = [v.a(ATTACK.honestHost), v.mx(ATTACK.honestDomain), v.ptr(ATTACK.honestIp)];
  t.ok(v.armed, 'a deadline timer while lookups wait');
  t.equal(v.pending, 3);
  const answers = await Promise.all(p);
  t.ok(answers.every((a) => a.status === 'ok'));
  t.notOk(v.armed, 'timer cleared when the last lookup answered (not 4 s later)');
  t.equal(v.pending, 0);

  const w = r.scoped(Date.now() + 200);
  const slow = await Promise.all([w.a(`x.${ATTACK.slowZone}`), w.mx(ATTACK.slowZone)]);
  t.same(slow.map((a) => a.reason), ['DEADLINE', 'DEADLINE'], 'the deadline ends the request\'s wait');
  t.notOk(w.armed, 'and the view holds no timer');
  t.equal(w.pending, 0);

  const x = r.scoped(Date.now() + 4000);
  const early = x.a(`y.${ATTACK.slowZone}`);
  x.done();
  t.equal((await early).reason, 'DEADLINE', 'done() settles what is still pending');
  t.notOk(x.armed);
  t.equal(r.stats.deadlines, 2, 'done() is not counted as a deadline');
});

// ---- the checks on hostile answers --------------------------------------------------

function config(yaml = ''): Config {
  const res = loadConfigText(yaml, 'test.yaml');
  if (!res.ok) throw new Error(res.errors.map((e) => e.message).join('\n'));
  return res.config;
}

const CONFIG = config();
const BY_ID = new Map(CHECKS.map((c) => [c.id, c]));

async function runCheck(id: string, dns: DnsLookup, attrs: Record<string, string>) {
  const req = toPolicyRequest({
    request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: ATTACK.honestIp, client_name: ATTACK.honestHost,
    helo_name: ATTACK.honestHost, sender: `a@${ATTACK.honestDomain}`, recipient: 'b@ours.example', server_address: '198.51.100.1', instance: '1.1',
    ...attrs,
  });
  return BY_ID.get(id)!.run({ req, id: identityOf(req), dns, settings: CONFIG, memo: new Map() });
}

t.test('sender_mx_bogus on 10 MX hosts x 4,000 private A records: a short reason, a bounded walk', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const f = await runCheck('sender_mx_bogus', r.scoped(Date.now() + 4000), { sender: `x@${ATTACK.mxFlood}` });
  t.equal(f.result, 'fail');
  t.ok(f.reason.length <= MAX_REASON, `reason ${f.reason.length} characters (was about 2 MB)`);
  t.match(f.reason, /more\)/, 'names a few addresses and counts the rest');
  t.match(f.reason, /\+3998 more/, 'the count includes the records the resolver dropped');
  // counted at the resolver (the server also sees c-ares's TCP and timeout retries)
  t.ok(r.stats.queries <= 1 + 2 * 10, `one MX, at most one A and one AAAA per MX host: ${r.stats.queries} queries`);
});

t.test('sender_mx_bogus on 1,000 MX records: at most MAX_MX_HOSTS hosts looked up', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const f = await runCheck('sender_mx_bogus', r.scoped(Date.now() + 4000), { sender: `x@${ATTACK.manyMx}` });
  t.equal(f.result, 'fail');
  t.ok(r.stats.queries <= 1 + 2 * MAX_MX_HOSTS, `${r.stats.queries} queries: one MX, A and AAAA of at most ${MAX_MX_HOSTS} hosts`);
  t.ok(f.reason.length <= MAX_REASON);
  t.match(f.reason, /MX hosts not checked/);
});

t.test('sender_null_mx sees a null MX listed last among 1,000', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const f = await runCheck('sender_null_mx', r.scoped(Date.now() + 4000), { sender: `x@${ATTACK.nullMxLast}` });
  t.equal(f.result, 'fail');
});

t.test('helo_private on a HELO with 4,000 private addresses: a short reason', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const f = await runCheck('helo_private', r.scoped(Date.now() + 4000), { helo_name: ATTACK.bigA });
  t.equal(f.result, 'fail');
  t.ok(f.reason.length < 400, `${f.reason.length} characters: ${f.reason}`);
  t.match(f.reason, /\(\+3997 more\)/, '3 named, the others counted');
});

t.test('FCrDNS of an IPv6 client whose zone returns 2,500 PTR names: max_ptr_names forward lookups, a short trail', async (t) => {
  const h = await hostile(t);
  const r = resolver(t, dnsCfg(h.server));
  const f = await runCheck('rdns_unconfirmed', r.scoped(Date.now() + 4000), { client_address: `${ATTACK.ptrFloodPrefix}:7` });
  t.equal(f.result, 'fail');
  t.equal(r.stats.queries, 1 + CONFIG.dns.max_ptr_names, `one PTR and ${CONFIG.dns.max_ptr_names} forward lookups, not ${FLOOD_PTR}`);
  t.ok(f.reason.length <= MAX_REASON, `${f.reason.length} characters`);
  t.match(f.reason, /more\)/);
});

t.test('answerBytes: what an entry is charged grows with its records', (t) => {
  const small = answerBytes('a.example', { status: 'ok', records: ['192.0.2.1'], reason: 'NOERROR' });
  const big = answerBytes('a.example', { status: 'ok', records: Array.from({ length: 32 }, () => '2001:db8::1234:5678'), reason: 'NOERROR' });
  // measured on Node 20 (src/dns/resolver.ts answerBytes): one AAAA answer keeps ~430 bytes alive
  t.ok(small > 400 && small < 600 && big > 32 * 60 && big < 4000, `${small} / ${big}`);
  t.end();
});

t.test('identity cache: bounded by bytes, expired entries swept', async (t) => {
  const { FindingsCache } = await import('../src/engine/findings-cache.js');
  const big = (i: number) => ({ check: 'helo_private', result: 'fail' as const, reason: `x${i} `.repeat(250) }); // ~1 KB
  const c = new FindingsCache(1000, 10_000, 2, 20_000);
  for (let i = 0; i < 100; i++) {
    c.put(`k${i}`, 0, [big(i), undefined], [0]);
    t.ok(c.bytes <= 20_000, `after ${i + 1} puts: ${c.bytes} bytes`);
  }
  t.ok(c.size < 25, `${c.size} entries kept for 20 KB`);
  t.ok(c.evictions > 75);
  t.ok(c.get('k99', 1) !== undefined, 'the newest is kept');
  const d = new FindingsCache(1000, 10_000, 1);
  for (let i = 0; i < 50; i++) d.put(`old${i}`, 0, [{ check: 'c', result: 'pass', reason: 'r' }], [0]);
  for (let i = 0; i < 20; i++) d.put(`new${i}`, 5000, [{ check: 'c', result: 'pass', reason: 'r' }], [0]);
  t.equal(d.size, 20, 'the 50 expired entries were swept by the next 20 puts (4 each), without being read');
  t.equal(d.bytes, 20 * (96 + 2 * 'new0'.length + 8 + 72 + 1) + 10 * 2, 'bytes follow');
});

t.test('domain lists (allow.sender_domains, allow.helo, overrides) match in linear time', async (t) => {
  const { DomainSet, HeloList } = await import('../src/engine/allowlist.js');
  const ds = new DomainSet(['example.com', 'mail.example.net', '.example.org']);
  const attack = `${'a.'.repeat(4000)}example.invalid`; // 8 KB, 4,001 labels
  t.ok(attack.length > 8000);
  // count the Set lookups a match makes: each hashes its whole argument
  const orig = Set.prototype.has;
  let calls = 0;
  let hashed = 0;
  Set.prototype.has = function (this: Set<unknown>, v: unknown) {
    calls++;
    if (typeof v === 'string') hashed += v.length;
    return orig.call(this, v);
  };
  let hit: boolean;
  let sub: boolean;
  try {
    hit = ds.has(attack);
    sub = ds.has(`${'a.'.repeat(4000)}example.com`);
  } finally {
    Set.prototype.has = orig;
  }
  t.notOk(hit);
  t.ok(sub, 'a subdomain of a listed domain still matches, however deep');
  t.ok(calls <= 2 * 6, `${calls} set lookups for two 8 KB names (was one per label: 8,000)`);
  t.ok(hashed <= 2 * (attack.length + 64), `${hashed} characters hashed (was ~16 million)`);
  t.ok(ds.has('x.example.org') && ds.has('example.org') && ds.has('mail.example.net') && !ds.has('other.example.net') && !ds.has('xexample.com'));
  const h = new HeloList(['*.example.org', 'mx.example.net']);
  t.ok(h.has(`${'b.'.repeat(2720)}example.org`));
  t.notOk(h.has(`${'b.'.repeat(2720)}example.net`));
});

t.test('a reply that arrived during a stall wins over the expired hard timer', async (t) => {
  // The fake's reply is released by a timer that is overdue in the same turn as the
  // resolver's hard timer (the loop is blocked past both): libuv runs both before it
  // would read a socket. The TIMEOUT verdict waits for the next turn, so the reply wins.
  let release!: () => void;
  const fake = {
    resolve4: () => new Promise((res) => { release = () => res([{ address: '203.0.113.5', ttl: 300 }]); }),
    cancel() {},
    getServers: () => [],
  };
  const r = new CachingResolver(dnsCfg('127.0.0.1:9', { timeout: 30, tries: 1 }), { resolver: fake as never });
  t.teardown(() => r.close());
  const p = r.a('stall.example');
  setTimeout(() => release(), 45); // expires after the 30 ms hard timer
  const until = Date.now() + 100;
  while (Date.now() < until); // a stall: both timers are overdue when the loop next runs timers
  const a = await p;
  t.equal(a.status, 'ok', `answered ${a.reason}, not TIMEOUT`);
  t.equal(r.stats.timeouts, 0);
});
