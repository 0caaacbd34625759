/**
 * overrides — per-request check settings: the base table from `checks:` and
 * one table per `overrides:` entry, all compiled once at engine creation.
 *
 * Matching (first match wins, in the order the entries are written):
 * every match field an entry gives must match; an entry with no match field
 * matches every request.
 *   recipient_domains  recipient domain is one of them or a subdomain. Postfix
 *                      sends a recipient at RCPT (and at DATA/END-OF-MESSAGE
 *                      only when the message has exactly one), so elsewhere
 *                      such an entry does not match.
 *   sender_domains     sender domain is one of them or a subdomain (never <>)
 *   clients            canonical client address is in one of the CIDRs
 *   sasl               true: the client authenticated; false: it did not
 * The entry's `checks:` then replace, field by field, the settings of the
 * checks it names (and of rate-limit rules named "limit:<rule id>").
 *
 * What can go wrong: unknown check ids in an entry are reported as warnings
 * (check-config prints them) and ignored.
 */
import type { CidrSet } from '../net/ip.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { ActionSettings, CheckAction, CheckDef } from '../checks/types.js';
import { compileAction, type CompiledAction, type RawActionSettings } from './actions.js';
import { DomainSet } from './allowlist.js';

export interface PartialSettings {
  readonly action: CheckAction | null;
  readonly code: string | null;
  readonly message: string | null;
  readonly score: number | null;
}

export interface OverrideConfig {
  readonly name: string;
  readonly match: {
    readonly recipient_domains: readonly string[];
    readonly sender_domains: readonly string[];
    readonly clients: CidrSet;
    readonly sasl: boolean | null;
  };
  readonly checks: Readonly<Record<string, PartialSettings>>;
}

/** The settings that apply to one request. */
export interface SettingsTable {
  /** override name, null for the base table */
  readonly name: string | null;
  /** compiled settings, indexed like the check registry */
  readonly settings: readonly CompiledAction[];
  /** registry indexes of the checks whose action is not off, in registry order */
  readonly active: readonly number[];
  /** partial settings for limit findings, by "limit:<rule id>" */
  readonly limits: ReadonlyMap<string, PartialSettings> | null;
  /** compiled limit settings, keyed by the finding's ActionSettings object (limiters reuse one per rule) */
  readonly limitCache: WeakMap<ActionSettings, CompiledAction>;
}

export interface CompiledOverride {
  readonly name: string;
  readonly table: SettingsTable;
  readonly recipients: DomainSet | null;
  readonly senders: DomainSet | null;
  readonly clients: CidrSet | null;
  readonly sasl: boolean | null;
}

type CheckSettingsConfig = Readonly<Record<string, RawActionSettings | undefined>>;

/** The configured settings of one check, or its registry defaults when the config does not know it. */
function baseSettings(def: CheckDef, checks: CheckSettingsConfig): RawActionSettings {
  const c = checks[def.id];
  if (c !== undefined) return c;
  return { action: def.defaults.action, code: def.defaults.code ?? null, message: def.defaults.message, score: def.defaults.score ?? 0 };
}

/**
 * A check's default code belongs to its default action. The schema fills it in
 * whatever the action, so with another action and that same code the admin did
 * not write a code: it is adapted to the new action (550 -> 421 for disconnect,
 * ignored for hold, ...) without a warning about a code nobody wrote.
 */
function codeIsDefault(def: CheckDef, s: RawActionSettings): boolean {
  const dflt = def.defaults.code ?? null;
  return s.action !== def.defaults.action && dflt !== null && s.code === dflt;
}

function merge(base: RawActionSettings, p: PartialSettings): RawActionSettings {
  return {
    action: p.action ?? base.action,
    code: p.code ?? base.code ?? null,
    message: p.message ?? base.message ?? '',
    score: p.score ?? base.score ?? 0,
  };
}

function makeTable(name: string | null, settings: CompiledAction[], limits: Map<string, PartialSettings> | null): SettingsTable {
  const active: number[] = [];
  for (let i = 0; i < settings.length; i++) if (settings[i]!.action !== 'off') active.push(i);
  return { name, settings, active, limits, limitCache: new WeakMap() };
}

export function compileTables(
  checks: CheckSettingsConfig,
  overrides: readonly OverrideConfig[],
  defs: readonly CheckDef[],
  warn: (msg: string) => void,
): { base: SettingsTable; overrides: CompiledOverride[] } {
  const raw = defs.map((d) => baseSettings(d, checks));
  const base = makeTable(null, raw.map((r, i) => compileAction(`checks.${defs[i]!.id}`, r, warn, codeIsDefault(defs[i]!, r))), null);
  const index = new Map(defs.map((d, i) => [d.id, i]));
  const out: CompiledOverride[] = [];
  overrides.forEach((o, n) => {
    const name = o.name !== '' ? o.name : `overrides[${n}]`;
    const settings = base.settings.slice();
    let limits: Map<string, PartialSettings> | null = null;
    for (const [id, p] of Object.entries(o.checks)) {
      const i = index.get(id);
      if (i !== undefined) {
        const merged = merge(raw[i]!, p);
        settings[i] = compileAction(`overrides[${n}].checks.${id}`, merged, warn, codeIsDefault(defs[i]!, merged));
      } else if (id.startsWith('limit:')) {
        (limits ??= new Map()).set(id, p);
      } else {
        warn(`overrides[${n}] (${name}): unknown check "${id}" ignored (known: ${defs.map((d) => d.id).join(', ') || 'none'}; rate-limit rules as "limit:<id>")`);
      }
    }
    const m = o.match;
    const recipients = m.recipient_domains.length > 0 ? new DomainSet(m.recipient_domains) : null;
    const senders = m.sender_domains.length > 0 ? new DomainSet(m.sender_domains) : null;
    const clients = m.clients.size > 0 ? m.clients : null;
    if (recipients === null && senders === null && clients === null && m.sasl === null) {
      warn(`overrides[${n}] (${name}) has no match fields: it applies to every request, and later entries never do`);
    }
    out.push({ name, table: makeTable(name, settings, limits), recipients, senders, clients, sasl: m.sasl });
  });
  return { base, overrides: out };
}

/** The first override whose match fields all match, or null. */
export function matchOverride(list: readonly CompiledOverride[], req: PolicyRequest, id: Identity): CompiledOverride | null {
  for (const o of list) {
    if (o.sasl !== null && o.sasl !== (req.sasl_username !== '')) continue;
    if (o.clients !== null && (id.client === null || !o.clients.hasParsed(id.client))) continue;
    if (o.recipients !== null && !o.recipients.has(id.recipientDomain)) continue;
    if (o.senders !== null && (id.nullSender || !o.senders.has(id.senderDomain))) continue;
    return o;
  }
  return null;
}

/** Compiled settings of a limit finding under a table (its own settings, changed by a "limit:<id>" override). */
export function limitSettings(table: SettingsTable, check: string, own: ActionSettings, warn: (msg: string) => void): CompiledAction {
  let c = table.limitCache.get(own);
  if (c === undefined) {
    const p = table.limits?.get(check);
    const rawOwn: RawActionSettings = { action: own.action, code: own.code ?? null, message: own.message ?? '', score: own.score ?? 0 };
    // An override that changes only the action keeps the rule's code, which
    // nobody wrote for that action: adapt it silently (as for checks).
    const codeIsDefault = p !== undefined && p.code === null && p.action !== null && p.action !== own.action;
    c = compileAction(check, p ? merge(rawOwn, p) : rawOwn, warn, codeIsDefault);
    table.limitCache.set(own, c);
  }
  return c;
}
