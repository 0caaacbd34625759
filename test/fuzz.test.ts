// Fuzz: seeded random and mutated request streams (from the real Postfix
// fixtures) thrown at the streaming parser, at a live daemon, and mutated
// configs at the YAML loader; hostile clients at a live daemon (random bytes,
// never reading, resets mid-request, bursts of connections; a well-behaved
// client must get its exact answer after each); random hostile DNS answers (the attacker's zones:
// floods, odd names, failures, delays) at the resolver, the checks and the engine. Bounded by time: FUZZ_SECONDS (default 60) for
// the whole file; FUZZ_SEED replays a run's sequence of cases, FUZZ_CASE one case
// (both printed on failure). Helpers: test/fuzz/*.
import t, { type Test } from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PolicyParser, DEFAULT_PARSER_LIMITS, type ParserLimits } from '../src/protocol/parser.js';
import type { Attrs } from '../src/protocol/request.js';
import { loadConfigText, formatConfigError } from '../src/config/load.js';
import { ErrorCodes } from '../src/errors.js';
import { createRuntime } from '../src/runtime.js';
import { memoryLogger } from './helpers/log.js';
import { Prng, seedFromEnv, hex } from './fuzz/prng.js';
import { oracleParse } from './fuzz/oracle.js';
import { StreamSource, split, mutate, SMUGGLE_VALUES, type MutationName } from './fuzz/mutate.js';
import { IDENTITIES, identityConfig, identityRequest, setAttrs } from './fuzz/identities.js';
import { startRig } from './fuzz/rig.js';
import { converse, parseReplies } from './fuzz/wire.js';
import { startHostileDns, type CustomAnswer } from './helpers/hostile-dns.js';
import { MAX_RECORDS } from '../src/dns/resolver.js';
import { MAX_REASON } from '../src/checks/lib/format.js';
import { actionText } from '../src/protocol/action.js';
import { toPolicyRequest } from '../src/protocol/request.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);
const SEED = seedFromEnv('FUZZ_SEED');
const ONE_CASE = process.env.FUZZ_CASE ? seedFromEnv('FUZZ_CASE') : null;
/** share of the time budget per part */
const BUDGET = { parser: 0.2, daemon: 0.4, clients: 0.1, config: 0.15, dns: 0.15 };
/** stop a part after this many failed cases (each is printed with its seed) */
const MAX_FAILURES = 5;
/**
 * A blow-up / leak detector, not the 150 MB target (test/load.test.ts measures that): the daemon
 * idles at ~75 MB and the fuzz feeds it 64 KiB lines and 10,000-attribute requests.
 */
const PEAK_RSS_LIMIT_MB = 200;

const master = new Prng(SEED);
const source = new StreamSource();
t.comment(`fuzz seed ${hex(SEED)} (replay the run: FUZZ_SEED=${hex(SEED)}), budget ${SECONDS}s`);

/** A fresh generator per case, or the one case asked for; never more than one case when replaying. */
function* cases(budgetMs: number): Generator<Prng> {
  if (ONE_CASE !== null) {
    yield new Prng(ONE_CASE);
    return;
  }
  const end = Date.now() + budgetMs;
  while (Date.now() < end) yield master.fork();
}

function describe(rng: Prng, mutations: readonly MutationName[], extra = ''): string {
  return `case FUZZ_CASE=${hex(rng.seed)} (run FUZZ_SEED=${hex(SEED)}) mutations=[${mutations.join(',')}]${extra ? ` ${extra}` : ''}`;
}

function randomLimits(rng: Prng): ParserLimits {
  if (rng.chance(0.5)) return DEFAULT_PARSER_LIMITS;
  return {
    maxLineLength: rng.pick([256, 1024, 8192, 70_000, 1 << 20]),
    maxAttributes: rng.pick([8, 30, 256, 10_000, 10_040, 100_000]),
    maxRequestSize: rng.pick([1024, 4096, 65_536, 200_000, 1 << 20, 16 << 20]),
  };
}

interface ParserRun {
  requests: Attrs[];
  error: boolean;
  threw: string | null;
  /** the largest internal buffer seen after a feed */
  maxBuffered: number;
}

function runParser(chunks: readonly string[], limits: ParserLimits, busy?: (i: number) => boolean): ParserRun {
  const p = new PolicyParser(limits);
  const requests: Attrs[] = [];
  let error = false;
  let maxBuffered = 0;
  // one request at a time, as a Session drives it (busy given): a chunk that arrives while a
  // request is "being decided" is only held (max 0); otherwise at most one request comes
  // out per call and the held rest is parsed one request at a time after it
  const pending: Attrs[] = [];
  let heldIn = 0;
  const drain = (): boolean => {
    while (pending.length > 0) {
      requests.push(pending.shift()!);
      if (p.feed('', pending, 1) !== null) return false;
    }
    return true;
  };
  try {
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (busy === undefined) {
        if (p.feed(c, requests) !== null) {
          error = true;
          break;
        }
      } else {
        const hold = busy(i);
        const ok = p.feed(c, pending, hold ? 0 : 1) === null && (hold || drain());
        if (!ok) {
          drain(); // requests complete before the error are still answered
          error = true;
          break;
        }
        // held: what arrived while "busy" (a real transport stops reading then; the
        // Session cuts at MAX_HELD_BYTES) plus at most one request's worth before it
        heldIn = hold ? heldIn + c.length : 0;
        if (p.held > heldIn + c.length + limits.maxRequestSize + limits.maxLineLength + 2) {
          return { requests, error, threw: `held ${p.held} bytes after ${heldIn} bytes arrived while busy`, maxBuffered };
        }
      }
      // white box: the parser's pending-bytes buffer, bounded by the limits (held bytes aside)
      if (p.held === 0) maxBuffered = Math.max(maxBuffered, (p as unknown as { buf: string }).buf.length);
    }
    if (busy !== undefined && !error) {
      // the last decision ends: everything held is parsed, one request at a time
      if (p.feed('', pending, 1) !== null || !drain()) {
        drain();
        error = true;
      }
    }
  } catch (e) {
    return { requests, error, threw: (e as Error).stack ?? String(e), maxBuffered };
  }
  return { requests, error, threw: null, maxBuffered };
}

const show = (v: unknown) => String(JSON.stringify(v)).slice(0, 600);
// Requests compared as JSON with their attributes in name order: which
// attributes and values, not in what order the record lists them (the parser
// keeps the known ones in fixed slots, protocol/request.ts RawRequest).
const sorted = (r: Record<string, string> | undefined) => (r === undefined ? r : Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
const canon = (rs: Array<Record<string, string>>) => JSON.stringify(rs.map(sorted));

/** t.fail that counts, so that a part stops after MAX_FAILURES printed cases */
function failureCounter(t: Test) {
  const c = {
    count: 0,
    fail(msg: string) {
      c.count++;
      t.fail(msg);
    },
  };
  return c;
}

t.test('parser: mutated streams in any split agree with the reference model, never throw, stay bounded', async (t) => {
  let iterations = 0;
  let feeds = 0;
  let requestsParsed = 0;
  let errorsSeen = 0;
  const failures = failureCounter(t);
  const fail = failures.fail;
  for (const rng of cases(SECONDS * 1000 * BUDGET.parser)) {
    if (failures.count >= MAX_FAILURES) break;
    iterations++;
    const limits = randomLimits(rng);
    const gen = source.generate(rng, { maxBlocks: 6, maxMutations: 4, tag: hex(rng.seed) }); // tag from the seed: FUZZ_CASE replays the same bytes
    const want = oracleParse(gen.stream, limits);
    const wantJson = canon(want.requests);
    requestsParsed += want.requests.length;
    if (want.error) errorsSeen++;
    for (let s = 0; s < 2; s++) {
      const chunks = split(gen.stream, rng);
      feeds += chunks.length;
      // split #1 is fed as a Session does (one request at a time, chunks held while "busy")
      const busyP = s === 1 ? rng.int(4) / 4 : 0;
      const got = s === 1 ? runParser(chunks, limits, () => rng.chance(busyP)) : runParser(chunks, limits);
      const where = describe(rng, gen.mutations, `limits=${show(limits)} split#${s}${s === 1 ? ' one-at-a-time' : ''} chunks=${chunks.length} bytes=${gen.stream.length}`);
      if (got.threw !== null) {
        fail(`parser threw: ${got.threw}\n${where}`);
        break;
      }
      if (got.error !== want.error) {
        fail(`parser error=${got.error}, model error=${want.error}\n${where}`);
        break;
      }
      if (canon(got.requests) !== wantJson) {
        let i = 0;
        while (i < want.requests.length && JSON.stringify(sorted(got.requests[i])) === JSON.stringify(sorted(want.requests[i]))) i++;
        fail(`parser gave ${got.requests.length} requests, model ${want.requests.length}; first difference at #${i}: ${show(sorted(got.requests[i]))} vs ${show(sorted(want.requests[i]))}\n${where}`);
        break;
      }
      if (got.maxBuffered > limits.maxLineLength + 1) {
        fail(`parser buffered ${got.maxBuffered} bytes (max_line_length ${limits.maxLineLength})\n${where}`);
        break;
      }
    }
  }
  t.comment(`parser: ${iterations} streams, ${feeds} feeds, ${requestsParsed} well-formed requests, ${errorsSeen} streams with a protocol error`);
  t.equal(failures.count, 0, 'every case agreed with the model');
  t.ok(iterations > 0, 'at least one case ran');
});

t.test('parser: the hostile extremes, one by one', async (t) => {
  const rcpt = identityRequest(IDENTITIES[0]!, 'x');
  const big: ParserLimits = { maxLineLength: 70_000, maxAttributes: 10_100, maxRequestSize: 1 << 20 };
  let tenK = '';
  for (let i = 0; i < 10_000; i++) tenK += `x_attr_${i}=${i}\n`;
  const withTenK = rcpt.replace('\n', `\n${tenK}`);
  const line64k = rcpt.replace('\n', `\nhelo_name=${'h'.repeat(65_536)}\n`);
  for (const [name, stream, limits, wantError] of [
    ['10,000 attributes, default limits', withTenK, DEFAULT_PARSER_LIMITS, true],
    ['10,000 attributes, limits that allow them', withTenK, big, false],
    ['a 64 KiB line, default limits', line64k, DEFAULT_PARSER_LIMITS, true],
    ['a 64 KiB line, limits that allow it', line64k, big, false],
    ['a NUL byte', rcpt + rcpt.replace('helo_name=', 'helo_name=a\0b'), DEFAULT_PARSER_LIMITS, true],
    ['invalid UTF-8', rcpt.replace('helo_name=', 'helo_name=\xff\xc3('), DEFAULT_PARSER_LIMITS, false],
  ] as Array<[string, string, ParserLimits, boolean]>) {
    const want = oracleParse(stream, limits);
    t.equal(want.error, wantError, `${name}: model`);
    for (const size of [1, 7, 4096, stream.length]) {
      if (size === 1 && stream.length > 20_000) continue; // one byte at a time: only for short streams
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
      const got = runParser(chunks, limits);
      t.equal(got.threw, null, `${name}, ${size}-byte chunks: no throw`);
      t.equal(got.error, wantError, `${name}, ${size}-byte chunks: error`);
      t.same(got.requests, want.requests, `${name}, ${size}-byte chunks: same requests`);
      t.ok(got.maxBuffered <= limits.maxLineLength + 1, `${name}, ${size}-byte chunks: buffer bounded (${got.maxBuffered})`);
    }
  }
  const utf = runParser([rcpt.replace('helo_name=', 'helo_name=\xff\xc3(')], DEFAULT_PARSER_LIMITS);
  t.equal(utf.requests[0]?.helo_name, `\ufffd\ufffd(${IDENTITIES[0]!.helo_name}`, 'invalid UTF-8 becomes U+FFFD');
});

t.test('a live daemon: mutated streams never crash it, hang it or break a reply', async (t) => {
  const { d, port } = await startRig(t);
  const limits = DEFAULT_PARSER_LIMITS; // the config keeps the server.* defaults

  // What a pristine identity request must get; fixtures and sessions: what they got on a clean connection.
  const expected = new Map<string, string>();
  const keyOf = (a: Attrs) => {
    const { instance: _i, recipient: _r, ...rest } = a;
    return JSON.stringify(rest);
  };
  for (const id of IDENTITIES) {
    const req = oracleParse(identityRequest(id, 'baseline'), limits).requests[0]!;
    expected.set(keyOf(req), id.expect);
  }
  const baselineBlocks = [...source.fixtures, ...source.sessions];
  const baseline = await converse(port, [baselineBlocks.join('')]);
  const baseReplies = parseReplies(baseline.raw);
  t.equal(baseReplies.malformed, null, 'baseline replies well-formed');
  t.equal(baseReplies.actions.length, baselineBlocks.length, 'every fixture answered');
  baselineBlocks.forEach((b, i) => {
    const k = keyOf(oracleParse(b, limits).requests[0]!);
    if (!expected.has(k)) expected.set(k, baseReplies.actions[i]!);
  });
  // the identity answers themselves, once, before the fuzz (also warms the cache)
  const idConv = await converse(port, [IDENTITIES.map((id, i) => identityRequest(id, `warm${i}`)).join('')]);
  t.same(parseReplies(idConv.raw).actions, IDENTITIES.map((id) => id.expect), 'each identity gets its expected answer');

  let conversations = 0;
  let requestsAnswered = 0;
  let protocolErrorsExpected = 0;
  let pristineChecked = 0;
  const failures = failureCounter(t);
  const fail = failures.fail;
  const oneCase = async (rng: Prng) => {
    const gen = source.generate(rng, { maxBlocks: 6, maxMutations: 3, tag: hex(rng.seed), mutateP: 0.7 });
    const want = oracleParse(gen.stream, limits);
    const chunks = split(gen.stream, rng);
    const pauses = rng.chance(0.2);
    const conv = await converse(port, chunks, { pauseMs: () => (pauses && rng.chance(0.1) ? rng.int(4) : 0), timeoutMs: 20_000 });
    conversations++;
    const where = describe(rng, gen.mutations, `chunks=${chunks.length} bytes=${gen.stream.length}`);
    if (conv.timedOut) return fail(`no close within 20 s after the client half-closed (hang)\n${where}`);
    const r = parseReplies(conv.raw);
    if (r.malformed !== null) return fail(`malformed reply: ${r.malformed}\n${where}`);
    if (r.actions.length !== want.requests.length) {
      return fail(`${r.actions.length} replies for ${want.requests.length} well-formed requests (model error=${want.error})\n${where}`);
    }
    if (want.error) protocolErrorsExpected++;
    requestsAnswered += r.actions.length;
    for (let i = 0; i < want.requests.length; i++) {
      const exp = expected.get(keyOf(want.requests[i]!));
      if (exp === undefined) continue;
      pristineChecked++;
      if (r.actions[i] !== exp) return fail(`request ${i} answered ${JSON.stringify(r.actions[i])}, expected ${JSON.stringify(exp)}\n${where}`);
    }
  };
  const budgetMs = SECONDS * 1000 * BUDGET.daemon;
  const gen = cases(budgetMs);
  // a few conversations at a time, like a few Postfix smtpd processes
  await Promise.all(
    Array.from({ length: ONE_CASE !== null ? 1 : 6 }, async () => {
      for (;;) {
        if (failures.count >= MAX_FAILURES || !d.running) return;
        const next = gen.next();
        if (next.done) return;
        await oneCase(next.value);
      }
    }),
  );
  const peakMb = d.memory().peakMb; // VmHWM: the peak over the daemon's whole life
  t.ok(d.running, `the daemon is still running (exit ${d.exitCode} ${d.exitSignal ?? ''} ${d.stderr.slice(0, 500)})`);
  // one warn line per connection closed for a protocol error
  const protoLines = () => [...d.codes].reduce((a, [code, k]) => a + (code.startsWith('PI_PROTO_') && code !== 'PI_PROTO_UNKNOWN_STATE' ? k : 0), 0);
  await d.waitFor(() => protoLines() >= protocolErrorsExpected, 3000);
  t.equal(protoLines(), protocolErrorsExpected, 'each protocol error logged once, with its code');
  t.same(d.errors().map((l) => `${l.code} ${l.msg}`), [], 'no error-level log line (no crash in a check, no unsafe action)');
  t.ok(peakMb < PEAK_RSS_LIMIT_MB, `peak RSS ${peakMb.toFixed(1)} MB < ${PEAK_RSS_LIMIT_MB} MB`);
  t.equal(failures.count, 0, 'every conversation behaved');
  t.comment(`daemon: ${conversations} conversations, ${requestsAnswered} requests answered (${pristineChecked} with a known answer), ${protocolErrorsExpected} closed for a protocol error, peak RSS ${peakMb.toFixed(1)} MB`);
});

t.test('a live daemon: CR/LF smuggling in every value that reaches a reply text', async (t) => {
  const { d, port } = await startRig(t);
  // identities whose answer quotes a request value: helo_invalid {helo_name}, sender_domain_unknown
  // {sender_domain}, client_private {client_address}; and the good identity for every other field
  const byName = (n: string) => IDENTITIES.find((i) => i.name === n)!;
  const targets: Array<[string, string]> = [
    ['helo-invalid', 'helo_name'], ['helo-not-fqdn', 'helo_name'], ['sender-nx', 'sender'], ['private', 'client_address'],
    ['good', 'client_name'], ['good', 'reverse_client_name'], ['good', 'recipient'], ['good', 'protocol_state'], ['no-ptr', 'instance'],
  ];
  let sent = 0;
  const stream: string[] = [];
  for (const [idName, attr] of targets) {
    for (const v of SMUGGLE_VALUES) {
      const base = identityRequest(byName(idName), `smuggle${sent}`);
      stream.push(setAttrs(base, { [attr]: attr === 'sender' ? `alice@${v}` : v }));
      sent++;
    }
  }
  const conv = await converse(port, [stream.join('')]);
  const r = parseReplies(conv.raw);
  t.equal(r.malformed, null, 'every reply is exactly one printable-ASCII action= line, never OK');
  t.equal(r.actions.length, sent, `all ${sent} requests answered`);
  t.ok(r.actions.every((a) => a.length <= 512), 'every reply fits an SMTP reply line');
  t.notOk(r.actions.some((a) => /action=/i.test(a) && !/^(WARN|[45]\d\d) /.test(a)), 'no reply starts a second action');
  t.ok(d.running, 'daemon alive');
});

/** Bytes an attacker might send instead of requests: random bytes, with '=', newlines and NULs in the mix. */
function garbage(rng: Prng, n: number): string {
  let s = '';
  const printableOnly = rng.chance(0.5);
  for (let i = 0; i < n; i++) {
    const r = rng.int(100);
    if (r < 6) s += '\n';
    else if (r < 12) s += '=';
    else if (r < 13) s += '\0';
    else if (r < 14) s += '\r';
    else s += String.fromCharCode(printableOnly ? rng.range(0x20, 0x7e) : rng.int(256));
  }
  return s;
}

/** Connect, or null after 5 s / on error. */
function connectRaw(port: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { s.destroy(); resolve(null); }, 5000);
    s.once('connect', () => { clearTimeout(timer); resolve(s); });
    s.once('error', () => { clearTimeout(timer); resolve(null); });
  });
}

t.test('a live daemon: hostile clients (random bytes, never reading, resets mid-request, bursts of connections) never take it down', async (t) => {
  const { d, port } = await startRig(t);
  const limits = DEFAULT_PARSER_LIMITS;
  const failures = failureCounter(t);
  const fail = failures.fail;
  const done = { garbage: 0, unread: 0, reset: 0, burst: 0 };
  let probes = 0;
  const good = IDENTITIES.find((i) => i.name === 'good')!;
  // after every case a well-behaved client (its own connection) must still get its exact answer
  const probe = async (where: string) => {
    const c = await converse(port, [identityRequest(good, `probe${probes++}`)], { timeoutMs: 15_000 });
    const r = parseReplies(c.raw);
    if (r.malformed !== null || r.actions.length !== 1 || r.actions[0] !== good.expect) {
      fail(`after ${where}: a well-behaved client got ${show(r.actions)} ${r.malformed ?? ''} (timedOut=${c.timedOut}, error=${c.error})`);
    }
  };
  const oneCase = async (rng: Prng) => {
    const kind = rng.pick(['garbage', 'unread', 'reset', 'burst'] as const);
    const where = `case FUZZ_CASE=${hex(rng.seed)} (run FUZZ_SEED=${hex(SEED)}) ${kind}`;
    if (kind === 'garbage') {
      // random bytes, after 0-2 real requests: what comes back is exactly the model's replies, then a close
      const before = Array.from({ length: rng.int(3) }, (_, i) => identityRequest(rng.pick(IDENTITIES), `g${i}`)).join('');
      const stream = before + garbage(rng, rng.pick([16, 300, 5000, 70_000]));
      const want = oracleParse(stream, limits);
      const conv = await converse(port, split(stream, rng), { timeoutMs: 20_000 });
      const r = parseReplies(conv.raw);
      if (conv.timedOut) fail(`${where}: no close within 20 s after the client half-closed (${stream.length} bytes)`);
      else if (r.malformed !== null) fail(`${where}: malformed reply: ${r.malformed}`);
      else if (r.actions.length !== want.requests.length) fail(`${where}: ${r.actions.length} replies for the model's ${want.requests.length} requests (error=${want.error})`);
    } else if (kind === 'unread') {
      // streams requests (some 64 KB) and never reads an answer, then vanishes (FIN or RST)
      const s = await connectRaw(port);
      if (s === null) return fail(`${where}: could not connect`);
      s.on('error', () => {});
      s.pause();
      const pad = rng.chance(0.5) ? Array.from({ length: 8 }, (_, i) => `pad${i}=${'x'.repeat(7900)}`).join('\n') : '';
      const until = Date.now() + rng.range(20, 400);
      let i = 0;
      while (Date.now() < until && !s.destroyed) {
        const req = identityRequest(rng.pick(IDENTITIES), `u${i++}`);
        const ok = s.write(pad ? req.replace('\n', `\n${pad}\n`) : req);
        if (!ok) await new Promise<void>((r) => { const tm = setTimeout(r, until - Date.now()); s.once('drain', () => { clearTimeout(tm); r(); }); });
      }
      if (rng.chance(0.5)) s.resetAndDestroy();
      else s.destroy();
    } else if (kind === 'reset') {
      // complete requests, then part of one, then a reset: while a decision may be running
      const reqs = Array.from({ length: rng.range(1, 4) }, (_, k) => identityRequest(rng.pick(IDENTITIES), `r${k}`));
      const last = identityRequest(rng.pick(IDENTITIES), 'rlast');
      const stream = reqs.join('') + last.slice(0, rng.int(last.length));
      const s = await connectRaw(port);
      if (s === null) return fail(`${where}: could not connect`);
      s.on('error', () => {});
      s.write(stream);
      await new Promise((r) => setTimeout(r, rng.int(30)));
      s.resetAndDestroy();
    } else {
      // a burst of connections at once, each one real request: every one answered exactly
      const n = rng.range(20, 150);
      const ids = Array.from({ length: n }, () => rng.pick(IDENTITIES));
      const convs = await Promise.all(ids.map((id, k) => converse(port, [identityRequest(id, `b${k}`)], { timeoutMs: 20_000 })));
      for (let k = 0; k < n; k++) {
        const r = parseReplies(convs[k]!.raw);
        if (r.malformed !== null || r.actions.length !== 1 || r.actions[0] !== ids[k]!.expect) {
          fail(`${where}: connection ${k} of ${n} (${ids[k]!.name}) got ${show(r.actions)} ${r.malformed ?? ''} (timedOut=${convs[k]!.timedOut})`);
          break;
        }
      }
    }
    done[kind]++;
    await probe(where);
  };
  for (const rng of cases(SECONDS * 1000 * BUDGET.clients)) {
    if (failures.count >= MAX_FAILURES || !d.running) break;
    await oneCase(rng);
  }
  const peakMb = d.memory().peakMb;
  t.ok(d.running, `the daemon is still running (exit ${d.exitCode} ${d.exitSignal ?? ''} ${d.stderr.slice(0, 500)})`);
  t.same(d.errors().map((l) => `${l.code} ${l.msg}`), [], 'no error-level log line');
  t.ok(peakMb < PEAK_RSS_LIMIT_MB, `peak RSS ${peakMb.toFixed(1)} MB < ${PEAK_RSS_LIMIT_MB} MB`);
  t.ok(probes > 0, `${probes} well-behaved probes after the cases`);
  t.equal(failures.count, 0, 'every case behaved, and a well-behaved client was answered exactly after each');
  t.comment(`hostile clients: ${JSON.stringify(done)}, ${probes} probes, peak RSS ${peakMb.toFixed(1)} MB`);
});

t.test('config loader: mutated YAML gives a valid config or coded errors, never an exception', async (t) => {
  const here = dirname(fileURLToPath(import.meta.url));
  let shipped = '';
  for (const p of [resolve(here, '..', '..', 'etc', 'policyd-identity.yaml'), resolve(process.cwd(), 'etc', 'policyd-identity.yaml')]) {
    try {
      shipped = readFileSync(p, 'utf8');
      break;
    } catch {
      // next candidate
    }
  }
  t.ok(shipped.length > 0, 'the shipped config was found');
  const bases = [
    shipped,
    identityConfig({ dnsServer: '127.0.0.1:5353' }),
    'listen: [inet:127.0.0.1:10040]\n',
    'dns:\n  servers: ["[::1]:53", 127.0.0.1]\n  timeout: 1s\n',
    'checks:\n  helo_invalid: { action: warn }\noverrides:\n  - match: { clients: [192.0.2.0/24] }\n    checks: { rdns_missing: { action: off } }\n',
    'limits:\n  backend: memory\n  rules: []\n',
  ];
  const SCALARS = ['', '~', 'null', 'yes', 'no', 'on', '0x10', '0o17', '1e309', '-1', '0', '99999999999999999999', '[]', '{}', '"\\u0000"', "'a\nb'",
    '1s', '5m', '10ms', '-5s', 'inet:[::1]:0', 'inet:127.0.0.1:99999', 'unix:/tmp/x', 'unix:', '10.0.0.0/33', '::/129', "'", '"', '*', '&', '!', '|', '>',
    '*undefined_alias', '!!binary aGVsbG8=', '!!js/function "x"', '!!timestamp 2001-12-14', '.inf', '.nan', '<<', '? x', '@', '`', '%'];
  const YAML_TOKENS = ['&a ', '*a', '<<: *a\n', '---\n', '...\n', '%YAML 1.1\n', '\t', '  ', '- ', ': ', '? ', '{', '}', '[', ']', '#', '!!str ', '!!map ', '|\n', '>-\n', '\ufeff', '\r'];
  const textMutations: MutationName[] = ['flip', 'insert-special', 'duplicate-line', 'drop-line', 'swap-lines', 'truncate', 'random-bytes', 'crlf', 'invalid-utf8'];
  let iterations = 0;
  let valid = 0;
  let invalid = 0;
  let runtimes = 0;
  let slowestMs = 0;
  const codes = new Map<string, number>();
  const { log } = memoryLogger('silent');
  const failures = failureCounter(t);
  const fail = failures.fail;
  /** set a random path of a parsed document to a random value */
  const structural = (rng: Prng, text: string): string => {
    let data: unknown;
    try {
      data = parseYaml(text, { logLevel: 'silent' }); // no process warnings for the unresolved tags the fuzz adds
    } catch {
      return text;
    }
    if (data === null || typeof data !== 'object') return text;
    let node = data as Record<string, unknown>;
    for (let depth = 0; depth < 4; depth++) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const k = rng.pick(keys);
      const child = node[k];
      // descend only into plain mappings and sequences: a !!binary scalar parses to a
      // Uint8Array, whose indexes cannot be deleted (the harness threw, not the loader)
      const plain = child !== null && typeof child === 'object' && (Array.isArray(child) || Object.getPrototypeOf(child) === Object.prototype);
      if (plain && rng.chance(0.6)) {
        node = child as Record<string, unknown>;
        continue;
      }
      const choice = rng.int(8);
      if (choice === 0) delete node[k];
      else if (choice === 1) node[`${k}_x`] = 1;
      else if (choice === 2) node[k] = [node[k], node[k]];
      else if (choice === 3) node[k] = { nested: node[k] };
      else {
        try {
          node[k] = parseYaml(rng.pick(SCALARS), { logLevel: 'silent' }) as unknown;
        } catch {
          node[k] = rng.pick(SCALARS); // not YAML on its own: the raw string
        }
      }
      break;
    }
    return stringifyYaml(data);
  };
  for (const rng of cases(SECONDS * 1000 * BUDGET.config)) {
    if (failures.count >= MAX_FAILURES) break;
    iterations++;
    const baseIndex = rng.int(bases.length);
    let text = bases[baseIndex]!;
    const applied: MutationName[] = [];
    const k = rng.range(1, 4);
    for (let i = 0; i < k; i++) {
      const r = rng.int(4);
      if (r === 0) {
        text = structural(rng, text);
      } else if (r === 1) {
        // replace a scalar after a ": " with a hostile one
        const ls = text.split('\n');
        const idx = ls.map((l, j) => (/:\s+\S/.test(l) && !l.trimStart().startsWith('#') ? j : -1)).filter((j) => j >= 0);
        if (idx.length > 0) {
          const j = rng.pick(idx);
          ls[j] = ls[j]!.replace(/:\s+.*$/, `: ${rng.pick(SCALARS)}`);
          text = ls.join('\n');
        }
      } else if (r === 2) {
        const p = rng.int(text.length + 1);
        text = text.slice(0, p) + rng.pick(YAML_TOKENS) + text.slice(p);
      } else {
        const m = rng.pick(textMutations);
        applied.push(m);
        text = mutate(text, rng, m, rng.pick(bases));
      }
    }
    const where = describe(rng, applied, `base#${baseIndex}`);
    const t0 = performance.now();
    let result: ReturnType<typeof loadConfigText>;
    try {
      result = loadConfigText(text, 'fuzz.yaml');
    } catch (e) {
      fail(`loadConfigText threw: ${(e as Error).stack}\n${where}\n--- text ---\n${text.slice(0, 2000)}`);
      continue;
    }
    slowestMs = Math.max(slowestMs, performance.now() - t0);
    if (result.ok) {
      valid++;
      const c = result.config;
      if (!Array.isArray(c.listen) || c.listen.length < 1 || typeof c.dns.deadline !== 'number' || typeof c.server.max_connections !== 'number') {
        fail(`ok: true but the config is incomplete: ${show(c)}\n${where}`);
        continue;
      }
      // a config the loader accepts must also build (resolver, engine, limiter) — memory backend only: no network
      if (c.limits.backend === 'memory' && rng.chance(0.25)) {
        try {
          const rt = await createRuntime(c, log);
          await rt.close();
          runtimes++;
        } catch (e) {
          fail(`valid config, but createRuntime threw: ${(e as Error).message}\n${where}\n--- text ---\n${text.slice(0, 2000)}`);
        }
      }
      continue;
    }
    invalid++;
    if (result.errors.length === 0) {
      fail(`ok: false without errors\n${where}`);
      continue;
    }
    for (const e of result.errors) {
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      const bad =
        !(e.code in ErrorCodes) || !e.code.startsWith('PI_CONFIG_') ||
        typeof e.message !== 'string' || e.message === '' ||
        !Number.isInteger(e.line) || e.line < 0 || !Number.isInteger(e.col) || e.col < 0 || e.file !== 'fuzz.yaml';
      let formatted = '';
      try {
        formatted = formatConfigError(e);
      } catch (err) {
        fail(`formatConfigError threw: ${(err as Error).message}\n${where}`);
      }
      if (bad || !formatted.includes(e.code)) {
        fail(`malformed config error ${show(e)}\n${where}`);
        break;
      }
    }
  }
  t.comment(`config: ${iterations} mutated configs, ${valid} valid (${runtimes} built into a runtime), ${invalid} refused; codes ${show(Object.fromEntries(codes))}; slowest load ${slowestMs.toFixed(1)} ms`);
  t.equal(failures.count, 0, 'every mutated config gave a config or coded errors');
  if (ONE_CASE === null) t.ok(valid > 0 && invalid > 0, 'the fuzz produced both valid and invalid configs');
});

// ---- the attacker's DNS side ----------------------------------------------------------

/** A hostile but well-formed label (at most 63 bytes on the wire). */
function fuzzLabel(rng: Prng): string {
  const kinds = [
    () => `h${rng.int(1000)}`,
    () => 'x'.repeat(1 + rng.int(63)),
    () => String(rng.int(256)),
    () => rng.pick(['-a', 'a-', '_srv', 'XN--abc', 'localhost', 'local', 'invalid']),
    () => Array.from({ length: 1 + rng.int(20) }, () => String.fromCharCode(33 + rng.int(94))).join('').replace(/[.\\]/g, 'q'),
  ];
  return rng.pick(kinds)();
}

function fuzzName(rng: Prng, base: string): string {
  const n = rng.pick([0, 1, 2, 3, 6, 40]);
  const labels = Array.from({ length: n }, () => fuzzLabel(rng));
  const name = [...labels, base].join('.');
  return name.length > 250 ? name.slice(name.length - 250).replace(/^[^.]*\./, '') : name;
}

function fuzzIp(rng: Prng, family: 4 | 6): string {
  if (family === 4) return rng.pick(['10', '127', '192', '203', '0', '255', '100', '169'].map(Number)) + `.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`;
  return rng.pick(['2001:db8', 'fe80', 'fc00', '::ffff', '2001:db8:bad', '2a00']) + `::${rng.int(65536).toString(16)}`;
}

function fuzzAnswer(rng: Prng, type: string): CustomAnswer {
  const rcode = rng.chance(0.75) ? 0 : rng.pick([2, 3, 5, 4, 1]);
  const count = rng.pick([0, 1, 1, 2, 5, 33, 200, 1500, 4000]);
  const delayMs = rng.chance(0.1) ? rng.int(80) : 0;
  const a: CustomAnswer = { rcode, delayMs };
  if (rcode !== 0) return a;
  if (type === 'A') a.A = Array.from({ length: count }, () => fuzzIp(rng, 4));
  if (type === 'AAAA') a.AAAA = Array.from({ length: Math.min(count, 1500) }, () => fuzzIp(rng, 6));
  if (type === 'MX') a.MX = Array.from({ length: Math.min(count, 1500) }, () => [rng.int(65536), rng.chance(0.05) ? '.' : fuzzName(rng, 'fz.example')]);
  if (type === 'PTR') a.PTR = Array.from({ length: Math.min(count, 1000) }, () => fuzzName(rng, rng.pick(['fz.example', 'example.net', 'x'])));
  return a;
}

t.test("the attacker's DNS: random floods, odd names, failures and delays never break a check, a reason or a bound", async (t) => {
  let current: { seed: number; answers: Map<string, CustomAnswer> } | null = null;
  const dns = await startHostileDns({
    custom: (name, type) => {
      if (current === null) return { rcode: 2 };
      const key = `${type} ${name}`;
      let a = current.answers.get(key);
      // the answer depends on the case and the question only (not on arrival order): replayable
      let h = current.seed;
      for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
      if (a === undefined) current.answers.set(key, (a = fuzzAnswer(new Prng(h), type)));
      return a;
    },
  });
  t.teardown(() => dns.stop());
  const maxBytes = 256 * 1024;
  const yaml = `dns: { servers: ["${dns.server}"], timeout: 300ms, tries: 1, deadline: 1500ms, max_inflight: 20, max_inflight_per_zone: 5, cache: { max_bytes: ${maxBytes} } }\nidentity_cache: { max_bytes: 65536 }\n`;
  const res = loadConfigText(yaml, 'fuzz-dns.yaml');
  if (!res.ok) throw new Error(res.errors.map(formatConfigError).join('\n'));
  const { log, lines } = memoryLogger();
  const rt = await createRuntime(res.config, log);
  t.teardown(() => rt.close());
  const failures = failureCounter(t);
  let decisions = 0;
  let findingsSeen = 0;
  const gen = cases(SECONDS * 1000 * BUDGET.dns);
  for (const rng of gen) {
    if (failures.count >= MAX_FAILURES) break;
    current = { seed: rng.seed, answers: new Map() };
    const family = rng.chance(0.5) ? 4 : 6;
    const attrs = {
      request: 'smtpd_access_policy', protocol_state: rng.pick(['RCPT', 'RCPT', 'MAIL', 'CONNECT', 'EHLO']),
      client_address: fuzzIp(rng, family), client_name: 'unknown',
      helo_name: rng.chance(0.1) ? '' : fuzzName(rng, rng.pick(['fz.example', 'example.net'])).replace(/./g, (c) => (rng.chance(0.3) ? c.toUpperCase() : c)),
      sender: rng.chance(0.1) ? '' : `u@${fuzzName(rng, rng.pick(['fz.example', 'example.org']))}`,
      recipient: 'b@ours.example', server_address: '198.51.100.1', instance: `fz.${hex(rng.seed)}`,
    };
    const where = `case FUZZ_CASE=${hex(rng.seed)} (run FUZZ_SEED=${hex(SEED)}) ${JSON.stringify(attrs)}`;
    try {
      const d = await rt.decider.decide(toPolicyRequest(attrs), { engine: undefined, peer: 'fuzz' });
      decisions++;
      const text = actionText(d.action);
      if (!/^[\x20-\x7e]+$/.test(text) || text.length > 600) failures.fail(`unsafe action line ${JSON.stringify(text.slice(0, 200))}\n${where}`);
      if (/^(5|REJECT)/.test(text) && d.findings.some((f) => f.result === 'tempfail' && d.fired.includes(f.check))) {
        failures.fail(`a tempfail finding fired a 5xx: ${text}\n${where}`);
      }
      for (const f of d.findings) {
        findingsSeen++;
        if (f.reason.length > MAX_REASON) failures.fail(`${f.check}: reason of ${f.reason.length} characters\n${where}`);
        if (!['pass', 'fail', 'skip', 'tempfail'].includes(f.result)) failures.fail(`${f.check}: result ${String(f.result)}\n${where}`);
      }
    } catch (e) {
      failures.fail(`decide threw: ${(e as Error).stack}\n${where}`);
    }
    if (rt.dns.cacheBytes > maxBytes) failures.fail(`DNS cache ${rt.dns.cacheBytes} bytes > ${maxBytes}\n${where}`);
    if (rt.dns.inflight > 20) failures.fail(`${rt.dns.inflight} queries in flight > max_inflight\n${where}`);
  }
  current = null;
  // every answer the resolver kept is within MAX_RECORDS (read back through the cache)
  const probe = rt.dns.scoped(Date.now() + 1000);
  const flood = await probe.a('flood-check.fz.example'); // answered by the server with current=null: SERVFAIL
  t.equal(flood.status, 'tempfail');
  for (let i = 0; i < 50 && (rt.dns.inflight > 0 || rt.dns.zonesActive > 0); i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(rt.dns.inflight, 0, 'every query ended');
  t.equal(rt.dns.zonesActive, 0, 'no zone left holding a share');
  t.equal(rt.dns.stats.truncatedAnswers > 0 || decisions < 20, true, 'floods were seen and cut (or the budget was tiny)');
  t.same(lines.filter((l) => l.level === 'error').map((l) => `${String(l.code)} ${String(l.msg)}`), [], 'no error-level line (no check crashed)');
  t.equal(failures.count, 0, 'every case held every bound');
  t.ok(MAX_RECORDS === 32);
  t.comment(`dns: ${decisions} decisions, ${findingsSeen} findings, ${rt.dns.stats.queries} queries, ${rt.dns.stats.truncatedAnswers} answers cut to ${MAX_RECORDS}, cache ${rt.dns.cacheBytes} bytes`);
});
