/**
 * request — the typed view of one Postfix policy request.
 *
 * The parser hands over a RawRequest (the attributes Postfix 3.x documents,
 * SMTPD_POLICY_README, in fixed slots; any other name=value pair in a side
 * record); `requestOf` gives it the shape of those attributes, and
 * `toPolicyRequest` does the same for an attribute record (tests, the CLI).
 * Absent attributes read as '' (strings) or 0 (numbers), exactly as Postfix
 * itself reports an unavailable value; `attrs` (every attribute as received)
 * is built on first use.
 *
 * What can go wrong: loading the module throws if the constructor's slot
 * order and ATTRIBUTE_NAMES disagree (a programming error, checked once);
 * otherwise nothing: numbers that are not plain unsigned decimals
 * of at most 15 digits read as 0 (recipient_count is further clamped by the
 * rate limiter to limits.max_recipient_count).
 */

/** Raw attributes as received: a null-prototype record, last value wins. */
export type Attrs = Record<string, string>;

/** Every protocol_state Postfix sends (BDAT is reported as DATA since 3.4). */
export const PROTOCOL_STATES = new Set([
  'CONNECT', 'EHLO', 'HELO', 'XCLIENT', 'STARTTLS', 'MAIL', 'RCPT', 'DATA',
  'END-OF-MESSAGE', 'VRFY', 'ETRN',
]);

export interface PolicyRequest {
  readonly request: string;
  readonly protocol_state: string;
  readonly protocol_name: string;
  readonly helo_name: string;
  readonly queue_id: string;
  readonly sender: string;
  readonly recipient: string;
  readonly recipient_count: number;
  readonly client_address: string;
  readonly client_name: string;
  readonly reverse_client_name: string;
  readonly client_port: string;
  readonly instance: string;
  readonly sasl_method: string;
  readonly sasl_username: string;
  readonly sasl_sender: string;
  readonly size: number;
  readonly ccert_subject: string;
  readonly ccert_issuer: string;
  readonly ccert_fingerprint: string;
  readonly ccert_pubkey_fingerprint: string;
  readonly encryption_protocol: string;
  readonly encryption_cipher: string;
  readonly encryption_keysize: number;
  readonly etrn_domain: string;
  readonly stress: string;
  readonly policy_context: string;
  readonly server_address: string;
  readonly server_port: string;
  readonly compatibility_level: string;
  readonly mail_version: string;
  readonly tls_sni: string;
  /**
   * false when the request carried no helo_name attribute at all, which is not
   * `helo_name=` (Postfix sends that when no HELO/EHLO was given): the same as
   * `attrs.helo_name !== undefined`, without building `attrs`
   */
  readonly has_helo_name: boolean;
  /** every attribute as received, unknown ones included */
  readonly attrs: Attrs;
}

/**
 * Postfix sends these numbers as unsigned decimals (recipient_count, size,
 * encryption_keysize). Anything else (a sign, a fraction, an exponent, hex,
 * more than 15 digits) was not sent by Postfix and reads as 0, so no request
 * can hand a check or a rate limit a negative, fractional or huge count.
 * Why a char loop, not /^\d{1,15}$/: three regex calls per request on the warm
 * path (issue 11 §4); the loop accepts exactly the same strings.
 */
function num(v: string | undefined): number {
  if (v === undefined || v.length === 0 || v.length > 15) return 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return 0;
  }
  return Number(v);
}

/**
 * protocol_state upper-cased. A state as Postfix sends it (upper case) comes
 * back as the constant string of PROTOCOL_STATES: no new string per request,
 * its hash already computed for the Set and Map lookups by state that follow
 * (session, metrics) and `===` against the constants short-circuits. Why:
 * toUpperCase() made a new string per request whose hash each of those
 * lookups then computed (perf of the daemon at 64 connections:
 * FindOrderedHashSetEntry under onDecision and pump, 0.3 % of its samples;
 * issue 11 §4).
 */
function stateName(v: string | undefined): string {
  switch (v) {
    case 'RCPT': return 'RCPT';
    case 'END-OF-MESSAGE': return 'END-OF-MESSAGE';
    case 'DATA': return 'DATA';
    case 'MAIL': return 'MAIL';
    case 'CONNECT': return 'CONNECT';
    case 'EHLO': return 'EHLO';
    case 'HELO': return 'HELO';
    case 'VRFY': return 'VRFY';
    case 'ETRN': return 'ETRN';
    case 'XCLIENT': return 'XCLIENT';
    case 'STARTTLS': return 'STARTTLS';
    default: return (v ?? '').toUpperCase();
  }
}

/**
 * The attributes PolicyRequest names, in its field order. The parser keeps
 * their values in fixed slots (the index here) instead of a record per
 * request (see RawRequest).
 */
export const ATTRIBUTE_NAMES = [
  'request', 'protocol_state', 'protocol_name', 'helo_name', 'queue_id', 'sender', 'recipient',
  'recipient_count', 'client_address', 'client_name', 'reverse_client_name', 'client_port', 'instance',
  'sasl_method', 'sasl_username', 'sasl_sender', 'size', 'ccert_subject', 'ccert_issuer',
  'ccert_fingerprint', 'ccert_pubkey_fingerprint', 'encryption_protocol', 'encryption_cipher',
  'encryption_keysize', 'etrn_domain', 'stress', 'policy_context', 'server_address', 'server_port',
  'compatibility_level', 'mail_version', 'tls_sni',
] as const;

/** Slot of `request` in RawRequest.values (the parser tests it at the end of every request). */
export const REQUEST_SLOT = 0;
const HELO_SLOT = 3;

/**
 * One request as the parser leaves it: `values[i]` is the value of
 * ATTRIBUTE_NAMES[i] (undefined when the request did not carry it), `extra`
 * every other attribute (a null-prototype record; null when there was none).
 * Why not one record of every attribute: a null-prototype object grown to ~30
 * entries per request was 5.3 KB of the warm path's 11.3 KB of allocation and
 * its stores (keys hashed and internalized) ~1 µs of its CPU (issue 11 §4,
 * bench/hotpath.mjs); fixed slots cost one array and the value strings.
 */
export interface RawRequest {
  readonly values: Array<string | undefined>;
  extra: Attrs | null;
}

/** A RawRequest's attributes as one null-prototype record (known ones first). */
export function attrsOf(raw: RawRequest): Attrs {
  const a: Attrs = Object.create(null);
  const v = raw.values;
  for (let i = 0; i < ATTRIBUTE_NAMES.length; i++) if (v[i] !== undefined) a[ATTRIBUTE_NAMES[i]!] = v[i]!;
  if (raw.extra !== null) for (const k in raw.extra) a[k] = raw.extra[k]!;
  return a;
}

/** The RawRequest of an attribute record (the inverse of attrsOf). */
function rawOf(a: Attrs): RawRequest {
  const values = new Array<string | undefined>(ATTRIBUTE_NAMES.length);
  for (let i = 0; i < ATTRIBUTE_NAMES.length; i++) values[i] = a[ATTRIBUTE_NAMES[i]!];
  return { values, extra: null };
}

/**
 * The typed request. A class, so that every request shares one hidden class
 * (cheap property access on the hot path), and `attrs` is built only when
 * read (it is not on the warm path: `has_helo_name` answers the one question
 * the engine asks of it per request).
 */
// The fields are PolicyRequest's (interface merging), written once, there;
// writable here so that the constructor assigns them as `this.x = ...`: V8
// sizes a class's objects by those assignments (all fields in-object; through
// an alias they went to a property array grown in steps, ~1 KB per request).
type Fields = { -readonly [K in Exclude<keyof PolicyRequest, 'attrs'>]: PolicyRequest[K] };
interface Request extends Fields {}
class Request implements PolicyRequest {
  private readonly raw: RawRequest;
  private record: Attrs | null;

  constructor(raw: RawRequest, record: Attrs | null) {
    const v = raw.values;
    // every field in one fixed order: one hidden class for all requests
    this.request = v[0] ?? '';
    this.protocol_state = stateName(v[1]);
    this.protocol_name = v[2] ?? '';
    this.helo_name = v[3] ?? '';
    this.queue_id = v[4] ?? '';
    this.sender = v[5] ?? '';
    this.recipient = v[6] ?? '';
    this.recipient_count = num(v[7]);
    this.client_address = v[8] ?? '';
    this.client_name = v[9] ?? '';
    this.reverse_client_name = v[10] ?? '';
    this.client_port = v[11] ?? '';
    this.instance = v[12] ?? '';
    this.sasl_method = v[13] ?? '';
    this.sasl_username = v[14] ?? '';
    this.sasl_sender = v[15] ?? '';
    this.size = num(v[16]);
    this.ccert_subject = v[17] ?? '';
    this.ccert_issuer = v[18] ?? '';
    this.ccert_fingerprint = v[19] ?? '';
    this.ccert_pubkey_fingerprint = v[20] ?? '';
    this.encryption_protocol = v[21] ?? '';
    this.encryption_cipher = v[22] ?? '';
    this.encryption_keysize = num(v[23]);
    this.etrn_domain = v[24] ?? '';
    this.stress = v[25] ?? '';
    this.policy_context = v[26] ?? '';
    this.server_address = v[27] ?? '';
    this.server_port = v[28] ?? '';
    this.compatibility_level = v[29] ?? '';
    this.mail_version = v[30] ?? '';
    this.tls_sni = v[31] ?? '';
    this.has_helo_name = v[HELO_SLOT] !== undefined;
    this.raw = raw;
    this.record = record;
  }

  get attrs(): Attrs {
    return (this.record ??= attrsOf(this.raw));
  }
}

// The constructor reads the slots by position, ATTRIBUTE_NAMES names them:
// hold the two to one order once, at load. A request whose every slot holds its
// own index must show that index in the field of that name (the numbers too),
// so reordering either list throws here instead of filing values under the
// wrong attribute.
{
  const probe = new Request({ values: ATTRIBUTE_NAMES.map((_, i) => String(i)), extra: null }, null);
  ATTRIBUTE_NAMES.forEach((name, i) => {
    if (String(probe[name]) !== String(i)) throw new Error(`request: slot ${i} is not read as ${name}`);
  });
}

/** The typed request of what the parser left (the server's path). */
export function requestOf(raw: RawRequest): PolicyRequest {
  return new Request(raw, null);
}

/** The typed request of an attribute record (tests, `policyd-identity test`); `attrs` is that record. */
export function toPolicyRequest(a: Attrs): PolicyRequest {
  return new Request(rawOf(a), a);
}

/** Parse a request block in Postfix's own format (tests, `policyd-identity test`). */
export function attrsFromBlock(block: string): Attrs {
  const a: Attrs = Object.create(null);
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    a[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return a;
}
