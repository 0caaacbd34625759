// bench/lib/procs.mjs — start and stop what the benchmark measures: the
// loopback DNS server, the daemon (dist/cli.js serve), the ceiling, and the
// load generator; plus a tiny one-request-at-a-time client for the probes.
//
// Every child is started by us, listens on 127.0.0.1 only, and is stopped by
// its own pid (SIGTERM, then SIGKILL after 5 s). Ports are picked by binding
// port 0 and closing it again (loopback, a race nobody else joins).
//
// What can go wrong: a daemon that does not come up within 15 s rejects with
// its log tail; a load generator without JSON output rejects with its stderr.
import { spawn, fork } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
const children = new Set();

/** stop every child we started (on exit and on errors) */
export function killAll() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', killAll);

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function stopChild(child, ms = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) { children.delete(child); return; }
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
  children.delete(child);
}

/** The loopback DNS server (lib/dns-server.mjs) as a child process with an IPC channel. */
export async function startDns({ delay = '' } = {}) {
  const child = fork(path.join(HERE, 'dns-server.mjs'), delay ? ['--delay', delay] : [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (c) => reject(new Error(`bench dns server exited ${c}`)));
  });
  let chain = Promise.resolve();
  const ask = (msg) => {
    const p = chain.then(() => new Promise((resolve) => {
      child.once('message', resolve);
      child.send(msg);
    }));
    chain = p.catch(() => {});
    return p;
  };
  return {
    pid: child.pid, port, server: `127.0.0.1:${port}`,
    stats: () => ask({ op: 'stats' }),
    queriesSince: async (seq) => (await ask({ op: 'log', since: seq })).queries,
    stop: () => { child.disconnect(); return stopChild(child); },
  };
}

/**
 * The daemon: `node dist/cli.js serve --config FILE --listen inet:127.0.0.1:PORT --dns SERVER`.
 * Ready when the port accepts and (with workers) every worker logged "listening".
 */
// The Node flags production runs with: src/cli.ts NODE_FLAGS (the bin's shebang, npm
// start) and UNIT_NODE_OPTIONS (the heap limit the systemd unit adds through
// NODE_OPTIONS), read from the build so the bench follows them. Without NODE_FLAGS the
// young generation is 4x larger; without the heap limit V8 lets the old generation grow
// to up to 4x the live heap before a full GC (its growing factor for a heap limit of
// 1 GiB and more; 1.3x at 256 MiB and below): measured under the sustained cold load,
// 45-55 MB live, peak RSS 285 MiB without it, 168-175 MiB with it (issue 11).
let nodeFlags = ['--max-semi-space-size=4'];
let unitFlags = ['--max-old-space-size=256'];
try {
  ({ NODE_FLAGS: nodeFlags = nodeFlags, UNIT_NODE_OPTIONS: unitFlags = unitFlags } = await import(path.join(ROOT, 'dist', 'cli.js')));
} catch { /* not built yet: run.mjs says so */ }
export const PRODUCTION_NODE_ARGS = [...nodeFlags, ...unitFlags];

export async function startDaemon({ config, logFile, dns, workers = 1, nodeArgs = PRODUCTION_NODE_ARGS, label = 'daemon', cli = path.join(ROOT, 'dist', 'cli.js') }) {
  const port = await freePort();
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const args = [...nodeArgs, cli, 'serve', '--config', config,
    '--listen', `inet:127.0.0.1:${port}`, '--dns', dns];
  const errFile = `${logFile}.stderr`;
  const err = fs.openSync(errFile, 'a');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', err], cwd: ROOT });
  fs.closeSync(err);
  children.add(child);
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited ${child.exitCode}: ${fs.readFileSync(errFile, 'utf8').slice(-2000)}`);
    if (Date.now() - t0 > 15000) { await stopChild(child); throw new Error(`${label} did not come up in 15 s`); }
    if (await canConnect(port)) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      const up = (log.match(/"msg":"listening"/g) ?? []).length;
      if (workers <= 1 || up >= workers) break;
    }
    await sleep(50);
  }
  return { pid: child.pid, port, label, logFile, logStart, startMs: Date.now() - t0, stop: () => stopChild(child, 15000) };
}

/** The ceiling server (lib/ceiling.mjs). */
export async function startCeiling({ workers = 1 } = {}) {
  const child = spawn(process.execPath, [path.join(HERE, 'ceiling.mjs'), '--port', '0', '--workers', String(workers)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    child.once('exit', (c) => reject(new Error(`ceiling exited ${c}`)));
  });
  return { pid: child.pid, port, label: workers > 1 ? `ceiling-w${workers}` : 'ceiling', stop: () => stopChild(child) };
}

/** Run bench/loadgen.mjs to completion; resolves with its JSON and its pid. */
export function runLoadgen(port, args, { timeoutMs = 900_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'loadgen.mjs'), '--port', String(port), ...args.map(String)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      children.delete(child);
      try { resolve(JSON.parse(out)); } catch { reject(new Error(`loadgen exit ${code}: ${err.slice(-1000) || out.slice(-500)}`)); }
    });
  });
}

/** One connection, one request at a time (the per-identity probes). */
export async function probeClient(port) {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setEncoding('latin1');
  sock.setNoDelay(true);
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  let buf = '';
  let waiter = null;
  sock.on('data', (d) => {
    buf += d;
    const end = buf.indexOf('\n\n');
    if (end !== -1 && waiter) { const text = buf.slice(0, end); buf = buf.slice(end + 2); const w = waiter; waiter = null; w(text); }
  });
  return {
    ask(text, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('probe: no answer in time')), timeoutMs);
        waiter = (reply) => { clearTimeout(t); resolve(/^action=(.*)$/m.exec(reply)?.[1] ?? reply); };
        sock.write(text);
      });
    },
    close: () => sock.destroy(),
  };
}
