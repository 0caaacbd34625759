/**
 * request — the typed view of one Postfix policy request.
 *
 * The parser hands over a raw attribute record (every name=value pair Postfix
 * sent, unknown ones included); `toPolicyRequest` gives it the shape of the
 * attributes Postfix 3.x documents (SMTPD_POLICY_README). Absent attributes
 * read as '' (strings) or 0 (numbers), exactly as Postfix itself reports an
 * unavailable value.
 *
 * What can go wrong: nothing; numbers that are not plain unsigned decimals
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
  /** every attribute as received, unknown ones included */
  readonly attrs: Attrs;
}

/**
 * Postfix sends these numbers as unsigned decimals (recipient_count, size,
 * encryption_keysize). Anything else (a sign, a fraction, an exponent, hex,
 * more than 15 digits) was not sent by Postfix and reads as 0, so no request
 * can hand a check or a rate limit a negative, fractional or huge count.
 */
const UNSIGNED = /^\d{1,15}$/;

function num(v: string | undefined): number {
  if (v === undefined || !UNSIGNED.test(v)) return 0;
  return Number(v);
}

/**
 * Build the typed request. One object literal with a fixed key order, so every
 * request shares one hidden class (cheap property access on the hot path).
 */
export function toPolicyRequest(a: Attrs): PolicyRequest {
  return {
    request: a.request ?? '',
    protocol_state: (a.protocol_state ?? '').toUpperCase(),
    protocol_name: a.protocol_name ?? '',
    helo_name: a.helo_name ?? '',
    queue_id: a.queue_id ?? '',
    sender: a.sender ?? '',
    recipient: a.recipient ?? '',
    recipient_count: num(a.recipient_count),
    client_address: a.client_address ?? '',
    client_name: a.client_name ?? '',
    reverse_client_name: a.reverse_client_name ?? '',
    client_port: a.client_port ?? '',
    instance: a.instance ?? '',
    sasl_method: a.sasl_method ?? '',
    sasl_username: a.sasl_username ?? '',
    sasl_sender: a.sasl_sender ?? '',
    size: num(a.size),
    ccert_subject: a.ccert_subject ?? '',
    ccert_issuer: a.ccert_issuer ?? '',
    ccert_fingerprint: a.ccert_fingerprint ?? '',
    ccert_pubkey_fingerprint: a.ccert_pubkey_fingerprint ?? '',
    encryption_protocol: a.encryption_protocol ?? '',
    encryption_cipher: a.encryption_cipher ?? '',
    encryption_keysize: num(a.encryption_keysize),
    etrn_domain: a.etrn_domain ?? '',
    stress: a.stress ?? '',
    policy_context: a.policy_context ?? '',
    server_address: a.server_address ?? '',
    server_port: a.server_port ?? '',
    compatibility_level: a.compatibility_level ?? '',
    mail_version: a.mail_version ?? '',
    tls_sni: a.tls_sni ?? '',
    attrs: a,
  };
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
