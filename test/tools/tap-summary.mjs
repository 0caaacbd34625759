// tap-summary.mjs — echo tap's output, then print the plain closing line CI reads:
// "N passed, N failed[, N skipped]" from tap's "# { total: ..., pass: ..., fail: ... }" line.
import { createInterface } from 'node:readline';

let last = null;
for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(line + '\n');
  if (/^# \{ total: \d+/.test(line)) last = line;
}
if (last) {
  const c = Object.fromEntries([...last.matchAll(/(\w+): (\d+)/g)].map(([, k, v]) => [k, Number(v)]));
  const skipped = (c.skip ?? 0) + (c.todo ?? 0);
  process.stdout.write(`${c.pass ?? 0} passed, ${c.fail ?? 0} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
} else {
  process.stdout.write('0 passed, 1 failed (no tap summary line: the build or the runner failed)\n');
}
