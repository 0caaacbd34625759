// Server: TCP v4 + v6, UNIX socket, stdio (spawn mode), systemd socket activation,
// many connections in order, protocol errors close only their connection, peers,
// connection cap, idle timeout, graceful shutdown with in-flight requests, reload.
import t from 'tap';
import { LAB_IDENTITY_YAML } from './helpers/lab-networks.js';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from '../src/server/daemon.js';
import { loadConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import type { Decider, Decision } from '../src/engine/types.js';
import type { PolicyRequest } from '../src/protocol/request.js';
import { dunnoDecider } from '../src/engine/dunno.js';
import { PolicyClient, block, fixture } from './helpers/policy-client.js';
import { memoryLogger } from './helpers/log.js';
import { startDnsServer } from './helpers/dns-server.js';
import { createRuntime } from '../src/runtime.js';
import { attachSocket, readInto, type SessionEntry } from '../src/server/listeners.js';
import { serverContext, type Counters } from '../src/server/daemon.js';
import { Session } from '../src/server/session.js';

const CLI = join(process.cwd(), 'build', 'src', 'cli.js');

function config(yaml: string): Config {
  const r = loadConfigText(yaml, 'test.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** A decider that echoes the request's recipient in a WARN, optionally after a delay. */
function echoDecider(delayMs = 0): Decider {
  return {
    decide(req: PolicyRequest): Decision | Promise<Decision> {
      const d: Decision = { action: { verb: 'WARN', text: `seen ${req.recipient}` }, fired: [], findings: [] };
      return delayMs > 0 ? new Promise((r) => setTimeout(() => r(d), delayMs)) : d;
    },
  };
}

function portOf(d: Daemon, i = 0): number {
  return Number(d.addresses()[i]!.split(':').pop());
}

t.test('TCP IPv4: the issue example answers action=DUNNO; many requests per connection', async (t) => {
  const { log, lines } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider: dunnoDecider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  t.teardown(() => c.close());
  t.equal(await c.ask('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n\n'), 'DUNNO');
  for (const f of ['connect.txt', 'ehlo.txt', 'mail.txt', 'rcpt.txt', 'data.txt', 'end-of-message.txt', 'vrfy.txt', 'etrn.txt', 'xclient-xclient.txt']) {
    t.equal(await c.ask(fixture(f)), 'DUNNO', f);
  }
  const decision = lines.find((l) => l.msg === 'decision' && l.protocol_state === 'RCPT');
  t.ok(decision, 'one decision log line');
  t.equal(decision?.action, 'DUNNO');
  t.equal(decision?.client_address, '192.0.2.1');
  t.type(decision?.us, 'number');
  t.equal(lines.filter((l) => l.msg === 'decision').length, 10, 'one line per decision');
  t.equal(d.counters.connections, 1, 'connections counted');
});

t.test('TCP IPv6 and UNIX socket listeners with mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-srv-'));
  const path = join(dir, 'policy.sock');
  const { log } = memoryLogger();
  const d = await startDaemon({
    config: config(`listen:\n  - inet:[::1]:0\n  - endpoint: unix:${path}\n    mode: "0666"\n`),
    log,
    decider: echoDecider(),
  });
  t.teardown(() => d.shutdown());
  const v6 = await PolicyClient.connect({ port: portOf(d, 0), host: '::1' });
  t.equal(await v6.ask(block({ protocol_state: 'RCPT', recipient: 'a@example.com' })), 'WARN seen a@example.com');
  v6.close();
  t.equal(statSync(path).mode & 0o777, 0o666, 'socket mode applied');
  const u = await PolicyClient.connect({ path });
  t.equal(await u.ask(block({ protocol_state: 'RCPT', recipient: 'b@example.com' })), 'WARN seen b@example.com');
  u.close();
});

t.test('200 concurrent connections x 50 requests: every answer correct and in order', async (t) => {
  const { log } = memoryLogger('warn');
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider: echoDecider(1) });
  t.teardown(() => d.shutdown());
  const port = portOf(d);
  let wrong = 0;
  await Promise.all(
    Array.from({ length: 200 }, async (_, ci) => {
      const c = await PolicyClient.connect({ port });
      for (let i = 0; i < 50; i++) {
        const want = `WARN seen c${ci}r${i}@example.com`;
        const got = await c.ask(block({ protocol_state: 'RCPT', recipient: `c${ci}r${i}@example.com` }));
        if (got !== want) wrong++;
      }
      c.close();
    }),
  );
  t.equal(wrong, 0, '10,000 answers, none wrong or out of order');
  t.equal(d.counters.requests, 10_000);
});

t.test('pipelined requests on one connection are answered in order, even when decisions are async', async (t) => {
  const { log } = memoryLogger('warn');
  let n = 0;
  const decider: Decider = {
    decide(req) {
      // later requests finish first if the server did not serialise them
      const delay = 20 - (n++ % 20);
      return new Promise((r) => setTimeout(() => r({ action: { verb: 'WARN', text: req.recipient }, fired: [], findings: [] }), delay));
    },
  };
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  c.send(Array.from({ length: 30 }, (_, i) => block({ protocol_state: 'RCPT', recipient: `r${i}` })).join(''));
  const got: string[] = [];
  for (let i = 0; i < 30; i++) got.push(await c.next());
  t.same(got, Array.from({ length: 30 }, (_, i) => `action=WARN r${i}`));
  c.close();
});

t.test('a protocol error closes only that connection, with no reply, and is logged with its code', async (t) => {
  const { log, lines } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]\nserver: { max_line_length: 1024 }'), log, decider: dunnoDecider });
  t.teardown(() => d.shutdown());
  const port = portOf(d);
  const good = await PolicyClient.connect({ port });
  const cases: Array<[string, string]> = [
    ['request=smtpd_access_policy\nno equals sign\n\n', 'PI_PROTO_NO_EQUALS'],
    ['request=something_else\n\n', 'PI_PROTO_BAD_REQUEST_TYPE'],
    [`request=smtpd_access_policy\nhelo_name=${'x'.repeat(65536)}\n\n`, 'PI_PROTO_LINE_TOO_LONG'],
    ['request=smtpd_access_policy\nsender=a\u0000b\n\n', 'PI_PROTO_NUL_BYTE'],
  ];
  for (const [raw, code] of cases) {
    const bad = await PolicyClient.connect({ port });
    bad.send(raw);
    t.equal(await bad.next(5000), '<closed>', `${code}: closed without reply`);
    t.ok(lines.some((l) => l.code === code && l.level === 'warn'), `${code}: logged`);
  }
  t.equal(await good.ask(block({ protocol_state: 'RCPT' })), 'DUNNO', 'the other connection still served');
  good.close();
  // valid requests before the bad one on the same connection are answered
  const mixed = await PolicyClient.connect({ port });
  mixed.send(block({ protocol_state: 'RCPT' }) + 'garbage\n\n');
  t.equal(await mixed.next(), 'action=DUNNO');
  t.equal(await mixed.next(), '<closed>');
  t.equal(d.counters.protocolErrors, 5);
});

t.test('unknown protocol_state is logged and answered DUNNO; the connection stays open', async (t) => {
  const { log, lines } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider: echoDecider() });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  t.equal(await c.ask(block({ protocol_state: 'BDAT-NEW' })), 'DUNNO');
  t.ok(lines.some((l) => l.code === 'PI_PROTO_UNKNOWN_STATE'));
  t.equal(await c.ask(block({ protocol_state: 'STARTTLS', recipient: 'x' })), 'WARN seen x', 'STARTTLS is a known state');
  c.close();
});

t.test('a decider that throws gets a safe temporary answer, never 5xx', async (t) => {
  const { log, lines } = memoryLogger();
  const decider: Decider = {
    decide(req) {
      if (req.recipient === 'sync') throw new Error('boom');
      return Promise.reject(new Error('async boom'));
    },
  };
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  t.match(await c.ask(block({ protocol_state: 'RCPT', recipient: 'sync' })), /^DEFER_IF_PERMIT 4\./);
  t.match(await c.ask(block({ protocol_state: 'RCPT', recipient: 'async' })), /^DEFER_IF_PERMIT 4\./);
  t.equal(lines.filter((l) => l.code === 'PI_SERVER_DECIDE_FAILED').length, 2);
  c.close();
});

t.test('peer allowlist and connection cap', async (t) => {
  const { log, lines } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]\nserver: { peers: [192.0.2.0/24], max_connections: 2 }'), log, decider: dunnoDecider });
  t.teardown(() => d.shutdown());
  const denied = await PolicyClient.connect({ port: portOf(d) });
  t.equal(await denied.ask(block({ protocol_state: 'RCPT' }), 3000), '<closed>');
  t.ok(lines.some((l) => l.code === 'PI_SERVER_PEER_DENIED'));
  const d2 = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]\nserver: { peers: [127.0.0.0/8], max_connections: 2 }'), log, decider: dunnoDecider });
  t.teardown(() => d2.shutdown());
  const a = await PolicyClient.connect({ port: portOf(d2) });
  const b = await PolicyClient.connect({ port: portOf(d2) });
  t.equal(await a.ask(block({ protocol_state: 'RCPT' })), 'DUNNO');
  t.equal(await b.ask(block({ protocol_state: 'RCPT' })), 'DUNNO');
  // at the cap, an idle connection makes room: a (idle longest) is closed, c is served
  const c = await PolicyClient.connect({ port: portOf(d2) });
  t.equal(await c.ask(block({ protocol_state: 'RCPT' }), 3000), 'DUNNO', 'third connection served');
  t.ok(lines.some((l) => l.code === 'PI_SERVER_IDLE_EVICTED'), 'the idle one was closed for it');
  t.equal(await a.ask(block({ protocol_state: 'RCPT' }), 3000), '<closed>', 'the connection idle longest was closed');
  t.equal(await b.ask(block({ protocol_state: 'RCPT' }), 3000), 'DUNNO', 'the other one stays');
  b.close();
  c.close();
  // when every connection is busy, a new one is refused
  const d3 = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]\nserver: { max_connections: 1 }'), log, decider: echoDecider(1500) });
  t.teardown(() => d3.shutdown());
  const busy = await PolicyClient.connect({ port: portOf(d3) });
  busy.send(block({ protocol_state: 'RCPT', recipient: 'x' }));
  await new Promise((r) => setTimeout(r, 200));
  const late = await PolicyClient.connect({ port: portOf(d3) });
  t.equal(await late.ask(block({ protocol_state: 'RCPT' }), 3000), '<closed>', 'refused while the only connection is busy');
  t.ok(lines.some((l) => l.code === 'PI_SERVER_TOO_MANY_CONNECTIONS'));
  t.match(await busy.next(), /^(action=)?WARN seen x$/, 'the busy connection is answered');
  busy.close();
});

t.test('the decision lines follow the logger\'s level, also when it changes at run time', async (t) => {
  const { log, lines } = memoryLogger('warn');
  const counters: Counters = { connections: 0, requests: 0, protocolErrors: 0, actions: Object.create(null) };
  const ctx = serverContext(config('listen: [inet:127.0.0.1:0]'), echoDecider(), log, counters, {});
  const out: string[] = [];
  const session = new Session(() => ctx, { write: (s) => out.push(s), end() {} }, 'test');
  const ask = (r: string) => session.receive(block({ protocol_state: 'RCPT', recipient: r }));
  const count = (msg: string) => lines.filter((l) => l.msg === msg).length;
  ask('a');
  t.same([count('decision'), count('decision checks')], [0, 0], 'warn: no decision line');
  log.level = 'info';
  ask('b');
  t.same([count('decision'), count('decision checks')], [1, 0], 'info: the decision line');
  log.level = 'debug';
  ask('c');
  t.same([count('decision'), count('decision checks')], [2, 1], 'debug: and the checks line');
  log.level = 'error';
  ask('d');
  t.same([count('decision'), count('decision checks')], [2, 1], 'error: none');
  t.equal(out.length, 4, 'every request answered');
  t.same(counters.actions, { WARN: 4 });
});

t.test('idle timeout closes an idle connection', async (t) => {
  const { log, lines } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]\nserver: { idle_timeout: 1s }'), log, decider: dunnoDecider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  t.equal(await c.ask(block({ protocol_state: 'RCPT' })), 'DUNNO');
  t.equal(await c.next(5000), '<closed>');
  t.ok(lines.some((l) => l.code === 'PI_SERVER_IDLE_TIMEOUT'));
});

// listeners.ts reads a connection through readInto (a new Socket on the accepted
// handle, user-buffer reads) and falls back to a latin1 'data' stream when it cannot:
// both must deliver the same bytes, in order, and keep pausing, half-close and close.
for (const [name, reader] of [['readInto', readInto], ['the stream fallback', () => null]] as const) {
  t.test(`reading through ${name}: split, pipelined and high bytes, pause while deciding, half-close, close`, async (t) => {
    const { log } = memoryLogger();
    const seen: string[] = [];
    const decider: Decider = {
      decide(req: PolicyRequest): Decision | Promise<Decision> {
        seen.push(req.recipient ?? '');
        const d: Decision = { action: { verb: 'WARN', text: `n${seen.length}` }, fired: [], findings: [] };
        // "slow" recipients are decided asynchronously: the transport is paused meanwhile
        return req.recipient?.startsWith('slow') ? new Promise((r) => setTimeout(() => r(d), 150)) : d;
      },
    };
    const counters: Counters = { connections: 0, requests: 0, protocolErrors: 0, actions: Object.create(null) };
    const ctx = serverContext(config('listen: [inet:127.0.0.1:0]'), decider, log, counters, {});
    const sessions = new Set<SessionEntry>();
    const policy = { peers: config('listen: [inet:127.0.0.1:0]').server.peers, maxConnections: 10, idleTimeoutMs: 60_000 };
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) =>
      attachSocket(sock, () => ctx, () => policy, sessions, () => log, reader));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    t.equal(readInto(new net.Socket(), () => {}), null, 'readInto: a socket without a handle is left to the fallback');

    const c = await PolicyClient.connect({ port });
    // one request a byte at a time, with UTF-8 in its value (two bytes split over two reads)
    const one = Buffer.from(block({ protocol_state: 'RCPT', recipient: 'j\u00fcrgen@example.org' }), 'utf8');
    for (let i = 0; i < one.length; i++) {
      c.sock.write(one.subarray(i, i + 1));
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    t.equal(await c.next(), 'action=WARN n1');
    t.equal(seen[0], 'j\u00fcrgen@example.org', 'bytes split over reads, UTF-8 value decoded');
    // three requests in one write: answered in order; the second is decided asynchronously
    c.send(block({ protocol_state: 'RCPT', recipient: 'a' }) + block({ protocol_state: 'RCPT', recipient: 'slow-b' }) + block({ protocol_state: 'RCPT', recipient: 'c' }));
    t.same([await c.next(), await c.next(), await c.next()], ['action=WARN n2', 'action=WARN n3', 'action=WARN n4'], 'pipelined: in order');
    t.same(seen.slice(1), ['a', 'slow-b', 'c']);
    // half-close while a request is being decided (reading paused): answered, then closed
    c.send(block({ protocol_state: 'RCPT', recipient: 'slow-d' }));
    await new Promise((r) => setTimeout(r, 30));
    c.sock.end();
    t.equal(await c.next(), 'action=WARN n5', 'answered after the client half-closed');
    t.equal(await c.next(), '<closed>', 'then the connection is closed');
    for (let i = 0; i < 50 && sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(sessions.size, 0, 'the session is gone');
    t.equal(counters.requests, 5);

    // the client goes away while its request is decided: nothing is left behind
    const c2 = await PolicyClient.connect({ port });
    c2.send(block({ protocol_state: 'RCPT', recipient: 'slow-e' }));
    await new Promise((r) => setTimeout(r, 30));
    c2.sock.destroy();
    for (let i = 0; i < 50 && sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(sessions.size, 0, 'the session of a vanished client is gone');
  });
}

t.test('graceful shutdown: in-flight requests are answered, idle connections closed, then done', async (t) => {
  const { log } = memoryLogger();
  const d = await startDaemon({ config: config('listen: [inet:127.0.0.1:0]'), log, decider: echoDecider(300) });
  const port = portOf(d);
  const busy = await PolicyClient.connect({ port });
  const idle = await PolicyClient.connect({ port });
  busy.send(block({ protocol_state: 'RCPT', recipient: 'inflight' }));
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  const stopped = d.shutdown();
  t.equal(await busy.next(), 'action=WARN seen inflight', 'in-flight request answered');
  t.equal(await busy.next(), '<closed>');
  t.equal(await idle.next(), '<closed>');
  await stopped;
  t.ok(Date.now() - t0 < 5000, 'shutdown bounded');
  await t.rejects(PolicyClient.connect({ port }, 2000), 'no longer accepting');
});

t.test('reload swaps the decider for new requests without dropping connections', async (t) => {
  const { log } = memoryLogger();
  const cfg = config('listen: [inet:127.0.0.1:0]');
  const d = await startDaemon({ config: cfg, log, decider: dunnoDecider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  t.equal(await c.ask(block({ protocol_state: 'RCPT', recipient: 'x' })), 'DUNNO');
  d.reload(cfg, echoDecider());
  t.equal(await c.ask(block({ protocol_state: 'RCPT', recipient: 'x' })), 'WARN seen x', 'same connection, new decider');
  c.close();
});

function runCli(args: string[], env: NodeJS.ProcessEnv = {}, stdio: Array<'pipe' | number> = ['pipe', 'pipe', 'pipe']) {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio });
}

/** the child's exit code, waiting at most ms; then SIGKILL (the code is then null, which fails the test) */
function exitWithin(child: ChildProcess, ms = 20_000): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function waitForLine(stream: NodeJS.ReadableStream, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), timeoutMs);
    stream.on('data', (d) => {
      buf += String(d);
      const m = buf.split('\n').find((l) => re.test(l));
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
  });
}

t.test('stdio mode (Postfix spawn): protocol on stdin/stdout, no log byte on stdout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-stdio-'));
  const logFile = join(dir, 'log.json');
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, `log: { destination: ${logFile} }\n`);
  const input = fixture('rcpt.txt') + fixture('data.txt'); // before the child: a missing fixture throws with no child to wait for
  const child = runCli(['serve', '--stdio', '--config', cfg]);
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stdin!.write(input);
  child.stdin!.end();
  const code = await exitWithin(child);
  t.equal(code, 0);
  t.equal(out, 'action=DUNNO\n\naction=DUNNO\n\n', 'stdout carries only the protocol');
});

t.test('systemd socket activation: LISTEN_FDS/LISTEN_PID, fds from 3', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  // LISTEN_PID must be the daemon's own pid: sh's $$ survives exec, as with systemd.
  const child = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "${process.execPath}" "${CLI}" serve --log-level info`], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env },
  });
  t.teardown(() => {
    child.kill('SIGKILL');
    srv.close();
  });
  const line = await waitForLine(child.stdout!, /"msg":"listening"/);
  t.match(line, /"systemd":true/);
  srv.close(); // our copy of the socket; the daemon keeps its own
  const c = await PolicyClient.connect({ port });
  // loopback is allowlisted by default: DUNNO without any DNS lookup
  t.equal(await c.ask(fixture('rcpt.txt')), 'DUNNO');
  c.close();
  child.kill('SIGTERM');
  const code = await exitWithin(child);
  t.equal(code, 0, 'SIGTERM: exit 0');
});

t.test('systemd socket activation with workers: 2: each worker serves the fds of its primary', async (t) => {
  // The workers inherit LISTEN_PID, the primary's pid; node:cluster has the primary
  // (which holds the fds) listen for them. Before: every worker refused the fds
  // (PI_SERVER_SYSTEMD_FDS, "LISTEN_PID=... is not this process") and died.
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  const dir = mkdtempSync(join(tmpdir(), 'pi-sa-'));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, 'workers: 2\n');
  const child = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "${process.execPath}" "${CLI}" serve --config "${cfg}" --log-level info`], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env },
  });
  t.teardown(() => {
    child.kill('SIGKILL');
    srv.close();
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  for (let i = 0; i < 100 && (out.match(/"msg":"started"/g) ?? []).length < 2 && !/"level":"fatal"/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  t.notMatch(out, /PI_SERVER_SYSTEMD_FDS/, 'no worker refuses the fds');
  t.equal((out.match(/"msg":"started"/g) ?? []).length, 2, 'both workers started');
  srv.close(); // our copy of the socket; the daemon keeps its own
  const clients = await Promise.all(Array.from({ length: 4 }, () => PolicyClient.connect({ port })));
  for (const c of clients) t.equal(await c.ask(fixture('rcpt.txt')), 'DUNNO');
  for (const c of clients) c.close();
  child.kill('SIGTERM');
  t.equal(await exitWithin(child), 0, 'SIGTERM: exit 0');
});

t.test('serve from the CLI: SIGTERM drains and exits 0 with the last log lines flushed', async (t) => {
  const child = runCli(['serve', '--listen', 'inet:127.0.0.1:0', '--log-level', 'info']);
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  const line = await waitForLine(child.stdout!, /"msg":"listening"/);
  const port = Number(/inet:127\.0\.0\.1:(\d+)/.exec(line)![1]);
  const c = await PolicyClient.connect({ port });
  t.equal(await c.ask(fixture('rcpt.txt')), 'DUNNO');
  child.kill('SIGTERM');
  const code = await exitWithin(child);
  t.equal(code, 0);
  t.match(out, /"msg":"stopped"/, 'last line flushed');
  c.close();
});

t.test('serve refuses a listen address it cannot bind, exit 1 with a coded message', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const child = runCli(['serve', '--listen', `inet:127.0.0.1:${port}`]);
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  const code = await exitWithin(child);
  t.equal(code, 1);
  t.match(err, /PI_SERVER_LISTEN_FAILED/);
});

t.test('DNS trouble is logged at warn with its code (bounded), and never answered 5xx', async (t) => {
  const dns = await startDnsServer({ zone: {} });
  t.teardown(() => dns.stop());
  dns.setBehaviour(() => 'servfail');
  const { log, lines } = memoryLogger();
  const cfg = config(`${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns: { servers: ["${dns.server}"], tries: 1, timeout: 200ms }`);
  const rt = await createRuntime(cfg, log);
  t.teardown(() => rt.close());
  const d = await startDaemon({ config: cfg, log, decider: rt.decider });
  t.teardown(() => d.shutdown());
  const c = await PolicyClient.connect({ port: portOf(d) });
  for (let i = 0; i < 30; i++) {
    const a = await c.ask(block({ protocol_state: 'RCPT', client_address: '203.0.113.9', helo_name: `h${i}.example.net`, sender: `a@s${i}.example.org`, recipient: 'r@example.com', instance: `i${i}` }));
    t.match(a, /^DEFER_IF_PERMIT 4\.4\.3 /, `request ${i}: on_tempfail, not 5xx`);
  }
  c.close();
  const warns = lines.filter((l) => l.code === 'PI_DNS_TEMPFAIL' && l.level === 'warn');
  t.ok(warns.length > 0, 'DNS trouble logged with PI_DNS_TEMPFAIL');
  t.ok(warns.length <= 20, `bounded (${warns.length} lines for 30 requests with several failing checks each)`);
  t.match(String(warns[0]!.reason), /SERVFAIL/);
});
