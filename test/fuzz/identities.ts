/**
 * identities — the identity mix shared by the fuzz, load and fault tests: a
 * loopback DNS zone, a list of SMTP client identities with the exact answer
 * the daemon must give each, and the daemon config that makes those answers
 * independent of the shipped defaults (every check involved gets an explicit
 * code and a message naming the check).
 *
 * Addresses are documentation ranges (declared public in the config below, as a
 * lab does: helpers/lab-networks.ts) and 10/8; they only ever appear as
 * strings inside DNS answers.
 *
 * What can go wrong: a change in what a check decides for one of these
 * identities shows up as a wrong answer in the load test, which prints the
 * identity, what it expected and what came back.
 */
import type { TestDnsServer, Zone } from '../helpers/dns-server.js';
import { fixture } from '../helpers/policy-client.js';
import { LAB_IDENTITY_YAML } from '../helpers/lab-networks.js';

export const ZONE: Zone = {
  'mail.good.example': { A: ['203.0.113.10'], AAAA: ['2001:db8::10'] },
  'good.example': { MX: [{ exchange: 'mail.good.example', priority: 10 }] },
  'nop.good.example': { A: ['203.0.113.20'] },
  'host23.wrong.example': { A: ['203.0.113.99'] },
  '203-0-113-22.dyn.isp.example': { A: ['203.0.113.22'] },
  'nullmx.example': { MX: [{ exchange: '', priority: 0 }] },
  // gmail.com's SPF as the provider publishes it (~all): 203.0.113.30 is Google's here, 203.0.113.31 a forger
  'gmail.com': { MX: [{ exchange: 'gmail-smtp-in.l.google.com', priority: 5 }], TXT: ['v=spf1 ip4:203.0.113.30 ~all'] },
  'gmail-smtp-in.l.google.com': { A: ['203.0.113.40'] },
  'mail.evilgoogle.com': { A: ['203.0.113.31'] },
  'mail-30.google.com': { A: ['203.0.113.30'] },
};

export const PTRS: Array<[string, string]> = [
  ['203.0.113.10', 'mail.good.example'],
  ['2001:db8::10', 'mail.good.example'],
  ['203.0.113.21', 'host21.unconfirmed.example'],
  ['203.0.113.23', 'host23.wrong.example'],
  ['203.0.113.22', '203-0-113-22.dyn.isp.example'],
  ['203.0.113.31', 'mail.evilgoogle.com'],
  ['203.0.113.30', 'mail-30.google.com'],
];

export function populateZone(dns: TestDnsServer): void {
  for (const [name, entry] of Object.entries(ZONE)) dns.set(name, entry);
  for (const [ip, name] of PTRS) dns.addPtr(ip, name);
}

export interface TestIdentity {
  name: string;
  client_address: string;
  helo_name: string;
  sender: string;
  /** extra attributes (e.g. sasl_username) */
  extra?: Record<string, string>;
  /** the exact action value (without "action=") for a RCPT request */
  expect: string;
}

export const IDENTITIES: readonly TestIdentity[] = [
  { name: 'good', client_address: '203.0.113.10', helo_name: 'mail.good.example', sender: 'alice@good.example', expect: 'DUNNO' },
  { name: 'good-v6', client_address: '2001:db8::10', helo_name: 'mail.good.example', sender: 'alice@good.example', expect: 'DUNNO' },
  { name: 'google', client_address: '203.0.113.30', helo_name: 'mail-30.google.com', sender: 'alice@gmail.com', expect: 'DUNNO' },
  { name: 'null-sender', client_address: '203.0.113.10', helo_name: 'mail.good.example', sender: '', expect: 'DUNNO' },
  { name: 'allowlisted', client_address: '127.0.0.1', helo_name: 'localhost', sender: 'root@localhost', expect: 'DUNNO' },
  { name: 'sasl', client_address: '10.9.8.7', helo_name: 'laptop', sender: 'bob@good.example', extra: { sasl_method: 'PLAIN', sasl_username: 'bob' }, expect: 'DUNNO' },
  { name: 'dynamic', client_address: '203.0.113.22', helo_name: '203-0-113-22.dyn.isp.example', sender: 'bob@good.example', expect: 'WARN robust rdns_generic 203-0-113-22.dyn.isp.example' },
  { name: 'no-ptr', client_address: '203.0.113.20', helo_name: 'nop.good.example', sender: 'alice@good.example', expect: '450 4.7.25 robust rdns_missing 203.0.113.20' },
  { name: 'unconfirmed', client_address: '203.0.113.21', helo_name: 'nop.good.example', sender: 'alice@good.example', expect: '450 4.7.25 robust rdns_unconfirmed 203.0.113.21' },
  { name: 'ptr-elsewhere', client_address: '203.0.113.23', helo_name: 'mail.good.example', sender: 'alice@good.example', expect: '450 4.7.25 robust rdns_unconfirmed 203.0.113.23' },
  { name: 'helo-invalid', client_address: '203.0.113.10', helo_name: 'bad-.good.example', sender: 'alice@good.example', expect: '501 5.5.2 robust helo_invalid bad-.good.example' },
  { name: 'helo-not-fqdn', client_address: '203.0.113.10', helo_name: 'mailserver', sender: 'alice@good.example', expect: '504 5.5.2 robust helo_not_fqdn mailserver' },
  { name: 'helo-unknown', client_address: '203.0.113.10', helo_name: 'nx.good.example', sender: 'alice@good.example', expect: '450 4.7.1 robust helo_unknown nx.good.example' },
  { name: 'private', client_address: '10.1.2.3', helo_name: 'mail.good.example', sender: 'alice@good.example', expect: '550 5.7.1 robust client_private 10.1.2.3' },
  { name: 'sender-nx', client_address: '203.0.113.10', helo_name: 'mail.good.example', sender: 'alice@nx.example', expect: '550 5.1.8 robust sender_domain_unknown nx.example' },
  { name: 'null-mx', client_address: '203.0.113.10', helo_name: 'mail.good.example', sender: 'alice@nullmx.example', expect: '550 5.7.27 robust sender_null_mx nullmx.example' },
  { name: 'forgery', client_address: '203.0.113.31', helo_name: 'mail.evilgoogle.com', sender: 'alice@gmail.com', expect: '550 5.7.1 robust sender_provider_forgery 203.0.113.31 gmail.com' },
];

/**
 * The checks section of the test config: explicit codes and messages (what IDENTITIES expect).
 * Every message starts with the word "robust"; `tag` replaces it (reload tests tell configs apart).
 */
const checksYaml = (tag: string) => `checks:
  helo_invalid: { code: "501 5.5.2", message: "robust helo_invalid {helo_name}" }
  helo_not_fqdn: { code: "504 5.5.2", message: "robust helo_not_fqdn {helo_name}" }
  helo_unknown: { action: defer, code: "450 4.7.1", message: "robust helo_unknown {helo_name}" }
  helo_private: { code: "550 5.7.1", message: "robust helo_private {helo_name}" }
  rdns_missing: { action: defer, code: "450 4.7.25", message: "robust rdns_missing {client_address}" }
  rdns_unconfirmed: { action: defer, code: "450 4.7.25", message: "robust rdns_unconfirmed {client_address}" }
  rdns_generic: { action: warn, message: "robust rdns_generic {ptr}" }
  client_private: { code: "550 5.7.1", message: "robust client_private {client_address}" }
  sender_domain_unknown: { code: "550 5.1.8", message: "robust sender_domain_unknown {sender_domain}" }
  sender_null_mx: { code: "550 5.7.27", message: "robust sender_null_mx {sender_domain}" }
  sender_provider_forgery: { code: "550 5.7.1", message: "robust sender_provider_forgery {client_address} {sender_domain}" }
on_tempfail:
  action: defer_if_permit
  code: "450 4.4.3"
  message: "robust tempfail"
`.replaceAll('robust', tag);

/** What on_tempfail answers in the test config. */
export const TEMPFAIL_ANSWER = 'DEFER_IF_PERMIT 4.4.3 robust tempfail';

export interface ConfigOptions {
  dnsServer: string;
  listen?: string;
  maxConnections?: number;
  /** default info: the test helpers wait for the "started" line */
  logLevel?: string;
  logDestination?: string;
  /** extra YAML for the dns: section (indented by the caller as "  key: value" lines) */
  dnsExtra?: string;
  /** extra top-level YAML (e.g. a server: section) */
  extra?: string;
  /** the word that starts every check message (default "robust"), see expectFor() */
  tag?: string;
  /** extra lines for the server: section ("  key: value") */
  serverExtra?: string;
}

/** What an identity gets when the config was written with this tag. */
export function expectFor(id: TestIdentity, tag = 'robust'): string {
  return id.expect.replace('robust', tag);
}

/** A complete daemon config for the identity mix. */
export function identityConfig(o: ConfigOptions): string {
  return [
    `listen: [${JSON.stringify(o.listen ?? 'inet:127.0.0.1:0')}]`,
    'server:',
    `  max_connections: ${o.maxConnections ?? 2000}`,
    ...(o.serverExtra ? [o.serverExtra] : []),
    'log:',
    `  level: ${o.logLevel ?? 'info'}`,
    `  destination: ${JSON.stringify(o.logDestination ?? 'stdout')}`,
    'dns:',
    `  servers: [${JSON.stringify(o.dnsServer)}]`,
    o.dnsExtra ?? '  timeout: 500ms\n  tries: 2\n  deadline: 2s',
    LAB_IDENTITY_YAML,
    checksYaml(o.tag ?? 'robust'),
    o.extra ?? '',
  ].join('\n');
}

let rcptTemplate: string | null = null;

/** Set (or add) `name=value` lines in a request block; the block keeps its order and blank line. */
export function setAttrs(block: string, attrs: Record<string, string>): string {
  let out = block;
  const missing: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    const re = new RegExp(`^${k}=.*$`, 'm');
    if (re.test(out)) out = out.replace(re, () => `${k}=${v}`);
    else missing.push(`${k}=${v}\n`);
  }
  if (missing.length === 0) return out;
  const end = out.lastIndexOf('\n\n');
  return out.slice(0, end + 1) + missing.join('') + out.slice(end + 1);
}

/** A real Postfix RCPT request (fixture rcpt.txt) carrying this identity. */
export function identityRequest(id: TestIdentity, instance: string, recipient = 'rcpt@example.com'): string {
  rcptTemplate ??= fixture('rcpt.txt');
  return setAttrs(rcptTemplate, {
    client_address: id.client_address,
    client_name: 'unknown',
    reverse_client_name: 'unknown',
    helo_name: id.helo_name,
    sender: id.sender,
    recipient,
    instance,
    sasl_method: '',
    sasl_username: '',
    ...id.extra,
  });
}
