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
import type { Finding } from './policy/types.js';
import type { Logger } from './log/logger.js';
import { CachingResolver } from './dns/resolver.js';
import { createEngine, type Engine } from './policy/engine.js';
import { createLimiter, type Limiter } from './limits/limiter.js';

export interface RuntimeHooks {
  /** every freshly computed finding (metrics: check results by check and result) */
  onFinding?: (f: Finding) => void;
}

export interface Runtime {
  readonly decider: Engine;
  readonly engine: Engine;
  readonly dns: CachingResolver;
  readonly limiter: Limiter;
  /** counters for stats dumps and metrics */
  stats(): { dns: CachingResolver['stats']; limits: Record<string, number>; engine: ReturnType<Engine['stats']> };
  close(): Promise<void>;
}

export async function createRuntime(config: Config, log: Logger, hooks: RuntimeHooks = {}): Promise<Runtime> {
  const dns = new CachingResolver(config.dns);
  const limiter = createLimiter(config.limits, log);
  // Let the rate-limit backend connect before the first request (bounded by
  // limits.redis.connect_timeout; never rejects): otherwise the first requests
  // after a start or reload would all fail open while Redis is still connecting.
  await limiter.ready();
  const engine = createEngine(config, {
    dns,
    limiter,
    onFinding: hooks.onFinding,
    onError: (code, err, detail) => log.error({ code, err: err instanceof Error ? err.message : String(err), detail }, 'engine error'),
  });
  for (const w of engine.warnings) log.warn({ code: 'PI_CONFIG_INVALID', warning: w }, 'config warning');
  return {
    decider: engine,
    engine,
    dns,
    limiter,
    stats: () => ({ dns: dns.stats, limits: limiter.stats(), engine: engine.stats() }),
    close: async () => {
      dns.close();
      await limiter.close();
    },
  };
}
