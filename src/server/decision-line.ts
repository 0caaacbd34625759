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
 * What can go wrong: nothing throws; a field whose value is undefined is left
 * out, as pino leaves it out; a score that is not finite is written null, as
 * pino writes it.
 */
import type { PolicyRequest } from '../protocol/request.js';
import type { Decision } from '../engine/types.js';
import { actionText } from '../protocol/action.js';
import { cutLogValue, escapeLogValue, MAX_LOGGED_CHARS, MAX_OTHER_CHARS } from '../log/escape.js';

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
