/**
 * config/schema — every key of policyd-identity.yaml, its type and default.
 *
 * The defaults here ARE the embedded default config (what the daemon runs on
 * when no file exists); etc/policyd-identity.yaml spells the same values out
 * with comments, and a test keeps the two equal.
 *
 * Sections owned by other modules are imported (limits). Check keys come from
 * the check registry, so a new check file is a new config key automatically.
 *
 * What can go wrong: nothing throws at load time; every bad value becomes an
 * issue with its key path (config/spec.ts). A new default here that differs
 * from etc/policyd-identity.yaml fails the test that keeps the two equal.
 */
import { availableParallelism } from 'node:os';
import {
  obj, field, str, int, num, bool, oneOf, duration, nullable, list, dict, refine, custom, issue, warning, typeName, BAD,
  type Spec, type SpecType,
} from './spec.js';
import { compileCidrs, CidrSet } from '../net/ip.js';
import { normalizeDomain } from '../net/identity.js';
import { parseEndpoint, parseDnsServer, type Endpoint } from '../server/endpoint.js';
import { normalizeReplyCode } from '../protocol/action.js';
import { DEFAULT_PROVIDERS } from './providers.js';
import { HELO_SYNTAXES } from '../checks/lib/hostname.js';
import { CHECKS } from '../checks/index.js';
import { limitsSpec } from '../limits/config.js';
import type { CheckAction } from '../checks/types.js';

/**
 * RFC 5737 TEST-NET-1/2/3, RFC 3849 and RFC 9637 documentation prefixes: what a
 * lab or a test sets in identity.public_networks (not a default: the IANA
 * registries say these are not globally reachable).
 */
export const DOCUMENTATION_NETWORKS = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20'];

export const CHECK_ACTIONS = ['reject', 'defer', 'defer_if_permit', 'discard', 'hold', 'disconnect', 'warn', 'off'] as const satisfies readonly CheckAction[];

// ---- leaf specs ----------------------------------------------------------------

const cidrs = (def: string[]) =>
  field(refine(list(str()), 'a list of IP addresses or CIDR prefixes', (l) => compileCidrs(l)), () => compileCidrs(def));

const domainName = refine(str({ nonEmpty: true }), 'a domain name', (s) => {
  const d = normalizeDomain(s.startsWith('*.') ? s.slice(2) : s.startsWith('.') ? s.slice(1) : s);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(d)) throw new Error(`not a domain name: ${JSON.stringify(s)}`);
  return d;
});

/** allow.helo entries: a name, or "*.example.com" / ".example.com" for its subdomains (the prefix is kept) */
const heloEntry = refine(str({ nonEmpty: true }), 'a HELO name, "*.example.com" or ".example.com"', (s) => {
  const prefix = s.startsWith('*.') ? '*.' : s.startsWith('.') ? '.' : '';
  const d = normalizeDomain(s.slice(prefix.length));
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(d)) throw new Error(`not a HELO name or *.domain pattern: ${JSON.stringify(s)}`);
  return prefix + d;
});

const replyCode = refine(str(), 'a reply code like "550 5.7.1" or "450 4.7.1"', (s) => {
  const c = normalizeReplyCode(s);
  if (c === null) throw new Error(`expected a 4xx/5xx reply code like "550 5.7.1", got ${JSON.stringify(s)}`);
  return c;
});

const endpoint: Spec<Endpoint> = refine(str(), 'an endpoint like inet:127.0.0.1:10040 or unix:/path', parseEndpoint);

const fileMode = refine(str({ pattern: /^0?[0-7]{3}$/, patternDescribe: 'an octal mode like "0660"' }), 'an octal mode', (s) => parseInt(s, 8));

const listenEntry = custom<ListenEntry>('an endpoint string, or a mapping with endpoint, mode, owner, group', (v, fail) => {
  const ctx = { issues: [] as { message: string }[] };
  if (typeof v === 'string') {
    try { return { endpoint: parseEndpoint(v), mode: null, owner: null, group: null }; } catch (e) { return fail((e as Error).message); }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('expected an endpoint string or a mapping');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['endpoint', 'mode', 'owner', 'group'].includes(k)) return fail(`unknown key "${k}" in listen entry (known: endpoint, mode, owner, group)`);
  if (typeof o.endpoint !== 'string') return fail('listen entry needs endpoint: inet:HOST:PORT or unix:/path');
  let ep: Endpoint;
  try { ep = parseEndpoint(o.endpoint); } catch (e) { return fail((e as Error).message); }
  let mode: number | null = null;
  if (o.mode !== undefined) {
    const m = fileMode.parse(typeof o.mode === 'number' ? String(o.mode) : o.mode, [], ctx as never);
    if (typeof m !== 'number') return fail(`bad mode ${JSON.stringify(o.mode)}: expected an octal string like "0660"`);
    mode = m;
  }
  for (const k of ['owner', 'group'] as const) {
    if (o[k] !== undefined && (typeof o[k] !== 'string' && typeof o[k] !== 'number')) return fail(`${k} must be a user/group name or number`);
  }
  if (ep.kind !== 'unix' && (o.mode !== undefined || o.owner !== undefined || o.group !== undefined)) return fail('mode/owner/group only apply to unix: endpoints');
  return { endpoint: ep, mode, owner: o.owner === undefined ? null : String(o.owner), group: o.group === undefined ? null : String(o.group) };
}, (e) => {
  if (e.mode === null && e.owner === null && e.group === null) return e.endpoint.text;
  const out: Record<string, string> = { endpoint: e.endpoint.text };
  if (e.mode !== null) out.mode = `0${e.mode.toString(8).padStart(3, '0')}`;
  if (e.owner !== null) out.owner = e.owner;
  if (e.group !== null) out.group = e.group;
  return out;
});

export interface ListenEntry {
  endpoint: Endpoint;
  mode: number | null;
  owner: string | null;
  group: string | null;
}

const workers = custom<number>('a number of workers, or "auto"', (v, fail) => {
  if (v === 'auto') return availableParallelism();
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 64) return v;
  return fail(`expected a number of workers 1..64 or "auto", got ${JSON.stringify(v)}`);
});

const actionSettings = (defaults: { action: CheckAction; code?: string; message: string; score?: number }) =>
  field(
    obj({
      action: field(oneOf(CHECK_ACTIONS), defaults.action),
      code: field(nullable(replyCode), defaults.code ?? null),
      message: field(str(), defaults.message),
      score: field(num(), defaults.score ?? 0),
    }),
  );

/**
 * checks.helo_invalid takes one key beyond the action settings: the HELO
 * grammar, "postfix" (Postfix's valid_hostname(): "_" allowed) or "rfc5321"
 * (RFC 5321 §4.1.2 Domain: no "_"). See checks/lib/hostname.ts.
 */
const heloInvalidSettings = (defaults: { action: CheckAction; code?: string; message: string; score?: number }) =>
  field(
    obj({
      action: field(oneOf(CHECK_ACTIONS), defaults.action),
      code: field(nullable(replyCode), defaults.code ?? null),
      message: field(str(), defaults.message),
      score: field(num(), defaults.score ?? 0),
      syntax: field(oneOf(HELO_SYNTAXES), 'postfix'),
    }),
  );

function checksSpec() {
  const fields: Record<string, ReturnType<typeof actionSettings>> = {};
  for (const c of CHECKS) fields[c.id] = actionSettings(c.defaults);
  const heloInvalid = CHECKS.find((c) => c.id === 'helo_invalid')!;
  const all = { ...fields, helo_invalid: heloInvalidSettings(heloInvalid.defaults) } as
    Record<string, ReturnType<typeof actionSettings>> & { helo_invalid: ReturnType<typeof heloInvalidSettings> };
  return obj(all);
}

const partialActionSettings = obj({
  action: field(nullable(oneOf(CHECK_ACTIONS)), null),
  code: field(nullable(replyCode), null),
  message: field(nullable(str()), null),
  score: field(nullable(num()), null),
});

const overrideSpec = obj({
  name: field(str(), ''),
  match: field(
    obj({
      recipient_domains: field(list(domainName), []),
      sender_domains: field(list(domainName), []),
      clients: cidrs([]),
      sasl: field(nullable(bool()), null),
    }),
  ),
  checks: field(dict(str(), partialActionSettings), {}),
});

/**
 * providers: a list of sender domains, named exactly. The old form (until
 * 0.1: a mapping of sender domain or `name.*` to PTR domains) is still read,
 * with a warning: its exact keys become the list, `name.*` keys are dropped.
 */
const providerDomains = list(refine(str({ nonEmpty: true }), 'a domain name', (s) => {
  if (s.includes('*')) throw new Error(`providers name domains exactly, no wildcards: ${JSON.stringify(s)}`);
  const d = normalizeDomain(s);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(d)) throw new Error(`not a domain name: ${JSON.stringify(s)}`);
  return d;
}));

const providersSpec: Spec<string[]> = {
  describe: 'a list of sender domains',
  parse(v, path, ctx) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const exact = keys.filter((k) => !k.endsWith('.*'));
      const dropped = keys.filter((k) => k.endsWith('.*'));
      warning(ctx, path, `the mapping form (sender domain -> PTR domains) is obsolete: providers is now a list of sender domains that must pass SPF; using ${exact.length} domain(s) (${exact.join(', ') || 'none'})${dropped.length > 0 ? `, dropped the wildcards ${dropped.join(', ')} (name each domain instead)` : ''}`);
      return providerDomains.parse(exact, path, ctx);
    }
    if (v !== null && !Array.isArray(v)) return issue(ctx, path, `expected a list of sender domains, got ${typeName(v)}`);
    const r = providerDomains.parse(v, path, ctx);
    return r === BAD ? BAD : r;
  },
};

// ---- the whole file -------------------------------------------------------------

export function buildConfigSpec() {
  return obj({
    listen: field(list(listenEntry, { min: 1 }), () => [{ endpoint: parseEndpoint('inet:127.0.0.1:10040'), mode: null, owner: null, group: null }]),
    server: field(
      obj({
        peers: cidrs([]),
        max_connections: field(int({ min: 1, max: 1_000_000 }), 2000),
        idle_timeout: field(duration({ min: 1000 }), 600_000),
        shutdown_timeout: field(duration({ min: 0, max: 600_000 }), 10_000),
        max_line_length: field(int({ min: 256, max: 1 << 20 }), 8192),
        max_attributes: field(int({ min: 8, max: 100_000 }), 256),
        max_request_size: field(int({ min: 1024, max: 16 << 20 }), 65536),
      }),
    ),
    workers: field(workers, 1),
    mode: field(oneOf(['enforce', 'warn'] as const), 'enforce'),
    // Identity is judged where a message first meets the policy (CONNECT..RCPT).
    // An instance first seen at DATA/END-OF-MESSAGE was permitted by Postfix
    // earlier (permit_mynetworks, ...): judged there only when this is true.
    judge_after_data: field(bool(), false),
    log: field(
      obj({
        level: field(oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), 'info'),
        destination: field(str({ nonEmpty: true }), 'stdout'),
        format: field(oneOf(['json', 'text'] as const), 'json'),
      }),
    ),
    dns: field(
      obj({
        servers: field(refine(list(str()), 'a list of HOST, HOST:PORT or [IPv6]:PORT', (l) => l.map(parseDnsServer)), []),
        timeout: field(duration({ min: 10, max: 30_000 }), 1000),
        tries: field(int({ min: 1, max: 5 }), 2),
        deadline: field(duration({ min: 100, max: 60_000 }), 5000),
        max_inflight: field(int({ min: 1, max: 10_000 }), 100),
        max_inflight_per_zone: field(int({ min: 1, max: 10_000 }), 50),
        max_ptr_names: field(int({ min: 1, max: 10 }), 3),
        cache: field(
          obj({
            size: field(int({ min: 0, max: 10_000_000 }), 50_000),
            // 8 MiB of real heap (answerBytes is measured): about 20,000 answers of never-seen
            // clients; unbound's own default caches are 4 + 4 MiB. Before: 50,000 entries held ~20 MB of live
            // heap under the sustained cold load, which V8 then grows 1.3-4x (issue 11).
            max_bytes: field(int({ min: 0, max: 2 ** 40 }), 8 * 1024 * 1024),
            min_ttl: field(duration(), 0),
            max_ttl: field(duration(), 3_600_000),
            default_ttl: field(duration(), 300_000),
            negative_ttl: field(duration(), 60_000),
            tempfail_ttl: field(duration({ max: 60_000 }), 2000),
          }),
        ),
      }),
    ),
    identity: field(
      obj({
        my_names: field(list(domainName), []),
        my_addresses: cidrs([]),
        // Empty: addresses are judged by the IANA special-purpose registries
        // alone. A lab or a test lists the prefixes it uses as public ones
        // (e.g. DOCUMENTATION_NETWORKS).
        public_networks: cidrs([]),
      }),
    ),
    identity_cache: field(
      obj({
        ttl: field(duration({ max: 60_000 }), 2000),
        size: field(int({ min: 0, max: 10_000_000 }), 10_000),
        max_bytes: field(int({ min: 0, max: 2 ** 40 }), 16 * 1024 * 1024),
      }),
    ),
    allow: field(
      obj({
        clients: cidrs(['127.0.0.0/8', '::1']),
        helo: field(list(heloEntry), []),
        sender_domains: field(list(domainName), []),
        sasl: field(bool(), true),
        action: field(oneOf(['dunno', 'ok'] as const), 'dunno'),
      }),
    ),
    checks: field(checksSpec()),
    on_tempfail: field(
      obj({
        action: field(oneOf(['defer_if_permit', 'defer', 'warn', 'off'] as const), 'defer_if_permit'),
        code: field(nullable(replyCode), '450 4.4.3'),
        message: field(str(), 'temporary DNS failure while checking your identity, please try again later'),
      }),
    ),
    scoring: field(
      obj({
        reject_at: field(nullable(num()), null),
        defer_at: field(nullable(num()), null),
        message: field(str(), 'too many signs of a forged or badly configured sender (score {score})'),
      }),
    ),
    providers: field(providersSpec, () => [...DEFAULT_PROVIDERS]),
    header: field(
      obj({
        enabled: field(bool(), false),
        name: field(str({ pattern: /^[A-Za-z0-9-]+$/, patternDescribe: 'a header field name' }), 'X-Policy-Identity'),
        format: field(oneOf(['simple', 'rfc8601', 'received-spf'] as const), 'simple'),
        authserv_id: field(str(), ''),
      }),
    ),
    overrides: field(list(overrideSpec), []),
    limits: field(limitsSpec),
    metrics: field(
      obj({
        listen: field(nullable(refine(str(), 'HOST:PORT', (s) => {
          const ep = parseEndpoint(s.startsWith('inet:') ? s : `inet:${s}`);
          if (ep.kind !== 'inet') throw new Error('metrics.listen must be HOST:PORT');
          return ep;
        })), null),
      }),
    ),
  });
}

export type ConfigBody = SpecType<ReturnType<typeof buildConfigSpec>>;

export { CidrSet };
