/**
 * setup — everything the engine compiles once from a config (EngineSetup):
 * the settings tables (base and overrides), allowlists, on_tempfail, scoring,
 * the header, the identity cache, the hooks to metrics and logs. Every
 * per-request step (evaluate, run-checks, combine, explain) reads it; none
 * of them sees the Config itself.
 *
 * It also finds settings that are valid but cannot do what they say, as
 * warnings (check-config prints them, serve logs them at start): an override
 * that can never match, a rate-limit override for a rule that does not
 * exist, DISCARD/HOLD where Postfix cannot carry them out (states.ts).
 *
 * What can go wrong: nothing throws for a config the schema accepted; a
 * hook (onFinding, onError) that throws is caught and ignored.
 */
import type { Config } from '../config/types.js';
import type { ErrorCode } from '../errors.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { DnsLookup } from '../dns/types.js';
import { CHECKS } from '../checks/index.js';
import type { ActionSettings, CheckDef, CheckSettings, Finding } from '../checks/types.js';
import { BLOCKING, compileAction, compileTempfailAction, type CompiledAction } from './actions.js';
import { compileAllowlist, DomainSet, type Allowlist } from './allowlist.js';
import { compileTables, type CompiledOverride, type SettingsTable } from './overrides.js';
import { compileHeader, type HeaderRenderer } from './header.js';
import { FindingsCache } from './findings-cache.js';

/** The part of the rate limiter (src/limits/limiter.ts) the engine uses. */
export interface LimiterLike {
  evaluate(req: PolicyRequest, id: Identity, now?: number): Promise<Finding[]>;
  record(req: PolicyRequest, id: Identity, now?: number): Promise<void>;
}

export interface EngineDeps {
  /** CachingResolver (src/dns/resolver.ts): a DNS view bounded by the request deadline */
  dns: { scoped(deadlineAt: number): DnsLookup };
  /** absent (no limits.rules): no rate limits, and a warm decision stays synchronous */
  limiter?: LimiterLike | null;
  /** default: the CHECKS registry; tests inject fakes */
  checks?: readonly CheckDef[];
  now?: () => number;
  /** metrics: every freshly computed check finding and every limit finding */
  onFinding?: (f: Finding) => void;
  /** logging: unexpected errors (a check crashed, a limiter threw, ...) */
  onError?: (code: ErrorCode, err: unknown, detail: string) => void;
  /** cross-connection identity-findings cache; false disables (default: config identity_cache) */
  identityCache?: { ttlMs: number; maxEntries: number; maxBytes?: number } | false;
}

export interface EngineCounters {
  decisions: number;
  /** requests whose identity findings all came from the instance memo */
  instanceHits: number;
  checksRun: number;
  internalErrors: number;
}

export interface ScoringSetup {
  readonly enabled: boolean;
  readonly rejectAt: number | null;
  readonly deferAt: number | null;
  readonly reject: CompiledAction;
  readonly defer: CompiledAction;
}

/** What the engine compiled from one config; read-only for every request. */
export interface EngineSetup {
  readonly defs: readonly CheckDef[];
  /** the settings the checks read (CheckContext.settings) */
  readonly checkSettings: CheckSettings;
  readonly dns: EngineDeps['dns'];
  readonly limiter: LimiterLike | null;
  readonly clock: () => number;
  readonly allowlist: Allowlist;
  readonly allowOk: boolean;
  readonly base: SettingsTable;
  readonly overrides: readonly CompiledOverride[];
  readonly onTempfail: CompiledAction;
  readonly scoring: ScoringSetup;
  readonly header: HeaderRenderer | null;
  readonly deadlineMs: number;
  readonly dryRun: boolean;
  /** judge_after_data: judge identity at DATA/END-OF-MESSAGE for an instance not seen before */
  readonly judgeAfterData: boolean;
  readonly cache: FindingsCache | null;
  readonly counters: EngineCounters;
  /** marks the per-connection memos this engine wrote (a reload starts afresh) */
  readonly owner: object;
  readonly warnings: readonly string[];
  warn(msg: string): void;
  /** metrics hook, guarded */
  emit(f: Finding): void;
  /** logging hook, guarded */
  report(code: ErrorCode, err: unknown, detail: string): void;
  /** a limit's backend-failure action, when it is a class-4 deferral (else null) */
  backendFailureAction(check: string, a: ActionSettings): CompiledAction | null;
  /** what a DISCARD/HOLD becomes where Postfix cannot carry it out (states.ts) */
  withoutDelegation(a: CompiledAction): CompiledAction;
}

/** The settings a check reads, picked from the config (CheckSettings). */
export function checkSettings(config: Pick<Config, 'identity' | 'providers' | 'dns' | 'header' | 'checks'>): CheckSettings {
  return {
    identity: {
      my_names: config.identity.my_names,
      my_addresses: config.identity.my_addresses,
      public_networks: config.identity.public_networks,
    },
    providers: config.providers,
    header: { authserv_id: config.header.authserv_id },
    checks: config.checks.helo_invalid !== undefined ? { helo_invalid: { syntax: config.checks.helo_invalid.syntax } } : {},
    dns: { max_ptr_names: config.dns.max_ptr_names },
  };
}

export function compileSetup(config: Config, deps: EngineDeps): EngineSetup {
  const defs: readonly CheckDef[] = deps.checks ?? CHECKS;
  const warnings: string[] = [];
  const warn = (m: string) => {
    if (!warnings.includes(m)) warnings.push(m);
  };
  const onFinding = deps.onFinding;
  const onError = deps.onError;

  const { base, overrides } = compileTables(config.checks, config.overrides, defs, warn);
  const onTempfail = compileTempfailAction(config.on_tempfail, warn);

  const rejectAt = config.scoring.reject_at;
  const deferAt = config.scoring.defer_at;
  if ((rejectAt !== null && rejectAt <= 0) || (deferAt !== null && deferAt <= 0)) {
    warn('scoring thresholds <= 0 only take effect when at least one failed check carries a score');
  }
  const scoring: ScoringSetup = {
    enabled: rejectAt !== null || deferAt !== null,
    rejectAt,
    deferAt,
    reject: compileAction('scoring', { action: 'reject', code: '550 5.7.1', message: config.scoring.message }, warn),
    defer: compileAction('scoring', { action: 'defer', code: '450 4.7.1', message: config.scoring.message }, warn),
  };

  const ic = config.identity_cache;
  const cacheOpts = deps.identityCache === undefined ? { ttlMs: ic.ttl, maxEntries: ic.size, maxBytes: ic.max_bytes } : deps.identityCache;
  const cache = cacheOpts === false || cacheOpts.ttlMs <= 0 || cacheOpts.maxEntries <= 0 || cacheOpts.maxBytes === 0
    ? null
    : new FindingsCache(cacheOpts.ttlMs, cacheOpts.maxEntries, defs.length, cacheOpts.maxBytes);

  // Compiled once per distinct limit failure action (the limiter shares one frozen object).
  const backendFailureCache = new WeakMap<ActionSettings, CompiledAction | null>();
  const backendFailureAction = (check: string, a: ActionSettings): CompiledAction | null => {
    let c = backendFailureCache.get(a);
    if (c === undefined) {
      const compiled = a.action === 'defer' ? compileAction(check, { action: 'defer', code: a.code ?? null, message: a.message ?? '', score: 0 }, warn) : null;
      c = compiled !== null && compiled.severity >= BLOCKING ? compiled : null;
      backendFailureCache.set(a, c);
    }
    return c;
  };

  // DISCARD -> REJECT, HOLD -> DEFER where Postfix cannot carry them out; compiled once per action.
  const undelegated = new WeakMap<CompiledAction, CompiledAction>();
  const withoutDelegation = (a: CompiledAction): CompiledAction => {
    if (a.action !== 'discard' && a.action !== 'hold') return a;
    let c = undelegated.get(a);
    if (c === undefined) {
      c = { ...compileAction('', { action: a.action === 'discard' ? 'reject' : 'defer', code: null, message: '' }, () => {}), template: a.template, score: a.score };
      undelegated.set(a, c);
    }
    return c;
  };

  findUnreachableSettings(config, base, overrides, defs, warn);

  return {
    defs,
    checkSettings: checkSettings(config),
    dns: deps.dns,
    limiter: deps.limiter ?? null,
    clock: deps.now ?? Date.now,
    allowlist: compileAllowlist(config.allow),
    allowOk: config.allow.action === 'ok',
    base,
    overrides,
    onTempfail,
    scoring,
    header: compileHeader(config.header, defs, config.identity.my_names),
    deadlineMs: config.dns.deadline,
    dryRun: config.mode === 'warn',
    judgeAfterData: config.judge_after_data,
    cache,
    counters: { decisions: 0, instanceHits: 0, checksRun: 0, internalErrors: 0 },
    owner: {},
    warnings,
    warn,
    emit(f) {
      if (onFinding === undefined) return;
      try {
        onFinding(f);
      } catch {
        /* a metrics hook must not break a decision */
      }
    },
    report(code, err, detail) {
      try {
        onError?.(code, err, detail);
      } catch {
        /* a logging hook must not break a decision */
      }
    },
    backendFailureAction,
    withoutDelegation,
  };
}

/**
 * Settings that are valid but can never take effect as written. Each warning
 * says why and what to do instead.
 */
function findUnreachableSettings(
  config: Config,
  base: SettingsTable,
  overrides: readonly CompiledOverride[],
  defs: readonly CheckDef[],
  warn: (msg: string) => void,
): void {
  const rules = new Set(config.limits.rules.map((r) => `limit:${r.id}`));
  config.overrides.forEach((o, n) => {
    const name = overrides[n]?.name ?? `overrides[${n}]`;
    const checkKeys = Object.keys(o.checks).filter((k) => !k.startsWith('limit:'));
    // allow.* skips identity checks, so the check settings of an override whose
    // every match is allowlisted never apply (its limit: settings still do).
    // (Match fields are ANDed: one field whose every value is allowlisted is enough.)
    const bySasl = o.match.sasl === true && config.allow.sasl;
    const byClients = o.match.clients.size > 0 && o.match.clients.toJSON().every((c) => coveredBy(config.allow.clients.toJSON(), c));
    const bySender = o.match.sender_domains.length > 0 && allCovered(config.allow.sender_domains, o.match.sender_domains);
    if ((bySasl || byClients || bySender) && checkKeys.length > 0) {
      const why = bySasl ? 'match sasl: true while allow.sasl: true'
        : byClients ? 'every match.clients network is in allow.clients'
          : 'every match.sender_domains domain is in allow.sender_domains';
      warn(`overrides[${n}] (${name}): ${why}, so identity checks are skipped for every request it matches and its settings for ${checkKeys.join(', ')} never apply (only limit: settings do)`);
    }
    for (const k of Object.keys(o.checks)) {
      if (k.startsWith('limit:') && !rules.has(k)) {
        warn(`overrides[${n}] (${name}): ${k} names no rule in limits.rules, so it never applies (rules: ${[...rules].join(', ') || 'none'})`);
      }
    }
    // An earlier entry that matches every request this one matches takes them
    // all (first match wins): one without match fields (compileTables warns
    // about it too), or one whose every field is at most as narrow.
    for (let k = 0; k < n; k++) {
      const e = config.overrides[k]!.match;
      if (e.recipient_domains.length === 0 && e.sender_domains.length === 0 && e.clients.size === 0 && e.sasl === null) {
        warn(`overrides[${n}] (${name}) never matches: overrides[${k}] before it matches every request`);
        break;
      }
      if (shadows(e, o.match)) {
        warn(`overrides[${n}] (${name}) never matches: overrides[${k}] (${overrides[k]?.name ?? k}) before it matches every request it would match`);
        break;
      }
    }
  });

  // Rate-limit conditions on the recipient where the message is counted:
  // Postfix sends no recipient at END-OF-MESSAGE when there are several.
  for (const r of config.limits.rules) {
    if (r.charge_on !== 'accepted') continue;
    const on = [r.only.recipient_domains.length > 0 ? 'only' : '', r.except.recipient_domains.length > 0 ? 'except' : ''].filter((x) => x !== '');
    if (on.length === 0) continue;
    warn(`limits.rules ${r.id}: ${on.map((x) => `${x}.recipient_domains`).join(', ')} with charge_on: accepted: the message is counted at END-OF-MESSAGE, where Postfix sends no recipient when there are several, so a message to several recipients is counted as if none matched (only: not counted; except: counted); set charge_on: attempts`);
  }

  // DISCARD/HOLD where Postfix cannot carry them out (states.ts).
  const places: string[] = [];
  defs.forEach((d, i) => {
    const a = base.settings[i]!.action;
    if (a === 'discard' || a === 'hold') places.push(`checks.${d.id}: ${a}`);
  });
  overrides.forEach((o, n) => {
    defs.forEach((d, i) => {
      const a = o.table.settings[i]!.action;
      if ((a === 'discard' || a === 'hold') && a !== base.settings[i]!.action) places.push(`overrides[${n}].checks.${d.id}: ${a}`);
    });
  });
  // (Rate-limit rules are checked at RCPT only, where both are carried out: no warning for them.)
  if (places.length > 0) {
    warn(`${places.join(', ')}: Postfix cannot DISCARD or HOLD at CONNECT, EHLO, HELO (smtpd_delay_reject = no), VRFY or ETRN; there the daemon answers REJECT instead of DISCARD and DEFER instead of HOLD (at MAIL, RCPT, DATA and END-OF-MESSAGE they are answered as configured)`);
  }
}

type Match = Config['overrides'][number]['match'];

/**
 * Does every request that `later` matches also match `earlier`? Each field
 * `earlier` gives must be given by `later` and be at least as wide there
 * (a field `later` leaves open can take any value).
 */
function shadows(earlier: Match, later: Match): boolean {
  if (earlier.sasl !== null && earlier.sasl !== later.sasl) return false;
  if (earlier.clients.size > 0) {
    const outer = earlier.clients.toJSON();
    if (later.clients.size === 0 || !later.clients.toJSON().every((c) => coveredBy(outer, c))) return false;
  }
  for (const f of ['recipient_domains', 'sender_domains'] as const) {
    if (earlier[f].length === 0) continue;
    if (later[f].length === 0 || !allCovered(earlier[f], later[f])) return false;
  }
  return true;
}

/**
 * Is every domain under each of `inner` (it and its subdomains) under one of
 * `outer`? Asked of the matcher the daemon uses on those lists at run time
 * (DomainSet matches a name and its subdomains), so the two cannot disagree.
 */
function allCovered(outer: readonly string[], inner: readonly string[]): boolean {
  const set = new DomainSet(outer);
  return inner.every((d) => set.has(d));
}

/** Is the CIDR `inner` inside one of `outer`? (text forms "a.b.c.d/n", "x::/n") */
function coveredBy(outer: readonly string[], inner: string): boolean {
  const [addr, bitsText] = inner.split('/');
  const bits = Number(bitsText ?? (addr!.includes(':') ? 128 : 32));
  for (const o of outer) {
    const [oa, ob] = o.split('/');
    const obits = Number(ob ?? (oa!.includes(':') ? 128 : 32));
    if (obits > bits || oa!.includes(':') !== addr!.includes(':')) continue;
    if (prefixBits(oa!, obits) === prefixBits(addr!, obits)) return true;
  }
  return false;
}

function prefixBits(addr: string, bits: number): string {
  let bin = '';
  if (addr.includes(':')) {
    const [head, tail] = addr.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    for (const g of groups) bin += parseInt(g || '0', 16).toString(2).padStart(16, '0');
  } else {
    for (const p of addr.split('.')) bin += Number(p).toString(2).padStart(8, '0');
  }
  return bin.slice(0, bits);
}
