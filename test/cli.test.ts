// The command line as a new user meets it: check-config prints config that
// means the same when fed back, a closed stdout ends quietly, typos get "did you
// mean", default-config prints the shipped file, and `client` asks a running
// daemon one question over TCP or a UNIX socket, bounded by its timeout.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { DaemonProcess, runCli, CLI } from './helpers/daemon-process.js';
import { fixture } from './helpers/policy-client.js';
import { startDnsServer } from './helpers/dns-server.js';
import { loadConfigText, defaultConfig } from '../src/config/load.js';
import { printableConfig } from '../src/cli/check-config.js';
import type { Config } from '../src/config/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pi-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** the config as plain data, without where it came from */
const plain = (c: Config): unknown => JSON.parse(JSON.stringify({ ...c, source: '' }));

const RICH = `listen:
  - inet:127.0.0.1:10040
  - endpoint: unix:/run/pi-test.sock
    mode: "0660"
    group: postfix
workers: 2
server: { idle_timeout: 90, shutdown_timeout: 1500ms }
dns: { servers: ["127.0.0.1:5353"], timeout: 0.5, cache: { min_ttl: 30s, max_ttl: 2h, tempfail_ttl: 0 } }
metrics: { listen: "127.0.0.1:9100" }
checks:
  helo_invalid: { action: warn, score: 2.5 }
overrides:
  - name: partners
    match: { clients: [10.0.0.0/8], recipient_domains: [example.com], sasl: false }
    checks: { helo_invalid: { action: off } }
limits:
  backend: redis
  redis: { url: "redis://127.0.0.1:6379/2", timeout: 80ms, tls: { verify: false } }
  rules:
    - id: per-client
      key: client_address
      limit: [100/1h, "2000 per day"]
    - id: helo-names
      key: client_address
      distinct: helo_name
      limit: 5/10m
`;

t.test('check-config output is valid config that means the same (durations keep their unit)', async (t) => {
  for (const [name, text] of [['defaults', null], ['rich', RICH]] as const) {
    const first = text === null ? defaultConfig() : loadConfigText(text, 'rich.yaml');
    if (!first.ok) throw new Error(JSON.stringify(first.errors));
    const printed = stringify(printableConfig(first.config));
    const again = loadConfigText(printed, 'printed.yaml');
    t.ok(again.ok, `${name}: the printed config validates`, again.ok ? {} : { errors: again.errors, printed });
    if (!again.ok) continue;
    const a = plain(first.config) as Record<string, unknown>;
    const b = plain(again.config) as Record<string, unknown>;
    for (const k of Object.keys(a)) t.ok(isDeepStrictEqual(a[k], b[k]), `${name}: ${k} means the same`, { before: a[k], after: b[k] });
  }
  // through the real command, twice: the second pass prints the same text
  const dir = tmp(t);
  const cfg = join(dir, 'rich.yaml');
  writeFileSync(cfg, RICH.replace('backend: redis', 'backend: memory').replace('workers: 2', 'workers: 1'));
  const r1 = await runCli(['check-config', '--config', cfg]);
  t.equal(r1.code, 0, `check-config exit 0\n${r1.stderr}`);
  t.match(r1.stdout, /^ {2}idle_timeout: 90s$/m, 'a plain number of seconds prints as 90s, not 90000');
  t.match(r1.stdout, /^ {2}shutdown_timeout: 1500ms$/m, 'milliseconds keep their unit');
  t.match(r1.stdout, /^ {4}tempfail_ttl: 0s$/m);
  t.match(r1.stdout, /- 100\/1h\n/, 'rate windows print as limits');
  t.match(r1.stdout, /mode: "0660"/, 'socket mode prints in octal');
  const printed = join(dir, 'printed.yaml');
  writeFileSync(printed, r1.stdout);
  const r2 = await runCli(['check-config', '--config', printed]);
  t.equal(r2.code, 0, `the printed config passes check-config\n${r2.stderr}`);
  const body = (s: string) => s.split('\n').filter((l) => !l.startsWith('# effective config from')).join('\n');
  t.equal(body(r2.stdout), body(r1.stdout), 'and prints the same again');
});

/** run the CLI with its stdout into a reader that exits at once (`| true`); exit status of the CLI */
function intoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const quoted = [CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('bash', ['-c', `"${process.execPath}" ${quoted} | true; exit "\${PIPESTATUS[0]}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stderr });
    });
  });
}

t.test('a closed stdout (| head) ends quietly: exit 0, no EPIPE stack trace', async (t) => {
  for (const args of [
    ['check-config'],
    ['default-config'],
    ['test', '--client', '127.0.0.1', '--helo', 'localhost', '--dns', '127.0.0.1:1'],
  ]) {
    const r = await intoClosedPipe(args);
    t.equal(r.code, 0, `${args[0]}: exit 0`);
    t.notMatch(r.stderr, /EPIPE|Error|at /, `${args[0]}: no stack trace`, { stderr: r.stderr });
  }
});

t.test('typos get "did you mean"', async (t) => {
  const flag = await runCli(['test', '--clinet', '203.0.113.5']);
  t.equal(flag.code, 64);
  t.match(flag.stderr, /unknown option --clinet \(did you mean --client\?\) \[PI_CLI_USAGE\]/);
  const cfgFlag = await runCli(['check-config', '--confg', '/x']);
  t.match(cfgFlag.stderr, /did you mean --config\?/);
  const far = await runCli(['check-config', '--zzzzzzzz']);
  t.equal(far.code, 64);
  t.match(far.stderr, /unknown option --zzzzzzzz \(known: --config .*--quiet\)/, 'nothing near: the known flags');
  const cmd = await runCli(['chek-config']);
  t.equal(cmd.code, 64);
  t.match(cmd.stderr, /unknown command "chek-config" \(did you mean "check-config"\?\)/);
});

t.test('default-config prints the shipped commented config, which is the defaults', async (t) => {
  const r = await runCli(['default-config']);
  t.equal(r.code, 0);
  t.equal(r.stdout, readFileSync(join(ROOT, 'etc', 'policyd-identity.yaml'), 'utf8'), 'byte for byte etc/policyd-identity.yaml');
  t.match(r.stdout, /^# .*commented/m, 'with its comments');
  const loaded = loadConfigText(r.stdout, 'printed.yaml');
  const def = defaultConfig();
  t.ok(loaded.ok && def.ok && isDeepStrictEqual(plain(loaded.config), plain(def.config)), 'it means the built-in defaults');
  const extra = await runCli(['default-config', 'x']);
  t.equal(extra.code, 64, 'no arguments');
});

t.test('client: one request to a running daemon over TCP and a UNIX socket, reply printed', async (t) => {
  const dns = await startDnsServer({ zone: {} });
  t.teardown(() => dns.stop());
  const dir = tmp(t);
  const sock = join(dir, 'policy.sock');
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, `listen: [inet:127.0.0.1:0, "unix:${sock}"]\ndns:\n  servers: ["${dns.server}"]\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg]);
  t.teardown(() => d.stop());
  const port = d.policyPort();

  const tcp = await runCli(['client', '--connect', `inet:127.0.0.1:${port}`, '--client', '127.0.0.1', '--helo', 'localhost']);
  t.equal(tcp.code, 0, `exit 0\n${tcp.stderr}`);
  t.equal(tcp.stdout, 'action=DUNNO\n', 'loopback is allowlisted: DUNNO');

  // a stranger without HELO: the daemon's own answer comes back verbatim
  const noHelo = await runCli(['client', '--connect', `127.0.0.1:${port}`, '--client', '203.0.113.5', '--sender', 'a@example.net', '--recipient', 'b@example.org']);
  t.equal(noHelo.code, 0);
  t.match(noHelo.stdout, /^action=503 5\.5\.1 /, 'helo_missing: 503 5.5.1');

  const file = join(dir, 'rcpt.txt');
  writeFileSync(file, fixture('rcpt.txt'));
  const unix = await runCli(['client', '--connect', `unix:${sock}`, '--file', file]);
  t.equal(unix.code, 0, `UNIX socket, request from a file in Postfix's format\n${unix.stderr}`);
  t.equal(unix.stdout, 'action=DUNNO\n');

  const stdin = await runCli(['client', '--connect', sock], { stdin: fixture('rcpt.txt') });
  t.equal(stdin.stdout, 'action=DUNNO\n', 'a bare socket path; the request on stdin');

  const seen = await d.waitForCount((l) => l.msg === 'decision', 4, 5000);
  t.ok(seen >= 4, `the daemon logged the ${seen} requests`);
});

t.test('client: no reply is an error, bounded by --timeout', async (t) => {
  // a server that accepts and never answers
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const started = Date.now();
  const r = await runCli(['client', '--connect', `127.0.0.1:${port}`, '--timeout', '300ms', '--client', '127.0.0.1'], { timeoutMs: 30_000 });
  const ms = Date.now() - started;
  t.equal(r.code, 1, 'exit 1 (not killed by the test: that would be null)');
  t.match(r.stderr, /no reply from inet:127\.0\.0\.1:\d+ within 300ms \[PI_CLIENT_FAILED\]/, 'ended by its own timeout');
  t.comment(`took ${ms} ms including Node's start`);

  // nothing listening
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const free = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await runCli(['client', '--connect', `127.0.0.1:${free}`, '--client', '127.0.0.1']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /ECONNREFUSED \[PI_CLIENT_FAILED\]/);

  // a server that answers something else and closes
  const liar = net.createServer((s) => s.end('hello\n\n'));
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    liar.close();
  });
  const bad = await runCli(['client', '--connect', `127.0.0.1:${(liar.address() as net.AddressInfo).port}`, '--client', '127.0.0.1']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /answered something other than action=/);
});

t.test('client: usage errors', async (t) => {
  const none = await runCli(['client', '--connect', '127.0.0.1:1'], { stdin: '' });
  t.equal(none.code, 64, 'an empty request');
  const badLine = await runCli(['client', '--connect', '127.0.0.1:1'], { stdin: 'client_address=1.2.3.4\nnonsense\n\n' });
  t.equal(badLine.code, 64);
  t.match(badLine.stderr, /line 2 is not name=value/);
  const badTimeout = await runCli(['client', '--timeout', 'soon', '--client', '127.0.0.1']);
  t.equal(badTimeout.code, 64);
  const badEp = await runCli(['client', '--connect', 'nowhere', '--client', '127.0.0.1']);
  t.equal(badEp.code, 64);
  t.match(badEp.stderr, /--connect: /);
  const missing = await runCli(['client', '--connect', '127.0.0.1:1', '--file', '/nonexistent/req.txt']);
  t.equal(missing.code, 64);
  t.match(missing.stderr, /cannot read \/nonexistent\/req\.txt: ENOENT/);
});
