// Config: schema validation with file:line:column errors, defaults, the shipped
// etc/policyd-identity.yaml equal to the embedded defaults, CLI overrides, check-config.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText, loadConfigFile, defaultConfig, formatConfigError } from '../src/config/load.js';
import { parseDuration } from '../src/config/duration.js';
import { parseEndpoint, parseDnsServer } from '../src/server/endpoint.js';

const ROOT = process.cwd();
const CLI = join(ROOT, 'build', 'src', 'cli.js');

function errorsOf(yaml: string) {
  const r = loadConfigText(yaml, 'test.yaml');
  return r.ok ? [] : r.errors;
}

t.test('defaults load and are complete', async (t) => {
  const r = defaultConfig();
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.config.listen[0]!.endpoint.text, 'inet:127.0.0.1:10040');
  t.equal(r.config.mode, 'enforce');
  t.equal(r.config.server.idle_timeout, 600_000, 'idle timeout longer than Postfix max_idle 300s');
  t.equal(r.config.dns.deadline, 5000);
  t.ok(r.config.allow.clients.has('127.0.0.1') && r.config.allow.clients.has('::1'), 'loopback allowlisted');
  t.equal(r.config.allow.action, 'dunno');
  t.equal(r.config.on_tempfail.action, 'defer_if_permit');
  t.ok(r.config.providers.includes('gmail.com'));
});

t.test('the shipped etc/policyd-identity.yaml is valid and equals the embedded defaults', async (t) => {
  const file = loadConfigFile(join(ROOT, 'etc', 'policyd-identity.yaml'));
  if (!file.ok) t.fail(file.errors.map(formatConfigError).join('\n'));
  const def = defaultConfig();
  t.ok(file.ok && def.ok);
  if (file.ok && def.ok) t.same(JSON.parse(JSON.stringify({ ...file.config, source: '' })), JSON.parse(JSON.stringify({ ...def.config, source: '' })));
});

t.test('each kind of error names file, line, column and key path', async (t) => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['unknown key', 'listen: [inet:127.0.0.1:1]\nbogus: 1\n', 2, 1, /^bogus: unknown key/],
    ['unknown nested key with suggestion', 'dns:\n  timout: 5s\n', 2, 3, /dns\.timout: unknown key "timout" \(did you mean "timeout"\?\)/],
    ['wrong type', 'workers: many\n', 1, 10, /workers: expected a number of workers/],
    ['bad duration', 'dns:\n  timeout: fast\n', 2, 12, /dns\.timeout: expected a duration/],
    ['bad CIDR', 'allow:\n  clients:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n', 3, 5, /allow\.clients: not an IP address or CIDR prefix: "10\.0\.0\.0\/33"/],
    ['bad listen address', 'listen:\n  - inet:127.0.0.1:99999\n', 2, 5, /listen\[0\]: bad port/],
    ['IPv6 listen without brackets', 'listen:\n  - inet:::1:10040\n', 2, 5, /need brackets/],
    ['relative unix path', 'listen: [unix:relative/sock]\n', 1, 10, /absolute path/],
    ['bad DNS server', 'dns:\n  servers: [resolver.example]\n', 2, 12, /dns\.servers/],
    ['bad enum', 'mode: dryrun\n', 1, 7, /mode: expected one of enforce, warn/],
    ['integer range', 'server:\n  max_connections: 0\n', 2, 20, /server\.max_connections: expected an integer >= 1/],
    ['bad reply code', 'on_tempfail:\n  code: "250 2.0.0"\n', 2, 9, /on_tempfail\.code: expected a 4xx\/5xx reply code/],
    ['on_tempfail may not reject', 'on_tempfail:\n  action: reject\n', 2, 11, /on_tempfail\.action: expected one of/],
    ['YAML syntax error', 'listen:\n  - a\n - b\n', 3, 1, /implicit map key/],
    ['duplicate key', 'mode: warn\nmode: enforce\n', 2, 1, /[Dd]uplicate|unique/],
    ['top level not a mapping', '- a\n- b\n', 1, 1, /must be a mapping/],
    ['unresolved YAML tag', 'log: { level: !!js/function "info" }\n', 1, 15, /Unresolved tag/],
    ['unknown YAML directive', '%FOO bar\n---\nmode: warn\n', 1, 1, /Unknown directive/],
    ['binary where a word belongs', 'mode: !!binary aGVsbG8=\n', 1, 16, /mode: expected one of enforce, warn, got binary data/],
    ['bad override match', 'overrides:\n  - match: { clients: [nope] }\n', 2, 23, /overrides\[0\]\.match\.clients/],
  ];
  for (const [name, yaml, line, col, re] of cases) {
    const errs = errorsOf(yaml);
    t.ok(errs.length > 0, `${name}: refused`);
    const e = errs[0];
    if (!e) continue;
    t.equal(e.file, 'test.yaml', `${name}: file`);
    t.equal(e.line, line, `${name}: line (${formatConfigError(e)})`);
    t.equal(e.col, col, `${name}: column (${formatConfigError(e)})`);
    t.match(`${e.path}: ${e.message}`, re, `${name}: message`);
    t.match(formatConfigError(e), /^test\.yaml:\d+:\d+: .* \[PI_CONFIG_(INVALID|YAML)\]$/, `${name}: one-line format with code`);
  }
});

t.test('values are parsed into their effective forms', async (t) => {
  const r = loadConfigText(
    [
      'listen:',
      '  - inet:[::1]:10041',
      '  - endpoint: unix:/tmp/pi.sock',
      '    mode: "0660"',
      'dns:',
      '  servers: ["127.0.0.1:5353", "[::1]:53", "::1"]',
      '  timeout: 250ms',
      'workers: auto',
      'server:',
      '  idle_timeout: 10m',
      '  peers: [192.0.2.0/24, "2001:db8::/32"]',
    ].join('\n'),
    'x.yaml',
  );
  t.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  if (!r.ok) return;
  t.same(r.config.listen.map((l) => l.endpoint.text), ['inet:[::1]:10041', 'unix:/tmp/pi.sock']);
  t.equal(r.config.listen[1]!.mode, 0o660);
  t.same(r.config.dns.servers, ['127.0.0.1:5353', '[::1]:53', '::1']);
  t.equal(r.config.dns.timeout, 250);
  t.ok(r.config.workers >= 1);
  t.equal(r.config.server.idle_timeout, 600_000);
  t.ok(r.config.server.peers.has('192.0.2.7'));
  t.ok(r.config.server.peers.has('2001:db8:1::1'));
  t.notOk(r.config.server.peers.has('198.51.100.1'));
});

t.test('command-line overrides are validated like the file', async (t) => {
  const ok = loadConfigText('', 'x', { listen: ['inet:127.0.0.1:10099'], dns: ['127.0.0.1:5353'], logLevel: 'debug' });
  t.ok(ok.ok);
  if (ok.ok) {
    t.equal(ok.config.listen[0]!.endpoint.text, 'inet:127.0.0.1:10099');
    t.same(ok.config.dns.servers, ['127.0.0.1:5353']);
    t.equal(ok.config.log.level, 'debug');
  }
  const bad = loadConfigText('', 'x', { logLevel: 'loud' });
  t.notOk(bad.ok);
});

t.test('the bin runs with the Node flags the daemon is measured with', async (t) => {
  const { NODE_FLAGS } = await import('../src/cli.js');
  const { readFileSync } = await import('node:fs');
  const shebang = readFileSync(join(ROOT, 'src', 'cli.ts'), 'utf8').split('\n')[0];
  t.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  t.ok(pkg.scripts.start.includes(`node ${NODE_FLAGS.join(' ')} dist/cli.js`), 'npm start uses them too');
  const { UNIT_NODE_OPTIONS } = await import('../src/cli.js');
  const unit = readFileSync(join(ROOT, 'systemd', 'policyd-identity.service'), 'utf8');
  t.match(unit, new RegExp(`^Environment=NODE_OPTIONS=${UNIT_NODE_OPTIONS.join(' ')}$`, 'm'), 'the unit adds UNIT_NODE_OPTIONS');
});

t.test('durations and endpoints', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('5s'), 5000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration(2), 2000);
  t.equal(parseDuration('soon'), null);
  t.equal(parseDuration(-1), null);
  t.same(parseEndpoint('127.0.0.1:10040'), { kind: 'inet', host: '127.0.0.1', port: 10040, text: 'inet:127.0.0.1:10040' });
  t.equal(parseEndpoint('inet:*:10040').text, 'inet:[::]:10040');
  t.throws(() => parseEndpoint('inet:example.com:25'));
  t.throws(() => parseEndpoint('tcp:1.2.3.4:5'));
  t.equal(parseDnsServer('[2001:db8::53]:5353'), '[2001:db8::53]:5353');
  t.throws(() => parseDnsServer('1.2.3.4:0'));
});

t.test('check-config command: exit 0 and the effective config, or 78 with positioned errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-cc-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'mode: warn\n');
  const r1 = spawnSync(process.execPath, [CLI, 'check-config', '--config', good], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r1.status, 0, r1.stderr);
  t.match(r1.stdout, /mode: warn/);
  t.match(r1.stderr, /config OK/);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'mode: warn\ndns:\n  tries: 0\n');
  const r2 = spawnSync(process.execPath, [CLI, 'check-config', '--config', bad], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r2.status, 78);
  t.match(r2.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:3:10: dns\\.tries: expected an integer >= 1`));
  const r3 = spawnSync(process.execPath, [CLI, 'check-config', '--config', join(dir, 'missing.yaml')], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r3.status, 78);
  t.match(r3.stderr, /cannot read: ENOENT \[PI_CONFIG_READ\]/);
  const r4 = spawnSync(process.execPath, [CLI, 'check-config', '--bogus'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r4.status, 64);
  t.match(r4.stderr, /PI_CLI_USAGE/);
  const r5 = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', timeout: 20_000 });
  t.match(r5.stdout, /^policyd-identity \d+\.\d+\.\d+/);
  const r6 = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r6.status, 64);
  // valid but meaningless settings are warned about; a changed action alone is not
  const warn = join(dir, 'warn.yaml');
  writeFileSync(warn, 'checks:\n  helo_not_fqdn: { action: hold, code: "550 5.7.1" }\n  sender_domain_unknown: { action: discard }\n');
  const r7 = spawnSync(process.execPath, [CLI, 'check-config', '-q', '--config', warn], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r7.status, 0);
  t.match(r7.stderr, /warning: checks\.helo_not_fqdn: a code means nothing with action hold/);
  t.notMatch(r7.stderr, /sender_domain_unknown[^\n]*code/, 'no warning about a default code nobody wrote');
  t.match(r7.stderr, /warning: checks\.helo_not_fqdn: hold, checks\.sender_domain_unknown: discard: Postfix cannot DISCARD or HOLD at CONNECT, EHLO, HELO .* or ETRN; there the daemon answers REJECT instead of DISCARD and DEFER instead of HOLD/,
    'check-config says where DISCARD/HOLD become REJECT/DEFER');
  t.match(r7.stderr, /config OK: .* \(2 warning\(s\)\)/);
});
