// bench/lib/profile.mjs — the top self-time functions of a V8 .cpuprofile
// (node --cpu-prof), as the benchmark reports them: function, file:line,
// self ms and % of all samples, aggregated over every node of the call tree
// that is the same function. "(garbage collector)", "(program)" and "(idle)"
// are V8's own buckets: GC, native code outside JS frames, waiting.
//
//   node bench/lib/profile.mjs FILE.cpuprofile [TOP]
//
// What can go wrong: a truncated profile (the process was killed) fails to
// parse: the error says so.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function topSelf(file, top = 25, root = process.cwd()) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> microseconds
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const agg = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    total += us;
    if (cf.functionName === '(idle)') idle += us;
    let where = cf.url ? cf.url.replace(/^file:\/\//, '') : '';
    if (where.startsWith(root)) where = path.relative(root, where);
    const key = `${cf.functionName || '(anonymous)'}\t${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    agg.set(key, (agg.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = [...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => {
    const [fn, where] = k.split('\t');
    return { function: fn, where, self_ms: +(us / 1000).toFixed(1), pct_all: +((100 * us) / total).toFixed(1),
      pct_busy: fn === '(idle)' ? null : +((100 * us) / busy).toFixed(1) };
  });
  // per file (busy time only): where the time goes by module
  const files = new Map();
  for (const [k, us] of agg) {
    const [fn, where] = k.split('\t');
    if (fn === '(idle)') continue;
    const f = where ? where.replace(/:\d+$/, '') : fn;
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const byFile = [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)
    .map(([f, us]) => ({ file: f, self_ms: +(us / 1000).toFixed(1), pct_busy: +((100 * us) / busy).toFixed(1) }));
  return { total_ms: +(total / 1000).toFixed(1), busy_ms: +(busy / 1000).toFixed(1), rows, byFile };
}

export function formatTop(t) {
  const lines = [`samples: ${t.total_ms} ms, busy (not idle): ${t.busy_ms} ms`, '',
    '| self ms | % of busy | function | where |', '| ---: | ---: | --- | --- |'];
  for (const r of t.rows) lines.push(`| ${r.self_ms} | ${r.pct_busy ?? '(idle)'} | ${r.function} | ${r.where} |`);
  lines.push('', '| file (self time) | ms | % of busy |', '| --- | ---: | ---: |');
  for (const f of t.byFile) lines.push(`| ${f.file} | ${f.self_ms} | ${f.pct_busy} |`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) { process.stderr.write('usage: node bench/lib/profile.mjs FILE.cpuprofile [TOP]\n'); process.exit(2); }
  process.stdout.write(`${formatTop(topSelf(file, Number(top ?? 25)))}\n`);
}
