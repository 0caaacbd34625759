/**
 * explain — why the engine answered what it answered, for `policyd-identity
 * test` (a table) and `--json`.
 *
 * The engine fills an Explanation from the same evaluation that makes the
 * Decision (engine.explain()), so the table can never disagree with the
 * daemon. One row per registry check (checks that are off included, so an
 * admin sees what did NOT run), one per rate-limit finding, one for scoring.
 *
 * Row effects:
 *   decides        this row made the answer
 *   fired          failed at the same severity as the answer (listed in fired)
 *   outranked      failed, but a more severe (or earlier) row decided
 *   on_tempfail    tempfailed; contributes the on_tempfail action
 *   ignored        tempfailed while its action is warn (contributes nothing)
 *   not run        action off
 * plus "score +N" when a failed row carries a score.
 *
 * The rows are built here, from a Trace that combine.ts fills only when
 * explain() asked for one: the daemon's hot path builds no rows.
 *
 * What can go wrong: nothing throws.
 */
import { actionText } from '../protocol/action.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { CheckAction, CheckResult, Finding } from '../checks/types.js';
import { summaryOf, type Decision } from './types.js';
import { formatScore } from './message.js';
import { BLOCKING, SEVERITY, type CompiledAction } from './actions.js';
import type { SettingsTable } from './overrides.js';
import type { AllowlistName } from './allowlist.js';
import type { EngineSetup } from './setup.js';

export type ContributionKind = 'check' | 'tempfail' | 'limit' | 'score' | 'score-tempfail';

/** One failed (or undecided) row that offered an action. */
export interface Contribution {
  readonly check: string;
  readonly severity: number;
  readonly kind: ContributionKind;
  /** the score the row's settings carry (0 for on_tempfail and scoring) */
  readonly score: number;
}

/** What explain() wants to know about an evaluation; filled by combine.ts. */
export interface Trace {
  table: SettingsTable | null;
  allowed: AllowlistName | null;
  /** identity was judged (or allowlisted) for this request */
  judged: boolean;
  /** why identity was not judged (states.ts), when it was not */
  notJudged: string | null;
  results: readonly (Finding | undefined)[];
  /** registry indexes computed fresh (not from the instance memo or the identity cache) */
  fresh: Set<number>;
  limitFindings: readonly Finding[];
  limitActions: readonly CompiledAction[];
  contributions: readonly Contribution[];
  winner: Contribution | null;
  sum: number;
}

export function newTrace(): Trace {
  return {
    table: null, allowed: null, judged: false, notJudged: null, results: [], fresh: new Set<number>(), limitFindings: [],
    limitActions: [], contributions: [], winner: null, sum: 0,
  };
}

export interface ExplainRow {
  /** check id, "limit:<rule>", or "score" */
  readonly check: string;
  /** check group, "limit" or "scoring" */
  readonly group: string;
  readonly result: CheckResult | 'off';
  /** the action in force for this request (after overrides) */
  readonly action: CheckAction;
  /** reply code in force (corrected to the action's class), null for the verb's default */
  readonly code: string | null;
  readonly score: number;
  readonly effect: string;
  /** the check's reason: what it looked at (DNS answers included) */
  readonly reason: string;
  /** the finding came from the per-instance memo or the identity cache */
  readonly cached: boolean;
}

export interface Explanation {
  readonly protocolState: string;
  readonly mode: 'enforce' | 'warn';
  /** the action line value Postfix gets, e.g. "450 4.7.25 ..." or "DUNNO" */
  readonly answer: string;
  /** enforce-mode answer when dry-run answered something else */
  readonly wouldBe: string | null;
  readonly allowlisted: string | null;
  readonly override: string | null;
  readonly score: number | null;
  readonly scoring: { readonly reject_at: number | null; readonly defer_at: number | null };
  readonly fired: readonly string[];
  readonly note: string | null;
  readonly summary: string;
  readonly rows: readonly ExplainRow[];
}

export interface ExplainResult {
  readonly decision: Decision;
  readonly explanation: Explanation;
}

/** The explanation of decision `d`, from its trace. */
export function buildExplanation(s: EngineSetup, d: Decision, req: PolicyRequest, t: Trace): Explanation {
  const rows: ExplainRow[] = [];
  const winner = t.winner;
  const effectOf = (check: string, kind: ContributionKind | null, score: number): string => {
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
  const table = t.table ?? s.base;
  for (let i = 0; i < s.defs.length; i++) {
    const def = s.defs[i]!;
    const a = table.settings[i]!;
    const f = t.results[i];
    const skipped = t.allowed !== null ? `allowlisted by ${t.allowed}` : t.notJudged;
    if (a.action === 'off' || skipped !== null || f === undefined) {
      rows.push({
        check: def.id, group: def.group, result: 'off', action: a.action, code: a.code, score: a.score,
        effect: t.allowed !== null ? 'not run (allowlisted)' : 'not run',
        reason: skipped ?? 'action off', cached: false,
      });
      continue;
    }
    const effect = f.result === 'tempfail' && a.severity < BLOCKING ? 'ignored (warn check)' : effectOf(def.id, null, f.result === 'fail' ? a.score : 0);
    rows.push({
      check: def.id, group: def.group, result: f.result, action: a.action, code: a.code, score: a.score,
      effect, reason: f.reason, cached: !t.fresh.has(i),
    });
  }
  t.limitFindings.forEach((f, k) => {
    const a = t.limitActions[k];
    rows.push({
      check: f.check, group: 'limit', result: f.result, action: a?.action ?? 'off', code: a?.code ?? null, score: a?.score ?? 0,
      effect: effectOf(f.check, null, f.result === 'fail' ? a?.score ?? 0 : 0), reason: f.reason, cached: false,
    });
  });
  const sc = s.scoring;
  if (sc.enabled) {
    const c = t.contributions.find((x) => x.check === 'score');
    const reached = c !== undefined && c.kind === 'score';
    rows.push({
      check: 'score', group: 'scoring', result: reached ? 'fail' : 'pass',
      action: reached ? (c.severity === SEVERITY.reject ? 'reject' : 'defer') : 'off',
      code: reached ? (c.severity === SEVERITY.reject ? sc.reject.code : sc.defer.code) : null,
      score: t.sum,
      effect: c !== undefined ? effectOf('score', c.kind, 0) : '',
      reason: `sum ${formatScore(t.sum)}; reject_at ${sc.rejectAt === null ? '-' : formatScore(sc.rejectAt)}, defer_at ${sc.deferAt === null ? '-' : formatScore(sc.deferAt)}`,
      cached: false,
    });
  }
  return {
    protocolState: req.protocol_state,
    mode: s.dryRun ? 'warn' : 'enforce',
    answer: actionText(d.action, { allowOk: s.allowOk }),
    wouldBe: d.wouldBe !== undefined ? actionText(d.wouldBe, { allowOk: s.allowOk }) : null,
    allowlisted: t.allowed,
    override: t.table?.name ?? null,
    score: d.score ?? null,
    scoring: { reject_at: sc.rejectAt, defer_at: sc.deferAt },
    fired: d.fired,
    note: d.note ?? null,
    summary: summaryOf(d),
    rows,
  };
}

/** A plain JSON-ready object (stable key order) for `--json`. */
export function explanationToJson(e: Explanation): Record<string, unknown> {
  return {
    protocol_state: e.protocolState,
    mode: e.mode,
    answer: e.answer,
    would_be: e.wouldBe,
    allowlisted: e.allowlisted,
    override: e.override,
    score: e.score,
    scoring: { reject_at: e.scoring.reject_at, defer_at: e.scoring.defer_at },
    fired: [...e.fired],
    note: e.note,
    summary: e.summary,
    checks: e.rows.map((r) => ({
      check: r.check,
      group: r.group,
      result: r.result,
      action: r.action,
      code: r.code,
      score: r.score,
      effect: r.effect,
      reason: r.reason,
      cached: r.cached,
    })),
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** A readable table for a terminal (plain ASCII, no colours). */
export function renderExplanation(e: Explanation): string {
  const lines: string[] = [];
  lines.push(`answer:      ${e.answer}`);
  if (e.wouldBe !== null) lines.push(`enforce:     ${e.wouldBe}   (mode: warn is a dry run)`);
  lines.push(`state:       ${e.protocolState}   mode: ${e.mode}`);
  if (e.allowlisted !== null) lines.push(`allowlisted: ${e.allowlisted} (identity checks skipped)`);
  if (e.override !== null) lines.push(`override:    ${e.override}`);
  if (e.score !== null) {
    const t: string[] = [];
    if (e.scoring.reject_at !== null) t.push(`reject_at ${formatScore(e.scoring.reject_at)}`);
    if (e.scoring.defer_at !== null) t.push(`defer_at ${formatScore(e.scoring.defer_at)}`);
    lines.push(`score:       ${formatScore(e.score)}${t.length > 0 ? ` (${t.join(', ')})` : ''}`);
  }
  if (e.fired.length > 0) lines.push(`fired:       ${e.fired.join(' ')}`);
  if (e.note !== null) lines.push(`note:        ${e.note}`);
  lines.push('');
  const head = ['CHECK', 'RESULT', 'ACTION', 'EFFECT', 'REASON'];
  const cells = e.rows.map((r) => [
    r.check,
    r.result + (r.cached ? '*' : ''),
    r.action + (r.code !== null ? ` ${r.code}` : ''),
    r.effect,
    r.reason,
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(head[c]!.length, ...cells.map((row) => row[c]!.length)));
  const fmt = (row: string[]) => row.map((v, c) => (c < 4 ? pad(v, widths[c]!) : v)).join('  ').trimEnd();
  lines.push(fmt(head));
  for (const row of cells) lines.push(fmt(row));
  if (e.rows.some((r) => r.cached)) {
    lines.push('');
    lines.push('* remembered from an earlier request (same message, or same identity within seconds)');
  }
  return `${lines.join('\n')}\n`;
}
