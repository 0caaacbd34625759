/** memory-log — a pino logger that keeps its JSON lines in memory, for assertions. */
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export interface MemoryLog {
  log: Logger;
  lines: Array<Record<string, unknown>>;
  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined;
}

export function memoryLogger(level = 'info'): MemoryLog {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level, formatters: { level: (label) => ({ level: label }) } }, stream);
  return { log, lines, find: (p) => lines.find(p) };
}
