// `policyd-identity test` (one request, no daemon, explained) and
// `policyd-identity doctor` (the outbound view), run as the real CLI against
// the loopback test DNS server.
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { PolicyClient, block } from './helpers/policy-client.js';
import { DaemonProcess, runCli } from './helpers/daemon-process.js';
import { BIG_MAILHOSTS } from '../src/doctor/smarthost.js';
import { LAB_IDENTITY_YAML } from './helpers/lab-networks.js';

/** The test addresses are documentation ranges: the lab config declares them public. */
const LAB_DIR = mkdtempSync(join(tmpdir(), 'pi-lab-'));
t.teardown(() => rmSync(LAB_DIR, { recursive: true, force: true }));
const LAB_CFG = join(LAB_DIR, 'lab.yaml');
writeFileSync(LAB_CFG, LAB_IDENTITY_YAML);

/**
 * One zone for every case:
 *   203.0.113.5   PTR mail.example.net, A back: a well-configured server
 *   203.0.113.6   no PTR
 *   203.0.113.7   PTR ghost.example.net, which has no A (FCrDNS fails)
 *   203.0.113.8   PTR mail.other.example, confirmed, another domain than the HELO
 *   203.0.113.9   PTR 203-0-113-9.dsl.dyn.example (a pool name), confirmed
 *   203.0.113.10  PTR mail.broken.example: SERVFAIL on the PTR
 *   2001:db8::25  PTR mail6.example.net, AAAA back; mail6.example.net has no AAAA for the HELO test
 * Sender domains: example.net (SPF pass for 203.0.113.0/24, DMARC p=quarantine,
 * DKIM key at sel1, revoked key at old), nospf.example (MX, no SPF, no
 * DMARC), otherspf.example (SPF without 203.0.113.5).
 */
async function dnsServer(): Promise<TestDnsServer> {
  const dns = await startDnsServer({
    zone: {
      'mail.example.net': { A: ['203.0.113.5'] },
      'example.net': { MX: [{ exchange: 'mail.example.net', priority: 10 }], TXT: ['v=spf1 ip4:203.0.113.0/24 ip6:2001:db8::25 -all', 'google-site-verification=abc'] },
      '_dmarc.example.net': { TXT: ['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.net'] },
      'sel1._domainkey.example.net': { TXT: ['v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1TaNgLlSyQMNWVLNLvyY/neDgaL2oqQE8T5illKqCgDtFHc8eHVAU+nlcaGmrKmDMw9dbgiGk1ocgZ56NR4ycfUHwQhvQPMUZw0cveel/8EAGoi/UyPmqfcPibytH81NFtTMAxUeM4Op8A6iHkvAMj5qLf4YRNsTkKAV5bcs7nwIDAQAB'] },
      'old._domainkey.example.net': { TXT: ['v=DKIM1; p='] },
      'nospf.example': { MX: [{ exchange: 'mail.example.net', priority: 10 }] },
      'otherspf.example': { MX: [{ exchange: 'mail.example.net', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.1 -all'] },
      'mail6.example.net': { AAAA: ['2001:db8::25'] },
      'mail.other.example': { A: ['203.0.113.8'] },
      '203-0-113-9.dsl.dyn.example': { A: ['203.0.113.9'] },
      'lanhost.example.net': { A: ['192.168.1.20'] },
      'nullmx.example': { MX: [{ exchange: '', priority: 0 }] },
      'nomx.example': { A: ['203.0.113.50'] },
      'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
      'mx.example.org': { A: ['198.51.100.7'] },
    },
  });
  dns.addPtr('203.0.113.5', 'mail.example.net');
  dns.addPtr('203.0.113.7', 'ghost.example.net');
  dns.addPtr('203.0.113.8', 'mail.other.example');
  dns.addPtr('203.0.113.9', '203-0-113-9.dsl.dyn.example');
  dns.addPtr('2001:db8::25', 'mail6.example.net');
  dns.setBehaviour((q) => (q.type === 'PTR' && q.name.startsWith('10.113.0.203') ? 'servfail' : undefined));
  return dns;
}

const dnsP = dnsServer();
t.teardown(async () => (await dnsP).stop());

const GOOD = ['--client', '203.0.113.5', '--helo', 'mail.example.net', '--sender', 'a@example.net', '--recipient', 'b@example.org'];

// ---- policyd-identity test ----------------------------------------------------------

t.test('test: flags -> the action Postfix gets and one row per check with the DNS answers seen', async (t) => {
  const dns = await dnsP;
  const r = await runCli(['test', '--config', LAB_CFG, '--dns', dns.server, ...GOOD]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Postfix gets: action=DUNNO$/m);
  t.match(r.stdout, /^CHECK\s+RESULT\s+ACTION\s+EFFECT\s+REASON$/m, 'a table');
  t.match(r.stdout, /^rdns_missing\s+pass\s/m);
  t.match(r.stdout, /^rdns_unconfirmed\s+pass\s.*PTR 203\.0\.113\.5 -> mail\.example\.net/m, 'the PTR answer is shown');
  t.match(r.stdout, /^helo_missing\s+pass\s/m);
  t.equal(r.stderr, '', 'nothing on stderr');
});

t.test('test: no HELO -> refused, and the table says which check decided', async (t) => {
  const dns = await dnsP;
  const r = await runCli(['test', '--config', LAB_CFG, '--dns', dns.server, '--client', '203.0.113.5', '--sender', 'a@example.net', '--state', 'rcpt']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Postfix gets: action=(REJECT|5\d\d) /m);
  t.match(r.stdout, /^helo_missing\s+fail\s+\S+.*decides/m);
});

t.test('test: a request block on stdin gives the same answer as the flags; --json', async (t) => {
  const dns = await dnsP;
  const stdin = block({ protocol_state: 'RCPT', client_address: '203.0.113.5', client_name: 'mail.example.net', helo_name: 'mail.example.net', sender: 'a@example.net', recipient: 'b@example.org', instance: 'a1.b2.c3' });
  const r = await runCli(['test', '--config', LAB_CFG, '--dns', dns.server, '--json'], { stdin });
  t.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { action: string; answer: string; checks: Array<{ check: string; result: string; reason: string; effect: string }>; request: Record<string, string> };
  t.equal(j.action, 'action=DUNNO');
  t.equal(j.request.instance, 'a1.b2.c3', 'the stdin attributes were used');
  const fcrdns = j.checks.find((c) => c.check === 'rdns_unconfirmed');
  t.equal(fcrdns?.result, 'pass');
  t.match(fcrdns?.reason, /mail\.example\.net/);
  t.ok(j.checks.length >= 15, 'every registry check has a row');

  const noHelo = await runCli(['test', '--config', LAB_CFG, '--dns', dns.server, '--json'], { stdin: block({ protocol_state: 'RCPT', client_address: '203.0.113.5', helo_name: '', sender: 'a@example.net' }) });
  const jn = JSON.parse(noHelo.stdout) as { action: string; fired: string[] };
  t.match(jn.action, /^action=(REJECT|5\d\d) /);
  t.ok(jn.fired.includes('helo_missing'));
});

t.test('test: DNS trouble gives the on_tempfail answer, never a 5xx', async (t) => {
  const dns = await dnsP;
  const r = await runCli(['test', '--config', LAB_CFG, '--dns', dns.server, '--json', '--client', '203.0.113.10', '--helo', 'mail.example.net', '--sender', 'a@example.net']);
  t.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { action: string; checks: Array<{ check: string; result: string; reason: string }> };
  t.notMatch(j.action, /^action=(REJECT|5\d\d)/, j.action);
  t.match(j.action, /^action=(DEFER_IF_PERMIT|450|4\d\d|DEFER)/);
  const rd = j.checks.find((c) => c.check === 'rdns_missing');
  t.equal(rd?.result, 'tempfail');
  t.match(rd?.reason, /SERVFAIL/);
});

t.test('test answers exactly like the daemon', async (t) => {
  const dns = await dnsP;
  const dir = mkdtempSync(join(tmpdir(), 'pi-td-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nchecks:\n  rdns_helo_mismatch: {action: reject}\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg]);
  t.teardown(() => d.stop());
  const c = await PolicyClient.connect({ port: d.policyPort() });
  t.teardown(() => c.close());
  const cases: Array<Record<string, string>> = [
    { client_address: '203.0.113.5', helo_name: 'mail.example.net', sender: 'a@example.net' },
    { client_address: '203.0.113.5', helo_name: '', sender: 'a@example.net' },
    { client_address: '203.0.113.6', helo_name: 'mail.example.net', sender: 'a@example.net' },
    { client_address: '203.0.113.8', helo_name: 'mail.example.net', sender: 'a@example.net' },
    { client_address: '203.0.113.5', helo_name: 'mail.example.net', sender: 'a@nullmx.example' },
  ];
  for (const a of cases) {
    const req = { protocol_state: 'RCPT', recipient: 'b@example.org', ...a };
    const fromDaemon = await c.ask(block(req));
    const r = await runCli(['test', '--config', cfg, '--json'], { stdin: block(req) });
    t.equal((JSON.parse(r.stdout) as { action: string }).action, `action=${fromDaemon}`, `same answer: ${JSON.stringify(a)} -> ${fromDaemon}`);
  }
});

t.test('test: usage errors exit 64 with a coded message', async (t) => {
  const none = await runCli(['test'], { stdin: '' });
  t.equal(none.code, 64);
  t.match(none.stderr, /PI_CLI_USAGE/);
  const bad = await runCli(['test'], { stdin: 'client_address=203.0.113.5\nthis is not an attribute\n\n' });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /line 2 is not name=value/);
  const state = await runCli(['test', '--client', '203.0.113.5', '--state', 'BOGUS']);
  t.equal(state.code, 64);
  t.match(state.stderr, /--state BOGUS/);
  const help = await runCli(['test', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: policyd-identity test/);
});

// ---- policyd-identity doctor --------------------------------------------------------

interface Recipe { main_cf: string[]; maps: Record<string, string[]>; commands: string[] }
interface Report {
  version: number;
  ip: string;
  helo: string;
  domain: string;
  dkim_selector: string | null;
  ok: boolean;
  items: Array<{ id: string; title: string; status: string; required_by: string[]; fix: string[]; records: string[]; findings: Array<{ check: string; result: string; reason: string }> }>;
  dmarc_policy: string | null;
  smarthost: { relay: string; all_mail: Recipe; per_destination: Recipe; text: string[] } | null;
  not_checked: Array<{ id: string; text: string }>;
}

async function doctor(ip: string, helo: string, domain: string, ...more: string[]) {
  const dns = await dnsP;
  const r = await runCli(['doctor', '--config', LAB_CFG, '--dns', dns.server, '--json', '--ip', ip, '--helo', helo, '--domain', domain, ...more]);
  const report = JSON.parse(r.stdout || '{}') as Report;
  const item = (id: string) => report.items.find((i) => i.id === id)!;
  return { ...r, report, item };
}

t.test('doctor: a well-configured server passes everything, exit 0', async (t) => {
  const dns = await dnsP;
  const { code, report } = await doctor('203.0.113.5', 'mail.example.net', 'example.net');
  t.equal(code, 0);
  t.equal(report.ok, true);
  t.same(report.items.map((i) => [i.id, i.status]), [
    ['ip_public', 'pass'], ['ptr', 'pass'], ['fcrdns', 'pass'], ['ptr_generic', 'pass'], ['helo_fqdn', 'pass'],
    ['helo_public', 'pass'], ['helo_resolves', 'pass'], ['ptr_helo', 'pass'], ['spf', 'pass'], ['dmarc', 'pass'],
    ['dkim', 'skip'], ['sender_mx', 'pass'],
  ], 'every item, in the documented order; DKIM without a selector is n/a, not a failure');
  t.equal(report.smarthost, null, 'no smarthost advice when nothing is wrong');
  const text = await runCli(['doctor', '--config', LAB_CFG, '--dns', dns.server, '--ip', '203.0.113.5', '--helo', 'mail.example.net', '--domain', 'example.net']);
  t.equal(text.code, 0);
  t.match(text.stdout, /^PASS  203\.0\.113\.5 has a PTR \(reverse DNS\) name$/m);
  t.match(text.stdout, /All checks pass\./);
});

t.test('doctor: no PTR -> ask the ISP for it, or relay through the smarthost (exact lines)', async (t) => {
  const { code, report, item, stdout } = await doctor('203.0.113.6', 'mail.example.net', 'example.net');
  t.equal(code, 1);
  t.equal(report.ok, false);
  t.equal(item('ptr').status, 'fail');
  t.match(item('ptr').fix.join('\n'), /set the PTR \(reverse DNS\) of 203\.0\.113\.6 to mail\.example\.net/);
  t.equal(item('helo_resolves').status, 'fail', 'the HELO resolves to another address');
  const sh = report.smarthost!;
  t.ok(sh, 'smarthost advice');
  t.equal(sh.relay, '[smtp.isp.example]:587');
  t.ok(sh.all_mail.main_cf.includes('relayhost = [smtp.isp.example]:587'));
  t.ok(sh.per_destination.main_cf.includes('transport_maps = hash:/etc/postfix/transport'));
  for (const d of BIG_MAILHOSTS) t.ok(sh.per_destination.maps['/etc/postfix/transport']!.some((l) => new RegExp(`^${d.replace('.', '\\.')}\\s+smtp:\\[smtp\\.isp\\.example\\]:587$`).test(l)), `transport entry for ${d}`);
  for (const recipe of [sh.all_mail, sh.per_destination]) {
    t.ok(recipe.main_cf.includes('smtp_tls_security_level = may'), 'TLS stays opportunistic for other destinations');
    t.notOk(recipe.main_cf.some((l) => /smtp_tls_security_level\s*=\s*encrypt/.test(l)), 'no global encrypt');
    t.same(recipe.maps['/etc/postfix/tls_policy'], ['[smtp.isp.example]:587 encrypt'], 'TLS required toward the smarthost only');
  }
  t.match(stdout, /\/etc\/postfix\/tls_policy/, 'the text shows the same lines');
});

t.test('doctor: PTR without the address record (FCrDNS) -> the exact A record to add', async (t) => {
  const { code, item } = await doctor('203.0.113.7', 'mail.example.net', 'example.net');
  t.equal(code, 1);
  t.equal(item('ptr').status, 'pass');
  t.equal(item('fcrdns').status, 'fail');
  t.match(item('fcrdns').fix.join('\n'), /ghost\.example\.net\. IN A 203\.0\.113\.7/);
  t.same(item('fcrdns').records, ['ghost.example.net. IN A 203.0.113.7'], 'the record alone, for scripts');
  t.equal(item('ptr_helo').status, 'skip', 'cannot compare without a confirmed PTR name');
});

t.test('doctor: PTR and HELO disagree -> myhostname / smtp_helo_name = the PTR name', async (t) => {
  const { code, item } = await doctor('203.0.113.8', 'mail.example.net', 'example.net');
  t.equal(code, 1);
  t.equal(item('ptr_helo').status, 'fail');
  const fix = item('ptr_helo').fix.join('\n');
  t.match(fix, /myhostname = mail\.other\.example/);
  t.match(fix, /smtp_helo_name = mail\.other\.example/);
});

t.test('doctor: dynamic-looking PTR name', async (t) => {
  const { item, report } = await doctor('203.0.113.9', '203-0-113-9.dsl.dyn.example', 'example.net');
  t.equal(item('ptr_generic').status, 'fail');
  t.ok(report.smarthost, 'smarthost advice');
});

t.test('doctor: the classic internal HELO, and a HELO that is no FQDN', async (t) => {
  const lan = await doctor('203.0.113.5', 'lanhost.example.net', 'example.net');
  t.equal(lan.code, 1);
  t.equal(lan.item('helo_public').status, 'fail');
  t.match(lan.item('helo_public').findings.map((f) => f.reason).join(' '), /192\.168\.1\.20/);
  t.match(lan.item('helo_public').fix.join('\n'), /smtp_helo_name = mail\.example\.net/, 'announce the PTR name');
  const local = await doctor('203.0.113.5', 'server.localdomain', 'example.net');
  t.equal(local.item('helo_public').status, 'fail');
  const short = await doctor('203.0.113.5', 'mailserver', 'example.net');
  t.equal(short.item('helo_fqdn').status, 'fail');
  t.match(short.item('helo_fqdn').fix.join('\n'), /myhostname = mail\.example\.net/);
  const literal = await doctor('203.0.113.5', '[203.0.113.5]', 'example.net');
  t.equal(literal.item('helo_fqdn').status, 'fail', 'an address literal is not enough for the big mailhosts');
});

t.test('doctor: an internal IP address', async (t) => {
  const { code, item, report } = await doctor('192.168.1.20', 'mail.example.net', 'example.net');
  t.equal(code, 1);
  t.equal(item('ip_public').status, 'fail');
  t.match(item('ip_public').findings[0]!.reason, /192\.168\.1\.20/);
  t.match(item('ip_public').fix.join('\n'), /NAT/);
  t.ok(report.smarthost);
});

t.test('doctor: sender domain without MX, with a null MX, or unknown', async (t) => {
  const nomx = await doctor('203.0.113.5', 'mail.example.net', 'nomx.example');
  t.equal(nomx.item('sender_mx').status, 'fail', 'A fallback only');
  t.match(nomx.item('sender_mx').fix.join('\n'), /nomx\.example\. IN MX 10 mail\.example\.net\./);
  const nullmx = await doctor('203.0.113.5', 'mail.example.net', 'nullmx.example');
  t.equal(nullmx.item('sender_mx').status, 'fail');
  t.ok(nullmx.item('sender_mx').findings.some((f) => f.check === 'sender_null_mx' && f.result === 'fail'));
  const unknown = await doctor('203.0.113.5', 'mail.example.net', 'does-not-exist.example');
  t.equal(unknown.item('sender_mx').status, 'fail');
  t.equal(unknown.code, 1);
});

t.test('doctor: DNS failure is not a verdict: "DNS?" and exit 1', async (t) => {
  const dns = await dnsP;
  const { code, item } = await doctor('203.0.113.10', 'mail.example.net', 'example.net');
  t.equal(code, 1);
  t.equal(item('ptr').status, 'tempfail');
  t.match(item('ptr').fix.join('\n'), /run doctor again/);
  const text = await runCli(['doctor', '--config', LAB_CFG, '--dns', dns.server, '--ip', '203.0.113.10', '--helo', 'mail.example.net', '--domain', 'example.net']);
  t.match(text.stdout, /^DNS\?  203\.0\.113\.10 has a PTR/m);
});

t.test('doctor: usage', async (t) => {
  const noIp = await runCli(['doctor', '--helo', 'mail.example.net', '--domain', 'example.net']);
  t.equal(noIp.code, 64);
  t.match(noIp.stderr, /--ip is required/);
  const badIp = await runCli(['doctor', '--ip', 'mail.example.net', '--helo', 'x.example', '--domain', 'example.net']);
  t.equal(badIp.code, 64);
  t.match(badIp.stderr, /not an IP address/);
  const help = await runCli(['doctor', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: policyd-identity doctor --ip/);
});

t.test('doctor: SPF, DMARC and DKIM of a well-configured domain pass; the DMARC policy is shown', async (t) => {
  const { code, report, item } = await doctor('203.0.113.5', 'mail.example.net', 'example.net', '--dkim-selector', 'sel1');
  t.equal(code, 0, JSON.stringify(report.items.filter((i) => i.status !== 'pass')));
  t.equal(report.version, 1);
  t.equal(report.dkim_selector, 'sel1');
  t.equal(item('spf').status, 'pass');
  t.match(item('spf').findings[0]!.reason, /SPF pass/);
  t.equal(item('dmarc').status, 'pass');
  t.equal(report.dmarc_policy, 'quarantine');
  t.equal(item('dkim').status, 'pass');
  t.same(item('spf').required_by, ['gmail', 'yahoo', 'microsoft']);
  const ids = report.not_checked.map((n) => n.id);
  for (const id of ['tls', 'dkim_signing', 'dmarc_alignment']) t.ok(ids.includes(id), `says plainly that ${id} is not checked`);
  const dns = await dnsP;
  const text = await runCli(['doctor', '--config', LAB_CFG, '--dns', dns.server, '--ip', '203.0.113.5', '--helo', 'mail.example.net', '--domain', 'example.net']);
  t.match(text.stdout, /DMARC policy of example\.net: p=quarantine/);
  t.match(text.stdout, /Not checked \(cannot be seen from outside\):\n {2}- TLS/);
  t.match(text.stdout, /^n\/a +DKIM key \(no selector given\)$/m, 'no selector: said, not counted');
});

t.test('doctor: no SPF record -> the exact TXT record; an SPF record without the IP -> the record with it added', async (t) => {
  const none = await doctor('203.0.113.5', 'mail.example.net', 'nospf.example');
  t.equal(none.code, 1);
  t.equal(none.item('spf').status, 'fail');
  t.same(none.item('spf').records, ['nospf.example. IN TXT "v=spf1 ip4:203.0.113.5 ~all"']);
  t.match(none.item('spf').fix.join('\n'), /has no SPF record/);
  t.equal(none.item('dmarc').status, 'fail');
  t.same(none.item('dmarc').records, ['_dmarc.nospf.example. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@nospf.example"']);
  t.equal(none.report.dmarc_policy, null);
  const other = await doctor('203.0.113.5', 'mail.example.net', 'otherspf.example');
  t.equal(other.item('spf').status, 'fail');
  t.match(other.item('spf').findings[0]!.reason, /SPF fail/);
  t.same(other.item('spf').records, ['otherspf.example. IN TXT "v=spf1 ip4:198.51.100.1 ip4:203.0.113.5 -all"']);
});

t.test('doctor: DKIM key missing or revoked at the selector', async (t) => {
  const missing = await doctor('203.0.113.5', 'mail.example.net', 'example.net', '--dkim-selector', 'nosuch');
  t.equal(missing.code, 1);
  t.equal(missing.item('dkim').status, 'fail');
  t.same(missing.item('dkim').records, ['nosuch._domainkey.example.net. IN TXT "v=DKIM1; k=rsa; p=<your public key, base64>"']);
  const revoked = await doctor('203.0.113.5', 'mail.example.net', 'example.net', '--dkim-selector', 'old');
  t.equal(revoked.item('dkim').status, 'fail');
  t.match(revoked.item('dkim').findings[0]!.reason, /revoked/);
  const bad = await runCli(['doctor', '--ip', '203.0.113.5', '--helo', 'mail.example.net', '--domain', 'example.net', '--dkim-selector', 'a b']);
  t.equal(bad.code, 64);
});

t.test('doctor: an IPv6 sender gets AAAA records and ip6: in SPF', async (t) => {
  const { item } = await doctor('2001:db8::25', 'mail.example.net', 'nospf.example');
  t.equal(item('fcrdns').status, 'pass');
  t.equal(item('helo_resolves').status, 'fail', 'mail.example.net has no AAAA');
  t.same(item('helo_resolves').records, ['mail.example.net. IN AAAA 2001:db8::25']);
  t.match(item('helo_resolves').fix.join('\n'), /mail\.example\.net\. IN AAAA 2001:db8::25/);
  t.notMatch(item('helo_resolves').fix.join('\n'), / IN A 2001/);
  t.same(item('spf').records, ['nospf.example. IN TXT "v=spf1 ip6:2001:db8::25 ~all"']);
  const ok6 = await doctor('2001:db8::25', 'mail6.example.net', 'example.net');
  t.equal(ok6.item('spf').status, 'pass', 'ip6: in the SPF record matches');
});

t.test('doctor: --relay puts the provider\'s smarthost in every line', async (t) => {
  const { report } = await doctor('203.0.113.6', 'mail.example.net', 'example.net', '--relay', 'smtp.provider.example:465');
  t.equal(report.smarthost?.relay, '[smtp.provider.example]:465');
  t.ok(report.smarthost?.all_mail.main_cf.includes('relayhost = [smtp.provider.example]:465'));
});

/** postconf/postmap from the Postfix the test command installs (Debian's postfix package). */
function postfixTool(name: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin']) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

t.test('doctor: the smarthost lines are valid Postfix configuration (postconf -n, postmap in a temporary config_directory)', async (t) => {
  const postconf = postfixTool('postconf');
  const postmap = postfixTool('postmap');
  if (postconf === null || postmap === null) {
    t.fail('postconf/postmap not found: install the postfix package (.ci/run does)');
    return;
  }
  const { report } = await doctor('203.0.113.6', 'mail.example.net', 'example.net');
  const sh = report.smarthost!;
  for (const [way, recipe] of [['all mail', sh.all_mail], ['per destination', sh.per_destination]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'pi-postfix-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'main.cf'), '');
    writeFileSync(join(dir, 'master.cf'), '');
    const local = (l: string) => l.split('/etc/postfix/').join(`${dir}/`);
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
      t.equal(r.status, 0, `${way}: ${cmd} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    run(postconf, ['-c', dir, '-e', ...recipe.main_cf.map(local)]);
    for (const [file, lines] of Object.entries(recipe.maps)) {
      writeFileSync(local(file), `${lines.join('\n')}\n`);
      run(postmap, ['-c', dir, `hash:${local(file)}`]);
    }
    const n = run(postconf, ['-c', dir, '-n']);
    for (const l of recipe.main_cf) t.ok(n.split('\n').includes(local(l)), `${way}: postconf -n shows "${l}"`);
    t.equal(run(postconf, ['-c', dir, '-h', 'smtp_tls_security_level']).trim(), 'may', `${way}: opportunistic TLS for everyone else`);
    t.equal(run(postmap, ['-c', dir, '-q', sh.relay, `hash:${dir}/tls_policy`]).trim(), 'encrypt', `${way}: TLS required toward ${sh.relay}`);
    t.equal(run(postmap, ['-c', dir, '-q', sh.relay, `hash:${dir}/sasl_passwd`]).trim(), 'USERNAME:PASSWORD', `${way}: the login is looked up by the relay's next-hop`);
    if (way === 'per destination') {
      for (const d of BIG_MAILHOSTS) t.equal(run(postmap, ['-c', dir, '-q', d, `hash:${dir}/transport`]).trim(), `smtp:${sh.relay}`, `${d} goes to the smarthost`);
      const other = spawnSync(postmap, ['-c', dir, '-q', 'example.org', `hash:${dir}/transport`], { encoding: 'utf8', timeout: 20_000 });
      t.equal(other.status, 1, 'other destinations are not in the transport map (delivered directly)');
    } else {
      t.equal(run(postconf, ['-c', dir, '-h', 'relayhost']).trim(), sh.relay);
    }
  }
});
