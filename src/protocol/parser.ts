/**
 * parser — streaming reader of the Postfix policy delegation protocol.
 *
 * Grammar (Postfix attr_scan_plain(3), SMTPD_POLICY_README):
 *
 *     request   := attr-line* LF
 *     attr-line := attr-name "=" attr-value LF        (split on the FIRST "=")
 *     attr-name := 1*(any byte but "=", NUL, LF)
 *     attr-value:= *(any byte but NUL, LF)
 *
 * Bytes may arrive in any split: one byte at a time or many requests in one
 * chunk. A trailing CR before LF is dropped (tolerance for hand-typed tests).
 * Unknown attributes are kept; a repeated name keeps the last value.
 * Blank lines between requests (no attribute seen yet) are ignored.
 *
 * Limits (all from config `server.*`): max_line_length (bytes, checked before
 * the LF arrives, so memory stays bounded), max_attributes (lines per request),
 * max_request_size (bytes per request). A violation, a line without "=", an
 * empty name, a NUL byte, or a finished request whose `request=` is not
 * `smtpd_access_policy` is a protocol error: `feed` returns its code and the
 * parser refuses further input. The caller sends no reply and closes the
 * connection (SMTPD_POLICY_README: "the server must not send a reply ... log a
 * warning and disconnect"; Postfix retries).
 *
 * Why latin1: the socket's bytes are decoded as latin1 so that string length
 * equals byte length (limits are byte-exact) and no chunk split can cut a
 * multi-byte character. Values with bytes >= 0x80 are re-decoded as UTF-8 once
 * the request is complete (invalid sequences become U+FFFD), and only then, so
 * the ASCII-only common case costs nothing.
 */
import type { Attrs } from './request.js';
import type { ErrorCode } from '../errors.js';

export interface ParserLimits {
  maxLineLength: number;
  maxAttributes: number;
  maxRequestSize: number;
}

export const DEFAULT_PARSER_LIMITS: ParserLimits = {
  maxLineLength: 8192,
  maxAttributes: 256,
  maxRequestSize: 65536,
};

const HIGH_BYTE = /[\x80-\xff]/;

export class PolicyParser {
  private buf = '';
  private attrs: Attrs = Object.create(null);
  private nAttrs = 0;
  private reqSize = 0;
  private highBytes = false;
  private error: ErrorCode | null = null;

  constructor(private readonly limits: ParserLimits = DEFAULT_PARSER_LIMITS) {}

  /** true while a request has started but not ended (for shutdown and idle logic) */
  get partial(): boolean {
    return this.nAttrs > 0 || this.buf.length > 0;
  }

  /**
   * Consume a latin1-decoded chunk; push each complete request onto `out`.
   * Returns null, or the code of the protocol error that stopped the parser.
   */
  feed(chunk: string, out: Attrs[]): ErrorCode | null {
    if (this.error !== null) return this.error;
    const nul = chunk.indexOf('\0');
    if (nul !== -1) {
      // Requests completed before the NUL are still delivered, as they would be
      // had the NUL arrived in a later chunk: the outcome must not depend on the split.
      const before = nul > 0 ? this.feed(chunk.slice(0, nul), out) : null;
      return before ?? this.fail('PI_PROTO_NUL_BYTE');
    }
    // Only scan for high bytes while the request has none yet: one regex test per chunk.
    if (!this.highBytes && HIGH_BYTE.test(chunk)) this.highBytes = true;
    const buf = this.buf.length === 0 ? chunk : this.buf + chunk;
    const { maxLineLength, maxAttributes, maxRequestSize } = this.limits;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl === -1) break;
      let end = nl;
      if (end > start && buf.charCodeAt(end - 1) === 13) end--; // tolerate CRLF
      const lineLen = nl - start;
      if (lineLen > maxLineLength) return this.fail('PI_PROTO_LINE_TOO_LONG');
      if (end === start) {
        // empty line: end of request (or a stray blank line between requests)
        if (this.nAttrs > 0) {
          const a = this.attrs;
          if (a.request !== 'smtpd_access_policy') return this.fail('PI_PROTO_BAD_REQUEST_TYPE');
          if (this.highBytes) redecodeUtf8(a);
          out.push(a);
          this.attrs = Object.create(null);
          this.nAttrs = 0;
          this.reqSize = 0;
        }
        start = nl + 1;
        continue;
      }
      this.reqSize += lineLen + 1;
      if (this.reqSize > maxRequestSize) return this.fail('PI_PROTO_REQUEST_TOO_LARGE');
      if (++this.nAttrs > maxAttributes) return this.fail('PI_PROTO_TOO_MANY_ATTRS');
      const eq = buf.indexOf('=', start);
      if (eq === -1 || eq >= end || eq === start) return this.fail('PI_PROTO_NO_EQUALS');
      this.attrs[buf.slice(start, eq)] = buf.slice(eq + 1, end);
      start = nl + 1;
    }
    this.buf = start === 0 ? buf : buf.slice(start);
    // No LF yet: bound the memory a single unterminated line can take.
    if (this.buf.length > maxLineLength + 1) return this.fail('PI_PROTO_LINE_TOO_LONG');
    if (this.reqSize + this.buf.length > maxRequestSize + 1) return this.fail('PI_PROTO_REQUEST_TOO_LARGE');
    // The flag stays set while any unfinished input may hold high bytes; values
    // are re-tested one by one, so a stale flag costs a regex test, never a wrong value.
    if (this.nAttrs === 0 && this.buf.length === 0) this.highBytes = false;
    return null;
  }

  private fail(code: ErrorCode): ErrorCode {
    this.error = code;
    this.buf = '';
    this.attrs = Object.create(null);
    return code;
  }
}

function redecodeUtf8(a: Attrs): void {
  for (const k in a) {
    const v = a[k]!;
    if (HIGH_BYTE.test(v)) a[k] = Buffer.from(v, 'latin1').toString('utf8');
  }
}
