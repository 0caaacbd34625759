/**
 * limits/limiter — rate-limit rules as findings for the decision engine.
 *
 * When what is counted (see docs/limits.md):
 *   RCPT            every applicable rule is checked, one Finding each.
 *                   charge_on: accepted  -> peek: is there room for one more?
 *                   charge_on: attempts  -> check and count at once (recipients:
 *                                       every RCPT; messages: the first RCPT
 *                                       of a transaction, by `instance`)
 *                   distinct         -> the value is added (attempts) or
 *                                       tested (accepted)
 *   END-OF-MESSAGE  record(): charge_on: accepted rules count what was accepted:
 *                   1 message, or recipient_count recipients, or the value.
 * Other states: no findings (a shared empty array).
 *
 * Findings: check `limit:<rule id>`, result pass | fail | skip | tempfail,
 * `action` = the rule's ActionSettings (tempfail: the backend-failure defer),
 * vars for the message: rule, key, limit, retry_after, retry_after_seconds.
 *
 * What can go wrong: nothing rejects. A backend failure or timeout becomes
 * the rule's on_backend_failure (skip: fail open; defer: tempfail with a
 * 451 4.3.0 action), is counted in stats() and logged at most once per
 * LOG_INTERVAL_MS with code PI_LIMITS_BACKEND_DOWN.
 */
import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.js';
import { ErrorCodes } from '../errors.js';
import type { Identity } from '../net/identity.js';
import type { ActionSettings, CheckResult, Finding } from '../checks/types.js';
import type { PolicyRequest } from '../protocol/request.js';
import { CONSUME, FORCE, PEEK, type Mode, type Verdict } from './algorithm.js';
import type { Backend } from './backend.js';
import type { KeyAttr, LimitRuleConfig, LimitsConfig, LimitWindow } from './config.js';
import { attrValue, compileSelector, keyOf, type CompiledSelector, type NetworkBits } from './keys.js';
import { MemoryBackend } from './memory.js';
import { LOG_INTERVAL_MS, RedisBackend } from './redis.js';

export interface Limiter {
  /** check at RCPT: one Finding per applicable rule. Never rejects; bounded by the backend timeout. */
  evaluate(req: PolicyRequest, id: Identity, now?: number): Promise<Finding[]>;
  /** END-OF-MESSAGE: count what was accepted, for charge_on: accepted rules. Never rejects. */
  record(req: PolicyRequest, id: Identity, now?: number): Promise<void>;
  /** per-rule decisions, backend failures, keys in memory */
  stats(): { [k: string]: number };
  /** resolves true once the backend is usable, false after its connect timeout; never rejects */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** What a request under a backend failure gets when on_backend_failure is defer. */
export const BACKEND_FAILURE_ACTION: ActionSettings = Object.freeze({
  action: 'defer',
  code: '451 4.3.0',
  message: 'rate limit service temporarily unavailable, please try again later',
});

/** Instances (transactions) remembered for charge_on: attempts, unit: messages. */
const MAX_INSTANCES = 10_000;

// Hot path: states with nothing to check share one resolved promise of one
// frozen empty array (no allocation per request). Callers must not mutate it.
const NO_FINDINGS: Finding[] = Object.freeze([] as Finding[]) as Finding[];
const NO_FINDINGS_P: Promise<Finding[]> = Promise.resolve(NO_FINDINGS);
const DONE_P: Promise<void> = Promise.resolve();

interface RuleCounters { pass: number; fail: number; skip: number; tempfail: number }

interface Rule {
  readonly index: number;
  readonly id: string;
  readonly check: string;
  readonly key: readonly KeyAttr[];
  readonly keyText: string;
  readonly network: NetworkBits;
  readonly unit: 'messages' | 'recipients';
  readonly chargeOn: 'accepted' | 'attempts';
  readonly distinct: KeyAttr | null;
  readonly windows: readonly LimitWindow[];
  /** "300 per 1h, 2000 per 1d", for reasons */
  readonly limitsText: string;
  readonly action: ActionSettings;
  readonly only: CompiledSelector;
  readonly except: CompiledSelector;
  readonly onFailure: 'skip' | 'defer';
  readonly n: RuleCounters;
}

function compileRule(r: LimitRuleConfig, index: number): Rule {
  const action: ActionSettings = Object.freeze({
    action: r.action,
    ...(r.code !== null ? { code: r.code } : {}),
    message: r.message,
    score: r.score,
  });
  return {
    index,
    id: r.id,
    check: `limit:${r.id}`,
    key: r.key,
    keyText: r.key.join('+'),
    network: r.network,
    unit: r.unit,
    chargeOn: r.charge_on,
    distinct: r.distinct,
    windows: r.limit,
    limitsText: r.limit.map((w) => w.text).join(', '),
    action,
    only: compileSelector(r.only),
    except: compileSelector(r.except),
    onFailure: r.on_backend_failure,
    n: { pass: 0, fail: 0, skip: 0, tempfail: 0 },
  };
}

/** "36s", "2m 5s", "1h 3m" — what the client is told to wait. */
export function retryText(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
}

class NoopLimiter implements Limiter {
  evaluate(): Promise<Finding[]> { return NO_FINDINGS_P; }
  record(): Promise<void> { return DONE_P; }
  stats(): { [k: string]: number } { return {}; }
  ready(): Promise<boolean> { return Promise.resolve(true); }
  close(): Promise<void> { return DONE_P; }
}

/** One planned backend call of a request; null verdict = backend failure. */
interface Step {
  rule: Rule;
  key: string;
  verdict: Verdict | Promise<Verdict | null> | null;
}

/** A later RCPT of a transaction already counted (charge_on: attempts, unit: messages). */
const ALREADY_COUNTED: Verdict = Object.freeze({ allowed: true, retryAfter: 0, window: -1, remaining: 0 });

class RuleLimiter implements Limiter {
  private readonly rules: Rule[];
  /** "<rule>\0<instance>\0<key>" of transactions already counted (charge_on: attempts, unit: messages) */
  private readonly counted = new Set<string>();
  private backendFailures = 0;
  private failuresSinceLog = 0;
  private lastFailureLog = 0;
  private closed = false;

  /** limits.max_recipient_count: a recipient_count above it counts as it */
  private readonly maxRecipients: number;

  constructor(cfg: LimitsConfig, private readonly backend: Backend, private readonly log: Logger) {
    this.rules = cfg.rules.map(compileRule);
    this.maxRecipients = cfg.max_recipient_count;
  }

  private applies(rule: Rule, req: PolicyRequest, id: Identity): boolean {
    if (!rule.only.empty && !rule.only.all(req, id)) return false;
    if (!rule.except.empty && rule.except.any(req, id)) return false;
    return true;
  }

  evaluate(req: PolicyRequest, id: Identity, now: number = Date.now()): Promise<Finding[]> {
    if (req.protocol_state !== 'RCPT' || this.closed) return NO_FINDINGS_P;
    now = Math.floor(now);
    const steps: Step[] = [];
    let async = false;
    for (const rule of this.rules) {
      if (!this.applies(rule, req, id)) continue;
      const key = keyOf(rule.key, req, id, rule.network);
      if (key === null) continue;
      let verdict: Step['verdict'];
      if (rule.distinct !== null) {
        const value = attrValue(rule.distinct, req, id, rule.network);
        if (value === '') continue;
        verdict = this.call(() => this.backend.distinct(rule, key, value, rule.chargeOn === 'attempts' ? CONSUME : PEEK, now));
      } else if (rule.chargeOn === 'accepted') {
        verdict = this.call(() => this.backend.gcra(rule, key, 1, PEEK, now));
      } else if (rule.unit === 'recipients') {
        verdict = this.call(() => this.backend.gcra(rule, key, 1, CONSUME, now));
      } else {
        verdict = this.messageAttempt(rule, key, req.instance, now);
      }
      if (verdict instanceof Promise) async = true;
      steps.push({ rule, key, verdict });
    }
    if (steps.length === 0) return NO_FINDINGS_P;
    if (!async) return Promise.resolve(steps.map((s) => this.finding(s.rule, s.key, s.verdict as Verdict | null)));
    return Promise.all(steps.map((s) => s.verdict)).then((vs) => vs.map((v, i) => this.finding(steps[i]!.rule, steps[i]!.key, v)));
  }

  /** charge_on: attempts, unit: messages — count the first RCPT of a transaction only. */
  private messageAttempt(rule: Rule, key: string, instance: string, now: number): Step['verdict'] {
    const memoKey = instance === '' ? '' : `${rule.index}\0${instance}\0${key}`;
    if (memoKey !== '' && this.counted.has(memoKey)) return ALREADY_COUNTED;
    const v = this.call(() => this.backend.gcra(rule, key, 1, CONSUME, now));
    const remember = (r: Verdict | null) => {
      if (r !== null && r.allowed && memoKey !== '') {
        this.counted.add(memoKey);
        // bounded: the oldest transactions are forgotten first (Set insertion order)
        if (this.counted.size > MAX_INSTANCES) this.counted.delete(this.counted.values().next().value!);
      }
      return r;
    };
    return v instanceof Promise ? v.then(remember) : remember(v);
  }

  /**
   * Run a backend call; a failure (throw or rejection) becomes null, counted
   * and logged. The memory backend answers synchronously, Redis with a promise.
   */
  private call(f: () => Verdict | Promise<Verdict>): Verdict | Promise<Verdict | null> | null {
    let r: Verdict | Promise<Verdict>;
    try {
      r = f();
    } catch (e) {
      this.backendFailed(e);
      return null;
    }
    if (r instanceof Promise) return r.catch((e: unknown) => { this.backendFailed(e); return null; });
    return r;
  }

  private backendFailed(e: unknown): void {
    this.backendFailures++;
    this.failuresSinceLog++;
    const now = Date.now();
    if (now - this.lastFailureLog < LOG_INTERVAL_MS) return;
    this.lastFailureLog = now;
    this.log[ErrorCodes.PI_LIMITS_BACKEND_DOWN.level](
      { code: 'PI_LIMITS_BACKEND_DOWN', backend: this.backend.kind, failures: this.failuresSinceLog, reason: (e as Error)?.message ?? String(e) },
      'rate-limit backend call failed; applying on_backend_failure (logged once per interval)',
    );
    this.failuresSinceLog = 0;
  }

  private finding(rule: Rule, key: string, v: Verdict | null | undefined): Finding {
    let result: CheckResult;
    let f: Finding;
    if (v === ALREADY_COUNTED) {
      result = 'pass';
      f = { check: rule.check, result, reason: `${rule.keyText} ${key}: this message is already counted`, action: rule.action };
    } else if (v === undefined || v === null) {
      if (rule.onFailure === 'defer') {
        result = 'tempfail';
        f = { check: rule.check, result, reason: `${rule.keyText} ${key}: rate-limit backend unavailable, deferring (on_backend_failure: defer)`, action: BACKEND_FAILURE_ACTION };
      } else {
        result = 'skip';
        f = { check: rule.check, result, reason: `${rule.keyText} ${key}: rate-limit backend unavailable, rule skipped (fail open)`, action: rule.action };
      }
    } else if (v.allowed) {
      result = 'pass';
      f = { check: rule.check, result, reason: `${rule.keyText} ${key}: within ${rule.limitsText} (${v.remaining} left)`, action: rule.action };
    } else {
      result = 'fail';
      const w = rule.windows[v.window] ?? rule.windows[0]!;
      const limit = rule.distinct !== null ? `${w.max} distinct ${rule.distinct} per ${formatDuration(w.ms)}` : w.text.replace(' per ', ` ${rule.unit} per `);
      const retry = retryText(v.retryAfter);
      f = {
        check: rule.check,
        result,
        reason: `${rule.keyText} ${key}: over ${limit}, retry in ${retry}`,
        vars: { rule: rule.id, key, limit, retry_after: retry, retry_after_seconds: String(Math.max(1, Math.ceil(v.retryAfter / 1000))) },
        action: rule.action,
      };
    }
    rule.n[result]++;
    return f;
  }

  record(req: PolicyRequest, id: Identity, now: number = Date.now()): Promise<void> {
    if (this.closed) return DONE_P;
    now = Math.floor(now);
    const pending: Array<Promise<unknown>> = [];
    for (const rule of this.rules) {
      if (rule.chargeOn !== 'accepted' || !this.applies(rule, req, id)) continue;
      const key = keyOf(rule.key, req, id, rule.network);
      if (key === null) continue;
      let r: Verdict | Promise<Verdict | null> | null;
      if (rule.distinct !== null) {
        const value = attrValue(rule.distinct, req, id, rule.network);
        if (value === '') continue;
        r = this.call(() => this.backend.distinct(rule, key, value, FORCE, now));
      } else {
        // clamped: Postfix cannot accept more than smtpd_recipient_limit recipients, so a larger
        // recipient_count is not Postfix's (one request must not lock an account out for a day)
        const cost = rule.unit === 'messages' ? 1 : Math.min(req.recipient_count, this.maxRecipients);
        if (cost <= 0) continue;
        r = this.call(() => this.backend.gcra(rule, key, cost, FORCE, now));
      }
      if (r instanceof Promise) pending.push(r);
    }
    if (pending.length === 0) return DONE_P;
    return Promise.all(pending).then(() => undefined);
  }

  stats(): { [k: string]: number } {
    const s: { [k: string]: number } = {
      'backend.failures': this.backendFailures,
      'backend.up': this.backend.up() ? 1 : 0,
      keys: this.backend.size(),
    };
    for (const r of this.rules) {
      s[`rule.${r.id}.pass`] = r.n.pass;
      s[`rule.${r.id}.fail`] = r.n.fail;
      s[`rule.${r.id}.skip`] = r.n.skip;
      s[`rule.${r.id}.tempfail`] = r.n.tempfail;
    }
    return s;
  }

  ready(): Promise<boolean> {
    return this.backend.ready();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.backend.close();
  }
}

/** Build the limiter for a validated `limits:` section. */
export function createLimiter(cfg: LimitsConfig, log: Logger): Limiter {
  if (cfg.rules.length === 0) return new NoopLimiter();
  const backend: Backend = cfg.backend === 'redis' ? new RedisBackend(cfg.redis, log) : new MemoryBackend(cfg.max_keys);
  return new RuleLimiter(cfg, backend, log);
}

/** For tests and tools: a limiter over a given backend. */
export function createLimiterWith(cfg: LimitsConfig, backend: Backend, log: Logger): Limiter {
  return new RuleLimiter(cfg, backend, log);
}

export type { Mode };
