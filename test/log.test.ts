// Logs that fit a mail host (issue 10 §5): the info decision line stays small
// (what fired and what could not be decided; every check at debug), the text
// format (logfmt) is one parse-able line per event whatever a client sends,
// and a log file is reopened on SIGUSR2 after logrotate moved it.
import t from 'tap';
import { mkdtempSync, mkdirSync, readdirSync, readlinkSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync, openSync, closeSync, readSync, constants as fsConstants } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logfmtValue, jsonLineToText } from '../src/log/text.js';
import { closeLogger, createLogger, lineWriter, droppedLines, flushNow } from '../src/log/logger.js';
import { decisionFields, decisionLine, encodeDecisionLine, writeDecisionLine } from '../src/server/decision-line.js';
import { LogSink, MAX_PENDING } from '../src/log/sink.js';
import { toPolicyRequest, type PolicyRequest } from '../src/protocol/request.js';
import type { Decision } from '../src/engine/types.js';
import type { Finding } from '../src/checks/types.js';
import { LAB_IDENTITY_YAML } from './helpers/lab-networks.js';
import { parseLogfmt } from './helpers/logfmt.js';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { CLI } from './helpers/daemon-process.js';
import { PolicyClient, fixture } from './helpers/policy-client.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';

// ---- requests: Postfix 3.7's RCPT block (test/fixtures) with an identity ---------------

/** a well-set-up sender: FCrDNS, HELO = PTR name, sender domain with an MX */
const ACCEPTED = { client_address: '203.0.113.5', client_name: 'mail.example.net', reverse_client_name: 'mail.example.net', helo_name: 'mail.example.net', sender: 'alice@example.net', recipient: 'bob@example.org', instance: '4B1C21E0F3.A7d2.1' };
/** no PTR, a HELO without a dot: refused by the defaults (helo_not_fqdn) */
const REJECTED = { client_address: '198.51.100.23', client_name: 'unknown', reverse_client_name: 'unknown', helo_name: 'bad', sender: 'spam@example.net', recipient: 'bob@example.org', instance: '4B1C21E0F4.A7d2.1' };

function rcpt(attrs: Record<string, string>): string {
  let s = fixture('rcpt.txt');
  for (const [k, v] of Object.entries(attrs)) {
    const re = new RegExp(`^${k}=.*$`, 'm');
    if (!re.test(s)) throw new Error(`rcpt.txt has no ${k}=`);
    s = s.replace(re, () => `${k}=${v}`);
  }
  return s;
}

async function dnsServer(): Promise<TestDnsServer> {
  const dns = await startDnsServer({
    zone: {
      'mail.example.net': { A: ['203.0.113.5'] },
      'example.net': { MX: [{ exchange: 'mail.example.net', priority: 10 }] },
      'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
      'mx.example.org': { A: ['198.51.100.7'] },
    },
  });
  dns.addPtr('203.0.113.5', 'mail.example.net');
  return dns;
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pi-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** lines of a file, waiting (bounded) until pred holds for one of them */
async function fileLines(path: string, pred: (l: string) => boolean, timeoutMs = 5000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : [];
    if (lines.some(pred) || Date.now() >= end) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- logfmt encoding ----------------------------------------------------------------

t.test('logfmt values: safe ones bare, the rest quoted, escaped, printable ASCII', async (t) => {
  t.equal(logfmtValue('mail.example.net'), 'mail.example.net');
  t.equal(logfmtValue('a@example.net'), 'a@example.net');
  t.equal(logfmtValue('inet:[::1]:10040'), 'inet:[::1]:10040');
  t.equal(logfmtValue(''), '""');
  t.equal(logfmtValue(42), '42');
  t.equal(logfmtValue(['helo_not_fqdn', 'rdns_missing']), 'helo_not_fqdn,rdns_missing');
  t.equal(logfmtValue('504 5.5.2 HELO name bad'), '"504 5.5.2 HELO name bad"');
  t.equal(logfmtValue('a=b'), '"a=b"', '= is quoted: it would start a new key');
  t.equal(logfmtValue('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
  t.equal(logfmtValue('x\ny'), '"x\\u000ay"', 'a newline cannot end the line');
  t.equal(logfmtValue('x\ry\0z\x7f'), '"x\\u000dy\\u0000z\\u007f"', 'CR, NUL and DEL escaped');
  t.equal(logfmtValue('a\u2028b\u2029c'), '"a\\u2028b\\u2029c"', 'Unicode line and paragraph separators escaped');
  t.equal(logfmtValue('abc\u202edef'), '"abc\\u202edef"', 'a bidi override cannot reorder what the admin reads');
  t.equal(logfmtValue('bücher'), '"b\\u00fccher"', 'non-ASCII escaped: the line stays ASCII');
  t.equal(logfmtValue({ a: 1 }), '"{\\"a\\":1}"', 'objects as quoted JSON');
});

t.test('logfmt round trip: any string survives, on one printable-ASCII line', async (t) => {
  // seeded, bounded: 2,000 strings of up to 40 characters from a hostile alphabet
  let seed = 0x5eed;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ['a', 'Z', '0', ' ', '=', '"', '\\', '\n', '\r', '\t', '\0', '\x7f', '\x85', '\u2028', '\u2029', '\u202e', '\u2066', 'é', '€', '😀', ':', '@', ',', 'u'];
  let bad = 0;
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const len = rnd(41);
    for (let k = 0; k < len; k++) s += alphabet[rnd(alphabet.length)];
    const line = jsonLineToText(`${JSON.stringify({ level: 'info', time: 0, msg: 'decision', helo_name: s, sender: s })}\n`);
    const body = line.slice(0, -1);
    const parsed = parseLogfmt(body);
    if (!/^[\x20-\x7e]*$/.test(body) || parsed.helo_name !== s || parsed.sender !== s || parsed.msg !== 'decision') {
      bad++;
      if (bad < 5) t.fail(`round trip failed for ${JSON.stringify(s)}: ${body}`);
    }
  }
  t.equal(bad, 0, '2,000 hostile strings round-trip');
});

t.test('jsonLineToText: time, level, msg first; name left out; keys in JSON order', async (t) => {
  const line = jsonLineToText('{"level":"info","time":1796547559314,"name":"policyd-identity","msg":"decision","instance":"4B1C.1","action":"DUNNO","us":12}\n');
  t.equal(line, 'time=2026-12-06T08:59:19.314Z level=info msg=decision instance=4B1C.1 action=DUNNO us=12\n');
  t.equal(jsonLineToText('not json\n'), 'not json\n', 'not JSON: passed through');
});

// ---- the hand-built decision line (server/decision-line.ts) -----------------------------

t.test('decision line: the hand-built line is byte-equal to what pino writes for the same fields, hostile values included (json and text)', async (t) => {
  const dir = tempDir(t);
  // seeded, bounded: 600 requests whose attributes come from a hostile alphabet, at
  // lengths around pino's 100-character fast path and the 256/2048 cuts
  let seed = 0x1d11e;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ['a', 'Z', '0', ' ', '=', '"', '\\', '\n', '\r', '\t', '\0', '\x01', '\x1f', '\x7f', '\x85', '\x9f', '\xa0', '\u061c', '\u200e', '\u2028', '\u2029', '\u202e', '\u2066', 'é', '€', '😀', '.', '@'];
  const lengths = [0, 1, 7, 99, 100, 101, 255, 256, 257, 300, 2047, 2048, 2049, 2100];
  const value = () => {
    const len = lengths[rnd(lengths.length)]!;
    if (rnd(3) === 0) return 'm'.repeat(len); // nothing to escape: only the cut applies
    let v = '';
    while (v.length < len) v += rnd(3) === 0 ? alphabet[rnd(alphabet.length)] : 'm';
    return v;
  };
  const cases: Array<[PolicyRequest, Decision, string, number]> = [];
  for (let i = 0; i < 600; i++) {
    const req = toPolicyRequest({
      request: 'smtpd_access_policy', protocol_state: 'RCPT', instance: value(), client_address: value(), client_name: value(),
      helo_name: value(), sender: value(), recipient: value(),
    });
    const f = (r: 'fail' | 'tempfail' | 'pass' | 'skip'): Finding => ({ check: value() || 'c', result: r, reason: value() });
    const findings = rnd(2) === 0 ? [] : [f('pass'), f('fail'), f('skip'), f('tempfail')];
    const d: Decision = {
      action: { verb: 'DUNNO' },
      fired: rnd(2) === 0 ? [] : rnd(2) === 0 ? [value()] : [value(), value(), value()],
      findings,
      ...(rnd(2) === 0 ? { note: value() } : {}),
      ...(rnd(3) === 0 ? { wouldBe: { verb: 'REPLY' as const, code: '550 5.7.1', text: value() } } : {}),
      ...(rnd(2) === 0 ? { score: [0, 1.5, -2, 1e21, NaN, Infinity][rnd(6)]! } : {}),
    };
    cases.push([req, d, value(), [0, 12.4, 12.5, 1e6 + 0.7][rnd(4)]!]);
  }
  for (const format of ['json', 'text'] as const) {
    const file = join(dir, `d.${format}.log`);
    const log = createLogger({ level: 'info', destination: file, sync: true, format });
    const raw = lineWriter(log);
    t.equal(raw?.escape, format === 'json', `${format}: a line writer; escaping as pino's formatter does`);
    for (const [req, d, action, micros] of cases) {
      log.info(decisionFields(req, d, action, micros), 'decision');
      raw!.write(decisionLine(req, d, action, micros, 0, raw!.escape));
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    t.equal(lines.length, 2 * cases.length, `${format}: one line each`);
    let bad = 0;
    for (let i = 0; i < cases.length; i++) {
      const viaPino = lines[2 * i]!.replace(/^\{"level":"info","time":\d+,/, '{"level":"info","time":0,').replace(/^time=\S+ /, 'time=1970-01-01T00:00:00.000Z ');
      if (viaPino !== lines[2 * i + 1]) {
        bad++;
        if (bad < 4) t.fail(`${format} case ${i} differs:\n pino: ${viaPino}\n hand: ${lines[2 * i + 1]}`);
      }
    }
    t.equal(bad, 0, `${format}: 600 hostile decisions, the same bytes`);
  }
});

t.test('decision line into the Buffer (log/sink.ts): byte-equal to the string line, hostile and invalid-UTF-8 values included', async (t) => {
  const dir = tempDir(t);
  // seeded, bounded: 3,000 decisions. Half the values are plain (printable ASCII, the
  // encoder's fast path), the rest carry one hostile character, a lone surrogate or
  // U+FFFD (what the parser makes of invalid UTF-8), or sit at the 256/2048 cuts.
  let seed = 0xb0f;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 12) % n; // the high bits: an LCG's low bits repeat with a short period
  };
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== '"' && c !== '\\');
  const hostile = ['"', '\\', '\n', '\0', '\x1f', '\x7f', '\x80', '\x9f', '\xa0', '\xff', '\u061c', '\u200e', '\u2028', '\u202e', '\u2066', 'é', '😀', '\ud800', '\udfff', '\ufffd', Buffer.from([0xc3, 0x28, 0xff]).toString('utf8')];
  const lengths = [0, 1, 9, 40, 255, 256, 257, 2047, 2048, 2049];
  const value = (plain: boolean) => {
    // a plain decision's values stay within the 256 cut (its long ones are tested at the cuts below)
    const len = rnd(plain ? 40 : 4) === 0 ? lengths[rnd(plain ? 6 : lengths.length)]! : rnd(40);
    let v = '';
    while (v.length < len) v += printable[rnd(printable.length)];
    if (!plain && rnd(3) !== 0) {
      const at = rnd(v.length + 1);
      v = v.slice(0, at) + hostile[rnd(hostile.length)] + v.slice(at);
    }
    return v;
  };
  const file = join(dir, 'buf.log');
  const sink = new LogSink({ dest: file, batchBytes: 4096 });
  const writer = { write: (l: string) => sink.line(l), escape: true, sink };
  const expected: Buffer[] = [];
  let fast = 0;
  const probe = new LogSink({ dest: join(dir, 'probe.log'), batchBytes: 1 << 20 });
  for (let i = 0; i < 3000; i++) {
    const plain = rnd(2) === 0;
    const v = () => value(plain || rnd(8) !== 0);
    const req = toPolicyRequest({
      request: 'smtpd_access_policy', protocol_state: ['RCPT', 'DATA', 'END-OF-MESSAGE', v()][rnd(4)]!, instance: v(), client_address: v(), client_name: v(),
      helo_name: v(), sender: v(), recipient: v(),
    });
    const f = (r: 'fail' | 'tempfail' | 'pass' | 'skip'): Finding => ({ check: v() || 'c', result: r, reason: v() });
    // many failed findings: the found list around its 2048 cut
    const findings = rnd(2) === 0 ? [] : rnd(plain ? 20 : 2) !== 0 ? [f('pass'), f('fail'), f('skip'), f('tempfail')] : Array.from({ length: 1 + rnd(300) }, () => f(rnd(2) ? 'fail' : 'pass'));
    const d: Decision = {
      action: { verb: 'DUNNO' },
      fired: rnd(2) === 0 ? [] : rnd(2) === 0 ? [v()] : [v(), v(), v()],
      findings,
      ...(rnd(2) === 0 ? { note: v() } : {}),
      ...(rnd(3) === 0 ? { wouldBe: { verb: 'REPLY' as const, code: '550 5.7.1', text: v() } } : {}),
      ...(rnd(2) === 0 ? { score: [0, 1.5, -2, 7, 10, 1e21, 2 ** 53, NaN, -Infinity, -0, 0.1 + 0.2][rnd(11)]! } : {}),
    };
    const action = rnd(2) === 0 ? 'DUNNO' : v();
    const micros = [0, 12.4, 12.5, 1e6 + 0.7, 9.5e15, 999_999_999.5, 1e9][rnd(7)]!;
    const time = [0, 1765000000000 + i, 1_000_000_000 + i, 1_000_000_000_000, 9007199254740991, 9007199254740992, -0][rnd(7)]!;
    writeDecisionLine(writer, req, d, action, micros, time);
    expected.push(Buffer.from(decisionLine(req, d, action, micros, time, true), 'utf8'));
    probe.begin();
    if (encodeDecisionLine(probe, req, d, action, micros, time)) fast++;
    probe.abort();
  }
  sink.write();
  const got = readFileSync(file);
  const want = Buffer.concat(expected);
  t.equal(got.length, want.length, 'as many bytes');
  let firstDiff = -1;
  for (let i = 0; i < want.length && firstDiff < 0; i++) if (got[i] !== want[i]) firstDiff = i;
  t.equal(firstDiff, -1, firstDiff < 0 ? '3,000 decisions, the same bytes' : `first difference at byte ${firstDiff}: ${got.subarray(Math.max(0, firstDiff - 80), firstDiff + 40).toString()}`);
  t.ok(fast > 1000 && fast < 2500, `both paths taken: ${fast} of 3,000 lines by the Buffer encoder`);
  t.equal(sink.dropped, 0, 'nothing dropped');
});

t.test('log sink: a full non-blocking pipe holds at most MAX_PENDING bytes, drops and counts the rest, reports once it drains; never throws', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const rd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  t.teardown(() => closeSync(rd));
  const wr = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  t.teardown(() => closeSync(wr));
  const sink = new LogSink({ dest: wr, batchBytes: 4096 });
  const reports: Array<[number, string]> = [];
  sink.onDropped = (n, why) => reports.push([n, why]);
  const line = (i: number) => `{"n":${String(i).padStart(8, '0')},"pad":"${'x'.repeat(80)}"}\n`;
  const N = 20_000; // 2 MB: the pipe (64 KiB) and MAX_PENDING (256 KiB) overflow
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink.line(line(i));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.ok(sink.dropped > 0, `lines dropped while the reader sleeps: ${sink.dropped}`);
  t.ok(ms < 2000, `no sleeping on EAGAIN: ${N} lines in ${ms.toFixed(0)} ms`);
  t.equal(reports.length, 0, 'no report while nothing can be written');
  // the reader wakes: drain the pipe, let the sink write what it holds
  const got: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  const drain = () => {
    for (;;) {
      let n = 0;
      try {
        n = readSync(rd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw e;
      }
      if (n === 0) return;
      got.push(Buffer.from(buf.subarray(0, n)));
    }
  };
  for (let i = 0; i < 20; i++) {
    drain();
    sink.write();
  }
  drain();
  const lines = Buffer.concat(got).toString('utf8').split('\n').filter((l) => l !== '');
  t.equal(lines.filter((l) => !/^\{"n":\d{8},"pad":"x{80}"\}$/.test(l)).length, 0, 'only whole lines reach the reader');
  t.equal(lines.length + sink.dropped, N, `every line written or counted: ${lines.length} + ${sink.dropped}`);
  t.ok(lines.length * line(0).length >= MAX_PENDING, 'at least MAX_PENDING bytes were held for the reader');
  t.same(reports.length, 1, 'one report once lines go through again');
  t.equal(reports[0]?.[0], sink.dropped, 'with the count');
  const nums = lines.map((l) => Number(/\d{8}/.exec(l)![0]));
  t.ok(nums.every((n, i) => i === 0 || n > nums[i - 1]!), 'in order');
});

t.test('batched lines are written when the process dies of an uncaught exception', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'crash.log');
  const script = join(dir, 'crash.mjs');
  const logger = new URL('../src/log/logger.js', import.meta.url).href;
  // 50 info lines (a few KiB: far below a batch), then a throw before the 1 s timer could write them
  writeFileSync(script, `import { createLogger } from ${JSON.stringify(logger)};
const log = createLogger({ level: 'info', destination: ${JSON.stringify(file)} });
for (let i = 0; i < 50; i++) log.info({ i }, 'before the crash');
setImmediate(() => { throw new Error('boom'); });
`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    const k = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (c) => {
      clearTimeout(k);
      resolve(c);
    });
  });
  t.equal(code, 1, 'the process died of the exception');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('before the crash')) : [];
  t.equal(lines.length, 50, 'every line before the crash is in the file');
});

t.test('log destination that fails (a full disk: /dev/full): lines dropped and counted, the logging call never throws', async (t) => {
  const log = createLogger({ level: 'info', destination: '/dev/full' });
  t.doesNotThrow(() => {
    for (let i = 0; i < 1000; i++) log.info({ i, pad: 'x'.repeat(100) }, 'line');
    log.warn('written at once');
    flushNow(log);
  }, 'ENOSPC is not thrown into the caller');
  t.ok(droppedLines(log) >= 1001, `every line counted as dropped: ${droppedLines(log)}`);
});

// ---- the real daemon ----------------------------------------------------------------

t.test('a daemon whose log destination fails (a full disk: /dev/full) keeps answering', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const sock = join(dir, 'p.sock');
  const cfg = join(dir, 'p.yaml');
  // the metrics port cannot be read from the log (it is /dev/full): take a free one
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const metricsPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: ["unix:${sock}"]\nmetrics:\n  listen: 127.0.0.1:${metricsPort}\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: /dev/full\n`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  for (let i = 0; i < 100 && !existsSync(sock) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(existsSync(sock), `listening (stderr: ${stderr})`);
  const c = await PolicyClient.connect({ path: sock });
  t.teardown(() => c.close());
  // 300 decision lines: ~25 batches of 12 KiB, each write failing with ENOSPC (before: thrown
  // from the decision's log call, which ended the daemon at the first full batch)
  let answered = 0;
  for (let i = 0; i < 300; i++) if ((await c.ask(rcpt({ ...ACCEPTED, instance: `FULL.${i}` }))) === 'DUNNO') answered++;
  t.equal(answered, 300, 'every request answered DUNNO');
  t.equal(child.exitCode, null, 'the daemon is still running');
  t.equal(child.signalCode, null);
  // the lost lines are counted where an admin can see them although the log fails
  await new Promise((r) => setTimeout(r, 1200)); // the 1 s timer writes (and here: drops) the last batch
  const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = /^policyd_identity_log_lines_dropped_total (\d+)$/m.exec(body);
  t.ok(m !== null && Number(m[1]) >= 300, `policyd_identity_log_lines_dropped_total counts the 300 decision lines: ${m?.[1]}`);
});

t.test('a daemon whose stdout reader stops reading (a stalled journal) keeps answering; the lines it cannot hold are dropped and counted', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const sock = join(dir, 'p.sock');
  const cfg = join(dir, 'p.yaml');
  const fifo = join(dir, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  // the reader: open, never read (the FIFO holds 64 KiB)
  const reader = openSync(fifo, fsConstants.O_RDWR);
  t.teardown(() => closeSync(reader));
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const metricsPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: ["unix:${sock}"]\nmetrics:\n  listen: 127.0.0.1:${metricsPort}\ndns:\n  servers: ["${dns.server}"]\n`);
  // the shell opens the FIFO as stdout, blocking, as systemd hands over the journal's stream socket
  const child = spawn('sh', ['-c', 'exec "$0" "$@" > "$STDOUT_FIFO"', process.execPath, CLI, 'serve', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, STDOUT_FIFO: fifo },
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  for (let i = 0; i < 100 && !existsSync(sock) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(existsSync(sock), `listening (stderr: ${stderr})`);
  const c = await PolicyClient.connect({ path: sock });
  t.teardown(() => c.close());
  // 2,000 decision lines of ~600 bytes: 1.2 MB, beyond the FIFO (64 KiB) and the log's buffer (256 KiB)
  const longHelo = `mail-${'x'.repeat(250)}.example.net`;
  let answered = 0;
  for (let i = 0; i < 2000; i++) if ((await c.ask(rcpt({ ...ACCEPTED, helo_name: longHelo, instance: `STALL.${i}` }))) !== '') answered++;
  t.equal(answered, 2000, 'every request answered while nobody reads the log');
  await new Promise((r) => setTimeout(r, 1200)); // the 1 s timer tries the pending batch once more
  const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = /^policyd_identity_log_lines_dropped_total (\d+)$/m.exec(body);
  const dropped = Number(m?.[1] ?? 0);
  // held: the FIFO's 64 KiB and the buffer's 256 KiB, about 540 lines; the rest is counted
  t.ok(dropped >= 1000 && dropped <= 2000, `lines dropped and counted: ${dropped} of ~2,000`);
  t.equal(child.exitCode, null, 'the daemon is still running');
});

t.test('info decision line: under 300 bytes accepted, what fired when refused; every check at debug', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const logFile = join(dir, 'daemon.log');
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n`);
  const p = await startWithFileLog(t, cfg, logFile);
  const c = await PolicyClient.connect({ port: p.port });
  t.teardown(() => c.close());
  t.equal(await c.ask(rcpt(ACCEPTED)), 'DUNNO');
  t.match(await c.ask(rcpt(REJECTED)), /^504 5\.5\.2 /);
  const lines = await fileLines(logFile, (l) => l.includes('4B1C21E0F4'));
  const decisions = lines.filter((l) => l.includes('"msg":"decision"'));
  t.equal(decisions.length, 2, 'one info line per decision');
  const [acc, rej] = decisions.map((l) => ({ bytes: Buffer.byteLength(l) + 1, o: JSON.parse(l) as Record<string, unknown> }));
  t.ok(acc!.bytes < 300, `accepted request: ${acc!.bytes} bytes (bound 300)`);
  t.equal(acc!.o.action, 'DUNNO');
  t.equal(acc!.o.client_name, 'mail.example.net');
  t.equal(acc!.o.helo_name, 'mail.example.net');
  t.equal(acc!.o.sender, 'alice@example.net');
  t.notOk('checks' in acc!.o || 'found' in acc!.o || 'fired' in acc!.o || 'peer' in acc!.o || 'name' in acc!.o, 'no per-check list, no peer, no name at info');
  t.same(rej!.o.fired, ['helo_not_fqdn'], 'what made the action');
  t.equal(rej!.o.found, 'helo_not_fqdn=fail rdns_missing=fail rdns_unconfirmed=fail', 'every finding that was not pass or skip');
  t.ok(rej!.bytes < 500, `rejected request: ${rej!.bytes} bytes`);
  t.notOk(lines.some((l) => l.includes('"level":"debug"')), 'no debug line at info');
  await p.stop();

  // log.level: debug adds one line per decision with every check, the reasons and the peer
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n  level: debug\n`);
  rmSync(logFile);
  const q = await startWithFileLog(t, cfg, logFile);
  const c2 = await PolicyClient.connect({ port: q.port });
  t.teardown(() => c2.close());
  t.equal(await c2.ask(rcpt(ACCEPTED)), 'DUNNO');
  const dl = await fileLines(logFile, (l) => l.includes('"msg":"decision checks"'));
  const dbg = dl.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'decision checks');
  t.equal(dbg?.level, 'debug');
  t.equal(dbg?.instance, ACCEPTED.instance, 'tied to its decision by instance');
  t.match(String(dbg?.checks), /helo_missing=pass .*rdns_unconfirmed=pass .*sender_domain_unknown=pass/, 'every check');
  t.ok((dbg?.why as string[]).some((w) => /^rdns_unconfirmed=pass: .*PTR 203\.0\.113\.5 -> mail\.example\.net/.test(w)), 'with its reason and DNS answers');
  t.match(String(dbg?.peer), /^127\.0\.0\.1:\d+$/);
  await q.stop();
});

/** serve with the log in a file: waits for "started" there; returns the policy port */
async function startWithFileLog(t: { teardown(fn: () => void): void }, cfg: string, logFile: string, extraArgs: string[] = []) {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg, ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const k = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(k);
  };
  t.teardown(stop);
  const lines = await fileLines(logFile, (l) => /"msg":"started"|msg=started/.test(l), 15_000);
  const listening = lines.find((l) => /"msg":"listening"|msg=listening/.test(l));
  if (!lines.some((l) => /"msg":"started"|msg=started/.test(l)) || listening === undefined) throw new Error(`daemon did not start: ${stderr}\n${lines.join('\n')}`);
  const port = Number(/inet:127\.0\.0\.1:(\d+)/.exec(listening)![1]);
  return { child, port, stop, signal: (s: NodeJS.Signals) => child.kill(s) };
}

t.test('log.format: text writes one logfmt line per event; a hostile HELO stays on its line', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const logFile = join(dir, 'daemon.log');
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n  format: text\n`);
  const p = await startWithFileLog(t, cfg, logFile);
  const c = await PolicyClient.connect({ port: p.port });
  t.teardown(() => c.close());
  const hostile = 'evil"x\\y\u2028=\u202e.example';
  t.equal(await c.ask(rcpt(ACCEPTED)), 'DUNNO');
  t.match(await c.ask(rcpt(REJECTED)), /^504 /);
  await c.ask(rcpt({ ...REJECTED, helo_name: hostile, instance: 'HOSTILE.1' }));
  const lines = await fileLines(logFile, (l) => l.includes('HOSTILE.1'));
  t.ok(lines.length >= 5, `${lines.length} lines`);
  for (const l of lines) {
    t.match(l, /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(info|warn|error|debug) msg=/, 'time, level, msg first');
    t.ok(/^[\x20-\x7e]*$/.test(l), 'printable ASCII only');
  }
  const decisions = lines.map(parseLogfmt).filter((o) => o.msg === 'decision');
  t.equal(decisions.length, 3, 'one line per decision');
  const [acc, rej, bad] = decisions;
  t.equal(acc!.action, 'DUNNO');
  t.equal(acc!.client_address, '203.0.113.5');
  t.equal(acc!.instance, ACCEPTED.instance);
  t.equal(rej!.fired, 'helo_not_fqdn');
  t.equal(rej!.found, 'helo_not_fqdn=fail rdns_missing=fail rdns_unconfirmed=fail');
  t.match(rej!.action, /^504 5\.5\.2 /, 'a quoted value with spaces parses back whole');
  t.equal(bad!.helo_name, hostile, 'the hostile HELO parses back exactly');
  const acceptedLine = lines.find((l) => l.includes(`instance=${ACCEPTED.instance}`))!;
  t.ok(Buffer.byteLength(acceptedLine) + 1 < 300, `accepted request, text: ${Buffer.byteLength(acceptedLine) + 1} bytes`);
});

t.test('SIGUSR2 reopens the log file after logrotate moved it; SIGHUP switches the format', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const logFile = join(dir, 'daemon.log');
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n`);
  const p = await startWithFileLog(t, cfg, logFile);
  const c = await PolicyClient.connect({ port: p.port });
  t.teardown(() => c.close());
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'BEFORE.1' })), 'DUNNO');
  await fileLines(logFile, (l) => l.includes('BEFORE.1'));
  renameSync(logFile, `${logFile}.1`); // what logrotate does (without copytruncate)
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'RENAMED.1' })), 'DUNNO');
  p.signal('SIGUSR2');
  const reopened = await fileLines(logFile, (l) => l.includes('"msg":"log reopened"'));
  t.ok(reopened.some((l) => l.includes('"msg":"log reopened"')), 'a new file at the configured path, saying it was reopened');
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'AFTER.1' })), 'DUNNO');
  const now = await fileLines(logFile, (l) => l.includes('AFTER.1'));
  const old = readFileSync(`${logFile}.1`, 'utf8');
  t.ok(old.includes('BEFORE.1'), 'the rotated file keeps the lines before the rotation');
  t.ok(now.some((l) => l.includes('AFTER.1')), 'lines after the signal go to the new file');
  t.notOk(old.includes('AFTER.1'), 'and not to the rotated one');
  t.ok(old.includes('RENAMED.1') || now.some((l) => l.includes('RENAMED.1')), 'nothing lost between rename and signal');

  // reload into text format: the next lines are logfmt, in the same file
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n  format: text\n`);
  p.signal('SIGHUP');
  await fileLines(logFile, (l) => l.includes('msg=reloaded'));
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'TEXT.1' })), 'DUNNO');
  const after = await fileLines(logFile, (l) => l.includes('instance=TEXT.1'));
  t.ok(after.some((l) => l.includes('msg=decision instance=TEXT.1')), 'after SIGHUP the decision line is logfmt');
  await p.stop();
});

t.test('SIGUSR2 on a log file that cannot be reopened: PI_LOG_REOPEN_FAILED, logging goes on', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const logFile = join(dir, 'daemon.log');
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\ndns:\n  servers: ["${dns.server}"]\nlog:\n  destination: ${logFile}\n`);
  const p = await startWithFileLog(t, cfg, logFile);
  renameSync(logFile, `${logFile}.1`);
  mkdirSync(logFile); // the path is now a directory: open(2) fails with EISDIR, also for root
  p.signal('SIGUSR2');
  const old = await fileLines(`${logFile}.1`, (l) => l.includes('PI_LOG_REOPEN_FAILED'));
  const line = old.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.code === 'PI_LOG_REOPEN_FAILED');
  t.equal(line?.level, 'error');
  const c = await PolicyClient.connect({ port: p.port });
  t.teardown(() => c.close());
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'STILL.1' })), 'DUNNO', 'the daemon keeps answering');
  const still = await fileLines(`${logFile}.1`, (l) => l.includes('STILL.1'));
  t.ok(still.some((l) => l.includes('STILL.1')), 'and logging into the file it had open');
  // the path is fixed: the next SIGUSR2 reopens it (a failed reopen left nothing behind)
  rmSync(logFile, { recursive: true });
  p.signal('SIGUSR2');
  const fresh = await fileLines(logFile, (l) => l.includes('"msg":"log reopened"'));
  t.ok(fresh.some((l) => l.includes('"msg":"log reopened"')), 'a later SIGUSR2 opens the fixed path');
  t.equal(await c.ask(rcpt({ ...ACCEPTED, instance: 'FIXED.1' })), 'DUNNO', 'and the daemon still answers');
  t.ok((await fileLines(logFile, (l) => l.includes('FIXED.1'))).some((l) => l.includes('FIXED.1')), 'into the new file');
  await p.stop();
});

t.test('the unit sets journald for a mail host, with the values docs/ops.md gives', async (t) => {
  const unit = readFileSync(join(process.cwd(), 'systemd/policyd-identity.service'), 'utf8');
  const ops = readFileSync(join(process.cwd(), 'docs/ops.md'), 'utf8');
  const setting = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)?.[1];
  t.equal(setting('SyslogFacility'), 'mail', 'lines reach mail.log where rsyslog forwards the journal');
  const interval = setting('LogRateLimitIntervalSec');
  const burst = setting('LogRateLimitBurst');
  t.equal(interval, '10s');
  t.equal(burst, '50000');
  // journald's default, 10000 per 30 s, allows ~333 lines/s: the unit's must allow well above it
  t.ok(Number(burst) / Number.parseInt(interval!, 10) >= 10 * (10000 / 30), 'at least 10x the default rate');
  t.ok(ops.includes(`\`${interval}\`, \`${burst}\``), 'docs/ops.md gives the same values');
  t.match(ops, /postrotate\n\s+systemctl kill --kill-whom=main -s USR2 policyd-identity\.service/, 'the logrotate snippet sends SIGUSR2');
});

t.test('closeLogger (a reload replaced the logger): pending lines written, the file closed, later lines dropped and counted, never written to the old fd number', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-logclose-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'old.log');
  const fdsOn = (path: string): number => {
    let n = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
      } catch {
        /* gone meanwhile */
      }
    }
    return n;
  };
  const log = createLogger({ level: 'info', destination: file });
  log.info('before the close');
  t.equal(fdsOn(file), 1, 'the logger holds its file open');
  closeLogger(log);
  t.equal(fdsOn(file), 0, 'closed: the descriptor is given back');
  t.match(readFileSync(file, 'utf8'), /before the close/, 'the pending (batched) line was written first');
  // the descriptor number is free now; a file opened next may get it
  const other = join(dir, 'other.txt');
  const fd = openSync(other, 'a');
  t.teardown(() => closeSync(fd));
  const before = droppedLines(log);
  for (let i = 0; i < 100; i++) log.info({ i }, 'after the close');
  log.warn('a warning after the close'); // warnings are written at once
  flushNow(log);
  t.equal(readFileSync(other, 'utf8'), '', 'nothing written to whatever took the old descriptor number');
  t.notMatch(readFileSync(file, 'utf8'), /after the close/, 'nothing more in the old file');
  t.equal(droppedLines(log) - before, 101, 'the 101 later lines counted as dropped');
  closeLogger(log); // twice: nothing happens
  t.pass('a second close does not throw');
});
