/**
 * evaluate — one request from protocol_state to Decision:
 *
 *   state rule (states.ts)      unknown state -> DUNNO (note)
 *   allowlisted (allow.*)       -> identity not judged; rate limits still apply
 *   override                    = first matching `overrides:` entry, allowlisted
 *                                 requests included (its limit: settings apply to them)
 *   identity judged?            states.ts: CONNECT..RCPT yes; DATA/END-OF-MESSAGE
 *                                 only for an instance not judged before, and only
 *                                 with judge_after_data
 *   findings                    = instance memo -> identity cache -> run the missing
 *                                 checks (run-checks.ts)   [+ limiter at RCPT, concurrently]
 *   decision                    = combine.ts
 *   END-OF-MESSAGE              -> limiter.record, unless the answer refuses the message
 *
 * A request whose findings are all remembered and that needs no limiter is
 * decided synchronously, without a promise or a timer (the warm path).
 *
 * What can go wrong: nothing here throws for a well-formed request; the
 * engine turns any throw or rejection into on_tempfail (PI_INTERNAL).
 */
import { identityOf } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import { sanitizeText, DUNNO } from '../protocol/action.js';
import type { Finding } from '../checks/types.js';
import type { ConnState, Decision } from './types.js';
import { matchOverride } from './overrides.js';
import { identityKey } from './findings-cache.js';
import { instanceMemo } from './instance-memo.js';
import { runChecks } from './run-checks.js';
import { evaluateLimits, recordLimits, refuses } from './limit-findings.js';
import { combine, EMPTY, type Judgement } from './combine.js';
import { STATE_RULES } from './states.js';
import type { EngineSetup } from './setup.js';
import type { Trace } from './explain.js';

/** What the asynchronous part of a request still has to do. */
interface Pending {
  readonly now: number;
  /** registry indexes of the checks to run, or null */
  readonly missing: number[] | null;
  /** identity-cache key to store fresh findings under, or null */
  readonly cacheKey: string | null;
  /** ask the limiter (RCPT) */
  readonly checkLimits: boolean;
  /** count the message (END-OF-MESSAGE) unless the answer refuses it */
  readonly countLimits: boolean;
}

export const NOT_JUDGED_AGAIN = 'judged before DATA: its answers stand';
export const NOT_JUDGED_UNSEEN = 'first seen after DATA (Postfix permitted it earlier): identity not judged (judge_after_data: false)';

function unknownState(state: string): Decision {
  return { action: DUNNO, fired: EMPTY, findings: EMPTY, note: `unknown protocol_state ${JSON.stringify(sanitizeText(state).slice(0, 40))}` };
}

export function evaluate(s: EngineSetup, req: PolicyRequest, conn: ConnState, trace: Trace | null): Decision | Promise<Decision> {
  const rule = STATE_RULES.get(req.protocol_state);
  if (rule === undefined) return unknownState(req.protocol_state);
  s.counters.decisions++;
  const now = s.clock();
  const id = identityOf(req);
  const allowed = s.allowlist.match(req, id);
  const ov = s.overrides.length > 0 ? matchOverride(s.overrides, req, id) : null;
  const table = ov !== null ? ov.table : s.base;
  const memo = req.instance !== '' ? instanceMemo(conn, req, s.owner, s.defs.length) : null;
  let notes: string[] | null = null;

  let judge = allowed === null;
  if (judge && rule.identity === 'once-per-instance') {
    const why = memo !== null && memo.judged ? NOT_JUDGED_AGAIN : s.judgeAfterData ? null : NOT_JUDGED_UNSEEN;
    if (why !== null) {
      judge = false;
      notes = [why];
      if (trace !== null) trace.notJudged = why;
    }
  }
  if (judge && memo !== null) memo.judged = true;
  const results = memo !== null ? memo.results : new Array<Finding | undefined>(s.defs.length);
  const active = judge ? table.active : EMPTY;

  // Which active checks still need an answer? Counted first, and the list is
  // made only of what the identity cache cannot answer either: a warm request
  // (every finding cached) makes no array. Why: building the list of ~25
  // indexes, then a second one for the cache's gaps, was ~0.5 KB per request
  // of the warm path (issue 11 §4). Indexed loops here and below: a for-of
  // left an iterator result per element in the allocation profile of the warm
  // path (bench/hotpath.mjs).
  let unanswered = 0;
  for (let k = 0; k < active.length; k++) if (results[active[k]!] === undefined) unanswered++;
  if (unanswered === 0 && active.length > 0 && memo !== null) {
    s.counters.instanceHits++;
    notes = ['cached: instance'];
  }
  let missing: number[] | null = null;
  let cacheKey: string | null = null;
  if (unanswered > 0) {
    let hit: readonly (Finding | undefined)[] | undefined;
    if (s.cache !== null && trace === null) {
      // no helo_name attribute (helo_missing skips) is not `helo_name=` (no HELO: 503 5.5.1): undefined keeps them apart
      // (has_helo_name, not req.attrs.helo_name: `attrs` is built on first read, protocol/request.ts)
      cacheKey = identityKey(req.protocol_state, id.clientAddress, req.server_address, req.has_helo_name ? req.helo_name : undefined, id.sender, id.nullSender, id.sasl);
      hit = s.cache.get(cacheKey, now);
    }
    let fromCache = 0;
    for (let k = 0; k < active.length; k++) {
      const i = active[k]!;
      if (results[i] !== undefined) continue;
      const f = hit?.[i];
      if (f !== undefined) {
        results[i] = f;
        fromCache++;
      } else (missing ??= []).push(i);
    }
    if (fromCache > 0) notes = [missing === null ? 'cached: identity' : 'cached: identity (partly)'];
  }

  const checkLimits = s.limiter !== null && rule.limits === 'check';
  const countLimits = s.limiter !== null && rule.limits === 'count' && trace === null;
  const j: Judgement = { req, id, rule, table, allowed, active, results, memo, notes, trace };
  // Everything is known: decide synchronously (no promise, no timer).
  if (missing === null && !checkLimits && !countLimits) return combine(s, j, EMPTY);
  return evaluateAsync(s, j, { now, missing, cacheKey, checkLimits, countLimits });
}

async function evaluateAsync(s: EngineSetup, j: Judgement, p: Pending): Promise<Decision> {
  // The limiter runs concurrently with the checks.
  const limitsP = p.checkLimits ? evaluateLimits(s, s.limiter!, j.req, j.id, p.now) : null;
  if (p.missing !== null) {
    await runChecks(s, {
      req: j.req, id: j.id, now: p.now, indexes: p.missing, results: j.results,
      ctxMemo: j.memo !== null ? (j.memo.ctxMemo ??= new Map()) : new Map(), fresh: j.trace !== null ? j.trace.fresh : null,
    });
    if (p.cacheKey !== null) s.cache!.put(p.cacheKey, p.now, j.results, p.missing);
  }
  let limitFindings: readonly Finding[] = EMPTY;
  if (limitsP !== null) {
    const r = await limitsP;
    if (typeof r === 'string') (j.notes ??= []).push(r);
    else limitFindings = r;
  }
  const d = combine(s, j, limitFindings);
  if (!p.countLimits) return d;
  // Only a message this daemon did not refuse is counted (docs/limits.md).
  const note = refuses(d.action) ? 'refused: not counted against rate limits' : await recordLimits(s, s.limiter!, j.req, j.id, p.now);
  return note === null ? d : { ...d, note: d.note !== undefined ? `${d.note}; ${note}` : note };
}
