/**
 * logger — pino, JSON lines, one destination, flushed on shutdown.
 *
 * Destinations: "stdout" (default; journald-friendly), "stderr", or a file
 * path (appended). Lines collect in one Buffer (./sink.ts) written with one
 * synchronous write(2) per 64 KiB, every second, at once for a warning or
 * error, by `flushLogger`/`flushNow`, and at process exit (an uncaught
 * exception included; not on SIGKILL or a fatal V8 error).
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
 * A destination that fails (disk full) or refuses (a full non-blocking pipe)
 * loses lines, never the daemon: the sink drops and counts them and, once lines
 * are written again, logs PI_LOG_LINES_DROPPED with the count (droppedLines).
 * stdout as a pipe or socket is made non-blocking (stdoutNonBlocking), so a
 * reader that stops costs lines, not answers. A file that blocks (a hung
 * network file system) blocks the event loop: writes are synchronous (./sink.ts).
 */
import { escapeLogObject, cutLogObject } from './escape.js';
import { pino, type Logger, type DestinationStream } from 'pino';
import { fstatSync } from 'node:fs';
import net from 'node:net';
import { jsonLineToText } from './text.js';
import { LogSink, BATCH_BYTES } from './sink.js';

export { droppedLinesTotal } from './sink.js';
import { ErrorCodes } from '../errors.js';

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

/** The sink of each logger this module made (for reopenLog, lineWriter, droppedLines). */
const sinks = new WeakMap<Logger, LogSink>();

/**
 * Every batched sink made, written once more when the process exits: an
 * uncaught exception ends the process without the lifecycle's flush, and the
 * lines it would lose (up to a second's) are the ones before the crash. One
 * 'exit' listener for all (a reload that changes log: makes a new sink).
 */
const batchedSinks = new Set<LogSink>();
/** The once-a-second write of each batched sink (closeLogger stops it). */
const flushTimers = new WeakMap<LogSink, NodeJS.Timeout>();
let exitHook = false;
function writeAllAtExit(): void {
  for (const sink of batchedSinks) sink.write();
}

/**
 * stdout as the destination, when it is a socket or a pipe (the journal's
 * stream socket under systemd, `| tee`): put it in non-blocking mode, so a
 * reader that stops reading (journald stalled) makes write(2) answer EAGAIN
 * (./sink.ts holds 256 KiB, then drops and counts) instead of holding the event
 * loop, and with it every Postfix request, until the reader comes back. Node
 * has no fcntl; opening a libuv pipe handle on the fd sets O_NONBLOCK (what
 * Node itself does for process.stdout on a pipe). The handle is only kept, never
 * read or written, and does not keep the process alive. Only fd 1: fd 2 is
 * shared with Node's own warnings (process.stderr), whose queued bytes our
 * writes could overtake. Nothing is done when the fd is anything else (a file,
 * a terminal) or the handle cannot be made: writes then stay as they are.
 * Seen under strace: the daemon's fd 1 was already non-blocking before this
 * (Node makes process.stdout once something in the process touches it, and
 * then sonic-boom retried an ever longer pending buffer on every line); here it
 * is done on purpose, so the bound does not hang on that.
 */
const nonBlockingHandles: net.Socket[] = [];
function stdoutNonBlocking(): void {
  try {
    const st = fstatSync(1);
    if (!st.isSocket() && !st.isFIFO()) return;
    const handle = new net.Socket({ fd: 1, readable: false, writable: true });
    handle.on('error', () => {}); // never read or written: nothing of it may end the process
    handle.unref();
    nonBlockingHandles.push(handle);
  } catch {
    /* not a pipe libuv can open: writes stay blocking, as before */
  }
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
  // a path is opened by the sink, here and now: a bad path fails createLogger with a clear error
  else dest = opts.destination;
  // No `name` (or pid/hostname) in every line: journald and syslog tag each line
  // with the program already (SYSLOG_IDENTIFIER), a log file is named for it,
  // and the 26 bytes are a tenth of a decision line (docs/server.md#logging-log).
  const base = null;
  if (dest === null) return pino({ level: 'silent', base });
  // Synchronous writes, batched: lines collect in a Buffer (./sink.ts) that is
  // written with one write(2) per 64 KiB (and on flush, on a timer, on exit).
  // Why not asynchronous writes: sonic-boom's asynchronous writer issued one 16 KiB
  // write per event-loop turn and, under ~20k decisions/s on a busy loop, fell
  // behind without bound (measured: +150 MB in 5 s, 1,000 connections). A 64 KiB
  // write into the page cache or a pipe costs ~15 µs, one per ~160 decision
  // lines, and memory stays bounded by the Buffer (MAX_PENDING).
  // Why not sonic-boom any more: its minLength batching took Buffer.byteLength of
  // the whole pending batch per line (8.5 % of the warm path), its string batch was
  // flattened and copied to UTF-8 per write (~5 %), its EAGAIN answer is a 100 ms
  // sleep of the event loop, repeated until the reader takes the bytes, and a write
  // error (ENOSPC) was thrown into the logging call; ./sink.ts does none of these.
  const batched = opts.sync === undefined;
  if (dest === 1 && nonBlockingHandles.length === 0) stdoutNonBlocking();
  const sink = new LogSink({ dest, batchBytes: batched ? BATCH_BYTES : 0 });
  // Write the pending batch now, without fsync (an fsync blocked the event loop
  // for ~13 ms per call: ./sink.ts).
  const writeBatch = (): void => sink.write();
  // A quiet daemon must not sit on its last lines: write the batch every second.
  if (batched) {
    flushTimers.set(sink, setInterval(writeBatch, 1000).unref());
    batchedSinks.add(sink);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', writeAllAtExit);
    }
  }
  const stream: DestinationStream & { flush(cb?: (err?: Error) => void): void } = {
    write: opts.format === 'text' ? (line: string) => sink.line(jsonLineToText(line)) : (line: string) => sink.line(line),
    flush(cb) {
      sink.write();
      cb?.();
    },
  };
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
    stream,
  );
  // Lines the destination did not take are reported once it takes lines again.
  sink.onDropped = (lines, why) => {
    logger.warn({ code: 'PI_LOG_LINES_DROPPED', lines, why, dropped_total: sink.dropped }, ErrorCodes.PI_LOG_LINES_DROPPED.text);
  };
  sinks.set(logger, sink);
  rawWriters.set(logger, { write: stream.write, escape: opts.format !== 'text', sink: opts.format === 'text' ? null : sink });
  return logger;
}

/** Where a hand-built line goes, and whether its values get escapeLogObject's escaping (json) or only the cut (text, which escapes for itself). */
export interface LineWriter {
  write(line: string): void;
  readonly escape: boolean;
  /** json: the Buffer the line may be encoded into field by field (server/decision-line.ts); null for text */
  readonly sink: LogSink | null;
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
 * go to the old file, every later line to a new file at the configured path.
 * No-op for stdout/stderr. Returns the error when the path cannot be opened;
 * logging then continues to the file open before.
 */
export function reopenLog(log: Logger): Error | null {
  const sink = sinks.get(log);
  if (sink === undefined) return null;
  try {
    sink.reopen();
  } catch (e) {
    return e as Error;
  }
  return null;
}

/** Lines `log` could not write (destination full or failing) since it was made; 0 for a logger not made here. */
export function droppedLines(log: Logger): number {
  return sinks.get(log)?.dropped ?? 0;
}

/**
 * Let a logger made by createLogger go (the one a reload replaced): its
 * pending lines are written, its file closed, its timer stopped, its buffer
 * left to the GC. Lines logged through it afterwards are dropped and counted
 * (./sink.ts close). Any other logger: nothing happens.
 */
export function closeLogger(log: Logger): void {
  const sink = sinks.get(log);
  if (sink === undefined) return;
  sink.close();
  batchedSinks.delete(sink);
  const timer = flushTimers.get(sink);
  if (timer !== undefined) clearInterval(timer);
}

/** Write what `log` has pending, then call cb (synchronous: the sink never waits; cb runs before this returns). */
export function flushLogger(log: Logger, cb: () => void): void {
  sinks.get(log)?.write();
  cb();
}

/**
 * Write the batched lines now (lifecycle lines an admin waits for: started,
 * reloaded, stats). Synchronous; a no-op when nothing is buffered.
 */
export function flushNow(log: Logger): void {
  sinks.get(log)?.write();
}
