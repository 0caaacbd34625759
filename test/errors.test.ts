// The error table stays in sync with the code and docs/errors.md (fastify-style
// parity test), and every code is logged at the level the table gives it.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ErrorCodes, PolicydError, type ErrorCode } from '../src/errors.js';

const ROOT = process.cwd();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The rows between the error-table markers of docs/errors.md. */
function docRows(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const m = /<!-- error-table:begin -->\n([\s\S]*?)<!-- error-table:end -->/.exec(doc);
  if (m === null) throw new Error('docs/errors.md has no error-table markers');
  return (m[1] ?? '').split('\n').filter((l) => l.startsWith('| `PI_'));
}

t.test('docs/errors.md lists every code exactly as src/errors.ts says', async (t) => {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = docRows();
  const expected = Object.entries(ErrorCodes).map(([c, e]) => `| \`${c}\` | ${e.level} | ${esc(e.text)} | ${esc(e.effect)} |`);
  for (const [code, info] of Object.entries(ErrorCodes)) {
    t.match(code, /^PI_[A-Z0-9_]+$/, `${code} format`);
    t.ok(info.text.length > 10 && info.effect.length > 5, `${code} has text and effect`);
  }
  // same rows, same order: a stale row names what to regenerate
  t.same(rows, expected, 'docs/errors.md table = src/errors.ts (regenerate: npm run build && node docs/tools/docs-tables.mjs)');
  t.notOk(readFileSync(join(ROOT, 'README.md'), 'utf8').includes('<!-- error-table:begin -->'), 'the table lives in docs/errors.md only');
});

t.test('every PI_ code used in src/ exists in the table', async (t) => {
  const known = new Set(Object.keys(ErrorCodes));
  const used = new Set<string>();
  for (const f of sources(join(ROOT, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bPI_[A-Z][A-Z0-9_]+\b/g)) used.add(m[0]);
  }
  t.ok(used.size > 10, `${used.size} codes used`);
  for (const c of used) t.ok(known.has(c), `${c} is in src/errors.ts`);
});

// A log call names its level and its code together: log.warn({ code: 'PI_X', ... }),
// log().error({ code: 'PI_X' ...}) or log[ErrorCodes.PI_X.level]({ code: 'PI_X' ... }).
const LOG_CALL = /\.(trace|debug|info|warn|error|fatal)\(\s*\{[^}]*?\bcode:\s*'(PI_[A-Z0-9_]+)'/g;
const LOG_BY_TABLE = /\[ErrorCodes\.(PI_[A-Z0-9_]+)\.level\]\(\s*\{[^}]*?\bcode:\s*'(PI_[A-Z0-9_]+)'/g;

t.test('each code is logged at the level the table gives it', async (t) => {
  let calls = 0;
  for (const f of sources(join(ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    const where = (i: number) => `${relative(ROOT, f)}:${text.slice(0, i).split('\n').length}`;
    for (const m of text.matchAll(LOG_CALL)) {
      calls++;
      const code = m[2] as ErrorCode;
      t.ok(code in ErrorCodes, `${code} known (${where(m.index)})`);
      if (code in ErrorCodes) t.equal(m[1], ErrorCodes[code].level, `${code} logged at ${m[1]} (${where(m.index)})`);
    }
    for (const m of text.matchAll(LOG_BY_TABLE)) {
      calls++;
      t.equal(m[1], m[2], `${m[2]} logged at its own table level (${where(m.index)})`);
    }
  }
  t.ok(calls >= 15, `${calls} log calls with a code found`);
});

t.test('the level scan sees a wrong level', async (t) => {
  const sample = `log.info({ code: 'PI_SERVER_LISTEN_FAILED', err }, 'x'); this.log[ErrorCodes.PI_DNS_TEMPFAIL.level]({ code: 'PI_DNS_DEADLINE' }, 'y')`;
  const direct = [...sample.matchAll(LOG_CALL)].map((m) => [m[1], m[2]]);
  t.same(direct, [['info', 'PI_SERVER_LISTEN_FAILED']]);
  t.not(direct[0]?.[0], ErrorCodes.PI_SERVER_LISTEN_FAILED.level, 'a mismatch is visible');
  const byTable = [...sample.matchAll(LOG_BY_TABLE)].map((m) => [m[1], m[2]]);
  t.same(byTable, [['PI_DNS_TEMPFAIL', 'PI_DNS_DEADLINE']]);
});

t.test('PolicydError carries its code and default text', async (t) => {
  const e = new PolicydError('PI_CONFIG_READ');
  t.equal(e.code, 'PI_CONFIG_READ');
  t.equal(e.message, ErrorCodes.PI_CONFIG_READ.text);
  t.ok(e instanceof Error);
});
