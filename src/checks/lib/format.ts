/**
 * checks/lib/format — findings and the admin-readable trail of DNS answers.
 *
 * Reasons read like a dig session, so an admin sees what was asked and what
 * came back:  "PTR 203.0.113.5 -> mail.example.net; A mail.example.net -> 203.0.113.5".
 * Long answers are cut to a few records ("(+12 more)") so log lines stay short:
 * an attacker's zone decides how many records there are (issue 13), so every
 * list in a reason goes through few(), which names at most MAX_SHOWN items and
 * counts the rest (records the resolver dropped, `omitted`, included). As a
 * last bound, finding() cuts any reason to MAX_REASON characters.
 *
 * What can go wrong: nothing; pure string work.
 */
import type { DnsAnswer, MxRecord } from '../../dns/types.js';
import type { CheckResult, Finding } from '../types.js';

/** Items of a list named in a reason; the rest are counted. */
export const MAX_SHOWN = 5;
/** The longest reason a finding carries (characters); longer ones are cut with a count. */
export const MAX_REASON = 1000;

export function finding(check: string, result: CheckResult, reason: string, vars?: Readonly<Record<string, string>>): Finding {
  if (reason.length > MAX_REASON) reason = `${reason.slice(0, MAX_REASON - 40)}... (${reason.length - MAX_REASON + 40} more characters)`;
  return vars === undefined ? { check, result, reason } : { check, result, reason, vars };
}

/**
 * "a, b, c (+4 more)": at most `max` items named, the others (and `extra`
 * items not even in the list, e.g. records the resolver dropped) counted.
 */
export function few(items: readonly string[], extra = 0, sep = ', ', max = MAX_SHOWN): string {
  const more = Math.max(0, items.length - max) + extra;
  const shown = items.length <= max ? items.join(sep) : items.slice(0, max).join(sep);
  return more > 0 ? `${shown} (+${more} more)` : shown;
}

/**
 * A tempfail finding caused by DNS, carrying the outcome as data (Finding.dns):
 * DEADLINE when any of `answers` was cut short by the request deadline,
 * else the first temporary failure's reason.
 */
export function dnsTempfail(
  check: string, reason: string, answers: ReadonlyArray<Pick<DnsAnswer<unknown>, 'status' | 'reason'>>, vars?: Readonly<Record<string, string>>,
): Finding {
  let dns = 'TEMPFAIL';
  for (const a of answers) {
    if (a.status !== 'tempfail') continue;
    if (a.reason === 'DEADLINE') {
      dns = 'DEADLINE';
      break;
    }
    if (dns === 'TEMPFAIL') dns = a.reason; // a code word (dns/types.ts), never prose
  }
  return { ...finding(check, 'tempfail', reason, vars), dns };
}

/** Tells a helper's value from the finding it returned instead (skip/tempfail). */
export function isFinding(x: object): x is Finding {
  return 'check' in x && 'result' in x;
}

/** One DNS answer: "A mail.example.net -> 192.0.2.1, 192.0.2.2" / "-> NXDOMAIN" / "-> SERVFAIL (temporary)". */
export function describeAnswer<T>(type: string, name: string, a: DnsAnswer<T>, show: (r: T) => string = String): string {
  if (a.status === 'ok') {
    const shown = a.records.length <= MAX_SHOWN ? a.records : a.records.slice(0, MAX_SHOWN);
    return `${type} ${name} -> ${few(shown.map(show), a.records.length - shown.length + (a.omitted ?? 0))}`;
  }
  if (a.status === 'notfound') return `${type} ${name} -> ${a.reason}`;
  return a.detail === undefined
    ? `${type} ${name} -> ${a.reason} (temporary failure)`
    : `${type} ${name} -> ${a.reason} (${a.detail}) (temporary failure)`;
}

/**
 * The A and AAAA answers of a name, as asked: a family lookupAddresses() did
 * not ask (the other one settled the question) is left out of the trail.
 */
export function describeAddresses(name: string, x: { readonly a: DnsAnswer<string> | null; readonly aaaa: DnsAnswer<string> | null }): string {
  if (x.a === null) return x.aaaa === null ? '' : describeAnswer('AAAA', name, x.aaaa);
  return x.aaaa === null ? describeAnswer('A', name, x.a) : `${describeAnswer('A', name, x.a)}; ${describeAnswer('AAAA', name, x.aaaa)}`;
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
