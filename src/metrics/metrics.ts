/**
 * metrics/metrics — the daemon's counters, exposed in Prometheus text format.
 *
 * Hot path: the calls made per decision (observeDecision, observeFinding) only
 * bump plain numbers in nested Maps keyed by label value; prom-client sees
 * them at scrape time, through `collect()` callbacks. Why not prom-client's
 * own inc(labels) on the hot path: it builds a label hash string and validates
 * the labels on every call. bench/metrics-hotpath.mjs, one decision = 1 request
 * counter + 1 histogram observe + 8 check-result counters, Node 20, this box:
 *   prom-client inc({..}) per call      ~2.0 µs per decision
 *   nested Maps (this file)             ~0.3 µs per decision
 * The latency histogram is counted the same way (metrics/latency.ts: 97 -> 9 ns
 * per observe) and handed to the registry as a metric of its own.
 * Through the real daemon on one connection (bench/metrics-e2e.mjs, a decider
 * reporting 8 findings, 11 rounds, medians): no metrics 44.5k req/s and
 * 22.7 µs CPU per request; this file 43.2k and 23.6 µs (+4%, within the noise
 * of this shared box); prom-client inc() on the hot path 39.6k and 25.6 µs
 * (+13%). That is more than "a few percent", so the counting is ours and
 * prom-client does what it is good at:
 * the registry, the exposition format, the process metrics and
 * the cluster aggregation (AggregatorRegistry.aggregate).
 *
 * Roles: `single` (one process: everything), `worker` (node:cluster worker:
 * request/check/DNS/connection metrics; the primary adds the rest), `primary`
 * (build info, config reloads, workers; it serves the endpoint and merges the
 * workers' metrics, see metrics/cluster.ts).
 *
 * What can go wrong: nothing throws on the hot path; label values are bounded
 * (metrics/labels.ts). DNS and rate-limit numbers come from the runtime's
 * resolver `stats` and limiter.stats(), read at scrape time; a reload's new
 * runtime is added and the old one's counts are kept, so counters never go
 * backwards, while gauges show the current runtime.
 */
import { Registry, Counter, Gauge, collectDefaultMetrics, type Histogram } from 'prom-client';
import type { PolicyRequest } from '../protocol/request.js';
import type { Finding } from '../checks/types.js';
import type { Decision } from '../engine/types.js';
import type { ErrorCode } from '../errors.js';
import type { DaemonHooks } from '../server/daemon.js';
import type { DnsStats } from '../dns/resolver.js';
import { actionClass, stateLabel, RESULTS } from './labels.js';
import { LatencyHistogram } from './latency.js';
import type { PolicyAction } from '../protocol/action.js';

export type MetricsRole = 'single' | 'primary' | 'worker';

export interface MetricsOptions {
  role: MetricsRole;
  /** package version, for build info */
  version: string;
  /** process_* and nodejs_* metrics from prom-client (default true) */
  processMetrics?: boolean;
}

/** Decision latency buckets, seconds: 100 µs (cache hits) .. 10 s (past dns.deadline). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** DnsStats field -> metric name suffix and help text. */
const DNS_COUNTERS: ReadonlyArray<readonly [keyof DnsStats, string, string]> = [
  ['queries', 'dns_queries_total', 'DNS queries sent to the servers'],
  ['cacheHits', 'dns_cache_hits_total', 'DNS lookups answered from the cache'],
  ['cacheMisses', 'dns_cache_misses_total', 'DNS lookups not answered from the cache (coalesced ones included)'],
  ['coalesced', 'dns_coalesced_total', 'DNS lookups that joined an identical query in flight'],
  ['timeouts', 'dns_timeouts_total', 'DNS queries that timed out'],
  ['servfails', 'dns_servfails_total', 'DNS queries answered SERVFAIL'],
  ['tempfails', 'dns_tempfails_total', 'DNS queries that failed temporarily (timeouts, SERVFAIL, REFUSED, queue full, ...)'],
  ['notfound', 'dns_notfound_total', 'DNS queries answered NXDOMAIN or NODATA'],
  ['deadlines', 'dns_deadlines_total', 'DNS lookups cut short by the per-request deadline (dns.deadline)'],
  ['queueFull', 'dns_queue_full_total', 'DNS lookups refused because too many queries were waiting'],
  ['lateAnswers', 'dns_late_answers_total', 'DNS answers that arrived after their lookup had given up (cached for the next request)'],
  ['truncatedAnswers', 'dns_truncated_answers_total', 'DNS answers with more than 32 distinct records (the rest dropped, counted in reasons)'],
  ['zoneWaits', 'dns_zone_waits_total', 'DNS queries that waited because their zone had dns.max_inflight_per_zone in flight'],
  ['badNames', 'dns_bad_names_total', 'DNS lookups refused before any query: a name over 253 octets'],
  ['resent', 'dns_resent_total', 'DNS queries asked again because the resolver library gave up before dns.timeout x dns.tries'],
];

/**
 * What the metrics read from one runtime at scrape time; src/runtime.ts's
 * Runtime fits (structurally), tests pass plain objects.
 */
export interface RuntimeSource {
  readonly dns: {
    readonly stats: Partial<DnsStats>;
    readonly inflight?: number;
    readonly queued?: number;
    readonly cacheSize?: number;
    readonly cacheBytes?: number;
    readonly cacheEvictions?: number;
    readonly zonesActive?: number;
  };
  /** null when no rate-limit rules are configured */
  readonly limiter: { stats(): Record<string, number> } | null;
  /** the decision engine (identity cache sizes); optional for tests */
  readonly engine?: { stats(): { identityCacheSize?: number; identityCacheBytes?: number } };
}

/** counters summed over every runtime since start (monotonic across reloads): key -> how to read it */
const RUNTIME_COUNTERS: ReadonlyArray<readonly [string, (rt: RuntimeSource) => number]> = [
  ...DNS_COUNTERS.map(([field]) => [field, (rt: RuntimeSource) => rt.dns.stats[field] ?? 0] as const),
  ['cacheEvictions', (rt) => rt.dns.cacheEvictions ?? 0],
  ['limitBackendFailures', (rt) => rt.limiter?.stats()['backend.failures'] ?? 0],
];

const PREFIX = 'policyd_identity_';
/** how many runtimes are read one by one before the oldest is folded into a base */
const MAX_RUNTIMES = 8;

type CheckCounts = Record<(typeof RESULTS)[number] | 'other', number>;
const RESULT_LABELS = [...RESULTS, 'other'] as const;

/**
 * A prom-client counter whose values are copied at scrape time from our own
 * plain counts (the hot path never calls prom-client, see the header).
 */
function countersFrom(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: string[],
  entries: () => Iterable<[Record<string, string>, number]>,
): void {
  new Counter({
    name: `${PREFIX}${name}`,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [labels, n] of entries()) this.inc(labels, n);
    },
  });
}

export interface MetricsSnapshot {
  requests: Record<string, Record<string, number>>;
  checks: Record<string, Partial<CheckCounts>>;
  protocolErrors: Record<string, number>;
  reloads: { ok: number; failed: number };
  dns: Partial<DnsStats>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly role: MetricsRole;

  // --- hot-path state: plain numbers ------------------------------------------
  /** protocol_state -> action class -> count */
  private readonly requests = new Map<string, Map<string, number>>();
  /** check id -> result -> count */
  private readonly checks = new Map<string, CheckCounts>();
  private readonly protocolErrors = new Map<string, number>();
  private readonly reloads = { ok: 0, failed: 0 };
  /** decision latency, counted here (metrics/latency.ts: prom-client's observe() cost ~0.1 µs a request) */
  private readonly latency: LatencyHistogram | null = null;

  // --- read at scrape time ----------------------------------------------------
  private connections: (() => number) | null = null;
  private logDropped: (() => number) | null = null;
  private workers: (() => number) | null = null;
  /** every runtime since start (the last one is current), oldest folded into runtimeBase */
  private readonly runtimes: RuntimeSource[] = [];
  private readonly runtimeBase: Record<string, number> = Object.create(null);

  constructor(opts: MetricsOptions) {
    this.role = opts.role;
    const registers = [this.registry];
    const perProcess = opts.role !== 'primary';
    const perDaemon = opts.role !== 'worker';

    if (perProcess) {
      const requests = this.requests;
      countersFrom(registers, 'requests_total', 'Policy requests answered, by protocol_state and the action Postfix got (verb, or 4xx/5xx)', ['protocol_state', 'action'], function* () {
        for (const [state, byAction] of requests) for (const [action, n] of byAction) yield [{ protocol_state: state, action }, n];
      });
      const checks = this.checks;
      countersFrom(registers, 'check_results_total', 'Check outcomes, by check and result (pass, fail, tempfail, skip)', ['check', 'result'], function* () {
        for (const [check, counts] of checks) for (const result of RESULT_LABELS) if (counts[result] > 0) yield [{ check, result }, counts[result]];
      });
      this.latency = new LatencyHistogram(
        `${PREFIX}decision_duration_seconds`,
        'Time from a complete request to its answer (checks, DNS and rate limits included)',
        LATENCY_BUCKETS,
      );
      // prom-client's types know only its own four classes; the registry itself asks
      // a metric for name, type and get() (LatencyHistogram's header)
      this.registry.registerMetric(this.latency as unknown as Histogram);
      const errors = this.protocolErrors;
      countersFrom(registers, 'protocol_errors_total', 'Connections closed for a protocol error, by error code (see docs/errors.md)', ['code'], function* () {
        for (const [code, n] of errors) yield [{ code }, n];
      });
      const self = this;
      countersFrom(registers, 'log_lines_dropped_total', 'Log lines lost because the log destination failed (disk full) or did not take them (PI_LOG_LINES_DROPPED)', [], function* () {
        yield [{}, self.logDropped ? self.logDropped() : 0];
      });
      new Gauge({
        name: `${PREFIX}open_connections`,
        help: 'Policy connections open now (Postfix keeps them open between requests)',
        registers,
        collect() {
          this.set(self.connections ? self.connections() : 0);
        },
      });
      for (const [field, name, help] of DNS_COUNTERS) {
        countersFrom(registers, name, help, [], function* () {
          yield [{}, self.runtimeTotal(field)];
        });
      }
      countersFrom(registers, 'dns_cache_evictions_total', 'DNS cache entries evicted to stay within dns.cache.size or dns.cache.max_bytes', [], function* () {
        yield [{}, self.runtimeTotal('cacheEvictions')];
      });
      countersFrom(registers, 'limit_backend_failures_total', 'Rate-limit backend (Redis/Valkey) calls that failed or timed out', [], function* () {
        yield [{}, self.runtimeTotal('limitBackendFailures')];
      });
      const current = (read: (rt: RuntimeSource) => number | undefined) => {
        const rt = self.runtimes[self.runtimes.length - 1];
        return rt === undefined ? 0 : read(rt) ?? 0;
      };
      const gauges: ReadonlyArray<readonly [string, string, (rt: RuntimeSource) => number | undefined]> = [
        ['dns_inflight', 'DNS queries on the wire now', (rt) => rt.dns.inflight],
        ['dns_queued', 'DNS queries waiting for a slot (dns.max_inflight) now', (rt) => rt.dns.queued],
        ['dns_cache_entries', 'Entries in the DNS cache', (rt) => rt.dns.cacheSize],
        ['dns_cache_bytes', 'Estimated bytes held by the DNS cache (bounded by dns.cache.max_bytes)', (rt) => rt.dns.cacheBytes],
        ['dns_zones_active', 'Zones with DNS queries in flight or waiting now (dns.max_inflight_per_zone each)', (rt) => rt.dns.zonesActive],
        ['limit_backend_up', '1 when the rate-limit backend is usable (always 1 for memory)', (rt) => rt.limiter?.stats()['backend.up'] ?? 1],
        ['limit_keys', 'Rate-limit keys held by the memory backend', (rt) => rt.limiter?.stats().keys ?? 0],
        ['identity_cache_entries', 'Entries in the identity findings cache (identity_cache.size)', (rt) => rt.engine?.stats().identityCacheSize],
        ['identity_cache_bytes', 'Estimated bytes held by the identity findings cache (identity_cache.max_bytes)', (rt) => rt.engine?.stats().identityCacheBytes],
      ];
      for (const [name, help, read] of gauges) {
        new Gauge({
          name: `${PREFIX}${name}`,
          help,
          registers,
          // with workers, "up" means every worker's backend is up; the rest add up
          aggregator: name === 'limit_backend_up' ? 'min' : 'sum',
          collect() {
            this.set(current(read));
          },
        });
      }
    }
    if (perDaemon) {
      const reloads = this.reloads;
      countersFrom(registers, 'config_reloads_total', 'Config reloads (SIGHUP), by result: ok, or failed (the old config kept serving)', ['result'], function* () {
        yield [{ result: 'ok' }, reloads.ok];
        yield [{ result: 'failed' }, reloads.failed];
      });
      new Gauge({
        name: `${PREFIX}build_info`,
        help: 'Always 1; the labels say which version runs',
        labelNames: ['version', 'nodejs'],
        registers,
      }).set({ version: opts.version, nodejs: process.version }, 1);
    }
    if (opts.role === 'primary') {
      const self = this;
      new Gauge({
        name: `${PREFIX}workers`,
        help: 'node:cluster workers running (workers: N)',
        registers,
        collect() {
          this.set(self.workers ? self.workers() : 0);
        },
      });
    }
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  // --- hot path -----------------------------------------------------------------

  /** DaemonHooks.onDecision: one answered request. */
  observeDecision(req: PolicyRequest, _d: Decision, sent: PolicyAction, micros: number): void {
    const state = stateLabel(req.protocol_state);
    let byAction = this.requests.get(state);
    if (byAction === undefined) this.requests.set(state, (byAction = new Map()));
    const action = actionClass(sent);
    byAction.set(action, (byAction.get(action) ?? 0) + 1);
    this.latency?.observe(micros / 1e6);
  }

  /** The engine's onFinding hook: one check result. Bound, so it can be passed as is. */
  readonly observeFinding = (f: Finding): void => {
    let counts = this.checks.get(f.check);
    if (counts === undefined) this.checks.set(f.check, (counts = { pass: 0, fail: 0, tempfail: 0, skip: 0, other: 0 }));
    const r = f.result;
    if (r === 'pass' || r === 'fail' || r === 'tempfail' || r === 'skip') counts[r]++;
    else counts.other++;
  };

  observeProtocolError(code: ErrorCode): void {
    this.protocolErrors.set(code, (this.protocolErrors.get(code) ?? 0) + 1);
  }

  observeReload(ok: boolean): void {
    if (ok) this.reloads.ok++;
    else this.reloads.failed++;
  }

  /** The hooks startDaemon takes. */
  hooks(): DaemonHooks {
    return {
      onDecision: (req, d, sent, micros) => this.observeDecision(req, d, sent, micros),
      onProtocolError: (code) => this.observeProtocolError(code),
    };
  }

  // --- sources read at scrape time ----------------------------------------------

  setConnectionsSource(fn: () => number): void {
    this.connections = fn;
  }

  /** Where the count of dropped log lines is read (log/logger.ts droppedLinesTotal), at scrape time. */
  setLogDroppedSource(fn: () => number): void {
    this.logDropped = fn;
  }

  setWorkersSource(fn: () => number): void {
    this.workers = fn;
  }

  /**
   * Read a runtime's counters at scrape time (its resolver and limiter). Call
   * once per runtime; after a reload the new one is current (gauges) and the
   * old ones still count (counters never go backwards).
   */
  trackRuntime(rt: RuntimeSource): void {
    this.runtimes.push(rt);
    if (this.runtimes.length > MAX_RUNTIMES) {
      // the oldest runtime was closed long ago: its numbers are final, fold them in
      const old = this.runtimes.shift()!;
      for (const [key, read] of RUNTIME_COUNTERS) this.runtimeBase[key] = (this.runtimeBase[key] ?? 0) + read(old);
    }
  }

  private runtimeTotal(key: string): number {
    const read = RUNTIME_COUNTERS.find(([k]) => k === key)![1];
    let n = this.runtimeBase[key] ?? 0;
    for (const rt of this.runtimes) n += read(rt);
    return n;
  }

  // --- output ---------------------------------------------------------------------

  /** Plain counters for the SIGUSR1 stats log line. */
  snapshot(): MetricsSnapshot {
    const requests: MetricsSnapshot['requests'] = {};
    for (const [state, byAction] of this.requests) requests[state] = Object.fromEntries(byAction);
    const checks: MetricsSnapshot['checks'] = {};
    for (const [check, counts] of this.checks) {
      const nonzero: Partial<CheckCounts> = {};
      for (const [k, v] of Object.entries(counts) as Array<[keyof CheckCounts, number]>) if (v > 0) nonzero[k] = v;
      checks[check] = nonzero;
    }
    const dns: Partial<DnsStats> = {};
    if (this.role !== 'primary') for (const [field] of DNS_COUNTERS) dns[field] = this.runtimeTotal(field);
    return { requests, checks, protocolErrors: Object.fromEntries(this.protocolErrors), reloads: { ...this.reloads }, dns };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of this process. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
