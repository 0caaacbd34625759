/**
 * dns/resolver — the daemon's DNS client: node:dns (c-ares) behind a cache,
 * query coalescing, a bound on queries in flight, a hard per-query timer and
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
 *   3. otherwise a wire query: at most dns.max_inflight at once, the rest wait
 *      in a FIFO queue of at most `maxQueue` (QUEUE_FULL beyond that; a query
 *      that waited longer than dns.deadline is dropped as QUEUE_TIMEOUT, since
 *      no request can still be waiting for it).
 *   A scoped view races step 2/3 against the request deadline: when it passes,
 *   the caller gets tempfail DEADLINE while the shared query keeps running and
 *   still fills the cache for the next request.
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
 *   - resolvePtr on a name we build, never reverse(), which reports REFUSED
 *     and timeouts as ENOTFOUND (a DNS outage would look like "no PTR");
 *   - Node disables the c-ares cache, hence this one.
 *
 * What can go wrong: the constructor throws if dns.servers is refused by
 * setServers (the config schema already checked the syntax). Nothing else
 * throws; close() settles everything pending as tempfail (CANCELLED/CLOSED).
 */
import { promises as dnsPromises } from 'node:dns';
import type { Config } from '../config/types.js';
import type { DnsAnswer, DnsLookup, MxRecord } from './types.js';
import { TtlLru } from './cache.js';
import {
  BADADDRESS, CLOSED, DEADLINE, NODATA, QUEUE_FULL, QUEUE_TIMEOUT, TIMEOUT,
  classifyCode, classifyError, type EmptyAnswer,
} from './classify.js';
import { canonicalIp, parseIp } from '../net/ip.js';

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
}

export interface ResolverOptions {
  /** longest FIFO of queries waiting for a slot (default 20 × max_inflight, at least 100) */
  maxQueue?: number;
  /** for tests: a prepared node:dns Resolver (servers already set) */
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
  timer: NodeJS.Timeout | undefined;
  readonly queuedAt: number;
}

const TTL_OPT = { ttl: true } as const;
const MAX_TIMER = 2 ** 31 - 1;

/** Settled promises for the local tempfail outcomes: created once, returned as often as needed. */
const DEADLINE_P: Promise<EmptyAnswer> = Promise.resolve(DEADLINE);
const CLOSED_P: Promise<EmptyAnswer> = Promise.resolve(CLOSED);

function normName(n: string): string {
  const l = n.toLowerCase();
  return l.length > 1 && l.endsWith('.') ? l.slice(0, -1) : l;
}

/** in-addr.arpa / ip6.arpa name for an address; IPv4-mapped IPv6 -> in-addr.arpa. null if not an address. */
export function reverseName(address: string): string | null {
  const p = parseIp(address);
  if (p === null) return null;
  if (p.family === 4) {
    const o = p.text.split('.');
    return `${o[3]}.${o[2]}.${o[1]}.${o[0]}.in-addr.arpa`;
  }
  const hex = p.value.toString(16).padStart(32, '0');
  let out = '';
  for (let i = 31; i >= 0; i--) out += `${hex[i]}.`;
  return `${out}ip6.arpa`;
}

export class CachingResolver implements DnsLookup {
  readonly stats: DnsStats = {
    queries: 0, cacheHits: 0, cacheMisses: 0, coalesced: 0, timeouts: 0, servfails: 0,
    tempfails: 0, notfound: 0, deadlines: 0, queueFull: 0, lateAnswers: 0,
  };

  private readonly res: InstanceType<typeof dnsPromises.Resolver>;
  private readonly cache: TtlLru<Promise<AnyAnswer>>;
  /** queries in flight or queued, per type: key -> query (for coalescing) */
  private readonly pending: Array<Map<string, Query>> = [new Map(), new Map(), new Map(), new Map(), new Map()];
  /** FIFO of queries waiting for a slot; `qhead` is the next to run (no O(n) shift()) */
  private queue: Query[] = [];
  private qhead = 0;
  /** wire queries c-ares still holds (released when c-ares settles, not at our hard timer) */
  private active = 0;
  private closed = false;

  private readonly maxInflight: number;
  private readonly maxQueue: number;
  private readonly hardTimeoutMs: number;
  private readonly queueWaitMs: number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly defaultTtl: number;
  private readonly negativeTtl: number;
  private readonly tempfailTtl: number;

  constructor(cfg: DnsConfig, opts: ResolverOptions = {}) {
    this.maxInflight = cfg.max_inflight;
    this.maxQueue = opts.maxQueue ?? Math.max(100, 20 * cfg.max_inflight);
    this.hardTimeoutMs = cfg.timeout * cfg.tries;
    this.queueWaitMs = cfg.deadline;
    this.minTtl = cfg.cache.min_ttl;
    this.maxTtl = Math.max(cfg.cache.max_ttl, cfg.cache.min_ttl);
    this.defaultTtl = this.clampTtl(cfg.cache.default_ttl);
    this.negativeTtl = cfg.cache.negative_ttl;
    this.tempfailTtl = cfg.cache.tempfail_ttl;
    this.cache = new TtlLru(cfg.cache.size, QUERY_TYPES.length);
    if (opts.resolver) {
      this.res = opts.resolver;
    } else {
      this.res = new dnsPromises.Resolver({ timeout: cfg.timeout, tries: cfg.tries });
      if (cfg.servers.length > 0) this.res.setServers(cfg.servers);
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
  get queued(): number {
    return this.queue.length - this.qhead;
  }
  get cacheSize(): number {
    return this.cache.size;
  }
  get cacheEvictions(): number {
    return this.cache.evictions;
  }

  /** Whether a live cache entry exists (no recency update, no stats). For tests and diagnostics. */
  isCached(type: (typeof QUERY_TYPES)[number], key: string): boolean {
    return this.cache.has(QUERY_TYPES.indexOf(type), key, Date.now());
  }

  /** Cancel everything: pending lookups settle tempfail (CANCELLED / CLOSED); later lookups answer CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let i = this.qhead; i < this.queue.length; i++) this.settle(this.queue[i]!, CLOSED, 0);
    this.queue = [];
    this.qhead = 0;
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
    return q.settled ? q.promise : scope.race(q.promise);
  }

  private start(type: QType, key: string): Query {
    let qname = key;
    if (type === T_PTR) {
      const arpa = reverseName(key);
      if (arpa === null) {
        this.stats.tempfails++;
        return settledQuery(type, key, BADADDRESS);
      }
      qname = arpa;
    }
    if (this.active >= this.maxInflight && this.queue.length - this.qhead >= this.maxQueue) {
      this.stats.queueFull++;
      this.stats.tempfails++;
      return settledQuery(type, key, QUEUE_FULL);
    }
    let resolve!: (a: AnyAnswer) => void;
    const promise = new Promise<AnyAnswer>((r) => (resolve = r));
    const q: Query = { type, key, qname, promise, resolve, settled: false, timer: undefined, queuedAt: Date.now() };
    this.pending[type]!.set(key, q);
    if (this.active < this.maxInflight) this.send(q);
    else this.queue.push(q);
    return q;
  }

  /** Put one query on the wire. */
  private send(q: Query): void {
    this.active++;
    this.stats.queries++;
    q.timer = setTimeout(onHardTimeout, this.hardTimeoutMs, this, q);
    let p: Promise<unknown>;
    try {
      switch (q.type) {
        case T_A: p = this.res.resolve4(q.qname, TTL_OPT); break;
        case T_AAAA: p = this.res.resolve6(q.qname, TTL_OPT); break;
        case T_MX: p = this.res.resolveMx(q.qname); break;
        case T_TXT: p = this.res.resolveTxt(q.qname); break;
        default: p = this.res.resolvePtr(q.qname); break;
      }
    } catch (err) {
      p = Promise.reject(err); // e.g. a TypeError for a non-string name: still an answer, never a throw
    }
    p.then(
      (records) => {
        this.release();
        try {
          this.answered(q, records);
        } catch {
          this.settle(q, classifyCode('EBADRESP'), this.tempfailTtl); // records of an unexpected shape
        }
      },
      (err: unknown) => {
        this.release();
        const a = classifyError(err);
        this.settle(q, a, a.status === 'notfound' ? this.negativeTtl : this.tempfailTtl);
      },
    );
  }

  /** A c-ares query finished: free its slot and start queued work. */
  private release(): void {
    this.active--;
    while (this.active < this.maxInflight && this.qhead < this.queue.length) {
      const q = this.queue[this.qhead]!;
      this.queue[this.qhead++] = undefined as unknown as Query; // let it be collected
      if (this.qhead > 1024 && this.qhead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.qhead);
        this.qhead = 0;
      }
      if (q.settled) continue;
      if (Date.now() - q.queuedAt > this.queueWaitMs) {
        this.settle(q, QUEUE_TIMEOUT, 0);
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
    let ttl = this.defaultTtl;
    switch (q.type) {
      case T_A:
      case T_AAAA: {
        let minTtl = Infinity;
        const addrs: string[] = [];
        for (const r of list as Array<{ address: string; ttl: number }>) {
          if (r.ttl < minTtl) minTtl = r.ttl;
          const text = q.type === T_A ? r.address : (canonicalIp(r.address) ?? r.address.toLowerCase());
          if (!addrs.includes(text)) addrs.push(text);
        }
        records = addrs;
        ttl = this.clampTtl(minTtl * 1000);
        break;
      }
      case T_MX: {
        const mx: MxRecord[] = [];
        for (const r of list as Array<{ exchange: string; priority: number }>) {
          const ex = normName(r.exchange);
          mx.push(Object.freeze({ exchange: ex === '.' ? '' : ex, priority: r.priority }));
        }
        mx.sort((x, y) => x.priority - y.priority); // stable: equal priorities keep the server's order
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
        const names: string[] = [];
        for (const r of list as string[]) {
          const n = normName(r);
          if (!names.includes(n)) names.push(n);
        }
        records = names;
        break;
      }
    }
    // Frozen: the same answer object is handed to every caller and kept in the cache.
    this.settle(q, Object.freeze({ status: 'ok', records: Object.freeze(records), reason: 'NOERROR' }), ttl);
  }

  /** @internal Deliver an answer to every lookup waiting on q and cache it for ttlMs. */
  settle(q: Query, answer: AnyAnswer, ttlMs: number): void {
    if (q.settled) {
      // c-ares answered after our hard timer: deliver nothing, but keep a real answer for the next request.
      if (answer.status !== 'tempfail' && !this.closed) {
        this.stats.lateAnswers++;
        this.cache.set(q.type, q.key, Promise.resolve(answer), ttlMs, Date.now());
      }
      return;
    }
    q.settled = true;
    if (q.timer !== undefined) clearTimeout(q.timer);
    q.timer = undefined;
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
    if (ttlMs > 0 && !this.closed) this.cache.set(q.type, q.key, q.promise, ttlMs, Date.now());
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

/** setTimeout callback with arguments instead of a closure: no function allocated per query. */
function onHardTimeout(r: CachingResolver, q: Query): void {
  q.timer = undefined;
  r.settle(q, TIMEOUT, r.tempfailTtlMs);
}

function settledQuery(type: QType, key: string, answer: EmptyAnswer): Query {
  return { type, key, qname: key, promise: Promise.resolve(answer), resolve: noop, settled: true, timer: undefined, queuedAt: 0 };
}
function noop(): void {}

/**
 * The request-scoped view the checks get (CheckContext.dns). Lookups answered
 * from the cache return at once even after the deadline; anything else races
 * the deadline and settles tempfail DEADLINE when it passes. One timer per
 * view, created on the first lookup that has to wait, unref'd; `done()` clears
 * it early (optional: it is harmless when it fires after the request ended).
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
  private deadlineP: Promise<EmptyAnswer> | undefined;
  private timer: NodeJS.Timeout | undefined;

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

  /**
   * Clear the deadline timer once the request's lookups have settled. A lookup
   * still pending at that moment loses its deadline (it still ends by the hard
   * per-query timer); later lookups get a fresh timer.
   */
  done(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadlineP = undefined;
  }

  /** @internal Race a shared query against this request's deadline (cold path). */
  race(p: Promise<AnyAnswer>): Promise<AnyAnswer> {
    const left = this.deadlineAt - Date.now();
    if (!(left > 0)) {
      this.r.countDeadline();
      return DEADLINE_P;
    }
    if (left >= MAX_TIMER) return p; // no practical deadline (also Infinity); a NaN deadline counts as passed above
    let dl = this.deadlineP;
    if (dl === undefined) {
      dl = this.deadlineP = new Promise<EmptyAnswer>((res) => {
        this.timer = setTimeout(res, left, DEADLINE);
        this.timer.unref();
      });
    }
    const deadline = dl;
    return new Promise<AnyAnswer>((resolve) => {
      let done = false;
      p.then((a) => {
        if (!done) {
          done = true;
          resolve(a);
        }
      });
      deadline.then((d) => {
        if (!done) {
          done = true;
          this.r.countDeadline();
          resolve(d);
        }
      });
    });
  }
}
