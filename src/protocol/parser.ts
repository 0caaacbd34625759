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
 *
 * What can go wrong: never throws; every malformed input gets its protocol
 * error code from `feed`, after which the parser takes no more input.
 */
// Buffer from node:buffer, not the global: the global `Buffer` is an accessor
// (a getter call per use; seen as LoadGlobalIC in perf of the daemon's read).
import { Buffer } from 'node:buffer';
import { ATTRIBUTE_NAMES, REQUEST_SLOT, attrsOf, type Attrs, type RawRequest } from './request.js';
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

// Which known attribute (ATTRIBUTE_NAMES index) a line names, found without
// cutting the name out of the line: a table indexed by a hash of the name's
// length, first and last byte, then a byte-by-byte compare with the one
// candidate. Why: slicing each name and storing by it hashed and
// internalized ~30 strings per request (issue 11 §4; see RawRequest).
// The hash is collision-free over ATTRIBUTE_NAMES (checked here at load).
const SLOT_MASK = 63;
const slotHash = (len: number, first: number, last: number): number => (len * 30 + first * 46 + last) & SLOT_MASK;
const SLOT_OF = new Int8Array(SLOT_MASK + 1).fill(-1);
for (let i = 0; i < ATTRIBUTE_NAMES.length; i++) {
  const n = ATTRIBUTE_NAMES[i]!;
  const h = slotHash(n.length, n.charCodeAt(0), n.charCodeAt(n.length - 1));
  if (SLOT_OF[h] !== -1) throw new Error(`parser: attribute slot hash collision: ${n}`);
  SLOT_OF[h] = i;
}
const MAX_NAME = 24; // the longest of ATTRIBUTE_NAMES (ccert_pubkey_fingerprint)

/** The slot of the attribute named by buf[start, end), or -1 for any other name. */
function slotOf(buf: string, start: number, end: number): number {
  const len = end - start;
  if (len > MAX_NAME) return -1;
  const i = SLOT_OF[slotHash(len, buf.charCodeAt(start), buf.charCodeAt(end - 1))]!;
  if (i < 0) return -1;
  const name = ATTRIBUTE_NAMES[i]!;
  if (name.length !== len) return -1;
  for (let k = 0; k < len; k++) if (buf.charCodeAt(start + k) !== name.charCodeAt(k)) return -1;
  return i;
}

const newValues = (): Array<string | undefined> => new Array<string | undefined>(ATTRIBUTE_NAMES.length);

export class PolicyParser {
  private buf = '';
  /** the request being read: known attributes by slot, the rest in `extra` (RawRequest) */
  private values = newValues();
  private extra: Attrs | null = null;
  private nAttrs = 0;
  private reqSize = 0;
  private highBytes = false;
  /** true: `buf` holds complete lines not parsed yet (the caller asked for no more requests) */
  private holding = false;
  private error: ErrorCode | null = null;

  constructor(private readonly limits: ParserLimits = DEFAULT_PARSER_LIMITS) {}

  /** true while a request has started but not ended (for shutdown and idle logic) */
  get partial(): boolean {
    return this.nAttrs > 0 || this.buf.length > 0;
  }

  /** bytes received but not yet parsed (held after a request ended, see `feed`'s `max`) */
  get held(): number {
    return this.holding ? this.buf.length : 0;
  }

  /**
   * `read` with each request as one attribute record (attrsOf): tests and
   * tools; the server reads RawRequests.
   */
  feed(chunk: string, out: Attrs[], max = Infinity): ErrorCode | null {
    const raws: RawRequest[] = [];
    const err = this.read(chunk, raws, max);
    for (let i = 0; i < raws.length; i++) out.push(attrsOf(raws[i]!));
    return err;
  }

  /**
   * Consume a latin1-decoded chunk; push each complete request onto `out`,
   * at most `max` of them: once `max` requests are out, the rest of the input
   * is kept unparsed (`held`) until the next call, which may pass '' to go on.
   * Returns null, or the code of the protocol error that stopped the parser.
   */
  read(chunk: string, out: RawRequest[], max = Infinity): ErrorCode | null {
    if (this.error !== null) return this.error;
    if (max <= 0) {
      // Hold the bytes as they are; `buf` always starts at a line start, so the
      // next call parses them from there.
      if (chunk.length > 0) {
        this.buf += chunk;
        this.holding = true;
      }
      return null;
    }
    if (this.holding) {
      // Go on with what was held, then the new chunk (in arrival order).
      const held = this.buf;
      this.buf = '';
      this.holding = false;
      return this.read(held + chunk, out, max);
    }
    const nul = chunk.indexOf('\0');
    if (nul !== -1) {
      // Requests completed before the NUL are still delivered, as they would be
      // had the NUL arrived in a later chunk: the outcome must not depend on the split.
      const before = nul > 0 ? this.read(chunk.slice(0, nul), out, max) : null;
      if (before !== null) return before;
      if (this.holding) {
        // still deciding earlier requests: the error comes when the parser reaches it
        this.buf += '\0';
        return null;
      }
      return this.fail('PI_PROTO_NUL_BYTE');
    }
    // Only scan for high bytes while the request has none yet: one regex test per chunk.
    // Any byte >= 0x80 in the chunk? A latin1 string's UTF-8 length exceeds its
    // length exactly when it holds one (each such char takes 2 bytes; a char
    // above 0xff, never produced by latin1 decoding, only costs a spurious
    // redecode pass, which re-tests every value). Why not HIGH_BYTE.test: the
    // regex scan cost ~300 ns on a 600-byte request, Buffer.byteLength ~30 ns
    // (issue 11 §4, CPU per warm request).
    if (!this.highBytes && Buffer.byteLength(chunk, 'utf8') !== chunk.length) this.highBytes = true;
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
          const raw: RawRequest = { values: this.values, extra: this.extra };
          if (raw.values[REQUEST_SLOT] !== 'smtpd_access_policy') return this.fail('PI_PROTO_BAD_REQUEST_TYPE');
          if (this.highBytes) redecodeUtf8(raw);
          out.push(raw);
          this.values = newValues();
          this.extra = null;
          this.nAttrs = 0;
          this.reqSize = 0;
          if (--max <= 0 && nl + 1 < buf.length) {
            // Enough for now: keep the rest unparsed (no request objects pile up
            // while the caller decides; its size is what the transport read).
            this.buf = buf.slice(nl + 1);
            this.holding = true;
            return null;
          }
        }
        start = nl + 1;
        continue;
      }
      this.reqSize += lineLen + 1;
      if (this.reqSize > maxRequestSize) return this.fail('PI_PROTO_REQUEST_TOO_LARGE');
      if (++this.nAttrs > maxAttributes) return this.fail('PI_PROTO_TOO_MANY_ATTRS');
      const eq = buf.indexOf('=', start);
      if (eq === -1 || eq >= end || eq === start) return this.fail('PI_PROTO_NO_EQUALS');
      const slot = slotOf(buf, start, eq);
      if (slot >= 0) this.values[slot] = buf.slice(eq + 1, end);
      else (this.extra ??= Object.create(null) as Attrs)[buf.slice(start, eq)] = buf.slice(eq + 1, end);
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
    this.holding = false;
    this.values = newValues();
    this.extra = null;
    return code;
  }
}

const utf8 = (v: string): string => (HIGH_BYTE.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v);

function redecodeUtf8(raw: RawRequest): void {
  const v = raw.values;
  for (let i = 0; i < v.length; i++) if (v[i] !== undefined) v[i] = utf8(v[i]!);
  const a = raw.extra;
  if (a !== null) for (const k in a) a[k] = utf8(a[k]!);
}
