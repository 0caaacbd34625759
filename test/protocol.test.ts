// Protocol core: the streaming parser (every split of real Postfix streams,
// limits, malformed input), the typed request, and the safe action encoder.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { PolicyParser, DEFAULT_PARSER_LIMITS } from '../src/protocol/parser.js';
import { toPolicyRequest, attrsFromBlock, PROTOCOL_STATES, type Attrs } from '../src/protocol/request.js';
import { encodeAction, sanitizeText, normalizeReplyCode, actionText } from '../src/protocol/action.js';
import { fixture, FIXTURES } from './helpers/policy-client.js';

function parseAll(chunks: string[], limits = DEFAULT_PARSER_LIMITS) {
  const p = new PolicyParser(limits);
  const out: Attrs[] = [];
  let err: string | null = null;
  for (const c of chunks) {
    err = p.feed(c, out);
    if (err) break;
  }
  return { out, err, partial: p.partial };
}

t.test('every fixture parses to one request with the attributes Postfix sent', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.txt') && f !== 'README.md');
  t.ok(files.length >= 30, `found ${files.length} fixtures`);
  const states = new Set<string>();
  for (const f of files) {
    const raw = fixture(f);
    const { out, err } = parseAll([raw]);
    t.equal(err, null, `${f}: no error`);
    t.equal(out.length, 1, `${f}: one request`);
    const req = toPolicyRequest(out[0]!);
    t.equal(req.request, 'smtpd_access_policy');
    t.ok(PROTOCOL_STATES.has(req.protocol_state), `${f}: known state ${req.protocol_state}`);
    states.add(req.protocol_state);
    t.same(out[0], attrsFromBlock(raw), `${f}: same as the reference splitter`);
  }
  for (const s of ['CONNECT', 'EHLO', 'HELO', 'XCLIENT', 'MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE', 'VRFY', 'ETRN']) {
    t.ok(states.has(s), `fixtures cover ${s}`);
  }
});

t.test('every split position of a real multi-request stream gives the same requests', async (t) => {
  const stream = fixture('sessions/session-xclient.txt') + fixture('sessions/session-plain.txt');
  const whole = parseAll([stream]).out;
  t.ok(whole.length >= 10, `${whole.length} requests in the stream`);
  let checked = 0;
  for (let i = 1; i < stream.length; i += 7) {
    const { out, err } = parseAll([stream.slice(0, i), stream.slice(i)]);
    t.equal(err, null);
    if (JSON.stringify(out) !== JSON.stringify(whole)) t.fail(`split at ${i} differs`);
    checked++;
  }
  // three-way splits, and byte by byte
  for (let i = 3; i < stream.length; i += 97) {
    const j = Math.min(stream.length - 1, i + 41);
    const { out } = parseAll([stream.slice(0, i), stream.slice(i, j), stream.slice(j)]);
    if (JSON.stringify(out) !== JSON.stringify(whole)) t.fail(`3-split at ${i},${j} differs`);
  }
  const bytes = parseAll(stream.split('')).out;
  t.same(bytes, whole, 'one byte at a time');
  t.ok(checked > 100, `checked ${checked} two-way splits`);
});

t.test('split on the first = only; unknown attributes kept; last value wins; CRLF tolerated', async (t) => {
  const raw = 'request=smtpd_access_policy\r\nsender=SRS0=HHH=TT=example.com=user@forwarder.example\r\nx_custom=a=b\r\nhelo_name=first\r\nhelo_name=second\r\n\r\n';
  const { out, err } = parseAll([raw]);
  t.equal(err, null);
  t.equal(out[0]!.sender, 'SRS0=HHH=TT=example.com=user@forwarder.example');
  t.equal(out[0]!.x_custom, 'a=b');
  t.equal(out[0]!.helo_name, 'second');
  t.equal(Object.getPrototypeOf(out[0]), null, 'null-prototype record: __proto__ is just a name');
  const proto = parseAll(['request=smtpd_access_policy\n__proto__=x\nconstructor=y\n\n']).out[0]!;
  t.equal(proto.__proto__, 'x');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('empty values and blank lines between requests', async (t) => {
  const { out } = parseAll(['\n\nrequest=smtpd_access_policy\nsender=\n\n\n\nrequest=smtpd_access_policy\n\n']);
  t.equal(out.length, 2);
  t.equal(out[0]!.sender, '');
  const req = toPolicyRequest(out[1]!);
  t.equal(req.sender, '');
  t.equal(req.recipient_count, 0);
  t.equal(req.protocol_state, '');
});

t.test('protocol errors', async (t) => {
  const cases: Array<[string, string[], string, Partial<typeof DEFAULT_PARSER_LIMITS>?]> = [
    ['line without =', ['request=smtpd_access_policy\nnoequals\n\n'], 'PI_PROTO_NO_EQUALS'],
    ['empty name', ['request=smtpd_access_policy\n=value\n\n'], 'PI_PROTO_NO_EQUALS'],
    ['wrong request type', ['request=other_policy\n\n'], 'PI_PROTO_BAD_REQUEST_TYPE'],
    ['missing request=', ['protocol_state=RCPT\n\n'], 'PI_PROTO_BAD_REQUEST_TYPE'],
    ['NUL byte', ['request=smtpd_access_policy\nsender=a\0b\n\n'], 'PI_PROTO_NUL_BYTE'],
    ['64 KiB line', ['request=smtpd_access_policy\nhelo_name=' + 'a'.repeat(65536) + '\n\n'], 'PI_PROTO_LINE_TOO_LONG'],
    ['long line without LF is refused before it ends', ['request=smtpd_access_policy\nx=' + 'a'.repeat(9000)], 'PI_PROTO_LINE_TOO_LONG'],
    ['10,000 attributes', ['request=smtpd_access_policy\n' + Array.from({ length: 10000 }, (_, i) => `a${i}=1\n`).join('') + '\n'], 'PI_PROTO_TOO_MANY_ATTRS'],
    ['request too large', ['request=smtpd_access_policy\n' + Array.from({ length: 200 }, (_, i) => `a${i}=${'x'.repeat(500)}\n`).join('') + '\n'], 'PI_PROTO_REQUEST_TOO_LARGE'],
  ];
  for (const [name, chunks, code] of cases) {
    const { err } = parseAll(chunks);
    t.equal(err, code, name);
  }
  // the parser refuses more input after an error
  const p = new PolicyParser();
  const out: Attrs[] = [];
  t.equal(p.feed('bad\n', out), 'PI_PROTO_NO_EQUALS');
  t.equal(p.feed('request=smtpd_access_policy\n\n', out), 'PI_PROTO_NO_EQUALS');
  t.equal(out.length, 0);
  // requests complete before the error are delivered
  const r = parseAll(['request=smtpd_access_policy\nprotocol_state=RCPT\n\nbroken\n\n']);
  t.equal(r.out.length, 1);
  t.equal(r.err, 'PI_PROTO_NO_EQUALS');
});

t.test('UTF-8 values are decoded; invalid UTF-8 becomes U+FFFD, never a crash', async (t) => {
  const utf8 = Buffer.from('request=smtpd_access_policy\nhelo_name=bücher.example\nsender=jörg@exämple.de\n\n', 'utf8').toString('latin1');
  // split in the middle of a multi-byte character
  const cut = utf8.indexOf('\xc3') + 1;
  const { out } = parseAll([utf8.slice(0, cut), utf8.slice(cut)]);
  t.equal(out[0]!.helo_name, 'bücher.example');
  t.equal(out[0]!.sender, 'jörg@exämple.de');
  const bad = parseAll(['request=smtpd_access_policy\nhelo_name=a\xff\xfeb\n\n']).out[0]!;
  t.equal(bad.helo_name, 'a\ufffd\ufffdb');
  // a request with high bytes followed by an ASCII one in the same chunk
  const two = parseAll([Buffer.from('request=smtpd_access_policy\nx=é\n\nrequest=smtpd_access_policy\ny=ü\n\n', 'utf8').toString('latin1')]).out;
  t.equal(two[0]!.x, 'é');
  t.equal(two[1]!.y, 'ü');
});

t.test('typed request', async (t) => {
  const req = toPolicyRequest(attrsFromBlock(fixture('data-two-recipients.txt')));
  t.equal(req.protocol_state, 'DATA');
  t.equal(req.recipient_count, 2);
  t.equal(typeof req.size, 'number');
  const v6 = toPolicyRequest(attrsFromBlock(fixture('rcpt-xclient-ipv6.txt')));
  t.equal(v6.client_address, '2001:db8::25');
  const login = toPolicyRequest(attrsFromBlock(fixture('rcpt-xclient-login.txt')));
  t.equal(login.sasl_username, 'alice');
  t.equal(login.sasl_method, 'XCLIENT');
  const odd = toPolicyRequest(attrsFromBlock('request=smtpd_access_policy\nprotocol_state=rcpt\nsize=notanumber\ntls_sni=mx.example\n'));
  t.equal(odd.protocol_state, 'RCPT', 'state upper-cased');
  // every documented state, as Postfix sends it, in other cases, and what is not one
  const stateOf = (v: string | null) => toPolicyRequest(attrsFromBlock(`request=smtpd_access_policy\n${v === null ? '' : `protocol_state=${v}\n`}`)).protocol_state;
  for (const st of PROTOCOL_STATES) {
    t.equal(stateOf(st), st);
    t.equal(stateOf(st.toLowerCase()), st);
  }
  t.same([stateOf('Rcpt'), stateOf('end-of-Message'), stateOf('bogus'), stateOf(''), stateOf(null), stateOf('RCPT ')], ['RCPT', 'END-OF-MESSAGE', 'BOGUS', '', '', 'RCPT ']);
  t.equal(odd.size, 0);
  t.equal(odd.tls_sni, 'mx.example');
});

t.test('action encoder never produces something Postfix reads as OK', async (t) => {
  const unsafe: string[] = [];
  const onUnsafe = (w: string) => unsafe.push(w);
  t.equal(encodeAction({ verb: 'DUNNO' }), 'action=DUNNO\n\n');
  t.equal(encodeAction({ verb: 'OK' }, { onUnsafe }), 'action=DUNNO\n\n', 'OK refused by default');
  t.equal(encodeAction({ verb: 'OK' }, { allowOk: true }), 'action=OK\n\n', 'OK when configured');
  t.equal(encodeAction({ verb: 'REPLY', code: '450' }, { onUnsafe }), 'action=450 Access denied\n\n', 'bare code gets text');
  t.equal(encodeAction({ verb: 'REPLY', code: '550 5.7.1', text: '' }), 'action=550 5.7.1 Access denied\n\n');
  t.equal(encodeAction({ verb: 'REPLY', code: '450 5.7.25', text: 'x' }), 'action=450 4.7.25 x\n\n', 'DSN class follows the reply code');
  t.equal(encodeAction({ verb: 'REPLY', code: '250', text: 'x' }, { onUnsafe }), 'action=DUNNO\n\n', '2xx is not a rejection code');
  t.equal(encodeAction({ verb: 'REPLY', code: 'abc', text: 'x' }, { onUnsafe }), 'action=DUNNO\n\n');
  t.equal(encodeAction({ verb: 'REJECT', text: 'bad\r\naction=OK\n\nx' }), 'action=REJECT bad action=OK x\n\n', 'CR/LF smuggling flattened');
  t.equal(encodeAction({ verb: 'REJECT' }), 'action=REJECT\n\n');
  t.equal(encodeAction({ verb: 'WARN', text: 'caf\u00e9\u0000\u0007' }), 'action=WARN caf\n\n', 'non-ASCII and control characters dropped');
  t.equal(encodeAction({ verb: 'PREPEND', text: 'X-Test: yes' }), 'action=PREPEND X-Test: yes\n\n');
  t.equal(encodeAction({ verb: 'PREPEND', text: 'not a header' }, { onUnsafe }), 'action=DUNNO\n\n');
  t.equal(encodeAction({ verb: 'BOGUS' as never, text: 'x' }, { onUnsafe }), 'action=DUNNO\n\n');
  t.equal(unsafe.length, 5, 'every unsafe action reported');
  t.equal(sanitizeText('a'.repeat(1000)).length, 400);
  // its fast path (tidy text returned as is) against the whole transformation, on
  // hostile and random text: control chars, high bytes, runs of spaces, spaces at the
  // ends, tabs, NBSP, U+2028, lengths around MAX_TEXT
  const slow = (text: string) => {
    let r = text.replace(/[^\x20-\x7e]/g, ' ').replace(/ {2,}/g, ' ').trim();
    if (r.length > 400) r = r.slice(0, 400).trimEnd();
    return r;
  };
  const alphabet = ['a', 'Z', '0', ' ', ' ', '  ', '\t', '\r', '\n', '\0', '\x7f', '\x80', '\u00a0', '\u2028', '\ufeff', 'é', '~', '<', '"'];
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  let tidy = 0;
  for (let i = 0; i < 20_000; i++) {
    const len = i % 50 === 0 ? 395 + rnd(10) : rnd(30);
    let x = '';
    for (let k = 0; k < len; k++) x += i % 3 === 0 ? alphabet[rnd(3)] : alphabet[rnd(alphabet.length)];
    if (sanitizeText(x) !== slow(x)) {
      t.fail(`sanitizeText(${JSON.stringify(x)}) = ${JSON.stringify(sanitizeText(x))}, expected ${JSON.stringify(slow(x))}`);
      break;
    }
    if (slow(x) === x) tidy++;
  }
  t.ok(tidy > 1000, `the fast path's case was among them (${tidy} tidy texts)`);
  t.equal(sanitizeText(' lead'), 'lead');
  t.equal(sanitizeText('trail '), 'trail');
  t.equal(sanitizeText('a  b'), 'a b');
  t.equal(sanitizeText('a'.repeat(400)), 'a'.repeat(400));
  t.equal(sanitizeText('a'.repeat(399) + ' b'), 'a'.repeat(399));
  t.equal(normalizeReplyCode('421 4.7.0'), '421 4.7.0');
  t.equal(normalizeReplyCode('521'), '521');
  t.equal(normalizeReplyCode('600'), null);
  t.equal(actionText({ verb: 'DEFER_IF_PERMIT', text: '4.4.3 try later' }), 'DEFER_IF_PERMIT 4.4.3 try later');
  // fuzz: whatever the text, one action line, non-empty, no OK, ASCII only
  for (let i = 0; i < 2000; i++) {
    const text = Array.from({ length: i % 50 }, () => String.fromCharCode(Math.floor(Math.random() * 300))).join('');
    for (const verb of ['REJECT', 'DEFER', 'REPLY', 'WARN', 'PREPEND', 'HOLD'] as const) {
      const line = encodeAction({ verb, code: '554 5.7.1', text });
      const body = line.slice(0, -2);
      if (!line.startsWith('action=') || !line.endsWith('\n\n') || body.includes('\n') || body.length <= 7 || /^action=(OK|\d+)$/i.test(body) || /[^\x20-\x7e]/.test(body)) {
        t.fail(`unsafe encoding ${JSON.stringify(line)}`);
      }
    }
  }
  t.pass('2000 random texts encoded safely');
});
