/**
 * cli/primary — the node:cluster primary (`workers: N`, N > 1): forks the
 * workers that share the listeners, gives each the config it checked, turns
 * signals into worker messages (worker-messages.ts), restarts a worker that
 * dies, and serves the merged metrics (metrics/cluster.ts).
 *
 *   SIGHUP          read the file once, check it here; invalid: one log line
 *                   (check-config's text), no worker disturbed; valid: RELOAD
 *                   { source } to every worker, and later workers start on it
 *   SIGTERM/SIGINT  STOP to every worker; SIGKILL what is left after
 *                   server.shutdown_timeout + 5 s; exit 0 when all are gone
 *   SIGUSR1         a primary `stats` line, STATS to every worker
 *   SIGUSR2         reopen the primary's log, REOPEN to every worker
 *
 * What can go wrong: a worker that dies is restarted after 500 ms; more than
 * 10 restarts in a minute and the primary gives up (PI_SERVER_WORKERS_DYING,
 * fatal: stops the others, exit 1 once they are gone, so that systemd's
 * Restart=on-failure starts the daemon again). `workers` and `metrics.listen`
 * changes need a restart (logged at reload). A worker that asks for its
 * config gets the last one checked here, never the file as it is now.
 */
import cluster, { type Worker } from 'node:cluster';
import { version } from './version.js';
import { loadSource, readConfigSource, type ConfigSource } from './config-source.js';
import { CONFIG, RELOAD, REOPEN, STATS, STOP, isWorkerMessage, type PrimaryMessage } from './worker-messages.js';
import { checkedForReload, openMetricsEndpoint, reopen, warnIfMetricsMoved } from './lifecycle.js';
import { flushLogger, type Logger } from '../log/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { clusterCollector } from '../metrics/cluster.js';
import { removeStaleSocket } from '../server/listeners.js';
import type { Config } from '../config/types.js';
import type { LoadResult } from '../config/load.js';

/** How many worker restarts in RESTART_WINDOW_MS make the primary give up. */
const MAX_RESTARTS = 10;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 500;

export async function runPrimary(startConfig: Config, startSource: ConfigSource, log: Logger, explicitConfig: string | undefined): Promise<number> {
  let config = startConfig;
  /** the last config source checked here: what every worker runs */
  let checked = startSource;
  const metrics = new Metrics({ role: 'primary', version: version() });
  metrics.setWorkersSource(() => Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected()).length);
  const collector = clusterCollector(metrics, config.workers);
  const metricsServer = await openMetricsEndpoint(config, { contentType: metrics.contentType, render: () => collector.render() }, () => log);
  const send = (w: Worker | undefined, m: PrimaryMessage) => {
    if (w?.isConnected()) w.send(m);
  };
  const broadcast = (m: PrimaryMessage) => {
    for (const w of Object.values(cluster.workers ?? {})) send(w, m);
  };
  // A worker asks for its config when it starts (the first ones and every restart).
  cluster.on('message', (w, m: unknown) => {
    if (isWorkerMessage(m)) send(w, { type: CONFIG, source: checked });
  });

  return new Promise((resolve) => {
    let stopping = false;
    const restarts: number[] = [];
    const fork = () => cluster.fork();
    // A UNIX socket file left by a previous run: removed here, once, before any
    // worker listens (the workers' listen() is one bind in this process; a worker
    // does not remove the file: server/listeners.ts). Not with socket activation,
    // where systemd owns the sockets and `listen` is not opened.
    if (process.env.LISTEN_FDS === undefined) {
      for (const e of config.listen) if (e.endpoint.kind === 'unix') removeStaleSocket(e.endpoint.path);
    }
    for (let i = 0; i < config.workers; i++) fork();
    log.info({ workers: config.workers, version: version() }, 'cluster primary started');
    /** exit status: 0 after a stop, 1 when the primary gave up on dying workers (systemd's Restart=on-failure then acts) */
    let status = 0;
    const finish = () => {
      collector.close();
      const done = () => flushLogger(log, () => resolve(status));
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
      while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length > MAX_RESTARTS) {
        log.fatal({ code: 'PI_SERVER_WORKERS_DYING' }, `workers keep dying (more than ${MAX_RESTARTS} restarts a minute); giving up`);
        stopping = true;
        status = 1;
        for (const wk of Object.values(cluster.workers ?? {})) wk?.kill();
        if (Object.keys(cluster.workers ?? {}).length === 0) finish();
        return;
      }
      setTimeout(fork, RESTART_DELAY_MS);
    });
    const stop = () => {
      if (stopping) return;
      stopping = true;
      log.info('cluster primary: stopping workers');
      broadcast({ type: STOP });
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, config.server.shutdown_timeout + 5000).unref();
    };
    const reload = () => {
      // Read and check the new config here once, so an invalid one is refused with
      // one log line (the same file:line:col text as check-config) and no worker is
      // disturbed; the workers get the text that was checked, not the path.
      const read = readConfigSource(explicitConfig, checked.overrides);
      const r: LoadResult = read.ok ? loadSource(read.source) : read;
      const next = checkedForReload(r, log, metrics);
      if (next === null || !read.ok) return;
      if (next.workers !== config.workers) log.warn({ before: config.workers, after: next.workers }, 'workers changes need a restart');
      warnIfMetricsMoved(log, config, next);
      config = { ...next, workers: config.workers, metrics: config.metrics };
      checked = read.source;
      metrics.observeReload(true);
      broadcast({ type: RELOAD, source: checked });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
    process.on('SIGUSR1', () => {
      log.info({ workers: Object.keys(cluster.workers ?? {}).length, metrics: metrics.snapshot() }, 'stats (primary; each worker logs its own)');
      broadcast({ type: STATS });
    });
    process.on('SIGUSR2', () => {
      reopen(log);
      broadcast({ type: REOPEN });
    });
  });
}
