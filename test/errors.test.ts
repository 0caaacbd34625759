// The error table stays in sync with the code and README (fastify-style parity test).
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, PolicydError } from '../src/errors.js';

const ROOT = process.cwd();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('codes are unique, well-formed, documented in README', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [code, info] of Object.entries(ErrorCodes)) {
    t.match(code, /^PI_[A-Z0-9_]+$/, `${code} format`);
    t.ok(info.text.length > 10 && info.effect.length > 5, `${code} has text and effect`);
    t.ok(readme.includes(`\`${code}\``), `${code} is in README's error table`);
  }
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

t.test('PolicydError carries its code and default text', async (t) => {
  const e = new PolicydError('PI_CONFIG_READ');
  t.equal(e.code, 'PI_CONFIG_READ');
  t.equal(e.message, ErrorCodes.PI_CONFIG_READ.text);
  t.ok(e instanceof Error);
});
