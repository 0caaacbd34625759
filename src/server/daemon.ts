/**
 * daemon — the running server: listeners, sessions, reload and drain.
 *
 * `startDaemon` opens the listeners (or uses systemd's fds, or stdin/stdout),
 * and serves every connection through one shared ServerContext. `reload`
 * swaps in a new context built from a new config: new requests use it at
 * once, open connections are not dropped. `shutdown` stops accepting, lets
 * in-flight requests finish, closes idle connections, and after
 * server.shutdown_timeout destroys what is left (PI_SERVER_SHUTDOWN_TIMEOUT).
 *
 * The decision log line: one `info` line per answered request with instance,
 * protocol_state, client, helo, sender, recipient, the action, the checks that
 * fired (absent when none did), the findings that were not pass or skip
 * (`found`: fail and tempfail) and the time taken in microseconds — under 300
 * bytes for an accepted request (test/log.test.ts); decision-line.ts builds it.
 * Every check's result, each reason and the peer go in a second line at
 * `debug` (docs/server.md#logging-log).
 *
 * What can go wrong: listen failures reject startDaemon (PI_SERVER_LISTEN_FAILED);
 * everything after start is per connection and logged.
 */
import { Session, type ServerContext } from './session.js';
import { openListeners, systemdFds, type ListenerSet, type ConnectionPolicy } from './listeners.js';
import type { Config } from '../config/types.js';
import { summaryOf, type Decider, type Decision, type ConnState } from '../engine/types.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { PolicyAction } from '../protocol/action.js';
import { lineWriter, type Logger } from '../log/logger.js';
import { decisionFields, writeDecisionLine } from './decision-line.js';
import { ErrorCodes, type ErrorCode } from '../errors.js';

export interface DaemonHooks {
  /** called after the decision log line (metrics); `sent` is the action Postfix got */
  onDecision?(req: PolicyRequest, d: Decision, sent: PolicyAction, micros: number): void;
  onProtocolError?(code: ErrorCode): void;
  onConnection?(delta: 1 | -1): void;
}

export interface DaemonOptions {
  config: Config;
  log: Logger;
  decider: Decider;
  /** serve stdin/stdout (Postfix spawn) instead of listeners */
  stdio?: boolean;
  hooks?: DaemonHooks;
  env?: NodeJS.ProcessEnv;
}

export interface Counters {
  /** connections accepted since start */
  connections: number;
  requests: number;
  protocolErrors: number;
  actions: Record<string, number>;
}

export interface Daemon {
  readonly counters: Counters;
  addresses(): string[];
  openConnections(): number;
  reload(config: Config, decider: Decider, log?: Logger): void;
  shutdown(): Promise<void>;
  /** resolves when the daemon stopped (stdio: the client went away) */
  readonly done: Promise<void>;
}

/** The counter key of an answer: its verb, a REPLY as its 3-digit code ("550"). */
function counterKey(a: PolicyAction): string {
  return a.verb === 'REPLY' && a.code !== undefined ? a.code.slice(0, 3) : a.verb;
}

/**
 * What every session of one config shares: the decider, the parser limits and
 * the per-decision report (log line, counters, hooks). Exported for
 * bench/hotpath.mjs, which drives sessions in-process without a socket.
 */
export function serverContext(cfg: Config, decider: Decider, lg: Logger, counters: Counters, hooks: DaemonHooks): ServerContext {
  const raw = lineWriter(lg);
  // The info and debug thresholds looked up once; per request only the logger's
  // current level (levelVal: a level changed at run time still applies), compared
  // as pino's default ascending order does. Why not lg.isLevelEnabled('info') and
  // ('debug') per request: each is a keyed lookup of the level's name and two
  // symbol-keyed loads on the logger, seen in perf of the daemon at 64
  // connections as KeyedLoadIC_Megamorphic under onDecision (41-66 of ~6,500-7,600
  // samples, 0.6-0.9 %; issue 11 §4).
  const INFO = lg.levels.values.info!;
  const DEBUG = lg.levels.values.debug!;
  return {
    decider,
    parserLimits: {
      maxLineLength: cfg.server.max_line_length,
      maxAttributes: cfg.server.max_attributes,
      maxRequestSize: cfg.server.max_request_size,
    },
    allowOk: cfg.allow.action === 'ok',
    log: lg,
    onDecision(req: PolicyRequest, d: Decision, sent: PolicyAction, line: string, micros: number, conn: ConnState) {
      counters.requests++;
      const verb = counterKey(sent);
      counters.actions[verb] = (counters.actions[verb] ?? 0) + 1;
      const level = lg.levelVal;
      if (INFO >= level) {
        const action = line.slice(7, line.length - 2);
        // Hand-built line, byte-equal to pino's (decision-line.ts says why)
        if (raw !== null) writeDecisionLine(raw, req, d, action, micros, Date.now());
        else lg.info(decisionFields(req, d, action, micros), 'decision');
        if (DEBUG >= level) {
          lg.debug({ instance: req.instance, peer: conn.peer, checks: summaryOf(d), why: d.findings.map((f) => `${f.check}=${f.result}: ${f.reason}`) }, 'decision checks');
        }
      }
      hooks.onDecision?.(req, d, sent, micros);
    },
    onOpen() {
      counters.connections++;
    },
    onProtocolError(code: ErrorCode, peer: string) {
      counters.protocolErrors++;
      lg.warn({ code, peer }, `protocol error: ${ErrorCodes[code].text}; closing the connection without reply`);
      hooks.onProtocolError?.(code);
    },
  };
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  let config = opts.config;
  let log = opts.log;
  const hooks = opts.hooks ?? {};
  const counters: Counters = { connections: 0, requests: 0, protocolErrors: 0, actions: Object.create(null) };

  const makeContext = (cfg: Config, decider: Decider, lg: Logger): ServerContext => serverContext(cfg, decider, lg, counters, hooks);
  let ctx = makeContext(config, opts.decider, log);
  const getContext = () => ctx;
  let policy: ConnectionPolicy = {
    peers: config.server.peers,
    maxConnections: config.server.max_connections,
    idleTimeoutMs: config.server.idle_timeout,
  };

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let listeners: ListenerSet | null = null;
  let stdioSession: Session | null = null;

  if (opts.stdio) {
    stdioSession = startStdio(getContext, () => resolveDone());
  } else {
    const fds = systemdFds(opts.env ?? process.env);
    listeners = await openListeners(config.listen, fds, getContext, () => policy, () => log);
    log.info({ listen: listeners.addresses(), systemd: fds.length > 0, pid: process.pid }, 'listening');
  }

  let shuttingDown: Promise<void> | null = null;

  return {
    counters,
    addresses: () => listeners?.addresses() ?? ['stdio'],
    openConnections: () => listeners?.sessions.size ?? (stdioSession ? 1 : 0),
    reload(newConfig, decider, newLog) {
      if (newLog) log = newLog;
      const before = JSON.stringify(config.listen.map((l) => l.endpoint.text));
      const after = JSON.stringify(newConfig.listen.map((l) => l.endpoint.text));
      if (before !== after) log.warn({ before, after }, 'listen changes need a restart; keeping the current listeners');
      config = newConfig;
      ctx = makeContext(newConfig, decider, log);
      policy = { peers: newConfig.server.peers, maxConnections: newConfig.server.max_connections, idleTimeoutMs: newConfig.server.idle_timeout };
    },
    shutdown() {
      if (shuttingDown) return shuttingDown;
      shuttingDown = (async () => {
        if (stdioSession) {
          stdioSession.drain();
          resolveDone();
          return;
        }
        if (!listeners) return;
        await listeners.stopAccepting();
        for (const { session } of listeners.sessions) session.drain();
        const deadline = Date.now() + config.server.shutdown_timeout;
        while (listeners.sessions.size > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        if (listeners.sessions.size > 0) {
          log.warn({ code: 'PI_SERVER_SHUTDOWN_TIMEOUT', open: listeners.sessions.size }, 'connections still open at shutdown_timeout; closing them');
          for (const { socket } of listeners.sessions) socket.destroy();
        }
        resolveDone();
      })();
      return shuttingDown;
    },
    done,
  };
}

/** Postfix spawn(8): one conversation on stdin/stdout; ends when stdin ends. */
function startStdio(getContext: () => ServerContext, onEnd: () => void): Session {
  const out = process.stdout;
  process.stdin.setEncoding('latin1');
  const session = new Session(
    getContext,
    {
      write: (s) => {
        out.write(s);
      },
      end: () => {
        out.end(() => onEnd());
      },
      // one request at a time, as on sockets (Postfix's spawn client never pipelines)
      pause: () => process.stdin.pause(),
      resume: () => process.stdin.resume(),
    },
    'stdio',
  );
  process.stdin.on('data', (c: string) => session.receive(c));
  process.stdin.on('end', () => session.drain());
  process.stdin.on('error', () => session.drain());
  out.on('error', () => {
    session.gone();
    onEnd();
  });
  return session;
}
