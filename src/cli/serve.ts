/**
 * cli/serve — run the daemon (the default command).
 *
 * Signals: SIGTERM/SIGINT drain and exit 0 (bounded by server.shutdown_timeout,
 * logs flushed); SIGHUP re-reads the config file: a valid one takes effect for
 * new requests without dropping connections, an invalid one is logged with the
 * same file:line:col errors as check-config and the old config keeps serving;
 * SIGUSR1 writes the counters to the log. With `workers: N` (N > 1) the
 * primary forks N node:cluster workers that share the listeners, forwards
 * signals, and restarts a worker that dies.
 *
 * Exit codes: 0 clean stop, 64 usage, 78 config error, 1 cannot listen.
 */
import cluster from 'node:cluster';
import { COMMON_OPTIONS, parse } from './args.js';
import { configPath, loadFor } from './config-source.js';
import { formatConfigError, type Overrides } from '../config/load.js';
import { createLogger, flushLogger, type Logger } from '../log/logger.js';
import { startDaemon, type Daemon } from '../server/daemon.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { PolicydError } from '../errors.js';
import type { Config } from '../config/types.js';

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
    log = createLogger({ level: config.log.level, destination: config.log.destination, stdio });
  } catch (e) {
    process.stderr.write(`cannot open log destination ${config.log.destination}: ${(e as Error).message} [PI_CONFIG_INVALID]\n`);
    return 78;
  }
  if (config.source.startsWith('<')) log.warn({ path: '/etc/policyd-identity/policyd-identity.yaml' }, 'no config file: running on the embedded defaults');

  if (!stdio && config.workers > 1 && cluster.isPrimary) return runPrimary(config, log, argv);

  let runtime: Runtime = await createRuntime(config, log);
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ config, log, decider: runtime.decider, stdio });
  } catch (e) {
    const code = e instanceof PolicydError ? e.code : 'PI_SERVER_LISTEN_FAILED';
    log.fatal({ code, err: (e as Error).message }, 'cannot start');
    await new Promise<void>((res) => flushLogger(log, res));
    process.stderr.write(`policyd-identity: cannot start: ${(e as Error).message} [${code}]\n`);
    return 1;
  }
  log.info({ config: config.source, mode: config.mode, version: process.env.npm_package_version }, 'started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining connections');
    await daemon.shutdown();
    await runtime.close();
    log.info({ counters: daemon.counters }, 'stopped');
    flushLogger(log, () => process.exit(0));
  };
  const reload = async () => {
    const path = configPath(values.config);
    const nr = loadFor(values.config, overrides);
    if (!nr.ok) {
      log.error(
        { code: 'PI_CONFIG_RELOAD_FAILED', errors: nr.errors.map(formatConfigError) },
        'reload refused: the new config is invalid; the old config keeps serving',
      );
      return;
    }
    const old = runtime;
    try {
      const nlog = nr.config.log.level !== config.log.level || nr.config.log.destination !== config.log.destination
        ? createLogger({ level: nr.config.log.level, destination: nr.config.log.destination, stdio })
        : log;
      runtime = await createRuntime(nr.config, nlog);
      daemon.reload(nr.config, runtime.decider, nlog);
      log = nlog;
      config = nr.config;
      log.info({ config: path ?? config.source }, 'reloaded');
      // The old runtime may still be answering in-flight requests: close it a little later.
      setTimeout(() => void old.close(), 30_000).unref();
    } catch (e) {
      log.error({ code: 'PI_CONFIG_RELOAD_FAILED', err: (e as Error).message }, 'reload failed; the old config keeps serving');
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void reload());
  process.on('SIGUSR1', () => log.info({ counters: daemon.counters, open: daemon.openConnections(), runtime: runtime.stats() }, 'stats'));
  if (cluster.isWorker) {
    // the primary asks workers to stop or reload through messages (signals go to the primary)
    process.on('message', (m) => {
      if (m === 'policyd:stop') void stop('primary');
      else if (m === 'policyd:reload') void reload();
      else if (m === 'policyd:stats') log.info({ counters: daemon.counters, worker: cluster.worker?.id }, 'stats');
    });
  }
  await daemon.done;
  if (stdio) {
    await runtime.close();
    await new Promise<void>((res) => flushLogger(log, res));
  }
  return 0;
}

/** node:cluster primary: fork workers, forward signals, restart crashed workers. */
function runPrimary(config: Config, log: Logger, argv: string[]): Promise<number> {
  void argv;
  return new Promise((resolve) => {
    let stopping = false;
    const restarts: number[] = [];
    const fork = () => cluster.fork();
    for (let i = 0; i < config.workers; i++) fork();
    log.info({ workers: config.workers }, 'cluster primary started');
    cluster.on('exit', (w, code, signal) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) flushLogger(log, () => resolve(0));
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
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => broadcast('policyd:reload'));
    process.on('SIGUSR1', () => broadcast('policyd:stats'));
  });
}
