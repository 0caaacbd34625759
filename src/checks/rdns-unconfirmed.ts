/**
 * rdns_unconfirmed — no PTR name of the client resolves back to the client
 * address (forward-confirmed reverse DNS fails).
 *
 * FCrDNS over at most dns.max_ptr_names PTR names (lib/fcrdns.ts): A for an
 * IPv4 client, AAAA for an IPv6 client; one name resolving back passes. Like
 * Postfix's reject_unknown_client_hostname (450 4.7.25 "cannot find your
 * hostname") a missing PTR fails here too: there is nothing to confirm.
 * A temporary failure on the PTR lookup, or on the forward lookup of a name
 * while no other name confirmed, is tempfail (rspamd: a forward timeout is
 * RDNS_FCRDNS_DNSFAIL, not a failure).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail.
 */
import type { CheckDef, Finding } from './types.js';
import { fcrdnsOrSkip, type Fcrdns } from './lib/fcrdns.js';
import { finding, isFinding, dnsTempfail } from './lib/format.js';

const ID = 'rdns_unconfirmed';

export const rdnsUnconfirmed: CheckDef = {
  id: ID,
  group: 'rdns',
  summary: 'no PTR name of the client resolves back to the client address (FCrDNS fails)',
  defaults: { action: 'defer', code: '450 4.7.25', message: 'cannot find your hostname, [{client_address}]', score: 2 },
  // a `.then` with a module-level function, not an async run(): no suspended frame held while the lookups wait
  run: (ctx) => fcrdnsOrSkip(ctx, ID).then(judge),
};

function judge(f: Fcrdns | Finding): Finding {
  if (isFinding(f)) return f;
  const first = f.confirmed[0];
  if (first !== undefined) return finding(ID, 'pass', `${first} is confirmed: ${f.trail}`, { ptr: first });
  if (f.tempfail) return dnsTempfail(ID, `not confirmed, a lookup failed temporarily: ${f.trail}`, [f.ptr, ...f.forward.map((x) => x.answer)]);
  if (f.ptr.status !== 'ok') return finding(ID, 'fail', `no PTR name to confirm: ${f.trail}`);
  return finding(ID, 'fail', `no PTR name resolves back to ${f.client.text}: ${f.trail}`);
}
