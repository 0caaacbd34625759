/**
 * cli/lifecycle — one serving process from start to exit: the runtime, the
 * daemon, the metrics endpoint, and what signals and primary messages do.
 *
 *   SIGTERM/SIGINT, STOP   drain (bounded by server.shutdown_timeout), flush
 *                          the log, exit 0
 *   SIGHUP                 single process: read and check the file again
 *                          (a worker ignores it, with a warning: the primary reloads)
 *   RELOAD { source }      worker: switch to the config the primary checked
 *                          a valid config takes effect for new requests without
 *                          dropping connections; an invalid one is logged with
 *                          check-config's file:line:col lines and the old one
 *                          keeps serving (both counted in
 *                          policyd_identity_config_reloads_total)
 *   SIGUSR1, STATS         one `stats` log line
 *   SIGUSR2, REOPEN        reopen a log file (logrotate)
 *
 * Metrics (metrics.listen): a single process serves its own endpoint; a
 * worker answers the primary's scrapes (metrics/cluster.ts); --stdio has none.
 *
 * What can go wrong: a listen failure returns 1 (PI_SERVER_LISTEN_FAILED,
 * logged and on stderr); a metrics port that cannot be opened is logged
 * (PI_METRICS_LISTEN_FAILED) and Postfix is served without it; a reload that
 * fails while building the new runtime keeps the old one
 * (PI_CONFIG_RELOAD_FAILED); a log file that cannot be reopened is logged
 * (PI_LOG_REOPEN_FAILED) and logging goes on into the old file.
 */
import cluster from 'node:cluster';
import { version } from './version.js';
import { loadSource } from './config-source.js';
import { isPrimaryMessage, RELOAD, REOPEN, STATS, STOP } from './worker-messages.js';
import { formatConfigError, type LoadResult } from '../config/load.js';
import { secretWarnings, secretWarningText } from '../config/secrets.js';
import { closeLogger, createLogger, droppedLinesTotal, flushLogger, flushNow, reopenLog, type Logger } from '../log/logger.js';
import { startDaemon, type Daemon } from '../server/daemon.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { PolicydError } from '../errors.js';
import { Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer, type Exposition } from '../metrics/http.js';
import { answerPrimary } from '../metrics/cluster.js';
import type { Config } from '../config/types.js';

export interface LifecycleOptions {
  /** Postfix spawn(8): one conversation on stdin/stdout */
  readonly stdio: boolean;
  /** single process: read and check the config again (SIGHUP); null in a worker, which gets RELOAD from its primary */
  readonly reread: (() => LoadResult) | null;
}

/** createRuntime with the metrics hooks: check results per finding, the resolver's counters. */
async function buildRuntime(config: Config, log: Logger, metrics: Metrics): Promise<Runtime> {
  const rt = await createRuntime(config, log, { onFinding: metrics.observeFinding });
  // read at scrape time; after a reload the old runtime's counts keep counting
  metrics.trackRuntime(rt);
  return rt;
}

export async function openMetricsEndpoint(config: Config, source: Exposition, log: () => Logger): Promise<MetricsServer | null> {
  if (config.metrics.listen === null) return null;
  try {
    const srv = await startMetricsServer(config.metrics.listen, source, log);
    log().info({ metrics: `http://${srv.address}/metrics` }, 'metrics endpoint listening');
    return srv;
  } catch (e) {
    log().error({ code: 'PI_METRICS_LISTEN_FAILED', err: (e as Error).message }, 'cannot open the metrics endpoint; serving without it');
    return null;
  }
}

export function warnIfMetricsMoved(log: Logger, before: Config, after: Config): void {
  const a = before.metrics.listen?.text ?? null;
  const b = after.metrics.listen?.text ?? null;
  if (a !== b) log.warn({ before: a, after: b }, 'metrics.listen changes need a restart; keeping the current metrics endpoint');
}

/** PI_CONFIG_SECRET_READABLE for each secret any local user can read (start and reload). */
export function warnSecrets(config: Config, log: Logger): void {
  for (const w of secretWarnings(config)) log.warn({ code: 'PI_CONFIG_SECRET_READABLE', file: w.file, mode: w.mode }, secretWarningText(w));
}

/**
 * A config for a reload, or null. Invalid: log the same file:line:col lines
 * as check-config (PI_CONFIG_RELOAD_FAILED), count it, return null — the old
 * config keeps serving. Valid: its deprecation warnings are logged.
 */
export function checkedForReload(r: LoadResult, log: Logger, metrics: Metrics): Config | null {
  if (r.ok) {
    for (const w of r.warnings) log.warn({ code: w.code }, formatConfigError(w));
    warnSecrets(r.config, log);
    return r.config;
  }
  metrics.observeReload(false);
  log.error(
    { code: 'PI_CONFIG_RELOAD_FAILED', errors: r.errors.map(formatConfigError) },
    'reload refused: the new config is invalid; the old config keeps serving',
  );
  return null;
}

/** SIGUSR2: reopen the log file (logrotate), and say so in the new file. */
export function reopen(log: Logger): void {
  const err = reopenLog(log);
  if (err !== null) log.error({ code: 'PI_LOG_REOPEN_FAILED', err: err.message }, 'cannot reopen the log file; still writing to the old one');
  else log.info({ worker: cluster.worker?.id }, 'log reopened');
}

/** Serve until stopped. Returns the exit code (0 clean stop, 1 cannot listen). */
export async function runDaemonProcess(startConfig: Config, startLog: Logger, o: LifecycleOptions): Promise<number> {
  let config = startConfig;
  let log = startLog;
  const metrics = new Metrics({ role: cluster.isWorker ? 'worker' : 'single', version: version() });
  let runtime: Runtime = await buildRuntime(config, log, metrics);
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ config, log, decider: runtime.decider, stdio: o.stdio, hooks: metrics.hooks() });
  } catch (e) {
    const code = e instanceof PolicydError ? e.code : 'PI_SERVER_LISTEN_FAILED';
    log.fatal({ code, err: (e as Error).message }, 'cannot start');
    await new Promise<void>((res) => flushLogger(log, res));
    process.stderr.write(`policyd-identity: cannot start: ${(e as Error).message} [${code}]\n`);
    return 1;
  }
  metrics.setConnectionsSource(() => daemon.openConnections());
  metrics.setLogDroppedSource(droppedLinesTotal);
  let metricsServer: MetricsServer | null = null;
  if (cluster.isWorker) answerPrimary(metrics);
  else if (!o.stdio) metricsServer = await openMetricsEndpoint(config, metrics, () => log);
  log.info({ config: config.source, mode: config.mode, version: version() }, 'started');
  flushNow(log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining connections');
    await daemon.shutdown();
    await runtime.close();
    await metricsServer?.close();
    log.info({ counters: daemon.counters }, 'stopped');
    flushLogger(log, () => process.exit(0));
  };
  const reload = async (r: LoadResult) => {
    const next = checkedForReload(r, log, metrics);
    if (next === null) return;
    const old = runtime;
    try {
      const nlog = next.log.level !== config.log.level || next.log.destination !== config.log.destination || next.log.format !== config.log.format
        ? createLogger({ level: next.log.level, destination: next.log.destination, format: next.log.format, stdio: o.stdio })
        : log;
      runtime = await buildRuntime(next, nlog, metrics);
      daemon.reload(next, runtime.decider, nlog);
      const oldLog = log;
      log = nlog;
      warnIfMetricsMoved(log, config, next);
      config = next;
      metrics.observeReload(true);
      log.info({ config: config.source, worker: cluster.worker?.id }, 'reloaded');
      flushNow(log);
      // The old runtime may still be answering in-flight requests (and logging through
      // the old logger): close both a little later. The old logger's file, buffer and
      // timer were kept for the process's life before (one set per reload that changed log:).
      setTimeout(() => {
        void old.close();
        if (oldLog !== log && oldLog !== nlog) closeLogger(oldLog);
      }, 30_000).unref();
    } catch (e) {
      metrics.observeReload(false);
      log.error({ code: 'PI_CONFIG_RELOAD_FAILED', err: (e as Error).message }, 'reload failed; the old config keeps serving');
    }
  };
  const stats = () => {
    log.info(
      { counters: daemon.counters, open: daemon.openConnections(), runtime: runtime.stats(), metrics: metrics.snapshot(), memory: process.memoryUsage(), worker: cluster.worker?.id },
      'stats',
    );
    flushNow(log);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (o.reread !== null) void reload(o.reread());
    else log.warn({ worker: cluster.worker?.id }, 'SIGHUP to a worker ignored: send it to the cluster primary, which checks the config and hands it to every worker');
  });
  process.on('SIGUSR1', stats);
  process.on('SIGUSR2', () => reopen(log));
  if (cluster.isWorker) {
    process.on('message', (m: unknown) => {
      if (!isPrimaryMessage(m)) return;
      if (m.type === STOP) void stop('primary');
      else if (m.type === RELOAD) void reload(loadSource(m.source));
      else if (m.type === STATS) stats();
      else if (m.type === REOPEN) reopen(log);
    });
  }
  await daemon.done;
  if (o.stdio) {
    await runtime.close();
    await new Promise<void>((res) => flushLogger(log, res));
  }
  return 0;
}
