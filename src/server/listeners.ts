/**
 * listeners — open the transports and attach a Session to each connection.
 *
 * Kinds: inet (IPv4/IPv6 TCP), unix (stream socket file, with mode/owner/group
 * so a chrooted Postfix smtpd can reach it), systemd socket activation
 * (LISTEN_PID/LISTEN_FDS, fds from 3; sd_listen_fds(3) semantics).
 * Every connection gets: latin1 decoding (byte-exact limits, see parser.ts),
 * read through one shared buffer (readInto: Node's user-buffer read mode, no
 * Readable stream per read), TCP_NODELAY (one small answer per request: Nagle
 * would add up to 40 ms),
 * an idle timeout, a peer allowlist check (inet only), a global connection
 * cap, no reading while its request is decided (one request at a time), and
 * read backpressure when the client does not read its answers.
 *
 * Idle timeout: not a per-socket sock.setTimeout (Node re-arms that timer on
 * every read and every write: timer-list work on each request of the warm
 * path), but ONE unref'd sweep every SWEEP_MS (1 s) over all connections,
 * using the lastActive stamp that eviction uses too. Reads and writes stamp
 * lastActive with a coarse clock the sweep advances (a property store, no
 * Date.now() per data event). A connection is closed once it has had no I/O
 * for idle_timeout: between idle_timeout and idle_timeout + 2 s (never
 * early; later still if the event loop is blocked). The sweep runs only
 * while some connection is open.
 *
 * What can go wrong: listen errors reject `openListeners` with
 * PI_SERVER_LISTEN_FAILED (the caller exits non-zero); a stale socket file is
 * removed only if it is a socket; per-connection errors are logged at info
 * (PI_SERVER_SOCKET_ERROR) and affect that connection only. readInto relies on
 * net.Socket's undocumented `handle` option and `_handle` field: a Node whose
 * accepted socket has no usable `_handle` gets the 'data' stream instead (same
 * behaviour, more CPU); one that changed their meaning would fail the server
 * tests, which run both paths. While a request is decided a readInto socket
 * does not read at all, so a client that vanishes meanwhile is noticed when
 * its answer is written, not before (the decision runs to its end either way).
 */
import net from 'node:net';
import cluster from 'node:cluster';
import { lstatSync, unlinkSync, chmodSync, chownSync, readFileSync } from 'node:fs';
import { Session, type ServerContext } from './session.js';
import { PolicydError } from '../errors.js';
import type { CidrSet } from '../net/ip.js';
import type { ListenEntry } from '../config/schema.js';
import type { Logger } from '../log/logger.js';

export interface SessionEntry {
  session: Session;
  /** the socket that serves the connection (readInto's, when it took the connection over) */
  socket: net.Socket;
  /** coarse clock (see `clock`) at the last bytes received or sent */
  lastActive: number;
  /** idle_timeout in force when the connection was opened (as setTimeout had it) */
  idleMs: number;
  /** log of its listener set (the current one after a reload) */
  log: () => Logger;
}

/** Period of the idle sweep; also the resolution of lastActive. */
export const SWEEP_MS = 1000;

// Coarse clock for lastActive: Date.now() as of the last sweep (or the last
// connection opened). Up to SWEEP_MS (+ event-loop lag) behind, never ahead,
// so an age computed from it over-states the idle time by < SWEEP_MS + lag;
// the sweep allows SWEEP_MS for that and never closes early. Why not
// Date.now() per data event: a call into the runtime per read and per write
// (issue 11 §4, CPU per warm request); eviction only needs the order.
let clock = Date.now();
/** every open connection of every listener set, for the one shared sweep */
const live = new Set<SessionEntry>();
let sweepTimer: NodeJS.Timeout | null = null;

function sweep(): void {
  const t = Date.now();
  clock = t;
  for (const e of live) {
    // lastActive <= true time of the last I/O, so t - lastActive - SWEEP_MS < true idle time
    if (t - e.lastActive >= e.idleMs + SWEEP_MS) {
      e.log().info({ code: 'PI_SERVER_IDLE_TIMEOUT', peer: e.session.conn.peer }, 'idle connection closed');
      live.delete(e);
      e.socket.destroy();
    }
  }
}

function track(e: SessionEntry): void {
  live.add(e);
  if (sweepTimer === null) {
    clock = Date.now();
    // unref: an open idle connection alone does not keep the process alive (as setTimeout did not)
    sweepTimer = setInterval(sweep, SWEEP_MS).unref();
  }
}

function untrack(e: SessionEntry): void {
  live.delete(e);
  if (live.size === 0 && sweepTimer !== null) {
    clearInterval(sweepTimer);
    sweepTimer = null;
  }
}

/** The idle connection (no request in progress) that received nothing for longest; null if all are busy. */
function longestIdle(sessions: Set<SessionEntry>): SessionEntry | null {
  let best: SessionEntry | null = null;
  // O(connections), only when the cap is reached
  for (const e of sessions) if (e.session.idle && (best === null || e.lastActive < best.lastActive)) best = e;
  return best;
}

/**
 * The one buffer every connection's reads land in (readInto). Safe to share:
 * reads are delivered one at a time on this thread, and each is copied out
 * (a latin1 string) before its callback returns.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 << 10);

/** The accepted socket's libuv handle (net.Socket's `_handle`), as readInto needs it. */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

/**
 * Serve an accepted connection (accepted paused: pauseOnConnect) through
 * Node's user-buffer read mode (net.Socket's `onread`): each read(2) lands in
 * READ_BUFFER and `onChunk` gets it as a latin1 string; no Readable stream
 * between. Returns the new Socket that now owns the connection, or null when
 * the accepted socket has no handle to take over (the caller then reads it as
 * a 'data' stream).
 *
 * Why: net.Server has no `onread` option, and the stream path costs a fresh
 * 64 KiB ArrayBuffer, a Buffer, a StringDecoder pass and the Readable push and
 * emit per read. bench/lib/ceiling.mjs with this one change, 64 connections,
 * 4 reps (16:57 UTC, loaded): CPU per request 22.3 -> 17.3 µs (median),
 * user 13.3 -> 9.8 µs. (Measured figures for the daemon: see the commit and
 * docs/bench.md.)
 *
 * How: the new Socket is built on the accepted one's handle (`handle` and
 * `_handle`: undocumented, the way net.Server itself builds sockets from
 * accepted handles since Node 0.x; still so in Node 20-24). The accepted
 * Socket lets go of the handle (`_handle = null`) and is destroyed, which
 * closes nothing and takes it off the server's count (`server.getConnections`,
 * `close()`'s callback, which this daemon does not use: it counts its own
 * sessions). Backpressure and 'end' work as on any socket: pause() stops
 * reading at the handle (readStop) instead of buffering in the stream, and EOF
 * still ends the readable side ('end', allowHalfOpen kept).
 */
export function readInto(accepted: net.Socket, onChunk: (chunk: string) => void): net.Socket | null {
  const handle = (accepted as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (handle == null || typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function') return null;
  const sock = new net.Socket({
    handle,
    allowHalfOpen: true,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number): void => {
        onChunk(READ_BUFFER.toString('latin1', 0, n));
      },
    },
  } as net.SocketConstructorOpts);
  (accepted as unknown as { _handle: null })._handle = null;
  accepted.destroy();
  return sock;
}

/** Settings that apply to new connections; replaced on reload. */
export interface ConnectionPolicy {
  peers: CidrSet;
  maxConnections: number;
  idleTimeoutMs: number;
}

export interface ListenerSet {
  readonly servers: net.Server[];
  readonly sessions: Set<SessionEntry>;
  /** addresses actually bound (for tests using port 0) */
  addresses(): string[];
  /** stop accepting new connections (returns at once; open connections stay) */
  stopAccepting(): Promise<void>;
}

/**
 * Unsent answer bytes above which we stop reading from a client that does not
 * read its answers. One answer is at most a few hundred bytes and Postfix reads
 * each before it sends the next request, so 64 KiB is never reached by Postfix;
 * the kernel's socket buffer comes on top.
 */
export const MAX_UNSENT_BYTES = 64 << 10;

/** Mode of a UNIX socket whose `mode` is not given: the owner and its group (postfix), no one else. */
export const DEFAULT_SOCKET_MODE = 0o660;

export function attachSocket(
  accepted: net.Socket,
  getContext: () => ServerContext,
  policy: () => ConnectionPolicy,
  sessions: ListenerSet['sessions'],
  log: () => Logger,
  /** how the connection is read: readInto; tests pass `() => null` for the stream fallback */
  reader: typeof readInto = readInto,
): void {
  let sock = accepted;
  const isTcp = sock.remoteAddress !== undefined;
  const peer = isTcp ? `${sock.remoteAddress}:${sock.remotePort}` : 'unix';
  const pol = policy();
  if (isTcp && pol.peers.size > 0 && !pol.peers.has(sock.remoteAddress!)) {
    log().warn({ code: 'PI_SERVER_PEER_DENIED', peer }, 'peer not in server.peers, closing');
    sock.destroy();
    return;
  }
  if (sessions.size >= pol.maxConnections) {
    // At the cap, a connection that sits idle (no request in progress) makes room:
    // the one idle longest is closed, so idle connections of a local user cannot
    // lock Postfix out until idle_timeout (Postfix reconnects a closed one on its
    // next request). Only when every connection is busy is the new one refused.
    const victim = longestIdle(sessions);
    if (victim === null) {
      log().warn({ code: 'PI_SERVER_TOO_MANY_CONNECTIONS', peer, max: pol.maxConnections }, 'connection cap reached, closing');
      sock.destroy();
      return;
    }
    log().warn({ code: 'PI_SERVER_IDLE_EVICTED', peer: victim.session.conn.peer, idle_ms: Math.max(0, Date.now() - victim.lastActive) }, 'connection cap reached: closing the connection idle longest');
    sessions.delete(victim);
    victim.socket.destroy();
  }
  // Reading stops for two reasons, each lifted on its own: a request is being
  // decided (the session), or answers are not being read (write backpressure).
  // Once our side has ended, reading goes on whatever the two say: the client's
  // EOF is what closes the socket, and a paused readInto socket does not see it
  // (pause() stops reading at the handle); what it sends then is ignored.
  let deciding = false;
  let unread = false;
  let ended = false;
  const gate = () => {
    if ((deciding || unread) && !ended) sock.pause();
    else sock.resume();
  };
  const session = new Session(
    getContext,
    {
      write: (s) => {
        entry.lastActive = clock; // a write is activity, as it was for sock.setTimeout
        if (!sock.write(s) && sock.writableLength > MAX_UNSENT_BYTES && !unread) {
          // The client sends without reading answers: stop reading until it catches up.
          unread = true;
          gate();
          sock.once('drain', () => { unread = false; gate(); });
        }
      },
      end: () => {
        ended = true;
        sock.end();
        gate();
      },
      pause: () => { deciding = true; gate(); },
      resume: () => { deciding = false; gate(); },
    },
    peer,
  );
  clock = Date.now(); // once per connection: its stamp starts exact
  const entry: SessionEntry = { session, socket: sock, lastActive: clock, idleMs: pol.idleTimeoutMs, log };
  const onBytes = (chunk: string): void => {
    entry.lastActive = clock; // coarse clock: see `clock` (no Date.now() per read)
    session.receive(chunk);
  };
  // Serve the connection through the shared read buffer (readInto: a new Socket on
  // the same handle), or, where that is not possible, as a latin1 'data' stream.
  const adopted = reader(sock, onBytes);
  if (adopted !== null) {
    sock = adopted;
    entry.socket = adopted;
  } else {
    sock.setEncoding('latin1');
    sock.on('data', onBytes);
    sock.resume(); // accepted paused (pauseOnConnect, for readInto)
  }
  if (isTcp) sock.setNoDelay(true);
  sessions.add(entry);
  track(entry);
  // allowHalfOpen: a client that half-closes still gets its pending answers, then we end.
  sock.on('end', () => session.drain());
  sock.on('error', (err: NodeJS.ErrnoException) => {
    log().info({ code: 'PI_SERVER_SOCKET_ERROR', peer, err: err.code ?? err.message }, 'socket error');
  });
  sock.on('close', () => {
    session.gone();
    sessions.delete(entry);
    untrack(entry);
  });
}

function lookupId(file: '/etc/passwd' | '/etc/group', name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  throw new Error(`no such ${file === '/etc/passwd' ? 'user' : 'group'}: ${name}`);
}

function listenOn(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** File descriptors passed by systemd, per sd_listen_fds(3); [] when not socket-activated. */
export function systemdFds(env: NodeJS.ProcessEnv = process.env): number[] {
  if (env.LISTEN_FDS === undefined) return [];
  const pid = Number(env.LISTEN_PID);
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new PolicydError('PI_SERVER_SYSTEMD_FDS', `bad LISTEN_FDS=${env.LISTEN_FDS}`);
  // A cluster worker (workers: N) inherits its primary's environment: the fds are
  // the primary's, and a worker's listen({ fd }) is served by the primary, which
  // holds them (node:cluster). Before, every worker refused LISTEN_PID (the
  // primary's pid) and died, until the primary gave up (PI_SERVER_WORKERS_DYING).
  const owner = cluster.isWorker ? process.ppid : process.pid;
  if (pid !== owner) throw new PolicydError('PI_SERVER_SYSTEMD_FDS', `LISTEN_PID=${env.LISTEN_PID} is not this process (${process.pid})${cluster.isWorker ? ` nor its cluster primary (${process.ppid})` : ''}`);
  // Do not pass them on to children (sd_listen_fds unset_environment=1).
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/** Remove the socket file a previous run left at `path` (only if it is a socket; missing is fine). */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // does not exist: fine
  }
}

export async function openListeners(
  entries: readonly ListenEntry[],
  fds: readonly number[],
  getContext: () => ServerContext,
  policy: () => ConnectionPolicy,
  log: () => Logger,
): Promise<ListenerSet> {
  const servers: net.Server[] = [];
  const sessions: ListenerSet['sessions'] = new Set();
  const make = () => {
    // pauseOnConnect: nothing is read before readInto takes the connection over (or the fallback resumes it)
    const s = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) =>
      attachSocket(sock, getContext, policy, sessions, log),
    );
    // Errors while listen() runs reject listenOn (PI_SERVER_LISTEN_FAILED); once
    // listening, an error is an accept failure (EMFILE...): Node keeps listening.
    s.on('error', (e) => {
      if (s.listening) log().error({ code: 'PI_SERVER_LISTENER_ERROR', err: e.message }, 'listener error');
    });
    servers.push(s);
    return s;
  };
  try {
    if (fds.length > 0) {
      // socket activation: systemd owns the addresses; config `listen` is not opened
      for (const fd of fds) await listenOn(make(), { fd } as net.ListenOptions);
    } else {
      for (const e of entries) {
        const ep = e.endpoint;
        if (ep.kind === 'inet') {
          await listenOn(make(), { host: ep.host, port: ep.port, ipv6Only: ep.host === '::' ? false : undefined, exclusive: false });
        } else {
          // A cluster worker leaves the file alone: its listen() is the primary's one
          // bind, shared by every worker; a worker that unlinked "the stale socket"
          // removed the live one of the workers started before it (clients then got
          // ENOENT) and failed its own chmod (the primary removes a stale one before
          // forking: removeStaleSocket in cli/primary.ts).
          if (!cluster.isWorker) removeStaleSocket(ep.path);
          // Created 0660 (umask 0117 around bind: no moment with the process umask's mode,
          // 000 gave srwxrwxrwx), then chmod to `mode` (default 0660: owner and group only).
          const mask = process.umask(0o117);
          try {
            await listenOn(make(), { path: ep.path });
          } finally {
            process.umask(mask);
          }
          chmodSync(ep.path, e.mode ?? DEFAULT_SOCKET_MODE);
          if (e.owner !== null || e.group !== null) {
            chownSync(ep.path, e.owner !== null ? lookupId('/etc/passwd', e.owner) : -1, e.group !== null ? lookupId('/etc/group', e.group) : -1);
          }
        }
      }
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw new PolicydError('PI_SERVER_LISTEN_FAILED', (e as Error).message, { cause: e });
  }
  return {
    servers,
    sessions,
    addresses: () =>
      servers.map((s) => {
        const a = s.address();
        if (a === null) return '?';
        if (typeof a === 'string') return `unix:${a}`;
        return a.family === 'IPv6' ? `inet:[${a.address}]:${a.port}` : `inet:${a.address}:${a.port}`;
      }),
    // server.close() stops accepting at once; its callback would wait for every
    // open connection, which the daemon's drain logic handles itself.
    stopAccepting: async () => {
      for (const s of servers) s.close();
    },
  };
}
