/**
 * rdns_missing — the client address has no PTR record.
 *
 * Our own PTR lookup (lib/fcrdns.ts), because Postfix's client_name=unknown
 * cannot tell NXDOMAIN from SERVFAIL. NXDOMAIN or NODATA: fail (RFC 8601
 * iprev permerror); SERVFAIL, timeout, ...: tempfail. Postfix's equivalent is
 * reject_unknown_reverse_client_hostname; the default 450 4.7.25 is the
 * RFC 7372 code "Reverse DNS validation failed" Postfix uses for client names.
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips when the
 * client address is not an IP address.
 */
import type { CheckDef, Finding } from './types.js';
import { fcrdnsOrSkip, type Fcrdns } from './lib/fcrdns.js';
import { finding, isFinding, dnsTempfail } from './lib/format.js';

const ID = 'rdns_missing';

export const rdnsMissing: CheckDef = {
  id: ID,
  group: 'rdns',
  summary: 'the client address has no PTR record',
  defaults: { action: 'defer', code: '450 4.7.25', message: 'cannot find your reverse hostname, [{client_address}]', score: 3 },
  // a `.then` with a module-level function, not an async run(): no suspended frame held while the PTR lookup waits
  run: (ctx) => fcrdnsOrSkip(ctx, ID).then(judge),
};

function judge(f: Fcrdns | Finding): Finding {
  if (isFinding(f)) return f;
  if (f.ptr.status === 'ok') {
    const confirmed = f.confirmed[0];
    return confirmed === undefined ? finding(ID, 'pass', f.ptrLine) : finding(ID, 'pass', f.ptrLine, { ptr: confirmed });
  }
  if (f.ptr.status === 'tempfail') return dnsTempfail(ID, f.ptrLine, [f.ptr]);
  return finding(ID, 'fail', `no PTR record: ${f.ptrLine}`);
}
