/**
 * sink — where the daemon's log lines go: one Buffer, allocated once, that
 * collects the lines as UTF-8 bytes and is written to the destination's file
 * descriptor with one write(2) once BATCH_BYTES are pending (or at once, for
 * a sink made with batchBytes 0), on flush, and when the process exits (a crash
 * included: see log/logger.ts).
 *
 * Two ways in: `line(text)` for a finished line (pino's lines, the text
 * format, a decision line with a value that needs escaping), and the encoder
 * methods `begin` ... `end` with which server/decision-line.ts writes the
 * common decision line straight into the Buffer, field by field, without
 * building a string. Why: the string line (~25 concatenations), its append to
 * a 12 KiB batch string, and the flatten and UTF-8 copy of that batch in
 * fs.writeSync were ~2.2 µs of a warm request's ~7.4 µs in-process
 * (bench/hotpath.mjs, info against warn); the bytes written are the same
 * (test/log.test.ts compares the two encoders over hostile values).
 *
 * The encoder's fast path takes only what JSON writes as it is: printable
 * ASCII without `"` and `\`, within the value's cut. Anything else makes the
 * value method return false; the caller then gives the line up (`abort`) and
 * writes it as a string through the escaping path instead. A field value can
 * so never be written differently from the string encoder.
 *
 * What can go wrong:
 * - The destination refuses for now (EAGAIN: a non-blocking pipe or socket
 *   that is full): the bytes stay pending and are tried again with the next
 *   batch or the flush timer, never in a sleep loop. While MAX_PENDING bytes
 *   wait, new lines are dropped and counted.
 * - The destination fails (ENOSPC on a full disk, EIO, EPIPE when the reader
 *   went away): the pending lines are dropped and counted; logging never
 *   throws into the request path. Before, a full disk made the decision's
 *   log call throw, which took the daemon down.
 * - Both: once a write succeeds again, `onDropped` is told how many lines
 *   were lost and why (the logger logs PI_LOG_LINES_DROPPED).
 * - A line that arrives after close() (a reload replaced this log, and
 *   something still held the old logger) is dropped and counted: the old
 *   descriptor number may belong to another file by then.
 * - A destination that blocks (a hung network file system; a pipe or socket
 *   nobody reads if it is in blocking mode: log/logger.ts makes stdout's
 *   non-blocking) blocks the write, and the event loop with it: the writes are
 *   synchronous, as they were with sonic-boom (log/logger.ts says why). A local
 *   file does not block for long.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Bytes of log lines collected before one write(2): about 160 decision lines.
 * Why 64 KiB, not the 12 KiB of before: a write(2) to a file costs mostly per
 * call (ext4, loaded machine: 7-9 µs for 12 KiB, 15 µs for 64 KiB), so per
 * 400-byte line 0.23-0.28 µs at 12 KiB against 0.09 µs at 64 KiB; 128 KiB
 * saves little more (0.07-0.08). The lines are still written at least every
 * second (log/logger.ts), at once for a warning, and at exit.
 */
export const BATCH_BYTES = 64 << 10;
/** Bytes held at most while the destination refuses (EAGAIN); lines beyond are dropped and counted. */
export const MAX_PENDING = 256 << 10;
/** Room a line may take in the fast encoder before it is handed to the string path. */
const LINE_ROOM = 16 << 10;
/**
 * What `plain` leaves free of LINE_ROOM for the keys, punctuation and numbers
 * written without a bounds check between two values and after the last (at
 * most ~100 bytes: the decision line's tail).
 */
const TAIL_ROOM = 256;

/** ASCII text as bytes, for LogSink.bytes (made once, at module load). */
export function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0x7f);
}

/** Lines every sink of this process dropped (for the metric policyd_identity_log_lines_dropped_total). */
let droppedInProcess = 0;
export function droppedLinesTotal(): number {
  return droppedInProcess;
}

export interface SinkOptions {
  /** a file descriptor (stdout, stderr) or a path opened for appending */
  dest: number | string;
  /** 0: write every line at once (tests read the log right away) */
  batchBytes: number;
}

export class LogSink {
  /** the path of a file destination (for reopen), null for an fd */
  readonly file: string | null;
  private fd: number;
  private readonly batchBytes: number;
  private readonly buf = Buffer.allocUnsafe(MAX_PENDING);
  /** bytes pending in buf */
  private len = 0;
  /** lines pending in buf (for the dropped count when a write fails) */
  private lines = 0;
  /** start of the line being encoded */
  private start = 0;
  /** lines lost since the last report, and why */
  private lost = 0;
  private lostWhy = '';
  /** told how many lines were lost, once a write succeeds again */
  onDropped: ((lines: number, why: string) => void) | null = null;

  constructor(opts: SinkOptions) {
    this.batchBytes = opts.batchBytes;
    if (typeof opts.dest === 'number') {
      this.fd = opts.dest;
      this.file = null;
    } else {
      this.fd = openSync(opts.dest, 'a');
      this.file = opts.dest;
    }
  }

  /** Lines dropped since the sink was made (never reset). */
  dropped = 0;

  // ---- finished lines ----------------------------------------------------------

  /** Append one finished line (with its "\n"). */
  line(text: string): void {
    const room = this.buf.length - this.len;
    // a UTF-8 byte per UTF-16 unit for ASCII, at most 3 otherwise: byteLength only when it may not fit
    if (text.length * 3 > room && Buffer.byteLength(text, 'utf8') > room) {
      this.write();
      if (Buffer.byteLength(text, 'utf8') > this.buf.length - this.len) {
        this.drop(1, this.len > 0 ? 'the destination does not take lines (full)' : 'a line longer than the log buffer');
        return;
      }
    }
    this.len += this.buf.write(text, this.len, 'utf8');
    this.lines++;
    if (this.len >= this.batchBytes) this.write();
  }

  // ---- the field encoder (server/decision-line.ts) ------------------------------

  /** Start a line; false when the destination refuses and the buffer is full (the line is dropped and counted). */
  begin(): boolean {
    if (this.len + LINE_ROOM > this.buf.length) {
      this.write();
      if (this.len + LINE_ROOM > this.buf.length) {
        this.drop(1, 'the destination does not take lines (full)');
        return false;
      }
    }
    this.start = this.len;
    return true;
  }

  /** ASCII text of our own (keys, punctuation), written as it is. */
  ascii(s: string): void {
    const b = this.buf;
    let p = this.len;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.len = p;
  }

  /**
   * Bytes of our own made once (`asciiBytes`: the decision line's keys and
   * punctuation). Why not `ascii` with a string constant: copying from a byte
   * array is about twice as fast as charCodeAt per character (micro-benchmark,
   * a 20-character key: 34 against 61-76 ns, loaded machine).
   */
  bytes(u: Uint8Array): void {
    const b = this.buf;
    let p = this.len;
    for (let i = 0; i < u.length; i++) b[p++] = u[i]!;
    this.len = p;
  }

  /**
   * A string value's characters (no quotes), when JSON writes them as they are
   * and the value is within its cut (`max`): printable ASCII, no `"`, no `\`.
   * false otherwise (nothing is written; the caller aborts the line). One
   * pass that checks and copies: no regex, no string made.
   */
  plain(s: string, max: number): boolean {
    const n = s.length;
    let p = this.len;
    if (n > max || p + n > this.start + LINE_ROOM - TAIL_ROOM) return false;
    const b = this.buf;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // outside 0x20-0x7e (one unsigned compare), or '"' or '\\'
      if ((c - 0x20) >>> 0 > 0x5e || c === 0x22 || c === 0x5c) return false;
      b[p++] = c;
    }
    this.len = p;
    return true;
  }

  /** A number as JSON writes it (String(n); null when not finite). */
  num(n: number): void {
    // An integer's digits by int32 arithmetic, no string: the common numbers are
    // the epoch-ms time (13 digits: two int32 halves) and `us`. Why: String(n)
    // and its copy, or a loop in doubles, were ~15 % of the encoder's time
    // (micro-benchmark, /dev/null destination).
    if (n >= 0 && Number.isSafeInteger(n)) {
      if (n < 1e9) this.int(n, 0);
      else {
        const hi = Math.floor(n / 1e9);
        this.int(hi, 0);
        this.int(n - hi * 1e9, 9);
      }
    } else this.ascii(Number.isFinite(n) ? String(n) : 'null');
  }

  /** The digits of 0 <= n < 1e9, left-padded with zeros to `width`. */
  private int(n: number, width: number): void {
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    if (digits < width) digits = width;
    const b = this.buf;
    let p = this.len + digits;
    this.len = p;
    for (let i = 0; i < digits; i++) {
      const q = (n / 10) | 0;
      b[--p] = 0x30 + n - q * 10;
      n = q;
    }
  }

  /** Where the next byte goes (the difference of two marks: a value's length, for its cut). */
  mark(): number {
    return this.len;
  }

  /** Give up the line being encoded (a value needs the string path). */
  abort(): void {
    this.len = this.start;
  }

  /** The line is complete (the caller wrote its "\n"). */
  end(): void {
    this.lines++;
    if (this.len >= this.batchBytes) this.write();
  }

  // ---- writing ------------------------------------------------------------------

  /**
   * Write what is pending, without fsync. Not an fsync: it blocked the event
   * loop for ~13 ms (log/logger.ts); a crash loses nothing the kernel has.
   */
  write(): void {
    if (this.closed) {
      if (this.len > 0) this.drop(this.lines, 'the log was closed (a reload changed log:)');
      this.len = 0;
      this.lines = 0;
      return;
    }
    let off = 0;
    while (off < this.len) {
      let n: number;
      try {
        n = writeSync(this.fd, this.buf, off, this.len - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') break; // full for now: keep the rest, try later
        // failed: drop what is pending (a partial line at `off` included; the next write starts a fresh line)
        this.drop(this.lines, `write failed: ${code ?? (e as Error).message}`);
        this.len = 0;
        this.lines = 0;
        return;
      }
      off += n;
    }
    if (off === 0) return;
    if (off < this.len) {
      this.buf.copyWithin(0, off, this.len);
      this.len -= off;
      // a partial write keeps its line count: the count of a dropped remainder is only a report
    } else {
      this.len = 0;
      this.lines = 0;
    }
    if (this.lost > 0 && this.onDropped !== null) {
      const lost = this.lost;
      const why = this.lostWhy;
      this.lost = 0;
      this.onDropped(lost, why);
    }
  }

  /**
   * Reopen a file destination at its path (logrotate moved the file): the
   * pending lines go to the old file first. Throws when the path cannot be
   * opened; the old file then stays in use.
   */
  reopen(): void {
    if (this.file === null || this.closed) return;
    const fd = openSync(this.file, 'a');
    this.write();
    const old = this.fd;
    this.fd = fd;
    try {
      closeSync(old);
    } catch {
      /* already gone: nothing to keep */
    }
  }

  /**
   * Write what is pending and let the destination go: a file's descriptor is
   * closed (an fd the sink was given, stdout or stderr, is not ours to close).
   * Lines that still arrive are dropped and counted, never written to the old
   * descriptor number, which the process may by then have given to another
   * file or socket. Why: a reload that changes `log:` makes a new logger, and
   * each old one kept its file open, its 256 KiB buffer and its timer.
   */
  close(): void {
    if (this.closed) return;
    this.write();
    this.closed = true;
    if (this.file !== null) {
      try {
        closeSync(this.fd);
      } catch {
        /* already gone: nothing to keep */
      }
    }
    this.fd = -1;
  }

  /** closed by close(): nothing more is written */
  private closed = false;

  private drop(lines: number, why: string): void {
    droppedInProcess += lines;
    this.dropped += lines;
    this.lost += lines;
    this.lostWhy = why;
  }
}
