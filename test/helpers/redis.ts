/**
 * redis — a throwaway redis-server (or valkey-server) for tests, on 127.0.0.1.
 *
 * Picks a free port (bind a server to port 0, read the port, close it), starts
 * `redis-server --port N --bind 127.0.0.1 --save '' --appendonly no --dir TMP`
 * in a fresh temp dir, and waits until it answers PING. The handle can kill
 * it (SIGKILL: a crash), pause it (SIGSTOP: a hung server), resume it, and
 * start it again on the same port. `stop()` is idempotent; register it with
 * t.teardown. Nothing persists: a restarted server starts empty.
 *
 * The binary: $REDIS_SERVER, else redis-server, else valkey-server on PATH.
 * When none exists, `startRedis` throws an Error saying which Debian package
 * to install (tests must fail loudly, not skip).
 *
 * What can go wrong: a port taken between the probe and the start (rare):
 * the start is retried with a new port, three times.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisHandle {
  readonly port: number;
  readonly url: string;
  readonly binary: string;
  /** SIGKILL the server and wait for it to exit */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing */
  pause(): void;
  resume(): void;
  /** start it again on the same port (empty) */
  restart(): Promise<void>;
  /** send one command over a raw connection; returns the raw RESP reply */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export function redisBinary(): string | null {
  const candidates = [process.env.REDIS_SERVER, 'redis-server', 'valkey-server'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (r.status === 0) return c;
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One RESP command over a fresh socket, bounded by `ms`. */
export function rawCommand(port: number, args: string[], ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis on ${port}: no reply within ${ms}ms`)); }, ms);
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.endsWith('\r\n')) { clearTimeout(timer); sock.end(); resolve(buf); }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function waitForPing(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (let i = 0; i < 500 && Date.now() < until; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    try {
      if ((await rawCommand(port, ['PING'], 500)).startsWith('+PONG')) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${deadlineMs}ms`);
}

export async function startRedis(): Promise<RedisHandle> {
  const binary = redisBinary();
  if (binary === null) {
    throw new Error('no redis-server found: install the Debian package redis-server (or valkey-server), or set REDIS_SERVER');
  }
  const dir = mkdtempSync(join(tmpdir(), 'pi-redis-'));
  let child: ChildProcess | null = null;
  let port = 0;
  const launch = async (): Promise<void> => {
    const c = spawn(binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--loglevel', 'warning', '--logfile', join(dir, 'redis.log'),
    ], { stdio: 'ignore' });
    child = c;
    await waitForPing(port, c, 5000);
  };
  let lastErr: unknown = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    try { await launch(); lastErr = null; break; } catch (e) { lastErr = e; (child as ChildProcess | null)?.kill('SIGKILL'); }
  }
  if (lastErr !== null) { rmSync(dir, { recursive: true, force: true }); throw lastErr; }

  const exitOf = (c: ChildProcess | null): Promise<void> =>
    !c || c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));

  const handle: RedisHandle = {
    get port() { return port; },
    get url() { return `redis://127.0.0.1:${port}`; },
    binary,
    async kill() {
      const c = child;
      c?.kill('SIGKILL');
      await exitOf(c);
    },
    pause() { child?.kill('SIGSTOP'); },
    resume() { child?.kill('SIGCONT'); },
    async restart() {
      await handle.kill();
      await launch();
    },
    command: (...args: string[]) => rawCommand(port, args),
    async stop() {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
        await exitOf(c);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
