// What an admin installs: the npm package's file list (dist/, LICENSE, the man
// pages, no tests), package.json's bin and man entries, and the man pages
// themselves: built, rendered by man(1) without warnings, every command in
// policyd-identity(8) and every config key of the schema in policyd-identity.yaml(5).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildConfigSpec } from '../src/config/schema.js';
import type { Spec } from '../src/config/spec.js';
import { CHECKS } from '../src/checks/index.js';
import { COMMANDS } from '../src/cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  license: string; bin: Record<string, string>; man: string[]; files: string[]; scripts: Record<string, string>;
};

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** man -l, plain text, with groff's warnings on stderr */
function render(page: string): { text: string; warnings: string; status: number | null } {
  const r = spawnSync('man', ['-l', '-Tutf8', page], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '', MANROFFSEQ: '', PAGER: 'cat', MANPAGER: 'cat' },
  });
  // strip overstrike (bold/underline) so the text can be searched
  return { text: (r.stdout ?? '').replace(/.\x08/g, ''), warnings: r.stderr ?? '', status: r.status };
}

/** every key path of the config, walked from the schema itself: a.b, list items as a[].b, free mappings as a.NAME.b */
function schemaKeys(spec: Spec<unknown>, prefix: string, out: string[]): string[] {
  for (const [k, f] of Object.entries(spec.fields ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    const s = f.spec as Spec<unknown>;
    if (path === 'checks') continue; // one entry per check, below
    if (s.fields && !s.item) {
      schemaKeys(s, path, out);
      continue;
    }
    out.push(path);
    const inner = s.item ?? s.inner;
    if (inner?.fields) schemaKeys(inner, `${path}[]`, out);
    if (s.value?.fields) schemaKeys(s.value, `${path}.NAME`, out);
  }
  return out;
}

t.test('package.json: license, bin, man pages, files, no install-time build', async (t) => {
  t.equal(pkg.license, 'MIT');
  t.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n/, 'LICENSE is the MIT text, as package.json says');
  t.same(pkg.man, ['dist/man/policyd-identity.8', 'dist/man/policyd-identity.yaml.5']);
  t.equal(pkg.bin['policyd-identity'], 'dist/cli.js');
  for (const f of ['dist', 'etc', 'systemd', 'LICENSE', 'CHANGELOG.md']) t.ok(pkg.files.includes(f), `files: ${f}`);
  t.notOk('prepare' in pkg.scripts, 'no prepare script: it would run on the admin\'s install');
  t.notOk('install' in pkg.scripts || 'postinstall' in pkg.scripts || 'preinstall' in pkg.scripts, 'no install scripts');
  t.match(pkg.scripts.prepack ?? '', /build/, 'prepack builds dist/');
  t.match(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), /^## Unreleased$/m, 'CHANGELOG.md has its Unreleased section');
});

t.test('npm pack ships dist/cli.js, the man pages, LICENSE, and no tests', async (t) => {
  // the file list only (the build already ran: pretest); nothing is written
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `npm pack --dry-run\n${r.stderr}`);
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  for (const f of ['dist/cli.js', 'dist/man/policyd-identity.8', 'dist/man/policyd-identity.yaml.5', 'LICENSE', 'CHANGELOG.md', 'README.md',
    'etc/policyd-identity.yaml', 'systemd/policyd-identity.service', 'systemd/policyd-identity.socket', 'package.json']) {
    t.ok(files.includes(f), `ships ${f}`);
  }
  t.same(files.filter((f) => /^(test|build|src|bench|node_modules)\//.test(f) || f.endsWith('.test.js')), [], 'no sources, tests, bench or build output');
});

t.test('man pages: built, rendered by man(1) without warnings, complete', async (t) => {
  t.ok(have('man'), 'man is installed (Debian: man-db; test/run-all.sh installs it)');
  const page8 = join(ROOT, 'dist', 'man', 'policyd-identity.8');
  const page5 = join(ROOT, 'dist', 'man', 'policyd-identity.yaml.5');
  t.ok(existsSync(page8) && existsSync(page5), 'npm run build wrote both pages');
  if (!have('man') || !existsSync(page8) || !existsSync(page5)) return;

  const m8 = render(page8);
  t.equal(m8.status, 0);
  t.equal(m8.warnings.trim(), '', 'no groff warnings (8)');
  t.match(m8.text, /^POLICYD-IDENTITY\(8\)/, 'header');
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'OPTIONS', 'SIGNALS', 'EXIT STATUS', 'FILES', 'SEE ALSO']) {
    t.match(m8.text, new RegExp(`^${section}$`, 'm'), `section ${section}`);
  }
  for (const cmd of Object.keys(COMMANDS)) t.match(m8.text, new RegExp(`• ${cmd}:`), `command ${cmd} is described`);
  for (const sig of ['SIGTERM', 'SIGHUP', 'SIGUSR1']) t.match(m8.text, new RegExp(`• ${sig}`), `signal ${sig}`);
  for (const code of ['0', '1', '64', '78']) t.match(m8.text, new RegExp(`• ${code}:`), `exit status ${code}`);
  t.notMatch(m8.text, /<br>|&quot;|&lt;|&gt;|&amp;/, 'no HTML left in the page');

  const m5 = render(page5);
  t.equal(m5.status, 0);
  t.equal(m5.warnings.trim(), '', 'no groff warnings (5)');
  t.match(m5.text, /^POLICYD-IDENTITY\.YAML\(5\)/, 'header');
  t.notMatch(m5.text, /<!--|<br>|&quot;|&lt;|&gt;|&amp;/, 'no marker or HTML left in the page');
  const keys = schemaKeys(buildConfigSpec() as Spec<unknown>, '', []);
  t.ok(keys.length > 80, `the schema has ${keys.length} keys`);
  const headings = new Set(m5.text.split('\n').filter((l) => /^ {3}\S/.test(l)).map((l) => l.trim()));
  const missing = keys.filter((k) => !headings.has(k));
  t.same(missing, [], 'every key of the schema has its entry in policyd-identity.yaml(5)');
  for (const c of CHECKS) t.match(m5.text, new RegExp(`• ${c.id}:\\s+\\S`), `check ${c.id} with its description`);
});

t.test("README's test command is what .ci/run runs, in a fresh clone", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  t.match(firstBlock, /^bash test\/run-all\.sh\b/m, "README's first lines give the test command");
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  t.match(ci, /^bash test\/run-all\.sh <\/dev\/null$/m, '.ci/run runs exactly it');
  t.match(ci, /git clone -q --no-hardlinks "\$src" "\$work\/policyd-identity"/, '.ci/run clones the committed HEAD into an empty temporary directory');
  t.ok(existsSync(join(ROOT, 'test', 'run-all.sh')), 'test/run-all.sh exists');
  const sh = spawnSync('bash', ['-n', join(ROOT, 'test', 'run-all.sh')], { encoding: 'utf8', timeout: 10_000 });
  t.equal(sh.status, 0, `run-all.sh parses\n${sh.stderr}`);
});

t.test('tap-summary prints the plain closing line and passes tap output through', async (t) => {
  const run = (input: string) => spawnSync(process.execPath, [join(ROOT, 'test', 'tools', 'tap-summary.mjs')], { input, encoding: 'utf8', timeout: 10_000 });
  const ok = run('ok 1 - a\nnot ok 2 - b\n# { total: 12, pass: 9, fail: 2, skip: 1 }\n');
  t.equal(ok.stdout.split('\n').slice(-2)[0], '9 passed, 2 failed, 1 skipped');
  t.match(ok.stdout, /^not ok 2 - b$/m, 'tap output passed through');
  const none = run('something broke before tap ran\n');
  t.equal(none.stdout.split('\n').slice(-2)[0], '0 passed, 1 failed (no tap summary line: the build or the runner failed)');
});
