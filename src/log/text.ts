/**
 * text — log.format "text": one logfmt line per event, for admins who read
 * mail.log with grep, like Postfix's own `key=value` lines:
 *
 *   time=2026-12-06T09:00:00.123Z level=info msg=decision instance=4B1C21E0F3.A7d2.1 protocol_state=RCPT client_address=203.0.113.5 ... action=DUNNO us=195
 *
 * Keys are the JSON format's keys, in the same order, after time, level and
 * msg (`name` is left out: syslog and journald tag the line already). A value
 * is written bare when it is only letters, digits and `._:@/+-,<>[]`;
 * otherwise it is double-quoted, with `"` and `\` escaped as `\"` and `\\`,
 * and every character outside printable ASCII (control characters, DEL,
 * non-ASCII, U+2028/2029, bidi controls) written as `\uXXXX`, so a line is
 * printable ASCII and one line, whatever a client sent. Arrays of plain values
 * are joined with commas; other objects are written as quoted JSON.
 *
 * What can go wrong: a line that is not JSON (never, from pino) is passed
 * through unchanged.
 */

const BARE = /^[A-Za-z0-9_.:@/+\-,<>[\]]+$/;
// everything that is not printable ASCII, plus the two characters that need a backslash
const ESCAPE = /[^\x20-\x7e]|["\\]/g;

function escapeChar(c: string): string {
  if (c === '"') return '\\"';
  if (c === '\\') return '\\\\';
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One value in logfmt: bare when safe, otherwise quoted and escaped. */
export function logfmtValue(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  else if (v === null || v === undefined) return '""';
  else if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) s = v.join(',');
  else s = JSON.stringify(v);
  if (BARE.test(s)) return s;
  return `"${s.replace(ESCAPE, escapeChar)}"`;
}

const FIRST = ['time', 'level', 'msg'] as const;

/** Re-encode one pino JSON line (with its "\n") as a logfmt line. */
export function jsonLineToText(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  let out = '';
  for (const k of FIRST) {
    const v = o[k];
    if (v === undefined) continue;
    const text = k === 'time' && typeof v === 'number' ? new Date(v).toISOString() : logfmtValue(v);
    out += out === '' ? `${k}=${text}` : ` ${k}=${text}`;
  }
  for (const k in o) {
    if (k === 'time' || k === 'level' || k === 'msg' || k === 'name') continue;
    out += ` ${BARE.test(k) ? k : logfmtValue(k)}=${logfmtValue(o[k])}`;
  }
  return `${out}\n`;
}
