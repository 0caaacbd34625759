/**
 * client_private — the client address is not globally reachable per the IANA
 * special-purpose registries (src/net/special.ts): loopback, RFC 1918,
 * CGNAT 100.64/10, link-local, ULA, documentation, benchmarking, ...
 * ::ffff:a.b.c.d is judged by its IPv4 address. Prefixes listed in
 * identity.public_networks count as global (labs, test beds).
 *
 * A mail server on the Internet never sees such a client unless it sits
 * behind a proxy or NAT that hides the real address, or an internal host is
 * not allowlisted (allow.clients, applied by the engine before any check).
 *
 * What can go wrong: nothing; no DNS. Skips an unparsable client address.
 */
import { describeIpClass } from '../net/special.js';
import type { CheckDef } from './types.js';
import { classify } from './lib/addresses.js';
import { finding, isFinding } from './lib/format.js';
import { clientOrSkip } from './lib/subject.js';

const ID = 'client_private';

export const clientPrivate: CheckDef = {
  id: ID,
  group: 'client',
  summary: 'the client address is not globally reachable (IANA special-purpose registries)',
  defaults: { action: 'reject', code: '550 5.7.1', message: 'client address {client_address} is not a public address', score: 5 },
  run(ctx) {
    const client = clientOrSkip(ctx, ID);
    if (isFinding(client)) return client;
    const c = classify(ctx, client);
    return finding(ID, c.global ? 'pass' : 'fail', describeIpClass(client.text, c));
  },
};
