/**
 * checks/lib/generic-rdns — does a host name look like a dynamic/residential
 * pool name (ISP-generated, one per address) rather than a mail server's name?
 *
 * Only the host part is judged: the labels left of the registered domain
 * (lib/domain.ts), so a provider whose domain happens to contain "dyn" or
 * "cable" is not hit (rspamd#2140), and a name that is just a registered
 * domain ("dns.google") has no host part and is never generic.
 *
 * The host part is cut into tokens at "." "-" "_"; each token is split into
 * runs of letters and runs of digits. Exempt first (a server's name, even
 * with the address in it):
 *   - a mail-service token anywhere: mail, smtp, mx, mta, relay, outbound,
 *     email, mailer (digits around allowed: "mx2", "mail-mail",
 *     "outbound-mail", "smtp-out", "consmr.mail"): Facebook, SendGrid,
 *     Amazon SES, Microsoft, Yahoo outbound names carry octets or counters
 *     (SpamAssassin exempts Facebook and SendGrid by name);
 *   - a static/business token anywhere: static, fixed, fixip (SpamAssassin
 *     __RDNS_STATIC), business, biz (Haraka fcrdns exempts "business"),
 *     dedicated, server, srv, vps, and cmr (Rogers' commercial cable
 *     naming, a recorded SpamAssassin false positive).
 * Then a name is generic when it shows one of (SpamAssassin 20_dynrdns.cf,
 * pymilter dynip.py, haraka-net-utils is_ip_in_str, rspamd hfilter,
 * draft-msullivan-dnsop-generic-naming-schemes):
 *   1. the client's IPv4 octets in the numbers of the host part: all four in
 *      order, reversed, or in any order; the first three or the last three in
 *      order or reversed; the 12 zero-padded digits run together; the 8 hex
 *      digits ("0x3ec6ec81", "pD9E4F89F.dip"); IPv6: the 32 nibbles (either
 *      order) or the groups joined with "-";
 *   2. a pool word as a token, digits around allowed: "dsl", "dyn3",
 *      "pool12", "cust173", "cm89" (POOL_WORDS), or a pool word that starts
 *      a longer token ("dynamic8510023760", "modemcable090");
 *   3. an opaque per-subscriber id: a run of at least 5 digits in a token
 *      ("pcp04024417pcs", "g225174", "yahoobb219173000034", "10231"), or a
 *      token of 6 or more alternating letter/digit runs ("h234n2fls32o895").
 * Not caught (on purpose, too close to server names): geographic schemes
 * with only the last octet ("ky-richmond2a-123.rhmdky.adelphia.net") and
 * short opaque ids ("node-c-8b22", "sp1-c700-131").
 *
 * Cost: one pass over the host part (at most 253 characters) to tokenise,
 * then set look-ups and fixed-size comparisons; no regular expression that
 * can backtrack. Vectors and figures: test/fixtures/rdns/.
 *
 * What can go wrong: heuristics. False positives are possible (a mail server
 * named after its address without a mail word); the check is a warn/score
 * signal by default.
 */
import type { ParsedIp } from '../../net/ip.js';
import { domainParts } from './domain.js';

/** Tokens that mark dynamic, residential or access-network names. */
export const POOL_WORDS: readonly string[] = [
  'dyn', 'dynamic', 'dynip', 'dhcp', 'dsl', 'adsl', 'vdsl', 'xdsl', 'sdsl', 'cable', 'cablemodem', 'modem', 'modemcable',
  'ppp', 'pppoe', 'pptp', 'pool', 'pools', 'dialup', 'dialin', 'dial', 'dip', 'client', 'clients', 'dclient', 'broadband',
  'bredband', 'cpe', 'catv', 'docsis', 'gprs', 'cdma', 'wifi', 'wlan', 'homeuser', 'residential', 'resnet',
  'cust', 'cm', 'cbl', 'hsd', 'user', 'users', 'subscriber',
];

/** Pool words that also count as the start of a longer token ("dynamic8510023760", "modemcable090"). */
const POOL_PREFIXES: readonly string[] = ['dynamic', 'dyn', 'dhcp', 'adsl', 'dsl', 'ppp', 'pool', 'modemcable', 'catv', 'cable', 'docsis', 'cpe', 'dialup'];

/** A mail service's own names (exempt). */
const MAIL_WORDS: ReadonlySet<string> = new Set(['mail', 'smtp', 'mx', 'mta', 'relay', 'outbound', 'email', 'mailer', 'smtpout', 'mailout', 'mxout']);

/** Static or business assignments (exempt). */
const STATIC_WORDS: ReadonlySet<string> = new Set(['static', 'fixed', 'fixip', 'business', 'biz', 'dedicated', 'server', 'srv', 'vps', 'cmr']);

const POOL_SET: ReadonlySet<string> = new Set(POOL_WORDS);

export interface GenericVerdict {
  readonly generic: boolean;
  readonly why: string;
}

/** One token of the host part: its text and its alternating letter/digit runs. */
interface Token {
  readonly text: string;
  /** the letters of the token with digits at its ends removed ("dyn3" -> "dyn", "12pool" -> "pool"), '' when inner digits */
  readonly word: string;
  /** numbers of the token (each run of digits, as a number; runs over 6 digits are -1) */
  readonly numbers: readonly number[];
  /** the longest run of digits */
  readonly longestDigits: number;
  /** count of letter/digit runs */
  readonly runs: number;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);

/** Cut a host part into tokens at "." "-" "_" and describe each (one pass). */
function tokenise(host: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = host.length;
  while (i < n) {
    while (i < n && !isDigit(host.charCodeAt(i)) && !isLetter(host.charCodeAt(i))) i++;
    const start = i;
    const numbers: number[] = [];
    let runs = 0;
    let longest = 0;
    let letters = '';
    let lettersRuns = 0;
    while (i < n && (isDigit(host.charCodeAt(i)) || isLetter(host.charCodeAt(i)))) {
      const digit = isDigit(host.charCodeAt(i));
      const runStart = i;
      while (i < n && isDigit(host.charCodeAt(i)) === digit && (digit || isLetter(host.charCodeAt(i)))) i++;
      runs++;
      if (digit) {
        const len = i - runStart;
        if (len > longest) longest = len;
        numbers.push(len <= 6 ? Number(host.slice(runStart, i)) : -1);
      } else {
        letters = host.slice(runStart, i).toLowerCase();
        lettersRuns++;
      }
    }
    if (i > start) {
      // the word: the only letter run, when digits are only at the ends
      const text = host.slice(start, i).toLowerCase();
      const word = lettersRuns === 1 && runs <= 3 && !(runs === 3 && isLetter(text.charCodeAt(0))) ? letters : '';
      out.push({ text, word, numbers, longestDigits: longest, runs });
    }
  }
  return out;
}

function hasRun(values: readonly number[], seq: readonly number[]): boolean {
  outer: for (let i = 0; i + seq.length <= values.length; i++) {
    for (let j = 0; j < seq.length; j++) if (values[i + j] !== seq[j]) continue outer;
    return true;
  }
  return false;
}

/** All four octets among any four consecutive numbers, in any order. */
function hasPermutation(values: readonly number[], octets: readonly number[]): boolean {
  const want = [...octets].sort((a, b) => a - b);
  for (let i = 0; i + 4 <= values.length; i++) {
    const got = values.slice(i, i + 4).sort((a, b) => a - b);
    if (got.every((v, k) => v === want[k])) return true;
  }
  return false;
}

function ipv4InHost(host: string, tokens: readonly Token[], ip: ParsedIp): string | null {
  const n = Number(ip.value);
  const o = [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const values: number[] = [];
  for (const t of tokens) for (const v of t.numbers) values.push(v);
  const rev = [...o].reverse();
  if (hasRun(values, o)) return `the client's octets ${o.join('-')}`;
  if (hasRun(values, rev)) return `the client's octets reversed ${rev.join('-')}`;
  if (hasPermutation(values, o)) return `the client's four octets ${o.join('-')} in another order`;
  if (hasRun(values, o.slice(1))) return `the client's last octets ${o.slice(1).join('-')}`;
  if (hasRun(values, rev.slice(0, 3))) return `the client's last octets reversed ${rev.slice(0, 3).join('-')}`;
  if (hasRun(values, o.slice(0, 3))) return `the client's first octets ${o.slice(0, 3).join('-')}`;
  const pad = o.map((x) => String(x).padStart(3, '0'));
  const padded = pad.join('');
  const paddedRev = [...pad].reverse().join('');
  const lower = host.toLowerCase();
  if (lower.includes(padded) || lower.includes(paddedRev)) return `the client's address as digits ${padded}`;
  const hex = n.toString(16).padStart(8, '0');
  if (lower.includes(hex)) return `the client's address in hex ${hex}`;
  return null;
}

function ipv6InHost(host: string, ip: ParsedIp): string | null {
  const nibbles = ip.value.toString(16).padStart(32, '0');
  const lower = host.toLowerCase();
  let flat = '';
  for (let i = 0; i < lower.length; i++) {
    const c = lower[i]!;
    if (c !== '.' && c !== '-' && c !== '_') flat += c;
  }
  if (flat.includes(nibbles) || flat.includes([...nibbles].reverse().join(''))) return `the client's address nibbles`;
  if (lower.includes(ip.text.replace(/:/g, '-'))) return `the client's address ${ip.text}`;
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).replace(/^0+(?=.)/, ''));
  if (lower.includes(groups.join('-'))) return `the client's address ${ip.text}`;
  return null;
}

/** A pool word the token is, or starts with; null when none. */
function poolWord(t: Token): string | null {
  if (t.word !== '' && POOL_SET.has(t.word)) return t.word;
  if (t.longestDigits > 0 || t.text.length > 4) {
    for (const p of POOL_PREFIXES) if (t.text.length > p.length && t.text.startsWith(p)) return p;
  }
  return null;
}

/** Judge a (forward-confirmed) host name against the client address it belongs to. */
export function judgeGenericName(name: string, client: ParsedIp): GenericVerdict {
  const { host, registered } = domainParts(name);
  if (host === '') return { generic: false, why: `${name} has no host part left of ${registered}` };
  const tokens = tokenise(host);
  for (const t of tokens) {
    const w = t.word !== '' ? t.word : t.text;
    if (MAIL_WORDS.has(w)) return { generic: false, why: `host part "${host}" has "${t.text}" (a mail server name)` };
    if (STATIC_WORDS.has(w)) return { generic: false, why: `host part "${host}" says "${t.text}" (a static or business assignment)` };
  }
  const inName = client.family === 4 ? ipv4InHost(host, tokens, client) : ipv6InHost(host, client);
  if (inName !== null) return { generic: true, why: `host part "${host}" contains ${inName}` };
  for (const t of tokens) {
    const p = poolWord(t);
    if (p !== null) return { generic: true, why: `host part "${host}" has the dynamic-pool word "${t.text}"` };
  }
  for (const t of tokens) {
    if (t.longestDigits >= 5) return { generic: true, why: `host part "${host}" has a per-subscriber number "${t.text}"` };
    if (t.runs >= 6) return { generic: true, why: `host part "${host}" has a per-subscriber id "${t.text}"` };
  }
  return { generic: false, why: `host part "${host}" has neither the client's address nor a dynamic-pool word` };
}
