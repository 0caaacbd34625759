/**
 * engine/types — the contract between the server and the engine.
 *
 *   server/session  --(PolicyRequest, ConnState)-->  Decider.decide()  --> Decision
 *
 * `summaryOf` writes a decision's findings as "id=result ..." (the debug line,
 * `policyd-identity test`); it is not built per request.
 *
 * What can go wrong: nothing throws.
 */
import type { PolicyRequest } from '../protocol/request.js';
import type { PolicyAction } from '../protocol/action.js';
import type { Finding } from '../checks/types.js';

/** Per-connection state the session keeps for the decider (Postfix `instance` memo). */
export interface ConnState {
  /** opaque to the server; the engine keeps its per-instance memo here */
  engine: unknown;
  /** peer description for logs */
  readonly peer: string;
}

export interface Decision {
  readonly action: PolicyAction;
  /** ids of the failed checks/rules that made the action (empty for DUNNO) */
  readonly fired: readonly string[];
  /** every finding, in check order, then the rate limits' (for the explanation and the log lines; summaryOf) */
  readonly findings: readonly Finding[];
  /** what would have been done if mode were enforce (set in dry-run when it differs) */
  readonly wouldBe?: PolicyAction;
  /** e.g. 'allowlisted: allow.clients', 'cached: instance', 'unknown protocol_state' */
  readonly note?: string;
  /** score sum of failed checks, when scoring is used */
  readonly score?: number;
}

/**
 * "id=result ..." of every finding of `d`, in its order. Built only when asked
 * (debug line, explanation): building it for every decision cost two string
 * concatenations per active check (~25) on the warm path.
 */
export function summaryOf(d: Decision): string {
  let s = '';
  for (const f of d.findings) s += s === '' ? `${f.check}=${f.result}` : ` ${f.check}=${f.result}`;
  return s;
}

export interface Decider {
  decide(req: PolicyRequest, conn: ConnState): Promise<Decision> | Decision;
}
