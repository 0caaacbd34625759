/**
 * checks/types — the check contract: what a check receives and what it reports.
 *
 *   engine  --(CheckContext)-->  CheckDef.run()  -->  Finding
 *
 * Checks report; only the engine acts. A Finding never carries a Postfix
 * action, except limit findings, which bring the action of their rule.
 *
 * What can go wrong: nothing at run time (types only). A check that needs a
 * setting must read it from CheckContext, never from a module-level import,
 * or reload would not reach it.
 */
import type { PolicyRequest } from '../protocol/request.js';
import type { DnsLookup } from '../dns/types.js';
import type { Config } from '../config/types.js';
import type { Identity } from '../net/identity.js';

export type CheckResult = 'pass' | 'fail' | 'tempfail' | 'skip';

/** What a check or a rate-limit rule can make the engine do when it fails. */
export type CheckAction =
  | 'reject' | 'defer' | 'defer_if_permit' | 'discard' | 'hold' | 'disconnect' | 'warn' | 'off';

export interface Finding {
  /** the check id (config key) or `limit:<rule id>` */
  readonly check: string;
  readonly result: CheckResult;
  /** why, in words an admin reads in logs and `policyd-identity test` (DNS answers seen included) */
  readonly reason: string;
  /** values for message placeholders, e.g. { ptr: 'mail.example.com' } */
  readonly vars?: Readonly<Record<string, string>>;
  /** limits only: the rule's own action settings */
  readonly action?: ActionSettings;
}

export interface ActionSettings {
  readonly action: CheckAction;
  /** e.g. "550 5.7.1"; absent: the verb's Postfix default */
  readonly code?: string;
  /** text with {placeholders} */
  readonly message?: string;
  readonly score?: number;
}

export interface CheckContext {
  readonly req: PolicyRequest;
  /** the request's identity, normalised once (lower case, IDN to ASCII, canonical IPs) */
  readonly id: Identity;
  /** request-scoped DNS: cached, coalesced, bounded by the request deadline */
  readonly dns: DnsLookup;
  readonly config: Config;
  /**
   * Per-request memo for derived lookups several checks share (FCrDNS names,
   * HELO addresses, sender MX hosts): key -> promise. Lets each check stay a
   * pure function without repeating work.
   */
  readonly memo: Map<string, Promise<unknown>>;
}

export interface CheckDef {
  /** stable snake_case id: config key, log name, metric label, README row */
  readonly id: string;
  readonly group: 'helo' | 'rdns' | 'client' | 'sender';
  /** one line: fails when ... */
  readonly summary: string;
  readonly defaults: Required<Pick<ActionSettings, 'action' | 'message'>> & Pick<ActionSettings, 'code' | 'score'>;
  run(ctx: CheckContext): Promise<Finding> | Finding;
}

