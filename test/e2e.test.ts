// End-to-end: the daemon behind a real Postfix 3.7, judging identities served by
// a real DNS server (dnsmasq), inside a throwaway network namespace. This file
// runs test/e2e/run.sh (which does the work: namespace, dnsmasq, daemons,
// Postfix, swaks, teardown) and turns each of its case lines into an assertion.
//
// It needs root (network namespaces, Postfix) and Debian's postfix, swaks,
// dnsmasq-base and iproute2 (.ci/run installs them). Without them it FAILS with
// the reason: a suite that silently skipped would look green without proving
// anything.
//
// What can go wrong: run.sh is bounded by its own budget (210 s of setup and
// cases); this test also kills its process group after 300 s (run.sh's trap then
// tears everything down). A failed case reports the SMTP reply, the daemon's
// decision log lines and the kept run directory.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs from <build dir>/test/; the daemon is <build dir>/src/cli.js and
// the harness stays in the source tree's test/e2e/ (not compiled).
const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli.js');
const repo = resolve(here, '..', '..');
const script = join(repo, 'test', 'e2e', 'run.sh');
const casesFile = join(repo, 'test', 'e2e', 'cases.txt');
const HARD_LIMIT_MS = 300_000;

/** ids of the cases in cases.txt, in order (what run.sh must report, each once) */
function caseIds(text: string): string[] {
  const ids: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line) || /^@\w+\s*=/.test(line)) continue;
    ids.push(line.split(' | ')[0]!.trim());
  }
  return ids;
}

interface CaseResult {
  id: string;
  pass: boolean;
  text: string;
  details: string[];
}

/** PASS/FAIL lines of run.sh's output; indented lines below a FAIL are its details */
function parseOutput(out: string): { results: CaseResult[]; summary: string | undefined } {
  const results: CaseResult[] = [];
  let summary: string | undefined;
  for (const line of out.split('\n')) {
    const m = /^(PASS|FAIL) (\S+): (.*)$/.exec(line);
    if (m) results.push({ id: m[2]!, pass: m[1] === 'PASS', text: m[3]!, details: [] });
    else if (line.startsWith('    ') && results.length > 0) results[results.length - 1]!.details.push(line.trim());
    else if (/^\d+ passed, \d+ failed/.test(line)) summary = line;
  }
  return { results, summary };
}

function missingTools(): string[] {
  const tools = ['postfix', 'swaks', 'dnsmasq', 'ip', 'ss'];
  const path = `/usr/sbin:/sbin:${process.env.PATH ?? ''}`;
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { env: { ...process.env, PATH: path } }).status !== 0);
}

t.test('real Postfix end to end (test/e2e/run.sh)', async (t) => {
  const isRoot = process.getuid?.() === 0;
  t.ok(isRoot, 'runs as root (network namespaces and Postfix need it)');
  const missing = missingTools();
  t.same(missing, [], 'postfix, swaks, dnsmasq, ip and ss are installed (Debian: postfix swaks dnsmasq-base iproute2)');
  t.ok(existsSync(cli), `the daemon is built: ${cli}`);
  if (!isRoot || missing.length > 0 || !existsSync(cli)) return;

  const expected = caseIds(readFileSync(casesFile, 'utf8'));
  t.ok(expected.length >= 50, `cases.txt has the suite (${expected.length} cases)`);

  const started = Date.now();
  const child = spawn('bash', [script, casesFile], {
    env: { ...process.env, PI_E2E_CLI: cli },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: on timeout the whole group gets SIGTERM
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  }, HARD_LIMIT_MS);
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(timer);
  const seconds = Math.round((Date.now() - started) / 1000);

  t.notOk(timedOut, `the suite finished within ${HARD_LIMIT_MS / 1000}s (took ${seconds}s)`);
  const { results, summary } = parseOutput(out);
  t.ok(summary !== undefined, 'run.sh printed its summary', { stderr: err.slice(-3000) });
  for (const r of results) {
    t.ok(r.pass, `${r.id}: ${r.text}`, r.pass ? {} : { details: r.details });
  }
  // every case ran and was reported exactly once: nothing silently skipped
  t.same(results.map((r) => r.id), [...expected, 'daemon-logs', 'postfix-log'], 'run.sh reported every case of cases.txt, in order, and its two whole-run checks');
  t.equal(code, 0, `run.sh exit status (0 = every case passed); ${summary ?? 'no summary'}`, { stderr: err.slice(-3000) });
});
