/**
 * logger — pino, JSON lines, one destination, flushed on shutdown.
 *
 * Destinations: "stdout" (default; journald-friendly), "stderr", or a file
 * path (appended). Writes are asynchronous (pino.destination sync:false) so a
 * slow disk or pipe never stalls the event loop; `flushLogger` must run before
 * exit or the buffered tail is lost (measured: 14 of 1000 lines lost on
 * SIGTERM without it).
 *
 * In --stdio mode (Postfix spawn(8)) stdout is the protocol and spawn connects
 * stderr to the same client, so logs may go to neither: "stdout" becomes
 * stderr only when stderr is not a socket; otherwise logs need a file
 * destination and are dropped (a one-time notice explains why).
 *
 * log.format "text" writes logfmt (`key=value`, one line per event, values
 * quoted and escaped by ./text.ts) instead of JSON: each JSON line pino makes is
 * re-encoded on its way to the destination (costs a JSON.parse per line, only
 * in text mode). `reopenLog` reopens a file destination (SIGUSR2, after
 * logrotate moved the file).
 *
 * What can go wrong: an unwritable log file makes createLogger throw; the CLI
 * reports it and exits 78 (config error). A reopen that fails keeps writing to
 * the file open before and returns the error (the caller logs PI_LOG_REOPEN_FAILED).
 */
import { escapeLogObject, cutLogObject } from './escape.js';
import { pino, type Logger, type DestinationStream } from 'pino';
import { fstatSync, openSync, closeSync } from 'node:fs';
import { jsonLineToText } from './text.js';

export type { Logger };

export interface LoggerOptions {
  level: string;
  destination: string;
  /** json (default) or text (logfmt key=value lines) */
  format?: 'json' | 'text';
  /** protocol on stdin/stdout: never log to stdout */
  stdio?: boolean;
  /** synchronous writes (tests reading the log right away) */
  sync?: boolean;
}

interface Flushable { flush?: (cb?: (err?: Error) => void) => void; flushSync?: () => void; reopen?: (file?: string) => void }

/** The destination of each logger this module made (for reopenLog). */
const destinations = new WeakMap<Logger, DestinationStream & Flushable>();

/**
 * text format: a stream in front of the real one that turns each JSON line
 * into a logfmt line; flush, flushSync and reopen go through to the real one.
 */
function textStream(inner: DestinationStream & Flushable): DestinationStream & Flushable {
  return {
    write: (line: string) => inner.write(jsonLineToText(line)),
    flush: inner.flush ? (cb?: (err?: Error) => void) => inner.flush!(cb) : undefined,
    flushSync: inner.flushSync ? () => inner.flushSync!() : undefined,
    reopen: inner.reopen ? (file?: string) => inner.reopen!(file) : undefined,
  };
}

let lastDest: (DestinationStream & Flushable) | null = null;

/** Characters of log lines collected before one write(2) (below sonic-boom's 16 KiB maxWrite for the common line). */
const BATCH_CHARS = 12 << 10;

/**
 * Lines collect here and go to `inner` (sonic-boom, minLength 0: one
 * write(2) per call) once BATCH_CHARS are pending; flush, flushSync and
 * reopen write the pending lines first.
 * Why not sonic-boom's own minLength batching: its write() takes
 * Buffer.byteLength of the whole pending batch on every line, which flattens
 * and scans up to 12 KiB per line (measured: 8.5 % of the warm path's CPU,
 * bench/hotpath.mjs --cpu-prof); here a line costs one string append.
 */
function batchStream(inner: DestinationStream & Flushable, chars: number): DestinationStream & Flushable {
  let pending = '';
  const push = (): void => {
    if (pending === '') return;
    const s = pending;
    pending = '';
    inner.write(s);
  };
  return {
    write(line: string) {
      pending = pending === '' ? line : pending + line;
      if (pending.length >= chars) push();
    },
    flush(cb?: (err?: Error) => void) {
      push();
      if (inner.flush) inner.flush(cb);
      else cb?.();
    },
    flushSync() {
      push();
      inner.flushSync?.();
    },
    reopen(file?: string) {
      push();
      inner.reopen?.(file);
    },
    get file() {
      return (inner as { file?: unknown }).file;
    },
  } as DestinationStream & Flushable;
}

function fdIsSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  let dest: string | number | null;
  if (opts.destination === 'stdout') dest = opts.stdio ? (fdIsSocket(2) ? null : 2) : 1;
  else if (opts.destination === 'stderr') dest = opts.stdio && fdIsSocket(2) ? null : 2;
  else {
    // open once here so a bad path fails now, with a clear error, not later in a worker thread
    const fd = openSync(opts.destination, 'a');
    closeSync(fd);
    dest = opts.destination;
  }
  // No `name` (or pid/hostname) in every line: journald and syslog tag each line
  // with the program already (SYSLOG_IDENTIFIER), a log file is named for it,
  // and the 26 bytes are a tenth of a decision line (docs/server.md#logging-log).
  const base = null;
  if (dest === null) return pino({ level: 'silent', base });
  // Synchronous writes, batched: lines collect in a 12 KiB batch (batchStream
  // below) that is written with one write(2) when full (and flushed on exit and
  // on a timer).
  // Why not sync:false: the asynchronous writer issues one 16 KiB write per
  // event-loop turn and, under ~20k decisions/s on a busy loop, fell behind
  // without bound (measured: +150 MB in 5 s, 1,000 connections); a bigger
  // maxWrite made it slower still. A 12 KiB write into the page cache or a pipe
  // costs tens of microseconds, about one per 30 decision lines, and memory stays
  // bounded by the batch.
  const boom = pino.destination({
    dest,
    sync: opts.sync ?? true,
    minLength: 0,
    mkdir: false,
  }) as DestinationStream & Flushable;
  const stream = opts.sync === undefined ? batchStream(boom, BATCH_CHARS) : boom;
  // Write the pending batch now, without fsync. Not flushSync: sonic-boom's
  // flushSync ends with fsync(2), which blocked the event loop for ~13 ms once a
  // second (the timer below) and once per warning — every request waiting on the
  // loop then, i.e. about 1 % of them, took 13 ms longer (measured: node
  // --cpu-prof at 64 connections, fsync 2.3 % of busy time in 14 calls). The
  // daemon never needed the sync: a crash loses nothing the kernel already has.
  const writeBatch = (): void => {
    try {
      stream.flush?.();
    } catch {
      /* not ready yet (first milliseconds): the next call writes it */
    }
  };
  // A quiet daemon must not sit on its last lines: write the batch every second.
  if (opts.sync === undefined) setInterval(writeBatch, 1000).unref();
  lastDest = stream;
  const batched = opts.sync === undefined;
  const out = opts.format === 'text' ? textStream(stream) : stream;
  const logger = pino(
    {
      level: opts.level,
      base,
      // Warnings and errors are written at once, not with the next batch: an admin
      // (or a test) reading the log right after a refused connection sees it.
      hooks: batched
        ? {
            logMethod(args, method, level) {
              method.apply(this, args as Parameters<typeof method>);
              if (level >= 40) writeBatch();
            },
          }
        : {},
      // numeric epoch ms is the cheapest timestamp pino can write; journald adds its own
      timestamp: pino.stdTimeFunctions.epochTime,
      // every value a client controls is cut and escaped before it reaches the line (./escape.ts)
      formatters: { level: (label) => ({ level: label }), log: opts.format === 'text' ? cutLogObject : escapeLogObject },
    },
    out,
  );
  if (typeof dest === 'string') destinations.set(logger, stream);
  rawWriters.set(logger, { write: (line) => out.write(line), escape: opts.format !== 'text' });
  return logger;
}

/** Where a hand-built line goes, and whether its values get escapeLogObject's escaping (json) or only the cut (text, which escapes for itself). */
export interface LineWriter {
  write(line: string): void;
  readonly escape: boolean;
}

/** What each logger this module made writes its lines to (for lineWriter). */
const rawWriters = new WeakMap<Logger, LineWriter>();

/**
 * The destination of a logger made by createLogger, for a caller that builds
 * its own JSON line exactly as pino would (the per-request decision line,
 * server/decision-line.ts): the line goes through the same text re-encoding
 * and batch as pino's; `escape` says which formatter pino would apply. null for any other logger (tests' own pino, a silent
 * one): the caller then logs through pino.
 */
export function lineWriter(log: Logger): LineWriter | null {
  return rawWriters.get(log) ?? null;
}

/**
 * Reopen the log file of `log` (logrotate moved it away): lines buffered so far
 * and every later line go to a new file at the configured path. No-op for
 * stdout/stderr. Returns the error when the path cannot be opened; logging then
 * continues to the file open before.
 */
export function reopenLog(log: Logger): Error | null {
  const d = destinations.get(log);
  if (d?.reopen === undefined) return null;
  // Try the path first: sonic-boom's reopen does not survive a failed open (it
  // emits an 'error' that ends the process, and leaves a stale close of the old
  // fd that fails on the next reopen). Only a path that opens is handed to it.
  const file = (d as { file?: unknown }).file;
  try {
    if (typeof file === 'string') closeSync(openSync(file, 'a'));
  } catch (e) {
    return e as Error;
  }
  d.reopen();
  return null;
}

/** Flush the async destination, then call cb (bounded: cb runs within timeoutMs anyway). */
export function flushLogger(log: Logger, cb: () => void, timeoutMs = 2000): void {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    cb();
  };
  const t = setTimeout(finish, timeoutMs);
  t.unref();
  try {
    log.flush((err) => {
      void err;
      clearTimeout(t);
      finish();
    });
  } catch {
    clearTimeout(t);
    try {
      lastDest?.flushSync?.();
    } catch {
      // not ready yet: nothing buffered worth saving
    }
    finish();
  }
}

/**
 * Write the batched lines now (lifecycle lines an admin waits for: started,
 * reloaded, stats). Synchronous; a no-op when nothing is buffered.
 */
export function flushNow(log: Logger): void {
  try {
    log.flush();
  } catch {
    // destination not ready yet: the batch timer writes it
  }
}
