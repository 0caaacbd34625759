/**
 * engine/types — the contract between the server and the engine.
 *
 *   server/session  --(PolicyRequest, ConnState)-->  Decider.decide()  --> Decision
 *
 * What can go wrong: nothing at run time (types only).
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
  /** every finding, in check order (for the explanation and the log line) */
  readonly findings: readonly Finding[];
  /** compact "id=result ..." for the log line */
  readonly summary: string;
  /** what would have been done if mode were enforce (set in dry-run when it differs) */
  readonly wouldBe?: PolicyAction;
  /** e.g. 'allowlisted: allow.clients', 'cached: instance', 'unknown protocol_state' */
  readonly note?: string;
  /** score sum of failed checks, when scoring is used */
  readonly score?: number;
}

export interface Decider {
  decide(req: PolicyRequest, conn: ConnState): Promise<Decision> | Decision;
}
