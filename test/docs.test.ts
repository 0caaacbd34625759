// Every link in README.md and docs/*.md leads somewhere: a relative link names a
// file of the repository, and a #fragment names a heading of its target, as
// GitHub makes anchors of headings (lower case, punctuation dropped, spaces to
// hyphens, -1/-2 for repeats). Code blocks are not searched for links.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = process.cwd();

/** GitHub's anchor for a heading text */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

const stripCode = (md: string) => md.replace(/^```[\s\S]*?^```/gm, '');

function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of stripCode(md).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const a = slug(m[1]!.replace(/`/g, ''));
    const n = seen.get(a) ?? 0;
    seen.set(a, n + 1);
    out.add(n === 0 ? a : `${a}-${n}`);
  }
  return out;
}

function links(md: string): string[] {
  return [...stripCode(md).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

t.test('slugs as GitHub makes them', async (t) => {
  t.equal(slug('Postfix: main.cf'), 'postfix-maincf');
  t.equal(slug('`policyd-identity test` — one request, explained'.replace(/`/g, '')), 'policyd-identity-test--one-request-explained');
  t.equal(slug('Logging (`log:`)'.replace(/`/g, '')), 'logging-log');
  t.same([...anchors('# A\n## A\n```\n# not a heading\n```\n')], ['a', 'a-1']);
});

t.test('every relative link and #anchor in README.md and docs/ resolves', async (t) => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const url of links(text)) {
      if (/^[a-z]+:/i.test(url)) continue; // https:, mailto: — not ours to check offline
      const [path, fragment] = url.split('#', 2) as [string, string | undefined];
      const target = path === '' ? file : normalize(join(dirname(file), path));
      checked++;
      if (!existsSync(join(ROOT, target))) {
        t.fail(`${file}: link to ${url}: no file ${target}`);
        continue;
      }
      if (fragment !== undefined && target.endsWith('.md')) {
        const ok = anchors(readFileSync(join(ROOT, target), 'utf8')).has(fragment);
        t.ok(ok, `${file}: ${url} names a heading of ${relative(ROOT, join(ROOT, target))}`);
      }
    }
  }
  t.ok(checked > 30, `${checked} links checked`);
});

t.test('README stays the admin page: about three screens, the two commands first', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const lines = readme.split('\n').length;
  t.ok(lines <= 180, `README has ${lines} lines (about three screens)`);
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  t.equal(firstBlock.trim().split('\n').length, 2, 'the first code block is the two commands');
  t.ok(readme.indexOf('```sh') < readme.indexOf('\n## '), 'and comes before the first section');
  for (const doc of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
    t.ok(readFileSync(join(ROOT, 'docs/README.md'), 'utf8').includes(`(${doc})`), `docs/README.md lists ${doc}`);
  }
});

// ---- file headers (docs/layout.md: every file says what it is for and what can go wrong) ----

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The file's leading comment: the block comment or the run of // lines before the first code. */
function header(text: string): string {
  if (text.startsWith('#!')) text = text.slice(text.indexOf('\n') + 1);
  const block = /^\s*\/\*\*?([\s\S]*?)\*\//.exec(text);
  if (block) return block[1]!;
  return (/^(?:\s*\/\/.*\n)+/.exec(text) ?? [''])[0];
}

t.test('every file under src/ has a header with a "What can go wrong" section', async (t) => {
  const files = sourceFiles(join(ROOT, 'src'));
  t.ok(files.length > 50, `${files.length} source files`);
  const lacking = files.filter((f) => !/What can go wrong/.test(header(readFileSync(f, 'utf8')))).map((f) => relative(ROOT, f));
  t.same(lacking, [], 'files whose header lacks "What can go wrong"');
});

t.test('every source file a src/ header names exists', async (t) => {
  const src = join(ROOT, 'src');
  const all = sourceFiles(src).map((f) => relative(src, f));
  const bases = new Set(all.map((f) => f.slice(f.lastIndexOf('/') + 1)));
  const missing: string[] = [];
  for (const f of sourceFiles(src)) {
    const h = header(readFileSync(f, 'utf8'));
    // names of code files (foo.ts, lib/foo.ts, src/x/foo.ts); .js as an import would name its .ts
    for (const m of h.matchAll(/(?<![\w/.-])((?:[\w.-]+\/)*[\w-]+)\.(ts|js)\b/g)) {
      const name = `${m[1]}.ts`;
      const found = name.includes('/')
        ? [join(dirname(f), name), join(src, name), join(ROOT, name), join(src, dirname(relative(src, f)), '..', name)].some((p) => existsSync(p))
          || all.some((a) => a.endsWith(`/${name}`))
        : bases.has(name);
      if (!found) missing.push(`${relative(ROOT, f)} names ${m[0]}`);
    }
    // the repository stands alone: code cites nothing outside it
    if (/(?:\.\.\/|\/work\/)?shared\/(?:notes|tools|fixtures)\//.test(h)) missing.push(`${relative(ROOT, f)} cites the shared material outside the repository`);
  }
  t.same(missing, [], 'names in headers that lead nowhere');
});
