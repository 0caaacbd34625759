// docs-tables.mjs — regenerate the generated table in docs/errors.md from the code
// (src/errors.ts). test/errors.test.ts fails when the two differ, so run this after
// changing an error code: npm run build && node docs/tools/docs-tables.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('../..', import.meta.url);
const { ErrorCodes } = await import(new URL('dist/errors.js', root));
const file = new URL('docs/errors.md', root);
let text = readFileSync(file, 'utf8');

function replace(name, body) {
  const re = new RegExp(`(<!-- ${name}:begin -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(text)) throw new Error(`docs/errors.md has no ${name} markers`);
  text = text.replace(re, `$1${body}$2`);
}

const esc = (s) => String(s).replace(/\|/g, '\\|');
replace(
  'error-table',
  '| code | level | what happened | what follows |\n| --- | --- | --- | --- |\n' +
    Object.entries(ErrorCodes).map(([c, e]) => `| \`${c}\` | ${e.level} | ${esc(e.text)} | ${esc(e.effect)} |`).join('\n') + '\n',
);
writeFileSync(file, text);
console.log('docs/errors.md table updated');
