/**
 * cli/serve — run the daemon (the default command).
 *
 * Signals: SIGTERM/SIGINT drain and exit 0 (bounded by server.shutdown_timeout,
 * logs flushed); SIGHUP re-reads the config file: a valid one takes effect for
 * new requests without dropping connections, an invalid one is logged with the
 * same file:line:col errors as check-config and the old config keeps serving
 * (both counted in policyd_identity_config_reloads_total); SIGUSR1 writes the
 * counters to the log (one `stats` line); SIGUSR2 reopens a log file (after
 * logrotate moved it; PI_LOG_REOPEN_FAILED when the path cannot be opened, and
 * logging goes on into the old file). With `workers: N` (N > 1) the
 * primary forks N node:cluster workers that share the listeners, checks a new
 * config before asking the workers to reload, forwards the other signals, and
 * restarts a worker that dies.
 *
 * Metrics (metrics.listen): one process serves its own endpoint; with workers
 * the primary serves it and merges every worker's metrics (metrics/cluster.ts).
 * In --stdio mode (Postfix spawn, one process per connection) there is no
 * endpoint. A metrics port that cannot be opened is logged
 * (PI_METRICS_LISTEN_FAILED) and the daemon serves Postfix without it.
 *
 * Exit codes: 0 clean stop, 64 usage, 78 config error, 1 cannot listen.
 */
import cluster from 'node:cluster';
import { COMMON_OPTIONS, parse } from './args.js';
import { configPath, loadFor } from './config-source.js';
import { secretWarnings, secretWarningText } from '../config/secrets.js';
import { version } from './version.js';
import { formatConfigError, type Overrides } from '../config/load.js';
import { createLogger, flushLogger, flushNow, reopenLog, type Logger } from '../log/logger.js';
import { startDaemon, type Daemon } from '../server/daemon.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { PolicydError } from '../errors.js';
import { Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer, type Exposition } from '../metrics/http.js';
import { answerPrimary, clusterCollector } from '../metrics/cluster.js';
import type { Config } from '../config/types.js';

/** createRuntime with the metrics hooks: check results per finding, the resolver's counters. */
async function buildRuntime(config: Config, log: Logger, metrics: Metrics): Promise<Runtime> {
  const rt = await createRuntime(config, log, { onFinding: metrics.observeFinding });
  // read at scrape time; after a reload the old runtime's counts keep counting
  metrics.trackRuntime(rt);
  return rt;
}

async function openMetricsEndpoint(config: Config, source: Exposition, log: () => Logger): Promise<MetricsServer | null> {
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

function warnIfMetricsMoved(log: Logger, before: Config, after: Config): void {
  const a = before.metrics.listen?.text ?? null;
  const b = after.metrics.listen?.text ?? null;
  if (a !== b) log.warn({ before: a, after: b }, 'metrics.listen changes need a restart; keeping the current metrics endpoint');
}

/** PI_CONFIG_SECRET_READABLE for each secret any local user can read (start and reload). */
function warnSecrets(config: Config, log: Logger): void {
  for (const w of secretWarnings(config)) log.warn({ code: 'PI_CONFIG_SECRET_READABLE', file: w.file, mode: w.mode }, secretWarningText(w));
}

/**
 * Load the config again for SIGHUP. Invalid: log the same file:line:col lines
 * as check-config (PI_CONFIG_RELOAD_FAILED), count it, return null — the old
 * config keeps serving.
 */
function loadForReload(explicit: string | undefined, overrides: Overrides, log: Logger, metrics: Metrics): Config | null {
  const nr = loadFor(explicit, overrides);
  if (nr.ok) {
    for (const w of nr.warnings) log.warn({ code: w.code }, formatConfigError(w));
    warnSecrets(nr.config, log);
    return nr.config;
  }
  metrics.observeReload(false);
  log.error(
    { code: 'PI_CONFIG_RELOAD_FAILED', errors: nr.errors.map(formatConfigError) },
    'reload refused: the new config is invalid; the old config keeps serving',
  );
  return null;
}

/** SIGUSR2: reopen the log file (logrotate), and say so in the new file. */
function reopen(log: Logger): void {
  const err = reopenLog(log);
  if (err !== null) log.error({ code: 'PI_LOG_REOPEN_FAILED', err: err.message }, 'cannot reopen the log file; still writing to the old one');
  else log.info({ worker: cluster.worker?.id }, 'log reopened');
  flushNow(log);
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_OPTIONS, stdio: { type: 'boolean' } });
  const overrides: Overrides = { listen: values.listen, dns: values.dns, logLevel: values['log-level'] };
  const stdio = values.stdio === true;
  const r = loadFor(values.config, overrides);
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    return 78;
  }
  let config = r.config;
  let log: Logger;
  try {
    log = createLogger({ level: config.log.level, destination: config.log.destination, format: config.log.format, stdio });
  } catch (e) {
    process.stderr.write(`cannot open log destination ${config.log.destination}: ${(e as Error).message} [PI_CONFIG_INVALID]\n`);
    return 78;
  }
  for (const w of r.warnings) log.warn({ code: w.code }, formatConfigError(w));
  warnSecrets(config, log);
  if (config.source.startsWith('<')) log.warn({ path: '/etc/policyd-identity/policyd-identity.yaml' }, 'no config file: running on the embedded defaults');

  if (!stdio && config.workers > 1 && cluster.isPrimary) return runPrimary(config, log, values.config, overrides);

  const metrics = new Metrics({ role: cluster.isWorker ? 'worker' : 'single', version: version() });
  let runtime: Runtime = await buildRuntime(config, log, metrics);
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ config, log, decider: runtime.decider, stdio, hooks: metrics.hooks() });
  } catch (e) {
    const code = e instanceof PolicydError ? e.code : 'PI_SERVER_LISTEN_FAILED';
    log.fatal({ code, err: (e as Error).message }, 'cannot start');
    await new Promise<void>((res) => flushLogger(log, res));
    process.stderr.write(`policyd-identity: cannot start: ${(e as Error).message} [${code}]\n`);
    return 1;
  }
  metrics.setConnectionsSource(() => daemon.openConnections());
  let metricsServer: MetricsServer | null = null;
  if (cluster.isWorker) answerPrimary(metrics);
  else if (!stdio) metricsServer = await openMetricsEndpoint(config, metrics, () => log);
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
  const reload = async () => {
    const path = configPath(values.config);
    const next = loadForReload(values.config, overrides, log, metrics);
    if (next === null) return;
    const old = runtime;
    try {
      const nlog = next.log.level !== config.log.level || next.log.destination !== config.log.destination || next.log.format !== config.log.format
        ? createLogger({ level: next.log.level, destination: next.log.destination, format: next.log.format, stdio })
        : log;
      runtime = await buildRuntime(next, nlog, metrics);
      daemon.reload(next, runtime.decider, nlog);
      log = nlog;
      warnIfMetricsMoved(log, config, next);
      config = next;
      metrics.observeReload(true);
      log.info({ config: path ?? config.source }, 'reloaded');
      flushNow(log);
      // The old runtime may still be answering in-flight requests: close it a little later.
      setTimeout(() => void old.close(), 30_000).unref();
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
  process.on('SIGHUP', () => void reload());
  process.on('SIGUSR1', stats);
  process.on('SIGUSR2', () => reopen(log));
  if (cluster.isWorker) {
    // the primary asks workers to stop or reload through messages (signals go to the primary)
    process.on('message', (m) => {
      if (m === 'policyd:stop') void stop('primary');
      else if (m === 'policyd:reload') void reload();
      else if (m === 'policyd:stats') stats();
      else if (m === 'policyd:reopen') reopen(log);
    });
  }
  await daemon.done;
  if (stdio) {
    await runtime.close();
    await new Promise<void>((res) => flushLogger(log, res));
  }
  return 0;
}

/** node:cluster primary: fork workers, forward signals, restart crashed workers, serve the merged metrics. */
async function runPrimary(config: Config, log: Logger, explicitConfig: string | undefined, overrides: Overrides): Promise<number> {
  const metrics = new Metrics({ role: 'primary', version: version() });
  metrics.setWorkersSource(() => Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected()).length);
  const collector = clusterCollector(metrics, config.workers);
  const metricsServer = await openMetricsEndpoint(config, { contentType: metrics.contentType, render: () => collector.render() }, () => log);
  return new Promise((resolve) => {
    let stopping = false;
    const restarts: number[] = [];
    const fork = () => cluster.fork();
    for (let i = 0; i < config.workers; i++) fork();
    log.info({ workers: config.workers, version: version() }, 'cluster primary started');
    const finish = () => {
      collector.close();
      const done = () => flushLogger(log, () => resolve(0));
      if (metricsServer) void metricsServer.close().then(done);
      else done();
    };
    cluster.on('exit', (w, code, signal) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) finish();
        return;
      }
      log.error({ worker: w.id, code, signal }, 'worker died; restarting');
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length > 10) {
        log.fatal('workers keep dying (more than 10 restarts a minute); giving up');
        stopping = true;
        for (const wk of Object.values(cluster.workers ?? {})) wk?.kill();
        if (Object.keys(cluster.workers ?? {}).length === 0) finish();
        return;
      }
      setTimeout(fork, 500);
    });
    const broadcast = (m: string) => {
      for (const w of Object.values(cluster.workers ?? {})) w?.send(m);
    };
    const stop = () => {
      if (stopping) return;
      stopping = true;
      log.info('cluster primary: stopping workers');
      broadcast('policyd:stop');
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, config.server.shutdown_timeout + 5000).unref();
    };
    const reload = () => {
      // Check the new config here once, so an invalid one is refused with one log line
      // (the same file:line:col text as check-config) and no worker is disturbed.
      const next = loadForReload(explicitConfig, overrides, log, metrics);
      if (next === null) return;
      if (next.workers !== config.workers) log.warn({ before: config.workers, after: next.workers }, 'workers changes need a restart');
      warnIfMetricsMoved(log, config, next);
      config = { ...next, workers: config.workers, metrics: config.metrics };
      metrics.observeReload(true);
      broadcast('policyd:reload');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
    process.on('SIGUSR1', () => {
      log.info({ workers: Object.keys(cluster.workers ?? {}).length, metrics: metrics.snapshot() }, 'stats (primary; each worker logs its own)');
      broadcast('policyd:stats');
    });
    process.on('SIGUSR2', () => {
      reopen(log);
      broadcast('policyd:reopen');
    });
  });
}
