// readme-tables.mjs — regenerate the generated tables in README.md from the code:
// the error-code table (src/errors.ts) and the check table (src/checks/index.ts).
// Run after `npm run build`: node scripts/readme-tables.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const { ErrorCodes } = await import(new URL('dist/errors.js', root));
let readme = readFileSync(new URL('README.md', root), 'utf8');

function replace(name, body) {
  const re = new RegExp(`(<!-- ${name}:begin -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(readme)) throw new Error(`README has no ${name} markers`);
  readme = readme.replace(re, `$1${body}$2`);
}

const esc = (s) => String(s).replace(/\|/g, '\\|');
replace(
  'error-table',
  '| code | level | what happened | what follows |\n| --- | --- | --- | --- |\n' +
    Object.entries(ErrorCodes).map(([c, e]) => `| \`${c}\` | ${e.level} | ${esc(e.text)} | ${esc(e.effect)} |`).join('\n') + '\n',
);

try {
  const { CHECKS } = await import(new URL('dist/checks/index.js', root));
  if (readme.includes('<!-- check-table:begin -->')) {
    replace(
      'check-table',
      '| check (config key) | fails when | default action |\n| --- | --- | --- |\n' +
        CHECKS.map((c) => {
          const d = c.defaults;
          const act = d.action === 'off' ? 'off' : `${d.action}${d.code ? ` \`${d.code}\`` : ''}${d.score ? `, score ${d.score}` : ''}`;
          return `| \`${c.id}\` | ${esc(c.summary)} | ${act} |`;
        }).join('\n') + '\n',
    );
  }
} catch (e) {
  console.error('check table not generated:', e.message);
}
writeFileSync(new URL('README.md', root), readme);
console.log('README tables updated');
