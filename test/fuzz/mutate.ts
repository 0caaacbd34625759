/**
 * mutate — request streams for the fuzz tests: real Postfix request blocks
 * (the captured fixtures, and RCPT requests carrying the test identities),
 * concatenated and then damaged by seeded mutations: byte flips, inserted
 * NUL/CR/LF, duplicated, dropped or swapped lines, huge values, 64 KiB lines,
 * 10,000 attributes, invalid UTF-8, CR/LF smuggling attempts in values that
 * end up in reply texts, a wrong request type, truncation, splices.
 *
 * Streams are latin1 strings (one char = one byte), exactly what the parser
 * sees after the socket's latin1 decoding; `Buffer.from(s, 'latin1')` gives
 * the bytes to send.
 *
 * What can go wrong: nothing throws; every mutation is bounded in size
 * (at most ~200 KB added per mutation).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, fixture } from '../helpers/policy-client.js';
import type { Prng } from './prng.js';
import { IDENTITIES, identityRequest } from './identities.js';

/** Every top-level fixture: one request block each. */
export function fixtureBlocks(): string[] {
  let names: string[];
  try {
    names = readdirSync(FIXTURES).filter((n) => n.endsWith('.txt'));
  } catch {
    names = ['connect.txt', 'ehlo.txt', 'mail.txt', 'rcpt.txt', 'data.txt', 'end-of-message.txt', 'vrfy.txt', 'etrn.txt'];
  }
  return names.sort().map((n) => fixture(n));
}

/** The multi-request session captures, split into their blocks. */
export function sessionBlocks(): string[] {
  const out: string[] = [];
  for (const n of ['session-plain.txt', 'session-xclient.txt', 'session-delayed.txt']) {
    let s: string;
    try {
      s = fixture(join('sessions', n));
    } catch {
      continue;
    }
    for (const b of s.split(/(?<=\n\n)/)) if (b.startsWith('request=')) out.push(b);
  }
  return out;
}

/** Values that try to break out of the reply line (they reach `action=` texts through {helo_name} etc.). */
export const SMUGGLE_VALUES: readonly string[] = [
  'evil.example\raction=OK',
  'evil.example\r\raction=OK\r',
  'x\x0baction=OK\x0c',
  '\x1b[31mred.example\x1b[0m',
  'a\x85action=OK', // NEL as a latin1 byte
  'a\xc2\x85action=OK', // NEL in UTF-8
  'a\xe2\x80\xa8action=OK\xe2\x80\xa9', // U+2028 / U+2029 in UTF-8
  'bad_name\x7f.example',
  '\xff\xfe\xfd.example', // invalid UTF-8
  '\xc0\xaf\xed\xa0\x80.example', // overlong "/" and a UTF-16 surrogate in UTF-8
  'b\xc3\xbccher.example', // valid UTF-8 (IDN), must still reach Postfix as ASCII
  '{client_address}{helo_name}{sender_domain}{ptr}{score}',
  'x'.repeat(600), // longer than an SMTP reply line may be
  'action=OK',
  '',
];

const SMUGGLE_TARGETS = ['helo_name', 'sender', 'client_name', 'reverse_client_name', 'client_address', 'recipient', 'sasl_username', 'protocol_state', 'instance'];

const SPECIAL_BYTES = ['\0', '\r', '\n', '\r\n', '\n\n', '=', '\x85', '\xff', '\xe2\x80\xa8', '\xc0', '\r\n\r\n', '\0\n'];

function lines(s: string): string[] {
  return s.split('\n');
}

function replaceValue(stream: string, rng: Prng, value: string, names?: readonly string[]): string {
  const ls = lines(stream);
  const candidates: number[] = [];
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    const eq = l.indexOf('=');
    if (eq > 0 && (names === undefined || names.includes(l.slice(0, eq)))) candidates.push(i);
  }
  if (candidates.length === 0) return stream;
  const i = rng.pick(candidates);
  const l = ls[i]!;
  ls[i] = l.slice(0, l.indexOf('=') + 1) + value;
  return ls.join('\n');
}

function randomBytes(rng: Prng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.int(256));
  return s;
}

export type MutationName =
  | 'flip' | 'insert-special' | 'duplicate-line' | 'drop-line' | 'swap-lines' | 'huge-value' | 'line-64k'
  | 'attrs-10k' | 'invalid-utf8' | 'smuggle' | 'bad-request-type' | 'truncate' | 'random-bytes'
  | 'unknown-state' | 'crlf' | 'blank-lines' | 'no-name' | 'splice';

/** Weighted: mostly small damage, sometimes the hostile extremes. */
const WEIGHTS: Array<[MutationName, number]> = [
  ['flip', 10], ['insert-special', 10], ['duplicate-line', 6], ['drop-line', 6], ['swap-lines', 4],
  ['huge-value', 3], ['line-64k', 1], ['attrs-10k', 1], ['invalid-utf8', 5], ['smuggle', 10],
  ['bad-request-type', 2], ['truncate', 3], ['random-bytes', 2], ['unknown-state', 3], ['crlf', 3],
  ['blank-lines', 4], ['no-name', 2], ['splice', 3],
];
const TOTAL = WEIGHTS.reduce((a, [, w]) => a + w, 0);

export function pickMutation(rng: Prng): MutationName {
  let r = rng.int(TOTAL);
  for (const [name, w] of WEIGHTS) {
    if (r < w) return name;
    r -= w;
  }
  return 'flip';
}

/** Apply one mutation. `other` is material for splices. */
export function mutate(stream: string, rng: Prng, m: MutationName, other: string): string {
  const at = () => rng.int(stream.length + 1);
  switch (m) {
    case 'flip': {
      if (stream.length === 0) return stream;
      const p = rng.int(stream.length);
      return stream.slice(0, p) + String.fromCharCode(rng.int(256)) + stream.slice(p + 1);
    }
    case 'insert-special': {
      const p = at();
      return stream.slice(0, p) + rng.pick(SPECIAL_BYTES) + stream.slice(p);
    }
    case 'duplicate-line': {
      const ls = lines(stream);
      const i = rng.int(ls.length);
      ls.splice(rng.int(ls.length + 1), 0, ls[i]!);
      return ls.join('\n');
    }
    case 'drop-line': {
      const ls = lines(stream);
      ls.splice(rng.int(ls.length), 1);
      return ls.join('\n');
    }
    case 'swap-lines': {
      const ls = lines(stream);
      const i = rng.int(ls.length);
      const j = rng.int(ls.length);
      [ls[i], ls[j]] = [ls[j]!, ls[i]!];
      return ls.join('\n');
    }
    case 'huge-value': {
      const len = rng.pick([255, 1000, 4095, 8180, 8191, 8192, 8193, 20_000, 65_536, 70_000]);
      return replaceValue(stream, rng, rng.pick(['x', 'a.', '\xff', '=']).repeat(len).slice(0, len), undefined);
    }
    case 'line-64k': {
      const p = stream.lastIndexOf('\n', at());
      const line = `helo_name=${'h'.repeat(65_536 - 10)}\n`;
      return stream.slice(0, p + 1) + line + stream.slice(p + 1);
    }
    case 'attrs-10k': {
      const p = stream.indexOf('\n') + 1;
      let attrs = '';
      for (let i = 0; i < 10_000; i++) attrs += `x_attr_${i}=${i}\n`;
      return stream.slice(0, p) + attrs + stream.slice(p);
    }
    case 'invalid-utf8':
      return replaceValue(stream, rng, rng.pick(['\xff', '\xc3', '\xe2\x82', '\xf0\x9f\x98', '\xed\xa0\x80', '\xc0\xaf']) + randomBytes(rng, rng.int(4)), undefined);
    case 'smuggle':
      return replaceValue(stream, rng, rng.pick(SMUGGLE_VALUES), SMUGGLE_TARGETS);
    case 'bad-request-type':
      return stream.replace('request=smtpd_access_policy', rng.pick(['request=smtpd_access_polic', 'request=', 'request=SMTPD_ACCESS_POLICY', 'Request=smtpd_access_policy']));
    case 'truncate':
      return stream.slice(0, at());
    case 'random-bytes': {
      const p = at();
      return stream.slice(0, p) + randomBytes(rng, rng.range(1, 64)) + stream.slice(p);
    }
    case 'unknown-state':
      return replaceValue(stream, rng, rng.pick(['BDAT', 'rcpt', 'RCPT ', '', 'END-OF-DATA', 'QUIT']), ['protocol_state']);
    case 'crlf':
      return stream.replace(/\n/g, '\r\n');
    case 'blank-lines': {
      // stray blank lines between requests are legal and ignored
      const ls = stream.split('\n\n');
      const i = rng.int(ls.length);
      ls[i] = ls[i] + rng.pick(['\n', '\r\n', '\n\n', '\n\r\n']);
      return ls.join('\n\n');
    }
    case 'no-name': {
      const p = stream.lastIndexOf('\n', at());
      return stream.slice(0, p + 1) + rng.pick(['=value\n', 'no equals\n', ' =x\n']) + stream.slice(p + 1);
    }
    case 'splice': {
      const a = at();
      const b = rng.int(other.length + 1);
      return stream.slice(0, a) + other.slice(b, b + rng.int(2000));
    }
  }
}

export interface Generated {
  stream: string;
  mutations: MutationName[];
}

/** A template pool: fixtures, session blocks and identity requests (unique instances per call). */
export class StreamSource {
  readonly fixtures = fixtureBlocks();
  readonly sessions = sessionBlocks();

  block(rng: Prng, tag: string): string {
    const r = rng.int(10);
    if (r < 5) {
      const id = rng.pick(IDENTITIES);
      return identityRequest(id, `${tag}.${id.name}`, `r${rng.int(100)}@example.com`);
    }
    if (r < 8 || this.sessions.length === 0) return rng.pick(this.fixtures);
    return rng.pick(this.sessions);
  }

  /** 1..maxBlocks blocks, then 0..maxMutations mutations */
  generate(rng: Prng, opts: { maxBlocks: number; maxMutations: number; tag: string; mutateP?: number }): Generated {
    const n = rng.range(1, opts.maxBlocks);
    let stream = '';
    for (let i = 0; i < n; i++) stream += this.block(rng, `${opts.tag}.${i}`);
    const mutations: MutationName[] = [];
    if (rng.chance(opts.mutateP ?? 0.85)) {
      const k = rng.range(1, opts.maxMutations);
      for (let i = 0; i < k; i++) {
        const m = pickMutation(rng);
        mutations.push(m);
        stream = mutate(stream, rng, m, this.block(rng, `${opts.tag}.s${i}`));
      }
    }
    return { stream, mutations };
  }
}

/** Cut a stream into chunks: whole, byte by byte (short streams), fixed or random sizes. */
export function split(stream: string, rng: Prng): string[] {
  const kind = rng.int(stream.length <= 4096 ? 5 : 4);
  if (stream.length === 0) return [];
  switch (kind) {
    case 0:
      return [stream];
    case 1: {
      const size = rng.pick([1, 2, 3, 7, 64, 1000, 4096, 65_536]);
      const out: string[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(stream.slice(i, i + size));
      return out;
    }
    case 2:
    case 3: {
      const cuts = new Set<number>();
      const k = rng.range(1, Math.min(50, stream.length));
      for (let i = 0; i < k; i++) cuts.add(rng.range(1, stream.length - 1));
      const sorted = [...cuts].filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b);
      const out: string[] = [];
      let prev = 0;
      for (const c of sorted) {
        out.push(stream.slice(prev, c));
        prev = c;
      }
      out.push(stream.slice(prev));
      return out;
    }
    default:
      return stream.split('');
  }
}
