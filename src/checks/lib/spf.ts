/**
 * checks/lib/spf — SPF (RFC 7208) for the MAIL FROM and the HELO identity,
 * evaluated by mailauth's spf() on the daemon's own DNS, once per request and
 * identity, and the findings the spf_* checks make of it.
 *
 * Identities (RFC 7208 §2.3, §2.4):
 *   helo      check_host(ip, <HELO name>, postmaster@<HELO name>); only for a
 *             fully-qualified HELO name (§2.3: literals and bare words are
 *             not checked).
 *   mailfrom  check_host(ip, <sender domain>, <sender>); with the null
 *             sender <> it IS the helo evaluation (§2.4: postmaster@<HELO>),
 *             shared through the request memo, never evaluated twice.
 *
 * DNS: mailauth calls the resolver function built here for TXT, A, AAAA, MX
 * and PTR; every call goes through checks/lib/lookup.ts, so SPF shares the
 * request memo (an MX or A another check asked is not asked again), the
 * daemon's cache, coalescing and the request deadline (a lookup after the
 * deadline answers DEADLINE at once, so the whole evaluation ends by the
 * deadline). Failed lookups are thrown as errors carrying the node:dns code
 * dns/classify.ts errorCodeOf() assigns: ENOTFOUND / ENODATA (mailauth counts
 * them as void lookups) or ETIMEOUT / EREFUSED / ESERVFAIL (temperror).
 *
 * Limits (RFC 7208 §4.6.4): mailauth counts the DNS-querying terms (include,
 * a, mx, ptr, exists, redirect: at most 10, else permerror) and void lookups
 * (at most 2, else permerror), at most 10 MX / PTR names per term. strict
 * mode: the record syntax is validated whole (§4.6), void lookups counted as
 * the RFC says.
 *
 * Cold-path economy (issue 11: CPU per never-seen identity):
 *   - a domain whose TXT answer is NXDOMAIN / NODATA or holds no record that
 *     could be an SPF record (none mentions "v=spf1") gets "none" (§4.5)
 *     without starting mailauth: the same TXT answer (memoised), the same
 *     result and words mailauth would give; most HELO names publish no SPF;
 *   - failed lookups are handed to mailauth as plain objects, not Errors
 *     (a stack trace per NXDOMAIN/NODATA answer that nobody reads);
 *   - the receiver's name (os.hostname() when nothing is configured) is read
 *     once per process, not once per evaluation (a uname syscall each);
 *   - an evaluation's words (describeSpf) and variables (spfVars) are built
 *     once and shared by the three checks that judge it (class Evaluation);
 *   - check_host() is entered below mailauth's spf() wrapper, at its
 *     spfVerify() (checkHostDirect): the wrapper validates the domain with
 *     joi (a URL parse each), parses the client address once more (with
 *     the ipaddr package), and renders a Received-SPF header and an
 *     Authentication-Results row per evaluation that nothing here reads
 *     (the daemon writes its own, engine/header.ts): 13 KB of the 27 KB
 *     mailauth allocated per never-seen identity. The wrapper's lookup
 *     limits (its limitedResolver, not exported) are counted here, the same
 *     way (spfLimits); a sender, domain or client address the wrapper would
 *     rewrite or refuse first (no local part, non-ASCII or non-LDH domain,
 *     "xn--" labels, IPv4-mapped IPv6) still goes through spf(). A test holds
 *     the two entries equal (test/spf.test.ts).
 *
 * What can go wrong: nothing throws; mailauth's own failures come back as
 * temperror / permerror results. A TXT answer is joined per record (§3.3).
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import type { DnsAnswer } from '../../dns/types.js';
import { errorCodeOf } from '../../dns/classify.js';
import { parseIp } from '../../net/ip.js';
import type { CheckContext, Finding } from '../types.js';
import { few, finding, dnsTempfail } from './format.js';
import { lookupA, lookupAaaa, lookupMx, lookupPtr, lookupTxt, memo } from './lookup.js';
import { fqdnHeloOrSkip } from './subject.js';

/** mailauth's check_host() core and its target-name test, below spf() (see the header: cold-path economy). */
interface SpfVerifyResult { qualifier?: string; error?: string; text?: string; rr?: string }
type SpfVerify = (domain: string, opts: Record<string, unknown>) => Promise<SpfVerifyResult | false | null | undefined>;
const mailauthRequire = createRequire(import.meta.url);
const { spfVerify } = mailauthRequire('mailauth/lib/spf/spf-verify.js') as { spfVerify: SpfVerify };
const { isValidTargetName } = mailauthRequire('mailauth/lib/spf/syntax.js') as { isValidTargetName: (name: string) => boolean };

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';
export type SpfIdentity = 'mailfrom' | 'helo';

/** One check_host() evaluation. */
export interface SpfEvaluation {
  /** which identity the result is for: 'helo' also for mailfrom with the null sender */
  readonly identity: SpfIdentity;
  readonly result: SpfResult;
  /** the domain whose policy was evaluated */
  readonly domain: string;
  /** the <sender> of check_host(): the MAIL FROM address, or postmaster@<HELO> */
  readonly sender: string;
  /** mailauth's words for the result, e.g. "domain of a@example.com designates 192.0.2.1 as permitted sender" */
  readonly text: string;
  /** the SPF record of <domain> when one was found */
  readonly record: string | null;
  /** DNS-querying terms counted (RFC 7208 §4.6.4) and void lookups */
  readonly lookups: number;
  readonly voids: number;
  /** the DNS questions mailauth asked and what came back, dig style */
  readonly trail: string;
  /** describeSpf()'s line, built on first read and then shared (see Evaluation) */
  readonly why: string;
  /** spfVars()'s message variables, built on first read and then shared */
  readonly vars: Readonly<Record<string, string>>;
}

/**
 * An evaluation whose words and variables are built once, on first read, and
 * shared. Why: three checks judge each identity's evaluation (spf_helo,
 * spf_helo_softfail, spf_helo_permerror; the same for MAIL FROM), and each
 * built the same ~200-270 character line and the same variables object for
 * its finding: six lines and six objects per never-seen identity, 10 % of
 * the cold path's allocation (bench/coldpath.mjs --alloc-sites), all kept in
 * the identity cache. Now two of each, the findings share them.
 */
class Evaluation implements SpfEvaluation {
  private words: string | undefined;
  private variables: Readonly<Record<string, string>> | undefined;
  constructor(
    readonly identity: SpfIdentity,
    readonly result: SpfResult,
    readonly domain: string,
    readonly sender: string,
    readonly text: string,
    readonly record: string | null,
    readonly lookups: number,
    readonly voids: number,
    readonly trail: string,
  ) {}

  get why(): string {
    return (this.words ??= describe(this));
  }

  get vars(): Readonly<Record<string, string>> {
    return (this.variables ??= Object.freeze({ spf: this.result, spf_domain: this.domain, spf_sender: this.sender, spf_identity: this.identity }));
  }
}

/** Why there is no evaluation for an identity (the check skips). */
export interface SpfSkip {
  readonly skip: string;
}

const RESULTS: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

/** at most this many DNS answers are described in the trail (10 terms + their MX/PTR names would be far more) */
const MAX_TRAIL = 12;

/** os.hostname(), read once: it is a uname syscall, and was one per SPF evaluation (2 % of the cold path's CPU). */
let hostName: string | undefined;

/** The receiver named in mailauth's comments (and the header): the first my_names entry, else the host name. */
function receiverOf(ctx: CheckContext): string {
  return ctx.settings.header.authserv_id || ctx.settings.identity.my_names[0] || (hostName ??= hostname());
}

/**
 * A failed lookup as mailauth reads it: `code` (ENOTFOUND / ENODATA are void
 * lookups, the rest temperror) and `message`. Deliberately not an Error: an
 * Error captures a stack trace (async frames included), and one was made for
 * every NXDOMAIN/NODATA answer mailauth was handed, for nobody to read.
 */
class LookupFailure {
  constructor(
    readonly message: string,
    readonly code: string,
  ) {}
}

/** The address a reverse name stands for (mailauth asks PTR by name), or null. */
export function addressOfReverseName(name: string): string | null {
  if (name.endsWith('.in-addr.arpa')) {
    const o = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (o.length !== 4) return null;
    const ip = parseIp(o.reverse().join('.'));
    return ip !== null && ip.family === 4 ? ip.text : null;
  }
  if (name.endsWith('.ip6.arpa')) {
    const n = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (n.length !== 32 || n.some((x) => !/^[0-9a-f]$/.test(x))) return null;
    const hex = n.reverse().join('');
    const ip = parseIp(hex.replace(/(.{4})(?!$)/g, '$1:'));
    return ip !== null && ip.family === 6 ? ip.text : null;
  }
  return null;
}

/** A name that could be sent as a query: labels of 1..63 printable characters, at most 253 in all. */
function queryable(name: string): boolean {
  if (name === '' || name.length > 253) return false;
  for (const label of name.split('.')) if (label === '' || label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) return false;
  return true;
}

type SpfResolver = (name: string, type: string) => Promise<unknown[]>;

/** One line of the trail: "TXT example.com -> "v=spf1 -all"" / "-> NXDOMAIN" / "-> SERVFAIL (temporary failure)". */
function trailLine(type: string, name: string, a: DnsAnswer<unknown>, shown: () => string): string {
  return `${type} ${name} -> ${a.status === 'ok' ? shown() : a.status === 'notfound' ? a.reason : `${a.reason} (temporary failure)`}`;
}

function txtShown(a: DnsAnswer<string>): () => string {
  return () => few(a.records.map((r) => JSON.stringify(r.length > 120 ? `${r.slice(0, 120)}...` : r)));
}

/** The resolver function handed to mailauth: request DNS in, node:dns-style values or coded errors out. */
function resolverFor(ctx: CheckContext, trail: string[]): SpfResolver {
  let described = 0;
  const note = (type: string, name: string, a: DnsAnswer<unknown>, shown: () => string): void => {
    if (described++ < MAX_TRAIL) trail.push(trailLine(type, name, a, shown));
    else if (described === MAX_TRAIL + 1) trail.push('...');
  };
  const fail = (type: string, name: string, a: DnsAnswer<unknown>): never => {
    throw new LookupFailure(`${type} ${name}: ${a.reason}`, errorCodeOf(a));
  };
  return async (rawName, type) => {
    const name = rawName.toLowerCase().replace(/\.$/, '');
    if (!queryable(name)) {
      // a macro expansion that cannot be a DNS name: it does not exist (a void lookup)
      throw new LookupFailure(`${type} ${JSON.stringify(name)}: not a DNS name`, 'ENOTFOUND');
    }
    switch (type) {
      case 'TXT': {
        const a = await lookupTxt(ctx, name);
        note('TXT', name, a, txtShown(a));
        // mailauth joins each record's chunks; one chunk per record, already joined
        return a.status === 'ok' ? a.records.map((r) => [r]) : fail(type, name, a);
      }
      case 'A':
      case 'AAAA': {
        const a = type === 'A' ? await lookupA(ctx, name) : await lookupAaaa(ctx, name);
        note(type, name, a, () => few(a.records, a.omitted ?? 0));
        return a.status === 'ok' ? a.records.slice() : fail(type, name, a);
      }
      case 'MX': {
        const a = await lookupMx(ctx, name);
        note('MX', name, a, () => few(a.records.map((m) => `${m.priority} ${m.exchange || '.'}`), a.omitted ?? 0));
        return a.status === 'ok' ? a.records.map((m) => ({ exchange: m.exchange, priority: m.priority })) : fail(type, name, a);
      }
      case 'PTR': {
        const address = addressOfReverseName(name);
        if (address === null) throw new LookupFailure(`PTR ${name}: not a reverse name`, 'ENOTFOUND');
        const a = await lookupPtr(ctx, address);
        note('PTR', address, a, () => few(a.records, a.omitted ?? 0));
        return a.status === 'ok' ? a.records.slice() : fail(type, name, a);
      }
      default:
        // mailauth asks nothing else; a new type would be a temporary, not a permanent, problem
        throw new LookupFailure(`${type} ${name}: query type not supported`, 'ENOTIMP');
    }
  };
}

/** The domain check_host() starts from, as mailauth derives it from <sender>. */
function domainOf(sender: string): string {
  return sender.slice(sender.lastIndexOf('@') + 1).toLowerCase().trim();
}

/**
 * mailauth's first look-up test of a name (spf/index.js limitedResolver): a
 * name it would ask TXT for as given. Names outside it (and non-ASCII ones,
 * which mailauth converts first) always go to mailauth.
 */
const MAILAUTH_QUERYABLE = /^([\x20-\x2D\x2f-\x7e]+\.)+[a-z]+[a-z\-0-9]*$/i;

/**
 * "none" without mailauth when the domain's TXT answer holds no SPF record
 * (RFC 7208 §4.5), else null (mailauth evaluates). Asks the TXT query mailauth
 * would ask first, through the same memo, so mailauth pays nothing for it
 * when it does run. Conservative: any record mentioning "v=spf1" anywhere
 * goes to mailauth, which alone judges what is a record (§4.5) and what is
 * more than one (permerror); a temporary failure goes to mailauth too.
 * The result is mailauth's for this case, word for word: result none, its
 * comment "<domain> does not designate permitted sender hosts", no record,
 * 0 DNS-querying terms, 1 void lookup for NXDOMAIN/NODATA (§4.6.4).
 */
function noSpfRecord(ctx: CheckContext, identity: SpfIdentity, sender: string): Promise<SpfEvaluation | null> | null {
  if (sender.lastIndexOf('@') <= 0) return null; // mailauth rewrites such a <sender> first: let it
  const domain = domainOf(sender);
  if (!queryable(domain) || !MAILAUTH_QUERYABLE.test(domain)) return null;
  return lookupTxt(ctx, domain).then((a) => noneOf(identity, domain, sender, a));
}

function noneOf(identity: SpfIdentity, domain: string, sender: string, a: DnsAnswer<string>): SpfEvaluation | null {
  if (a.status === 'tempfail') return null;
  if (a.status === 'ok') for (const r of a.records) if (/v=spf1/i.test(r)) return null;
  return new Evaluation(identity, 'none', domain, sender, `${domain} does not designate permitted sender hosts`,
    null, 0, a.status === 'notfound' ? 1 : 0, trailLine('TXT', domain, a, txtShown(a)));
}

/** What one check_host() evaluation reports, whichever entry into mailauth made it. @internal exported for tests */
export interface CheckHostOutcome {
  readonly result: SpfResult;
  /** mailauth's comment without its "<receiver>: " prefix */
  readonly text: string;
  readonly domain: string;
  readonly sender: string;
  readonly record: string | null;
  readonly lookups: number;
  readonly voids: number;
}

/**
 * One evaluation: "none" from the TXT answer alone (noSpfRecord), else
 * mailauth. A `.then` on the TXT lookup, not an async function: most HELO
 * names publish no SPF, and that evaluation then holds no suspended frame (two
 * before, this function's and noSpfRecord's) while the TXT query waits
 * (issue 11 §2).
 */
function evaluate(ctx: CheckContext, identity: SpfIdentity, sender: string): Promise<SpfEvaluation> {
  const none = noSpfRecord(ctx, identity, sender);
  if (none === null) return checkHost(ctx, identity, sender);
  return none.then((e) => e ?? checkHost(ctx, identity, sender));
}

async function checkHost(ctx: CheckContext, identity: SpfIdentity, sender: string): Promise<SpfEvaluation> {
  const trail: string[] = [];
  let r: CheckHostOutcome;
  try {
    r = (await checkHostDirect(ctx, sender, trail)) ?? (await checkHostViaSpf(ctx, sender, trail));
  } catch (e) {
    // mailauth turns its own failures into results; this is a bug guard
    return new Evaluation(identity, 'temperror', '', sender, `SPF evaluation failed: ${e instanceof Error ? e.message : String(e)}`,
      null, 0, 0, trail.join('; '));
  }
  return new Evaluation(identity, r.result, r.domain, r.sender, r.text, r.record, r.lookups, r.voids, trail.join('; '));
}

/** check_host() through mailauth's spf() (the wrapper: see the header). @internal exported for tests */
export async function checkHostViaSpf(ctx: CheckContext, sender: string, trail: string[]): Promise<CheckHostOutcome> {
  const mta = receiverOf(ctx);
  const r = await mailauthSpf({
    sender,
    ip: ctx.id.clientAddress,
    helo: ctx.id.helo,
    mta,
    // RFC 7208 exactly: whole-record syntax check, void lookups as §4.6.4 counts them
    strict: true,
    maxResolveCount: MAX_DNS_TERMS,
    maxVoidCount: MAX_VOID_LOOKUPS,
    resolver: resolverFor(ctx, trail) as never,
  });
  const result = (RESULTS.has(r.status.result) ? r.status.result : 'temperror') as SpfResult;
  let text = typeof r.status.comment === 'string' ? r.status.comment : result;
  if (text.startsWith(`${mta}: `)) text = text.slice(mta.length + 2);
  const lookups = (r as { lookups?: { count?: number; void?: number } }).lookups;
  return { result, text, domain: r.domain, sender: r['envelope-from'] ?? sender, record: r.rr ?? null, lookups: lookups?.count ?? 0, voids: lookups?.void ?? 0 };
}

/** RFC 7208 §4.6.4: DNS-querying terms and void lookups per evaluation. */
const MAX_DNS_TERMS = 10;
const MAX_VOID_LOOKUPS = 2;

/**
 * A sender domain spf() hands to spfVerify() unchanged: lower-case LDH labels
 * of 1-63 characters, no hyphen first or last, a top label starting with a
 * letter, at least two labels, at most 253 characters. Every such name passes
 * the wrapper's joi domain test (@hapi/address: LDH labels, TLD starting with
 * a letter, at least two segments, at most 256 characters; its punycode step,
 * a URL host parse, returns such a name unchanged unless a label starts with
 * "xn--", excluded below).
 */
const PLAIN_DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * check_host() entered at mailauth's spfVerify(), as spf() calls it (see the
 * header), or null when spf() would first rewrite or refuse the sender, its
 * domain or the client address: then the caller goes through spf(). What spf()
 * does around spfVerify() is done here the same way: its lookup limits
 * (spfLimits: strict mode, 10 terms, 2 void lookups, one question asked once
 * per evaluation), its reading of a thrown error's spfResult, and its result
 * words (the comment without the "<receiver>: " prefix).
 * @internal exported for tests
 */
export async function checkHostDirect(ctx: CheckContext, sender: string, trail: string[]): Promise<CheckHostOutcome | null> {
  const at = sender.lastIndexOf('@');
  if (at <= 0) return null; // spf() makes it postmaster@...
  const domain = sender.slice(at + 1).toLowerCase().trim();
  if (!PLAIN_DOMAIN.test(domain) || domain.startsWith('xn--') || domain.includes('.xn--')) return null;
  const ip = ctx.id.clientAddress.trim();
  // spf() evaluates an IPv4-mapped IPv6 client as its IPv4 address (RFC 7208 §5)
  // and names that in its words; net/ip parses it as IPv4, so the colon tells
  if (ctx.id.client === null || (ctx.id.client.family === 4 && ip.includes(':'))) return null;
  const mta = receiverOf(ctx);
  const base = askedOnce(resolverFor(ctx, trail));
  const limits = spfLimits(base, MAX_VOID_LOOKUPS, true);
  let res: SpfVerifyResult | false | null | undefined;
  try {
    res = await spfVerify(domain, {
      sender, ip, mta, helo: ctx.id.helo, strict: true,
      ctx: { warnings: new Set<string>(), usedLocalPart: false },
      // the exp= lookup is not counted (RFC 7208 §4.6.4)
      expResolver: base,
      resolver: limits,
      // address lookups of MX and PTR names are not void lookups
      createSubResolver: (o?: { ignoreVoid?: boolean }) => spfLimits(base, o?.ignoreVoid ? Infinity : MAX_VOID_LOOKUPS, false),
    });
  } catch (err) {
    const spfResult = typeof err === 'object' && err !== null ? (err as { spfResult?: SpfVerifyResult }).spfResult : undefined;
    res = spfResult ?? { error: 'temperror', text: err instanceof Error ? err.message : String(err) };
  }
  if (res === false || res === null || res === undefined) {
    if (limits.count() === 0 && trail.length === 0) return null; // spfVerify could not parse the address: spf()'s words for it
    res = { qualifier: '?' };
  }
  const why = res.text ? `: ${res.text}` : '';
  let result: SpfResult;
  let text: string;
  switch (res.qualifier || res.error) {
    case '+': result = 'pass'; text = `domain of ${sender} designates ${ip} as permitted sender`; break;
    case '~': result = 'softfail'; text = `domain of transitioning ${sender} does not designate ${ip} as permitted sender`; break;
    case '-': result = 'fail'; text = `domain of ${sender} does not designate ${ip} as permitted sender`; break;
    case '?': result = 'neutral'; text = `${ip} is neither permitted nor denied by domain of ${sender}`; break;
    case 'none': result = 'none'; text = `${domain} does not designate permitted sender hosts`; break;
    case 'permerror': result = 'permerror'; text = `permanent error in processing during lookup of ${sender}${why}`; break;
    default: result = 'temperror'; text = `error in processing during lookup of ${sender}${why}`; break;
  }
  return { result, text, domain, sender, record: res.rr ?? null, lookups: limits.count(), voids: limits.voids() };
}

/** One question asked once per evaluation, each asker getting its own copy (mailauth's memoizeResolver). */
function askedOnce(resolver: SpfResolver): SpfResolver {
  const asked = new Map<string, Promise<unknown[]>>();
  return (name, type) => {
    const key = `${type}:${name}`;
    let p = asked.get(key);
    if (p === undefined) {
      p = resolver(name, type);
      p.catch(noop);
      asked.set(key, p);
    }
    return p.then(copyList, copyFailure);
  };
}
function noop(): void {}
function copyList(v: unknown[]): unknown[] {
  return Array.isArray(v) ? v.slice() : v;
}
function copyFailure(e: unknown): never {
  // a fresh object per asker: spfLimits writes spfResult onto what it catches
  throw e instanceof LookupFailure ? new LookupFailure(e.message, e.code) : e;
}

/** mailauth's target-name test in limitedResolver (a lenient one, or the RFC 7208 domain-spec rules in strict mode). */
const LIMITED_NAME = /^([\x20-\x2D\x2f-\x7e]+\.)+[a-z]+[a-z\-0-9]*$/i;

type LimitedResolver = SpfResolver & {
  updateSubQueries(type: string, count: number): void;
  getResolveCount(): number;
  getResolveLimit(): number;
  getSubResolveCounts(): Record<string, number>;
  getVoidCount(): number;
  count(): number;
  voids(): number;
};

/**
 * RFC 7208 §4.6.4 limits around `resolver`, as mailauth's limitedResolver
 * counts them in strict mode (spf() does not export it): every call is a
 * DNS-querying term (the first not, when `ignoreFirst`: the record's own
 * TXT), more than 10 is permerror "Too many DNS requests"; NXDOMAIN/NODATA are
 * void lookups, more than `maxVoid` is permerror "Too many void DNS results",
 * else an empty answer; a name that is no target name is permerror; timeouts,
 * refusals and other failures are temperror with mailauth's words. The
 * thrown objects carry `spfResult`, which spfVerify() reads.
 */
function spfLimits(resolver: SpfResolver, maxVoid: number, ignoreFirst: boolean): LimitedResolver {
  let resolveCount = 0;
  let voidCount = 0;
  let firstCounted = !ignoreFirst;
  const sub: Record<string, number> = {};
  const fn = (async (domain: string, type: string): Promise<unknown[]> => {
    if (firstCounted) resolveCount++;
    else firstCounted = true;
    if (resolveCount > MAX_DNS_TERMS) throw Object.assign(new Error('Too many DNS requests'), { spfResult: { error: 'permerror', text: 'Too many DNS requests' } });
    if (!LIMITED_NAME.test(domain) && !isValidTargetName(domain)) {
      throw Object.assign(new Error('Failed to validate domain'), { spfResult: { error: 'permerror', text: `Invalid domain ${domain}` } });
    }
    try {
      return await resolver(domain, type);
    } catch (err) {
      if (!err || typeof err !== 'object') {
        const wrapped = new Error(`DNS error when resolving ${domain}: ${String(err)}`);
        throw Object.assign(wrapped, { spfResult: { error: 'temperror', text: wrapped.message } });
      }
      const e = err as { code?: string; message?: string; spfResult?: SpfVerifyResult };
      switch (e.code) {
        case 'ENOTFOUND':
        case 'ENODATA':
          if (++voidCount > maxVoid) {
            e.spfResult = { error: 'permerror', text: 'Too many void DNS results' };
            throw e;
          }
          return [];
        case 'ETIMEOUT': e.spfResult = { error: 'temperror', text: 'DNS timeout' }; throw e;
        case 'EREFUSED': e.spfResult = { error: 'temperror', text: `DNS request refused by server when resolving ${domain}` }; throw e;
        case 'ESPFTIMELIMIT': throw e;
        case 'EBADNAME': e.spfResult = { error: 'permerror', text: `Invalid domain ${domain}` }; throw e;
        default:
          e.spfResult ??= { error: 'temperror', text: e.message };
          throw e;
      }
    }
  }) as LimitedResolver;
  fn.updateSubQueries = (type, count) => { sub[type] = (sub[type] ?? 0) + count; };
  fn.getResolveCount = () => resolveCount;
  fn.getResolveLimit = () => MAX_DNS_TERMS;
  fn.getSubResolveCounts = () => sub;
  fn.getVoidCount = () => voidCount;
  fn.count = fn.getResolveCount;
  fn.voids = fn.getVoidCount;
  return fn;
}

/**
 * The SPF evaluation of an identity for this request (memoised), or why
 * there is none. mailfrom with the null sender is the helo evaluation.
 */
export function spfOf(ctx: CheckContext, identity: SpfIdentity): Promise<SpfEvaluation | SpfSkip> {
  const id = ctx.id;
  if (id.client === null) return Promise.resolve({ skip: `client address ${JSON.stringify(id.clientAddress)} is not an IP address` });
  if (identity === 'mailfrom' && !id.nullSender) {
    if (id.senderDomainIsLiteral) return Promise.resolve({ skip: `sender domain ${id.senderDomain} is an address literal (no SPF record to ask)` });
    if (id.senderDomain === '') return Promise.resolve({ skip: `sender ${JSON.stringify(id.sender)} has no domain part` });
    return memo(ctx, 'spf:mailfrom', () => evaluate(ctx, 'mailfrom', id.sender));
  }
  const helo = fqdnHeloOrSkip(ctx, 'spf');
  if (typeof helo !== 'string') {
    const why = helo.reason;
    return Promise.resolve({ skip: identity === 'mailfrom' ? `null sender: the MAIL FROM identity is postmaster@<HELO> (RFC 7208 §2.4), and ${why}` : why });
  }
  return memo(ctx, 'spf:helo', () => evaluate(ctx, 'helo', `postmaster@${helo}`));
}

export function isSkip(x: SpfEvaluation | SpfSkip): x is SpfSkip {
  return 'skip' in x;
}

/** One line for logs and `policyd-identity test`: result, words, record, counts and the DNS trail (built once per evaluation). */
export function describeSpf(e: SpfEvaluation): string {
  return e.why;
}

function describe(e: SpfEvaluation): string {
  const parts = [`SPF ${e.result} (${e.identity === 'helo' ? 'HELO' : 'MAIL FROM'} identity ${e.sender}): ${e.text}`];
  if (e.record !== null) parts.push(`record ${JSON.stringify(e.record.length > 200 ? `${e.record.slice(0, 200)}...` : e.record)}`);
  parts.push(`${e.lookups} DNS-querying terms, ${e.voids} void`);
  if (e.trail !== '') parts.push(e.trail);
  return parts.join('; ');
}

/** Message and header variables of an evaluation (one frozen object per evaluation, shared by its findings). */
export function spfVars(e: SpfEvaluation): Readonly<Record<string, string>> {
  return e.vars;
}

/**
 * The run() of an spf_* check: `judged` is the SPF result it fails on.
 * temperror is a tempfail of the check judging `fail` (the one that would
 * refuse); the softfail and permerror checks skip it. Made once per check,
 * with its judgement as a function made once too: a run is then one `.then`
 * on the memoised evaluation. Why not an async function per run, as before:
 * its suspended frame (generator, await closures, context) was held by every
 * request while it waited for DNS, six per never-seen identity.
 */
export function spfCheck(check: string, identity: SpfIdentity, judged: 'fail' | 'softfail' | 'permerror'): (ctx: CheckContext) => Promise<Finding> {
  const judge = (e: SpfEvaluation | SpfSkip): Finding => spfJudgement(e, check, identity, judged);
  return (ctx) => spfOf(ctx, identity).then(judge);
}

function spfJudgement(e: SpfEvaluation | SpfSkip, check: string, identity: SpfIdentity, judged: 'fail' | 'softfail' | 'permerror'): Finding {
  if (isSkip(e)) return finding(check, 'skip', e.skip);
  const vars = spfVars(e);
  const why = describeSpf(e);
  if (e.result === judged) return finding(check, 'fail', why, vars);
  if (e.result === 'temperror') {
    return judged === 'fail' ? dnsTempfail(check, why, [{ status: 'tempfail', reason: 'TEMPERROR' }], vars) : finding(check, 'skip', `temperror (the ${identity === 'helo' ? 'spf_helo' : 'spf_mail_from'} check reports it): ${why}`, vars);
  }
  return finding(check, 'pass', why, vars);
}
