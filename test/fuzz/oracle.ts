/**
 * oracle — a deliberately simple, non-streaming model of the policy protocol
 * grammar, written independently of src/protocol/parser.ts, for differential
 * fuzzing: whatever way a byte stream is split, the streaming parser must
 * produce exactly the requests this model finds, and fail exactly when it
 * fails.
 *
 * Input: the whole stream as a latin1 string (one char = one byte). Rules
 * (SMTPD_POLICY_README, issue 3):
 *   - everything after the first NUL byte is never looked at; the NUL is an error;
 *   - a line is the bytes before an LF; one CR before the LF is dropped;
 *   - an empty line ends a request (ignored when no attribute was seen);
 *   - a complete line longer than maxLineLength bytes (CR included) is an error;
 *   - every attribute line adds its length + 1 to the request size, which must
 *     stay <= maxRequestSize, and counts against maxAttributes;
 *   - a line without "=" or with an empty name is an error; split on the first "=";
 *   - a finished request whose `request` is not smtpd_access_policy is an error;
 *   - last value wins; values with bytes >= 0x80 are decoded as UTF-8.
 *   - the unterminated tail is an error only when it can no longer become a
 *     legal line (longer than maxLineLength + 1, the +1 leaving room for a CR)
 *     or a legal request (size so far + tail > maxRequestSize + 1).
 * Only whether an error happens is modelled, not which code: when a request
 * breaks two limits at once, which one trips first depends on the split.
 */
import type { ParserLimits } from '../../src/protocol/parser.js';

export interface OracleResult {
  requests: Array<Record<string, string>>;
  /** the stream contains a protocol error (the connection must be closed) */
  error: boolean;
  /** bytes of the stream up to and including the blank line of the last good request */
  consumed: number;
}

export function oracleParse(stream: string, limits: ParserLimits): OracleResult {
  const requests: Array<Record<string, string>> = [];
  const nul = stream.indexOf('\0');
  const text = nul === -1 ? stream : stream.slice(0, nul);
  // null prototype, as in the parser: "__proto__" or "constructor" are ordinary names
  let attrs: Record<string, string> = Object.create(null);
  let nAttrs = 0;
  let size = 0;
  let pos = 0;
  let consumed = 0;
  const fail = (): OracleResult => ({ requests, error: true, consumed });
  for (;;) {
    const nl = text.indexOf('\n', pos);
    if (nl === -1) break;
    const raw = text.slice(pos, nl);
    pos = nl + 1;
    if (raw.length > limits.maxLineLength) return fail();
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      if (nAttrs === 0) continue;
      if (attrs.request !== 'smtpd_access_policy') return fail();
      const done: Record<string, string> = Object.create(null);
      for (const [k, v] of Object.entries(attrs)) done[k] = /[\x80-\xff]/.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v;
      requests.push(done);
      attrs = Object.create(null);
      nAttrs = 0;
      size = 0;
      consumed = pos;
      continue;
    }
    size += raw.length + 1;
    nAttrs++;
    if (size > limits.maxRequestSize) return fail();
    if (nAttrs > limits.maxAttributes) return fail();
    const eq = line.indexOf('=');
    if (eq <= 0) return fail();
    attrs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  if (nul !== -1) return fail();
  const tail = text.length - pos;
  if (tail > limits.maxLineLength + 1 || size + tail > limits.maxRequestSize + 1) return fail();
  return { requests, error: false, consumed };
}
