/**
 * engine tests — the decision engine with fake checks, a fake DNS view and a
 * fake limiter (no network, no timers except the check-guard test).
 */
import t from 'tap';
import { createEngine, type EngineDeps, type LimiterLike } from '../src/engine/engine.js';
import { renderExplanation, explanationToJson } from '../src/engine/explain.js';
import { compileAction, fixLeadingDsn, SEVERITY } from '../src/engine/actions.js';
import { DomainSet, HeloList } from '../src/engine/allowlist.js';
import { compileTemplate } from '../src/engine/message.js';
import { identityKey, internedFootprint } from '../src/engine/findings-cache.js';
import { CHECKS } from '../src/checks/index.js';
import { defaultConfig, loadConfigText } from '../src/config/load.js';
import { LAB_IDENTITY_YAML, labPublicNetworks } from './helpers/lab-networks.js';
import { compileCidrs } from '../src/net/ip.js';
import { actionText, encodeAction } from '../src/protocol/action.js';
import { attrsFromBlock, toPolicyRequest, type PolicyRequest } from '../src/protocol/request.js';
import type { Config } from '../src/config/types.js';
import type { CheckAction, CheckContext, CheckDef, CheckResult, Finding } from '../src/checks/types.js';
import { summaryOf, type ConnState, type Decision } from '../src/engine/types.js';
import type { DnsLookup, DnsAnswer } from '../src/dns/types.js';

// ---- fixtures ----------------------------------------------------------------------

const RCPT_BLOCK = `request=smtpd_access_policy
protocol_state=RCPT
protocol_name=ESMTP
client_address=203.0.113.5
client_name=unknown
reverse_client_name=unknown
helo_name=mail.example.net
sender=alice@example.net
recipient=bob@example.com
recipient_count=0
queue_id=
instance=c4d.6b03897a.62006.0
size=0
sasl_method=
sasl_username=
`;

function req(over: Record<string, string> = {}): PolicyRequest {
  const a = attrsFromBlock(RCPT_BLOCK);
  for (const [k, v] of Object.entries(over)) a[k] = v;
  return toPolicyRequest(a);
}

const conn = (): ConnState => ({ engine: undefined, peer: 'test' });

interface FakeCheck extends CheckDef {
  calls: number;
}

type Outcome = CheckResult | ((ctx: CheckContext) => Finding | Promise<Finding>);

function fake(id: string, outcome: Outcome, group: CheckDef['group'] = 'helo', vars?: Record<string, string>): FakeCheck {
  const c: FakeCheck = {
    id,
    group,
    summary: `fake ${id}`,
    defaults: { action: 'reject', message: `${id} failed` },
    calls: 0,
    run(ctx) {
      c.calls++;
      if (typeof outcome === 'function') return outcome(ctx);
      // asynchronous like a real DNS-backed check
      return Promise.resolve({ check: id, result: outcome, reason: `${id} says ${outcome}`, ...(vars ? { vars } : {}) });
    },
  };
  return c;
}

const noAnswer = <T>(): Promise<DnsAnswer<T>> => Promise.resolve({ status: 'notfound', records: [], reason: 'NXDOMAIN' });
const fakeLookup: DnsLookup = { a: noAnswer, aaaa: noAnswer, mx: noAnswer, ptr: noAnswer, txt: noAnswer };

function fakeDns() {
  const deadlines: number[] = [];
  return { deadlines, scoped: (at: number) => (deadlines.push(at), fakeLookup) };
}

class FakeLimiter implements LimiterLike {
  evaluated: string[] = [];
  recorded: string[] = [];
  constructor(public findings: Finding[] = [], public fail = false) {}
  async evaluate(r: PolicyRequest): Promise<Finding[]> {
    this.evaluated.push(r.protocol_state);
    if (this.fail) throw new Error('redis down');
    return this.findings;
  }
  async record(r: PolicyRequest): Promise<void> {
    this.recorded.push(r.protocol_state);
    if (this.fail) throw new Error('redis down');
  }
}

interface CheckSetting {
  action: CheckAction;
  code?: string | null;
  message?: string;
  score?: number;
}

interface ConfigPatch {
  mode?: 'enforce' | 'warn';
  checks?: Record<string, CheckSetting>;
  allow?: Partial<{ clients: string[]; helo: string[]; sender_domains: string[]; sasl: boolean; action: 'dunno' | 'ok' }>;
  on_tempfail?: Partial<Config['on_tempfail']>;
  scoring?: Partial<Config['scoring']>;
  header?: Partial<Config['header']>;
  overrides?: Array<{
    name?: string;
    match: { recipient_domains?: string[]; sender_domains?: string[]; clients?: string[]; sasl?: boolean | null };
    checks: Record<string, Partial<CheckSetting>>;
  }>;
  deadline?: number;
  judge_after_data?: boolean;
  /** ids of limits.rules (only their ids and actions matter to the engine) */
  limitRules?: Array<{ id: string; action?: CheckAction }>;
}

const BASE = (() => {
  const r = defaultConfig();
  if (!r.ok) throw new Error('default config does not load');
  // the test addresses are documentation ranges: a lab declares them public
  return { ...r.config, identity: { ...r.config.identity, public_networks: labPublicNetworks() } };
})();

function config(p: ConfigPatch = {}): Config {
  const checks: Record<string, { action: CheckAction; code: string | null; message: string; score: number }> = {};
  for (const [id, s] of Object.entries(p.checks ?? {})) {
    checks[id] = { action: s.action, code: s.code ?? null, message: s.message ?? `${id} failed`, score: s.score ?? 0 };
  }
  const a = p.allow ?? {};
  return {
    ...BASE,
    mode: p.mode ?? 'enforce',
    judge_after_data: p.judge_after_data ?? false,
    limits: { ...BASE.limits, rules: (p.limitRules ?? []).map((r) => ({ id: r.id, action: r.action ?? 'defer' })) as unknown as Config['limits']['rules'] },
    checks: checks as Config['checks'],
    allow: {
      clients: compileCidrs(a.clients ?? ['127.0.0.0/8', '::1']),
      helo: a.helo ?? [],
      sender_domains: a.sender_domains ?? [],
      sasl: a.sasl ?? true,
      action: a.action ?? 'dunno',
    },
    on_tempfail: { ...BASE.on_tempfail, ...p.on_tempfail },
    scoring: { ...BASE.scoring, ...p.scoring },
    header: { ...BASE.header, ...p.header },
    dns: { ...BASE.dns, deadline: p.deadline ?? BASE.dns.deadline },
    overrides: (p.overrides ?? []).map((o) => ({
      name: o.name ?? '',
      match: {
        recipient_domains: o.match.recipient_domains ?? [],
        sender_domains: o.match.sender_domains ?? [],
        clients: compileCidrs(o.match.clients ?? []),
        sasl: o.match.sasl ?? null,
      },
      checks: Object.fromEntries(
        Object.entries(o.checks).map(([id, s]) => [id, { action: s.action ?? null, code: s.code ?? null, message: s.message ?? null, score: s.score ?? null }]),
      ),
    })),
  };
}

function engineWith(checks: CheckDef[], p: ConfigPatch = {}, deps: Partial<EngineDeps> = {}) {
  const dns = fakeDns();
  const engine = createEngine(config(p), { dns, checks, identityCache: false, ...deps });
  return { engine, dns };
}

async function decide(e: ReturnType<typeof createEngine>, r: PolicyRequest = req(), c: ConnState = conn()): Promise<Decision> {
  return await e.decide(r, c);
}

const answer = (d: Decision) => actionText(d.action, { allowOk: true });

/** true when Postfix would refuse permanently or drop mail for this answer */
function permanentOrDiscard(d: Decision): boolean {
  const a = d.action;
  if (a.verb === 'REJECT' || a.verb === 'DISCARD' || a.verb === 'HOLD') return true;
  if (a.verb === 'REPLY' && a.code?.startsWith('5')) return true;
  return /^5/.test(answer(d)) || /^[A-Z_]+ 5\.\d/.test(answer(d));
}

// ---- severity and ties ---------------------------------------------------------------

const ACTIONS: CheckAction[] = ['reject', 'disconnect', 'discard', 'hold', 'defer', 'defer_if_permit', 'warn'];

t.test('severity order: every pair of failing actions, both orders', async (t) => {
  for (const x of ACTIONS) {
    for (const y of ACTIONS) {
      const { engine } = engineWith([fake('first', 'fail'), fake('second', 'fail')], {
        checks: { first: { action: x }, second: { action: y } },
      });
      const d = await decide(engine);
      const want = SEVERITY[x] >= SEVERITY[y] ? 'first' : 'second';
      t.equal(d.fired[0], want, `${x} vs ${y}: got ${d.fired.join(',')}, want ${want} first`);
      if (x === y) t.same(d.fired, ['first', 'second'], `tie ${x}: both fired, registry order`);
    }
  }
  t.same(
    [...ACTIONS].sort((a, b) => SEVERITY[b] - SEVERITY[a]),
    ACTIONS,
    'reject > disconnect > discard > hold > defer > defer_if_permit > warn',
  );
});

t.test('tie goes to the first check in registry order, its message wins', async (t) => {
  const { engine } = engineWith([fake('a', 'pass'), fake('b', 'fail'), fake('c', 'fail')], {
    checks: { a: { action: 'reject' }, b: { action: 'defer', message: 'from b' }, c: { action: 'defer', message: 'from c' } },
  });
  const d = await decide(engine);
  t.equal(answer(d), 'DEFER from b');
  t.same(d.fired, ['b', 'c']);
  t.equal(summaryOf(d), 'a=pass b=fail c=fail');
});

t.test('no failure -> DUNNO, fired empty', async (t) => {
  const { engine } = engineWith([fake('a', 'pass'), fake('b', 'skip')], { checks: { a: { action: 'reject' }, b: { action: 'reject' } } });
  const d = await decide(engine);
  t.equal(d.action.verb, 'DUNNO');
  t.same(d.fired, []);
  t.equal(d.findings.length, 2);
});

// ---- wire forms ------------------------------------------------------------------------

t.test('wire forms of every action, with and without a code', async (t) => {
  const rows: Array<[CheckAction, string | null, string]> = [
    ['reject', '550 5.7.1', '550 5.7.1 bad client'],
    ['reject', null, 'REJECT bad client'],
    ['reject', '554', '554 bad client'],
    ['defer', '450 4.7.25', '450 4.7.25 bad client'],
    ['defer', null, 'DEFER bad client'],
    ['defer_if_permit', '450 4.7.1', 'DEFER_IF_PERMIT 4.7.1 bad client'],
    ['defer_if_permit', null, 'DEFER_IF_PERMIT bad client'],
    ['discard', null, 'DISCARD bad client'],
    ['hold', null, 'HOLD bad client'],
    ['disconnect', null, '421 4.7.0 bad client'],
    ['disconnect', '521 5.7.1', '521 5.7.1 bad client'],
    ['warn', null, 'WARN bad client'],
  ];
  for (const [action, code, want] of rows) {
    const { engine } = engineWith([fake('x', 'fail')], { checks: { x: { action, code, message: 'bad client' } } });
    const d = await decide(engine);
    t.equal(answer(d), want, `${action} ${code ?? '(no code)'}`);
  }
});

t.test('codes that contradict the action are corrected and reported', async (t) => {
  const rows: Array<[CheckAction, string, string]> = [
    ['reject', '450 4.7.1', '550 5.7.1 m'],
    ['defer', '550 5.7.1', '450 4.7.1 m'],
    ['defer', '521 5.7.1', '421 4.7.1 m'],
    ['disconnect', '450 4.7.1', '421 4.7.1 m'],
    ['disconnect', '554 5.7.1', '521 5.7.1 m'],
    ['defer_if_permit', '550 5.7.1', 'DEFER_IF_PERMIT 4.7.1 m'],
    ['warn', '550 5.7.1', 'WARN m'],
    ['discard', '550 5.7.1', 'DISCARD m'],
  ];
  for (const [action, code, want] of rows) {
    const { engine } = engineWith([fake('x', 'fail')], { checks: { x: { action, code, message: 'm' } } });
    const d = await decide(engine);
    t.equal(answer(d), want, `${action} + ${code}`);
    t.ok(engine.warnings.some((w) => w.startsWith('checks.x')), `${action} + ${code}: warning recorded (${engine.warnings.join(' | ')})`);
  }
});

t.test('a text starting with a DSN of the wrong class is fixed (client-controlled placeholders too)', async (t) => {
  t.equal(fixLeadingDsn('5.7.1 go away', '4'), '4.7.1 go away');
  t.equal(fixLeadingDsn('4.7.1 later', '4'), '4.7.1 later');
  t.equal(fixLeadingDsn('550 is not a dsn', '4'), '550 is not a dsn');
  t.equal(fixLeadingDsn('hello', '5'), 'hello');
  const { engine } = engineWith([fake('x', 'fail')], { checks: { x: { action: 'defer', message: '{helo_name} is unknown' } } });
  const d = await decide(engine, req({ helo_name: '5.1.1' }));
  t.equal(answer(d), 'DEFER 4.1.1 is unknown', 'a HELO of "5.1.1" cannot make a deferral permanent');
  const r = compileAction('x', { action: 'reject', code: '550', message: '' }, () => {});
  t.equal(r.code, '550');
});

// ---- tempfail ------------------------------------------------------------------------

t.test('tempfail mapping for every action: on_tempfail, never 5xx, never DISCARD', async (t) => {
  const onTempfails: Array<[Partial<Config['on_tempfail']>, Record<string, string>]> = [
    [{}, { blocking: 'DEFER_IF_PERMIT 4.4.3 temporary DNS failure while checking your identity, please try again later' }],
    [{ action: 'defer', code: '450 4.4.3', message: 'dns trouble' }, { blocking: '450 4.4.3 dns trouble' }],
    [{ action: 'defer', code: null, message: 'dns trouble' }, { blocking: 'DEFER dns trouble' }],
    [{ action: 'defer', code: '550 5.7.1', message: 'dns trouble' }, { blocking: '450 4.7.1 dns trouble' }],
    [{ action: 'defer_if_permit', code: '554 5.4.3', message: 'dns trouble' }, { blocking: 'DEFER_IF_PERMIT 4.4.3 dns trouble' }],
    [{ action: 'warn', message: 'dns trouble' }, { blocking: 'WARN dns trouble' }],
    [{ action: 'off' }, { blocking: 'DUNNO' }],
  ];
  for (const [ot, want] of onTempfails) {
    for (const action of ACTIONS) {
      const { engine } = engineWith([fake('x', 'tempfail')], { checks: { x: { action, code: action === 'reject' ? '550 5.7.1' : null } }, on_tempfail: ot });
      const d = await decide(engine);
      const label = `on_tempfail ${JSON.stringify(ot)}, check action ${action}`;
      t.notOk(permanentOrDiscard(d), `${label}: ${answer(d)} is not permanent`);
      if (action === 'warn') t.equal(answer(d), 'DUNNO', `${label}: a tempfailed warn check contributes nothing`);
      else t.equal(answer(d), want.blocking, label);
    }
  }
});

t.test('tempfail never beats a real failure of equal or higher severity; a real reject still rejects', async (t) => {
  const { engine } = engineWith([fake('dnsy', 'tempfail'), fake('hard', 'fail')], {
    checks: { dnsy: { action: 'reject' }, hard: { action: 'reject', code: '550 5.7.1', message: 'no' } },
  });
  const d = await decide(engine);
  t.equal(answer(d), '550 5.7.1 no');
  t.same(d.fired, ['hard']);
});

t.test('a check that throws, rejects or returns garbage counts as tempfail (PI_INTERNAL)', async (t) => {
  const errors: string[] = [];
  const checks = [
    fake('throws', () => {
      throw new Error('boom');
    }),
    fake('rejects', () => Promise.reject(new Error('async boom'))),
    fake('garbage', () => ({ nonsense: true }) as unknown as Finding),
  ];
  const { engine } = engineWith(checks, { checks: { throws: { action: 'reject' }, rejects: { action: 'reject' }, garbage: { action: 'reject' } } }, {
    onError: (code, _e, detail) => errors.push(`${code} ${detail}`),
  });
  const d = await decide(engine);
  t.equal(d.action.verb, 'DEFER_IF_PERMIT');
  t.same(d.findings.map((f) => f.result), ['tempfail', 'tempfail', 'tempfail']);
  t.match(d.findings[0]!.reason, /internal error in check: boom/);
  t.equal(errors.length, 3);
  t.ok(errors.every((e) => e.startsWith('PI_INTERNAL')));
});

t.test('a check that never settles counts as tempfail after the deadline', async (t) => {
  const { engine } = engineWith([fake('hang', () => new Promise<Finding>(() => {}))], { checks: { hang: { action: 'reject' } }, deadline: 100 });
  const d = await decide(engine);
  t.equal(d.findings[0]!.result, 'tempfail');
  t.match(d.findings[0]!.reason, /dns\.deadline/);
  t.equal(d.action.verb, 'DEFER_IF_PERMIT');
});

t.test('beside a check that hangs or rejects, the other asynchronous checks keep their own findings', async (t) => {
  const later = (id: string, ms: number): Promise<Finding> =>
    new Promise((resolve) => setTimeout(() => resolve({ check: id, result: 'fail', reason: `${id} late` }), ms));
  const { engine } = engineWith([
    fake('early', 'pass'),
    fake('hang', () => new Promise<Finding>(() => {})),
    fake('late', () => later('late', 20)),
  ], { checks: { early: { action: 'reject' }, hang: { action: 'reject' }, late: { action: 'warn' } }, deadline: 100 });
  const d = await decide(engine);
  t.same(d.findings.map((f) => `${f.check}=${f.result}`), ['early=pass', 'hang=tempfail', 'late=fail']);
  t.match(d.findings[1]!.reason, /dns\.deadline/);
  t.equal(d.findings[2]!.reason, 'late late');

  // a rejection does not cut the others short: a slower check still answers within the guard
  const { engine: e2 } = engineWith([
    fake('rejects', () => Promise.reject(new Error('async boom'))),
    fake('slow', () => later('slow', 30)),
  ], { checks: { rejects: { action: 'reject' }, slow: { action: 'warn' } }, deadline: 1000 });
  const d2 = await decide(e2);
  t.same(d2.findings.map((f) => `${f.check}=${f.result}`), ['rejects=tempfail', 'slow=fail']);
  t.match(d2.findings[0]!.reason, /internal error in check: async boom/);
});

t.test('an unexpected error in the engine answers on_tempfail with note internal error', async (t) => {
  const engine = createEngine(config({ checks: { x: { action: 'reject' } } }), {
    dns: {
      scoped: () => {
        throw new Error('resolver gone');
      },
    },
    checks: [fake('x', 'fail')],
  });
  const d = await decide(engine);
  t.equal(answer(d), 'DEFER_IF_PERMIT 4.4.3 temporary DNS failure while checking your identity, please try again later');
  t.match(d.note, /internal error/);
  t.equal(engine.stats().internalErrors, 1);
});

t.test('the request-scoped DNS view gets deadline = now + dns.deadline, one per run', async (t) => {
  const { engine, dns } = engineWith([fake('a', 'pass'), fake('b', 'pass')], { checks: { a: { action: 'reject' }, b: { action: 'reject' } }, deadline: 3000 }, { now: () => 1_000_000 });
  await decide(engine);
  t.same(dns.deadlines, [1_003_000]);
});

t.test('checks share one memo Map per request', async (t) => {
  const seen: Array<Map<string, Promise<unknown>>> = [];
  const probe = (id: string) => fake(id, (ctx) => {
    seen.push(ctx.memo);
    return { check: id, result: 'pass', reason: '' };
  });
  const { engine } = engineWith([probe('a'), probe('b')], { checks: { a: { action: 'reject' }, b: { action: 'reject' } } });
  await decide(engine);
  t.equal(seen.length, 2);
  t.equal(seen[0], seen[1]);
});

// ---- scoring -------------------------------------------------------------------------

t.test('scoring thresholds', async (t) => {
  const rows: Array<[Partial<Config['scoring']>, string, number]> = [
    [{}, 'WARN soft1 failed', 3.5],
    [{ defer_at: 3 }, '450 4.7.1 too many signs of a forged or badly configured sender (score 3.5)', 3.5],
    [{ defer_at: 4 }, 'WARN soft1 failed', 3.5],
    [{ reject_at: 3.5, defer_at: 2 }, '550 5.7.1 too many signs of a forged or badly configured sender (score 3.5)', 3.5],
    [{ reject_at: 5, message: 'score {score}: {reason}' }, 'WARN soft1 failed', 3.5],
    [{ defer_at: 1, message: 'score {score}: {reason}' }, '450 4.7.1 score 3.5: soft1(2) soft2(1.5)', 3.5],
  ];
  for (const [scoring, want, sum] of rows) {
    const { engine } = engineWith([fake('soft1', 'fail'), fake('soft2', 'fail'), fake('ok', 'pass')], {
      checks: { soft1: { action: 'warn', score: 2 }, soft2: { action: 'warn', score: 1.5 }, ok: { action: 'reject', score: 10 } },
      scoring,
    });
    const d = await decide(engine);
    t.equal(answer(d), want, JSON.stringify(scoring));
    t.equal(d.score, sum, 'score is the sum of failed checks only');
  }
});

t.test('scoring: a real reject still outranks a score deferral; score reject outranks a defer check', async (t) => {
  const { engine } = engineWith([fake('soft', 'fail'), fake('hard', 'fail')], {
    checks: { soft: { action: 'defer', score: 5 }, hard: { action: 'reject', message: 'hard' } },
    scoring: { defer_at: 1 },
  });
  t.equal(answer(await decide(engine)), 'REJECT hard');
  const e2 = engineWith([fake('soft', 'fail')], { checks: { soft: { action: 'defer', score: 5 } }, scoring: { reject_at: 5 } }).engine;
  const d = await decide(e2);
  t.equal(d.action.code, '550 5.7.1');
  t.same(d.fired, ['score']);
});

t.test('scoring: tempfailed scores that could cross a threshold give on_tempfail, not a pass', async (t) => {
  const { engine } = engineWith([fake('soft', 'fail'), fake('dnsy', 'tempfail')], {
    checks: { soft: { action: 'warn', score: 2 }, dnsy: { action: 'warn', score: 3 } },
    scoring: { reject_at: 4 },
  });
  const d = await decide(engine);
  t.equal(d.action.verb, 'DEFER_IF_PERMIT');
  t.notOk(permanentOrDiscard(d));
  t.match(d.note, /score incomplete/);
});

// ---- dry run ---------------------------------------------------------------------------

t.test('mode: warn answers WARN with what would have happened; wouldBe holds the enforce action', async (t) => {
  for (const action of ACTIONS) {
    const { engine } = engineWith([fake('x', 'fail')], { mode: 'warn', checks: { x: { action, message: 'nope' } } });
    const d = await decide(engine);
    t.equal(d.action.verb, 'WARN', action);
    if (action === 'warn') {
      t.equal(d.wouldBe, undefined, 'warn stays warn: no wouldBe');
      continue;
    }
    t.ok(d.wouldBe, `${action}: wouldBe set`);
    t.match(d.action.text, new RegExp(`^dry-run: would answer ${actionText(d.wouldBe!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[x\\]$`), action);
    t.match(d.note, /dry-run/);
  }
  const { engine } = engineWith([fake('x', 'pass')], { mode: 'warn', checks: { x: { action: 'reject' } } });
  t.equal((await decide(engine)).action.verb, 'DUNNO', 'nothing to warn about: DUNNO');
});

// ---- allowlists ----------------------------------------------------------------------

t.test('each allowlist kind gives DUNNO (OK only when configured), with a note', async (t) => {
  const rows: Array<[ConfigPatch['allow'], Record<string, string>, string | null]> = [
    [{}, { client_address: '127.0.0.1' }, 'allow.clients'],
    [{}, { client_address: '::ffff:127.0.0.1' }, 'allow.clients'],
    [{ clients: ['2001:db8::/32'] }, { client_address: '2001:DB8::25' }, 'allow.clients'],
    [{}, { sasl_username: 'alice' }, 'allow.sasl'],
    [{ sasl: false }, { sasl_username: 'alice' }, null],
    [{ helo: ['mail.example.net'] }, {}, 'allow.helo'],
    [{ helo: ['mail.example.net'] }, { helo_name: 'MAIL.Example.NET.' }, 'allow.helo'],
    [{ helo: ['example.net'] }, {}, null],
    [{ helo: ['*.example.net'] }, {}, 'allow.helo'],
    [{ helo: ['.example.net'] }, {}, 'allow.helo'],
    [{ helo: ['*.example.net'] }, { helo_name: 'example.net' }, null],
    [{ helo: ['*.example.net'] }, { helo_name: 'evilexample.net' }, null],
    [{ sender_domains: ['example.net'] }, {}, 'allow.sender_domains'],
    [{ sender_domains: ['example.net'] }, { sender: 'a@lists.example.net' }, 'allow.sender_domains'],
    [{ sender_domains: ['example.net'] }, { sender: 'a@badexample.net' }, null],
    [{ sender_domains: ['example.net'] }, { sender: '' }, null],
  ];
  for (const [allow, over, want] of rows) {
    for (const allowAction of ['dunno', 'ok'] as const) {
      const x = fake('x', 'fail');
      const { engine } = engineWith([x], { checks: { x: { action: 'reject' } }, allow: { ...allow, action: allowAction } });
      const d = await decide(engine, req(over));
      const label = `${JSON.stringify(allow)} ${JSON.stringify(over)} action ${allowAction}`;
      if (want === null) {
        t.equal(d.action.verb, 'REJECT', `${label}: not allowlisted`);
        continue;
      }
      t.equal(d.action.verb, allowAction === 'ok' ? 'OK' : 'DUNNO', label);
      t.equal(d.note, `allowlisted: ${want}`, label);
      t.equal(x.calls, 0, `${label}: checks skipped`);
      t.equal(encodeAction(d.action), 'action=DUNNO\n\n', `${label}: the encoder still refuses OK unless allowOk`);
    }
  }
});

t.test('allow.helo patterns survive the config loader (*.x / .x kept)', async (t) => {
  const r = loadConfigText('allow:\n  helo: ["Mail.Example.NET.", "*.example.org", ".example.com"]\n', 'test.yaml');
  t.ok(r.ok);
  if (r.ok) t.same(r.config.allow.helo, ['mail.example.net', '*.example.org', '.example.com']);
  const h = new HeloList(['mail.example.net', '*.example.org']);
  t.ok(h.has('mail.example.net'));
  t.notOk(h.has('x.mail.example.net'));
  t.ok(h.has('a.b.example.org'));
  t.notOk(h.has('example.org'));
  const ds = new DomainSet(['example.com']);
  t.ok(ds.has('example.com'));
  t.ok(ds.has('a.b.example.com'));
  t.notOk(ds.has('badexample.com'));
  t.notOk(ds.has(''));
});

t.test('allowlisted requests still get rate limits (rules decide with only/except)', async (t) => {
  const lim = new FakeLimiter([{ check: 'limit:out', result: 'fail', reason: '101/100 per 1h', action: { action: 'defer', code: '450 4.7.1', message: 'slow down' } }]);
  const x = fake('x', 'fail');
  const { engine } = engineWith([x], { checks: { x: { action: 'reject' } } }, { limiter: lim });
  const d = await decide(engine, req({ sasl_username: 'alice' }));
  t.equal(answer(d), '450 4.7.1 slow down');
  t.equal(x.calls, 0);
  t.match(d.note, /allowlisted: allow.sasl/);
});

// ---- overrides -----------------------------------------------------------------------

t.test('overrides: first match wins; all given match fields must match', async (t) => {
  const overrides: ConfigPatch['overrides'] = [
    { name: 'partner', match: { clients: ['203.0.113.0/24'], sender_domains: ['partner.example'] }, checks: { x: { action: 'off' } } },
    { name: 'strict-domain', match: { recipient_domains: ['strict.example'] }, checks: { x: { action: 'reject', message: 'strict' } } },
    { name: 'authed', match: { sasl: true }, checks: { x: { action: 'warn' } } },
    { name: 'strict-again', match: { recipient_domains: ['strict.example'] }, checks: { x: { action: 'hold' } } },
  ];
  const rows: Array<[Record<string, string>, string, string | undefined]> = [
    [{}, 'WARN x failed', undefined],
    [{ sender: 'a@partner.example' }, 'DUNNO', 'override: partner'],
    [{ sender: 'a@partner.example', client_address: '198.51.100.1' }, 'WARN x failed', undefined],
    [{ recipient: 'u@strict.example' }, 'REJECT strict', 'override: strict-domain'],
    [{ recipient: 'u@sub.strict.example' }, 'REJECT strict', 'override: strict-domain'],
    [{ recipient: 'u@strict.example', sender: 'a@partner.example' }, 'DUNNO', 'override: partner'],
  ];
  for (const [over, want, note] of rows) {
    const { engine } = engineWith([fake('x', 'fail')], { checks: { x: { action: 'warn' } }, overrides, allow: { sasl: false } });
    const d = await decide(engine, req(over));
    t.equal(answer(d), want, JSON.stringify(over));
    t.equal(d.note, note, `${JSON.stringify(over)} note`);
  }
});

t.test('overrides: unknown check ids are reported, limit rules can be overridden', async (t) => {
  const lim = new FakeLimiter([{ check: 'limit:in', result: 'fail', reason: 'too many', action: { action: 'defer', message: 'later' } }]);
  const { engine } = engineWith([fake('x', 'pass')], {
    checks: { x: { action: 'reject' } },
    overrides: [{ name: 'vip', match: { recipient_domains: ['vip.example'] }, checks: { 'limit:in': { action: 'warn' }, nosuch: { action: 'off' } } }],
  }, { limiter: lim });
  t.ok(engine.warnings.some((w) => w.includes('unknown check "nosuch"')));
  t.equal(answer(await decide(engine)), 'DEFER later');
  t.equal(answer(await decide(engine, req({ recipient: 'a@vip.example' }))), 'WARN later');
});

t.test('instance memo: overrides keyed on the recipient domain still apply per recipient', async (t) => {
  const x = fake('x', 'fail');
  const y = fake('y', 'fail');
  const { engine } = engineWith([x, y], {
    checks: { x: { action: 'reject', message: 'x' }, y: { action: 'off' } },
    overrides: [{ name: 'lenient', match: { recipient_domains: ['lenient.example'] }, checks: { x: { action: 'off' }, y: { action: 'defer', message: 'y' } } }],
  });
  const c = conn();
  t.equal(answer(await decide(engine, req({ recipient: 'a@lenient.example' }), c)), 'DEFER y');
  t.equal(answer(await decide(engine, req({ recipient: 'b@other.example' }), c)), 'REJECT x');
  t.equal(answer(await decide(engine, req({ recipient: 'c@lenient.example' }), c)), 'DEFER y');
  t.equal(x.calls, 1, 'x ran once for the instance');
  t.equal(y.calls, 1, 'y ran once for the instance');
});

// ---- messages ------------------------------------------------------------------------

t.test('message placeholders are filled and sanitised', async (t) => {
  const message = 'c={client_address} n={client_name} h={helo_name} s={sender} d={sender_domain} r={recipient} p={ptr} k={check} sc={score} why={reason} own={mx} none={nosuch}.';
  const x = fake('x', 'fail', 'rdns', { ptr: 'host.example.net', mx: 'mx1.example.net' });
  const { engine } = engineWith([x], { checks: { x: { action: 'reject', score: 1.25, message } } });
  const d = await decide(engine);
  t.equal(
    d.action.text,
    'c=203.0.113.5 n=unknown h=mail.example.net s=alice@example.net d=example.net r=bob@example.com p=host.example.net k=x sc=1.25 why=x says fail own=mx1.example.net none=.',
  );
  const d2 = await decide(engine, req({ sender: '' }));
  t.match(d2.action.text, / s=<> d= /, 'null sender renders <>');
});

t.test('CR/LF and placeholder injection from the client never reach the action line', async (t) => {
  const { engine } = engineWith([fake('x', 'fail')], { checks: { x: { action: 'reject', code: '550 5.7.1', message: 'bad HELO {helo_name} from {sender}' } } });
  const evil = 'evil\r\naction=OK\n\nrequest=smtpd_access_policy {sender}\u0000\u00e9';
  const d = await decide(engine, req({ helo_name: evil }));
  const line = encodeAction(d.action);
  t.equal(line.split('\n').length, 3, 'exactly one line plus the blank line');
  t.notMatch(line.slice(0, -2), /[\r\n\0]/);
  t.match(line, /^action=550 5\.7\.1 bad HELO evil action=OK request=smtpd_access_policy \{sender\} from alice@example\.net\n\n$/);
  const long = await decide(engine, req({ helo_name: 'a'.repeat(1000) }));
  t.ok(long.action.text!.length <= 400, 'bounded');
  t.match(long.action.text!, /from alice@example\.net$/, 'a long value cannot push the rest out');
});

t.test('templates with control characters in the config are cleaned and reported', async (t) => {
  const warnings: string[] = [];
  const tpl = compileTemplate('line1\nline2 {check}', (m) => warnings.push(m));
  t.same(tpl.parts, ['line1 line2 ', '']);
  t.same(tpl.names, ['check']);
  t.equal(warnings.length, 1);
});

// ---- header stamping -----------------------------------------------------------------

function headerChecks() {
  return [
    fake('helo_invalid', 'pass', 'helo'),
    fake('helo_mismatch', 'fail', 'helo'),
    fake('rdns_missing', 'pass', 'rdns', { ptr: 'mail.example.net' }),
    fake('rdns_unconfirmed', 'pass', 'rdns', { ptr: 'mail.example.net' }),
    fake('client_private', 'pass', 'client'),
    fake('sender_domain_unknown', 'skip', 'sender'),
  ];
}
const headerSettings: Record<string, CheckSetting> = {
  helo_invalid: { action: 'reject' },
  helo_mismatch: { action: 'warn' },
  rdns_missing: { action: 'defer' },
  rdns_unconfirmed: { action: 'defer' },
  client_private: { action: 'reject' },
  sender_domain_unknown: { action: 'reject' },
};

t.test('header stamping (simple): PREPEND once per instance, at RCPT/DATA only, wins over WARN', async (t) => {
  const checks = headerChecks();
  const { engine } = engineWith(checks, { checks: headerSettings, header: { enabled: true } });
  const c = conn();
  const first = await decide(engine, req(), c);
  t.equal(answer(first), 'PREPEND X-Policy-Identity: helo=fail(helo_mismatch) rdns=pass client=pass sender=skip');
  t.same(first.fired, ['helo_mismatch']);
  const second = await decide(engine, req({ recipient: 'c@example.com' }), c);
  t.equal(answer(second), 'WARN helo_mismatch failed', 'second RCPT of the instance: no second header');
  const data = await decide(engine, req({ protocol_state: 'DATA', recipient: '' }), c);
  t.equal(data.action.verb, 'DUNNO', 'DATA: the instance was judged at RCPT, its answers stand');
  const next = await decide(engine, req({ instance: 'c4d.6b03897a.62006.1' }), c);
  t.equal(next.action.verb, 'PREPEND', 'a new instance gets its own header');
  t.equal(checks[0]!.calls, 2, 'checks ran once per instance');

  const mail = await decide(engine, req({ protocol_state: 'MAIL', instance: '', recipient: '' }), conn());
  t.equal(mail.action.verb, 'WARN', 'no PREPEND at MAIL (no instance yet)');
  const eom = await decide(engine, req({ protocol_state: 'END-OF-MESSAGE', instance: 'x.1' }), conn());
  t.equal(eom.action.verb, 'DUNNO', 'first seen at END-OF-MESSAGE: not judged by default');
  const late = engineWith(headerChecks(), { checks: headerSettings, header: { enabled: true }, judge_after_data: true }).engine;
  const eom2 = await decide(late, req({ protocol_state: 'END-OF-MESSAGE', instance: 'x.1' }), conn());
  t.equal(eom2.action.verb, 'WARN', 'judge_after_data: judged at END-OF-MESSAGE, but no PREPEND there (Postfix ignores it)');
  t.match(encodeAction(first.action), /^action=PREPEND X-Policy-Identity: /, 'the encoder accepts the header line');
});

t.test('header stamping: not for blocking answers or allowlisted requests; the header comes back for a later recipient', async (t) => {
  const { engine } = engineWith(headerChecks(), {
    checks: { ...headerSettings },
    header: { enabled: true },
    overrides: [{ name: 'strict', match: { recipient_domains: ['strict.example'] }, checks: { helo_mismatch: { action: 'reject' } } }],
  });
  const c = conn();
  t.equal((await decide(engine, req({ recipient: 'a@strict.example' }), c)).action.verb, 'REJECT');
  t.equal((await decide(engine, req(), c)).action.verb, 'PREPEND', 'first accepted recipient gets the header');
  t.equal((await decide(engine, req({ client_address: '127.0.0.1' }), conn())).action.verb, 'DUNNO', 'allowlisted: no header');
});

t.test('header stamping (rfc8601): iprev from the rdns checks', async (t) => {
  const rows: Array<[CheckResult, CheckResult, string, string]> = [
    ['pass', 'pass', '203.0.113.5', 'Authentication-Results: mx.example.org; iprev=pass policy.iprev=203.0.113.5 (mail.example.net)'],
    ['fail', 'skip', '203.0.113.5', 'Authentication-Results: mx.example.org; iprev=permerror policy.iprev=203.0.113.5 (mail.example.net)'],
    ['tempfail', 'skip', '203.0.113.5', 'Authentication-Results: mx.example.org; iprev=temperror policy.iprev=203.0.113.5 (mail.example.net)'],
    ['pass', 'tempfail', '203.0.113.5', 'Authentication-Results: mx.example.org; iprev=temperror policy.iprev=203.0.113.5 (mail.example.net)'],
    ['pass', 'fail', '2001:db8::25', 'Authentication-Results: mx.example.org; iprev=fail policy.iprev="2001:db8::25" (mail.example.net)'],
    ['skip', 'skip', '203.0.113.5', 'Authentication-Results: mx.example.org; none'],
  ];
  for (const [missing, unconfirmed, client, want] of rows) {
    const checks = [fake('rdns_missing', missing, 'rdns', { ptr: 'mail.example.net' }), fake('rdns_unconfirmed', unconfirmed, 'rdns', { ptr: 'mail.example.net' })];
    const { engine } = engineWith(checks, {
      checks: { rdns_missing: { action: 'warn' }, rdns_unconfirmed: { action: 'warn' } },
      header: { enabled: true, format: 'rfc8601', authserv_id: 'mx.example.org' },
      on_tempfail: { action: 'off' },
    });
    const d = await decide(engine, req({ client_address: client }));
    t.equal(answer(d), `PREPEND ${want}`, `${missing}/${unconfirmed}`);
  }
});

// ---- instance memo -------------------------------------------------------------------

t.test('instance memo: 50 RCPTs of one message run the checks once; limits every time', async (t) => {
  const checks = [fake('a', 'pass'), fake('b', 'fail'), fake('c', 'tempfail')];
  const lim = new FakeLimiter();
  const seen: string[] = [];
  const { engine } = engineWith(checks, { checks: { a: { action: 'reject' }, b: { action: 'warn' }, c: { action: 'defer' } } }, {
    limiter: lim,
    onFinding: (f) => seen.push(f.check),
  });
  const c = conn();
  const answers = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const d = await decide(engine, req({ recipient: `u${i}@example.com` }), c);
    answers.add(answer(d));
    if (i > 0) t.match(d.note, /cached: instance/, `rcpt ${i} note`);
  }
  t.same(checks.map((x) => x.calls), [1, 1, 1], 'each check ran once (tempfail included: judged once)');
  t.equal(lim.evaluated.length, 50, 'limits evaluated per recipient');
  t.equal(answers.size, 1, 'same answer for every recipient');
  t.equal(seen.length, 3, 'onFinding saw 3 fresh findings (no limit findings here)');
  t.equal(engine.stats().instanceHits, 49);
});

t.test('instance memo: a different client or HELO on the same instance is judged again; a reloaded engine ignores old memos', async (t) => {
  const a = fake('a', 'pass');
  const cfg: ConfigPatch = { checks: { a: { action: 'reject' } } };
  const { engine } = engineWith([a], cfg);
  const c = conn();
  await decide(engine, req(), c);
  await decide(engine, req({ helo_name: 'other.example.net' }), c);
  t.equal(a.calls, 2);
  const { engine: reloaded } = engineWith([a], cfg);
  await decide(reloaded, req({ helo_name: 'other.example.net' }), c);
  t.equal(a.calls, 3, 'memo written by the old engine is not trusted');
});

t.test('a fully remembered request is decided synchronously', async (t) => {
  const { engine } = engineWith([fake('a', 'fail')], { checks: { a: { action: 'defer' } } });
  const c = conn();
  const first = engine.decide(req(), c);
  t.ok(first instanceof Promise, 'first request runs checks');
  await first;
  const second = engine.decide(req({ recipient: 'z@example.com' }), c);
  t.notOk(second instanceof Promise, 'second request: no promise');
  t.equal(answer(second as Decision), 'DEFER a failed');
});

// ---- identity cache ------------------------------------------------------------------

t.test('identity cache: the same identity on another connection is judged from the cache; tempfail is not cached; TTL', async (t) => {
  let now = 1_000_000;
  const a = fake('a', 'fail');
  const b = fake('b', 'tempfail');
  const dns = fakeDns();
  const engine = createEngine(config({ checks: { a: { action: 'warn' }, b: { action: 'warn' } } }), {
    dns, checks: [a, b], now: () => now, identityCache: { ttlMs: 2000, maxEntries: 10 },
  });
  await decide(engine, req(), conn());
  const d = await decide(engine, req({ instance: 'other' }), conn());
  t.equal(a.calls, 1, 'a cached');
  t.equal(b.calls, 2, 'tempfail re-run');
  t.match(d.note, /cached: identity \(partly\)/);
  await decide(engine, req({ instance: 'x', sender: 'bob@other.example' }), conn());
  t.equal(a.calls, 2, 'another sender domain is another identity');
  await decide(engine, req({ instance: 'y', sender: 'carol@example.net' }), conn());
  t.equal(a.calls, 3, 'another local part is another key (SPF reads it: %{l}, and its findings quote the sender)');
  await decide(engine, req({ instance: 'y1', sender: 'carol@example.net' }), conn());
  t.equal(a.calls, 3, 'the same sender again is judged from the cache');
  await decide(engine, req({ instance: 'y2', protocol_state: 'MAIL' }), conn());
  t.equal(a.calls, 4, 'another protocol_state is another key');
  await decide(engine, req({ instance: 'y3', server_address: '192.0.2.25' }), conn());
  t.equal(a.calls, 5, 'another server_address is another key (helo_impersonation reads it)');
  now += 2001;
  await decide(engine, req({ instance: 'z' }), conn());
  t.equal(a.calls, 6, 'expired after the TTL');
  t.ok(engine.stats().identityCacheHits >= 2);
});

// ---- limits ----------------------------------------------------------------------------

t.test('limiter: evaluate at RCPT only, record at END-OF-MESSAGE only; errors fail open', async (t) => {
  const lim = new FakeLimiter();
  const { engine } = engineWith([fake('a', 'pass')], { checks: { a: { action: 'reject' } } }, { limiter: lim });
  for (const state of ['CONNECT', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE']) {
    await decide(engine, req({ protocol_state: state }), conn());
  }
  t.same(lim.evaluated, ['RCPT']);
  t.same(lim.recorded, ['END-OF-MESSAGE']);
  const bad = new FakeLimiter([], true);
  const errs: string[] = [];
  const e2 = engineWith([fake('a', 'pass')], { checks: { a: { action: 'reject' } } }, { limiter: bad, onError: (c) => errs.push(c) }).engine;
  const d = await decide(e2);
  t.equal(d.action.verb, 'DUNNO');
  t.match(d.note, /rate limits not evaluated/);
  const d2 = await decide(e2, req({ protocol_state: 'END-OF-MESSAGE' }));
  t.match(d2.note, /counters not updated/);
  t.same(errs, ['PI_INTERNAL', 'PI_INTERNAL']);
});

t.test('limit findings combine by severity after the checks; a tempfailed limit never gives 5xx', async (t) => {
  const rows: Array<[Finding[], string]> = [
    [[{ check: 'limit:r', result: 'fail', reason: '', action: { action: 'reject', code: '550 5.7.1', message: 'limit' } }], '550 5.7.1 limit'],
    [[{ check: 'limit:r', result: 'fail', reason: '', action: { action: 'defer', message: 'limit' } }], 'DEFER check'],
    [[{ check: 'limit:r', result: 'tempfail', reason: '', action: { action: 'reject', message: 'limit' } }], 'DEFER check'],
    [[{ check: 'limit:r', result: 'fail', reason: '' }], 'DEFER check'],
    [[{ check: 'limit:r', result: 'pass', reason: '' }], 'DEFER check'],
  ];
  for (const [findings, want] of rows) {
    const { engine } = engineWith([fake('a', 'fail')], { checks: { a: { action: 'defer', message: 'check' } } }, { limiter: new FakeLimiter(findings) });
    const d = await decide(engine);
    t.equal(answer(d), want, JSON.stringify(findings));
    t.equal(d.findings.at(-1)!.check, 'limit:r', 'limit findings come after the checks');
  }
  const { engine } = engineWith([], {}, { limiter: new FakeLimiter([{ check: 'limit:r', result: 'tempfail', reason: '', action: { action: 'reject', message: 'x' } }]) });
  const d = await decide(engine);
  t.equal(d.action.verb, 'DEFER_IF_PERMIT');
  t.notOk(permanentOrDiscard(d));
  // on_backend_failure: defer brings its own 451 deferral, not the DNS text of on_tempfail,
  // and a 5xx code on it is forced to class 4
  for (const code of ['451 4.3.0', '554 5.3.0']) {
    const own = engineWith([], { on_tempfail: { action: 'off' } }, {
      limiter: new FakeLimiter([{ check: 'limit:r', result: 'tempfail', reason: '', action: { action: 'defer', code, message: 'rate limit service down' } }]),
    }).engine;
    const od = await decide(own);
    t.match(answer(od), /^4\d\d 4\.3\.0 rate limit service down$/, `backend failure deferral (${code})`);
    t.notOk(permanentOrDiscard(od));
  }
});

// ---- states ----------------------------------------------------------------------------

t.test('unknown protocol_state -> DUNNO with a note, checks not run, never throws', async (t) => {
  const a = fake('a', 'fail');
  const { engine } = engineWith([a], { checks: { a: { action: 'reject' } } });
  for (const state of ['', 'BOGUS', 'rcpt\nx']) {
    const d = await decide(engine, req({ protocol_state: state }));
    t.equal(d.action.verb, 'DUNNO', JSON.stringify(state));
    t.match(d.note, /unknown protocol_state/);
    t.notMatch(d.note!, /\n/);
  }
  t.equal(a.calls, 0);
  const d = await decide(engine, req({ protocol_state: 'rcpt' }));
  t.equal(d.action.verb, 'REJECT', 'protocol_state is case-insensitive (the request parser upper-cases it)');
});

t.test('checks whose action is off are never called', async (t) => {
  const a = fake('a', 'fail');
  const b = fake('b', 'fail');
  const { engine } = engineWith([a, b], { checks: { a: { action: 'off' }, b: { action: 'warn' } } });
  const d = await decide(engine);
  t.equal(a.calls, 0);
  t.equal(summaryOf(d), 'b=fail');
});

t.test('checks missing from the config use their registry defaults', async (t) => {
  const { engine } = engineWith([fake('a', 'fail')], {});
  t.equal(answer(await decide(engine)), 'REJECT a failed');
});

// ---- explanation ---------------------------------------------------------------------

t.test('explain: rows for every check, effects, table and JSON', async (t) => {
  const lim = new FakeLimiter([{ check: 'limit:in', result: 'pass', reason: '3/100 per 1h', action: { action: 'defer', message: 'later' } }]);
  const checks = [fake('helo_invalid', 'pass'), fake('rdns_missing', 'fail', 'rdns'), fake('rdns_generic', 'fail', 'rdns'), fake('sender_mx_required', 'fail', 'sender'), fake('dnsy', 'tempfail', 'sender')];
  const { engine } = engineWith(checks, {
    checks: {
      helo_invalid: { action: 'reject' },
      rdns_missing: { action: 'defer', code: '450 4.7.25', message: 'no PTR for {client_address}' },
      rdns_generic: { action: 'warn', score: 1 },
      sender_mx_required: { action: 'off' },
      dnsy: { action: 'reject' },
    },
    scoring: { reject_at: 10 },
    judge_after_data: true,
  }, { limiter: lim });
  const { decision, explanation } = await engine.explain(req({ protocol_state: 'END-OF-MESSAGE' }));
  t.same(lim.recorded, [], 'explain never records');
  t.equal(explanation.answer, '450 4.7.25 no PTR for 203.0.113.5');
  t.equal(decision.action.code, '450 4.7.25');
  const byCheck = Object.fromEntries(explanation.rows.map((r) => [r.check, r]));
  t.equal(byCheck.rdns_missing!.effect, 'decides');
  t.equal(byCheck.rdns_generic!.effect, 'outranked, score +1');
  t.equal(byCheck.sender_mx_required!.result, 'off');
  t.equal(byCheck.sender_mx_required!.effect, 'not run');
  t.equal(byCheck.dnsy!.effect, 'on_tempfail, outranked');
  t.equal(byCheck.score!.reason, 'sum 1; reject_at 10, defer_at -');
  const text = renderExplanation(explanation);
  t.match(text, /^answer: +450 4\.7\.25 no PTR for 203\.0\.113\.5$/m);
  t.match(text, /^CHECK +RESULT +ACTION +EFFECT +REASON$/m);
  t.match(text, /^rdns_missing +fail +defer 450 4\.7\.25 +decides +rdns_missing says fail$/m);
  const json = explanationToJson(explanation);
  t.equal(JSON.parse(JSON.stringify(json)).checks.length, 6);
  t.equal((json as { answer: string }).answer, explanation.answer);

  const rcpt = await engine.explain(req());
  t.equal(rcpt.explanation.rows.find((r) => r.check === 'limit:in')?.group, 'limit', 'limit rows at RCPT');
  const allowed = await engine.explain(req({ client_address: '127.0.0.1' }));
  t.equal(allowed.explanation.allowlisted, 'allow.clients');
  t.ok(allowed.explanation.rows.filter((r) => r.group !== 'limit' && r.group !== 'scoring').every((r) => r.effect === 'not run (allowlisted)'));
});

t.test('explain in dry-run shows the enforce answer', async (t) => {
  const { engine } = engineWith([fake('x', 'fail')], { mode: 'warn', checks: { x: { action: 'reject', code: '550 5.7.1', message: 'no' } } });
  const { explanation } = await engine.explain(req());
  t.equal(explanation.wouldBe, '550 5.7.1 no');
  t.match(explanation.answer, /^WARN dry-run: would answer 550 5\.7\.1 no \[x\]$/);
  t.match(renderExplanation(explanation), /^enforce: +550 5\.7\.1 no/m);
});

// ---- the shipped checks with only their action changed (found by the e2e suite) ----------

t.test('a check enabled or re-actioned without a code keeps a fitting default code, silently', async (t) => {
  const { FakeDns } = await import('./helpers/fake-dns.js');
  const r = loadConfigText(
    LAB_IDENTITY_YAML + 'checks:\n  client_not_sender_mx: { action: reject }\n  rdns_missing: { action: disconnect }\n  helo_not_fqdn: { action: hold }\n  sender_domain_unknown: { action: discard }\n',
    'x.yaml',
  );
  t.ok(r.ok);
  if (!r.ok) return;
  const zone = {
    'other.example': { MX: [[10, 'mx.other.example']] as Array<[number, string]> },
    'mx.other.example': { A: ['198.51.100.7'] },
    'mail.example.net': { A: ['203.0.113.10'] },
    '203.0.113.10': { PTR: ['mail.example.net'] },
  };
  const dns = new FakeDns(zone);
  const engine = createEngine(r.config, { dns: { scoped: () => dns }, identityCache: false });
  t.same(engine.warnings.filter((w) => !w.includes('cannot DISCARD or HOLD')), [], 'no warning about codes nobody wrote');
  t.ok(engine.warnings.some((w) => /checks\.helo_not_fqdn: hold, checks\.sender_domain_unknown: discard: Postfix cannot DISCARD or HOLD at CONNECT/.test(w)), 'check-config says where DISCARD/HOLD become REJECT/DEFER');
  const d = await engine.decide(
    toPolicyRequest({ request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: '203.0.113.10', helo_name: 'mail.example.net', sender: 'a@other.example', recipient: 'r@example.com', instance: 'i1' }),
    { engine: undefined, peer: 'test' },
  );
  t.same(d.fired, ['client_not_sender_mx']);
  t.match(answer(d), /^550 5\.7\.1 /, 'the default 550 5.7.1 of a check that is off by default');
});

t.test('identityKey: a key found among the ones made before equals the key built from the fields (hostile fields too)', async (t) => {
  // the key as it was built before keys were kept (findings-cache.ts): the reference
  const naive = (st: string, c: string, sv: string, h: string | undefined, se: string, n: boolean, a: boolean): string =>
    `${st}\u0000${c}\u0000${sv}\u0000${h === undefined ? '-' : `=${h}`}\u0000<${se}>\u0000${n ? 1 : 0}${a ? 1 : 0}`;
  const states = ['CONNECT', 'EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE', 'VRFY', 'ETRN'];
  const pieces = ['', 'a', 'ab', '-', '=', '<', '>', '<a>', '\u0000', 'a\u00001', '0', '1', '01', '=a', '192.0.2.1', '2001:db8::1', 'mx.example.org'];
  let seed = 11;
  const pick = <T>(xs: readonly T[]): T => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return xs[seed % xs.length]!; };
  type Fields = [string, string, string, string | undefined, string, boolean, boolean];
  const choices: ReadonlyArray<readonly (string | boolean | undefined)[]> = [
    states, pieces.slice(0, 6), pieces, [undefined, ...pieces], pieces, [false, true], [false, true],
  ];
  let same = 0;
  const check = (f: Fields): boolean => {
    const want = naive(...f);
    const got = identityKey(...f);
    if (got === want) return true;
    t.fail(`${JSON.stringify(f)}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    return false;
  };
  for (let i = 0; i < 5_000; i++) {
    // few client addresses, so most calls look among known keys (and the per-address bound turns over);
    // then the same fields with one changed, each in turn: the key just made must not be taken for it
    const f = choices.map((c) => pick(c)) as Fields;
    if (!check(f)) break;
    same++;
    for (let k = 0; k < f.length; k++) {
      const g = [...f] as Fields;
      g[k] = pick(choices[k]!) as never;
      if (!check(g)) break;
      same++;
    }
  }
  t.equal(same, 40_000, 'every key equals the reference');
  t.not(identityKey('RCPT', 'a', 'b', undefined, 's', false, false), identityKey('RCPT', 'a', 'b', '', 's', false, false), 'no HELO attribute and an empty one differ');
  t.not(identityKey('RCPT', 'a', 'b', 'h', 's', false, false), identityKey('RCPT', 'a', 'b', 'h', 's', true, false), 'the null-sender flag counts');
  t.not(identityKey('RCPT', 'a', 'b', 'h', 'alice@example.net', false, false), identityKey('RCPT', 'a', 'b', 'h', 'mallory@example.net', false, false), 'the local part counts (SPF %{l})');
  t.not(identityKey('RCPT', 'a', 'b', 'h', 'a@x', false, false), identityKey('RCPT', 'a', 'b', 'h', 'a@x>', false, false), 'a sender that is a prefix of another');
});

t.test('identityKey: the keys kept per client address stay small whatever the HELO and sender (8 KB each from a hostile client)', async (t) => {
  const long = (c: string, k: number) => `${c.repeat(8000)}${k}`;
  let wrong = 0;
  for (let a = 0; a < 1100; a++) {
    for (let k = 0; k < 4; k++) {
      const c = `2001:db8::${a.toString(16)}`;
      const want = `RCPT\u0000${c}\u0000192.0.2.25\u0000=${long('h', k)}\u0000<x@${long('d', k)}>\u000000`;
      if (identityKey('RCPT', c, '192.0.2.25', long('h', k), `x@${long('d', k)}`, false, false) !== want) wrong++;
    }
  }
  t.equal(wrong, 0, 'a long key is still the whole key');
  const { chars } = internedFootprint();
  t.ok(chars <= 4 * 1024 * 512, `${chars} chars kept (4,400 keys of 16 KB offered; was 59 MB held)`);
  // short keys are still kept: a warm client's key comes back as the same string
  const a = identityKey('RCPT', '192.0.2.77', '192.0.2.25', 'mail.example.net', 'alice@example.net', false, false);
  t.ok(internedFootprint().chars >= a.length, 'a short key is kept');
});

t.test('identity cache: a sender of the same domain from the same client gets its own SPF verdict and words, not the last sender\'s', async (t) => {
  // RFC 7208 §7.2: %{l} is the sender's local part; a record may permit one user and not another from the same address
  const zone: Record<string, string[]> = {
    'txt:example.net': ['v=spf1 exists:%{l}.allowed.example.net -all'],
    'a:alice.allowed.example.net': ['127.0.0.2'],
  };
  const look = (kind: string) => (name: string): Promise<DnsAnswer<string>> => {
    const r = zone[`${kind}:${name}`];
    return Promise.resolve(r ? { status: 'ok', records: r, reason: 'NOERROR' } : { status: 'notfound', records: [], reason: 'NXDOMAIN' });
  };
  const lookup: DnsLookup = { a: look('a'), aaaa: look('aaaa'), mx: noAnswer, ptr: noAnswer, txt: look('txt') };
  const spf = CHECKS.find((c) => c.id === 'spf_mail_from')!;
  const engine = createEngine(config({ checks: { spf_mail_from: { action: 'reject' } } }), {
    dns: { scoped: () => lookup }, checks: [spf], identityCache: { ttlMs: 2000, maxEntries: 10 },
  });
  const alice = await decide(engine, req({ instance: 'i1', sender: 'alice@example.net' }), conn());
  t.equal(alice.findings.find((f) => f.check === 'spf_mail_from')?.result, 'pass', 'alice is permitted');
  const mallory = await decide(engine, req({ instance: 'i2', sender: 'mallory@example.net' }), conn());
  const f = mallory.findings.find((x) => x.check === 'spf_mail_from');
  t.equal(f?.result, 'fail', 'mallory is not, though alice was judged a moment before from the same address');
  t.notMatch(f?.reason ?? '', /alice/, 'no word of the other sender');
  t.match(answer(mallory), /^REJECT|^5/);
});
