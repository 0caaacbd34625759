/**
 * limits/config — the `limits:` section of the config (rate limits).
 *
 * Owned by the rate-limits module; config/schema.ts includes `limitsSpec`
 * as-is. Every problem is reported through the spec DSL at the key path of
 * the offending value, so the loader names file:line:column.
 *
 * A rule, as written:
 *   - id: per-client-net            # check id becomes limit:per-client-net
 *     key: client_network           # or a list: [sasl_username, client_address]
 *     network: { ipv4: 24, ipv6: 64 }
 *     unit: recipients              # what one event is: messages (default) | recipients
 *     charge_on: accepted           # which mail uses up the limit: accepted (default) | attempts
 *     limit: [ "300/1h", "2000/1d" ]
 *     action: defer                 # + code, message, score
 *     only: { sasl: true }          # every condition given must hold
 *     except: { clients: [10.0.0.0/8] }   # any condition given exempts
 *     on_backend_failure: skip      # skip (fail open) | defer
 *
 * `unit` and `charge_on` were called `counts` and `count` (one letter apart,
 * easy to swap): the old names are still read, with a PI_CONFIG_DEPRECATED
 * warning that check-config prints (OLD_RULE_KEYS).
 *
 * `crossCheck(config)` holds the checks that need other sections (workers):
 * the lead calls it from check-config and at start.
 *
 * What can go wrong: nothing throws; problems are ConfigIssues. crossCheck
 * returns plain strings.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import {
  obj, field, str, int, num, bool, oneOf, duration, nullable, list, refine, custom, issue, warning, BAD, showValue,
  type Spec, type SpecType, type Path, type Ctx,
} from '../config/spec.js';
import { parseDuration, formatDuration } from '../config/duration.js';
import { credentialPath, redactUrl } from '../config/redact.js';
import { compileCidrs } from '../net/ip.js';
import { normalizeDomain } from '../net/identity.js';
import { normalizeReplyCode } from '../protocol/action.js';
import type { CheckAction } from '../checks/types.js';

/** Request attributes a rule can be keyed by (or count distinct values of). */
export const KEY_ATTRS = [
  'client_address', 'client_network', 'helo_name', 'sender', 'sender_domain', 'sasl_username', 'recipient_domain',
] as const;
export type KeyAttr = (typeof KEY_ATTRS)[number];

const LIMIT_ACTIONS = ['reject', 'defer', 'defer_if_permit', 'discard', 'hold', 'disconnect', 'warn', 'off'] as const satisfies readonly CheckAction[];

/** Bounds that keep the exact integer arithmetic of algorithm.ts below 2^53 (see there). */
export const MAX_EVENTS = 1_000_000;
export const MAX_WINDOW_MS = 31 * 86_400_000;
export const MIN_WINDOW_MS = 1000;
/** distinct rules keep up to limit+1 values per key in memory */
export const MAX_DISTINCT = 10_000;
export const MAX_WINDOWS = 8;

export const DEFAULT_LIMIT_CODE = '450 4.7.1';
export const DEFAULT_LIMIT_MESSAGE = 'rate limit exceeded: {limit} for {key}, try again in {retry_after}';

/** One window of a rule: at most `max` events per `ms` milliseconds. */
export interface LimitWindow {
  readonly max: number;
  readonly ms: number;
  /** as an admin reads it: "300 per 1h" */
  readonly text: string;
}

/** "300/1h", "300 per 1h", "300/h", "2000 per day". */
export function parseLimit(v: unknown): LimitWindow | string {
  if (typeof v !== 'string') return `expected a limit like "100/1h", got ${JSON.stringify(v)}`;
  const m = /^\s*(\d+)\s*(?:\/|per\s)\s*(.+?)\s*$/.exec(v);
  if (!m) return `expected a limit like "100/1h" or "100 per 1h", got ${JSON.stringify(v)}`;
  const max = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const words: Record<string, string> = { second: '1s', minute: '1m', hour: '1h', day: '1d', week: '1w', s: '1s', m: '1m', h: '1h', d: '1d', w: '1w' };
  const ms = parseDuration(words[unit] ?? unit);
  if (ms === null) return `bad window in ${JSON.stringify(v)}: expected a duration like 10m, 1h, 1d`;
  if (max < 1 || max > MAX_EVENTS) return `the count in ${JSON.stringify(v)} must be 1..${MAX_EVENTS}`;
  if (ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) return `the window in ${JSON.stringify(v)} must be 1s..31d`;
  return { max, ms, text: `${max} per ${formatDuration(ms)}` };
}

const limitList: Spec<LimitWindow[]> = {
  describe: 'a limit like "100/1h", or a list of them',
  parse(v, path, ctx) {
    const items = Array.isArray(v) ? v : [v];
    if (items.length === 0) return issue(ctx, path, 'needs at least one limit like "100/1h"');
    if (items.length > MAX_WINDOWS) return issue(ctx, path, `at most ${MAX_WINDOWS} windows per rule`);
    const out: LimitWindow[] = [];
    let bad = false;
    items.forEach((item, i) => {
      const at = Array.isArray(v) ? [...path, i] : path;
      const w = parseLimit(item);
      if (typeof w === 'string') { issue(ctx, at, w); bad = true; return; }
      // windows are stored per duration (Redis hash fields), so each duration once
      if (out.some((o) => o.ms === w.ms)) { issue(ctx, at, `two limits with the same window ${formatDuration(w.ms)}`); bad = true; return; }
      out.push(w);
    });
    return bad ? BAD : out;
  },
  show: (ws) => ws.map((w) => `${w.max}/${formatDuration(w.ms)}`),
};

const keyList: Spec<KeyAttr[]> = {
  describe: `one of ${KEY_ATTRS.join(', ')}, or a list of them`,
  parse(v, path, ctx) {
    const items = Array.isArray(v) ? v : [v];
    if (items.length === 0) return issue(ctx, path, 'needs at least one key attribute');
    const out: KeyAttr[] = [];
    let bad = false;
    items.forEach((item, i) => {
      const at = Array.isArray(v) ? [...path, i] : path;
      if (typeof item !== 'string' || !(KEY_ATTRS as readonly string[]).includes(item)) {
        issue(ctx, at, `expected one of ${KEY_ATTRS.join(', ')}, got ${JSON.stringify(item)}`);
        bad = true;
      } else if (out.includes(item as KeyAttr)) {
        issue(ctx, at, `key attribute ${item} is listed twice`);
        bad = true;
      } else out.push(item as KeyAttr);
    });
    return bad ? BAD : out;
  },
};

const domainList = field(
  refine(list(str({ nonEmpty: true })), 'a list of domain names', (l) => l.map((d) => normalizeDomain(d.replace(/^\*?\./, '')))),
  [],
);

/** only/except conditions; empty lists and null mean "no condition". */
const selectorSpec = obj({
  sasl: field(nullable(bool()), null, 'true: SASL-authenticated clients; false: unauthenticated ones'),
  clients: field(refine(list(str()), 'a list of IP addresses or CIDR prefixes', (l) => compileCidrs(l)), () => compileCidrs([])),
  sender_domains: domainList,
  recipient_domains: domainList,
  server_ports: field(list(int({ min: 1, max: 65535 })), [], 'the port the client connected to (Postfix server_port)'),
  policy_contexts: field(list(str({ nonEmpty: true })), [], 'check_policy_service { ..., policy_context=NAME } (Postfix 3.1+)'),
});
export type Selector = SpecType<typeof selectorSpec>;

const replyCode = refine(str(), 'a reply code like "450 4.7.1"', (s) => {
  const c = normalizeReplyCode(s);
  if (c === null) throw new Error(`expected a 4xx/5xx reply code like "450 4.7.1", got ${JSON.stringify(s)}`);
  return c;
});

const ruleFields = obj({
  id: field(str({ pattern: /^[a-z0-9][a-z0-9_-]{0,62}$/, patternDescribe: 'a rule id of lower-case letters, digits, _ and - (at most 63)' })),
  key: field(keyList),
  network: field(
    obj({
      ipv4: field(int({ min: 8, max: 32 }), 24),
      ipv6: field(int({ min: 16, max: 128 }), 64),
    }),
  ),
  unit: field(nullable(oneOf(['messages', 'recipients'] as const)), null),
  charge_on: field(nullable(oneOf(['accepted', 'attempts'] as const)), null),
  distinct: field(nullable(oneOf(KEY_ATTRS)), null),
  limit: field(limitList),
  action: field(oneOf(LIMIT_ACTIONS), 'defer'),
  code: field(nullable(replyCode), DEFAULT_LIMIT_CODE),
  message: field(str(), DEFAULT_LIMIT_MESSAGE),
  score: field(num(), 0),
  only: field(selectorSpec),
  except: field(selectorSpec),
  on_backend_failure: field(oneOf(['skip', 'defer'] as const), 'skip'),
});

/** A validated rule, `unit`/`charge_on` resolved. */
export interface LimitRuleConfig extends Omit<SpecType<typeof ruleFields>, 'unit' | 'charge_on'> {
  unit: 'messages' | 'recipients';
  charge_on: 'accepted' | 'attempts';
}

/** Old rule key -> its name now (renamed because `counts` and `count` were one letter apart). */
export const OLD_RULE_KEYS: Readonly<Record<string, string>> = { counts: 'unit', count: 'charge_on' };

/** The rule with old key names renamed (a warning each); both names at once is an error. */
function renameOldKeys(v: unknown, path: Path, ctx: Ctx): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const o = v as Record<string, unknown>;
  if (!Object.keys(OLD_RULE_KEYS).some((k) => k in o)) return v;
  const out: Record<string, unknown> = { ...o };
  for (const [old, now] of Object.entries(OLD_RULE_KEYS)) {
    if (!(old in o)) continue;
    if (now in o) {
      issue(ctx, [...path, old], `"${old}" is the old name of "${now}"; give only "${now}"`, true);
      continue;
    }
    warning(ctx, [...path, old], `"${old}" is now called "${now}" (${now}: ${JSON.stringify(o[old])}); the old name is still read`);
    out[now] = o[old];
    delete out[old];
  }
  return out;
}

/** Checks between the fields of one rule; each issue points at the field to change. */
const ruleSpec: Spec<LimitRuleConfig> = {
  describe: 'a rate-limit rule (id, key, limit, ...)',
  parse(v, path, ctx) {
    const before = ctx.issues.length;
    const r = ruleFields.parse(renameOldKeys(v, path, ctx), path, ctx);
    if (r === BAD || ctx.issues.length > before) return BAD;
    if (r.distinct !== null) {
      if (r.key.includes(r.distinct)) issue(ctx, [...path, 'distinct'], `distinct: ${r.distinct} is also the rule's key; count distinct values of another attribute`);
      if (r.unit !== null) issue(ctx, [...path, 'unit'], 'unit does not apply to a distinct rule (it counts distinct values); remove it');
      for (const w of r.limit) {
        if (w.max > MAX_DISTINCT) issue(ctx, [...path, 'limit'], `a distinct rule allows at most ${MAX_DISTINCT} values per window, got ${w.max}`);
      }
    }
    // distinct values are seen when they are presented, so distinct rules count attempts by default
    const chargeOn = r.charge_on ?? (r.distinct !== null ? 'attempts' : 'accepted');
    const usesRecipient = r.key.includes('recipient_domain') || r.distinct === 'recipient_domain';
    if (usesRecipient && chargeOn === 'accepted') {
      issue(ctx, [...path, r.charge_on === null ? 'key' : 'charge_on'],
        'recipient_domain is only known at RCPT (Postfix sends no recipients at END-OF-MESSAGE when there are several): set charge_on: attempts');
    }
    if (ctx.issues.length > before) return BAD;
    return { ...r, unit: r.unit ?? 'messages', charge_on: chargeOn };
  },
  fields: ruleFields.fields,
  show(r) {
    const shown = showValue(ruleFields, r) as Record<string, unknown>;
    // a distinct rule counts distinct values: `unit` would be refused
    if (r.distinct !== null) delete shown.unit;
    return shown;
  },
};

const rulesSpec: Spec<LimitRuleConfig[]> = {
  describe: 'a list of rate-limit rules',
  parse(v, path, ctx) {
    const rules = list(ruleSpec).parse(v, path, ctx);
    if (rules === BAD) return BAD;
    const seen = new Set<string>();
    let bad = false;
    rules.forEach((r, i) => {
      if (seen.has(r.id)) { issue(ctx, [...path, i, 'id'], `rule id "${r.id}" is used twice`); bad = true; }
      seen.add(r.id);
    });
    return bad ? BAD : rules;
  },
  show: (rules) => rules.map((r) => showValue(ruleSpec, r)),
  item: ruleSpec,
};

/** tls: false | true | { ca_file, cert_file, key_file, servername, verify } */
export interface RedisTls {
  ca_file: string | null;
  cert_file: string | null;
  key_file: string | null;
  servername: string | null;
  verify: boolean;
}
const tlsFields = obj({
  ca_file: field(nullable(str({ nonEmpty: true })), null),
  cert_file: field(nullable(str({ nonEmpty: true })), null),
  key_file: field(nullable(str({ nonEmpty: true })), null),
  servername: field(nullable(str({ nonEmpty: true })), null),
  verify: field(bool(), true),
});
const tlsSpec: Spec<RedisTls | null> = {
  describe: 'true, false, or a mapping with ca_file, cert_file, key_file, servername, verify',
  fields: tlsFields.fields,
  parse(v: unknown, path: Path, ctx: Ctx) {
    if (v === false || v === null || v === undefined) return null;
    if (v === true) return { ca_file: null, cert_file: null, key_file: null, servername: null, verify: true };
    return tlsFields.parse(v, path, ctx);
  },
};

const redisUrl = custom<string>('a redis://, rediss:// or unix:/path URL', (v, fail) => {
  if (typeof v !== 'string') return fail(`expected a redis://HOST:PORT/DB, rediss://... or unix:/path URL, got a ${typeof v}`);
  if (v.startsWith('unix:') || v.startsWith('/')) return v;
  try {
    const u = new URL(v);
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return fail(`expected a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(v))}`);
    if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d{1,2}$/.test(u.pathname)) return fail(`the path of a Redis URL is a database number, got ${JSON.stringify(u.pathname)}`);
    return v;
  } catch {
    return fail('not a URL (the value is not repeated here: it may hold a password)');
  }
});

export const limitsSpec = obj({
  backend: field(oneOf(['memory', 'redis'] as const), 'memory'),
  max_keys: field(int({ min: 1, max: 100_000_000 }), 100_000),
  // Postfix's smtpd_recipient_limit (default 1000): the most recipients one message can have
  max_recipient_count: field(int({ min: 1, max: 10_000_000 }), 1000),
  redis: field(
    obj({
      url: field(redisUrl, 'redis://127.0.0.1:6379'),
      username: field(nullable(str({ nonEmpty: true })), null),
      password: field(nullable(str()), null),
      password_file: field(nullable(str({ nonEmpty: true })), null),
      tls: field(tlsSpec, null),
      prefix: field(str({ pattern: /^[\x21-\x7e]{0,64}$/, patternDescribe: 'a key prefix of printable characters (at most 64)' }), 'policyd-identity:'),
      timeout: field(duration({ min: 1, max: 5000 }), 50),
      connect_timeout: field(duration({ min: 10, max: 60_000 }), 1000),
    }),
  ),
  rules: field(rulesSpec, []),
});

export type LimitsConfig = SpecType<typeof limitsSpec>;
export type RedisConfig = LimitsConfig['redis'];

/**
 * Checks that need more than the limits section. Returns one message per
 * problem ('' never); empty when all is well. `check-config` prints them and
 * the daemon refuses to start on any.
 */
export function crossCheck(config: { workers: number; limits: LimitsConfig }): string[] {
  const errors: string[] = [];
  const l = config.limits;
  if (config.workers > 1 && l.backend === 'memory' && l.rules.length > 0) {
    errors.push(`limits: backend memory keeps counters inside one process; with workers: ${config.workers} each worker would count on its own `
      + 'and a client would get workers x the limit. Use limits.backend: redis (a local redis-server or valkey-server is enough), or workers: 1');
  }
  if (l.backend === 'redis') {
    const files: Array<[string, string | null]> = [
      ['limits.redis.password_file', l.redis.password_file],
      ['limits.redis.tls.ca_file', l.redis.tls?.ca_file ?? null],
      ['limits.redis.tls.cert_file', l.redis.tls?.cert_file ?? null],
      ['limits.redis.tls.key_file', l.redis.tls?.key_file ?? null],
    ];
    for (const [name, file] of files) {
      if (file === null) continue;
      // ${CREDENTIALS_DIRECTORY}/name outside the unit: only the unit's own run can check it
      const path = credentialPath(file);
      if (path === null) continue;
      try { accessSync(path, fsConstants.R_OK); } catch (e) { errors.push(`${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`); }
    }
    if (l.redis.password !== null && l.redis.password_file !== null) errors.push('limits.redis: give password or password_file, not both');
    if (l.redis.tls !== null && l.redis.tls.cert_file !== null && l.redis.tls.key_file === null) errors.push('limits.redis.tls: cert_file needs key_file');
  }
  return errors;
}
