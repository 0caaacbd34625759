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
import type { CidrSet } from '../net/ip.js';
import type { HeloSyntax } from './lib/hostname.js';
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
  /**
   * tempfail caused by DNS: the outcome that left the check undecided, as
   * dns/classify.ts names it (DEADLINE, SERVFAIL, TIMEOUT, ...; TEMPERROR for
   * an SPF evaluation). The daemon picks PI_DNS_DEADLINE / PI_DNS_TEMPFAIL
   * from it. Absent on every other finding.
   */
  readonly dns?: string;
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

/**
 * The configuration a check may read: exactly these keys of the config file,
 * nothing else (a check that needs another setting adds it here, and the
 * engine's checkSettings() picks it). Kept apart from config/types.ts on
 * purpose: the config schema is built from the check registry, so a check
 * that imported the Config type would close an import circle.
 */
export interface CheckSettings {
  readonly identity: {
    /** identity.my_names: this site's own host and domain names (helo_impersonation) */
    readonly my_names: readonly string[];
    /** identity.my_addresses: this site's own addresses (helo_impersonation) */
    readonly my_addresses: CidrSet;
    /** identity.public_networks: special-purpose ranges judged global (client_private, helo_private, ...) */
    readonly public_networks: CidrSet;
  };
  /** providers: the sender domains of the big mailbox providers (sender_provider_forgery) */
  readonly providers: readonly string[];
  readonly header: {
    /** header.authserv_id: the authserv-id of Received-SPF / Authentication-Results (SPF checks) */
    readonly authserv_id: string;
  };
  readonly checks: {
    /** checks.helo_invalid.syntax: which HELO grammar helo_invalid applies */
    readonly helo_invalid?: { readonly syntax: HeloSyntax };
  };
  readonly dns: {
    /** dns.max_ptr_names: how many PTR names FCrDNS checks forward-confirm */
    readonly max_ptr_names: number;
  };
}

export interface CheckContext {
  readonly req: PolicyRequest;
  /** the request's identity, normalised once (lower case, IDN to ASCII, canonical IPs) */
  readonly id: Identity;
  /** request-scoped DNS: cached, coalesced, bounded by the request deadline */
  readonly dns: DnsLookup;
  /** the settings checks read (a Config satisfies it; the engine hands over only these) */
  readonly settings: CheckSettings;
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

