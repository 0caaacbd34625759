/**
 * decision-line — the one `info` line per answered request (docs/server.md
 * "Logging"): instance, protocol_state, client_address, client_name,
 * helo_name, sender, recipient, action, fired (absent when none), found (the
 * findings that were fail or tempfail, absent when none), note, would (dry
 * run), score, us — in that order, after level and time, before msg.
 *
 * `decisionFields` is the object pino logs; `decisionLine` writes the very
 * same JSON line by hand, for a logger made by log/logger.ts createLogger
 * (lineWriter). Why by hand: it is written for every request, and pino's
 * generic path (the escape formatter over a fresh object, then a key loop
 * with a type switch per field) cost ~2 µs of the warm path's ~15 µs
 * (bench/hotpath.mjs --cpu-prof). The hand-built line takes one regex test
 * per string for the common value that needs no escaping and otherwise does
 * exactly what pino does: the value cut and escaped by log/escape.ts
 * (request attributes to MAX_LOGGED_CHARS, other strings to MAX_OTHER_CHARS),
 * then JSON-quoted. test/log.test.ts holds the two paths byte-equal.
 *
 * For a logger made by createLogger in the json format, writeDecisionLine
 * encodes the line straight into the log's Buffer (encodeDecisionLine, log/
 * sink.ts) when every value is plain printable ASCII within its cut, and
 * writes decisionLine's string otherwise: the same bytes either way
 * (test/log.test.ts compares the two over 3,000 hostile decisions).
 *
 * What can go wrong: nothing throws; a field whose value is undefined is left
 * out, as pino leaves it out; a score that is not finite is written null, as
 * pino writes it. A line the log destination has no room for (log/sink.ts) is
 * dropped and counted, not written late.
 */
import type { PolicyRequest } from '../protocol/request.js';
import type { Decision } from '../engine/types.js';
import { actionText } from '../protocol/action.js';
import { cutLogValue, escapeLogValue, MAX_LOGGED_CHARS, MAX_OTHER_CHARS } from '../log/escape.js';
import type { LineWriter } from '../log/logger.js';
import { asciiBytes, type LogSink } from '../log/sink.js';

/**
 * "id=result ..." of the findings that fired or could not be decided (fail,
 * tempfail); undefined when every check passed or skipped, so an accepted
 * request's line carries no list (the info line's size bound).
 */
export function notPassed(d: Decision): string | undefined {
  let out: string | undefined;
  const all = d.findings;
  // an indexed loop: for-of left an iterator result per finding in the warm path's allocation profile
  for (let i = 0; i < all.length; i++) {
    const f = all[i]!;
    if (f.result !== 'fail' && f.result !== 'tempfail') continue;
    out = out === undefined ? `${f.check}=${f.result}` : `${out} ${f.check}=${f.result}`;
  }
  return out;
}

/** The fields of the decision line, for pino (`log.info(fields, 'decision')`). */
export function decisionFields(req: PolicyRequest, d: Decision, action: string, micros: number): Record<string, unknown> {
  return {
    instance: req.instance,
    protocol_state: req.protocol_state,
    client_address: req.client_address,
    client_name: req.client_name,
    helo_name: req.helo_name,
    sender: req.sender,
    recipient: req.recipient,
    action,
    fired: d.fired.length > 0 ? d.fired : undefined,
    found: notPassed(d),
    note: d.note,
    would: d.wouldBe === undefined ? undefined : actionText(d.wouldBe, { allowOk: true }),
    score: d.score,
    us: Math.round(micros),
  };
}

// what makes a string need more than two quotes around it: JSON's own escapes
// (", \, C0) and what log/escape.ts escapes (its UNSAFE set)
const NEEDS_WORK = /["\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * One string value as pino writes it after the escape formatter (escape) or
 * the cut formatter (log.format text), without its two quotes (the line's
 * template has them). Why without: the common value needs no work and is
 * returned as it is, where `"${v}"` made a new string per field, ~9 per line
 * (issue 11 §4, allocation of the warm path).
 */
function str(v: string, max: number, escape: boolean): string {
  if (v.length <= max && !NEEDS_WORK.test(v)) return v;
  const quoted = JSON.stringify(escape ? escapeLogValue(v, max) : cutLogValue(v, max));
  return quoted.slice(1, quoted.length - 1);
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * The decision line, byte for byte what pino writes for decisionFields (level
 * info, epoch-ms time, no base); `escape` false for log.format text, whose
 * formatter only cuts (log/logger.ts LineWriter.escape).
 */
export function decisionLine(req: PolicyRequest, d: Decision, action: string, micros: number, time: number, escape: boolean): string {
  const R = MAX_LOGGED_CHARS;
  const O = MAX_OTHER_CHARS;
  const e = escape;
  let s = `{"level":"info","time":${time},"instance":"${str(req.instance, R, e)}","protocol_state":"${str(req.protocol_state, R, e)}"`
    + `,"client_address":"${str(req.client_address, R, e)}","client_name":"${str(req.client_name, R, e)}","helo_name":"${str(req.helo_name, R, e)}"`
    + `,"sender":"${str(req.sender, R, e)}","recipient":"${str(req.recipient, R, e)}","action":"${str(action, O, e)}"`;
  const fired = d.fired;
  if (fired.length > 0) {
    s += `,"fired":["${str(fired[0]!, O, e)}"`;
    for (let i = 1; i < fired.length; i++) s += `,"${str(fired[i]!, O, e)}"`;
    s += ']';
  }
  const found = notPassed(d);
  if (found !== undefined) s += `,"found":"${str(found, O, e)}"`;
  if (d.note !== undefined) s += `,"note":"${str(d.note, O, e)}"`;
  if (d.wouldBe !== undefined) s += `,"would":"${str(actionText(d.wouldBe, { allowOk: true }), O, e)}"`;
  if (d.score !== undefined) s += `,"score":${num(d.score)}`;
  return `${s},"us":${num(Math.round(micros))},"msg":"decision"}\n`;
}

// the line's keys and punctuation as bytes, made once (LogSink.bytes says why)
const LINE_START = asciiBytes('{"level":"info","time":');
const INSTANCE = asciiBytes(',"instance":"');
const PROTOCOL_STATE = asciiBytes('","protocol_state":"');
const CLIENT_ADDRESS = asciiBytes('","client_address":"');
const CLIENT_NAME = asciiBytes('","client_name":"');
const HELO_NAME = asciiBytes('","helo_name":"');
const SENDER = asciiBytes('","sender":"');
const RECIPIENT = asciiBytes('","recipient":"');
const ACTION = asciiBytes('","action":"');
const QUOTE = asciiBytes('"');
const FIRED = asciiBytes(',"fired":["');
const NEXT_ITEM = asciiBytes('","');
const FIRED_END = asciiBytes('"]');
const FOUND = asciiBytes(',"found":"');
const SPACE = asciiBytes(' ');
const NOTE = asciiBytes(',"note":"');
const WOULD = asciiBytes(',"would":"');
const SCORE = asciiBytes(',"score":');
const US = asciiBytes(',"us":');
const LINE_END = asciiBytes(',"msg":"decision"}\n');
const FAIL = asciiBytes('=fail');
const TEMPFAIL = asciiBytes('=tempfail');

/**
 * The decision line written straight into the log's Buffer (log/sink.ts),
 * field by field: the same bytes as decisionLine's string, without building
 * it. Why: the string (~25 concatenations), its append to the batch and the
 * batch's flatten and UTF-8 copy at write time cost more than copying the
 * characters once (bench/hotpath.mjs: docs/bench.md "Log lines into a Buffer").
 * false when a value needs escaping or a cut (the sink then holds nothing of
 * the line): the caller writes decisionLine's string instead.
 */
export function encodeDecisionLine(sink: LogSink, req: PolicyRequest, d: Decision, action: string, micros: number, time: number): boolean {
  const R = MAX_LOGGED_CHARS;
  const O = MAX_OTHER_CHARS;
  sink.bytes(LINE_START);
  sink.num(time);
  sink.bytes(INSTANCE);
  if (!sink.plain(req.instance, R)) return false;
  sink.bytes(PROTOCOL_STATE);
  if (!sink.plain(req.protocol_state, R)) return false;
  sink.bytes(CLIENT_ADDRESS);
  if (!sink.plain(req.client_address, R)) return false;
  sink.bytes(CLIENT_NAME);
  if (!sink.plain(req.client_name, R)) return false;
  sink.bytes(HELO_NAME);
  if (!sink.plain(req.helo_name, R)) return false;
  sink.bytes(SENDER);
  if (!sink.plain(req.sender, R)) return false;
  sink.bytes(RECIPIENT);
  if (!sink.plain(req.recipient, R)) return false;
  sink.bytes(ACTION);
  if (!sink.plain(action, O)) return false;
  sink.bytes(QUOTE);
  const fired = d.fired;
  if (fired.length > 0) {
    sink.bytes(FIRED);
    if (!sink.plain(fired[0]!, O)) return false;
    for (let i = 1; i < fired.length; i++) {
      sink.bytes(NEXT_ITEM);
      if (!sink.plain(fired[i]!, O)) return false;
    }
    sink.bytes(FIRED_END);
  }
  // found: notPassed's "id=result ..." written piece by piece; its cut applies to the whole value
  const all = d.findings;
  let from = -1;
  for (let i = 0; i < all.length; i++) {
    const f = all[i]!;
    if (f.result !== 'fail' && f.result !== 'tempfail') continue;
    if (from < 0) {
      sink.bytes(FOUND);
      from = sink.mark();
    } else sink.bytes(SPACE);
    if (!sink.plain(f.check, O)) return false;
    sink.bytes(f.result === 'fail' ? FAIL : TEMPFAIL);
    if (sink.mark() - from > O) return false; // longer than its cut: the string path cuts it
  }
  if (from >= 0) sink.bytes(QUOTE);
  if (d.note !== undefined) {
    sink.bytes(NOTE);
    if (!sink.plain(d.note, O)) return false;
    sink.bytes(QUOTE);
  }
  if (d.wouldBe !== undefined) {
    sink.bytes(WOULD);
    if (!sink.plain(actionText(d.wouldBe, { allowOk: true }), O)) return false;
    sink.bytes(QUOTE);
  }
  if (d.score !== undefined) {
    sink.bytes(SCORE);
    sink.num(d.score);
  }
  sink.bytes(US);
  sink.num(Math.round(micros));
  sink.bytes(LINE_END);
  return true;
}

/**
 * Write the decision line to a logger's LineWriter: encoded into its Buffer
 * when the format is json and every value is plain, else as decisionLine's
 * string (escaped values, the text format).
 */
export function writeDecisionLine(raw: LineWriter, req: PolicyRequest, d: Decision, action: string, micros: number, time: number): void {
  const sink = raw.sink;
  if (sink !== null) {
    if (!sink.begin()) return; // destination full: dropped and counted
    if (encodeDecisionLine(sink, req, d, action, micros, time)) {
      sink.end();
      return;
    }
    sink.abort();
  }
  raw.write(decisionLine(req, d, action, micros, time, raw.escape));
}
