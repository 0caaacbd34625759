/**
 * dns/resolver — the daemon's DNS client: node:dns (c-ares) behind a cache,
 * query coalescing, a bound on queries in flight, a hard per-query time limit
 * (one timer for all queries: a FIFO in sending order) and
 * request-scoped deadlines.
 *
 *   const dns = new CachingResolver(config.dns);
 *   const view = dns.scoped(Date.now() + config.dns.deadline);  // one per request
 *   await view.ptr('203.0.113.5')   // { status: 'ok', records: ['mail.example.net'], reason: 'NOERROR' }
 *
 * Raw lookups only (A, AAAA, MX, PTR, TXT); derived ones (FCrDNS, MX host
 * addresses) belong to the checks. Every lookup settles, never rejects, with
 * ok | notfound | tempfail; the mapping of errors lives in dns/classify.ts.
 *
 * Lookup path
 *   1. cache hit (TtlLru, key = the name or address exactly as given): the
 *      cached value is the already-settled Promise of the first lookup, so a
 *      hit creates no object at all;
 *   2. an identical query in flight: join it (stats.coalesced);
 *   3. otherwise a wire query: at most dns.max_inflight at once, and at most
 *      dns.max_inflight_per_zone of one zone (src/dns/zone.ts: registered
 *      domain, reverse /24 or /48). A query over its zone's share waits in
 *      that zone's own FIFO, so a slow or hostile zone queues behind itself,
 *      never in front of honest lookups; a query over the global limit waits
 *      in the global FIFO. All waiting queries together: at most `maxQueue`
 *      (QUEUE_FULL beyond that; a query that waited longer than dns.deadline
 *      is dropped as QUEUE_TIMEOUT, since no request can still be waiting for it).
 *   Names over 253 octets (RFC 1035 §2.3.4 after the trailing dot) are refused
 *   before anything else, as BADNAME: no cache key, no zone walk, no query.
 *   A scoped view races step 2/3 against the request deadline: when it passes,
 *   the caller gets tempfail DEADLINE while the shared query keeps running and
 *   still fills the cache for the next request. A query already on the wire
 *   whose hard timer (below) ends before the deadline needs no race: it
 *   settles in time by itself, and the request gets its promise directly.
 *
 * Bounded per answer: at most MAX_RECORDS (32) distinct records of any answer
 * are kept (A/AAAA in the server's order, MX by preference with a null MX
 * always kept, PTR in the server's order; TXT whole, see below); `omitted` counts the rest, so a
 * reason can say "(+3,968 more)". Duplicates are removed with a Set (linear).
 * What one answer costs whatever the zone sends: CPU linear in its wire size
 * (at most 65,535 bytes over TCP: c-ares parses it, we read each record once;
 * MX are sorted, n log n over at most ~4,000 records), and the cache keeps at
 * most 32 records (about 2.5 KB for 32 IPv6 addresses).
 *
 * Caching: A/AAAA for their TTL (the smallest in the RRset), MX/PTR/TXT for
 * dns.cache.default_ttl (c-ares does not give their TTL) — all clamped to
 * min_ttl..max_ttl; NOTFOUND for negative_ttl; TEMPFAIL from the wire for
 * tempfail_ttl (a few seconds at most, so an outage is not hammered but ends
 * quickly). DEADLINE, QUEUE_* and CLOSED are local conditions: never cached.
 * TXT answers (the sender domain's zone, so an attacker's) are delivered
 * whatever their size (a DNS message holds at most 64 KiB) but cached only
 * when their text is at most MAX_CACHED_TXT bytes, so the cache's bytes stay
 * bounded by its entry count.
 * The cache is bounded by dns.cache.size entries AND dns.cache.max_bytes
 * (answerBytes() estimates each entry); expired entries are swept (a few per
 * insert, and up to SWEEP_BATCH every SWEEP_EVERY_MS on an unref'd timer).
 *
 * c-ares traps handled here (measured on Node 20.20.2 / c-ares 1.34.6 against a
 * loopback test server; test/dns.test.ts holds each; upstream: Node's
 * src/cares_wrap.cc, c-ares src/lib/ares_process.c):
 *   - explicit {timeout, tries}; the defaults stall 25 s on a silent server;
 *   - c-ares doubles the timeout on every retry (total ≈ timeout × (2^tries − 1)
 *     plus a timer tick), so our own hard timer ends the lookup after
 *     timeout × tries as TIMEOUT. The c-ares query keeps its in-flight slot
 *     until c-ares gives up, so max_inflight really bounds what is on the wire;
 *     an answer arriving after the hard timer still updates the cache;
 *   - c-ares (1.22+) also SHORTENS the first try once a server has answered a
 *     few queries: 5 × its average latency, at least 250 ms, whatever
 *     dns.timeout says (src/lib/ares_metrics.c). Behind a resolver that
 *     answers most queries in milliseconds, a lookup of a slow zone ends
 *     ETIMEOUT after ~0.5 s (two tries); while the hard timer runs, such a
 *     query is sent again (stats.resent), so dns.timeout × tries stays the
 *     budget the admin set (Node 20 ignores the Resolver's maxTimeout);
 *   - resolvePtr on a name we build, never reverse(), which reports REFUSED
 *     and timeouts as ENOTFOUND (a DNS outage would look like "no PTR");
 *   - Node disables the c-ares cache, hence this one.
 *
 * What can go wrong: the constructor throws if dns.servers is refused by
 * setServers (the config schema already checked the syntax). Nothing else
 * throws; close() settles everything pending as tempfail (CANCELLED/CLOSED).
 */
import { Resolver as CallbackResolver, promises as dnsPromises } from 'node:dns';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/types.js';
import type { DnsAnswer, DnsLookup, MxRecord } from './types.js';
import { TtlLru } from './cache.js';
import {
  BADADDRESS, CLOSED, DEADLINE, NODATA, QUEUE_FULL, QUEUE_TIMEOUT, TIMEOUT,
  classifyCode, classifyError, type EmptyAnswer,
} from './classify.js';
import { canonicalIp, parseIp, type ParsedIp } from '../net/ip.js';
import { nameZone, reverseZone } from './zone.js';

/** Records kept from any one answer (see the header); the rest are counted in `omitted`. */
export const MAX_RECORDS = 32;
/** The longest name looked up: 255 octets on the wire = 253 characters of text (RFC 1035 §2.3.4). */
export const MAX_NAME_LENGTH = 253;
/** The sweep timer: how often, and how many cache entries per round at most. */
const SWEEP_EVERY_MS = 10_000;
const SWEEP_BATCH = 20_000;


export type DnsConfig = Config['dns'];

/** Record types; also the cache namespaces and the in-flight map indexes. */
const T_A = 0;
const T_AAAA = 1;
const T_MX = 2;
const T_PTR = 3;
const T_TXT = 4;
type QType = typeof T_A | typeof T_AAAA | typeof T_MX | typeof T_PTR | typeof T_TXT;
export const QUERY_TYPES = ['A', 'AAAA', 'MX', 'PTR', 'TXT'] as const;

/**
 * Largest TXT answer (sum of its records' text) that is cached. Real SPF,
 * DMARC and verification records of big domains total 1-3 KiB; a larger
 * answer is still delivered, just asked again next time.
 */
export const MAX_CACHED_TXT = 8192;

type AnyAnswer = DnsAnswer<unknown>;

/** Counters for metrics: plain numbers, only ever incremented. */
export interface DnsStats {
  /** queries sent to the wire (c-ares calls) */
  queries: number;
  /** lookups answered from the cache */
  cacheHits: number;
  /** lookups not answered from the cache (includes coalesced) */
  cacheMisses: number;
  /** misses that joined an identical query already in flight or queued */
  coalesced: number;
  /** queries that ended TIMEOUT (c-ares ETIMEOUT or our hard timer); part of tempfails */
  timeouts: number;
  /** queries that ended SERVFAIL; part of tempfails */
  servfails: number;
  /** queries (not lookups) that ended tempfail, including QUEUE_FULL / QUEUE_TIMEOUT / BADADDRESS */
  tempfails: number;
  /** queries that ended notfound (NXDOMAIN or NODATA) */
  notfound: number;
  /** lookups answered DEADLINE because their request's deadline passed */
  deadlines: number;
  /** lookups refused because the queue was full; part of tempfails */
  queueFull: number;
  /** answers that arrived after the hard timer had answered TIMEOUT (cached, not delivered) */
  lateAnswers: number;
  /** answers that held more than MAX_RECORDS distinct records (the rest were dropped) */
  truncatedAnswers: number;
  /** queries that waited because their zone had dns.max_inflight_per_zone in flight */
  zoneWaits: number;
  /** lookups refused before any query: a name over 253 octets */
  badNames: number;
  /** queries asked again after c-ares's own timeout ended them before the hard timer (part of `queries`) */
  resent: number;
}

export interface ResolverOptions {
  /** longest FIFO of queries waiting for a slot (default 20 × max_inflight, at least 100) */
  maxQueue?: number;
  /** for tests: a prepared node:dns promises Resolver (servers already set), called through callbackShape() */
  resolver?: InstanceType<typeof dnsPromises.Resolver>;
}

/** One query (wire, queued, or settled); shared by every coalesced lookup. @internal */
export interface Query {
  readonly type: QType;
  /** cache / coalescing key: the name or address as the caller gave it */
  readonly key: string;
  /** the name sent on the wire (the arpa name for PTR) */
  readonly qname: string;
  readonly promise: Promise<AnyAnswer>;
  resolve: (a: AnyAnswer) => void;
  settled: boolean;
  /** on the hard-timer FIFO (sent, its timeout x tries not yet over, not settled) */
  timed: boolean;
  /** the hard-timer FIFO's links (CachingResolver.timedHead / timedTail) */
  prevT: Query | undefined;
  nextT: Query | undefined;
  readonly queuedAt: number;
  /**
   * when send() put it on the wire (performance.now(): monotonic ms; the hard
   * timer runs from here). Not Date.now(): the FIFO's timer compares it with
   * the time when it fires, and a wall clock stepped back (NTP, `date -s`)
   * would keep every query on the wire, and a request that skipped the
   * deadline race because of it, waiting for as long as the step.
   */
  sentAt: number;
  /** the zone whose share this query counts against (set once the query is admitted) */
  zone: Zone | undefined;
}

/** One zone's share of the wire (src/dns/zone.ts): admitted queries and the FIFO waiting for the zone. */
interface Zone {
  readonly key: string;
  /** queries of this zone on the wire or in the global queue */
  admitted: number;
  waiting: Query[];
  whead: number;
}

const TTL_OPT = { ttl: true } as const;
/**
 * How much earlier than a request's deadline a query's hard timer must end
 * for the request to skip the deadline race (lookup()): room for the
 * timer's own lateness and the one event-loop turn its TIMEOUT waits.
 */
const RACE_MARGIN_MS = 250;
const MAX_TIMER = 2 ** 31 - 1;

/** What a node:dns callback-API query calls back with. */
type WireCallback = (err: Error | null, records?: unknown) => void;

/** The node:dns Resolver methods the resolver uses, callback API (node:dns Resolver). */
interface WireResolver {
  resolve4(name: string, opts: typeof TTL_OPT, cb: WireCallback): void;
  resolve6(name: string, opts: typeof TTL_OPT, cb: WireCallback): void;
  resolveMx(name: string, cb: WireCallback): void;
  resolveTxt(name: string, cb: WireCallback): void;
  resolvePtr(name: string, cb: WireCallback): void;
  getServers(): string[];
  cancel(): void;
}

/**
 * A prepared node:dns promises Resolver (ResolverOptions.resolver: tests'
 * fakes) in the callback shape wire() calls. Each method is looked up when
 * called, so a fake may implement only what its test asks; a method that
 * throws still throws into wire(), as node:dns's own do.
 */
function callbackShape(p: InstanceType<typeof dnsPromises.Resolver>): WireResolver {
  const call = (f: Promise<unknown>, cb: WireCallback): void => {
    f.then((r) => cb(null, r), (e: unknown) => cb(e as Error));
  };
  return {
    resolve4: (n, o, cb) => call(p.resolve4(n, o), cb),
    resolve6: (n, o, cb) => call(p.resolve6(n, o), cb),
    resolveMx: (n, cb) => call(p.resolveMx(n), cb),
    resolveTxt: (n, cb) => call(p.resolveTxt(n), cb),
    resolvePtr: (n, cb) => call(p.resolvePtr(n), cb),
    getServers: () => p.getServers(),
    cancel: () => p.cancel(),
  };
}

/** Settled promises for the local tempfail outcomes: created once, returned as often as needed. */
const DEADLINE_P: Promise<EmptyAnswer> = Promise.resolve(DEADLINE);
const CLOSED_P: Promise<EmptyAnswer> = Promise.resolve(CLOSED);

const BADNAME = classifyCode('EBADNAME');
const BADNAME_P: Promise<EmptyAnswer> = Promise.resolve(BADNAME);

function normName(n: string): string {
  const l = n.toLowerCase();
  return l.length > 1 && l.endsWith('.') ? l.slice(0, -1) : l;
}

/** Longer than a DNS name can be (one trailing dot allowed)? */
function tooLong(name: string): boolean {
  return name.length > MAX_NAME_LENGTH && !(name.length === MAX_NAME_LENGTH + 1 && name.endsWith('.'));
}

/**
 * What a cache entry keeps alive, in bytes (the estimate dns.cache.max_bytes
 * counts): the list node (with its boxed `expires`), the map slot, the key,
 * the settled promise and, for a real answer, the answer object, its array and
 * each record. Shared empty answers cost only the entry itself. Constants
 * measured on Node 20 (64-bit, no pointer compression, as Node ships it):
 * heapUsed after a full GC, 50,000 entries of each kind, in bytes per entry:
 * NODATA 273, one AAAA 432, one MX 486 (this estimate: 280 / 461 / 507 for a
 * 23-character key). Before (issue 11) the estimate assumed pointer
 * compression and was 25-30 % below the real size.
 */
export function answerBytes(key: string, a: AnyAnswer): number {
  let n = 232 + 2 * key.length; // two bytes a character: a name with a non-Latin-1 character is a two-byte string
  if (a.status !== 'ok') return n;
  n += 112 + 8 * a.records.length;
  for (const r of a.records) n += typeof r === 'string' ? 24 + 2 * r.length : 64 + 2 * (r as MxRecord).exchange.length;
  return n;
}

/** in-addr.arpa / ip6.arpa name for an address; IPv4-mapped IPv6 -> in-addr.arpa. null if not an address. */
export function reverseName(address: string): string | null {
  const p = parseIp(address);
  return p === null ? null : arpaOf(p);
}

function arpaOf(p: ParsedIp): string {
  if (p.family === 4) {
    const o = p.text.split('.');
    return `${o[3]}.${o[2]}.${o[1]}.${o[0]}.in-addr.arpa`;
  }
  const hex = p.value.toString(16).padStart(32, '0');
  for (let i = 0; i < 32; i++) ARPA6[2 * i] = hex.charCodeAt(31 - i);
  return String.fromCharCode.apply(null, ARPA6);
}

/**
 * The char codes of an ip6.arpa name: 32 nibbles each followed by ".", then
 * "ip6.arpa"; arpaOf() fills in the nibbles (synchronous, so one module array
 * serves every call) and makes the name with one String.fromCharCode. Why:
 * the loop of `out += nibble + "."` made ~64 strings per IPv6 PTR query,
 * ~1.5 KB per never-seen IPv6 identity (issue 11 §2, bench/coldpath.mjs
 * --alloc-sites).
 */
const ARPA6: number[] = Array.from('0.'.repeat(32) + 'ip6.arpa', (c) => c.charCodeAt(0));

export class CachingResolver implements DnsLookup {
  readonly stats: DnsStats = {
    queries: 0, cacheHits: 0, cacheMisses: 0, coalesced: 0, timeouts: 0, servfails: 0,
    tempfails: 0, notfound: 0, deadlines: 0, queueFull: 0, lateAnswers: 0,
    truncatedAnswers: 0, zoneWaits: 0, badNames: 0, resent: 0,
  };

  private readonly res: WireResolver;
  private readonly cache: TtlLru<Promise<AnyAnswer>>;
  /** queries in flight or queued, per type: key -> query (for coalescing) */
  private readonly pending: Array<Map<string, Query>> = [new Map(), new Map(), new Map(), new Map(), new Map()];
  /** FIFO of zone-admitted queries waiting for a global slot; `qhead` is the next to run (no O(n) shift()) */
  private queue: Query[] = [];
  private qhead = 0;
  /** zones with admitted or waiting queries (an entry goes when both are zero: bounded by the queries) */
  private readonly zones = new Map<string, Zone>();
  /** queries waiting in some zone's FIFO */
  private zoneWaiting = 0;
  /** wire queries c-ares still holds (released when c-ares settles, not at our hard timer) */
  private active = 0;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  /**
   * The hard timers of all queries on the wire: one FIFO and one Node timer.
   * Every query gets the same dns.timeout x dns.tries from its send, so the
   * order of sending is the order of expiry; the timer is armed for the head
   * only. Why not a setTimeout per query, as before: a Timeout object (~230
   * bytes) and a timer-list insert and removal per query, 6 per never-seen
   * identity (issue 11 §2: docs/bench.md 'Cold path, third pass').
   */
  private timedHead: Query | undefined;
  private timedTail: Query | undefined;
  private hardTimer: NodeJS.Timeout | undefined;

  private readonly maxInflight: number;
  private readonly maxPerZone: number;
  private readonly maxQueue: number;
  private readonly hardTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly queueWaitMs: number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly defaultTtl: number;
  private readonly negativeTtl: number;
  private readonly tempfailTtl: number;

  constructor(cfg: DnsConfig, opts: ResolverOptions = {}) {
    this.maxInflight = cfg.max_inflight;
    this.maxPerZone = Math.min(cfg.max_inflight_per_zone, cfg.max_inflight);
    this.maxQueue = opts.maxQueue ?? Math.max(100, 20 * cfg.max_inflight);
    this.hardTimeoutMs = cfg.timeout * cfg.tries;
    this.timeoutMs = cfg.timeout;
    this.queueWaitMs = cfg.deadline;
    this.minTtl = cfg.cache.min_ttl;
    this.maxTtl = Math.max(cfg.cache.max_ttl, cfg.cache.min_ttl);
    this.defaultTtl = this.clampTtl(cfg.cache.default_ttl);
    this.negativeTtl = cfg.cache.negative_ttl;
    this.tempfailTtl = cfg.cache.tempfail_ttl;
    this.cache = new TtlLru(cfg.cache.size, QUERY_TYPES.length, cfg.cache.max_bytes);
    if (cfg.cache.size > 0) {
      this.sweeper = setInterval(sweepCache, SWEEP_EVERY_MS, this.cache);
      this.sweeper.unref();
    }
    if (opts.resolver) {
      this.res = callbackShape(opts.resolver);
    } else {
      const res = new CallbackResolver({ timeout: cfg.timeout, tries: cfg.tries });
      if (cfg.servers.length > 0) res.setServers(cfg.servers);
      this.res = res as unknown as WireResolver;
    }
  }

  // --- DnsLookup (unscoped: no request deadline) ---------------------------------

  a(name: string): Promise<DnsAnswer<string>> {
    return this.lookup(T_A, name, null) as Promise<DnsAnswer<string>>;
  }
  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.lookup(T_AAAA, name, null) as Promise<DnsAnswer<string>>;
  }
  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.lookup(T_MX, name, null) as Promise<DnsAnswer<MxRecord>>;
  }
  ptr(address: string): Promise<DnsAnswer<string>> {
    return this.lookup(T_PTR, address, null) as Promise<DnsAnswer<string>>;
  }
  txt(name: string): Promise<DnsAnswer<string>> {
    return this.lookup(T_TXT, name, null) as Promise<DnsAnswer<string>>;
  }

  /** The request-scoped view: every lookup settles by deadlineAt (epoch ms) at the latest. */
  scoped(deadlineAt: number): ScopedDns {
    return new ScopedDns(this, deadlineAt);
  }

  /** DNS servers in use (config, or the system's). */
  servers(): string[] {
    return this.res.getServers();
  }

  get inflight(): number {
    return this.active;
  }
  /** Whether the shared hard timer is armed (for tests: none while no query is on the wire). */
  get hardTimerArmed(): boolean {
    return this.hardTimer !== undefined;
  }
  /** queries waiting: for a global slot, or for their zone's share */
  get queued(): number {
    return this.queue.length - this.qhead + this.zoneWaiting;
  }
  /** zones with queries admitted or waiting now */
  get zonesActive(): number {
    return this.zones.size;
  }
  /** queries of one zone (a zone key, src/dns/zone.ts) admitted now: for tests and diagnostics */
  zoneInflight(zone: string): number {
    return this.zones.get(zone)?.admitted ?? 0;
  }
  get cacheSize(): number {
    return this.cache.size;
  }
  /** estimated bytes held by the cache (answerBytes) */
  get cacheBytes(): number {
    return this.cache.bytes;
  }
  /** expired cache entries freed by the sweep since start */
  get cacheSwept(): number {
    return this.cache.swept;
  }
  get cacheEvictions(): number {
    return this.cache.evictions;
  }

  /** Whether a live cache entry exists (no recency update, no stats). For tests and diagnostics. */
  isCached(type: (typeof QUERY_TYPES)[number], key: string): boolean {
    return this.cache.has(QUERY_TYPES.indexOf(type), key, Date.now());
  }

  /** Drop expired cache entries now (the timer does it every SWEEP_EVERY_MS); returns how many. */
  sweep(max = SWEEP_BATCH): number {
    return this.cache.sweep(Date.now(), max);
  }

  /** Cancel everything: pending lookups settle tempfail (CANCELLED / CLOSED); later lookups answer CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    if (this.hardTimer !== undefined) clearTimeout(this.hardTimer);
    this.hardTimer = undefined;
    for (let i = this.qhead; i < this.queue.length; i++) this.settle(this.queue[i]!, CLOSED, 0);
    this.queue = [];
    this.qhead = 0;
    for (const z of this.zones.values()) for (let i = z.whead; i < z.waiting.length; i++) this.settle(z.waiting[i]!, CLOSED, 0);
    this.zones.clear();
    this.zoneWaiting = 0;
    for (const m of this.pending) for (const q of [...m.values()]) this.settle(q, CLOSED, 0);
    this.res.cancel(); // c-ares rejects what it holds with ECANCELLED; those queries are settled already
    this.cache.clear();
  }

  // --- internals ------------------------------------------------------------------

  /**
   * The one lookup path. Hot path (cache hit): Map lookup + expiry compare +
   * list splice, returning the stored settled Promise; nothing is allocated.
   * @internal used by ScopedDns
   */
  lookup(type: QType, key: string, scope: ScopedDns | null): Promise<AnyAnswer> {
    if (typeof key === 'string' && tooLong(key)) {
      this.stats.badNames++;
      return BADNAME_P;
    }
    const hit = this.cache.get(type, key, Date.now());
    if (hit !== undefined) {
      this.stats.cacheHits++;
      if (scope !== null) scope.hits++;
      return hit;
    }
    this.stats.cacheMisses++;
    if (this.closed) return CLOSED_P;
    let q = this.pending[type]!.get(key);
    if (q !== undefined) {
      this.stats.coalesced++;
    } else {
      q = this.start(type, key);
      // a query on the wire or queued never settles synchronously; QUEUE_FULL / BADADDRESS do
      if (scope !== null && !q.settled) scope.sent++;
    }
    if (scope === null) return q.promise;
    scope.misses++;
    if (q.settled) return q.promise;
    // On the wire, with its hard timer (dns.timeout x dns.tries from its send)
    // ending at least RACE_MARGIN_MS before this request's deadline: the query
    // itself settles in time (TIMEOUT at the latest), so the request gets its
    // promise as it is, without a deadline race. Why: the race was a promise,
    // a waiter, its callback and a promise reaction per lookup, and a timer per
    // request, for an outcome the hard timer already guarantees; with the
    // defaults (2 s of tries, 5 s deadline) every lookup sent in a request's
    // first ~3 s, i.e. nearly all of them (issue 11 §2: bench/coldpath.mjs,
    // docs/bench.md 'Cold path, third pass'). A query still queued (it may
    // wait up to dns.deadline for a slot) or sent too late races as before.
    // (sentAt is monotonic, the deadline epoch ms: each compared with its own clock's now)
    if (q.timed && q.sentAt + this.hardTimeoutMs + RACE_MARGIN_MS - performance.now() <= scope.deadlineAt - Date.now()) return q.promise;
    return scope.race(q.promise);
  }

  private start(type: QType, key: string): Query {
    let qname = key;
    let zoneKey: string;
    if (type === T_PTR) {
      const ip = typeof key === 'string' ? parseIp(key) : null;
      if (ip === null) {
        this.stats.tempfails++;
        return settledQuery(type, key, BADADDRESS);
      }
      qname = arpaOf(ip);
      zoneKey = reverseZone(ip);
    } else {
      zoneKey = typeof key === 'string' ? nameZone(normName(key)) : '';
    }
    let zone = this.zones.get(zoneKey);
    const zoneFull = zone !== undefined && zone.admitted >= this.maxPerZone;
    // One zone's FIFO may hold at most a quarter of maxQueue: a hostile zone cannot fill the queue for everyone.
    if ((zoneFull || this.active >= this.maxInflight) &&
      (this.queued >= this.maxQueue || (zoneFull && zone!.waiting.length - zone!.whead >= this.maxQueue >> 2))) {
      this.stats.queueFull++;
      this.stats.tempfails++;
      return settledQuery(type, key, QUEUE_FULL);
    }
    let resolve!: (a: AnyAnswer) => void;
    const promise = new Promise<AnyAnswer>((r) => (resolve = r));
    const q: Query = { type, key, qname, promise, resolve, settled: false, timed: false, prevT: undefined, nextT: undefined, queuedAt: Date.now(), sentAt: 0, zone: undefined };
    this.pending[type]!.set(key, q);
    if (zone === undefined) {
      zone = { key: zoneKey, admitted: 0, waiting: [], whead: 0 };
      this.zones.set(zoneKey, zone);
    }
    if (zoneFull) {
      this.stats.zoneWaits++;
      zone.waiting.push(q);
      this.zoneWaiting++;
    } else {
      this.admit(q, zone);
    }
    return q;
  }

  /** Count q against its zone's share, then send it or queue it for a global slot. */
  private admit(q: Query, zone: Zone): void {
    q.zone = zone;
    zone.admitted++;
    if (this.active < this.maxInflight) this.send(q);
    else this.queue.push(q);
  }

  /**
   * A query of `zone` left the wire (or the global queue): admit the zone's
   * next waiting query. Waiting queries already settled (closed) or older than
   * dns.deadline (QUEUE_TIMEOUT: nobody waits for them any more) are skipped.
   */
  private leaveZone(zone: Zone): void {
    zone.admitted--;
    while (zone.admitted < this.maxPerZone && zone.whead < zone.waiting.length) {
      const q = zone.waiting[zone.whead]!;
      zone.waiting[zone.whead++] = undefined as unknown as Query; // let it be collected
      this.zoneWaiting--;
      if (q.settled) continue;
      if (Date.now() - q.queuedAt > this.queueWaitMs) {
        this.settle(q, QUEUE_TIMEOUT, 0);
        continue;
      }
      this.admit(q, zone);
    }
    if (zone.whead > 64 && zone.whead * 2 > zone.waiting.length) {
      zone.waiting = zone.waiting.slice(zone.whead);
      zone.whead = 0;
    }
    if (zone.admitted === 0 && zone.whead >= zone.waiting.length && this.zones.get(zone.key) === zone) this.zones.delete(zone.key);
  }

  /** Put one query on the wire. */
  private send(q: Query): void {
    this.active++;
    q.sentAt = performance.now();
    this.startHardTimer(q);
    this.wire(q);
  }

  /** Put q (just sent) at the tail of the hard-timer FIFO; arm the timer when none runs. */
  private startHardTimer(q: Query): void {
    q.timed = true;
    q.prevT = this.timedTail;
    q.nextT = undefined;
    if (this.timedTail !== undefined) this.timedTail.nextT = q;
    else this.timedHead = q;
    this.timedTail = q;
    if (this.hardTimer === undefined) this.hardTimer = setTimeout(onHardTimers, this.hardTimeoutMs, this);
  }

  /**
   * Take q off the hard-timer FIFO (settled, or its time is over). While other
   * queries wait the timer stays (it re-arms for the head when it fires); with
   * none left it is cleared, so an idle resolver holds no timer (a CLI command
   * exits at once, as with a timer per query).
   */
  private untime(q: Query): void {
    q.timed = false;
    if (q.prevT !== undefined) q.prevT.nextT = q.nextT;
    else this.timedHead = q.nextT;
    if (q.nextT !== undefined) q.nextT.prevT = q.prevT;
    else this.timedTail = q.prevT;
    q.prevT = q.nextT = undefined;
    if (this.timedHead === undefined && this.hardTimer !== undefined) {
      clearTimeout(this.hardTimer);
      this.hardTimer = undefined;
    }
  }

  /**
   * @internal The hard timer fired: every query whose dns.timeout x dns.tries
   * is over leaves the FIFO and gets TIMEOUT one event-loop turn later
   * (settleTimeout); the timer is armed again for the new head, if any.
   */
  hardTimersDue(): void {
    this.hardTimer = undefined;
    if (this.closed) return;
    const now = performance.now();
    let q = this.timedHead;
    while (q !== undefined && q.sentAt + this.hardTimeoutMs <= now) {
      const next = q.nextT;
      this.untime(q);
      setImmediate(settleTimeout, this, q);
      q = next;
    }
    if (q !== undefined) this.hardTimer = setTimeout(onHardTimers, Math.max(1, q.sentAt + this.hardTimeoutMs - now), this);
  }

  /**
   * One c-ares call for q (its first, or a re-send within the hard timer: see
   * wired()). node:dns's callback API, not its promises: per query that saves
   * the promise node:dns makes (its executor and resolve/reject functions), the
   * promise `.then` derived from it with our two handlers, and a microtask;
   * one callback per call instead (issue 11 §2, docs/bench.md 'Cold path,
   * third pass').
   */
  private wire(q: Query): void {
    this.stats.queries++;
    const done: WireCallback = (err, records) => this.wired(q, err, records);
    try {
      switch (q.type) {
        case T_A: this.res.resolve4(q.qname, TTL_OPT, done); break;
        case T_AAAA: this.res.resolve6(q.qname, TTL_OPT, done); break;
        case T_MX: this.res.resolveMx(q.qname, done); break;
        case T_TXT: this.res.resolveTxt(q.qname, done); break;
        default: this.res.resolvePtr(q.qname, done); break;
      }
    } catch (err) {
      // e.g. a TypeError for a non-string name: still an answer, never a throw,
      // and never before the caller has the query (as a rejected promise was)
      queueMicrotask(() => done(err as Error, undefined));
    }
  }

  /** The answer (or error) of one c-ares call for q. */
  private wired(q: Query, err: Error | null, records: unknown): void {
    if (err === null || err === undefined) {
      this.release(q);
      try {
        this.answered(q, records);
      } catch {
        this.settle(q, classifyCode('EBADRESP'), this.tempfailTtl); // records of an unexpected shape
      }
      return;
    }
    const a = classifyError(err);
    // c-ares gave up before our hard timer (dns.timeout x dns.tries) did: ask
    // again, keeping the slot. c-ares 1.22+ times a try out after 5 x the
    // server's average latency, at least 250 ms (src/lib/ares_metrics.c), not
    // after dns.timeout; behind a resolver that usually answers in a few ms,
    // a lookup whose two tries both take longer (a distant authoritative
    // server) ended ETIMEOUT after ~0.5 s (measured: 4 of 78,480 queries
    // against the bench DNS server at 2.5-7.5 ms with 1 % at 300 ms), and a
    // good client got DEFER_IF_PERMIT. Bounded: only while the hard timer
    // runs (q.timed) AND at least one dns.timeout of it is left, so a lookup
    // still ends by timeout x tries, a silent server (c-ares then waits the
    // whole configured timeouts) is never asked again, and one lookup makes
    // at most about timeout x tries / 0.5 s c-ares calls.
    if (a === TIMEOUT && !q.settled && q.timed && !this.closed && performance.now() - q.sentAt <= this.hardTimeoutMs - this.timeoutMs) {
      this.stats.resent++;
      this.wire(q);
      return;
    }
    this.release(q);
    this.settle(q, a, a.status === 'notfound' ? this.negativeTtl : this.tempfailTtl);
  }

  /** A c-ares query finished: free its global slot and its zone's, and start waiting work. */
  private release(done: Query): void {
    this.active--;
    if (this.closed) return;
    if (done.zone !== undefined) this.leaveZone(done.zone);
    while (this.active < this.maxInflight && this.qhead < this.queue.length) {
      const q = this.queue[this.qhead]!;
      this.queue[this.qhead++] = undefined as unknown as Query; // let it be collected
      if (this.qhead > 1024 && this.qhead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.qhead);
        this.qhead = 0;
      }
      if (q.settled) {
        if (q.zone !== undefined) this.leaveZone(q.zone);
        continue;
      }
      if (Date.now() - q.queuedAt > this.queueWaitMs) {
        this.settle(q, QUEUE_TIMEOUT, 0);
        if (q.zone !== undefined) this.leaveZone(q.zone);
        continue;
      }
      this.send(q);
    }
  }

  /** Normalise records into an ok answer with its cache TTL. */
  private answered(q: Query, raw: unknown): void {
    const list = raw as unknown[];
    if (!Array.isArray(list) || list.length === 0) {
      this.settle(q, NODATA, this.negativeTtl);
      return;
    }
    let records: unknown[];
    let omitted = 0;
    let ttl = this.defaultTtl;
    // Duplicates go through a Set (linear; includes() on an attacker's 4,000
    // records was quadratic). Only the first MAX_RECORDS distinct records are
    // kept; the scan stops there and the rest is counted, not read.
    switch (q.type) {
      case T_A:
      case T_AAAA: {
        if (list.length === 1) {
          // One record (most answers): no Set, no spread, nothing to de-duplicate.
          const r = list[0] as { address: string; ttl: number };
          records = [q.type === T_A ? r.address : (canonicalIp(r.address) ?? r.address.toLowerCase())];
          ttl = this.clampTtl((r.ttl < Infinity ? r.ttl : Infinity) * 1000); // as the loop below: a TTL that is no number counts as none
          break;
        }
        let minTtl = Infinity;
        const seen = new Set<string>();
        let i = 0;
        for (; i < list.length && seen.size < MAX_RECORDS; i++) {
          const r = list[i] as { address: string; ttl: number };
          if (r.ttl < minTtl) minTtl = r.ttl;
          seen.add(q.type === T_A ? r.address : (canonicalIp(r.address) ?? r.address.toLowerCase()));
        }
        omitted = list.length - i;
        records = [...seen];
        ttl = this.clampTtl(minTtl * 1000);
        break;
      }
      case T_MX: {
        const all: MxRecord[] = [];
        for (const r of list as Array<{ exchange: string; priority: number }>) {
          const ex = normName(r.exchange);
          all.push({ exchange: ex === '.' ? '' : ex, priority: r.priority });
        }
        all.sort((x, y) => x.priority - y.priority); // stable: equal priorities keep the server's order
        const seen = new Set<string>();
        const mx: MxRecord[] = [];
        let nullMx: MxRecord | undefined;
        for (const r of all) {
          if (seen.has(r.exchange)) continue;
          seen.add(r.exchange);
          if (r.exchange === '') nullMx = r;
          if (mx.length < MAX_RECORDS) mx.push(Object.freeze(r));
        }
        // RFC 7505: a null MX anywhere makes the domain null-MX; it survives the bound.
        if (nullMx !== undefined && !mx.includes(nullMx)) mx[mx.length - 1] = Object.freeze(nullMx);
        omitted = seen.size - mx.length;
        records = mx;
        break;
      }
      case T_TXT: {
        // one string per record: its <character-string>s joined without spaces
        // (RFC 7208 §3.3); duplicates kept (two equal SPF records are still two)
        let bytes = 0;
        const texts: string[] = [];
        for (const chunks of list as string[][]) {
          const text = Array.isArray(chunks) ? chunks.join('') : String(chunks);
          bytes += text.length;
          texts.push(text);
        }
        records = texts;
        if (bytes > MAX_CACHED_TXT) ttl = 0;
        break;
      }
      default: {
        if (list.length === 1) {
          records = [normName(list[0] as string)]; // one PTR name (most answers): no Set, no spread
          break;
        }
        const seen = new Set<string>();
        let i = 0;
        for (; i < list.length && seen.size < MAX_RECORDS; i++) seen.add(normName(list[i] as string));
        omitted = list.length - i;
        records = [...seen];
        break;
      }
    }
    if (omitted > 0) this.stats.truncatedAnswers++;
    // Frozen: the same answer object is handed to every caller and kept in the cache.
    const answer: AnyAnswer = omitted > 0
      ? { status: 'ok', records: Object.freeze(records), reason: 'NOERROR', omitted }
      : { status: 'ok', records: Object.freeze(records), reason: 'NOERROR' };
    this.settle(q, Object.freeze(answer), ttl);
  }

  /** @internal Deliver an answer to every lookup waiting on q and cache it for ttlMs. */
  settle(q: Query, answer: AnyAnswer, ttlMs: number): void {
    if (q.settled) {
      // c-ares answered after our hard timer: deliver nothing, but keep a real answer for the next request.
      if (answer.status !== 'tempfail' && !this.closed) {
        this.stats.lateAnswers++;
        this.cache.set(q.type, q.key, Promise.resolve(answer), ttlMs, Date.now(), answerBytes(q.key, answer));
      }
      return;
    }
    q.settled = true;
    if (q.timed) this.untime(q);
    const m = this.pending[q.type]!;
    if (m.get(q.key) === q) m.delete(q.key);
    if (answer.status === 'notfound') this.stats.notfound++;
    else if (answer.status === 'tempfail' && answer !== CLOSED) {
      this.stats.tempfails++;
      if (answer === TIMEOUT) this.stats.timeouts++;
      else if (answer.reason === 'SERVFAIL') this.stats.servfails++;
    }
    q.resolve(answer);
    // The query's own promise is now settled: it IS the cache value (no new Promise).
    if (ttlMs > 0 && !this.closed) this.cache.set(q.type, q.key, q.promise, ttlMs, Date.now(), answerBytes(q.key, answer));
  }

  private clampTtl(ms: number): number {
    return ms < this.minTtl ? this.minTtl : ms > this.maxTtl ? this.maxTtl : ms;
  }

  /** @internal for ScopedDns */
  countDeadline(): void {
    this.stats.deadlines++;
  }

  /** @internal */
  get tempfailTtlMs(): number {
    return this.tempfailTtl;
  }
}

/**
 * The hard timer's callback (arguments instead of a closure). Each expired
 * query's TIMEOUT verdict waits one event-loop turn (setImmediate runs after
 * the poll phase): libuv runs expired timers BEFORE it reads sockets, so after a
 * stall (GC, a starved process) a reply already sitting in c-ares's socket
 * would otherwise lose to the timer and a good client be deferred (issue 11:
 * the DEFER_IF_PERMITs of the cold load were PTR TIMEOUTs against a server
 * that answers within 300 ms).
 */
function onHardTimers(r: CachingResolver): void {
  r.hardTimersDue();
}

function settleTimeout(r: CachingResolver, q: Query): void {
  r.settle(q, TIMEOUT, r.tempfailTtlMs); // a no-op when the reply was read in the poll phase in between
}

function sweepCache(cache: TtlLru<Promise<AnyAnswer>>): void {
  cache.sweep(Date.now(), SWEEP_BATCH);
}

function settledQuery(type: QType, key: string, answer: EmptyAnswer): Query {
  return { type, key, qname: key, promise: Promise.resolve(answer), resolve: noop, settled: true, timed: false, prevT: undefined, nextT: undefined, queuedAt: 0, sentAt: 0, zone: undefined };
}
function noop(): void {}

/**
 * The request-scoped view the checks get (CheckContext.dns). Lookups answered
 * from the cache return at once even after the deadline; a query on the wire
 * whose hard timer ends before the deadline is returned as it is (it settles
 * in time by itself: CachingResolver.lookup); anything else races the
 * deadline and settles tempfail DEADLINE when it passes. `done()` settles
 * only lookups that race; the others end by their hard timer, still before
 * the deadline.
 *
 * Releases itself (issue 11): one unref'd timer per view, armed by the first
 * lookup that has to wait and cleared as soon as no lookup of the view is
 * pending; the waiters are kept in one array that is emptied at the same
 * moment. So once a request's lookups have answered (before its answer is
 * written) or its deadline has passed, the view holds no timer, no closure and
 * no promise: nothing of the request outlives it. (Before: a deadline promise
 * per view whose timer ran the full dns.deadline, 5 s, holding every lookup's
 * reactions of 5,000 requests at 1,000 requests/s.)
 * `done()` settles what is still pending as DEADLINE and frees it at once
 * (for callers that give up early).
 * hits / misses / sent count this request's lookups, for the decision log and
 * `policyd-identity test` ("DNS: 7 lookups, 5 cached, 2 queries").
 */
export class ScopedDns implements DnsLookup {
  /** lookups this view answered from the cache */
  hits = 0;
  /** lookups that were not cache hits (joined a query, started one, or failed locally) */
  misses = 0;
  /** queries this view started (on the wire or queued for it); misses - sent joined someone else's */
  sent = 0;
  private timer: NodeJS.Timeout | undefined;
  /** lookups racing the deadline now; emptied when the last settles */
  private waiters: Waiter[] = [];
  private open = 0;

  constructor(
    private readonly r: CachingResolver,
    readonly deadlineAt: number,
  ) {}

  a(name: string): Promise<DnsAnswer<string>> {
    return this.r.lookup(T_A, name, this) as Promise<DnsAnswer<string>>;
  }
  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.r.lookup(T_AAAA, name, this) as Promise<DnsAnswer<string>>;
  }
  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.r.lookup(T_MX, name, this) as Promise<DnsAnswer<MxRecord>>;
  }
  ptr(address: string): Promise<DnsAnswer<string>> {
    return this.r.lookup(T_PTR, address, this) as Promise<DnsAnswer<string>>;
  }
  txt(name: string): Promise<DnsAnswer<string>> {
    return this.r.lookup(T_TXT, name, this) as Promise<DnsAnswer<string>>;
  }

  /** Lookups of this view still waiting for an answer (0 once released). */
  get pending(): number {
    return this.open;
  }
  /** Whether the view holds a deadline timer now (for tests). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Give up: pending lookups settle DEADLINE now, and the timer is cleared. */
  done(): void {
    this.expire(false);
  }

  /** @internal the deadline timer fired */
  expire(counted = true): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const ws = this.waiters;
    this.waiters = [];
    this.open = 0;
    for (const w of ws) {
      if (w.done) continue;
      w.done = true;
      if (counted) this.r.countDeadline();
      w.resolve(DEADLINE);
    }
  }

  /** @internal one waiter answered */
  settled(): void {
    if (--this.open === 0) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.waiters = [];
    }
  }

  /** @internal Race a shared query against this request's deadline (cold path). */
  race(p: Promise<AnyAnswer>): Promise<AnyAnswer> {
    const left = this.deadlineAt - Date.now();
    if (!(left > 0)) {
      this.r.countDeadline();
      return DEADLINE_P;
    }
    if (left >= MAX_TIMER) return p; // no practical deadline (also Infinity); a NaN deadline counts as passed above
    if (this.timer === undefined) {
      // setTimeout with an argument instead of a closure: nothing allocated but the timer
      this.timer = setTimeout(onScopeDeadline, left, this);
      this.timer.unref();
    }
    this.open++;
    return new Promise<AnyAnswer>((resolve) => {
      const w = new Waiter(this, resolve);
      this.waiters.push(w);
      p.then(w.answer);
    });
  }
}

/** One lookup racing its view's deadline. */
class Waiter {
  done = false;
  constructor(
    readonly scope: ScopedDns,
    readonly resolve: (a: AnyAnswer) => void,
  ) {}

  /** p.then callback: an arrow property, so one function per waiter and no extra closure */
  readonly answer = (a: AnyAnswer): void => {
    if (this.done) return;
    this.done = true;
    this.resolve(a);
    this.scope.settled();
  };
}

function onScopeDeadline(scope: ScopedDns): void {
  scope.expire(true);
}
