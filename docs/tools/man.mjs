// man.mjs — build the man pages into dist/man/ from their markdown sources in
// docs/ (marked-man: markdown -> roff). Run by `npm run build` (so `npm pack`
// and the test build make them) after tsc has written dist/.
//
//   docs/policyd-identity.8.md       -> dist/man/policyd-identity.8
//   docs/policyd-identity.yaml.5.md  -> dist/man/policyd-identity.yaml.5
//
// The yaml(5) page's key reference is not written by hand: the line
// `<!-- keys -->` is replaced by every key of the config schema
// (dist/config/schema.js: type and default) with the comment the shipped
// etc/policyd-identity.yaml gives it, so a new key is in the page with no
// second place to update. Also writes dist/man/*.md (the expanded markdown)
// for the test that holds every key against the page.
//
// SOURCE_DATE_EPOCH fixes the date in the page header (reproducible builds);
// otherwise the date of the last commit of the source, else today.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseDocument, isMap, stringify } from 'yaml';
import { Marked } from 'marked';
import markedMan from 'marked-man';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const PAGES = [
  { src: 'docs/policyd-identity.8.md', out: 'policyd-identity.8' },
  { src: 'docs/policyd-identity.yaml.5.md', out: 'policyd-identity.yaml.5' },
];

// ---- the key reference -----------------------------------------------------------

/** path -> the comment above that key in etc/policyd-identity.yaml */
function etcComments() {
  const doc = parseDocument(readFileSync(new URL('etc/policyd-identity.yaml', root), 'utf8'));
  const out = new Map();
  const walk = (node, prefix) => {
    if (!isMap(node)) return;
    node.items.forEach((pair, i) => {
      const path = prefix ? `${prefix}.${pair.key.value}` : String(pair.key.value);
      let c = pair.key.commentBefore ?? (i === 0 ? node.commentBefore : undefined);
      // the file's own header sits above the first key: keep the last paragraph only
      if (c !== undefined && prefix === '' && i === 0) c = c.split('\n\n').pop();
      if (c) out.set(path, commentMarkdown(c));
      walk(pair.value, path);
    });
  };
  walk(doc.contents, '');
  return out;
}

/** A YAML comment as markdown: indented lines (examples) become a code block. */
function commentMarkdown(c) {
  const out = [];
  let inCode = false;
  for (const raw of c.split('\n')) {
    const line = raw.replace(/^ /, '');
    const isCode = /^ {2,}\S/.test(line);
    if (isCode && !inCode) out.push('');
    if (!isCode && inCode) out.push('');
    out.push(isCode ? `    ${line.slice(2)}` : line);
    inCode = isCode;
  }
  return out.join('\n').trim();
}

const code = (s) => `\`${String(s).replace(/`/g, "'")}\``;

/** A default as YAML would write it in flow style: `[a, b]`, `{ k: v }`; long ones point at default-config. */
function defaultText(v) {
  if (v === undefined) return 'required';
  const s = typeof v === 'string' ? (v === '' ? '""' : v) : stringify(v, { flow: true }).trim();
  if (s.length > 70 || s.includes('\n')) return 'see `policyd-identity default-config`';
  return code(s);
}

/** Every key as markdown: one `### path` entry each (checks collapsed into one list). */
async function keyReference() {
  const { buildConfigSpec } = await import(new URL('dist/config/schema.js', root));
  const { defaultConfig } = await import(new URL('dist/config/load.js', root));
  const { printableConfig } = await import(new URL('dist/cli/check-config.js', root));
  const { CHECKS } = await import(new URL('dist/checks/index.js', root));
  const def = defaultConfig();
  if (!def.ok) throw new Error('the embedded defaults do not validate');
  const defaults = printableConfig(def.config);
  const comments = etcComments();
  const checkIds = new Set(CHECKS.map((c) => c.id));
  const parts = [];
  const keys = [];

  const at = (obj, path) => path.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);

  const entry = (label, spec, dflt, comment, doc) => {
    keys.push(label);
    let s = `### ${label}\n\n${spec.describe}; ${dflt === 'required' ? 'required' : `default ${dflt}`}.\n`;
    const text = [comment, doc].filter(Boolean).join('\n\n');
    if (text) s += `\n${text}\n`;
    parts.push(s);
  };

  const walk = (spec, label, path, inDefaults) => {
    const fields = spec.fields;
    if (fields && label === 'checks') {
      // one entry per check; their four keys are the same for all
      keys.push('checks');
      let s = `### checks.CHECK.action, .code, .message, .score\n\n${comments.get('checks') ?? ''}\n\nThe checks, with their defaults:\n\n`;
      for (const [id] of Object.entries(fields)) {
        if (!checkIds.has(id)) continue;
        keys.push(`checks.${id}`);
        const d = at(defaults, ['checks', id]);
        const why = comments.get(`checks.${id}`) ?? '';
        s += `* ${code(id)}: ${why}. Default: ${d.action}${d.code ? ` ${code(d.code)}` : ''}, score ${d.score}.\n`;
      }
      parts.push(s);
      return;
    }
    if (fields) {
      for (const [k, f] of Object.entries(fields)) {
        const sub = label ? `${label}.${k}` : k;
        const subPath = [...path, k];
        const s = f.spec;
        if (s.fields && !s.item) {
          const c = sub === 'checks' ? undefined : comments.get(sub);
          if (c) parts.push(`### ${sub}\n\n${c}\n`);
          walk(s, sub, subPath, inDefaults);
          continue;
        }
        const dflt = inDefaults ? defaultText(at(defaults, subPath)) : f.def ? defaultText(JSON.parse(JSON.stringify(s.show ? s.show(f.def()) : f.def()) ?? null)) : 'required';
        entry(sub, s, dflt, inDefaults ? comments.get(sub) : undefined, f.doc);
        const inner = s.item ?? s.inner;
        if (inner && inner.fields) walk(inner, `${sub}[]`, [], false);
        if (s.value && s.value.fields) walk(s.value, `${sub}.NAME`, [], false);
      }
    }
  };
  walk(buildConfigSpec(), '', [], true);
  return { markdown: parts.join('\n'), keys };
}

// ---- markdown -> roff --------------------------------------------------------------

function pageDate() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH) * 1000;
  try {
    const s = execFileSync('git', ['log', '-1', '--format=%ct', '--', 'docs', 'src/config', 'etc'], { cwd: root, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (/^\d+$/.test(s)) return Number(s) * 1000;
  } catch {
    // not a git checkout (an unpacked tarball): today
  }
  return Date.now();
}

function toRoff(markdown, name, section) {
  const m = new Marked({ ...markedMan, breaks: false, manVersion: pkg.version, date: pageDate(), name, section, manual: 'policyd-identity' });
  // marked escapes HTML in code spans; roff wants the characters themselves
  const entities = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
  return m.parse(markdown).replace(/&(quot|#39|lt|gt|amp);/g, (e) => entities[e]);
}

const outDir = new URL('dist/man/', root);
mkdirSync(outDir, { recursive: true });
const { markdown: keysMd, keys } = await keyReference();
for (const p of PAGES) {
  let md = readFileSync(new URL(p.src, root), 'utf8');
  if (md.includes('<!-- keys -->')) md = md.replace('<!-- keys -->', keysMd);
  const [, name, section] = /^(.*)\.(\d)$/.exec(p.out);
  writeFileSync(new URL(`${p.out}.md`, outDir), md);
  writeFileSync(new URL(p.out, outDir), toRoff(md, name, section));
}
process.stderr.write(`man: ${PAGES.map((p) => `dist/man/${p.out}`).join(', ')} (${keys.length} config keys)\n`);
