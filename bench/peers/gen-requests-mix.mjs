#!/usr/bin/env node
// gen-requests-mix.mjs - writes requests-mix.txt (beside it): RCPT-stage policy request
// blocks for a mix of good and bad SMTP client identities, in the attribute
// set and order Postfix 3.7.11 sends (SMTPD_POLICY_README; the order of a real
// Postfix 3.7 RCPT request).
// Every name and address here is answered by dnsmasq.conf (beside it) inside
// the benchmark's network namespace; addresses are documentation ranges and
// are only strings in requests and DNS answers.
//
// Usage: node gen-requests-mix.mjs [OUTFILE]   (default: requests-mix.txt beside it)
// Each block is preceded by one '# label' comment line; policyload.mjs uses the
// label for --by-label histograms and never sends comment lines.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = process.argv[2] ?? path.join(HERE, 'requests-mix.txt');

// Identities. kind: good | bad. weight: how many blocks of it in the mix.
// expect: what an identity-judging daemon should conclude (documentation only).
const ids = [
  { label: 'good-fcrdns', kind: 'good', weight: 4, expect: 'DUNNO: PTR=A, HELO=PTR, sender domain MX',
    client_address: '203.0.113.5', client_name: 'mail.example.net', reverse_client_name: 'mail.example.net',
    helo_name: 'mail.example.net', senders: ['alice@example.net', 'billing@example.net', 'no-reply@example.net'] },
  { label: 'good-shop', kind: 'good', weight: 3, expect: 'DUNNO',
    client_address: '203.0.113.20', client_name: 'smtp.shop.example.org', reverse_client_name: 'smtp.shop.example.org',
    helo_name: 'smtp.shop.example.org', senders: ['orders@shop.example.org', 'support@shop.example.org'], tls: true },
  { label: 'good-esp', kind: 'good', weight: 3, expect: 'DUNNO: HELO=PTR, sender domain MX elsewhere (ESP)',
    client_address: '198.51.100.25', client_name: 'out1.mailer.example.com', reverse_client_name: 'out1.mailer.example.com',
    helo_name: 'out1.mailer.example.com', senders: ['news@lists.example.com', 'bounce-4711@lists.example.com'], tls: true },
  { label: 'good-ipv6', kind: 'good', weight: 2, expect: 'DUNNO',
    client_address: '2001:db8:25::10', client_name: 'mail6.example.net', reverse_client_name: 'mail6.example.net',
    helo_name: 'mail6.example.net', senders: ['carol@example.net'], tls: true },
  { label: 'good-bigprovider', kind: 'good', weight: 3, expect: 'DUNNO: gmail.com sender from a google.com host',
    client_address: '203.0.113.41', client_name: 'mail-sor-f41.google.com', reverse_client_name: 'mail-sor-f41.google.com',
    helo_name: 'mail-sor-f41.google.com', senders: ['frank.example@gmail.com', 'grace.example@gmail.com'], tls: true },
  { label: 'good-bounce', kind: 'good', weight: 1, expect: 'DUNNO: null sender (DSN) from a good client',
    client_address: '203.0.113.5', client_name: 'mail.example.net', reverse_client_name: 'mail.example.net',
    helo_name: 'mail.example.net', senders: [''] },
  { label: 'good-sasl', kind: 'good', weight: 2, expect: 'DUNNO: authenticated submission from a dynamic address',
    client_address: '198.51.100.100', client_name: 'dyn-198-51-100-100.dsl.isp.example',
    reverse_client_name: 'dyn-198-51-100-100.dsl.isp.example', helo_name: 'laptop',
    senders: ['erin@example.com'], sasl: { method: 'PLAIN', username: 'erin' }, tls: true, server_port: '587' },
  { label: 'bad-noptr', kind: 'bad', weight: 2, expect: 'REJECT/DEFER: no PTR (client_name=unknown), HELO without a dot',
    client_address: '192.0.2.10', client_name: 'unknown', reverse_client_name: 'unknown',
    helo_name: 'DESKTOP-4F2K9QH', senders: ['ceo@example.com'] },
  { label: 'bad-generic-ptr', kind: 'bad', weight: 2, expect: 'REJECT: generic/dynamic PTR, HELO localhost',
    client_address: '198.51.100.77', client_name: 'dyn-198-51-100-77.dsl.isp.example',
    reverse_client_name: 'dyn-198-51-100-77.dsl.isp.example', helo_name: 'localhost',
    senders: ['x3k9q@example.org'] },
  { label: 'bad-generic-ptr-helo', kind: 'bad', weight: 1, expect: 'REJECT or score: generic PTR used as HELO',
    client_address: '198.51.100.90', client_name: 'dyn-198-51-100-90.dsl.isp.example',
    reverse_client_name: 'dyn-198-51-100-90.dsl.isp.example', helo_name: 'dyn-198-51-100-90.dsl.isp.example',
    senders: ['joe@isp.example'] },
  { label: 'bad-helo-nxdomain', kind: 'bad', weight: 2, expect: 'REJECT: HELO name does not resolve',
    client_address: '203.0.113.66', client_name: 'relay.badhelo.example.net', reverse_client_name: 'relay.badhelo.example.net',
    helo_name: 'mx.nonexistent.example', senders: ['info@badhelo.example.net'] },
  { label: 'bad-sender-nxdomain', kind: 'bad', weight: 2, expect: 'REJECT: sender domain NXDOMAIN',
    client_address: '203.0.113.70', client_name: 'host70.example.org', reverse_client_name: 'host70.example.org',
    helo_name: 'host70.example.org', senders: ['promo@no-such-domain.example'] },
  { label: 'bad-not-fcrdns', kind: 'bad', weight: 1, expect: 'REJECT/DEFER: PTR does not resolve back',
    client_address: '203.0.113.6', client_name: 'unknown', reverse_client_name: 'host6.nofcrdns.example.org',
    helo_name: 'host6.nofcrdns.example.org', senders: ['sales@nofcrdns.example.org'] },
  { label: 'bad-nullmx', kind: 'bad', weight: 1, expect: 'REJECT: sender domain has a null MX (RFC 7505)',
    client_address: '203.0.113.70', client_name: 'host70.example.org', reverse_client_name: 'host70.example.org',
    helo_name: 'host70.example.org', senders: ['noreply@nullmx.example.com'] },
  { label: 'bad-helo-ip', kind: 'bad', weight: 1, expect: 'REJECT: bare IP as HELO, no PTR',
    client_address: '203.0.113.90', client_name: 'unknown', reverse_client_name: 'unknown',
    helo_name: '203.0.113.90', senders: ['admin@example.org'] },
  { label: 'bad-forged-bigprovider', kind: 'bad', weight: 2, expect: 'REJECT: gmail.com sender and HELO from a non-google host',
    client_address: '192.0.2.99', client_name: 'unknown', reverse_client_name: 'unknown',
    helo_name: 'gmail.com', senders: ['security-alert@gmail.com'] },
  { label: 'bad-dnsbl', kind: 'bad', weight: 1, expect: 'identity looks fine; listed in the local test DNSBL',
    client_address: '192.0.2.200', client_name: 'mta.listed.example.org', reverse_client_name: 'mta.listed.example.org',
    helo_name: 'mta.listed.example.org', senders: ['offers@listed.example.org'] },
];

const recipients = ['bob@example.com', 'sales@example.com', 'jane.doe@example.com', 'it-team@example.com', 'postmaster@example.com'];

const ATTRS = ['request', 'protocol_state', 'protocol_name', 'client_address', 'client_name', 'client_port',
  'reverse_client_name', 'server_address', 'server_port', 'helo_name', 'sender', 'recipient', 'recipient_count',
  'queue_id', 'instance', 'size', 'etrn_domain', 'stress', 'sasl_method', 'sasl_username', 'sasl_sender',
  'ccert_subject', 'ccert_issuer', 'ccert_fingerprint', 'ccert_pubkey_fingerprint', 'encryption_protocol',
  'encryption_cipher', 'encryption_keysize', 'policy_context'];

// Deterministic pseudo-random numbers, so the file is reproducible.
let seed = 0x2545f491;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
const hex = (n, w) => n.toString(16).padStart(w, '0');
const QID_CHARS = 'BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789';
const longQueueId = () => { let s = '4'; for (let i = 0; i < 11; i++) s += QID_CHARS[rnd(QID_CHARS.length)]; return s; };

const blocks = [];
let n = 0;
// interleave identities: round r emits every identity whose weight > r
const maxW = Math.max(...ids.map((i) => i.weight));
for (let r = 0; r < maxW; r++) {
  for (const id of ids) {
    if (r >= id.weight) continue;
    const sender = id.senders[r % id.senders.length];
    // second recipient of a message every third block: queue_id set, recipient_count=1
    const second = n % 3 === 2;
    const rcpt = id.label === 'bad-dnsbl' || id.kind === 'good' ? recipients[n % 4] : recipients[(n + r) % 4];
    const v = {
      request: 'smtpd_access_policy', protocol_state: 'RCPT', protocol_name: 'ESMTP',
      client_address: id.client_address, client_name: id.client_name, client_port: String(30000 + rnd(30000)),
      reverse_client_name: id.reverse_client_name, server_address: '192.0.2.25', server_port: id.server_port ?? '25',
      helo_name: id.helo_name, sender, recipient: rcpt, recipient_count: second ? '1' : '0',
      queue_id: second ? longQueueId() : '',
      instance: `${hex(0x4b00 + rnd(0xff), 4)}.${hex(0x6b038700 + rnd(0xffff), 8)}.${hex(rnd(0xfffff), 5)}.0`,
      size: rnd(3) === 0 ? '0' : String(2000 + rnd(200000)), etrn_domain: '', stress: '',
      sasl_method: id.sasl?.method ?? '', sasl_username: id.sasl?.username ?? '', sasl_sender: '',
      ccert_subject: '', ccert_issuer: '', ccert_fingerprint: '', ccert_pubkey_fingerprint: '',
      encryption_protocol: id.tls ? 'TLSv1.3' : '', encryption_cipher: id.tls ? 'TLS_AES_256_GCM_SHA384' : '',
      encryption_keysize: id.tls ? '256' : '0', policy_context: '',
    };
    blocks.push(`# ${id.label} (${id.kind}; expect ${id.expect})\n` + ATTRS.map((a) => `${a}=${v[a]}`).join('\n') + '\n');
    n++;
  }
}

const header = `# requests-mix.txt - generated by bench/peers/gen-requests-mix.mjs; do not edit by hand.
# ${blocks.length} RCPT-stage Postfix 3.7 policy request blocks, separated by empty lines.
# Lines starting with '#' are labels/comments and are never sent. Every name in
# here is answered by bench/peers/dnsmasq.conf in the benchmark namespace.
`;
fs.writeFileSync(OUT, header + '\n' + blocks.join('\n'));
const good = blocks.filter((b) => b.includes('(good;')).length;
console.error(`wrote ${OUT}: ${blocks.length} blocks (${good} good, ${blocks.length - good} bad)`);
