/**
 * limits/redis — the shared backend: Redis or Valkey, one server for a fleet.
 *
 * Client: ioredis 5 (already a dependency; speaks RESP2 to Redis 6/7 and
 * Valkey 7/8 alike; defineCommand gives EVALSHA with the EVAL fallback).
 * Each rule evaluation is ONE atomic server-side script, so two daemons can
 * never both take the last unit of a limit:
 *   GCRA_LUA      all windows of a rule in one hash "<prefix><rule>:<key>",
 *                 fields q<ms>/r<ms> (see algorithm.ts, of which it is a
 *                 line-by-line transcription), PEXPIRE = until the bucket
 *                 drains, so Redis never keeps an idle key.
 *   DISTINCT_LUA  HyperLogLogs (PFADD/PFCOUNT) in quarter-window buckets
 *                 "<prefix><rule>:<key>:d<ms>:<bucket>"; a window counts the
 *                 union of the current bucket and the 4 before it, i.e. the
 *                 values seen in the last T to 1.25 T; each bucket expires
 *                 when it leaves the union.
 * Auto-pipelining puts the scripts of all rules of one request (and of
 * concurrent requests) into one write: one round trip per request.
 *
 * Never blocks mail: no offline queue (a call while disconnected fails at
 * once), a per-command timeout (limits.redis.timeout, default 50 ms), no
 * resending of unanswered commands after a reconnect (a late count is worse
 * than a lost one), reconnects in the background with a capped backoff.
 *
 * What can go wrong: every failure rejects the returned promise (the limiter
 * applies on_backend_failure) and is logged through `onDown` by the limiter;
 * connection errors are logged here at most once per LOG_INTERVAL_MS with
 * code PI_LIMITS_BACKEND_DOWN; the return to service is logged at info.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

// ioredis is loaded only when a Redis backend is configured: importing it costs
// about 20 MB of RSS (measured: 41 -> 64 MB for a bare node), which every daemon
// on the memory backend would otherwise carry. It is a CommonJS package, so a
// synchronous require keeps this constructor synchronous.
const requireCjs = createRequire(import.meta.url);
let RedisClass: typeof import('ioredis').Redis | null = null;
function redisClass(): typeof import('ioredis').Redis {
  RedisClass ??= (requireCjs('ioredis') as typeof import('ioredis')).Redis;
  return RedisClass;
}
import type { Logger } from 'pino';
import { ErrorCodes } from '../errors.js';
import { credentialPath, redactUrl } from '../config/redact.js';
import type { Mode, Verdict } from './algorithm.js';
import type { Backend, BackendRule } from './backend.js';
import type { RedisConfig } from './config.js';

export const LOG_INTERVAL_MS = 30_000;

// KEYS[1] = state hash. ARGV = now, mode (0 peek, 1 consume, 2 force), cost,
// nwin, then max_i, ms_i per window. Returns {allowed, retry_ms, window, remaining}.
export const GCRA_LUA = `
local now = tonumber(ARGV[1])
local mode = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local nwin = tonumber(ARGV[4])
local fields = {}
for i = 1, nwin do
  fields[2 * i - 1] = 'q' .. ARGV[4 + 2 * i]
  fields[2 * i] = 'r' .. ARGV[4 + 2 * i]
end
local cur = redis.call('HMGET', KEYS[1], unpack(fields))
local allowed = 1
local retry = 0
local blocking = -1
local remaining = nil
local nextv = {}
for i = 1, nwin do
  local n = tonumber(ARGV[3 + 2 * i])
  local t = tonumber(ARGV[4 + 2 * i])
  local q = tonumber(cur[2 * i - 1]) or 0
  local r = tonumber(cur[2 * i]) or 0
  if q < now then q = now; r = 0 end
  if r >= n then r = n - 1 end
  local r2 = r + cost * t
  local q2 = q + math.floor(r2 / n)
  r2 = r2 % n
  local excess = (q2 - now) * n + r2 - t * n
  if excess > 0 then
    allowed = 0
    local wait = math.ceil(excess / n)
    if wait > retry then retry = wait; blocking = i - 1 end
  end
  if mode == 2 and q2 - now > 2 * t then q2 = now + 2 * t; r2 = 0 end
  nextv[2 * i - 1] = q2
  nextv[2 * i] = r2
  local uq, ur = q, r
  if mode == 2 or (mode == 1 and excess <= 0) then uq = q2; ur = r2 end
  local room = math.floor((t * n - ((uq - now) * n + ur)) / t)
  if remaining == nil or room < remaining then remaining = room end
end
if mode == 2 or (mode == 1 and allowed == 1) then
  local args = {}
  local ttl = 1
  for i = 1, nwin do
    args[4 * i - 3] = fields[2 * i - 1]
    args[4 * i - 2] = string.format('%.0f', nextv[2 * i - 1])
    args[4 * i - 1] = fields[2 * i]
    args[4 * i] = string.format('%.0f', nextv[2 * i])
    if nextv[2 * i - 1] - now + 1 > ttl then ttl = nextv[2 * i - 1] - now + 1 end
  end
  redis.call('HSET', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
end
if remaining < 0 then remaining = 0 end
return {allowed, retry, blocking, remaining}
`;

// KEYS = 5 bucket keys per window (current first), then one scratch key.
// ARGV = mode, value, nwin, then max_i, ttl_ms_i (current bucket), wait_ms_i
// (until the oldest bucket leaves the union). Returns as GCRA_LUA.
export const DISTINCT_LUA = `
local mode = tonumber(ARGV[1])
local value = ARGV[2]
local nwin = tonumber(ARGV[3])
local tmp = KEYS[#KEYS]
local allowed = 1
local retry = 0
local blocking = -1
local remaining = nil
for i = 1, nwin do
  local b = (i - 1) * 5
  local n = tonumber(ARGV[1 + 3 * i])
  local ttl = ARGV[2 + 3 * i]
  local wait = tonumber(ARGV[3 + 3 * i])
  local count
  if mode == 0 then
    redis.call('PFADD', tmp, value)
    count = redis.call('PFCOUNT', KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5], tmp)
    redis.call('DEL', tmp)
  else
    redis.call('PFADD', KEYS[b + 1], value)
    redis.call('PEXPIRE', KEYS[b + 1], ttl)
    count = redis.call('PFCOUNT', KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5])
  end
  if count > n then
    allowed = 0
    if wait > retry then retry = wait; blocking = i - 1 end
  end
  if remaining == nil or n - count < remaining then remaining = n - count end
end
if remaining < 0 then remaining = 0 end
return {allowed, retry, blocking, remaining}
`;

const BUCKETS = 5;

interface ScriptCommands {
  piGcra(key: string, ...args: Array<string | number>): Promise<[number, number, number, number]>;
  piDistinct(numKeys: number, ...args: Array<string | number>): Promise<[number, number, number, number]>;
}

// A shared rejection reason for calls while disconnected: fail fast, allocate little.
const NOT_CONNECTED = new Error('rate-limit backend not connected');

function toVerdict(r: [number, number, number, number]): Verdict {
  return { allowed: r[0] === 1, retryAfter: r[1], window: r[2], remaining: r[3] };
}

/** A configured file, `${CREDENTIALS_DIRECTORY}` expanded (systemd LoadCredential=). */
function filePath(p: string, env: NodeJS.ProcessEnv): string {
  const f = credentialPath(p, env);
  if (f === null) throw new Error(`${p}: CREDENTIALS_DIRECTORY is not set (the unit needs LoadCredential=)`);
  return f;
}

export function redisOptions(cfg: RedisConfig, env: NodeJS.ProcessEnv = process.env): { target: string | null; options: RedisOptions } {
  const options: RedisOptions = {
    connectTimeout: cfg.connect_timeout,
    commandTimeout: cfg.timeout,
    enableOfflineQueue: false,
    // reject in-flight commands as soon as the connection drops, and never
    // resend them later (a count applied seconds late would be wrong)
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'policyd-identity',
    lazyConnect: false,
  };
  if (cfg.username !== null) options.username = cfg.username;
  if (cfg.password !== null) options.password = cfg.password;
  if (cfg.password_file !== null) options.password = readFileSync(filePath(cfg.password_file, env), 'utf8').trim();
  if (cfg.tls !== null) {
    const t = cfg.tls;
    options.tls = {
      rejectUnauthorized: t.verify,
      ...(t.ca_file !== null ? { ca: readFileSync(filePath(t.ca_file, env)) } : {}),
      ...(t.cert_file !== null ? { cert: readFileSync(filePath(t.cert_file, env)) } : {}),
      ...(t.key_file !== null ? { key: readFileSync(filePath(t.key_file, env)) } : {}),
      ...(t.servername !== null ? { servername: t.servername } : {}),
    };
  }
  if (cfg.url.startsWith('unix:')) return { target: null, options: { ...options, path: cfg.url.slice(5) } };
  return { target: cfg.url, options };
}

export class RedisBackend implements Backend {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly cmds: ScriptCommands;
  private readonly prefix: string;
  private readonly tmpKey: string;
  /** per rule id: "max, ms" arguments, built once */
  private readonly windowArgs = new Map<string, Array<string | number>>();
  private lastConnLog = 0;
  private wasUp = false;
  private closed = false;

  constructor(private readonly cfg: RedisConfig, private readonly log: Logger) {
    this.prefix = cfg.prefix;
    this.tmpKey = `${cfg.prefix}tmp`;
    let opts: ReturnType<typeof redisOptions>;
    try {
      opts = redisOptions(cfg);
    } catch (e) {
      // unreadable password/TLS file: check-config reports it; here the backend stays down
      log.warn({ code: 'PI_LIMITS_BACKEND_DOWN', err: (e as Error).message }, 'rate-limit backend: cannot read its configured files');
      opts = { target: cfg.url, options: { ...redisOptions({ ...cfg, password_file: null, tls: null }).options, lazyConnect: true } };
      this.closed = true;
    }
    const RedisCtor = redisClass();
    this.redis = opts.target === null ? new RedisCtor(opts.options) : new RedisCtor(opts.target, opts.options);
    this.redis.defineCommand('piGcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.redis.defineCommand('piDistinct', { lua: DISTINCT_LUA });
    this.cmds = this.redis as unknown as ScriptCommands;
    this.redis.on('ready', () => {
      if (!this.wasUp) log.info({ backend: 'redis', url: safeUrl(cfg.url) }, 'rate-limit backend connected');
      this.wasUp = true;
    });
    this.redis.on('error', (err: Error) => this.connectionTrouble(err.message));
    this.redis.on('close', () => { if (this.wasUp && !this.closed) this.connectionTrouble('connection closed'); this.wasUp = false; });
  }

  private connectionTrouble(reason: string): void {
    const now = Date.now();
    if (now - this.lastConnLog < LOG_INTERVAL_MS) return;
    this.lastConnLog = now;
    this.log[ErrorCodes.PI_LIMITS_BACKEND_DOWN.level]({ code: 'PI_LIMITS_BACKEND_DOWN', backend: 'redis', url: safeUrl(this.cfg.url), reason },
      'rate-limit backend unavailable; reconnecting in the background');
  }

  private argsOf(rule: BackendRule): Array<string | number> {
    let a = this.windowArgs.get(rule.id);
    if (a === undefined) {
      a = [];
      for (const w of rule.windows) a.push(w.max, w.ms);
      this.windowArgs.set(rule.id, a);
    }
    return a;
  }

  gcra(rule: BackendRule, key: string, cost: number, mode: Mode, now: number): Promise<Verdict> {
    if (this.redis.status !== 'ready') return Promise.reject(NOT_CONNECTED);
    return this.cmds
      .piGcra(`${this.prefix}${rule.id}:${key}`, now, mode, cost, rule.windows.length, ...this.argsOf(rule))
      .then(toVerdict);
  }

  distinct(rule: BackendRule, key: string, value: string, mode: Mode, now: number): Promise<Verdict> {
    if (this.redis.status !== 'ready') return Promise.reject(NOT_CONNECTED);
    const keys: string[] = [];
    const args: Array<string | number> = [mode, value, rule.windows.length];
    for (const w of rule.windows) {
      const size = w.ms / 4; // quarter-window buckets
      const idx = Math.floor(now / size);
      for (let b = 0; b < BUCKETS; b++) keys.push(`${this.prefix}${rule.id}:${key}:d${w.ms}:${idx - b}`);
      // the current bucket is counted until 4 more have started
      args.push(w.max, Math.ceil((idx + BUCKETS) * size - now), Math.ceil((idx + 1) * size - now));
    }
    keys.push(this.tmpKey);
    return this.cmds.piDistinct(keys.length, ...keys, ...args).then(toVerdict);
  }

  up(): boolean {
    return this.redis.status === 'ready';
  }

  ready(): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => { clearTimeout(timer); this.redis.off('ready', onReady); resolve(ok); };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), this.cfg.connect_timeout);
      this.redis.on('ready', onReady);
    });
  }

  size(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.redis.status === 'end') return;
    if (this.redis.status !== 'ready') { this.redis.disconnect(); return; }
    // QUIT lets pending replies arrive; bounded, then cut the socket
    const timer = setTimeout(() => this.redis.disconnect(), 1000);
    try { await this.redis.quit(); } catch { this.redis.disconnect(); } finally { clearTimeout(timer); }
  }
}

/** The URL without its password, for logs (parsed: user info and query, see config/redact.ts). */
export function safeUrl(url: string): string {
  return redactUrl(url);
}
