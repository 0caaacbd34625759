/**
 * limit-findings — the engine's side of the rate limiter: ask it for the
 * findings of a RCPT (limits "check") and let it count an accepted message
 * at END-OF-MESSAGE (limits "count", only when this daemon did not refuse
 * the message: see `refuses`).
 *
 * What can go wrong: a limiter that throws is treated as having no findings
 * (fail open) or as not having counted; the request gets a note, onError a
 * PI_INTERNAL report.
 */
import { sanitizeText, type PolicyAction } from '../protocol/action.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { Finding } from '../checks/types.js';
import type { EngineSetup, LimiterLike } from './setup.js';

/** The limiter's findings, or the note saying why there are none. */
export async function evaluateLimits(s: EngineSetup, limiter: LimiterLike, req: PolicyRequest, id: Identity, now: number): Promise<Finding[] | string> {
  try {
    const found = await limiter.evaluate(req, id, now);
    for (const f of found) s.emit(f);
    return found;
  } catch (e) {
    s.report('PI_INTERNAL', e, 'limiter.evaluate failed');
    return `rate limits not evaluated (${sanitizeText(e instanceof Error ? e.message : String(e)).slice(0, 80)})`;
  }
}

/** Count the message; null, or the note saying the counters were not updated. */
export async function recordLimits(s: EngineSetup, limiter: LimiterLike, req: PolicyRequest, id: Identity, now: number): Promise<string | null> {
  try {
    await limiter.record(req, id, now);
    return null;
  } catch (e) {
    s.report('PI_INTERNAL', e, 'limiter.record failed');
    return 'rate-limit counters not updated';
  }
}

/**
 * Does this answer make Postfix refuse the message? (Then it is not counted:
 * docs/limits.md "a refused attempt is never counted".) DEFER_IF_PERMIT
 * counts as a refusal: Postfix defers the message if a later restriction
 * permits it and rejects it if one rejects it; it is never accepted.
 */
export function refuses(a: PolicyAction): boolean {
  switch (a.verb) {
    case 'REJECT': case 'DEFER': case 'DEFER_IF_PERMIT': case 'REPLY':
      return true;
    default:
      return false;
  }
}
