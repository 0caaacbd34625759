/**
 * engine — the decision engine: runs the identity checks and the rate-limit
 * rules for a request and turns their findings into ONE Postfix action.
 *
 * A house of small rooms, one job each:
 *   setup.ts           compiled once from the config (EngineSetup): settings
 *                      tables, allowlists, on_tempfail, scoring, header, cache
 *   states.ts          what happens at each protocol_state (docs/engine.md)
 *   evaluate.ts        one request: allowlist, override, memo/cache, async or not
 *   run-checks.ts      run the missing checks under the DNS deadline
 *   limit-findings.ts  the limiter: check at RCPT, count at END-OF-MESSAGE
 *   combine.ts         findings -> the Decision (severity, scoring, tempfail, dry run)
 *   instance-memo.ts   per-connection memo of the current message instance
 *   findings-cache.ts  the short cross-connection identity cache
 *   explain.ts         rows for `policyd-identity test` (only when asked)
 *   actions.ts, message.ts, allowlist.ts, overrides.ts, header.ts: compiled pieces
 *
 * Never throws: an unexpected error answers on_tempfail (note "internal
 * error", PI_INTERNAL).
 *
 * Hot path (target ~20k decisions/s on 2 cores with a warm DNS cache): all
 * settings are compiled once; checks whose action is off are never called;
 * a request whose findings are all remembered and that needs no limiter is
 * decided synchronously, without a promise; arrays are only allocated when
 * something fails.
 *
 * What can go wrong: see evaluate.ts and run-checks.ts (a check that throws
 * or hangs counts as tempfail; a limiter that throws fails open).
 */
import { actionText, sanitizeText, DUNNO, type PolicyAction } from '../protocol/action.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { Config } from '../config/types.js';
import type { ConnState, Decider, Decision } from './types.js';
import { BLOCKING, SEVERITY, toPolicyAction } from './actions.js';
import { compileSetup, type EngineDeps, type EngineSetup } from './setup.js';
import { evaluate } from './evaluate.js';
import { EMPTY } from './combine.js';
import { buildExplanation, newTrace, type ExplainResult } from './explain.js';

export type { EngineDeps, LimiterLike } from './setup.js';
export type { PartialSettings } from './overrides.js';

export interface EngineStats {
  decisions: number;
  /** requests whose identity findings all came from the instance memo */
  instanceHits: number;
  identityCacheHits: number;
  identityCacheMisses: number;
  identityCacheSize: number;
  /** estimated bytes the identity cache holds (identity_cache.max_bytes) */
  identityCacheBytes: number;
  checksRun: number;
  internalErrors: number;
}

export interface Engine extends Decider {
  decide(req: PolicyRequest, conn: ConnState): Promise<Decision> | Decision;
  /**
   * Decide one request and explain it (policyd-identity test). Uses a fresh
   * connection state unless one is given, skips the identity cache, and
   * never calls limiter.record (a test must not use up anyone's quota).
   */
  explain(req: PolicyRequest, conn?: ConnState): Promise<ExplainResult>;
  /** config problems found while compiling (codes that contradict actions, overrides that never match, ...) */
  readonly warnings: readonly string[];
  stats(): EngineStats;
}

/** on_tempfail, for a request the engine failed to decide. */
function internalError(s: EngineSetup, err: unknown): Decision {
  s.counters.internalErrors++;
  s.report('PI_INTERNAL', err, 'decision failed');
  let enforce: PolicyAction = DUNNO;
  if (s.onTempfail.severity > 0) {
    const t = s.onTempfail.template;
    enforce = toPolicyAction(s.onTempfail, t.fixed ?? sanitizeText(t.parts.join('')));
  }
  const action: PolicyAction = s.dryRun && s.onTempfail.severity >= BLOCKING
    ? { verb: 'WARN', text: sanitizeText(`dry-run: would answer ${actionText(enforce)}`) }
    : enforce;
  return {
    action,
    fired: EMPTY,
    findings: EMPTY,
    note: 'internal error [PI_INTERNAL]',
    ...(action !== enforce ? { wouldBe: enforce } : {}),
  };
}

export function createEngine(config: Config, deps: EngineDeps): Engine {
  const s = compileSetup(config, deps);
  return {
    warnings: s.warnings,

    decide(req, conn) {
      try {
        const r = evaluate(s, req, conn, null);
        return r instanceof Promise ? r.catch((e: unknown) => internalError(s, e)) : r;
      } catch (e) {
        return internalError(s, e);
      }
    },

    async explain(req, conn) {
      const trace = newTrace();
      const c: ConnState = conn ?? { engine: undefined, peer: 'explain' };
      let d: Decision;
      try {
        d = await evaluate(s, req, c, trace);
      } catch (e) {
        d = internalError(s, e);
      }
      return { decision: d, explanation: buildExplanation(s, d, req, trace) };
    },

    stats() {
      return {
        ...s.counters,
        identityCacheHits: s.cache?.hits ?? 0,
        identityCacheMisses: s.cache?.misses ?? 0,
        identityCacheSize: s.cache?.size ?? 0,
        identityCacheBytes: s.cache?.bytes ?? 0,
      };
    },
  };
}

/** Exposed for tests and docs: the severity ranks. */
export { SEVERITY };
