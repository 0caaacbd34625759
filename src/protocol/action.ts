/**
 * action — the Postfix actions this daemon can answer, and their safe encoding.
 *
 * `encodeAction` is the only place that writes `action=...`. It guarantees
 * what Postfix's check_table_result() needs to never mistake an answer for OK
 * (PF src/smtpd/smtpd_check.c; SMTPD_POLICY_README):
 *  - never an empty action (Postfix: "has empty value" -> permit);
 *  - never a bare numeric code (`action=450` is all digits -> OK): a 4xx/5xx
 *    reply always carries text, "Access denied" when none is given;
 *  - never `OK` unless the caller passes allowOk (config `allow.action: ok`);
 *  - never a control character (CR/LF would end the reply early or smuggle a
 *    second attribute), never a non-ASCII byte (Postfix refuses malformed
 *    UTF-8, and SMTP replies are ASCII), never more than MAX_TEXT characters.
 * A PREPEND whose text is not `Header-Name: value` is dropped to DUNNO.
 *
 * What can go wrong: an unsafe action is replaced by DUNNO and reported to the
 * caller through `onUnsafe` (logged as PI_PROTO_UNSAFE_ACTION).
 */

export type ActionVerb =
  | 'DUNNO' | 'OK' | 'REJECT' | 'DEFER' | 'DEFER_IF_PERMIT' | 'DEFER_IF_REJECT'
  | 'DISCARD' | 'HOLD' | 'WARN' | 'INFO' | 'PREPEND' | 'REPLY';

export interface PolicyAction {
  /** REPLY means "answer with `code` and text" (4xx/5xx; 421/521 also disconnect) */
  readonly verb: ActionVerb;
  /** for REPLY: "550" or "550 5.7.1" */
  readonly code?: string;
  readonly text?: string;
}

export const DUNNO: PolicyAction = Object.freeze({ verb: 'DUNNO' });

/** SMTP replies are at most 512 octets a line; leave room for Postfix's prefix. */
export const MAX_TEXT = 400;

const CONTROL_OR_HIGH = /[^\x20-\x7e]/g;
const REPLY_CODE = /^([45])\d\d(?: ([245])\.(\d{1,3})\.(\d{1,3}))?$/;
const HEADER = /^[\x21-\x39\x3b-\x7e]+:[ \t]*\S/;

// Text that sanitizeText would return unchanged: a char outside printable ASCII,
// two spaces in a row, or a space at either end is what the slow path changes
// (for printable ASCII, trim() removes only spaces).
const NOT_TIDY = /[^\x20-\x7e]| {2}|^ | $/;

/** Make text safe for one SMTP reply line: printable ASCII, single spaces, bounded. */
export function sanitizeText(text: string): string {
  // Fast path: text that is already one tidy line comes back as it is, after one
  // regex test. Why: a refused request's reply text is sanitized twice (the message
  // template, then the encoder), each time two global replaces and a trim; perf of
  // the daemon at 64 connections showed those two regexps at ~0.45 % of its samples
  // (issue 11 §4). test/protocol.test.ts holds it to the slow path on hostile text.
  if (text.length <= MAX_TEXT && !NOT_TIDY.test(text)) return text;
  let t = text.replace(CONTROL_OR_HIGH, ' ').replace(/ {2,}/g, ' ').trim();
  if (t.length > MAX_TEXT) t = t.slice(0, MAX_TEXT).trimEnd();
  return t;
}

/**
 * Normalise a reply code: "550 5.7.1" stays, a DSN whose class digit does not
 * match the reply class is fixed like Postfix's smtpd_dsn_fix does
 * ("450 5.7.1" -> "450 4.7.1"). Returns null for anything that is not a 4xx/5xx code.
 */
export function normalizeReplyCode(code: string): string | null {
  const m = REPLY_CODE.exec(code.trim());
  if (!m) return null;
  const reply = code.trim().slice(0, 3);
  if (m[2] === undefined) return reply;
  return `${reply} ${m[1]}.${m[3]}.${m[4]}`;
}

export interface EncodeOptions {
  allowOk?: boolean;
  onUnsafe?: (why: string) => void;
}

const DUNNO_LINE = 'action=DUNNO\n\n';

/** Encode one answer: `action=<value>\n\n`. Never throws. */
export function encodeAction(a: PolicyAction, opts: EncodeOptions = {}): string {
  // Fast path: most answers are DUNNO; a constant string, no allocation.
  if (a.verb === 'DUNNO') return DUNNO_LINE;
  const text = a.text === undefined ? '' : sanitizeText(a.text);
  switch (a.verb) {
    case 'OK':
      if (opts.allowOk) return 'action=OK\n\n';
      opts.onUnsafe?.('OK is not allowed by config (allow.action)');
      return DUNNO_LINE;
    case 'REPLY': {
      const code = a.code === undefined ? null : normalizeReplyCode(a.code);
      if (code === null) {
        opts.onUnsafe?.(`not a 4xx/5xx reply code: ${JSON.stringify(a.code)}`);
        return DUNNO_LINE;
      }
      return `action=${code} ${text === '' ? 'Access denied' : text}\n\n`;
    }
    case 'PREPEND':
      if (!HEADER.test(text)) {
        opts.onUnsafe?.(`PREPEND text is not a header: ${JSON.stringify(text)}`);
        return DUNNO_LINE;
      }
      return `action=PREPEND ${text}\n\n`;
    case 'REJECT': case 'DEFER': case 'DEFER_IF_PERMIT': case 'DEFER_IF_REJECT':
    case 'DISCARD': case 'HOLD': case 'WARN': case 'INFO':
      return text === '' ? `action=${a.verb}\n\n` : `action=${a.verb} ${text}\n\n`;
    default:
      opts.onUnsafe?.(`unknown verb ${JSON.stringify((a as PolicyAction).verb)}`);
      return DUNNO_LINE;
  }
}

/** The action value without `action=` and the blank line (for logs and the CLI). */
export function actionText(a: PolicyAction, opts: EncodeOptions = {}): string {
  const line = encodeAction(a, opts);
  return line.slice(7, line.length - 2);
}
