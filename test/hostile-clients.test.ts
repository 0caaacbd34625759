// Hostile policy clients (issue 13, client side): a connection that streams
// requests without reading answers, local users that are not Postfix, numbers
// and attributes Postfix cannot send, forged limit keys, secrets in logs,
// control characters in logged values.
import t from 'tap';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { createLimiter } from '../src/limits/limiter.js';
import { limitsFromYaml, rcpt, eom, quietLog } from './helpers/limits.js';
import { spawnSync } from 'node:child_process';
import { safeUrl, redisOptions } from '../src/limits/redis.js';
import { redactUrl, credentialPath } from '../src/config/redact.js';
import { loadConfigFile } from '../src/config/load.js';
import { DaemonProcess, CLI } from './helpers/daemon-process.js';
import { createEngine } from '../src/engine/engine.js';
import { identityKey } from '../src/engine/findings-cache.js';
import { defaultConfig } from '../src/config/load.js';
import { compileCidrs } from '../src/net/ip.js';
import { encodeAction } from '../src/protocol/action.js';
import type { DnsLookup, DnsAnswer } from '../src/dns/types.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log/logger.js';
import { dunnoDecider } from '../src/engine/dunno.js';
import { keyOf, HASHED_KEY_PREFIX } from '../src/limits/keys.js';
import { identityOf } from '../src/net/identity.js';
import { toPolicyRequest } from '../src/protocol/request.js';
import { startDaemon } from '../src/server/daemon.js';
import { Session, MAX_HELD_BYTES, type ServerContext } from '../src/server/session.js';
import { PolicyParser, DEFAULT_PARSER_LIMITS } from '../src/protocol/parser.js';
import type { Attrs } from '../src/protocol/request.js';
import { loadConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import type { Decider, Decision } from '../src/engine/types.js';
import type { PolicyRequest } from '../src/protocol/request.js';
import { block } from './helpers/policy-client.js';
import { memoryLogger } from './helpers/log.js';

function config(yaml: string): Config {
  const r = loadConfigText(yaml, 'test.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function limitsOfFile(file: string) {
  const r = loadConfigFile(file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config.limits.redis;
}

/** A request of about 64 KB: 8 attributes of 7,900 bytes (under every parser limit). */
function bigRequest(i: number): string {
  const attrs: Record<string, string> = { protocol_state: 'RCPT', recipient: `r${i}@example.org` };
  for (let k = 0; k < 8; k++) attrs[`pad${k}`] = 'x'.repeat(7900);
  return block(attrs);
}

/** A decider whose decisions wait until `release()`; counts calls. */
function gatedDecider(): Decider & { calls: number; release(): void } {
  const waiting: Array<() => void> = [];
  let open = false;
  const d = {
    calls: 0,
    decide(req: PolicyRequest): Promise<Decision> {
      d.calls++;
      const dec: Decision = { action: { verb: 'WARN', text: `seen ${req.recipient}` }, fired: [], findings: [] };
      if (open) return Promise.resolve(dec);
      return new Promise((r) => waiting.push(() => r(dec)));
    },
    release() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
  };
  return d;
}

t.test('parser: at most `max` requests come out, the rest is held unparsed', async (t) => {
  const p = new PolicyParser(DEFAULT_PARSER_LIMITS);
  const out: Attrs[] = [];
  const three = [1, 2, 3].map((i) => block({ protocol_state: 'RCPT', recipient: `r${i}` })).join('');
  t.equal(p.feed(three, out, 1), null);
  t.equal(out.length, 1, 'one request out');
  t.ok(p.held > 0, 'the other two are held as bytes');
  t.equal(p.feed(block({ protocol_state: 'RCPT', recipient: 'r4' }), out, 0), null, 'max 0: only held');
  t.equal(out.length, 1, 'nothing parsed while the caller is busy');
  for (let i = 2; i <= 4; i++) {
    t.equal(p.feed('', out, 1), null);
    t.equal(out.length, i, `request ${i} out`);
    t.equal(out[i - 1]!.recipient, `r${i}`, 'in arrival order');
  }
  t.equal(p.held, 0, 'nothing left');
  // a protocol error behind held requests is found when the parser gets there
  const q = new PolicyParser(DEFAULT_PARSER_LIMITS);
  const o2: Attrs[] = [];
  t.equal(q.feed(`${block({ protocol_state: 'RCPT' })}${block({ protocol_state: 'RCPT' })}bad\0line\n`, o2, 1), null);
  t.equal(o2.length, 1);
  t.equal(q.feed('', o2, 1), null, 'the second request');
  t.equal(q.feed('', o2, 1), 'PI_PROTO_NUL_BYTE', 'then the error');
});

t.test('session: one request decided at a time, reading paused meanwhile, no queue of parsed requests', async (t) => {
  const decider = gatedDecider();
  const written: string[] = [];
  let pauses = 0;
  let resumes = 0;
  const errors: string[] = [];
  const { log } = memoryLogger('silent');
  const ctx: ServerContext = {
    decider, parserLimits: DEFAULT_PARSER_LIMITS, allowOk: false, log,
    onDecision: () => {}, onProtocolError: (c) => errors.push(c),
  };
  const s = new Session(() => ctx, { write: (x) => written.push(x), end: () => {}, pause: () => pauses++, resume: () => resumes++ }, 'test');
  // 100 small requests in one chunk, then more chunks while the first is decided
  s.receive(Array.from({ length: 100 }, (_, i) => block({ protocol_state: 'RCPT', recipient: `r${i}` })).join(''));
  for (let i = 100; i < 110; i++) s.receive(block({ protocol_state: 'RCPT', recipient: `r${i}` }));
  t.equal(decider.calls, 1, 'only the first request is being decided');
  t.ok(s.queued <= 1, `parsed requests waiting: ${s.queued}`);
  t.equal(pauses, 1, 'the transport was paused');
  t.ok(s.heldBytes > 0 && s.heldBytes <= MAX_HELD_BYTES, `held bytes bounded (${s.heldBytes})`);
  decider.release();
  for (let i = 0; i < 50 && written.length < 110; i++) await new Promise((r) => setImmediate(r));
  t.equal(written.length, 110, 'every request answered');
  t.same(written.slice(0, 3), ['action=WARN seen r0\n\n', 'action=WARN seen r1\n\n', 'action=WARN seen r2\n\n'], 'in order');
  t.equal(written[109], 'action=WARN seen r109\n\n');
  t.ok(resumes >= 1, 'reading resumed once idle');
  t.same(errors, []);
});

t.test('session: a transport that cannot pause and a client that keeps sending is cut at MAX_HELD_BYTES', async (t) => {
  const decider = gatedDecider();
  const errors: string[] = [];
  let ended = false;
  const { log } = memoryLogger('silent');
  const ctx: ServerContext = {
    decider, parserLimits: DEFAULT_PARSER_LIMITS, allowOk: false, log,
    onDecision: () => {}, onProtocolError: (c) => errors.push(c),
  };
  const s = new Session(() => ctx, { write: () => {}, end: () => { ended = true; } }, 'test');
  for (let i = 0; i < 10 && errors.length === 0; i++) s.receive(bigRequest(i));
  t.same(errors, ['PI_PROTO_PIPELINE_OVERFLOW'], 'coded protocol error');
  t.ok(s.heldBytes <= MAX_HELD_BYTES, `held ${s.heldBytes} <= ${MAX_HELD_BYTES}`);
  t.equal(decider.calls, 1);
  decider.release();
  for (let i = 0; i < 20 && !ended; i++) await new Promise((r) => setImmediate(r));
  t.ok(ended, 'closed after answering the request in progress');
});

t.test('TCP: a client streaming 64 KB requests without reading answers, while the first waits', async (t) => {
  const decider = gatedDecider();
  const { log } = memoryLogger('warn');
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider });
  t.teardown(() => d.shutdown());
  const port = Number(d.addresses()[0]!.split(':').pop());
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.pause(); // never reads an answer
  let written = 0;
  let n = 0;
  const deadline = Date.now() + 1500;
  // write until the kernel and our buffers are full (bounded by time and count)
  while (Date.now() < deadline && n < 2000) {
    const req = bigRequest(n++);
    written += req.length;
    if (!sock.write(req)) {
      const drained = await Promise.race([new Promise((r) => sock.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 300))]);
      if (!drained) break;
    }
  }
  t.equal(decider.calls, 1, 'the daemon decides one request at a time');
  t.ok(written < 64 * (1 << 20), `the client could write only ${(written / 1048576).toFixed(1)} MiB before it was stopped (socket buffers)`);
  t.equal(d.openConnections(), 1);
  decider.release();
  sock.resume();
  // every request the client sent is answered in order once it reads again
  const want = n;
  let got = 0;
  let buf = '';
  let inOrder = true;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got}/${want} answers`)), 20_000);
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        if (buf.slice(0, i) !== `action=WARN seen r${got}@example.org`) inOrder = false;
        buf = buf.slice(i + 2);
        if (++got === want) { clearTimeout(timer); resolve(); }
      }
    });
  });
  t.equal(got, want, `all ${want} answered`);
  t.ok(inOrder, 'in order');
  sock.destroy();
});

t.test('logged values: bidi controls, line separators, DEL and C0/C1 controls escaped; values cut', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-hostile-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const format of ['json', 'text'] as const) {
    const file = join(dir, `${format}.log`);
    const log = createLogger({ level: 'info', destination: file, sync: true, format });
    const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider: dunnoDecider });
    const port = Number(d.addresses()[0]!.split(':').pop());
    const evil = 'moc.elpmaxe\u202e\u2066\u2028\u2029\x7f\x85\x9b[31m';
    // a 32 KB request of control characters: four 8,000-byte values (under max_line_length)
    const ctl = Array.from({ length: 8000 }, (_, i) => String.fromCharCode(1 + (i % 8))).join('');
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const body = block({ protocol_state: 'RCPT', client_address: '203.0.113.9', helo_name: evil, sender: `a${evil}@example.org`, recipient: 'b@example.org' })
      + block({ protocol_state: 'RCPT', client_address: '203.0.113.9', helo_name: ctl, sender: ctl, recipient: ctl, client_name: ctl });
    sock.write(Buffer.from(body, 'utf8'));
    let answers = '';
    sock.setEncoding('latin1');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answers')), 5000);
      sock.on('data', (c: string) => { answers += c; if (answers.split('\n\n').length > 2) { clearTimeout(timer); resolve(); } });
    });
    sock.destroy();
    await d.shutdown();
    const text = readFileSync(file, 'utf8');
    const decisions = text.split('\n').filter((l) => l.includes('decision'));
    t.equal(decisions.length, 2, `${format}: two decision lines`);
    for (const l of decisions) {
      t.notMatch(l, /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, `${format}: no raw control, separator or bidi character`);
    }
    t.match(decisions[0]!, /u202e/, `${format}: U+202E shown as an escape`);
    const big = Buffer.byteLength(decisions[1]!);
    t.ok(big < 16 * 1024, `${format}: the 32 KB control-character request logs ${big} bytes (< 16 KiB)`);
    t.match(decisions[1]!, /\+7744 chars/, `${format}: the cut is counted`);
  }
});

t.test('limit keys: a plain key can never equal a hashed one', async (t) => {
  const bits = { ipv4: 24, ipv6: 64 };
  const key = (attrs: Parameters<typeof keyOf>[0], a: Record<string, string>) => {
    const r = toPolicyRequest({ request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: '203.0.113.5', ...a });
    return keyOf(attrs, r, identityOf(r), bits);
  };
  const victim = key(['sender'], { sender: `${'v'.repeat(300)}@example.net` })!;
  t.ok(victim.startsWith(HASHED_KEY_PREFIX), 'a long key is hashed');
  const hex = victim.slice(HASHED_KEY_PREFIX.length);
  for (const forged of [victim, `sha256:${hex}`, `%sha256:${hex}`, `%25sha256:${hex}`]) {
    for (const attr of ['sasl_username', 'sender', 'helo_name'] as const) {
      const k = key([attr], { [attr]: forged });
      t.not(k, victim, `${attr}=${forged.slice(0, 12)}... does not land on the victim's counter`);
    }
  }
  t.equal(key(['sasl_username'], { sasl_username: `%sha256:${hex}` }), `%25sha256:${hex}`, 'the "%" of a plain value is escaped');
});

t.test('Redis URLs are redacted by parsing: user info and query', async (t) => {
  const cases: Array<[string, string]> = [
    ['redis://:p@ssw0rd@127.0.0.1/0', 'redis://:***@127.0.0.1/0'],
    ['redis://alice:s3cret@127.0.0.1:6379/1', 'redis://alice:***@127.0.0.1:6379/1'],
    ['redis://127.0.0.1/0?password=s3cret&db=1', 'redis://127.0.0.1/0?password=***&db=1'],
    ['rediss://127.0.0.1:6380/0?PASS=s3cret', 'rediss://127.0.0.1:6380/0?PASS=***'],
    ['unix:/run/redis.sock?password=s3cret', 'unix:/run/redis.sock?password=***'],
    ['redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0'],
  ];
  for (const [url, want] of cases) {
    t.equal(safeUrl(url), want, url.replace(/s3cret|ssw0rd/, '…'));
    t.notMatch(safeUrl(url), /s3cret|ssw0rd/);
  }
  t.equal(redactUrl('redis://[broken'), '<unparsable URL>', 'an unparsable URL is not echoed');
});

t.test('check-config redacts secrets and warns (coded) about secrets other users can read; serve warns too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, 'listen: [inet:127.0.0.1:0]\nlimits:\n  backend: redis\n  redis:\n    url: "redis://alice:urlsecret@127.0.0.1:1/0?password=querysecret"\n    password: plainsecret\n');
  chmodSync(cfg, 0o644);
  const run = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env });
  let r = run(['check-config', '--config', cfg]);
  t.equal(r.status, 0, 'valid');
  t.notMatch(r.stdout + r.stderr, /urlsecret|querysecret|plainsecret/, 'no secret in check-config output');
  t.match(r.stdout, /password: "?\*\*\*"?/, 'password shown as ***');
  t.match(r.stderr, /PI_CONFIG_SECRET_READABLE/, 'world-readable config with a password: coded warning');
  chmodSync(cfg, 0o640);
  r = run(['check-config', '--config', cfg]);
  t.notMatch(r.stderr, /PI_CONFIG_SECRET_READABLE/, 'mode 0640: no warning');
  // a password file readable by others; and a systemd credential
  const pw = join(dir, 'redis-password');
  writeFileSync(pw, 'filesecret\n');
  chmodSync(pw, 0o644);
  writeFileSync(cfg, `listen: [inet:127.0.0.1:0]\nlimits:\n  backend: redis\n  redis:\n    url: "redis://127.0.0.1:1/0"\n    password_file: ${pw}\n`);
  chmodSync(cfg, 0o644);
  r = run(['check-config', '--config', cfg]);
  t.match(r.stderr, /redis-password \(limits\.redis\.password_file\) is readable by every local user.*PI_CONFIG_SECRET_READABLE/, 'password file 0644 warned');
  t.notMatch(r.stderr, /p\.yaml \(config/, 'a config without a password in it may be 0644');
  const d = await DaemonProcess.start(['serve', '--config', cfg, '--log-level', 'info']);
  t.teardown(() => d.stop());
  t.ok(d.lines.some((l) => l.code === 'PI_CONFIG_SECRET_READABLE' && String(l.file).endsWith('redis-password')), 'serve logs the coded warning at start');
  await d.stop();
  chmodSync(pw, 0o600);
  // ${CREDENTIALS_DIRECTORY}: systemd's LoadCredential=redis-password:/etc/... puts the file there
  writeFileSync(cfg, 'listen: [inet:127.0.0.1:0]\nlimits:\n  backend: redis\n  redis:\n    url: "redis://127.0.0.1:1/0"\n    password_file: ${CREDENTIALS_DIRECTORY}/redis-password\n');
  t.equal(credentialPath('${CREDENTIALS_DIRECTORY}/redis-password', { CREDENTIALS_DIRECTORY: dir }), pw);
  t.equal(credentialPath('${CREDENTIALS_DIRECTORY}/redis-password', {}), null, 'unset outside the unit');
  t.equal(redisOptions({ ...limitsOfFile(cfg), password_file: '${CREDENTIALS_DIRECTORY}/redis-password' }, { CREDENTIALS_DIRECTORY: dir }).options.password, 'filesecret', 'the password is read from the credential');
  r = run(['check-config', '--config', cfg], { ...process.env, CREDENTIALS_DIRECTORY: join(dir, 'none') });
  t.equal(r.status, 78, 'a missing credential is a config error under the unit');
  t.match(r.stderr, /password_file: cannot read .*none\/redis-password/);
});

t.test('identity cache: no helo_name attribute and an empty helo_name= are different identities', async (t) => {
  const base = defaultConfig();
  if (!base.ok) throw new Error('default config does not load');
  const cfg: Config = {
    ...base.config,
    // every check off but helo_missing
    checks: Object.fromEntries(Object.entries(base.config.checks).map(([id, c]) => [id, id === 'helo_missing' ? c : { ...c, action: 'off' }])) as Config['checks'],
    allow: { ...base.config.allow, clients: compileCidrs([]) },
  };
  const noAnswer = <T>(): Promise<DnsAnswer<T>> => Promise.resolve({ status: 'notfound', records: [], reason: 'NXDOMAIN' });
  const lookup: DnsLookup = { a: noAnswer, aaaa: noAnswer, mx: noAnswer, ptr: noAnswer, txt: noAnswer };
  const engine = createEngine(cfg, { dns: { scoped: () => lookup } });
  const attrs = { request: 'smtpd_access_policy', protocol_state: 'RCPT', client_address: '203.0.113.5', sender: 'a@example.net', recipient: 'b@example.org' };
  const conn = () => ({ engine: undefined, peer: 'test' });
  // 1. a hand-made client without the attribute: HELO unknown, helo_missing skips
  const first = await engine.decide(toPolicyRequest({ ...attrs }), conn());
  t.equal(first.action.verb, 'DUNNO', 'no helo_name attribute: not judged');
  // 2. within the cache TTL, Postfix's request of a client that never said HELO
  const second = await engine.decide(toPolicyRequest({ ...attrs, helo_name: '' }), conn());
  t.match(encodeAction(second.action, { allowOk: false }), /^action=503 5\.5\.1 /, 'helo_name= (no HELO) is refused, not served the cached DUNNO');
  // and the other way round
  const third = await engine.decide(toPolicyRequest({ ...attrs }), conn());
  t.equal(third.action.verb, 'DUNNO', 'the cached refusal is not served to the attribute-less request');
  t.equal(identityKey('RCPT', 'a', 'b', undefined, 's', false, false) === identityKey('RCPT', 'a', 'b', '', 's', false, false), false);
});

t.test('recipient_count is clamped to what Postfix can send; numbers that are not Postfix\'s read as 0', async (t) => {
  const l = createLimiter(limitsFromYaml('limits:\n  rules:\n    - { id: r, key: sasl_username, counts: recipients, limit: 5000/1d }\n'), quietLog);
  t.teardown(() => l.close());
  const now = 1_800_000_000_000;
  // a local user who is not Postfix claims a message to a million recipients for alice
  await eom(l, { sasl_username: 'alice', recipient_count: 1_000_000 }, now);
  const [f] = await rcpt(l, { sasl_username: 'alice' }, now);
  t.equal(f!.result, 'pass', 'alice is not locked out: the count was clamped to 1000 (max_recipient_count)');
  for (let i = 0; i < 4; i++) await eom(l, { sasl_username: 'alice', recipient_count: 1000 }, now);
  const [g] = await rcpt(l, { sasl_username: 'alice' }, now);
  t.equal(g!.result, 'fail', 'five clamped messages reach 5000: the limit still bites');
  for (const bad of ['-5', '1e9', '0x10', '1.5', ' 7', '9999999999999999', '']) {
    t.equal(toPolicyRequest({ request: 'smtpd_access_policy', recipient_count: bad, size: bad }).recipient_count, 0, `recipient_count=${JSON.stringify(bad)} reads as 0`);
  }
  t.equal(toPolicyRequest({ request: 'smtpd_access_policy', recipient_count: '42' }).recipient_count, 42);
});

t.test('a UNIX socket without mode is 0660 whatever the umask', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'policy.sock');
  const old = process.umask(0);
  try {
    const { log } = memoryLogger('silent');
    const d = await startDaemon({ config: config(`listen:\n  - unix:${path}\n`), log, decider: dunnoDecider });
    t.equal(statSync(path).mode & 0o777, 0o660, 'srw-rw---- with umask 000');
    await d.shutdown();
  } finally {
    process.umask(old);
  }
});
