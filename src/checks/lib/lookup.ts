/**
 * checks/lib/lookup — per-request memoised DNS lookups shared by all checks.
 *
 * Every check asks DNS through these functions, never through ctx.dns
 * directly: the first asker starts the query and stores its promise in
 * ctx.memo under "<type>:<name>", later askers (other checks, or the same
 * derived lookup seen from another check) get the same promise. So one request
 * costs each (type, name) query at most once, whatever the set of checks
 * (hot path: this keeps a good never-seen identity at 6 queries).
 *
 * What can go wrong: DnsLookup promises must never reject (dns/types.ts); if
 * one does anyway (a bug), it is turned into a tempfail answer with reason
 * INTERNAL here (the error's message in `detail`), so a check can never crash
 * or turn an error into 'fail'.
 */
import type { DnsAnswer, MxRecord } from '../../dns/types.js';
import type { CheckContext } from '../types.js';

/** Memoise any derived computation of a request under `key`. */
export function memo<T>(ctx: CheckContext, key: string, make: () => Promise<T>): Promise<T> {
  const hit = ctx.memo.get(key);
  if (hit !== undefined) return hit as Promise<T>;
  const p = make();
  ctx.memo.set(key, p);
  return p;
}

function guarded<T>(p: Promise<DnsAnswer<T>>): Promise<DnsAnswer<T>> {
  // module-level handlers: no two closures allocated per lookup (cold path, issue 11)
  return p.then(passAnswer, internalTempfail) as Promise<DnsAnswer<T>>;
}

function passAnswer<T>(a: DnsAnswer<T>): DnsAnswer<T> {
  return a;
}

function internalTempfail(e: unknown): DnsAnswer<never> {
  return { status: 'tempfail', records: [], reason: 'INTERNAL', detail: e instanceof Error ? e.message : String(e) };
}

export function lookupA(ctx: CheckContext, name: string): Promise<DnsAnswer<string>> {
  return memo(ctx, `a:${name}`, () => guarded(ctx.dns.a(name)));
}

export function lookupAaaa(ctx: CheckContext, name: string): Promise<DnsAnswer<string>> {
  return memo(ctx, `aaaa:${name}`, () => guarded(ctx.dns.aaaa(name)));
}

export function lookupMx(ctx: CheckContext, name: string): Promise<DnsAnswer<MxRecord>> {
  return memo(ctx, `mx:${name}`, () => guarded(ctx.dns.mx(name)));
}

/** PTR names of an address (canonical text of the address as key). */
export function lookupPtr(ctx: CheckContext, address: string): Promise<DnsAnswer<string>> {
  return memo(ctx, `ptr:${address}`, () => guarded(ctx.dns.ptr(address)));
}

/** TXT records of a name (SPF), one string per record. */
export function lookupTxt(ctx: CheckContext, name: string): Promise<DnsAnswer<string>> {
  return memo(ctx, `txt:${name}`, () => guarded(ctx.dns.txt(name)));
}

/** A for an IPv4 client, AAAA for an IPv6 client. */
export function lookupFamily(ctx: CheckContext, family: 4 | 6, name: string): Promise<DnsAnswer<string>> {
  return family === 4 ? lookupA(ctx, name) : lookupAaaa(ctx, name);
}

export interface AddressAnswers {
  /** null: not asked, the other family's answer already settled the question (lookupAddresses) */
  readonly a: DnsAnswer<string> | null;
  readonly aaaa: DnsAnswer<string> | null;
}

/**
 * A and AAAA of a name (HELO names, MX hosts, implicit MX) with no more
 * queries than the caller's question needs: the client's family first (A for
 * an IPv4 client, AAAA for an IPv6 one: FCrDNS and helo_mismatch ask that
 * family anyway), the other family only when `settles(first answer)` says the
 * first answer does not decide the question. Every caller asks "is there an
 * address with property X" (any address, the client's, a global one), which a
 * single record of either family answers; when no record of the first family
 * has X, the other family is asked and the verdict is the same as with both.
 *
 * Why not both in parallel (as before): a never-seen identity cost 8 DNS
 * queries, one of them the HELO's other family, almost always a NODATA that
 * decided nothing; each query costs ~20-27 us of CPU in c-ares's send alone
 * (issue 11: CPU per never-seen identity). The price is one round trip more
 * when the first family holds nothing that settles it (an IPv6-only MX host
 * of an IPv4 client's sender), never a different verdict.
 */
export function lookupAddresses(
  ctx: CheckContext, name: string, settles: (first: DnsAnswer<string>) => boolean,
): Promise<AddressAnswers> {
  // `.then` chains, not an async function: its suspended frame (generator,
  // await closures, context) was held by every request while it waited, three
  // per never-seen identity (helo_private, helo_unknown, helo_mismatch).
  if (ctx.id.client?.family === 6) {
    return lookupAaaa(ctx, name).then((aaaa) => (settles(aaaa) ? { a: null, aaaa } : lookupA(ctx, name).then((a) => ({ a, aaaa }))));
  }
  return lookupA(ctx, name).then((a) => (settles(a) ? { a, aaaa: null } : lookupAaaa(ctx, name).then((aaaa) => ({ a, aaaa }))));
}

export function hasRecords(first: DnsAnswer<string>): boolean {
  return first.status === 'ok';
}
