/**
 * run-checks — run the identity checks a request still needs, concurrently,
 * with one request-scoped DNS view (deadline: now + dns.deadline) and one
 * shared memo, and write their findings into the request's results.
 *
 * A finding is trusted only as far as its shape goes: its own check id, a
 * known result. Findings land in a request-local array first, so a check
 * that settles after the guard gave up cannot write into a memo that moved on.
 *
 * What can go wrong: a check that throws, returns garbage or outlives the DNS
 * deadline (+ GUARD_GRACE_MS) counts as tempfail, reported through onError
 * as PI_INTERNAL. The guard timer is not unref'd: a pending decision must
 * keep the process alive (CLI `test`).
 */
import { sanitizeText } from '../protocol/action.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { CheckContext, CheckDef, Finding } from '../checks/types.js';
import type { EngineSetup } from './setup.js';

/** Extra time after the DNS deadline before a check that still has not answered counts as tempfail. */
const GUARD_GRACE_MS = 250;

/** What one run needs besides the setup. */
export interface CheckRun {
  readonly req: PolicyRequest;
  readonly id: Identity;
  readonly now: number;
  /** registry indexes of the checks to run */
  readonly indexes: readonly number[];
  /** the request's findings by registry index; written here */
  readonly results: (Finding | undefined)[];
  /** CheckContext.memo (the instance's, or a fresh one) */
  readonly ctxMemo: Map<string, Promise<unknown>>;
  /** explain: the indexes computed fresh (not from a memo or cache) */
  readonly fresh: Set<number> | null;
}

function crashed(s: EngineSetup, def: CheckDef, err: unknown): Finding {
  s.report('PI_INTERNAL', err, `check ${def.id} failed`);
  const why = err instanceof Error ? err.message : String(err);
  return { check: def.id, result: 'tempfail', reason: `internal error in check: ${sanitizeText(why).slice(0, 120)} [PI_INTERNAL]` };
}

/** A check's finding as the engine may trust it: its own id, a known result. */
function checked(s: EngineSetup, def: CheckDef, f: unknown): Finding {
  if (typeof f !== 'object' || f === null) return crashed(s, def, new Error('check returned no finding'));
  const r = (f as Finding).result;
  if (r !== 'pass' && r !== 'fail' && r !== 'tempfail' && r !== 'skip') return crashed(s, def, new Error(`check returned result ${JSON.stringify(r)}`));
  // Fast path: a well-behaved check's finding is used as is (no copy).
  if ((f as Finding).check === def.id && typeof (f as Finding).reason === 'string') return f as Finding;
  return { ...(f as Finding), check: def.id, reason: String((f as Finding).reason ?? '') };
}

function timedOut(s: EngineSetup, def: CheckDef): Finding {
  s.report('PI_INTERNAL', new Error('check did not settle'), `check ${def.id} did not answer within dns.deadline`);
  return { check: def.id, result: 'tempfail', reason: `no answer within dns.deadline (${s.deadlineMs} ms) [PI_INTERNAL]` };
}

function withGuard(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

export async function runChecks(s: EngineSetup, run: CheckRun): Promise<void> {
  const { indexes, results } = run;
  const ctx: CheckContext = { req: run.req, id: run.id, dns: s.dns.scoped(run.now + s.deadlineMs), settings: s.checkSettings, memo: run.ctxMemo };
  const slots = new Array<Finding | undefined>(indexes.length);
  // the asynchronous checks' promises, and their positions in `slots`
  let pending: Promise<Finding>[] | null = null;
  let at: number[] | null = null;
  for (let k = 0; k < indexes.length; k++) {
    const def = s.defs[indexes[k]!]!;
    let r: Promise<Finding> | Finding;
    try {
      r = def.run(ctx);
    } catch (e) {
      slots[k] = crashed(s, def, e);
      continue;
    }
    if (r !== null && typeof r === 'object' && typeof (r as Promise<Finding>).then === 'function') {
      (pending ??= []).push(r as Promise<Finding>);
      (at ??= []).push(k);
    } else slots[k] = checked(s, def, r);
  }
  if (pending !== null) await settleChecks(s, indexes, slots, pending, at!);
  s.counters.checksRun += indexes.length;
  for (let k = 0; k < indexes.length; k++) {
    const i = indexes[k]!;
    const f = slots[k] ?? timedOut(s, s.defs[i]!);
    results[i] = f;
    run.fresh?.add(i);
    s.emit(f);
  }
}

/**
 * Write the asynchronous checks' findings into `slots`. Fast path: one
 * Promise.all over the checks' own promises (every check settled with a
 * finding, within the guard). Why not a `.then(ok, fail)` per check, as
 * before: two closures, their context, a derived promise and a reaction per
 * check, held by every request while it waits for DNS (about 250 bytes x 19
 * checks; a heap snapshot of 200 requests in flight: bench/coldpath.mjs
 * notes in docs/bench.md). Only when a check rejects (a bug) or the guard
 * fires does each check get its own handlers, as before: a rejection waits
 * for the others within what is left of the guard; after the guard, one
 * timer turn lets the handlers of the checks that did settle run (a settled
 * promise's reaction is a microtask), and the rest count as timed out.
 */
async function settleChecks(
  s: EngineSetup, indexes: readonly number[], slots: (Finding | undefined)[], pending: Promise<Finding>[], at: readonly number[],
): Promise<void> {
  const ms = s.deadlineMs + GUARD_GRACE_MS;
  const end = Date.now() + ms;
  let all: unknown;
  try {
    all = await withGuard(Promise.all(pending), ms);
  } catch {
    all = undefined;
  }
  if (Array.isArray(all)) {
    for (let j = 0; j < at.length; j++) slots[at[j]!] = checked(s, s.defs[indexes[at[j]!]!]!, all[j]);
    return;
  }
  const each: Promise<void>[] = [];
  for (let j = 0; j < at.length; j++) {
    const k = at[j]!;
    const def = s.defs[indexes[k]!]!;
    each.push(pending[j]!.then(
      (f) => {
        slots[k] = checked(s, def, f);
      },
      (e) => {
        slots[k] = crashed(s, def, e);
      },
    ));
  }
  await withGuard(Promise.all(each), Math.max(0, end - Date.now()));
}
