/**
 * metrics/labels — bounded label values for the metrics.
 *
 * A label value taken straight from a request would let any client create
 * new time series (a cardinality attack on Prometheus); every value here
 * comes from a fixed set:
 *   protocol_state  Postfix's documented states, else "other"
 *   action          the verb Postfix gets (DUNNO, REJECT, DEFER_IF_PERMIT, ...),
 *                   a numeric reply as its class ("4xx", "5xx"), taken from the
 *                   action value the session wrote (never parsed back from text)
 *   result          pass | fail | tempfail | skip (else "other")
 * Check ids come from the check registry and the configured limit rules,
 * so they are bounded by the config.
 *
 * What can go wrong: nothing throws; an unknown state or a REPLY without a
 * code is labelled "other".
 */
import { PROTOCOL_STATES } from '../protocol/request.js';
import type { PolicyAction } from '../protocol/action.js';

export const RESULTS = ['pass', 'fail', 'tempfail', 'skip'] as const;

/** The label of the action Postfix got: its verb, a REPLY as its class ("4xx", "5xx"). */
export function actionClass(a: PolicyAction): string {
  if (a.verb !== 'REPLY') return a.verb;
  const c = a.code?.charCodeAt(0);
  return c === 52 ? '4xx' : c === 53 ? '5xx' : 'other';
}

export function stateLabel(state: string | undefined): string {
  return state !== undefined && PROTOCOL_STATES.has(state) ? state : 'other';
}
