/**
 * dns/classify — the ONE place that turns Node's DNS outcomes into
 * ok | notfound | tempfail (src/dns/types.ts), and combines the outcomes of
 * several record types for one name.
 *
 *   Node error code (c-ares)   status     reason
 *   ENOTFOUND                  notfound   NXDOMAIN      (also NXDOMAIN at the end of a CNAME chain)
 *   ENODATA                    notfound   NODATA        (NOERROR, no records of that type)
 *   ESERVFAIL                  tempfail   SERVFAIL
 *   EREFUSED                   tempfail   REFUSED
 *   ETIMEOUT                   tempfail   TIMEOUT
 *   ECONNREFUSED               tempfail   CONNREFUSED   (no server on the port; also a TCP retry refused/closed)
 *   EBADRESP                   tempfail   BADRESP       (malformed reply)
 *   EFORMERR                   tempfail   FORMERR
 *   ENOTIMP                    tempfail   NOTIMP
 *   ECANCELLED                 tempfail   CANCELLED     (resolver closed)
 *   EOF                        tempfail   EOF
 *   EBADNAME                   tempfail   BADNAME       (c-ares would not send the name; callers validate names first)
 *   anything else              tempfail   the code itself, or ERROR when there is none
 *
 * Why REFUSED and FORMERR are temporary here although Postfix files them under
 * "FAIL": a refusing or confused resolver is an operator problem on our side,
 * and a DNS problem must never turn into a 5xx (issue 4). Only an answer that
 * authoritatively says "absent" is NOTFOUND.
 *
 * The resolver adds its own tempfail reasons (constants below): DEADLINE (the
 * request deadline passed), QUEUE_FULL (too many queries waiting), QUEUE_TIMEOUT
 * (waited in the queue longer than dns.deadline), CLOSED (resolver closed),
 * BADADDRESS (ptr() of something that is not an IP address).
 *
 * The other direction, for libraries that take a node:dns-style resolver
 * function and read err.code (mailauth's spf(), see checks/lib/spf.ts):
 * errorCodeOf() gives NXDOMAIN -> ENOTFOUND, NODATA -> ENODATA (the two codes
 * such libraries count as "void"), TIMEOUT / DEADLINE / QUEUE_TIMEOUT ->
 * ETIMEOUT, REFUSED -> EREFUSED, every other tempfail -> ESERVFAIL (never
 * EBADNAME, which mailauth reads as a permanent error: a DNS trouble must
 * stay temporary).
 *
 * Hot path: the answers for every known code are frozen singletons, so a
 * negative or failed lookup allocates no answer object, and the cache can hold
 * the same object for thousands of names.
 *
 * What can go wrong: nothing throws; an error code Node adds later is
 * classified tempfail (never notfound), so an unknown failure can only delay.
 */
import type { DnsAnswer, DnsStatus } from './types.js';

/** An answer with no records: shared by every notfound/tempfail outcome with the same reason. */
export type EmptyAnswer = DnsAnswer<never>;

const EMPTY: readonly never[] = Object.freeze([]);

function empty(status: Exclude<DnsStatus, 'ok'>, reason: string): EmptyAnswer {
  return Object.freeze({ status, records: EMPTY, reason });
}

export const NXDOMAIN = empty('notfound', 'NXDOMAIN');
export const NODATA = empty('notfound', 'NODATA');
export const SERVFAIL = empty('tempfail', 'SERVFAIL');
export const TIMEOUT = empty('tempfail', 'TIMEOUT');
export const DEADLINE = empty('tempfail', 'DEADLINE');
export const QUEUE_FULL = empty('tempfail', 'QUEUE_FULL');
export const QUEUE_TIMEOUT = empty('tempfail', 'QUEUE_TIMEOUT');
export const CLOSED = empty('tempfail', 'CLOSED');
export const BADADDRESS = empty('tempfail', 'BADADDRESS');
const UNKNOWN_ERROR = empty('tempfail', 'ERROR');

/** Node/c-ares error code -> answer. The table of record (see the header). */
const BY_CODE: ReadonlyMap<string, EmptyAnswer> = new Map<string, EmptyAnswer>([
  ['ENOTFOUND', NXDOMAIN],
  ['ENODATA', NODATA],
  ['ESERVFAIL', SERVFAIL],
  ['EREFUSED', empty('tempfail', 'REFUSED')],
  ['ETIMEOUT', TIMEOUT],
  ['ECONNREFUSED', empty('tempfail', 'CONNREFUSED')],
  ['EBADRESP', empty('tempfail', 'BADRESP')],
  ['EFORMERR', empty('tempfail', 'FORMERR')],
  ['ENOTIMP', empty('tempfail', 'NOTIMP')],
  ['ECANCELLED', empty('tempfail', 'CANCELLED')],
  ['EOF', empty('tempfail', 'EOF')],
  ['EBADNAME', empty('tempfail', 'BADNAME')],
]);

/** Unknown codes get one frozen answer each, created once (bounded: codes are few). */
const unknownCodes = new Map<string, EmptyAnswer>();

/** Classify an error code (e.g. err.code from a node:dns rejection). */
export function classifyCode(code: string | undefined): EmptyAnswer {
  if (code === undefined || code === '') return UNKNOWN_ERROR;
  const known = BY_CODE.get(code);
  if (known) return known;
  let a = unknownCodes.get(code);
  if (!a) {
    if (unknownCodes.size >= 64 || !/^[A-Z0-9_]{1,32}$/.test(code)) return UNKNOWN_ERROR;
    a = empty('tempfail', code);
    unknownCodes.set(code, a);
  }
  return a;
}

/** Classify whatever a node:dns promise rejected with. Never throws. */
export function classifyError(err: unknown): EmptyAnswer {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return classifyCode(typeof code === 'string' ? code : undefined);
}

/** Outcome of several lookups for one name: status and the reason that decided it. */
export interface CombinedOutcome {
  readonly status: DnsStatus;
  readonly reason: string;
}

const OK_OUTCOME: CombinedOutcome = Object.freeze({ status: 'ok', reason: 'NOERROR' });

/**
 * Combine the answers for one name that needs several record types (e.g. MX,
 * A and AAAA for "does this domain exist"), as Postfix's dns_lookup_types()
 * does (the best status wins; OK > RETRY > NOTFOUND):
 *
 *   1. any answer ok                    -> ok, reason NOERROR (records were found;
 *                                          the other types' failures do not matter)
 *   2. else any answer tempfail         -> tempfail, reason of the FIRST tempfail
 *                                          (a SERVFAIL on AAAA beats NXDOMAIN on A:
 *                                          we cannot say the name is absent)
 *   3. else (all notfound)              -> notfound, NXDOMAIN if any said NXDOMAIN,
 *                                          else the first reason (NODATA)
 *   no answers at all                   -> notfound NODATA
 *
 * The name is historical ("the worst failure"): a failure only counts when
 * nothing was found.
 */
export function worst(...answers: ReadonlyArray<Pick<DnsAnswer<unknown>, 'status' | 'reason'>>): CombinedOutcome {
  let firstTemp: Pick<DnsAnswer<unknown>, 'status' | 'reason'> | undefined;
  let firstNotFound: Pick<DnsAnswer<unknown>, 'status' | 'reason'> | undefined;
  let sawNx = false;
  for (const a of answers) {
    if (a.status === 'ok') return OK_OUTCOME;
    if (a.status === 'tempfail') firstTemp ??= a;
    else {
      firstNotFound ??= a;
      if (a.reason === 'NXDOMAIN') sawNx = true;
    }
  }
  // The deciding answer itself is returned (it has status and reason; a
  // non-ok answer has no records), so combining allocates nothing.
  if (firstTemp) return firstTemp;
  if (sawNx) return NXDOMAIN;
  return firstNotFound ?? NODATA;
}

/** Node error code for a non-ok answer (see the header: for node:dns-style consumers). */
export function errorCodeOf(a: Pick<DnsAnswer<unknown>, 'status' | 'reason'>): string {
  if (a.status === 'notfound') return a.reason === 'NXDOMAIN' ? 'ENOTFOUND' : 'ENODATA';
  switch (a.reason) {
    case 'TIMEOUT':
    case 'DEADLINE':
    case 'QUEUE_TIMEOUT':
      return 'ETIMEOUT';
    case 'REFUSED':
      return 'EREFUSED';
    default:
      return 'ESERVFAIL';
  }
}
