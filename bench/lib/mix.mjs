// bench/lib/mix.mjs — the request mix the benchmark sends: 17 labelled SMTP
// client identities (good and bad), each turned into RCPT-stage policy
// requests in the attribute set and order Postfix 3.7 sends, plus an endless
// stream of never-seen identities for the cold-cache load runs.
//
// The identities are the same as the peer harness's (bench/peers/
// requests-mix.txt, bench/peers/README.md), so the verdicts can be compared
// side by side; lib/zone.mjs answers every name used here. All
// addresses are documentation ranges and are only strings in requests and in
// DNS answers.
//
// A block is kept as segments around the attributes that change per request
// (instance, client_port), so the load generator builds a request with a few
// string concatenations.
//
// What can go wrong: nothing at run time; a label typo shows up as a missing
// row in the correctness table.

/** kind: good | bad; weight: blocks of this identity per 33-block cycle; expect: what a judge of identity should say. */
export const IDENTITIES = [
  { label: 'good-fcrdns', kind: 'good', weight: 4, expect: 'accept', why: 'PTR = A, HELO = PTR, sender domain has an MX',
    client_address: '203.0.113.5', client_name: 'mail.example.net', helo_name: 'mail.example.net',
    senders: ['alice@example.net', 'billing@example.net', 'no-reply@example.net'] },
  { label: 'good-shop', kind: 'good', weight: 3, expect: 'accept', why: 'FCrDNS, HELO = PTR, own MX',
    client_address: '203.0.113.20', client_name: 'smtp.shop.example.org', helo_name: 'smtp.shop.example.org',
    senders: ['orders@shop.example.org', 'support@shop.example.org'], tls: true },
  { label: 'good-esp', kind: 'good', weight: 3, expect: 'accept', why: 'FCrDNS; the sender domain\'s MX is another host (an ESP)',
    client_address: '198.51.100.25', client_name: 'out1.mailer.example.com', helo_name: 'out1.mailer.example.com',
    senders: ['news@lists.example.com', 'bounce-4711@lists.example.com'], tls: true },
  { label: 'good-ipv6', kind: 'good', weight: 2, expect: 'accept', why: 'IPv6 client with FCrDNS',
    client_address: '2001:db8:25::10', client_name: 'mail6.example.net', helo_name: 'mail6.example.net',
    senders: ['carol@example.net'], tls: true },
  { label: 'good-bigprovider', kind: 'good', weight: 3, expect: 'accept', why: 'gmail.com sender from a google.com host',
    client_address: '203.0.113.41', client_name: 'mail-sor-f41.google.com', helo_name: 'mail-sor-f41.google.com',
    senders: ['frank.example@gmail.com', 'grace.example@gmail.com'], tls: true },
  { label: 'good-bounce', kind: 'good', weight: 1, expect: 'accept', why: 'null sender (a DSN) from a good client',
    client_address: '203.0.113.5', client_name: 'mail.example.net', helo_name: 'mail.example.net', senders: [''] },
  { label: 'good-sasl', kind: 'good', weight: 2, expect: 'accept', why: 'authenticated submission from a dynamic address, HELO "laptop"',
    client_address: '198.51.100.100', client_name: 'dyn-198-51-100-100.dsl.isp.example', helo_name: 'laptop',
    senders: ['erin@example.com'], sasl: 'erin', tls: true, server_port: '587' },
  { label: 'bad-noptr', kind: 'bad', weight: 2, expect: 'refuse', why: 'no PTR, HELO without a dot',
    client_address: '192.0.2.10', client_name: 'unknown', reverse_client_name: 'unknown', helo_name: 'DESKTOP-4F2K9QH',
    senders: ['ceo@example.com'] },
  { label: 'bad-generic-ptr', kind: 'bad', weight: 2, expect: 'refuse', why: 'dynamic-pool PTR, HELO "localhost"',
    client_address: '198.51.100.77', client_name: 'dyn-198-51-100-77.dsl.isp.example', helo_name: 'localhost',
    senders: ['x3k9q@example.org'] },
  { label: 'bad-generic-ptr-helo', kind: 'bad', weight: 1, expect: 'refuse or score', why: 'dynamic-pool PTR used as HELO (FCrDNS passes)',
    client_address: '198.51.100.90', client_name: 'dyn-198-51-100-90.dsl.isp.example', helo_name: 'dyn-198-51-100-90.dsl.isp.example',
    senders: ['joe@isp.example'] },
  { label: 'bad-helo-nxdomain', kind: 'bad', weight: 2, expect: 'refuse', why: 'HELO name does not exist',
    client_address: '203.0.113.66', client_name: 'relay.badhelo.example.net', helo_name: 'mx.nonexistent.example',
    senders: ['info@badhelo.example.net'] },
  { label: 'bad-sender-nxdomain', kind: 'bad', weight: 2, expect: 'refuse', why: 'sender domain does not exist',
    client_address: '203.0.113.70', client_name: 'host70.example.org', helo_name: 'host70.example.org',
    senders: ['promo@no-such-domain.example'] },
  { label: 'bad-not-fcrdns', kind: 'bad', weight: 1, expect: 'refuse', why: 'PTR name has no address (FCrDNS fails)',
    client_address: '203.0.113.6', client_name: 'unknown', reverse_client_name: 'host6.nofcrdns.example.org',
    helo_name: 'host6.nofcrdns.example.org', senders: ['sales@nofcrdns.example.org'] },
  { label: 'bad-nullmx', kind: 'bad', weight: 1, expect: 'refuse', why: 'sender domain has a null MX (RFC 7505)',
    client_address: '203.0.113.70', client_name: 'host70.example.org', helo_name: 'host70.example.org',
    senders: ['noreply@nullmx.example.com'] },
  { label: 'bad-helo-ip', kind: 'bad', weight: 1, expect: 'refuse', why: 'bare IP address as HELO, no PTR',
    client_address: '203.0.113.90', client_name: 'unknown', reverse_client_name: 'unknown', helo_name: '203.0.113.90',
    senders: ['admin@example.org'] },
  { label: 'bad-forged-bigprovider', kind: 'bad', weight: 2, expect: 'refuse', why: 'gmail.com sender and HELO from an address without PTR',
    client_address: '192.0.2.99', client_name: 'unknown', reverse_client_name: 'unknown', helo_name: 'gmail.com',
    senders: ['security-alert@gmail.com'] },
  { label: 'bad-dnsbl', kind: 'bad', weight: 1, expect: 'accept (identity)', why: 'identity is fine; only a DNSBL lists the address',
    client_address: '192.0.2.200', client_name: 'mta.listed.example.org', helo_name: 'mta.listed.example.org',
    senders: ['offers@listed.example.org'] },
];

/** Postfix 3.7's RCPT attribute order (SMTPD_POLICY_README; as in bench/peers/requests-mix.txt). */
const ORDER = ['request', 'protocol_state', 'protocol_name', 'client_address', 'client_name', 'client_port',
  'reverse_client_name', 'server_address', 'server_port', 'helo_name', 'sender', 'recipient', 'recipient_count',
  'queue_id', 'instance', 'size', 'etrn_domain', 'stress', 'sasl_method', 'sasl_username', 'sasl_sender',
  'ccert_subject', 'ccert_issuer', 'ccert_fingerprint', 'ccert_pubkey_fingerprint', 'encryption_protocol',
  'encryption_cipher', 'encryption_keysize', 'policy_context'];
/** attributes rewritten for every request (as if each came from a new SMTP session) */
const VARYING = new Set(['instance', 'client_port']);
const RECIPIENTS = ['bob@example.com', 'sales@example.com', 'jane.doe@example.com', 'postmaster@example.com'];

function attrsOf(id, n, round) {
  const second = n % 3 === 2; // every third block: a second recipient of a message
  return {
    request: 'smtpd_access_policy', protocol_state: 'RCPT', protocol_name: 'ESMTP',
    client_address: id.client_address, client_name: id.client_name, client_port: '',
    reverse_client_name: id.reverse_client_name ?? id.client_name, server_address: '192.0.2.25',
    server_port: id.server_port ?? '25', helo_name: id.helo_name, sender: id.senders[round % id.senders.length],
    recipient: RECIPIENTS[n % RECIPIENTS.length], recipient_count: second ? '1' : '0',
    queue_id: second ? `4Q${(0x5a17 + n * 7919).toString(36).toUpperCase()}` : '', instance: '',
    size: n % 3 === 0 ? '0' : String(1500 + n * 3011), etrn_domain: '', stress: '',
    sasl_method: id.sasl ? 'PLAIN' : '', sasl_username: id.sasl ?? '', sasl_sender: '',
    ccert_subject: '', ccert_issuer: '', ccert_fingerprint: '', ccert_pubkey_fingerprint: '',
    encryption_protocol: id.tls ? 'TLSv1.3' : '', encryption_cipher: id.tls ? 'TLS_AES_256_GCM_SHA384' : '',
    encryption_keysize: id.tls ? '256' : '0', policy_context: '',
  };
}

/** Split name=value lines into constant segments and varying slots. */
export function toTemplate(label, attrs, kind = '', expect = '') {
  const segs = [''];
  const slots = [];
  for (const [name, value] of attrs) {
    if (VARYING.has(name)) {
      segs[segs.length - 1] += `${name}=`;
      slots.push(name);
      segs.push('\n');
    } else segs[segs.length - 1] += `${name}=${value}\n`;
  }
  segs[segs.length - 1] += '\n';
  return { label, kind, expect, segs, slots };
}

/** The request text of a template with this instance and client_port. */
export function fillTemplate(t, instance, port) {
  let s = t.segs[0];
  for (let i = 0; i < t.slots.length; i++) s += (t.slots[i] === 'instance' ? instance : port) + t.segs[i + 1];
  return s;
}

/** The 33-block cycle: identities interleaved, round r emits every identity whose weight > r. */
export function mixTemplates() {
  const out = [];
  const maxW = Math.max(...IDENTITIES.map((i) => i.weight));
  let n = 0;
  for (let round = 0; round < maxW; round++) {
    for (const id of IDENTITIES) {
      if (round >= id.weight) continue;
      const a = attrsOf(id, n++, round);
      out.push(toTemplate(id.label, ORDER.map((k) => [k, a[k]]), id.kind, id.expect));
    }
  }
  return out;
}

/** One template per identity (first sender), for the per-identity probes. */
export function identityTemplates() {
  return IDENTITIES.map((id, i) => {
    const a = attrsOf(id, i * 3, 0); // i*3: never a "second recipient" block
    return toTemplate(id.label, ORDER.map((k) => [k, a[k]]), id.kind, id.expect);
  });
}

/**
 * Read a request file in Postfix's format (blocks separated by empty lines,
 * '# label (...)' before a block) — e.g. the peer bench's requests-mix.txt.
 */
export function fileTemplates(text) {
  const out = [];
  let lines = [];
  let label = '';
  const flush = () => {
    if (lines.length) out.push(toTemplate(label || `block${out.length + 1}`, lines));
    lines = [];
    label = '';
  };
  for (const raw of text.split('\n')) {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (l === '') { flush(); continue; }
    if (l.startsWith('#')) {
      if (!lines.length) label = l.replace(/^#\s*/, '').replace(/\s*\(.*$/, '').trim();
      continue;
    }
    const eq = l.indexOf('=');
    if (eq <= 0) throw new Error(`not a name=value line: ${JSON.stringify(l.slice(0, 80))}`);
    lines.push([l.slice(0, eq), l.slice(eq + 1)]);
  }
  flush();
  return out;
}

// ---- cold identities: every request a client nobody has seen ----------------
// Client 2001:db8:c01d::<n>, its own sender domain <company>.example with an
// MX (mx.<company>.example, AAAA 2001:db8:c01e::<n>) and SPF naming the
// clients' network, and a PTR name such as a company's mail server has:
// <host>.<company>.example (AAAA back to the client), HELO = the PTR name.
// <company> spells n in consonant-vowel syllables ("kobati"): unique per
// identity, a registered domain of its own (as never-seen senders are: one DNS
// zone each, not one shared zone), and nothing in it repeats the client
// address's digits (a name like h1a2b3.cold.example made rdns_generic see a
// per-subscriber id: the bench's fault, not the daemon's). <host> rotates
// through names real outbound servers carry, some with a mail word
// (rdns_generic exempts those) and some without (post, gw, out: the heuristic
// itself must find nothing generic). Every fourth client has no PTR (a bad
// identity that costs fewer lookups). lib/zone.mjs synthesises these answers.
export const COLD_CLIENT_PREFIX = '2001:db8:c01d::';
export const COLD_MX_PREFIX = '2001:db8:c01e::';
export const coldHasPtr = (n) => n % 4 !== 3;
const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';
const SYLLABLES = CONSONANTS.length * VOWELS.length; // 70
/** at least three syllables: n + 70^2 */
const COMPANY_BASE = SYLLABLES * SYLLABLES;
export const COLD_HOSTS = ['mail', 'smtp', 'post', 'mx1', 'out', 'mta', 'gw', 'relay'];

/** The company label of cold identity n (n < 2^32): consonant-vowel syllables, least significant first. */
export function coldCompany(n) {
  let x = n + COMPANY_BASE;
  let s = '';
  while (x > 0) {
    const k = x % SYLLABLES;
    s += CONSONANTS[Math.floor(k / VOWELS.length)] + VOWELS[k % VOWELS.length];
    x = Math.floor(x / SYLLABLES);
  }
  return s;
}
/** n of a company label, or -1 when the label is not one coldCompany() makes. */
export function coldNumber(label) {
  if (label.length < 6 || label.length % 2 !== 0) return -1;
  let x = 0;
  for (let i = label.length - 2; i >= 0; i -= 2) {
    const c = CONSONANTS.indexOf(label[i]);
    const v = VOWELS.indexOf(label[i + 1]);
    if (c < 0 || v < 0) return -1;
    x = x * SYLLABLES + c * VOWELS.length + v;
  }
  const n = x - COMPANY_BASE;
  return n >= 0 && n < 2 ** 32 && coldCompany(n) === label ? n : -1;
}
/** The PTR (and HELO) name of cold identity n. */
export const coldHostName = (n) => `${COLD_HOSTS[(n >>> 2) % COLD_HOSTS.length]}.${coldCompany(n)}.example`;
/** An address of a cold prefix for identity n. */
export const coldAddress = (prefix, n) => prefix + (n >>> 16 ? `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}` : n.toString(16));

/** Request text for cold identity n (n < 2^32), instance/port unique per n. */
export function coldRequest(n) {
  const h = n.toString(16);
  const host = coldHostName(n);
  const a = {
    request: 'smtpd_access_policy', protocol_state: 'RCPT', protocol_name: 'ESMTP',
    client_address: coldAddress(COLD_CLIENT_PREFIX, n),
    client_name: coldHasPtr(n) ? host : 'unknown', client_port: String(1024 + (n % 60000)),
    reverse_client_name: coldHasPtr(n) ? host : 'unknown', server_address: '192.0.2.25', server_port: '25',
    helo_name: host, sender: `u@${coldCompany(n)}.example`, recipient: 'bob@example.com', recipient_count: '0',
    queue_id: '', instance: `c01d.${h}.0`, size: '0', etrn_domain: '', stress: '', sasl_method: '', sasl_username: '',
    sasl_sender: '', ccert_subject: '', ccert_issuer: '', ccert_fingerprint: '', ccert_pubkey_fingerprint: '',
    encryption_protocol: '', encryption_cipher: '', encryption_keysize: '0', policy_context: '',
  };
  let s = '';
  for (const k of ORDER) s += `${k}=${a[k]}\n`;
  return `${s}\n`;
}
