/**
 * protocol-states — one test per row of docs/engine.md "What happens at each
 * protocol_state" (src/engine/states.ts), plus the END-OF-MESSAGE cases of
 * issue 11: the LAN client Postfix permitted with permit_mynetworks, several
 * recipients under an override, rate limits counting only what this daemon
 * did not refuse, limit: overrides on allowlisted requests, and the
 * check-config warnings for settings that can never take effect.
 */
import t from 'tap';
import { createEngine, type LimiterLike } from '../src/engine/engine.js';
import { loadConfigText } from '../src/config/load.js';
import { toPolicyRequest, type PolicyRequest } from '../src/protocol/request.js';
import { actionText } from '../src/protocol/action.js';
import type { Config } from '../src/config/types.js';
import type { CheckDef, Finding } from '../src/checks/types.js';
import type { ConnState, Decision } from '../src/engine/types.js';
import { FakeDns } from './helpers/fake-dns.js';
import { startDnsServer } from './helpers/dns-server.js';
import { memoryLogger } from './helpers/log.js';
import { createRuntime } from '../src/runtime.js';
import { createLimiter } from '../src/limits/limiter.js';

function cfg(yaml: string): Config {
  const r = loadConfigText(yaml, 'test.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const BASE_ATTRS = {
  request: 'smtpd_access_policy', protocol_name: 'ESMTP', client_address: '203.0.113.5', client_name: 'unknown',
  reverse_client_name: 'unknown', helo_name: 'mail.example.net', sender: 'alice@example.net', recipient: 'bob@example.com',
  recipient_count: '0', instance: '', sasl_username: '',
};

function req(state: string, over: Record<string, string> = {}): PolicyRequest {
  const instance = ['RCPT', 'DATA', 'END-OF-MESSAGE'].includes(state) ? 'c4d.6b03897a.62006.0' : '';
  return toPolicyRequest({ ...BASE_ATTRS, instance, protocol_state: state, ...over });
}

const conn = (): ConnState => ({ engine: undefined, peer: 'test' });
const answer = (d: Decision) => actionText(d.action, { allowOk: true });

/** A check with a real id (so the config's settings apply) that always fails. */
function failing(id: string): CheckDef & { calls: number } {
  const c = {
    id, group: 'client' as const, summary: 'fails', defaults: { action: 'reject' as const, message: `${id} failed` }, calls: 0,
    run(): Promise<Finding> {
      c.calls++;
      return Promise.resolve({ check: id, result: 'fail', reason: `${id} says fail` });
    },
  };
  return c;
}

class Limiter implements LimiterLike {
  evaluated: string[] = [];
  recorded: string[] = [];
  constructor(private readonly findings: Finding[] = []) {}
  async evaluate(r: PolicyRequest): Promise<Finding[]> {
    this.evaluated.push(r.protocol_state);
    return this.findings;
  }
  async record(r: PolicyRequest): Promise<void> {
    this.recorded.push(r.protocol_state);
  }
}

const noDns = { scoped: () => new FakeDns({}) };

function engine(yaml: string, opts: { limiter?: LimiterLike; checks?: CheckDef[] } = {}) {
  const check = failing('client_private');
  const e = createEngine(cfg(yaml), { dns: noDns, checks: opts.checks ?? [check], limiter: opts.limiter, identityCache: false });
  return { e, check };
}

t.test('CONNECT, EHLO, HELO, XCLIENT, STARTTLS: judged; DISCARD answered as REJECT, HOLD as DEFER; no rate limits', async (t) => {
  for (const state of ['CONNECT', 'EHLO', 'HELO', 'XCLIENT', 'STARTTLS']) {
    const lim = new Limiter();
    const plain = engine('checks:\n  client_private: { action: reject, code: "550 5.7.1" }\n', { limiter: lim });
    t.match(answer(await plain.e.decide(req(state), conn())), /^550 5\.7\.1 client address 203\.0\.113\.5 /, `${state}: judged`);
    const discard = engine('checks:\n  client_private: { action: discard, message: "go away" }\n').e;
    const d = await discard.decide(req(state), conn());
    t.equal(answer(d), 'REJECT go away', `${state}: DISCARD -> REJECT (Postfix skips DISCARD in client/helo restrictions)`);
    t.match(d.note, /discard answered as reject at/);
    const hold = engine('checks:\n  client_private: { action: hold, message: "wait" }\n').e;
    t.equal(answer(await hold.decide(req(state), conn())), 'DEFER wait', `${state}: HOLD -> DEFER`);
    t.same(lim.evaluated, [], `${state}: rate limits not checked`);
    t.same(lim.recorded, [], `${state}: nothing counted`);
  }
});

t.test('MAIL: judged; DISCARD and HOLD carried out as configured', async (t) => {
  for (const state of ['MAIL']) {
    const lim = new Limiter();
    const { e } = engine('checks:\n  client_private: { action: discard, message: "bye" }\n', { limiter: lim });
    t.equal(answer(await e.decide(req(state), conn())), 'DISCARD bye', state);
    const hold = engine('checks:\n  client_private: { action: hold, message: "wait" }\n').e;
    t.equal(answer(await hold.decide(req(state), conn())), 'HOLD wait', state);
    t.same(lim.evaluated, [], `${state}: rate limits not checked`);
  }
});

t.test('VRFY: judged; DISCARD and HOLD are skipped there (not_in_client_helo: no sender) -> REJECT / DEFER', async (t) => {
  const lim = new Limiter();
  const { e } = engine('checks:\n  client_private: { action: discard, message: "no" }\n', { limiter: lim });
  const d = await e.decide(req('VRFY'), conn());
  t.equal(answer(d), 'REJECT no', 'DISCARD -> REJECT: Postfix would let the VRFY through');
  t.match(d.note, /discard answered as reject at VRFY/);
  const hold = engine('checks:\n  client_private: { action: hold, message: "wait" }\n').e;
  t.equal(answer(await hold.decide(req('VRFY'), conn())), 'DEFER wait', 'HOLD -> DEFER');
  t.same(lim.evaluated, [], 'rate limits not checked');
});

t.test('ETRN: judged; DISCARD and HOLD are unavailable there (can_delegate_action) -> REJECT / DEFER', async (t) => {
  const { e } = engine('checks:\n  client_private: { action: discard, message: "no" }\n');
  t.equal(answer(await e.decide(req('ETRN'), conn())), 'REJECT no');
  const hold = engine('checks:\n  client_private: { action: hold, message: "wait" }\n').e;
  t.equal(answer(await hold.decide(req('ETRN'), conn())), 'DEFER wait');
});

t.test('RCPT: judged, rate limits checked, DISCARD carried out', async (t) => {
  const lim = new Limiter();
  const { e, check } = engine('checks:\n  client_private: { action: discard, message: "bye" }\n', { limiter: lim });
  t.equal(answer(await e.decide(req('RCPT'), conn())), 'DISCARD bye');
  t.same(lim.evaluated, ['RCPT']);
  t.same(lim.recorded, []);
  t.equal(check.calls, 1);
});

t.test('DATA: an instance judged at RCPT is not judged again; its RCPT answer stands', async (t) => {
  const lim = new Limiter();
  const { e, check } = engine('checks:\n  client_private: { action: reject }\n', { limiter: lim });
  const c = conn();
  t.match(answer(await e.decide(req('RCPT'), c)), /^550 /);
  const d = await e.decide(req('DATA', { recipient: '' }), c);
  t.equal(answer(d), 'DUNNO');
  t.match(d.note, /judged before DATA/);
  t.equal(check.calls, 1, 'checks not run again');
  t.same(lim.evaluated, ['RCPT'], 'no limits at DATA');
});

t.test('DATA first seen: not judged by default; judge_after_data: true judges it', async (t) => {
  const { e, check } = engine('checks:\n  client_private: { action: reject }\n');
  const d = await e.decide(req('DATA'), conn());
  t.equal(answer(d), 'DUNNO');
  t.match(d.note, /first seen after DATA/);
  t.equal(check.calls, 0);
  const late = engine('judge_after_data: true\nchecks:\n  client_private: { action: reject }\n');
  t.match(answer(await late.e.decide(req('DATA'), conn())), /^550 /);
  t.equal(late.check.calls, 1);
});

t.test('END-OF-MESSAGE after RCPT: not judged again, the message is counted', async (t) => {
  const lim = new Limiter();
  const { e, check } = engine('checks:\n  client_private: { action: warn }\n', { limiter: lim });
  const c = conn();
  t.match(answer(await e.decide(req('RCPT'), c)), /^WARN /);
  const d = await e.decide(req('END-OF-MESSAGE', { recipient: '', recipient_count: '2' }), c);
  t.equal(answer(d), 'DUNNO');
  t.equal(check.calls, 1);
  t.same(lim.recorded, ['END-OF-MESSAGE'], 'counted');
});

t.test('END-OF-MESSAGE: the LAN client Postfix permitted (permit_mynetworks) gets no refusal under the defaults', async (t) => {
  // The real checks, the embedded default config: client_private refuses 192.168.1.20 at RCPT ...
  const dns = new FakeDns({});
  const lim = new Limiter();
  const e = createEngine(cfg(''), { dns: { scoped: () => dns }, limiter: lim, identityCache: false });
  const lan = { client_address: '192.168.1.20', helo_name: 'pc20.lan', sender: 'user@example.com', recipient: '', recipient_count: '1' };
  const rcpt = await e.decide(req('RCPT', { ...lan, recipient: 'x@example.org', instance: 'other.1' }), conn());
  t.match(answer(rcpt), /^550 5\.7\.1 /, 'judged (and refused) at RCPT: the sanity check of this test');
  // ... but first seen at END-OF-MESSAGE it was permitted by Postfix before the policy.
  const eom = await e.decide(req('END-OF-MESSAGE', lan), conn());
  t.equal(answer(eom), 'DUNNO');
  t.equal(eom.findings.length, 0, 'no identity check ran');
  t.same(lim.recorded, ['END-OF-MESSAGE'], 'its message is counted against rate limits');
});

t.test('END-OF-MESSAGE, several recipients under an override: the RCPT answers stand, the base settings do not refuse', async (t) => {
  const yaml = [
    'checks:',
    '  client_private: { action: reject }',
    'overrides:',
    '  - name: lenient',
    '    match: { recipient_domains: [lenient.example] }',
    '    checks: { client_private: { action: warn } }',
  ].join('\n');
  const lim = new Limiter();
  const { e } = engine(`${yaml}\n`, { limiter: lim });
  const c = conn();
  t.match(answer(await e.decide(req('RCPT', { recipient: 'a@lenient.example' }), c)), /^WARN /);
  t.match(answer(await e.decide(req('RCPT', { recipient: 'b@lenient.example' }), c)), /^WARN /);
  // Postfix sends no recipient at END-OF-MESSAGE when there are several.
  const eom = await e.decide(req('END-OF-MESSAGE', { recipient: '', recipient_count: '2' }), c);
  t.equal(answer(eom), 'DUNNO', 'not refused by the base settings');
  t.same(lim.recorded, ['END-OF-MESSAGE']);
});

t.test('rate limits count only messages this daemon did not refuse', async (t) => {
  const lim = new Limiter();
  const { e } = engine('judge_after_data: true\nchecks:\n  client_private: { action: reject }\n', { limiter: lim });
  const d = await e.decide(req('END-OF-MESSAGE'), conn());
  t.match(answer(d), /^550 /);
  t.same(lim.recorded, [], 'refused at END-OF-MESSAGE: not counted');
  t.match(d.note, /refused: not counted/);
  for (const action of ['defer', 'defer_if_permit']) {
    const l2 = new Limiter();
    const x = engine(`judge_after_data: true\nchecks:\n  client_private: { action: ${action} }\n`, { limiter: l2 }).e;
    await x.decide(req('END-OF-MESSAGE'), conn());
    t.same(l2.recorded, [], `${action}: not counted`);
  }
  for (const action of ['warn', 'hold', 'discard']) {
    const l3 = new Limiter();
    const x = engine(`judge_after_data: true\nchecks:\n  client_private: { action: ${action} }\n`, { limiter: l3 }).e;
    await x.decide(req('END-OF-MESSAGE'), conn());
    t.same(l3.recorded, ['END-OF-MESSAGE'], `${action}: accepted, counted`);
  }
  const dry = new Limiter();
  const w = engine('mode: warn\njudge_after_data: true\nchecks:\n  client_private: { action: reject }\n', { limiter: dry }).e;
  t.match(answer(await w.decide(req('END-OF-MESSAGE'), conn())), /^WARN dry-run/);
  t.same(dry.recorded, ['END-OF-MESSAGE'], 'dry run: the daemon did not refuse, counted');
});

t.test('limit: overrides apply to allowlisted requests (docs example under allow.sasl: true)', async (t) => {
  const yaml = [
    'limits:',
    '  rules:',
    '    - { id: outbound, key: sasl_username, limit: "100/1h", charge_on: attempts }',
    'overrides:',
    '  - name: submission',
    '    match: { sasl: true }',
    '    checks: { "limit:outbound": { action: warn } }',
  ].join('\n');
  const over: Finding = { check: 'limit:outbound', result: 'fail', reason: 'over', action: { action: 'defer', code: '450 4.7.1', message: 'slow down' } };
  const lim = new Limiter([over]);
  const e = createEngine(cfg(`${yaml}\n`), { dns: noDns, checks: [failing('client_private')], limiter: lim, identityCache: false });
  const d = await e.decide(req('RCPT', { sasl_username: 'alice', sasl_method: 'PLAIN' }), conn());
  t.equal(d.action.verb, 'WARN', 'the override turned the deferral into a warning');
  t.match(d.note, /allowlisted: allow\.sasl/);
  t.match(d.note, /override: submission/);
  t.same(e.warnings, [], 'nothing to warn about: the override has only limit: settings');
  const plain = await e.decide(req('RCPT'), conn());
  t.match(answer(plain), /^550 /, 'an unauthenticated client: no override, base settings');
});

t.test('check-config: overrides that can never match are named', async (t) => {
  const yaml = [
    'overrides:',
    '  - name: authenticated',
    '    match: { sasl: true }',
    '    checks: { client_private: { action: warn } }',
    '  - name: lan',
    '    match: { clients: [127.0.0.0/16] }',
    '    checks: { client_private: { action: warn } }',
    '  - name: ghost',
    '    match: { sender_domains: [example.org] }',
    '    checks: { "limit:nope": { action: warn } }',
    '  - name: all',
    '    match: {}',
    '    checks: { client_private: { action: warn } }',
    '  - name: shadowed',
    '    match: { sender_domains: [example.com] }',
    '    checks: { client_private: { action: warn } }',
  ].join('\n');
  const e = createEngine(cfg(`${yaml}\n`), { dns: noDns });
  const w = e.warnings.join('\n');
  t.match(w, /overrides\[0\] \(authenticated\): match sasl: true while allow\.sasl: true.*never apply/);
  t.match(w, /overrides\[1\] \(lan\): every match\.clients network is in allow\.clients/);
  t.match(w, /overrides\[2\] \(ghost\): limit:nope names no rule in limits\.rules/);
  t.match(w, /overrides\[4\] \(shadowed\) never matches: overrides\[3\] before it matches every request/);
  const senders = createEngine(cfg([
    'allow:',
    '  sender_domains: [example.com]',
    'overrides:',
    '  - { name: lists, match: { sender_domains: [lists.example.com] }, checks: { client_private: { action: warn } } }',
    '  - { name: mixed, match: { sender_domains: [example.com, example.org] }, checks: { client_private: { action: warn } } }',
    '  - { name: lookalike, match: { sender_domains: [badexample.com] }, checks: { client_private: { action: warn } } }',
  ].join('\n') + '\n'), { dns: noDns });
  t.equal(senders.warnings.length, 1, senders.warnings.join('\n'));
  t.match(senders.warnings[0], /overrides\[0\] \(lists\): every match\.sender_domains domain is in allow\.sender_domains.*never apply/);
  const shadowed = createEngine(cfg([
    'allow:',
    '  sasl: false',
    'overrides:',
    '  - { name: lan, match: { clients: [10.0.0.0/8] }, checks: { client_private: { action: warn } } }',
    '  - { name: lab, match: { clients: [10.1.0.0/16], sasl: true }, checks: { client_private: { action: off } } }',
    '  - { name: corp, match: { sender_domains: [corp.example] }, checks: { client_private: { action: warn } } }',
    '  - { name: corp-lists, match: { sender_domains: [lists.corp.example], recipient_domains: [example.net] }, checks: { client_private: { action: off } } }',
    '  - { name: wider, match: { clients: [10.0.0.0/7] }, checks: { client_private: { action: off } } }',
    '  - { name: other-sender, match: { sender_domains: [corp.example.org] }, checks: { client_private: { action: off } } }',
  ].join('\n') + '\n'), { dns: noDns });
  const sw = shadowed.warnings.join('\n');
  t.match(sw, /overrides\[1\] \(lab\) never matches: overrides\[0\] \(lan\) before it matches every request it would match/);
  t.match(sw, /overrides\[3\] \(corp-lists\) never matches: overrides\[2\] \(corp\)/);
  t.notMatch(sw, /overrides\[4\]/, 'a wider network than the earlier entry still matches some requests');
  t.notMatch(sw, /overrides\[5\]/, 'corp.example.org is not under corp.example');
  const rcptRules = createEngine(cfg([
    'limits:',
    '  rules:',
    '    - { id: to-partner, key: client_address, limit: 10/1h, only: { recipient_domains: [partner.example] } }',
    '    - { id: not-internal, key: client_address, limit: 10/1h, except: { recipient_domains: [corp.example] } }',
    '    - { id: counted-at-rcpt, key: client_address, limit: 10/1h, charge_on: attempts, only: { recipient_domains: [partner.example] } }',
  ].join('\n') + '\n'), { dns: noDns });
  const rw = rcptRules.warnings.join('\n');
  t.match(rw, /limits\.rules to-partner: only\.recipient_domains with charge_on: accepted: .*set charge_on: attempts/);
  t.match(rw, /limits\.rules not-internal: except\.recipient_domains with charge_on: accepted/);
  t.notMatch(rw, /counted-at-rcpt/, 'charge_on: attempts counts at RCPT, where the recipient is known');
  const ok = createEngine(cfg('allow:\n  sasl: false\noverrides:\n  - { match: { sasl: true }, checks: { client_private: { action: warn } } }\n'), { dns: noDns });
  t.same(ok.warnings, [], 'with allow.sasl: false the same override can match');
});

t.test('no limiter (no limits.rules): a warm decision is synchronous at every state', async (t) => {
  const c = conn();
  const e = createEngine(cfg('checks:\n  client_private: { action: warn }\n'), { dns: noDns, checks: [failing('client_private')], identityCache: false });
  const first = e.decide(req('RCPT'), c);
  t.ok(first instanceof Promise, 'the first RCPT runs the checks (async)');
  await first;
  for (const state of ['RCPT', 'DATA', 'END-OF-MESSAGE']) {
    const d = e.decide(req(state, { recipient: state === 'RCPT' ? 'x@example.com' : '' }), c);
    t.notOk(d instanceof Promise, `${state}: answered without a promise`);
  }
});

t.test('the runtime builds no limiter for an empty limits.rules: the allowlisted RCPT is answered without a promise', async (t) => {
  const dns = await startDnsServer({ zone: {} });
  t.teardown(() => dns.stop());
  const { log } = memoryLogger();
  const base = `dns:\n  servers: ["${dns.server}"]\n`;
  const local = req('RCPT', { client_address: '127.0.0.1' }); // allow.clients by default: no identity check runs
  const none = await createRuntime(cfg(base), log);
  t.teardown(() => none.close());
  t.equal(none.limiter, null, 'no limiter object');
  const d = none.engine.decide(local, conn());
  t.notOk(d instanceof Promise, 'synchronous');
  t.equal(answer(d as Decision), 'DUNNO');
  // control: one rule, and the same request waits for the limiter
  const one = await createRuntime(cfg(`${base}limits:\n  rules:\n    - { id: r, key: client_address, limit: 100/1h }\n`), log);
  t.teardown(() => one.close());
  t.not(one.limiter, null);
  const p = one.engine.decide(local, conn());
  t.ok(p instanceof Promise, 'a limiter makes the decision asynchronous');
  t.equal(answer(await p), 'DUNNO');
});

t.test('charge_on: attempts counts a RCPT the rule lets through even when an identity check refuses it (docs/limits.md)', async (t) => {
  const yaml = 'checks:\n  client_private: { action: reject }\nlimits:\n  rules:\n    - { id: tries, key: client_address, unit: recipients, charge_on: attempts, limit: 1/1h }\n';
  const config = cfg(yaml);
  const { log } = memoryLogger();
  const limiter = createLimiter(config.limits, log);
  t.teardown(() => limiter.close());
  const e = createEngine(config, { dns: noDns, checks: [failing('client_private')], limiter, identityCache: false });
  const c = conn();
  const first = await e.decide(req('RCPT', { recipient: 'a@example.com' }), c);
  t.match(answer(first), /^550 /, 'refused by the identity check');
  t.same(first.findings.filter((f) => f.check === 'limit:tries').map((f) => f.result), ['pass'], 'the rule let it through, and counted it');
  const second = await e.decide(req('RCPT', { recipient: 'b@example.com' }), c);
  t.same(second.findings.filter((f) => f.check === 'limit:tries').map((f) => f.result), ['fail'], 'the refused attempt used up the 1/1h');
});

t.test('a rate-limit rule with action: off still runs (checked and counted) but never acts (docs/limits.md)', async (t) => {
  const config = cfg('limits:\n  rules:\n    - { id: quiet, key: client_address, unit: recipients, charge_on: attempts, limit: 1/1h, action: off }\n');
  const { log } = memoryLogger();
  const limiter = createLimiter(config.limits, log);
  t.teardown(() => limiter.close());
  const e = createEngine(config, { dns: noDns, checks: [], limiter, identityCache: false });
  const results: string[] = [];
  for (const rcpt of ['a@example.com', 'b@example.com']) {
    const d = await e.decide(req('RCPT', { recipient: rcpt }), conn());
    t.equal(answer(d), 'DUNNO', `${rcpt}: never acts`);
    results.push(...d.findings.filter((f) => f.check === 'limit:quiet').map((f) => f.result));
  }
  t.same(results, ['pass', 'fail'], 'the first RCPT was counted: the second is over the limit');
});
