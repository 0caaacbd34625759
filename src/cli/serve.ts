/**
 * cli/serve — run the daemon (the default command): load the config, open
 * the log, then either run one serving process (cli/lifecycle.ts: signals,
 * reload, drain) or, with `workers: N` (N > 1), the cluster primary
 * (cli/primary.ts) whose workers come back here and get their config from it
 * (cli/worker-messages.ts), never from the file.
 *
 * Exit codes: 0 clean stop, 64 usage, 78 config error, 1 cannot listen.
 *
 * What can go wrong: an invalid config or an unopenable log destination
 * exits 78 before anything listens; a worker that gets no config from its
 * primary within WORKER_CONFIG_TIMEOUT_MS exits 78 (the primary restarts it).
 */
import cluster from 'node:cluster';
import { COMMON_OPTIONS, parse } from './args.js';
import { loadSource, readConfigSource, loadFor, type ConfigSource } from './config-source.js';
import { configFromPrimary } from './worker-messages.js';
import { runDaemonProcess, warnSecrets } from './lifecycle.js';
import { runPrimary } from './primary.js';
import { formatConfigError, type LoadResult, type Overrides } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';

/** How long a worker waits for the primary's CONFIG answer. */
const WORKER_CONFIG_TIMEOUT_MS = 10_000;

/** The config this process starts with: a worker's from its primary, otherwise the file's. */
async function startingConfig(explicit: string | undefined, overrides: Overrides): Promise<{ source: ConfigSource | null; result: LoadResult }> {
  if (cluster.isWorker) {
    try {
      const source = await configFromPrimary(WORKER_CONFIG_TIMEOUT_MS);
      return { source, result: loadSource(source) };
    } catch (e) {
      return { source: null, result: { ok: false, errors: [{ code: 'PI_CONFIG_READ', file: '<cluster primary>', line: 0, col: 0, path: '', message: (e as Error).message }] } };
    }
  }
  const read = readConfigSource(explicit, overrides);
  return read.ok ? { source: read.source, result: loadSource(read.source) } : { source: null, result: read };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_OPTIONS, stdio: { type: 'boolean' } });
  const overrides: Overrides = { listen: values.listen, dns: values.dns, logLevel: values['log-level'] };
  const stdio = values.stdio === true;
  const { source, result: r } = await startingConfig(values.config, overrides);
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    return 78;
  }
  const config = r.config;
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

  if (!stdio && config.workers > 1 && cluster.isPrimary) return runPrimary(config, source!, log, values.config);
  return runDaemonProcess(config, log, { stdio, reread: cluster.isWorker ? null : () => loadFor(values.config, overrides) });
}
