/**
 * checks/lib/format — findings and the admin-readable trail of DNS answers.
 *
 * Reasons read like a dig session, so an admin sees what was asked and what
 * came back:  "PTR 203.0.113.5 -> mail.example.net; A mail.example.net -> 203.0.113.5".
 * Long answers are cut to a few records ("(+12 more)") so log lines stay short.
 *
 * What can go wrong: nothing; pure string work.
 */
import type { DnsAnswer, MxRecord } from '../../dns/types.js';
import type { CheckResult, Finding } from '../types.js';

const MAX_SHOWN = 5;

export function finding(check: string, result: CheckResult, reason: string, vars?: Record<string, string>): Finding {
  return vars === undefined ? { check, result, reason } : { check, result, reason, vars };
}

function list(items: readonly string[]): string {
  if (items.length <= MAX_SHOWN) return items.join(', ');
  return `${items.slice(0, MAX_SHOWN).join(', ')} (+${items.length - MAX_SHOWN} more)`;
}

/** Tells a helper's value from the finding it returned instead (skip/tempfail). */
export function isFinding(x: object): x is Finding {
  return 'check' in x && 'result' in x;
}

/** One DNS answer: "A mail.example.net -> 192.0.2.1, 192.0.2.2" / "-> NXDOMAIN" / "-> SERVFAIL (temporary)". */
export function describeAnswer<T>(type: string, name: string, a: DnsAnswer<T>, show: (r: T) => string = String): string {
  if (a.status === 'ok') return `${type} ${name} -> ${list(a.records.map(show))}`;
  if (a.status === 'notfound') return `${type} ${name} -> ${a.reason}`;
  return `${type} ${name} -> ${a.reason} (temporary failure)`;
}

export function showMx(r: MxRecord): string {
  return `${r.priority} ${r.exchange === '' ? '.' : r.exchange}`;
}

export function describeMx(name: string, a: DnsAnswer<MxRecord>): string {
  return describeAnswer('MX', name, a, showMx);
}

/** Join non-empty trail parts with "; ". */
export function trail(parts: ReadonlyArray<string | null | undefined | false>): string {
  return parts.filter((p): p is string => typeof p === 'string' && p !== '').join('; ');
}
