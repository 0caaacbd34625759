/**
 * engine — the decision engine: runs the identity checks and the rate-limit
 * rules for a request and turns their findings into ONE Postfix action.
 *
 *   decide(req, conn)
 *     unknown protocol_state          -> DUNNO (note)
 *     allowlisted (allow.*)           -> identity checks skipped; rate limits still apply
 *     override = first matching `overrides:` entry (its settings for this request)
 *     findings = per-instance memo -> identity cache -> run the missing checks
 *                concurrently (one request-scoped DNS view, deadline now + dns.deadline,
 *                one shared memo Map)  [+ limiter.evaluate at RCPT, concurrently]
 *     contributions (registry order, then limits, then scoring):
 *       fail                          -> the check's action (and its score)
 *       tempfail, blocking action     -> on_tempfail (never 5xx, never DISCARD)
 *       tempfail, warn action         -> nothing
 *       score sum >= reject_at/defer_at -> 550 5.7.1 / 450 4.7.1 scoring.message
 *     answer = the most severe contribution; ties -> the first one
 *       reject > disconnect > discard > hold > defer > defer_if_permit > warn > none
 *     no blocking answer + header.enabled + first RCPT/DATA of the instance -> PREPEND header
 *     mode: warn (dry run) -> a blocking answer becomes "WARN dry-run: would answer ..."
 *     END-OF-MESSAGE                  -> limiter.record (awaited, errors ignored)
 *   Never throws: an unexpected error answers on_tempfail (note "internal error", PI_INTERNAL).
 *
 * Hot path (target ~20k decisions/s on 2 cores with a warm DNS cache): settings,
 * allowlists, override matchers and message templates are compiled once here;
 * checks whose action is off are never called; a request whose findings are
 * all remembered (same instance, or identity cache) is decided synchronously,
 * without a promise; arrays are only allocated when something fails.
 *
 * What can go wrong: a check that throws, returns garbage or outlives the DNS
 * deadline counts as tempfail (reported through onError as PI_INTERNAL); a
 * limiter that throws is treated as having no findings (fail open, note).
 */
import { identityOf, type Identity } from '../net/identity.js';
import { PROTOCOL_STATES, type PolicyRequest } from '../protocol/request.js';
import { actionText, sanitizeText, DUNNO, type PolicyAction } from '../protocol/action.js';
import type { DnsLookup } from '../dns/types.js';
import type { Config } from '../config/types.js';
import type { ErrorCode } from '../errors.js';
import { CHECKS } from '../checks/index.js';
import type { ActionSettings, CheckContext, CheckDef, Finding } from '../checks/types.js';
import type { ConnState, Decider, Decision } from './types.js';
import { BLOCKING, SEVERITY, compileAction, compileTempfailAction, toPolicyAction, type CompiledAction } from './actions.js';
import { renderTemplate, formatScore, type MessageContext } from './message.js';
import { compileAllowlist, type AllowlistName } from './allowlist.js';
import { compileTables, matchOverride, limitSettings, type SettingsTable, type OverrideConfig, type PartialSettings } from './overrides.js';
import { compileHeader } from './header.js';
import { FindingsCache, identityKey } from './findings-cache.js';
import type { Explanation, ExplainResult, ExplainRow } from './explain.js';

/** The part of the rate limiter (src/limits/limiter.ts) the engine uses. */
export interface LimiterLike {
  evaluate(req: PolicyRequest, id: Identity, now?: number): Promise<Finding[]>;
  record(req: PolicyRequest, id: Identity, now?: number): Promise<void>;
}

export interface EngineDeps {
  /** CachingResolver (src/dns/resolver.ts): a DNS view bounded by the request deadline */
  dns: { scoped(deadlineAt: number): DnsLookup };
  limiter?: LimiterLike;
  /** default: the CHECKS registry; tests inject fakes */
  checks?: readonly CheckDef[];
  now?: () => number;
  /** metrics: every freshly computed check finding and every limit finding */
  onFinding?: (f: Finding) => void;
  /** logging: unexpected errors (a check crashed, a limiter threw, ...) */
  onError?: (code: ErrorCode, err: unknown, detail: string) => void;
  /** cross-connection identity-findings cache; false disables (default: config identity_cache) */
  identityCache?: { ttlMs: number; maxEntries: number; maxBytes?: number } | false;
}

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
  /** config problems found while compiling (codes that contradict actions, unknown ids, ...) */
  readonly warnings: readonly string[];
  stats(): EngineStats;
}

/** Extra time after the DNS deadline before a check that still has not answered counts as tempfail. */
const GUARD_GRACE_MS = 250;

const EMPTY: readonly never[] = Object.freeze([]);

/** Which requests Postfix lets a PREPEND through for, and where the message instance is known. */
const HEADER_STATES = new Set(['RCPT', 'DATA']);

const DEFAULT_LIMIT_ACTION: ActionSettings = Object.freeze({
  action: 'defer',
  code: '450 4.7.1',
  message: 'rate limit exceeded, please try again later',
});

/** Per-connection memo for the current message instance, kept in ConnState.engine. */
interface InstanceMemo {
  /** the engine that wrote it: after a reload, a new engine starts afresh */
  owner: object;
  instance: string;
  client: string;
  helo: string;
  sender: string;
  /** findings by registry index (tempfails included: the message is judged once) */
  results: (Finding | undefined)[];
  /** CheckContext.memo shared by all runs of this instance */
  ctxMemo: Map<string, Promise<unknown>>;
  /** the result header was answered for this instance */
  stamped: boolean;
}

interface Contribution {
  readonly check: string;
  readonly severity: number;
  /** check | tempfail | limit | score | score-tempfail */
  readonly kind: string;
}

/** What explain() wants to know about an evaluation. */
interface Trace {
  table: SettingsTable | null;
  allowed: AllowlistName | null;
  results: readonly (Finding | undefined)[];
  fresh: ReadonlySet<number>;
  limitFindings: readonly Finding[];
  limitActions: CompiledAction[];
  contributions: readonly Contribution[];
  winner: Contribution | null;
  sum: number;
}

export function createEngine(config: Config, deps: EngineDeps): Engine {
  const defs: readonly CheckDef[] = deps.checks ?? CHECKS;
  const clock = deps.now ?? Date.now;
  const warnings: string[] = [];
  const warn = (m: string) => {
    if (!warnings.includes(m)) warnings.push(m);
  };
  const onFinding = deps.onFinding;
  const onError = deps.onError;
  const limiter = deps.limiter;
  const owner = {};

  // ---- compiled once -------------------------------------------------------------
  const allowlist = compileAllowlist(config.allow);
  const allowOk = config.allow.action === 'ok';
  const { base, overrides } = compileTables(
    config.checks as unknown as Readonly<Record<string, { action: ActionSettings['action']; code: string | null; message: string; score: number } | undefined>>,
    config.overrides as unknown as readonly OverrideConfig[],
    defs,
    warn,
  );
  const onTempfail = compileTempfailAction(config.on_tempfail, warn);
  // Compiled once per distinct limit failure action (the limiter shares one frozen object).
  const backendFailureCache = new WeakMap<ActionSettings, CompiledAction | null>();
  const backendFailureAction = (check: string, a: ActionSettings): CompiledAction | null => {
    let c = backendFailureCache.get(a);
    if (c === undefined) {
      const compiled = a.action === 'defer' ? compileAction(check, { action: 'defer', code: a.code ?? null, message: a.message ?? '', score: 0 }, warn) : null;
      c = compiled !== null && compiled.severity >= BLOCKING ? compiled : null;
      backendFailureCache.set(a, c);
    }
    return c;
  };
  const rejectAt = config.scoring.reject_at;
  const deferAt = config.scoring.defer_at;
  const scoring = rejectAt !== null || deferAt !== null;
  if ((rejectAt !== null && rejectAt <= 0) || (deferAt !== null && deferAt <= 0)) {
    warn('scoring thresholds <= 0 only take effect when at least one failed check carries a score');
  }
  const scoreReject = compileAction('scoring', { action: 'reject', code: '550 5.7.1', message: config.scoring.message }, warn);
  const scoreDefer = compileAction('scoring', { action: 'defer', code: '450 4.7.1', message: config.scoring.message }, warn);
  const header = compileHeader(config.header, defs, config.identity.my_names);
  const deadlineMs = config.dns.deadline;
  const dryRun = config.mode === 'warn';
  const n = defs.length;
  const ic = config.identity_cache;
  const cacheOpts = deps.identityCache === undefined ? { ttlMs: ic.ttl, maxEntries: ic.size, maxBytes: ic.max_bytes } : deps.identityCache;
  const cache = cacheOpts === false || cacheOpts.ttlMs <= 0 || cacheOpts.maxEntries <= 0 || cacheOpts.maxBytes === 0
    ? null
    : new FindingsCache(cacheOpts.ttlMs, cacheOpts.maxEntries, n, cacheOpts.maxBytes);

  const stats = { decisions: 0, instanceHits: 0, checksRun: 0, internalErrors: 0 };

  // ---- helpers -------------------------------------------------------------------
  const report = (code: ErrorCode, err: unknown, detail: string) => {
    try {
      onError?.(code, err, detail);
    } catch {
      /* a logging hook must not break a decision */
    }
  };

  const emit = (f: Finding) => {
    if (onFinding === undefined) return;
    try {
      onFinding(f);
    } catch {
      /* a metrics hook must not break a decision */
    }
  };

  const crashed = (def: CheckDef, err: unknown): Finding => {
    report('PI_INTERNAL', err, `check ${def.id} failed`);
    const why = err instanceof Error ? err.message : String(err);
    return { check: def.id, result: 'tempfail', reason: `internal error in check: ${sanitizeText(why).slice(0, 120)} [PI_INTERNAL]` };
  };

  /** A check's finding as the engine may trust it: its own id, a known result. */
  const checked = (def: CheckDef, f: unknown): Finding => {
    if (typeof f !== 'object' || f === null) return crashed(def, new Error('check returned no finding'));
    const r = (f as Finding).result;
    if (r !== 'pass' && r !== 'fail' && r !== 'tempfail' && r !== 'skip') return crashed(def, new Error(`check returned result ${JSON.stringify(r)}`));
    // Fast path: a well-behaved check's finding is used as is (no copy).
    if ((f as Finding).check === def.id && typeof (f as Finding).reason === 'string') return f as Finding;
    return { ...(f as Finding), check: def.id, reason: String((f as Finding).reason ?? '') };
  };

  const timedOut = (def: CheckDef): Finding => {
    report('PI_INTERNAL', new Error('check did not settle'), `check ${def.id} did not answer within dns.deadline`);
    return { check: def.id, result: 'tempfail', reason: `no answer within dns.deadline (${deadlineMs} ms) [PI_INTERNAL]` };
  };

  function withGuard(p: Promise<unknown>, ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<void>((resolve) => {
      // Not unref'd: a pending decision must keep the process alive (CLI `test`).
      timer = setTimeout(resolve, ms);
    });
    return Promise.race([p, guard]).finally(() => clearTimeout(timer));
  }

  /** Run the checks at `indexes` concurrently; write their findings into `results`. */
  async function runChecks(
    req: PolicyRequest,
    id: Identity,
    now: number,
    indexes: readonly number[],
    results: (Finding | undefined)[],
    ctxMemo: Map<string, Promise<unknown>>,
    fresh: Set<number> | null,
  ): Promise<void> {
    const ctx: CheckContext = { req, id, dns: deps.dns.scoped(now + deadlineMs), config, memo: ctxMemo };
    // Findings land in a request-local array first: a check that settles after
    // the guard gave up must not write into a memo that moved on.
    const slots = new Array<Finding | undefined>(indexes.length);
    let promises: Promise<void>[] | null = null;
    for (let k = 0; k < indexes.length; k++) {
      const def = defs[indexes[k]!]!;
      let r: Promise<Finding> | Finding;
      try {
        r = def.run(ctx);
      } catch (e) {
        slots[k] = crashed(def, e);
        continue;
      }
      if (r !== null && typeof r === 'object' && typeof (r as Promise<Finding>).then === 'function') {
        (promises ??= []).push(
          Promise.resolve(r).then(
            (f) => {
              slots[k] = checked(def, f);
            },
            (e) => {
              slots[k] = crashed(def, e);
            },
          ),
        );
      } else slots[k] = checked(def, r);
    }
    if (promises !== null) await withGuard(Promise.all(promises), deadlineMs + GUARD_GRACE_MS);
    stats.checksRun += indexes.length;
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k]!;
      const f = slots[k] ?? timedOut(defs[i]!);
      results[i] = f;
      fresh?.add(i);
      emit(f);
    }
  }

  async function evaluateLimits(req: PolicyRequest, id: Identity, now: number): Promise<Finding[] | string> {
    try {
      const found = await limiter!.evaluate(req, id, now);
      for (const f of found) emit(f);
      return found;
    } catch (e) {
      report('PI_INTERNAL', e, 'limiter.evaluate failed');
      return `rate limits not evaluated (${sanitizeText(e instanceof Error ? e.message : String(e)).slice(0, 80)})`;
    }
  }

  async function recordLimits(req: PolicyRequest, id: Identity, now: number): Promise<string | null> {
    try {
      await limiter!.record(req, id, now);
      return null;
    } catch (e) {
      report('PI_INTERNAL', e, 'limiter.record failed');
      return 'rate-limit counters not updated';
    }
  }

  /** The instance memo for this request, reset when the instance (or identity) changed. */
  function instanceMemo(conn: ConnState, req: PolicyRequest): InstanceMemo {
    let m = conn.engine as InstanceMemo | undefined;
    if (m === undefined || m === null || m.owner !== owner) {
      m = {
        owner,
        instance: req.instance,
        client: req.client_address,
        helo: req.helo_name,
        sender: req.sender,
        results: new Array<Finding | undefined>(n),
        ctxMemo: new Map(),
        stamped: false,
      };
      conn.engine = m;
      return m;
    }
    // Same message instance AND the same identity (XCLIENT or a new HELO mid-
    // session would change it): keep. Otherwise reuse the object, empty.
    if (m.instance !== req.instance || m.client !== req.client_address || m.helo !== req.helo_name || m.sender !== req.sender) {
      m.instance = req.instance;
      m.client = req.client_address;
      m.helo = req.helo_name;
      m.sender = req.sender;
      m.results = new Array<Finding | undefined>(n);
      m.ctxMemo = new Map();
      m.stamped = false;
    }
    return m;
  }

  function unknownState(state: string): Decision {
    return { action: DUNNO, fired: EMPTY, findings: EMPTY, summary: '', note: `unknown protocol_state ${JSON.stringify(sanitizeText(state).slice(0, 40))}` };
  }

  function dryRunAnswer(enforce: PolicyAction, fired: readonly string[]): PolicyAction {
    return { verb: 'WARN', text: sanitizeText(`dry-run: would answer ${actionText(enforce)}${fired.length > 0 ? ` [${fired.join(' ')}]` : ''}`) };
  }

  function internalError(err: unknown): Decision {
    stats.internalErrors++;
    report('PI_INTERNAL', err, 'decision failed');
    let enforce: PolicyAction = DUNNO;
    if (onTempfail.severity > 0) {
      const t = onTempfail.template;
      enforce = toPolicyAction(onTempfail, t.fixed ?? sanitizeText(t.parts.join('')));
    }
    const blocking = onTempfail.severity >= BLOCKING;
    const action = dryRun && blocking ? dryRunAnswer(enforce, EMPTY) : enforce;
    return {
      action,
      fired: EMPTY,
      findings: EMPTY,
      summary: '',
      note: 'internal error [PI_INTERNAL]',
      ...(action !== enforce ? { wouldBe: enforce } : {}),
    };
  }

  // ---- the decision --------------------------------------------------------------

  /**
   * Turn findings into the Decision. Synchronous: everything asynchronous
   * happened before. `results` is indexed like the registry.
   */
  function finish(
    req: PolicyRequest,
    id: Identity,
    table: SettingsTable,
    allowed: AllowlistName | null,
    results: readonly (Finding | undefined)[],
    limitFindings: readonly Finding[],
    memo: InstanceMemo | null,
    notes: string[] | null,
    trace: Trace | null,
  ): Decision {
    const active = allowed === null ? table.active : EMPTY;
    const settings = table.settings;
    let best: Contribution | null = null;
    let bestAction: CompiledAction | null = null;
    let bestFinding: Finding | null = null;
    let contributions: Contribution[] | null = null;
    let sum = 0;
    let tempScore = 0;
    let scored = false;
    let findingsOut: Finding[] | null = null;
    let limitActions: CompiledAction[] | null = null;

    const contribute = (check: string, action: CompiledAction, f: Finding | null, kind: string) => {
      const c: Contribution = { check, severity: action.severity, kind };
      (contributions ??= []).push(c);
      if (best === null || c.severity > best.severity) {
        best = c;
        bestAction = action;
        bestFinding = f;
      }
    };

    for (let k = 0; k < active.length; k++) {
      const i = active[k]!;
      const f = results[i]!;
      const s = settings[i]!;
      if (f.result === 'fail') {
        if (s.score !== 0) {
          sum += s.score;
          scored = true;
        }
        contribute(f.check, s, f, 'check');
      } else if (f.result === 'tempfail') {
        if (s.score > 0) tempScore += s.score;
        if (s.severity >= BLOCKING && onTempfail.severity > 0) contribute(f.check, onTempfail, f, 'tempfail');
      }
    }
    for (const f of limitFindings) {
      if (f.result !== 'fail' && f.result !== 'tempfail') {
        if (trace !== null) (limitActions ??= []).push(limitSettings(table, f.check, f.action ?? DEFAULT_LIMIT_ACTION, warn));
        continue;
      }
      const s = limitSettings(table, f.check, f.action ?? DEFAULT_LIMIT_ACTION, warn);
      if (trace !== null) (limitActions ??= []).push(s);
      if (s.severity === 0) continue;
      if (f.result === 'fail') {
        if (s.score !== 0) {
          sum += s.score;
          scored = true;
        }
        contribute(f.check, s, f, 'limit');
      } else {
        // A limit that could not be decided (backend down, on_backend_failure: defer)
        // brings its own temporary action (451 4.3.0 ...): it is not a DNS failure,
        // so on_tempfail's text would mislead. Only a class-4 deferral qualifies;
        // anything else falls back to on_tempfail, so this can never be a 5xx.
        const own = f.action !== undefined ? backendFailureAction(f.check, f.action) : null;
        if (own !== null) contribute(f.check, own, f, 'limit');
        else if (s.severity >= BLOCKING && onTempfail.severity > 0) contribute(f.check, onTempfail, f, 'tempfail');
      }
    }
    let scoreReason: string | undefined;
    if (scoring && scored) {
      if (rejectAt !== null && sum >= rejectAt) contribute('score', scoreReject, null, 'score');
      else if (deferAt !== null && sum >= deferAt) contribute('score', scoreDefer, null, 'score');
      else if (
        tempScore > 0 && onTempfail.severity > 0 &&
        ((rejectAt !== null && sum + tempScore >= rejectAt) || (deferAt !== null && sum + tempScore >= deferAt))
      ) {
        // Checks that could not answer might have pushed the score over a
        // threshold: do not let a DNS outage turn a would-be refusal into a pass.
        contribute('score', onTempfail, null, 'score-tempfail');
      }
    } else if (scoring && tempScore > 0 && onTempfail.severity > 0 &&
      ((rejectAt !== null && tempScore >= rejectAt) || (deferAt !== null && tempScore >= deferAt))) {
      contribute('score', onTempfail, null, 'score-tempfail');
    }

    // Every finding, in registry order, then the limits (log line, explanation).
    findingsOut = new Array<Finding>(active.length + limitFindings.length);
    let summary = '';
    for (let k = 0; k < active.length; k++) {
      const f = results[active[k]!]!;
      findingsOut[k] = f;
      summary += k === 0 ? `${f.check}=${f.result}` : ` ${f.check}=${f.result}`;
    }
    for (let k = 0; k < limitFindings.length; k++) {
      const f = limitFindings[k]!;
      findingsOut[active.length + k] = f;
      summary += summary === '' ? `${f.check}=${f.result}` : ` ${f.check}=${f.result}`;
    }

    const win = best as Contribution | null;
    const winAction = bestAction as CompiledAction | null;
    const bestSev = win === null ? 0 : win.severity;
    let fired: readonly string[] = EMPTY;
    if (win !== null && bestSev > 0) {
      const ids: string[] = [];
      for (const c of contributions as unknown as Contribution[]) if (c.severity === bestSev && !ids.includes(c.check)) ids.push(c.check);
      fired = ids;
    }
    const score = scoring || sum !== 0 ? sum : undefined;

    // The enforce-mode answer.
    let enforce: PolicyAction;
    const message = (): string => {
      if (win!.kind === 'score') {
        const parts: string[] = [];
        for (const c of contributions as unknown as Contribution[]) {
          if (c.kind !== 'check' && c.kind !== 'limit') continue;
          const s = c.kind === 'check' ? settings[defs.findIndex((d) => d.id === c.check)] : undefined;
          const sc = s?.score ?? 0;
          if (sc !== 0) parts.push(`${c.check}(${formatScore(sc)})`);
        }
        scoreReason = parts.join(' ');
      }
      const ctx: MessageContext = {
        req, id,
        finding: bestFinding as Finding | null,
        findings: findingsOut!,
        check: win!.check,
        score: sum,
        ...(scoreReason !== undefined ? { reason: scoreReason } : win!.kind === 'score-tempfail' ? { reason: 'score incomplete' } : {}),
      };
      return renderTemplate(winAction!.template, ctx);
    };
    if (bestSev >= BLOCKING) {
      enforce = toPolicyAction(winAction!, message());
    } else if (header !== null && allowed === null && memo !== null && !memo.stamped && HEADER_STATES.has(req.protocol_state)) {
      enforce = { verb: 'PREPEND', text: sanitizeText(header.render(results, active, id, scoring ? sum : undefined)) };
      memo.stamped = true;
    } else if (bestSev > 0) {
      enforce = toPolicyAction(winAction!, message());
    } else {
      enforce = allowed !== null && allowOk ? { verb: 'OK' } : DUNNO;
    }

    let action = enforce;
    if (dryRun && bestSev >= BLOCKING) action = dryRunAnswer(enforce, fired);

    if (allowed !== null) (notes ??= []).unshift(`allowlisted: ${allowed}`);
    if (table.name !== null && allowed === null) (notes ??= []).push(`override: ${table.name}`);
    if (win !== null && (win.kind === 'tempfail' || win.kind === 'score-tempfail') && bestSev > 0) {
      (notes ??= []).push(`on_tempfail: ${win.kind === 'tempfail' ? `${win.check} could not be decided` : 'score incomplete'}`);
    }
    if (action !== enforce) (notes ??= []).push('dry-run');

    if (trace !== null) {
      trace.table = table;
      trace.allowed = allowed;
      trace.results = results;
      trace.limitFindings = limitFindings;
      trace.limitActions = limitActions ?? [];
      trace.contributions = contributions ?? [];
      trace.winner = win;
      trace.sum = sum;
    }

    const d: { -readonly [K in keyof Decision]: Decision[K] } = { action, fired, findings: findingsOut, summary };
    if (action !== enforce) d.wouldBe = enforce;
    if (notes !== null) d.note = notes.join('; ');
    if (score !== undefined) d.score = score;
    return d;
  }

  function evaluate(req: PolicyRequest, conn: ConnState, trace: Trace | null): Decision | Promise<Decision> {
    const state = req.protocol_state;
    if (!PROTOCOL_STATES.has(state)) return unknownState(state);
    stats.decisions++;
    const now = clock();
    const id = identityOf(req);
    const allowed = allowlist.match(req, id);
    const wantLimits = limiter !== undefined && state === 'RCPT';
    const wantRecord = limiter !== undefined && state === 'END-OF-MESSAGE' && trace === null;
    const ov = allowed === null && overrides.length > 0 ? matchOverride(overrides, req, id) : null;
    const table = ov !== null ? ov.table : base;
    const memo = req.instance !== '' ? instanceMemo(conn, req) : null;
    const results = memo !== null ? memo.results : new Array<Finding | undefined>(n);
    let notes: string[] | null = null;

    // Which active checks still need an answer? (No array unless some do.)
    let missing: number[] | null = null;
    if (allowed === null) {
      for (const i of table.active) if (results[i] === undefined) (missing ??= []).push(i);
      if (missing === null && table.active.length > 0 && memo !== null) {
        stats.instanceHits++;
        notes = ['cached: instance'];
      }
    }
    let cacheKey: string | null = null;
    if (missing !== null && cache !== null && trace === null) {
      // no helo_name attribute (helo_missing skips) is not `helo_name=` (no HELO: 503 5.5.1): undefined keeps them apart
      cacheKey = identityKey(state, id.clientAddress, req.server_address, req.attrs.helo_name, id.senderDomain, id.sender, id.nullSender, id.sasl);
      const hit = cache.get(cacheKey, now);
      if (hit !== undefined) {
        let still: number[] | null = null;
        for (const i of missing) {
          const f = hit[i];
          if (f !== undefined) results[i] = f;
          else (still ??= []).push(i);
        }
        if (still === null || still.length < missing.length) notes = [still === null ? 'cached: identity' : 'cached: identity (partly)'];
        missing = still;
      }
    }

    if (missing === null && !wantLimits && !wantRecord) {
      // Everything is known: decide synchronously (no promise, no timer).
      return finish(req, id, table, allowed, results, EMPTY, memo, notes, trace);
    }
    return evaluateAsync(req, id, now, table, allowed, results, missing, memo, notes, cacheKey, wantLimits, wantRecord, trace);
  }

  async function evaluateAsync(
    req: PolicyRequest,
    id: Identity,
    now: number,
    table: SettingsTable,
    allowed: AllowlistName | null,
    results: (Finding | undefined)[],
    missing: number[] | null,
    memo: InstanceMemo | null,
    notes: string[] | null,
    cacheKey: string | null,
    wantLimits: boolean,
    wantRecord: boolean,
    trace: Trace | null,
  ): Promise<Decision> {
    // The limiter runs concurrently with the checks.
    const limitsP = wantLimits ? evaluateLimits(req, id, now) : null;
    const recordP = wantRecord ? recordLimits(req, id, now) : null;
    if (missing !== null) {
      await runChecks(req, id, now, missing, results, memo !== null ? memo.ctxMemo : new Map(), trace !== null ? (trace.fresh as Set<number>) : null);
      if (cacheKey !== null) cache!.put(cacheKey, now, results, missing);
    }
    let limitFindings: readonly Finding[] = EMPTY;
    if (limitsP !== null) {
      const r = await limitsP;
      if (typeof r === 'string') (notes ??= []).push(r);
      else limitFindings = r;
    }
    if (recordP !== null) {
      const r = await recordP;
      if (r !== null) (notes ??= []).push(r);
    }
    return finish(req, id, table, allowed, results, limitFindings, memo, notes, trace);
  }

  // ---- explanation ---------------------------------------------------------------

  function explanation(d: Decision, req: PolicyRequest, t: Trace): Explanation {
    const rows: ExplainRow[] = [];
    const winner = t.winner;
    const effectOf = (check: string, kind: string | null, score: number): string => {
      const parts: string[] = [];
      const c = t.contributions.find((x) => x.check === check && (kind === null || x.kind === kind));
      if (c !== undefined) {
        if (winner !== null && c === winner) parts.push('decides');
        else if (winner !== null && c.severity === winner.severity && c.severity > 0) parts.push('fired');
        else parts.push('outranked');
        if (c.kind === 'tempfail') parts.unshift('on_tempfail');
      }
      if (score !== 0) parts.push(`score ${score > 0 ? '+' : ''}${formatScore(score)}`);
      return parts.join(', ');
    };
    const table = t.table ?? base;
    const skipped = t.allowed !== null;
    for (let i = 0; i < defs.length; i++) {
      const def = defs[i]!;
      const s = table.settings[i]!;
      const f = t.results[i];
      if (s.action === 'off' || skipped || f === undefined) {
        rows.push({
          check: def.id, group: def.group, result: 'off', action: s.action, code: s.code, score: s.score,
          effect: skipped ? 'not run (allowlisted)' : 'not run',
          reason: skipped ? `allowlisted by ${t.allowed}` : 'action off', cached: false,
        });
        continue;
      }
      let effect: string;
      if (f.result === 'tempfail' && s.severity < BLOCKING) effect = 'ignored (warn check)';
      else effect = effectOf(def.id, null, f.result === 'fail' ? s.score : 0);
      rows.push({
        check: def.id, group: def.group, result: f.result, action: s.action, code: s.code, score: s.score,
        effect, reason: f.reason, cached: !t.fresh.has(i),
      });
    }
    t.limitFindings.forEach((f, k) => {
      const s = t.limitActions[k];
      rows.push({
        check: f.check, group: 'limit', result: f.result, action: s?.action ?? 'off', code: s?.code ?? null, score: s?.score ?? 0,
        effect: effectOf(f.check, null, f.result === 'fail' ? s?.score ?? 0 : 0), reason: f.reason, cached: false,
      });
    });
    if (scoring) {
      const c = t.contributions.find((x) => x.check === 'score');
      const reached = c !== undefined && c.kind === 'score';
      rows.push({
        check: 'score', group: 'scoring', result: reached ? 'fail' : 'pass',
        action: c?.kind === 'score' ? (c.severity === SEVERITY.reject ? 'reject' : 'defer') : 'off',
        code: c?.kind === 'score' ? (c.severity === SEVERITY.reject ? scoreReject.code : scoreDefer.code) : null,
        score: t.sum,
        effect: c !== undefined ? effectOf('score', c.kind, 0) : '',
        reason: `sum ${formatScore(t.sum)}; reject_at ${rejectAt === null ? '-' : formatScore(rejectAt)}, defer_at ${deferAt === null ? '-' : formatScore(deferAt)}`,
        cached: false,
      });
    }
    return {
      protocolState: req.protocol_state,
      mode: dryRun ? 'warn' : 'enforce',
      answer: actionText(d.action, { allowOk }),
      wouldBe: d.wouldBe !== undefined ? actionText(d.wouldBe, { allowOk }) : null,
      allowlisted: t.allowed,
      override: t.allowed === null ? t.table?.name ?? null : null,
      score: d.score ?? null,
      scoring: { reject_at: rejectAt, defer_at: deferAt },
      fired: d.fired,
      note: d.note ?? null,
      summary: d.summary,
      rows,
    };
  }

  return {
    warnings,

    decide(req, conn) {
      try {
        const r = evaluate(req, conn, null);
        return r instanceof Promise ? r.catch(internalError) : r;
      } catch (e) {
        return internalError(e);
      }
    },

    async explain(req, conn) {
      const trace: Trace = {
        table: null, allowed: null, results: EMPTY, fresh: new Set<number>(), limitFindings: EMPTY,
        limitActions: [], contributions: EMPTY, winner: null, sum: 0,
      };
      const c: ConnState = conn ?? { engine: undefined, peer: 'explain' };
      let d: Decision;
      try {
        d = await evaluate(req, c, trace);
      } catch (e) {
        d = internalError(e);
      }
      return { decision: d, explanation: explanation(d, req, trace) };
    },

    stats() {
      return {
        ...stats,
        identityCacheHits: cache?.hits ?? 0,
        identityCacheMisses: cache?.misses ?? 0,
        identityCacheSize: cache?.size ?? 0,
        identityCacheBytes: cache?.bytes ?? 0,
      };
    },
  };
}

/** Exposed for tests and docs: the severity ranks. */
export { SEVERITY };
export type { PartialSettings };
