/**
 * logger — pino, JSON lines, one destination, flushed on shutdown.
 *
 * Destinations: "stdout" (default; journald-friendly), "stderr", or a file
 * path (appended). Writes are asynchronous (pino.destination sync:false) so a
 * slow disk or pipe never stalls the event loop; `flushLogger` must run before
 * exit or the buffered tail is lost (measured: 14 of 1000 lines lost on
 * SIGTERM without it — shared/notes/toolchain.md §3).
 *
 * In --stdio mode (Postfix spawn(8)) stdout is the protocol and spawn connects
 * stderr to the same client, so logs may go to neither: "stdout" becomes
 * stderr only when stderr is not a socket; otherwise logs need a file
 * destination and are dropped (a one-time notice explains why).
 *
 * What can go wrong: an unwritable log file makes createLogger throw; the CLI
 * reports it and exits 78 (config error).
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { fstatSync, openSync, closeSync } from 'node:fs';

export type { Logger };

export interface LoggerOptions {
  level: string;
  destination: string;
  /** protocol on stdin/stdout: never log to stdout */
  stdio?: boolean;
  /** synchronous writes (tests reading the log right away) */
  sync?: boolean;
}

interface Flushable { flush?: (cb?: (err?: Error) => void) => void; flushSync?: () => void }

let lastDest: (DestinationStream & Flushable) | null = null;

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
  const base = { name: 'policyd-identity' };
  if (dest === null) return pino({ level: 'silent', base });
  // maxWrite: sonic-boom writes at most this much per write(2). Its 16 KiB default
  // cannot keep up with ~20k decision lines/s (about 6 MB/s): the unwritten buffer
  // then grows without bound (measured: +100-200 MB in seconds under saturating
  // load). 1 MiB writes drain it at once. maxLength bounds the buffer in the worst
  // case (a stuck disk or pipe): past 32 MiB lines are dropped rather than memory
  // exhausted.
  const stream = pino.destination({
    dest,
    sync: opts.sync ?? false,
    mkdir: false,
    maxWrite: 1 << 20,
    maxLength: 32 << 20,
  }) as DestinationStream & Flushable;
  lastDest = stream;
  return pino(
    {
      level: opts.level,
      base,
      // numeric epoch ms is the cheapest timestamp pino can write; journald adds its own
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
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
