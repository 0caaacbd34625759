/**
 * checks/lib/lookup — per-request memoised DNS lookups shared by all checks.
 *
 * Every check asks DNS through these functions, never through ctx.dns
 * directly: the first asker starts the query and stores its promise in
 * ctx.memo under "<type>:<name>", later askers (other checks, or the same
 * derived lookup seen from another check) get the same promise. So one request
 * costs each (type, name) query at most once, whatever the set of checks
 * (hot path: this is what keeps a cold-cache request at ~6-7 queries).
 *
 * What can go wrong: DnsLookup promises must never reject (dns/types.ts); if
 * one does anyway (a bug), it is turned into a tempfail answer with reason
 * INTERNAL here, so a check can never crash or turn an error into 'fail'.
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
  return p.then(
    (a) => a,
    (e: unknown) => ({ status: 'tempfail', records: [], reason: `INTERNAL (${e instanceof Error ? e.message : String(e)})` }),
  );
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
  readonly a: DnsAnswer<string>;
  readonly aaaa: DnsAnswer<string>;
}

/** A and AAAA of a name, asked in parallel (HELO names, MX hosts, implicit MX). */
export async function lookupAddresses(ctx: CheckContext, name: string): Promise<AddressAnswers> {
  const [a, aaaa] = await Promise.all([lookupA(ctx, name), lookupAaaa(ctx, name)]);
  return { a, aaaa };
}
