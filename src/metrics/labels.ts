/**
 * metrics/labels — bounded label values for the metrics.
 *
 * A label value taken straight from a request would let any client create
 * new time series (a cardinality attack on Prometheus); every value here
 * comes from a fixed set:
 *   protocol_state  Postfix's documented states, else "other"
 *   action          the verb Postfix gets (DUNNO, REJECT, DEFER_IF_PERMIT, ...),
 *                   a numeric reply as its class ("4xx", "5xx"), else "other"
 *   result          pass | fail | tempfail | skip (else "other")
 * Check ids come from the check registry and the configured limit rules,
 * so they are bounded by the config.
 */
import { PROTOCOL_STATES } from '../protocol/request.js';

const VERBS = new Set([
  'DUNNO', 'OK', 'REJECT', 'DEFER', 'DEFER_IF_PERMIT', 'DEFER_IF_REJECT', 'DISCARD', 'HOLD',
  'WARN', 'INFO', 'PREPEND', 'REDIRECT', 'FILTER', 'BCC',
]);

export const RESULTS = ['pass', 'fail', 'tempfail', 'skip'] as const;

/** `action=REJECT text\n\n` -> REJECT; `action=550 5.7.1 ...` -> 5xx. */
export function actionClass(actionLine: string): string {
  // the encoder always writes "action=" first; the verb ends at the first space or the "\n\n"
  const sp = actionLine.indexOf(' ', 7);
  const verb = actionLine.slice(7, sp === -1 ? actionLine.length - 2 : sp);
  if (VERBS.has(verb)) return verb;
  const c = verb.charCodeAt(0);
  if (verb.length === 3 && (c === 52 || c === 53)) return c === 52 ? '4xx' : '5xx';
  return 'other';
}

export function stateLabel(state: string | undefined): string {
  return state !== undefined && PROTOCOL_STATES.has(state) ? state : 'other';
}
