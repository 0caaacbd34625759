/**
 * checks/lib/fcrdns — the client's PTR names and which of them resolve back
 * (forward-confirmed reverse DNS), computed once per request.
 *
 * We do our own lookups: Postfix's client_name=unknown cannot tell a missing
 * PTR from a DNS outage (smtpd_peer.c keeps that status to itself).
 *
 * Semantics (RFC 8601 §2.7.3 "iprev"; rspamd RDNS_* and FCrDNS DNSFAIL):
 *   - PTR NXDOMAIN/NODATA          -> no PTR            (iprev permerror)
 *   - PTR SERVFAIL/timeout/...     -> tempfail          (iprev temperror)
 *   - names: PTR targets that are syntactically host names (numeric or
 *     malformed targets are ignored, as Postfix's sockaddr_to_hostname()
 *     does), de-duplicated, at most dns.max_ptr_names of them, in PTR order
 *   - each name: A for an IPv4 client, AAAA for an IPv6 client (CNAMEs are
 *     followed by the resolver); confirmed when the answer holds the client
 *   - a forward tempfail leaves that name undecided: when no name is confirmed
 *     and some forward lookup failed temporarily the result is tempfail, never
 *     "unconfirmed" (a forward timeout is a DNS failure, not an FCrDNS failure)
 * Forward lookups of all names run in parallel and go through the request memo,
 * so a HELO equal to the PTR name costs no second A query.
 *
 * What can go wrong: nothing throws; an unparsable client address gives null.
 */
import type { DnsAnswer } from '../../dns/types.js';
import type { ParsedIp } from '../../net/ip.js';
import type { CheckContext, Finding } from '../types.js';
import { answerHas } from './addresses.js';
import { describeAnswer, few, finding, isFinding, trail, dnsTempfail } from './format.js';
import { isLookupableName } from './hostname.js';
import { lookupFamily, lookupPtr, memo } from './lookup.js';
import { clientOrSkip } from './subject.js';

export interface ForwardCheck {
  readonly name: string;
  readonly answer: DnsAnswer<string>;
  readonly confirmed: boolean;
}

export interface Fcrdns {
  readonly client: ParsedIp;
  readonly ptr: DnsAnswer<string>;
  /** names whose forward lookup was done, in PTR order */
  readonly forward: readonly ForwardCheck[];
  /** names that resolve back to the client, in PTR order */
  readonly confirmed: readonly string[];
  /** the PTR lookup, or a forward lookup of a name, failed temporarily */
  readonly tempfail: boolean;
  /** PTR targets not checked, with why */
  readonly ignored: readonly string[];
  /** the PTR answer alone: "PTR 203.0.113.5 -> mail.example.net" */
  readonly ptrLine: string;
  /** the whole walk: "PTR 203.0.113.5 -> mail.example.net; A mail.example.net -> 203.0.113.5" */
  readonly trail: string;
}

/** The request's FCrDNS result (memoised), or the skip finding when the client address is unparsable. */
export function fcrdnsOrSkip(ctx: CheckContext, check: string): Promise<Fcrdns | Finding> {
  const client = clientOrSkip(ctx, check);
  if (isFinding(client)) return Promise.resolve(client);
  return memo(ctx, 'fcrdns', () => computeFcrdns(ctx, client));
}

/**
 * For checks that judge confirmed PTR names: the FCrDNS result when at least
 * one name is confirmed; otherwise skip (nothing to judge) or tempfail (a
 * lookup on the way failed temporarily).
 */
export function confirmedOrFinding(ctx: CheckContext, check: string): Promise<Fcrdns | Finding> {
  // one `.then`, not an async function: its suspended frame was held by every request waiting for DNS
  return fcrdnsOrSkip(ctx, check).then((f) => confirmedJudgement(f, check));
}

function confirmedJudgement(f: Fcrdns | Finding, check: string): Fcrdns | Finding {
  if (isFinding(f) || f.confirmed.length > 0) return f;
  return f.tempfail
    ? dnsTempfail(check, `no confirmed PTR name, a lookup failed temporarily: ${f.trail}`, [f.ptr, ...f.forward.map((x) => x.answer)])
    : finding(check, 'skip', `no confirmed PTR name: ${f.trail}`);
}

/**
 * `.then` steps, not an async function: its suspended frame (generator, await
 * closures) was held by every request while the PTR and forward lookups waited.
 */
function computeFcrdns(ctx: CheckContext, client: ParsedIp): Promise<Fcrdns> {
  return lookupPtr(ctx, client.text).then((ptr) => forwardConfirm(ctx, client, ptr));
}

function forwardConfirm(ctx: CheckContext, client: ParsedIp, ptr: DnsAnswer<string>): Fcrdns | Promise<Fcrdns> {
  const ptrLine = describeAnswer('PTR', client.text, ptr);
  if (ptr.status !== 'ok') {
    return { client, ptr, forward: [], confirmed: [], tempfail: ptr.status === 'tempfail', ignored: [], ptrLine, trail: ptrLine };
  }
  // At most MAX_RECORDS (32) PTR names reach here (the resolver counts the
  // rest in `omitted`); a Set keeps the de-duplication linear.
  const max = ctx.settings.dns.max_ptr_names;
  const names: string[] = [];
  const ignored: string[] = [];
  const seen = new Set<string>();
  for (const raw of ptr.records) {
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (seen.has(name)) continue;
    seen.add(name);
    if (!isLookupableName(name) || /^[0-9.]+$/.test(name)) ignored.push(`${name} (not a host name)`);
    else if (names.length >= max) ignored.push(`${name} (beyond dns.max_ptr_names=${max})`);
    else names.push(name);
  }
  return Promise.all(names.map((n) => lookupFamily(ctx, client.family, n))).then((answers) => fcrdnsOf(client, ptr, ptrLine, names, ignored, answers));
}

function fcrdnsOf(
  client: ParsedIp, ptr: DnsAnswer<string>, ptrLine: string, names: readonly string[], ignored: readonly string[], answers: readonly DnsAnswer<string>[],
): Fcrdns {
  const forward: ForwardCheck[] = names.map((name, i) => {
    const answer = answers[i]!;
    return { name, answer, confirmed: answer.status === 'ok' && answerHas(answer.records, client) };
  });
  const confirmed = forward.filter((f) => f.confirmed).map((f) => f.name);
  const type = client.family === 4 ? 'A' : 'AAAA';
  return {
    client,
    ptr,
    forward,
    confirmed,
    tempfail: forward.some((f) => f.answer.status === 'tempfail'),
    ignored,
    ptrLine,
    trail: trail([
      ptrLine,
      ...forward.map((f) => describeAnswer(type, f.name, f.answer)),
      (ignored.length > 0 || (ptr.omitted ?? 0) > 0) && `not checked: ${few(ignored, ptr.omitted ?? 0, ', ', 3)}`,
    ]),
  };
}

/**
 * Of the PTR names, those whose forward lookup failed temporarily (undecided).
 * A check that would fail on "no confirmed name matching X" must answer
 * tempfail instead when one of these might have matched.
 */
export function undecidedNames(f: Fcrdns): string[] {
  return f.forward.filter((x) => x.answer.status === 'tempfail').map((x) => x.name);
}
