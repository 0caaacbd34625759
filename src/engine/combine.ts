/**
 * combine — turn a request's findings into ONE Decision. Synchronous:
 * everything asynchronous (checks, limiter) happened before.
 *
 *   contributions (registry order, then limits, then scoring):
 *     fail                             -> the check's action (and its score)
 *     tempfail, blocking action        -> on_tempfail (never 5xx, never DISCARD)
 *     tempfail, warn action            -> nothing
 *     limit tempfail (backend down)    -> the rule's own 4xx deferral, else on_tempfail
 *     score sum >= reject_at/defer_at  -> 550 5.7.1 / 450 4.7.1 scoring.message
 *   answer = the most severe contribution; ties -> the first one
 *     reject > disconnect > discard > hold > defer > defer_if_permit > warn > none
 *   DISCARD/HOLD where Postfix cannot do them -> REJECT/DEFER (states.ts)
 *   no blocking answer + header.enabled + judged + first RCPT/DATA of the instance -> PREPEND header
 *   mode: warn (dry run) -> a blocking answer becomes "WARN dry-run: would answer ..."
 *
 * Hot path: no array is allocated unless something fails, except the
 * findings list (the log line's `found`); its "id=result" summary is not built
 * here but on demand (types.ts summaryOf).
 *
 * What can go wrong: nothing throws for findings of the documented shape
 * (run-checks.ts makes sure of that); the caller turns any throw into
 * on_tempfail (PI_INTERNAL).
 */
import { actionText, sanitizeText, DUNNO, type PolicyAction } from '../protocol/action.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { ActionSettings, Finding } from '../checks/types.js';
import type { Decision } from './types.js';
import { BLOCKING, toPolicyAction, type CompiledAction } from './actions.js';
import { renderTemplate, formatScore, type MessageContext } from './message.js';
import { limitSettings, type SettingsTable } from './overrides.js';
import type { AllowlistName } from './allowlist.js';
import type { InstanceMemo } from './instance-memo.js';
import type { StateRule } from './states.js';
import type { EngineSetup } from './setup.js';
import type { Contribution, ContributionKind, Trace } from './explain.js';

export const EMPTY: readonly never[] = Object.freeze([]);

const DEFAULT_LIMIT_ACTION: ActionSettings = Object.freeze({
  action: 'defer',
  code: '450 4.7.1',
  message: 'rate limit exceeded, please try again later',
});

/** One request, as evaluate.ts hands it over. */
export interface Judgement {
  readonly req: PolicyRequest;
  readonly id: Identity;
  readonly rule: StateRule;
  /** settings in force: the base table or the first matching override's */
  readonly table: SettingsTable;
  readonly allowed: AllowlistName | null;
  /** registry indexes of the checks that judged this request; empty when identity was not judged */
  readonly active: readonly number[];
  /** findings by registry index (the instance memo's, or the request's own) */
  readonly results: (Finding | undefined)[];
  readonly memo: InstanceMemo | null;
  /** notes for the log line; null until there is one */
  notes: string[] | null;
  /** explain() only */
  readonly trace: Trace | null;
}

/** Contributions of one request and the most severe one so far. */
class Tally {
  best: Contribution | null = null;
  bestAction: CompiledAction | null = null;
  bestFinding: Finding | null = null;
  list: Contribution[] | null = null;
  sum = 0;
  tempScore = 0;
  scored = false;

  add(check: string, action: CompiledAction, f: Finding | null, kind: ContributionKind): void {
    const c: Contribution = { check, severity: action.severity, kind, score: action.score };
    (this.list ??= []).push(c);
    if (this.best === null || c.severity > this.best.severity) {
      this.best = c;
      this.bestAction = action;
      this.bestFinding = f;
    }
  }

  addScore(score: number): void {
    if (score !== 0) {
      this.sum += score;
      this.scored = true;
    }
  }
}

function tallyChecks(s: EngineSetup, j: Judgement, t: Tally): void {
  const settings = j.table.settings;
  for (let k = 0; k < j.active.length; k++) {
    const i = j.active[k]!;
    const f = j.results[i]!;
    const a = settings[i]!;
    if (f.result === 'fail') {
      t.addScore(a.score);
      t.add(f.check, a, f, 'check');
    } else if (f.result === 'tempfail') {
      if (a.score > 0) t.tempScore += a.score;
      if (a.severity >= BLOCKING && s.onTempfail.severity > 0) t.add(f.check, s.onTempfail, f, 'tempfail');
    }
  }
}

function tallyLimits(s: EngineSetup, j: Judgement, limitFindings: readonly Finding[], t: Tally, limitActions: CompiledAction[] | null): void {
  for (const f of limitFindings) {
    const a = limitSettings(j.table, f.check, f.action ?? DEFAULT_LIMIT_ACTION, s.warn);
    limitActions?.push(a);
    if (f.result !== 'fail' && f.result !== 'tempfail') continue;
    if (a.severity === 0) continue;
    if (f.result === 'fail') {
      t.addScore(a.score);
      t.add(f.check, a, f, 'limit');
    } else {
      // A limit that could not be decided (backend down, on_backend_failure: defer)
      // brings its own temporary action (451 4.3.0 ...): it is not a DNS failure,
      // so on_tempfail's text would mislead. Only a class-4 deferral qualifies;
      // anything else falls back to on_tempfail, so this can never be a 5xx.
      const own = f.action !== undefined ? s.backendFailureAction(f.check, f.action) : null;
      if (own !== null) t.add(f.check, own, f, 'limit');
      else if (a.severity >= BLOCKING && s.onTempfail.severity > 0) t.add(f.check, s.onTempfail, f, 'tempfail');
    }
  }
}

function tallyScore(s: EngineSetup, t: Tally): void {
  const { enabled, rejectAt, deferAt } = s.scoring;
  if (!enabled) return;
  const reaches = (v: number) => (rejectAt !== null && v >= rejectAt) || (deferAt !== null && v >= deferAt);
  if (t.scored) {
    if (rejectAt !== null && t.sum >= rejectAt) t.add('score', s.scoring.reject, null, 'score');
    else if (deferAt !== null && t.sum >= deferAt) t.add('score', s.scoring.defer, null, 'score');
    // Checks that could not answer might have pushed the score over a
    // threshold: do not let a DNS outage turn a would-be refusal into a pass.
    else if (t.tempScore > 0 && s.onTempfail.severity > 0 && reaches(t.sum + t.tempScore)) t.add('score', s.onTempfail, null, 'score-tempfail');
  } else if (t.tempScore > 0 && s.onTempfail.severity > 0 && reaches(t.tempScore)) {
    t.add('score', s.onTempfail, null, 'score-tempfail');
  }
}

/** The message of the winning contribution, placeholders filled. */
function message(j: Judgement, t: Tally, win: Contribution, action: CompiledAction, findings: readonly Finding[]): string {
  let reason: string | undefined;
  if (win.kind === 'score') {
    const parts: string[] = [];
    for (const c of t.list!) if ((c.kind === 'check' || c.kind === 'limit') && c.score !== 0) parts.push(`${c.check}(${formatScore(c.score)})`);
    reason = parts.join(' ');
  } else if (win.kind === 'score-tempfail') reason = 'score incomplete';
  const ctx: MessageContext = {
    req: j.req, id: j.id, finding: t.bestFinding, findings, check: win.check, score: t.sum,
    ...(reason !== undefined ? { reason } : {}),
  };
  return renderTemplate(action.template, ctx);
}

function dryRunAnswer(enforce: PolicyAction, fired: readonly string[]): PolicyAction {
  return { verb: 'WARN', text: sanitizeText(`dry-run: would answer ${actionText(enforce)}${fired.length > 0 ? ` [${fired.join(' ')}]` : ''}`) };
}

export function combine(s: EngineSetup, j: Judgement, limitFindings: readonly Finding[]): Decision {
  const t = new Tally();
  const limitActions: CompiledAction[] | null = j.trace !== null ? [] : null;
  tallyChecks(s, j, t);
  tallyLimits(s, j, limitFindings, t, limitActions);
  tallyScore(s, t);

  // Every finding, in registry order, then the limits (log line, explanation).
  const active = j.active;
  const findings = active.length + limitFindings.length === 0 ? EMPTY : new Array<Finding>(active.length + limitFindings.length);
  for (let k = 0; k < active.length; k++) (findings as Finding[])[k] = j.results[active[k]!]!;
  for (let k = 0; k < limitFindings.length; k++) (findings as Finding[])[active.length + k] = limitFindings[k]!;

  const win = t.best;
  const severity = win === null ? 0 : win.severity;
  let fired: readonly string[] = EMPTY;
  if (win !== null && severity > 0) {
    const ids: string[] = [];
    for (const c of t.list!) if (c.severity === severity && !ids.includes(c.check)) ids.push(c.check);
    fired = ids;
  }

  // The enforce-mode answer.
  let enforce: PolicyAction;
  let winAction = t.bestAction;
  if (winAction !== null && !j.rule.delegates) {
    const carried = s.withoutDelegation(winAction);
    if (carried !== winAction) {
      (j.notes ??= []).push(`${winAction.action} answered as ${carried.action} at ${j.rule.state} (Postfix cannot ${winAction.action} there)`);
      winAction = carried;
    }
  }
  if (severity >= BLOCKING) {
    enforce = toPolicyAction(winAction!, message(j, t, win!, winAction!, findings));
  } else if (s.header !== null && active.length > 0 && j.memo !== null && !j.memo.stamped && j.rule.header) {
    enforce = { verb: 'PREPEND', text: sanitizeText(s.header.render(j.results, active, j.id, s.scoring.enabled ? t.sum : undefined)) };
    j.memo.stamped = true;
  } else if (severity > 0) {
    enforce = toPolicyAction(winAction!, message(j, t, win!, winAction!, findings));
  } else {
    enforce = j.allowed !== null && s.allowOk ? { verb: 'OK' } : DUNNO;
  }

  const action = s.dryRun && severity >= BLOCKING ? dryRunAnswer(enforce, fired) : enforce;

  let notes = j.notes;
  if (j.allowed !== null) (notes ??= []).unshift(`allowlisted: ${j.allowed}`);
  if (j.table.name !== null) (notes ??= []).push(`override: ${j.table.name}`);
  if (win !== null && severity > 0 && (win.kind === 'tempfail' || win.kind === 'score-tempfail')) {
    (notes ??= []).push(`on_tempfail: ${win.kind === 'tempfail' ? `${win.check} could not be decided` : 'score incomplete'}`);
  }
  if (action !== enforce) (notes ??= []).push('dry-run');

  if (j.trace !== null) {
    const tr = j.trace;
    tr.table = j.table;
    tr.allowed = j.allowed;
    tr.judged = active.length > 0 || j.allowed !== null;
    tr.results = j.results;
    tr.limitFindings = limitFindings;
    tr.limitActions = limitActions!;
    tr.contributions = t.list ?? EMPTY;
    tr.winner = win;
    tr.sum = t.sum;
  }

  const d: { -readonly [K in keyof Decision]: Decision[K] } = { action, fired, findings };
  if (action !== enforce) d.wouldBe = enforce;
  if (notes !== null) d.note = notes.join('; ');
  const score = s.scoring.enabled || t.sum !== 0 ? t.sum : undefined;
  if (score !== undefined) d.score = score;
  return d;
}
