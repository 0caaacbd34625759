// bench/lib/in-process.mjs — the daemon's request path inside the bench's own
// process, for bench/hotpath.mjs and bench/coldpath.mjs: the build's config
// loader, logger, runtime (engine, resolver, caches) and ServerContext, on the
// production defaults (log at info to a file, the lab's documentation
// addresses public), resolving through the bench's loopback DNS server (a
// child process). Sessions are made by the caller from `Session` and `ctx`.
//
//   const d = await startInProcess({ cli, name: 'hotpath', dnsDelay: '' });
//   ... new d.Session(() => d.ctx, sink, 'peer') ...
//   await d.close();
//
// What can go wrong: a build that does not load, or a config the build
// refuses, throws (after stopping the DNS server); close() stops the runtime
// and the DNS server and removes the temporary log directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDns, killAll } from './procs.mjs';
import { LAB_IDENTITY_YAML } from './lab-networks.mjs';

/**
 * `cli`: a build's dist/cli.js; `name`: for the temp directory and the
 * config's file name; `yaml`: more top-level config lines (e.g. identity_cache);
 * `logLevel`: the log level (default info, production's: one line per decision).
 */
export async function startInProcess({ cli, name, dnsDelay = '', yaml: extraYaml = '', logLevel = 'info' }) {
  const dist = path.dirname(cli);
  const imp = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
  const { loadConfigText } = await imp('config/load.js');
  const { createLogger } = await imp('log/logger.js');
  const { createRuntime } = await imp('runtime.js');
  const { Metrics } = await imp('metrics/metrics.js');
  const { serverContext } = await imp('server/daemon.js');
  const { Session } = await imp('server/session.js');

  const dns = await startDns({ delay: dnsDelay });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const cleanup = async () => {
    await dns.stop();
    killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const yaml = ['log:', `  level: ${logLevel}`, `  destination: ${path.join(dir, 'decisions.log')}`, LAB_IDENTITY_YAML, extraYaml].join('\n');
    const r = loadConfigText(yaml, `${name}.yaml`, { dns: [dns.server] });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const config = r.config;
    const log = createLogger({ level: config.log.level, destination: config.log.destination, format: config.log.format });
    const metrics = new Metrics({ role: 'single', version: 'bench' });
    const rt = await createRuntime(config, log, { onFinding: metrics.observeFinding });
    const counters = { connections: 0, requests: 0, protocolErrors: 0, actions: Object.create(null) };
    const ctx = serverContext(config, rt.decider, log, counters, metrics.hooks());
    return {
      dns, ctx, counters, Session, stats: () => rt.decider.stats(),
      close: async () => { try { await rt.close(); } finally { await cleanup(); } },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
