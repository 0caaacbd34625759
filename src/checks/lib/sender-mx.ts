/**
 * checks/lib/sender-mx — the sender domain's mail exchangers, computed once per request.
 *
 * RFC 5321 §5.1: MX records first; when the domain has none (NODATA), it is
 * its own implicit MX (A/AAAA of the domain). NXDOMAIN on MX means the domain
 * does not exist at all: no A/AAAA query is spent on it.
 * RFC 7505 / Postfix dns_lookup: ANY MX with the root as target is a null MX
 * (Postfix does not insist on preference 0 or a single record).
 * MX hosts are ordered by preference, de-duplicated and bounded to
 * MAX_MX_HOSTS, so a domain with 50 MX records cannot cost 100 queries.
 *
 * usableMx() answers "does some MX host have a globally reachable address?"
 * with as few queries as possible: the most preferred host first (the
 * client's family, the other only when that shows no global address:
 * lookup.ts lookupAddresses), the remaining hosts in parallel only when it
 * is not usable.
 *
 * What can go wrong: nothing throws; DNS failures come back as tempfail
 * answers and the callers turn them into tempfail findings.
 */
import type { DnsAnswer, MxRecord } from '../../dns/types.js';
import type { CheckContext } from '../types.js';
import { hasGlobalAddress, judgeAddresses } from './addresses.js';
import { describeAddresses, describeMx, few } from './format.js';
import { isLookupableName } from './hostname.js';
import { lookupAddresses, lookupMx, memo, type AddressAnswers } from './lookup.js';

/** At most this many MX hosts are resolved per sender domain. */
export const MAX_MX_HOSTS = 10;

export interface SenderMx {
  readonly domain: string;
  readonly mx: DnsAnswer<MxRecord>;
  /** some MX record has the root "." as target (RFC 7505) */
  readonly nullMx: boolean;
  /** no MX records (NODATA): the domain is its own mail exchanger */
  readonly implicit: boolean;
  /** MX NXDOMAIN: the domain does not exist */
  readonly nxdomain: boolean;
  /** hosts to deliver to, by preference (the domain itself when implicit), at most MAX_MX_HOSTS */
  readonly hosts: readonly string[];
  /** hosts left out by the bound */
  readonly dropped: number;
  /** "MX example.com -> 10 mx1.example.com, 20 mx2.example.com" */
  readonly trail: string;
}

export function getSenderMx(ctx: CheckContext): Promise<SenderMx> {
  // a `.then`, not an async function: no suspended frame (generator, await
  // closures) held by the request while the MX lookup waits
  return memo(ctx, 'sender-mx', () => {
    const domain = ctx.id.senderDomain;
    return lookupMx(ctx, domain).then((mx) => senderMxOf(domain, mx));
  });
}

function senderMxOf(domain: string, mx: DnsAnswer<MxRecord>): SenderMx {
  const trail = describeMx(domain, mx);
  // Object literals below, not `{ ...base, ... }`: the spread was this function's
  // hottest line on the cold path (issue 11 profile), for three properties.
  if (mx.status === 'ok') {
    // The resolver keeps at most MAX_RECORDS (32) MX records (a null MX always
    // among them) and counts the rest in `omitted`; a Set keeps this linear.
    const sorted = [...mx.records].sort((x, y) => x.priority - y.priority);
    const seen = new Set<string>();
    const hosts: string[] = [];
    let nullMx = false;
    for (const r of sorted) {
      const h = r.exchange.toLowerCase().replace(/\.$/, '');
      if (h === '') nullMx = true;
      else if (!seen.has(h)) {
        seen.add(h);
        if (hosts.length < MAX_MX_HOSTS) hosts.push(h);
      }
    }
    return { domain, mx, trail, nullMx, implicit: false, nxdomain: false, hosts, dropped: seen.size - hosts.length + (mx.omitted ?? 0) };
  }
  const nxdomain = mx.status === 'notfound' && mx.reason === 'NXDOMAIN';
  const implicit = mx.status === 'notfound' && !nxdomain;
  return { domain, mx, trail, nullMx: false, implicit, nxdomain, hosts: implicit ? [domain] : [], dropped: 0 };
}

export interface HostAddresses {
  readonly host: string;
  /** null when the host is not a name we can look up (an IP, bad syntax) */
  readonly answers: AddressAnswers | null;
}

/**
 * A/AAAA of one MX host ("1.2.3.4" or "bad_name!" as an MX target is not resolvable).
 * A `.then`, not an async function (as usableMx below): no suspended frame
 * held by the request while the lookup waits (issue 11 §2).
 */
export function mxHostAddresses(ctx: CheckContext, host: string): Promise<HostAddresses> {
  if (!isLookupableName(host) || /^[0-9.]+$/.test(host) || host.includes(':')) return Promise.resolve({ host, answers: null });
  return lookupAddresses(ctx, host, hasGlobalAddress(ctx)).then((answers) => ({ host, answers }));
}

export function describeHost(h: HostAddresses): string {
  if (h.answers === null) return `${h.host} is not a host name`;
  return describeAddresses(h.host, h.answers);
}

export interface UsableMx {
  /** first MX host (by preference) with a globally reachable address, or null */
  readonly usable: string | null;
  /** no usable host found and some host lookup failed temporarily */
  readonly tempfail: boolean;
  /** the hosts resolved, in preference order */
  readonly resolved: readonly HostAddresses[];
  /** per host, why it is not usable */
  readonly problems: readonly string[];
}

/**
 * Find a usable MX host with the fewest queries (memoised). `.then` steps,
 * not an async function: its suspended frame (generator, await closures,
 * context) was held by every never-seen identity's request while the MX
 * host's lookup waited (issue 11 §2, docs/bench.md 'Cold path, third pass').
 */
export function usableMx(ctx: CheckContext, smx: SenderMx): Promise<UsableMx> {
  return memo(ctx, 'sender-mx-usable', () => {
    const first = smx.hosts[0];
    if (first === undefined) return Promise.resolve({ usable: null, tempfail: false, resolved: [], problems: [] });
    return mxHostAddresses(ctx, first).then((h0): UsableMx | Promise<UsableMx> => {
      if ((judgeHost(ctx, h0)?.global.length ?? 0) > 0) return { usable: first, tempfail: false, resolved: [h0], problems: [] };
      return Promise.all(smx.hosts.slice(1).map((h) => mxHostAddresses(ctx, h))).then((rest) => judgeHosts(ctx, [h0, ...rest]));
    });
  });
}

function judgeHost(ctx: CheckContext, h: HostAddresses): ReturnType<typeof judgeAddresses> | null {
  return h.answers === null ? null : judgeAddresses(ctx, h.answers);
}

/** No host of the first answer was usable: the first usable of all, else why each is not. */
function judgeHosts(ctx: CheckContext, resolved: readonly HostAddresses[]): UsableMx {
  let tempfail = false;
  const problems: string[] = [];
  for (const h of resolved) {
    const v = judgeHost(ctx, h);
    if (v !== null && v.global.length > 0) return { usable: h.host, tempfail: false, resolved, problems: [] };
    if (v === null) problems.push(`${h.host}: not a host name`);
    else if (v.internal.length > 0) problems.push(`${h.host}: only internal addresses (${few(v.internal, v.omitted, '; ', 2)})`);
    else if (v.tempfail) problems.push(`${h.host}: lookup failed temporarily`);
    else problems.push(`${h.host}: no A/AAAA records`);
    if (v?.tempfail) tempfail = true;
  }
  return { usable: null, tempfail, resolved, problems };
}
