/**
 * cli/worker-messages — what the cluster primary and its workers say to each
 * other over the node:cluster IPC channel (signals go to the primary only).
 *
 *   primary -> worker   STOP      drain and exit
 *                       STATS     write the `stats` log line
 *                       REOPEN    reopen the log file (logrotate)
 *                       CONFIG    { source }: the config to start with
 *                       RELOAD    { source }: the config to switch to
 *   worker -> primary   CONFIG_REQUEST   "which config do I start with?"
 *
 * CONFIG and RELOAD carry the ConfigSource the primary read and validated
 * (text, file name, command-line overrides), never a path: a worker never
 * reads the file itself, so it cannot load a version nobody checked (one
 * edited between the primary's check and the worker's read, or after it, by
 * a worker restarted later). The metrics messages are in metrics/cluster.ts.
 *
 * What can go wrong: a worker whose primary does not answer CONFIG_REQUEST
 * within the timeout gives up (configFromPrimary rejects; serve exits 78 and
 * the primary restarts it). Messages of other shapes are ignored.
 */
import type { ConfigSource } from './config-source.js';

export const STOP = 'policyd:stop';
export const STATS = 'policyd:stats';
export const REOPEN = 'policyd:reopen';
export const CONFIG = 'policyd:config';
export const RELOAD = 'policyd:reload';
export const CONFIG_REQUEST = 'policyd:config-request';

export type PrimaryMessage =
  | { readonly type: typeof STOP | typeof STATS | typeof REOPEN }
  | { readonly type: typeof CONFIG | typeof RELOAD; readonly source: ConfigSource };

export interface WorkerMessage {
  readonly type: typeof CONFIG_REQUEST;
}

const PRIMARY_TYPES: ReadonlySet<string> = new Set([STOP, STATS, REOPEN, CONFIG, RELOAD]);

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  if (typeof m !== 'object' || m === null) return false;
  const type = (m as { type?: unknown }).type;
  if (typeof type !== 'string' || !PRIMARY_TYPES.has(type)) return false;
  if (type !== CONFIG && type !== RELOAD) return true;
  const s = (m as { source?: Partial<ConfigSource> }).source;
  return typeof s === 'object' && s !== null && typeof s.text === 'string' && typeof s.file === 'string' && typeof s.overrides === 'object';
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === CONFIG_REQUEST;
}

/** Worker side: ask the primary for the config to start with. */
export function configFromPrimary(timeoutMs: number): Promise<ConfigSource> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!isPrimaryMessage(m) || m.type !== CONFIG) return;
      done();
      resolve(m.source);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no config from the cluster primary within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    process.send?.({ type: CONFIG_REQUEST } satisfies WorkerMessage);
  });
}
