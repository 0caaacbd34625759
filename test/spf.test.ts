/**
 * spf.test — SPF (RFC 7208) through mailauth on the daemon's own resolver,
 * against the loopback test DNS server (test/helpers/dns-server.ts).
 *
 * Every result class, macros, include/redirect, mx/a/ptr/exists, IPv6, the
 * §4.6.4 limits (10 DNS-querying terms, 2 void lookups, 10 MX names), a DNS
 * timeout inside an include, the request deadline bounding the evaluation,
 * the HELO identity and the null sender, the resolver cache shared with
 * SPF (queries per evaluation, cold and warm), the result header
 * (Received-SPF / Authentication-Results spf=), and big-provider forgery on
 * SPF with the providers' record shapes (aol.com including Yahoo's ranges,
 * me.com redirecting to icloud.com, Yahoo! JAPAN's own record).
 *
 * Lab names are under .example; provider zones use the real names with
 * records shaped like the published ones (include/redirect chains, ~all or
 * ?all), addresses only as strings in DNS answers. Nothing leaves loopback.
 */
import t from 'tap';
import { CHECKS } from '../src/checks/index.js';
import { loadConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { CachingResolver } from '../src/dns/resolver.js';
import { errorCodeOf } from '../src/dns/classify.js';
import { identityOf } from '../src/net/identity.js';
import { compileHeader } from '../src/engine/header.js';
import { createEngine } from '../src/engine/engine.js';
import type { CheckContext, CheckDef, Finding } from '../src/checks/types.js';
import { actionText } from '../src/protocol/action.js';
import { toPolicyRequest } from '../src/protocol/request.js';
import { addressOfReverseName, checkHostDirect, checkHostViaSpf, describeSpf, isSkip, spfOf } from '../src/checks/lib/spf.js';
import { promises as dnsPromises } from 'node:dns';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { startDnsServer, type Zone } from './helpers/dns-server.js';

const IN = '192.0.2.10'; // listed by the lab records
const OUT = '198.51.100.20'; // listed by none

const includes = (n: number, base: string) => Array.from({ length: n }, (_, i) => `include:l${i + 1}.${base}`).join(' ');

const LAB: Zone = {
  'pass.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
  'fail.example': { TXT: ['v=spf1 ip4:192.0.2.10 -all'] },
  'softfail.example': { TXT: ['v=spf1 ip4:192.0.2.10 ~all'] },
  'neutral.example': { TXT: ['v=spf1 ip4:192.0.2.10 ?all'] },
  // no SPF record: other TXT only, or no TXT at all, or no name
  'none.example': { TXT: ['google-site-verification=abc', 'v=spf10 not spf'], A: ['192.0.2.1'] },
  'bare.example': { A: ['192.0.2.1'] },
  'multi.example': { TXT: ['v=spf1 ip4:192.0.2.10 -all', 'v=spf1 -all'] },
  'syntax.example': { TXT: ['v=spf1 ip4:192.0.2.300 -all'] },
  'unknownmech.example': { TXT: ['v=spf1 foo:bar.example -all'] },
  'servfail.example': { TXT: ['v=spf1 +all'] },
  // a record split into character-strings (RFC 7208 §3.3): joined without spaces
  'long.example': { TXT: [`v=spf1 ${Array.from({ length: 30 }, (_, i) => `ip4:203.0.113.${i + 1}`).join(' ')} ip4:192.0.2.10 -all`] },
  // macros (RFC 7208 §7): %{ir} reversed address, %{l1r+-} the local-part's first part, %{d}, %{h}
  'macro.example': { TXT: ['v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all'] },
  '10.2.0.192.john._spf.macro.example': { A: ['127.0.0.2'] },
  'macroh.example': { TXT: ['v=spf1 exists:%{h}.helo._spf.%{d2} -all'] },
  'mail.helo.example.helo._spf.macroh.example': { A: ['127.0.0.2'] },
  'macro6.example': { TXT: ['v=spf1 exists:%{ir}._v6.%{d} -all'] },
  [`${[...'20010db8000100000000000000000025'].reverse().join('.')}._v6.macro6.example`]: { A: ['127.0.0.2'] },
  // include / redirect
  'inc.example': { TXT: ['v=spf1 include:_spf.inc.example -all'] },
  '_spf.inc.example': { TXT: ['v=spf1 ip4:192.0.2.0/28 ~all'] },
  'redir.example': { TXT: ['v=spf1 redirect=_spf.inc.example'] },
  'incnone.example': { TXT: ['v=spf1 include:bare.example -all'] },
  'redirnone.example': { TXT: ['v=spf1 redirect=nx.example'] },
  // mx / a / ptr / exists
  'mx.example': { TXT: ['v=spf1 mx -all'], MX: [{ exchange: 'mail.mx.example', priority: 10 }] },
  'mail.mx.example': { A: ['192.0.2.10'], AAAA: ['2001:db8:1::10'] },
  'a.example': { TXT: ['v=spf1 a -all'], A: ['192.0.2.10'], AAAA: ['2001:db8:1::25'] },
  'acidr.example': { TXT: ['v=spf1 a:host.acidr.example/24 -all'] },
  'host.acidr.example': { A: ['192.0.2.1'] },
  'ptr.example': { TXT: ['v=spf1 ptr -all'] },
  'host10.ptr.example': { A: ['192.0.2.10'] },
  'host11.ptr.example': { A: ['192.0.2.99'] },
  'exists.example': { TXT: ['v=spf1 exists:%{i}.list.exists.example -all'] },
  '192.0.2.10.list.exists.example': { A: ['127.0.0.2'] },
  // IPv6
  'v6.example': { TXT: ['v=spf1 ip6:2001:db8:1::/48 -all'] },
  // limits (RFC 7208 §4.6.4)
  'limit11.example': { TXT: [`v=spf1 ${includes(11, 'limit11.example')} -all`] },
  'limit10.example': { TXT: [`v=spf1 ${includes(10, 'limit10.example')} -all`] },
  'void3.example': { TXT: ['v=spf1 a:nx1.void3.example a:nx2.void3.example a:nx3.void3.example ip4:192.0.2.10 -all'] },
  'void2.example': { TXT: ['v=spf1 a:nx1.void2.example a:nx2.void2.example ip4:192.0.2.10 -all'] },
  'mx11.example': {
    TXT: ['v=spf1 mx -all'],
    MX: Array.from({ length: 11 }, (_, i) => ({ exchange: `m${i + 1}.mx11.example`, priority: i + 1 })),
  },
  'loop.example': { TXT: ['v=spf1 include:loop.example -all'] },
  // a DNS timeout inside an include; a slow chain longer than the request deadline
  'slowinc.example': { TXT: ['v=spf1 include:_spf.slowinc.example -all'] },
  '_spf.slowinc.example': { TXT: ['v=spf1 ip4:192.0.2.10 -all'] },
  'chain.example': { TXT: ['v=spf1 include:c1.chain.example -all'] },
  // HELO identity
  'mail.helo.example': { TXT: ['v=spf1 a -all'], A: ['192.0.2.10'] },
  'softhelo.example': { TXT: ['v=spf1 ~all'], A: ['192.0.2.10'] },
};
for (let i = 1; i <= 11; i++) {
  LAB[`l${i}.limit11.example`] = { TXT: [`v=spf1 ip4:203.0.113.${i} -all`] };
  LAB[`l${i}.limit10.example`] = { TXT: [`v=spf1 ip4:203.0.113.${i} -all`] };
  LAB[`m${i}.mx11.example`] = { A: [`203.0.113.${100 + i}`] };
}
for (let i = 1; i <= 6; i++) LAB[`c${i}.chain.example`] = { TXT: [i < 6 ? `v=spf1 include:c${i + 1}.chain.example -all` : 'v=spf1 ip4:192.0.2.10 -all'] };

/**
 * The providers, shaped like their published records: Google redirects to
 * _spf.google.com which includes netblock records; yahoo.com redirects to
 * _spf.mail.yahoo.com (ptr terms and ranges, ?all); aol.com includes third
 * parties and Yahoo's ranges (~all); me.com and mac.com redirect to
 * icloud.com; Yahoo! JAPAN has its own include and ranges.
 */
const PROVIDERS: Zone = {
  'gmail.com': { TXT: ['v=spf1 redirect=_spf.google.com'] },
  '_spf.google.com': { TXT: ['v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all'] },
  '_netblocks.google.com': { TXT: ['v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all'] },
  '_netblocks2.google.com': { TXT: ['v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all'] },
  '_netblocks3.google.com': { TXT: ['v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all'] },
  'yahoo.com': { TXT: ['v=spf1 redirect=_spf.mail.yahoo.com'] },
  '_spf.mail.yahoo.com': { TXT: ['v=spf1 ptr:yahoo.com ptr:yahoo.net ip4:34.2.71.64/26 ip4:66.163.184.0/21 ip4:74.6.0.0/16 ip4:98.136.0.0/14 ip4:106.10.128.0/18 ip4:212.82.96.0/19 ?all'] },
  'aol.com': { TXT: ['v=spf1 include:spf.constantcontact.com include:aspmx.sailthru.com include:_ipspf.yahoo.com ~all'] },
  'spf.constantcontact.com': { TXT: ['v=spf1 ip4:208.75.120.0/22 ip4:63.251.135.0/24 -all'] },
  'aspmx.sailthru.com': { TXT: ['v=spf1 ip4:173.228.155.0/24 ip4:192.64.236.0/24 -all'] },
  '_ipspf.yahoo.com': { TXT: ['v=spf1 ip4:66.163.184.0/21 ip4:74.6.0.0/16 ip4:98.136.0.0/14 ip4:106.10.128.0/18 ip4:212.82.96.0/19 ~all'] },
  'icloud.com': { TXT: ['v=spf1 ip4:17.41.0.0/16 ip4:17.58.0.0/16 ip4:17.142.0.0/15 ip4:57.103.64.0/18 ip6:2a01:b747:3000:200::/56 ~all'] },
  'me.com': { TXT: ['v=spf1 redirect=icloud.com'] },
  'mac.com': { TXT: ['v=spf1 redirect=icloud.com'] },
  'yahoo.co.jp': { TXT: ['v=spf1 include:spf.yahoo.co.jp ~all'] },
  'spf.yahoo.co.jp': { TXT: ['v=spf1 ip4:182.22.0.0/16 ip4:183.79.0.0/16 ~all'] },
  // the sending hosts: FCrDNS names as the providers use them
  'sonic301-21.consmr.mail.gq1.yahoo.com': { A: ['98.137.65.148'] },
  'st43p00im-ztfb10061701.me.com': { A: ['17.58.63.175'] },
  'mo-csw1800.mail.yahoo.co.jp': { A: ['182.22.12.10'] },
  'mail-wr1-f53.google.com': { A: ['209.85.221.53'] },
};

// ---- the test server and contexts -------------------------------------------------

const server = await startDnsServer({ zone: { ...LAB, ...PROVIDERS } });
t.teardown(() => server.stop());
server.setBehaviour('servfail.example', 'servfail', 'TXT');
server.setBehaviour('_spf.slowinc.example', 'timeout', 'TXT');
for (let i = 1; i <= 6; i++) server.setBehaviour(`c${i}.chain.example`, { mode: 'answer', delayMs: 300 }, 'TXT');
server.addPtr('192.0.2.10', 'host10.ptr.example');
server.addPtr('192.0.2.11', 'host11.ptr.example');
server.addPtr('98.137.65.148', 'sonic301-21.consmr.mail.gq1.yahoo.com');
server.addPtr('17.58.63.175', 'st43p00im-ztfb10061701.me.com');
server.addPtr('182.22.12.10', 'mo-csw1800.mail.yahoo.co.jp');
server.addPtr('209.85.221.53', 'mail-wr1-f53.google.com');

function config(extra = ''): Config {
  const r = loadConfigText(`
dns:
  servers: ["${server.server}"]
  timeout: 1s
  tries: 1
  deadline: 3s
identity:
  my_names: [mx.ours.example]
  # the lab's documentation-range clients are public here (not a default)
  public_networks: [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, "2001:db8::/32"]
${extra}`, 'spf-test.yaml');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}

const CONFIG = config();
const BY_ID = new Map<string, CheckDef>(CHECKS.map((c) => [c.id, c]));

interface Run {
  readonly f: Record<string, Finding>;
  readonly ctx: CheckContext;
  /** wire queries this request started */
  readonly sent: number;
  readonly ms: number;
}

/** Run the SPF checks (and the provider check) for one request on a resolver (fresh one unless given). */
async function run(attrs: Record<string, string>, opts: { resolver?: CachingResolver; cfg?: Config; ids?: string[] } = {}): Promise<Run> {
  const cfg = opts.cfg ?? CONFIG;
  const resolver = opts.resolver ?? new CachingResolver(cfg.dns);
  const req = toPolicyRequest({
    request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: IN, helo_name: 'mail.helo.example',
    sender: 'alice@pass.example', recipient: 'bob@ours.example', instance: 'a.1', ...attrs,
  });
  const view = resolver.scoped(Date.now() + cfg.dns.deadline);
  const ctx: CheckContext = { req, id: identityOf(req), dns: view, settings: cfg, memo: new Map() };
  const ids = opts.ids ?? ['spf_mail_from', 'spf_mail_from_softfail', 'spf_mail_from_permerror', 'spf_helo', 'spf_helo_softfail', 'spf_helo_permerror', 'sender_provider_forgery'];
  const t0 = Date.now();
  const found = await Promise.all(ids.map((id) => BY_ID.get(id)!.run(ctx)));
  const ms = Date.now() - t0;
  view.done();
  if (opts.resolver === undefined) resolver.close();
  return { f: Object.fromEntries(found.map((x) => [x.check, x])), ctx, sent: view.sent, ms };
}

/** A request's check context on a resolver of its own, live until done(). */
function requestContext(attrs: Record<string, string>): { ctx: CheckContext; done(): void } {
  const resolver = new CachingResolver(CONFIG.dns);
  const req = toPolicyRequest({
    request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: IN, helo_name: 'mail.helo.example',
    sender: 'alice@pass.example', recipient: 'bob@ours.example', instance: 'a.1', ...attrs,
  });
  const view = resolver.scoped(Date.now() + CONFIG.dns.deadline);
  const ctx: CheckContext = { req, id: identityOf(req), dns: view, settings: CONFIG, memo: new Map() };
  return { ctx, done: () => { view.done(); resolver.close(); } };
}

/** The MAIL FROM SPF result as the findings report it. */
const spfResult = (r: Run) => r.f.spf_mail_from!.vars?.spf;

// ---- the adapter's pieces ---------------------------------------------------------

t.test('DNS outcomes map to the codes mailauth reads (one table: dns/classify.ts)', async (t) => {
  t.equal(errorCodeOf({ status: 'notfound', reason: 'NXDOMAIN' }), 'ENOTFOUND', 'void');
  t.equal(errorCodeOf({ status: 'notfound', reason: 'NODATA' }), 'ENODATA', 'void');
  t.equal(errorCodeOf({ status: 'tempfail', reason: 'TIMEOUT' }), 'ETIMEOUT');
  t.equal(errorCodeOf({ status: 'tempfail', reason: 'DEADLINE' }), 'ETIMEOUT');
  t.equal(errorCodeOf({ status: 'tempfail', reason: 'REFUSED' }), 'EREFUSED');
  t.equal(errorCodeOf({ status: 'tempfail', reason: 'SERVFAIL' }), 'ESERVFAIL');
  t.equal(errorCodeOf({ status: 'tempfail', reason: 'BADNAME' }), 'ESERVFAIL', 'never EBADNAME (mailauth: permerror)');
  t.equal(addressOfReverseName('10.2.0.192.in-addr.arpa'), '192.0.2.10');
  t.equal(addressOfReverseName(`${[...'20010db8000100000000000000000025'].reverse().join('.')}.ip6.arpa`), '2001:db8:1::25');
  t.equal(addressOfReverseName('2.0.192.in-addr.arpa'), null);
  t.equal(addressOfReverseName('example.com'), null);
});

// ---- every result class ------------------------------------------------------------

t.test('every SPF result class, mapped to the checks (RFC 7208 §2.6, §8)', async (t) => {
  const cases: Array<[string, string, string, Record<string, Finding['result']>]> = [
    ['pass', 'a@pass.example', IN, { spf_mail_from: 'pass', spf_mail_from_softfail: 'pass', spf_mail_from_permerror: 'pass' }],
    ['fail', 'a@fail.example', OUT, { spf_mail_from: 'fail', spf_mail_from_softfail: 'pass', spf_mail_from_permerror: 'pass' }],
    ['softfail', 'a@softfail.example', OUT, { spf_mail_from: 'pass', spf_mail_from_softfail: 'fail', spf_mail_from_permerror: 'pass' }],
    ['neutral', 'a@neutral.example', OUT, { spf_mail_from: 'pass', spf_mail_from_softfail: 'pass', spf_mail_from_permerror: 'pass' }],
    ['none', 'a@none.example', OUT, { spf_mail_from: 'pass', spf_mail_from_softfail: 'pass', spf_mail_from_permerror: 'pass' }],
    ['none', 'a@bare.example', OUT, { spf_mail_from: 'pass' }],
    ['none', 'a@nx.example', OUT, { spf_mail_from: 'pass' }],
    ['permerror', 'a@multi.example', IN, { spf_mail_from: 'pass', spf_mail_from_softfail: 'pass', spf_mail_from_permerror: 'fail' }],
    ['permerror', 'a@syntax.example', IN, { spf_mail_from_permerror: 'fail' }],
    ['permerror', 'a@unknownmech.example', IN, { spf_mail_from_permerror: 'fail' }],
    ['temperror', 'a@servfail.example', IN, { spf_mail_from: 'tempfail', spf_mail_from_softfail: 'skip', spf_mail_from_permerror: 'skip' }],
    ['pass', 'a@long.example', IN, { spf_mail_from: 'pass' }],
  ];
  for (const [want, sender, client, results] of cases) {
    const r = await run({ sender, client_address: client });
    t.equal(spfResult(r), want, `${sender} from ${client}: ${want} (${r.f.spf_mail_from!.reason})`);
    for (const [id, res] of Object.entries(results)) t.equal(r.f[id]!.result, res, `${sender}: ${id}=${res}`);
  }
});

t.test('no SPF record: "none" without starting mailauth, word for word what mailauth says (lib/spf.ts noSpfRecord)', async (t) => {
  // mailauth itself, on node:dns pointed at the same loopback server
  const direct = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
  direct.setServers([server.server]);
  const cases: Array<[string, string, string]> = [
    ['TXT records, none of them SPF ("v=spf10" is not "v=spf1")', 'a@none.example', 'mail.helo.example'],
    ['NODATA', 'a@bare.example', 'mail.helo.example'],
    ['NXDOMAIN', 'a@nx.example', 'mail.helo.example'],
    ['HELO identity of a name without TXT (null sender)', '', 'bare.example'],
  ];
  for (const [what, sender, helo] of cases) {
    const r = await run({ sender, client_address: OUT, helo_name: helo });
    const ours = await spfOf(r.ctx, 'mailfrom');
    if (isSkip(ours)) {
      t.fail(`${what}: skipped (${ours.skip})`);
      continue;
    }
    const theirs = await mailauthSpf({
      sender, ip: OUT, helo, mta: 'mx.ours.example', strict: true, maxResolveCount: 10, maxVoidCount: 2,
      resolver: ((name: string, type: string) => direct.resolve(name, type)) as never,
    });
    const lookups = (theirs as { lookups?: { count?: number; void?: number } }).lookups;
    t.same(
      { result: ours.result, text: ours.text, domain: ours.domain, sender: ours.sender, record: ours.record, lookups: ours.lookups, voids: ours.voids },
      {
        result: theirs.status.result, text: String(theirs.status.comment).replace(/^mx\.ours\.example: /, ''), domain: theirs.domain,
        sender: theirs['envelope-from'], record: theirs.rr ?? null, lookups: lookups?.count, voids: lookups?.void,
      },
      `${what}: ${describeSpf(ours)}`,
    );
    t.match(ours.trail, /^TXT \S+ -> /, `${what}: the TXT answer is in the trail`);
  }
  // a TXT answer that mentions v=spf1 anywhere is mailauth's to judge
  const r = await run({ sender: 'a@multi.example', client_address: IN });
  t.equal(spfResult(r), 'permerror', 'two SPF records: mailauth ran (permerror, §4.5)');
});

t.test('check_host() entered at spfVerify() gives what spf() gives: result, words, record, counts, DNS trail (lib/spf.ts checkHostDirect)', async (t) => {
  // Every lab and provider domain with a TXT record (the slow ones aside), from
  // clients inside and outside their ranges, IPv4 and IPv6, with local parts
  // the macros read; both entries on the same request (one memo, one resolver).
  const domains = Object.keys({ ...LAB, ...PROVIDERS }).filter((d) => ({ ...LAB, ...PROVIDERS })[d]!.TXT !== undefined && !/slowinc|chain|^l11\.limit11/.test(d)); // l11: the limits test counts its queries
  t.ok(domains.length >= 40, `${domains.length} domains`);
  const clients = [IN, OUT, '192.0.2.11', '2001:db8:1::25', '2001:db8:2::1', '209.85.221.53', '98.137.65.148', '::ffff:192.0.2.10'];
  let direct = 0;
  const results = new Set<string>();
  for (const domain of domains) {
    for (const ip of clients) {
      for (const [local, dom] of [['john', domain], ['a', domain], ['Mixed.Case', domain.toUpperCase()]] as const) {
        const sender = `${local}@${dom}`;
        const c = requestContext({ sender, client_address: ip });
        const trailD: string[] = [];
        const trailS: string[] = [];
        const ours = await checkHostDirect(c.ctx, sender, trailD);
        const theirs = await checkHostViaSpf(c.ctx, sender, trailS);
        c.done();
        if (ours === null) {
          // a label such as _spf is no LDH label: spf()'s joi test judges the domain
          if (!domain.includes('_')) t.fail(`${sender} from ${ip}: not entered directly`);
          continue;
        }
        direct++;
        results.add(theirs.result);
        if (JSON.stringify([ours, trailD]) !== JSON.stringify([theirs, trailS])) t.same([ours, trailD], [theirs, trailS], `${sender} from ${ip}`);
      }
    }
  }
  t.equal(direct, domains.filter((d) => !d.includes('_')).length * clients.length * 3, `${direct} evaluations compared, results ${[...results].sort().join(' ')}`);
  t.ok(['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'].every((x) => results.has(x)), 'every result class met');
  // what spf() rewrites or refuses first is left to spf()
  for (const [sender, ip, why] of [
    ['pass.example', IN, 'no local part'], ['@pass.example', IN, 'empty local part'],
    ['a@xn--bcher-kva.example', IN, 'an xn-- label'], ['a@b\u00fccher.example', IN, 'a non-ASCII domain'], ['a@under_score.example', IN, 'a non-LDH label'],
  ] as const) {
    const c = requestContext({ sender, client_address: ip });
    t.equal(await checkHostDirect(c.ctx, sender, []), null, `${why}: spf() evaluates it`);
    c.done();
  }
});

t.test('mechanisms: include, redirect, mx, a (with CIDR), ptr, exists, ip6', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    ['include matches', 'a@inc.example', IN, 'pass'],
    ['include does not match: its ~all is no match, the outer -all decides', 'a@inc.example', OUT, 'fail'],
    ['redirect: the target record decides (its ~all)', 'a@redir.example', OUT, 'softfail'],
    ['redirect matches', 'a@redir.example', IN, 'pass'],
    ['include of a domain without SPF: permerror (§5.2)', 'a@incnone.example', IN, 'permerror'],
    ['redirect to a domain without SPF: permerror (§6.1)', 'a@redirnone.example', IN, 'permerror'],
    ['include loop: limit, permerror', 'a@loop.example', OUT, 'permerror'],
    ['mx', 'a@mx.example', IN, 'pass'],
    ['mx, not listed', 'a@mx.example', OUT, 'fail'],
    ['mx over IPv6 (AAAA of the MX host)', 'a@mx.example', '2001:db8:1::10', 'pass'],
    ['a', 'a@a.example', IN, 'pass'],
    ['a over IPv6', 'a@a.example', '2001:db8:1::25', 'pass'],
    ['a:host/24', 'a@acidr.example', IN, 'pass'],
    ['a:host/24, outside', 'a@acidr.example', OUT, 'fail'],
    ['ptr: validated name under the domain', 'a@ptr.example', IN, 'pass'],
    ['ptr: name does not resolve back', 'a@ptr.example', '192.0.2.11', 'fail'],
    ['exists with %{i}', 'a@exists.example', IN, 'pass'],
    ['exists, not listed', 'a@exists.example', OUT, 'fail'],
    ['ip6 inside', 'a@v6.example', '2001:db8:1::25', 'pass'],
    ['ip6 outside', 'a@v6.example', '2001:db8:2::1', 'fail'],
    ['IPv4 client against an ip6-only record', 'a@v6.example', IN, 'fail'],
    ['IPv4-mapped IPv6 client is the IPv4 client (§5)', 'a@pass.example', '::ffff:192.0.2.10', 'pass'],
  ];
  for (const [name, sender, client, want] of cases) {
    const r = await run({ sender, client_address: client });
    t.equal(spfResult(r), want, `${name} (${r.f.spf_mail_from!.reason})`);
  }
});

t.test('macros (RFC 7208 §7): %{ir}, %{l1r+-}, %{d}, %{h}, %{d2}, IPv6 nibbles', async (t) => {
  let r = await run({ sender: 'john+tag@macro.example' });
  t.equal(spfResult(r), 'pass', `%{ir}.%{l1r+-}._spf.%{d} -> 10.2.0.192.john._spf.macro.example (${r.f.spf_mail_from!.reason})`);
  t.match(r.f.spf_mail_from!.reason, /A 10\.2\.0\.192\.john\._spf\.macro\.example -> 127\.0\.0\.2/, 'the trail shows the expanded name');
  r = await run({ sender: 'eve+tag@macro.example' });
  t.equal(spfResult(r), 'fail', 'another local-part: no such name');
  r = await run({ sender: 'x@macroh.example', client_address: OUT });
  t.equal(spfResult(r), 'pass', '%{h} is the HELO name, %{d2} the last two labels');
  r = await run({ sender: 'x@macroh.example', client_address: OUT, helo_name: 'other.helo.example' });
  t.equal(spfResult(r), 'fail');
  r = await run({ sender: 'x@macro6.example', client_address: '2001:db8:1::25' });
  t.equal(spfResult(r), 'pass', '%{ir} of an IPv6 client: dot-separated nibbles');
});

t.test('limits (RFC 7208 §4.6.4): 10 DNS-querying terms, 2 void lookups, 10 MX names', async (t) => {
  let r = await run({ sender: 'a@limit10.example', client_address: OUT });
  t.equal(spfResult(r), 'fail', '10 includes: evaluated to the end');
  t.match(r.f.spf_mail_from!.reason, /10 DNS-querying terms/);
  r = await run({ sender: 'a@limit11.example', client_address: OUT });
  t.equal(spfResult(r), 'permerror', '11 includes: permerror');
  t.equal(r.f.spf_mail_from_permerror!.result, 'fail');
  t.equal(server.count('l11.limit11.example', 'TXT'), 0, 'the 11th include is never asked');
  r = await run({ sender: 'a@void2.example' });
  t.equal(spfResult(r), 'pass', '2 void lookups are allowed');
  r = await run({ sender: 'a@void3.example' });
  t.equal(spfResult(r), 'permerror', 'a 3rd void lookup: permerror');
  r = await run({ sender: 'a@mx11.example', client_address: '203.0.113.111' });
  t.equal(spfResult(r), 'permerror', 'an mx term with 11 MX names: permerror');
});

t.test('DNS trouble: temperror -> tempfail, never fail; the request deadline bounds the evaluation', async (t) => {
  let r = await run({ sender: 'a@slowinc.example' });
  t.equal(spfResult(r), 'temperror', 'a timeout inside an include');
  t.equal(r.f.spf_mail_from!.result, 'tempfail');
  t.match(r.f.spf_mail_from!.reason, /TIMEOUT \(temporary failure\)/);
  // six includes of 300 ms each, a 700 ms deadline: temperror at the deadline
  const tight = loadConfigText(`dns:\n  servers: ["${server.server}"]\n  timeout: 1s\n  tries: 1\n  deadline: 700ms\n`, 'x.yaml');
  if (!tight.ok) throw new Error('config');
  r = await run({ sender: 'a@chain.example' }, { cfg: tight.config });
  t.equal(spfResult(r), 'temperror', `a chain slower than the deadline: temperror (${r.f.spf_mail_from!.reason})`);
  t.match(r.f.spf_mail_from!.reason, /DEADLINE/);
  t.ok(r.ms < 1500, `ended by the deadline: ${r.ms} ms for a chain of 1,800 ms`);
});

t.test('HELO identity (§2.3) and the null sender (§2.4: postmaster@<HELO>)', async (t) => {
  let r = await run({ sender: 'a@pass.example' });
  t.equal(r.f.spf_helo!.vars?.spf, 'pass', 'HELO mail.helo.example: a matches');
  t.equal(r.f.spf_helo!.result, 'pass');
  r = await run({ sender: 'a@pass.example', client_address: '192.0.2.11' });
  t.equal(r.f.spf_helo!.result, 'fail', 'HELO identity fail');
  t.equal(r.f.spf_mail_from!.result, 'pass', 'the MAIL FROM identity is judged on its own');
  r = await run({ sender: '', client_address: '192.0.2.11' });
  t.equal(r.f.spf_mail_from!.result, 'fail', 'null sender: MAIL FROM = postmaster@mail.helo.example');
  t.equal(r.f.spf_mail_from!.vars?.spf_sender, 'postmaster@mail.helo.example');
  t.equal(r.f.spf_mail_from!.vars?.spf_identity, 'helo');
  r = await run({ sender: 'a@pass.example', client_address: OUT, helo_name: 'softhelo.example' });
  t.equal(r.f.spf_helo_softfail!.result, 'fail');
  for (const helo of ['[192.0.2.10]', 'mailserver', '']) {
    r = await run({ sender: 'a@pass.example', helo_name: helo });
    t.equal(r.f.spf_helo!.result, 'skip', `HELO ${JSON.stringify(helo)}: not checked`);
    t.equal(r.f.spf_mail_from!.result, 'pass', 'MAIL FROM still checked');
  }
  r = await run({ sender: '', helo_name: '[192.0.2.10]' });
  t.equal(r.f.spf_mail_from!.result, 'skip', 'null sender and a literal HELO: nothing to check');
  r = await run({ sender: 'a@[192.0.2.1]' });
  t.equal(r.f.spf_mail_from!.result, 'skip', 'address-literal sender domain');
  r = await run({ sender: 'a@pass.example', client_address: 'unknown' });
  t.equal(r.f.spf_mail_from!.result, 'skip', 'no client address');
});

t.test('one evaluation per identity and request; SPF shares the resolver cache (queries cold / warm)', async (t) => {
  const resolver = new CachingResolver(CONFIG.dns);
  t.teardown(() => resolver.close());
  server.reset();
  // an AOL sender on Yahoo's servers: TXT aol.com + 3 includes (the 3rd matches), TXT of the HELO name
  const attrs = { sender: 'someone@aol.com', client_address: '98.137.65.148', helo_name: 'sonic301-21.consmr.mail.gq1.yahoo.com' };
  const cold = await run(attrs, { resolver });
  t.equal(cold.f.sender_provider_forgery!.result, 'pass');
  t.equal(server.count('aol.com', 'TXT'), 1, 'aol.com asked once for spf_mail_from*, the provider check and all');
  t.equal(cold.sent, 5, 'cold: 5 queries (4 TXT for the include chain, 1 TXT for the HELO)');
  const warm = await run(attrs, { resolver });
  t.equal(warm.sent, 0, 'warm: 0 queries, the resolver cache answers');
  t.equal(warm.f.sender_provider_forgery!.result, 'pass');
  server.reset();
  const gm = await run({ sender: 'x@gmail.com', client_address: '209.85.221.53', helo_name: 'mail-wr1-f53.google.com' }, { resolver });
  t.equal(gm.f.sender_provider_forgery!.result, 'pass');
  t.equal(gm.sent, 4, 'gmail.com cold: gmail.com, _spf.google.com, _netblocks.google.com + the HELO TXT');
});

// ---- big-provider forgery on SPF ---------------------------------------------------

t.test('provider mail as it really flows passes; forgeries do not', async (t) => {
  const real: Array<[string, Record<string, string>]> = [
    ['AOL through Yahoo', { sender: 'someone@aol.com', client_address: '98.137.65.148', helo_name: 'sonic301-21.consmr.mail.gq1.yahoo.com' }],
    ['Yahoo', { sender: 'someone@yahoo.com', client_address: '98.137.65.148', helo_name: 'sonic301-21.consmr.mail.gq1.yahoo.com' }],
    ['iCloud through me.com', { sender: 'someone@icloud.com', client_address: '17.58.63.175', helo_name: 'st43p00im-ztfb10061701.me.com' }],
    ['me.com', { sender: 'someone@me.com', client_address: '17.58.63.175', helo_name: 'st43p00im-ztfb10061701.me.com' }],
    ['mac.com', { sender: 'someone@mac.com', client_address: '17.58.63.175', helo_name: 'st43p00im-ztfb10061701.me.com' }],
    ['Yahoo! JAPAN', { sender: 'someone@yahoo.co.jp', client_address: '182.22.12.10', helo_name: 'mo-csw1800.mail.yahoo.co.jp' }],
    ['Gmail', { sender: 'someone@gmail.com', client_address: '209.85.221.53', helo_name: 'mail-wr1-f53.google.com' }],
    ['Gmail over IPv6', { sender: 'someone@gmail.com', client_address: '2a00:1450:4864:20::52f', helo_name: 'mail-wr1-f53.google.com' }],
  ];
  for (const [name, attrs] of real) {
    const r = await run(attrs);
    t.equal(r.f.sender_provider_forgery!.result, 'pass', `${name}: pass (${r.f.sender_provider_forgery!.reason})`);
  }
  const forged: Array<[string, Record<string, string>, string]> = [
    ['aol.com from elsewhere (softfail)', { sender: 'x@aol.com', client_address: '203.0.113.50', helo_name: 'mail.helo.example' }, 'softfail'],
    ['yahoo.com from elsewhere (neutral: ?all)', { sender: 'x@yahoo.com', client_address: '203.0.113.50' }, 'neutral'],
    ['icloud.com from elsewhere', { sender: 'x@icloud.com', client_address: '203.0.113.50' }, 'softfail'],
    ['yahoo.co.jp from Yahoo Inc.\'s servers (not its list)', { sender: 'x@yahoo.co.jp', client_address: '98.137.65.148' }, 'softfail'],
    ['gmail.com from a host with a google.com-looking name', { sender: 'x@gmail.com', client_address: '198.51.100.66', helo_name: 'mail-wr1-f53.google.com' }, 'softfail'],
  ];
  for (const [name, attrs, spf] of forged) {
    const r = await run(attrs);
    t.equal(r.f.sender_provider_forgery!.result, 'fail', `${name}: forgery`);
    t.equal(r.f.sender_provider_forgery!.vars?.spf, spf, `${name}: SPF ${spf}`);
  }
  // a DNS failure while checking: tempfail, never fail
  server.setBehaviour('_ipspf.yahoo.com', 'servfail', 'TXT');
  const r = await run({ sender: 'x@aol.com', client_address: '203.0.113.51' });
  server.setBehaviour('_ipspf.yahoo.com', null, 'TXT');
  t.equal(r.f.sender_provider_forgery!.result, 'tempfail', 'SERVFAIL inside aol.com\'s include chain: tempfail');
});

t.test('through the engine: SPF fail 550 5.7.23, forgery 550 5.7.1, DNS trouble 450 4.4.3 (never 5xx)', async (t) => {
  const resolver = new CachingResolver(CONFIG.dns);
  t.teardown(() => resolver.close());
  const cfg = config(`
checks:
  rdns_missing: { action: off }
  rdns_unconfirmed: { action: off }
  helo_unknown: { action: off }
  sender_domain_unknown: { action: off }
  sender_mx_bogus: { action: off }
`);
  const engine = createEngine(cfg, { dns: resolver, identityCache: false });
  const ask = async (attrs: Record<string, string>) => {
    const req = toPolicyRequest({
      request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: OUT, helo_name: 'mail.helo.example',
      recipient: 'bob@ours.example', instance: `i.${Math.random()}`, ...attrs,
    });
    const d = await engine.decide(req, { engine: undefined, peer: 'test' });
    return actionText(d.action, { allowOk: false });
  };
  t.match(await ask({ sender: 'a@fail.example', helo_name: 'softhelo.example' }), /^550 5\.7\.23 SPF fail: fail\.example does not allow 198\.51\.100\.20/);
  t.match(await ask({ sender: 'x@aol.com', client_address: '203.0.113.50', helo_name: 'softhelo.example' }), /^550 5\.7\.1 /);
  t.match(await ask({ sender: 'a@servfail.example', client_address: IN }), /^DEFER_IF_PERMIT 4\.4\.3 /);
  t.match(await ask({ sender: 'a@softfail.example', helo_name: 'softhelo.example' }), /^WARN /, 'softfail: warn');
  t.match(await ask({ sender: 'a@multi.example', client_address: IN, helo_name: 'host10.ptr.example' }), /^WARN SPF permerror: the SPF record of multi\.example cannot be evaluated/, 'permerror: warn');
  t.equal(await ask({ sender: 'a@neutral.example', client_address: OUT, helo_name: 'softhelo.example' }).then((a) => /^WARN/.test(a)), true, 'neutral: only the HELO softfail warns');
  const none = await ask({ sender: 'a@none.example', client_address: IN, helo_name: 'host10.ptr.example' });
  t.equal(none, 'DUNNO', `none: pass (${none})`);
});

// ---- the result header -------------------------------------------------------------

t.test('result header: Received-SPF (RFC 7208 §9.1) and Authentication-Results spf= (RFC 8601 §2.7.2)', async (t) => {
  const defs = CHECKS;
  const render = async (format: 'rfc8601' | 'received-spf', attrs: Record<string, string>) => {
    const r = await run(attrs, { ids: CHECKS.map((c) => c.id) });
    const h = compileHeader({ enabled: true, name: 'X-Policy-Identity', format, authserv_id: 'mx.ours.example' }, defs, [])!;
    const results = defs.map((d) => r.f[d.id]);
    return h.render(results, defs.map((_, i) => i), r.ctx.id, undefined);
  };
  let h = await render('received-spf', { sender: 'alice@pass.example' });
  t.equal(h, 'Received-SPF: pass (mx.ours.example: domain of pass.example designates 192.0.2.10 as permitted sender) client-ip=192.0.2.10; envelope-from=alice@pass.example; helo=mail.helo.example; receiver=mx.ours.example; identity=mailfrom');
  h = await render('received-spf', { sender: 'a@fail.example', client_address: OUT });
  t.match(h, /^Received-SPF: fail \(mx\.ours\.example: domain of fail\.example does not designate 198\.51\.100\.20 as permitted sender\) client-ip=198\.51\.100\.20;/);
  h = await render('received-spf', { sender: '' });
  t.match(h, /^Received-SPF: pass .* client-ip=192\.0\.2\.10; helo=mail\.helo\.example; receiver=mx\.ours\.example; identity=helo$/, 'null sender: identity=helo, no envelope-from');
  h = await render('received-spf', { sender: '"odd local"@pass.example' });
  t.match(h, /envelope-from="odd local@pass\.example";/, 'a quoted local-part becomes a quoted-string');
  h = await render('received-spf', { sender: `${'x'.repeat(60)}@pass.example`, helo_name: `${'h'.repeat(60)}.${'h'.repeat(60)}.${'h'.repeat(60)}.example` });
  t.ok(h.length <= 400, `kept within a policy reply: ${h.length}`);
  t.match(h, /^Received-SPF: pass /);
  h = await render('rfc8601', { sender: 'a@softfail.example', client_address: OUT });
  t.match(h, /^Authentication-Results: mx\.ours\.example; iprev=\w+ policy\.iprev=198\.51\.100\.20; spf=softfail smtp\.mailfrom=softfail\.example; spf=fail smtp\.helo=mail\.helo\.example$/);
  h = await render('rfc8601', { sender: '', client_address: IN });
  t.match(h, /; spf=pass smtp\.helo=mail\.helo\.example$/, 'null sender: reported once, as smtp.helo');
  t.notMatch(h, /smtp\.mailfrom/);
  h = await render('received-spf', { sender: 'a@pass.example', client_address: 'unknown', helo_name: 'x' });
  t.equal(h, 'Received-SPF: none (mx.ours.example: no SPF check was made) receiver=mx.ours.example');
});

// ---- docs ----------------------------------------------------------------------------

t.test('docs/checks.md: one row per check (the SPF ones cite RFC 7208 sections)', async (t) => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/checks.md', import.meta.url), 'utf8');
  // the table of "## The checks" (other sections list defaults and sources per check)
  const table = doc.slice(doc.indexOf('## The checks'), doc.indexOf('\n#', doc.indexOf('## The checks') + 5));
  for (const c of CHECKS) {
    const rows = table.split('\n').filter((l) => l.startsWith(`| \`${c.id}\` |`));
    t.equal(rows.length, 1, `${c.id}: one row`);
    if (c.id.startsWith('spf_')) t.match(rows[0], /RFC 7208 §\d/, `${c.id} cites RFC 7208`);
  }
  const example = /```yaml\n(providers:[\s\S]*?)```/.exec(doc);
  t.ok(example, 'a providers example');
  const r = loadConfigText(example![1]!, 'docs/checks.md');
  t.ok(r.ok && r.config.providers.includes('example-corp.com'), 'the providers example is a valid config');
});
