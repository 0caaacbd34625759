/**
 * runtime — the composition root: builds the Decider and what it needs (the
 * caching DNS resolver, the rate limiter, the engine) from one config. The
 * daemon, SIGHUP reload and `policyd-identity test` all go through here, so
 * they judge a request exactly alike.
 *
 * What can go wrong: nothing at build time beyond what config validation
 * already refused (a DNS server list node:dns refuses throws here and is
 * reported like a config error); `close` releases sockets, timers and Redis.
 */
import type { Config } from './config/types.js';
import type { Finding } from './checks/types.js';
import type { Logger } from './log/logger.js';
import { CachingResolver } from './dns/resolver.js';
import { createEngine, type Engine } from './engine/engine.js';
import { createLimiter, type Limiter } from './limits/limiter.js';

export interface RuntimeHooks {
  /** every freshly computed finding (metrics: check results by check and result) */
  onFinding?: (f: Finding) => void;
}

export interface Runtime {
  readonly decider: Engine;
  readonly engine: Engine;
  readonly dns: CachingResolver;
  /** null when limits.rules is empty: no limiter at all, so warm decisions stay synchronous */
  readonly limiter: Limiter | null;
  /** counters for stats dumps and metrics */
  stats(): { dns: CachingResolver['stats']; limits: Record<string, number> | null; engine: ReturnType<Engine['stats']> };
  close(): Promise<void>;
}

export async function createRuntime(config: Config, log: Logger, hooks: RuntimeHooks = {}): Promise<Runtime> {
  const dns = new CachingResolver(config.dns);
  // No rules, no limiter: the engine then decides a warm request synchronously.
  const limiter = config.limits.rules.length > 0 ? createLimiter(config.limits, log) : null;
  // Let the rate-limit backend connect before the first request (bounded by
  // limits.redis.connect_timeout; never rejects): otherwise the first requests
  // after a start or reload would all fail open while Redis is still connecting.
  await limiter?.ready();
  const dnsTrouble = dnsTroubleLogger(log);
  const engine = createEngine(config, {
    dns,
    limiter,
    onFinding: (f) => {
      hooks.onFinding?.(f);
      if (f.result === 'tempfail' && f.dns !== undefined) dnsTrouble(f);
    },
    onError: (code, err, detail) => log.error({ code, err: err instanceof Error ? err.message : String(err), detail }, 'engine error'),
  });
  for (const w of engine.warnings) log.warn({ code: 'PI_CONFIG_WARNING', warning: w }, 'config warning');
  return {
    decider: engine,
    engine,
    dns,
    limiter,
    stats: () => ({ dns: dns.stats, limits: limiter?.stats() ?? null, engine: engine.stats() }),
    close: async () => {
      dns.close();
      await limiter?.close();
    },
  };
}

/** Most DNS-trouble warnings per window; an outage must not flood the log (one per check per request). */
const DNS_WARN_BUDGET = 20;
const DNS_WARN_WINDOW_MS = 10_000;

/**
 * DNS trouble at `warn` (issue: "protocol errors and DNS trouble at warn"),
 * with its code: PI_DNS_DEADLINE when the request deadline cut a lookup short,
 * PI_DNS_TEMPFAIL otherwise. Bounded: at most DNS_WARN_BUDGET lines per 10 s,
 * then one line saying how many were left out.
 */
function dnsTroubleLogger(log: Logger): (f: Finding) => void {
  let windowStart = 0;
  let used = 0;
  let suppressed = 0;
  return (f) => {
    const now = Date.now();
    if (now - windowStart >= DNS_WARN_WINDOW_MS) {
      if (suppressed > 0) log.warn({ code: 'PI_DNS_TEMPFAIL', suppressed }, `${suppressed} more DNS failure warnings left out in the last ${DNS_WARN_WINDOW_MS / 1000}s`);
      windowStart = now;
      used = 0;
      suppressed = 0;
    }
    if (used >= DNS_WARN_BUDGET) {
      suppressed++;
      return;
    }
    used++;
    const code = f.dns === 'DEADLINE' ? 'PI_DNS_DEADLINE' : 'PI_DNS_TEMPFAIL';
    log.warn({ code, check: f.check, dns: f.dns, reason: f.reason }, 'DNS trouble: check could not be decided');
  };
}
