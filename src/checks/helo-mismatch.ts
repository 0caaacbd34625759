/**
 * helo_mismatch — none of the HELO name's A/AAAA addresses is the client's.
 *
 * RFC 5321 §4.1.4: a server MAY check that the EHLO name corresponds to the
 * client address, but MUST NOT refuse a message on that basis alone; hence
 * the default action warn and a small score (rspamd HFILTER_HELO_IP_A 1.0),
 * to add up with other weak signals.
 * Compared canonically (IPv4-mapped aware). The client's family first, the
 * other only when the first does not list the client (lib/lookup.ts
 * lookupAddresses). No match and a temporary failure on A or AAAA: tempfail
 * (the failed type might have held the address).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips literals
 * (helo_address_literal), bare IPs, invalid and non-FQDN names.
 */
import type { DnsAnswer } from '../dns/types.js';
import type { CheckDef } from './types.js';
import { answerHas } from './lib/addresses.js';
import { describeAddresses, finding, isFinding, dnsTempfail } from './lib/format.js';
import { lookupAddresses } from './lib/lookup.js';
import { clientOrSkip, fqdnHeloOrSkip } from './lib/subject.js';

const ID = 'helo_mismatch';

export const heloMismatch: CheckDef = {
  id: ID,
  group: 'helo',
  summary: "none of the HELO name's A/AAAA addresses is the client address (never a reason to refuse alone: RFC 5321 §4.1.4)",
  defaults: { action: 'warn', message: 'HELO name {helo_name} does not resolve to {client_address}', score: 1 },
  // a `.then`, not an async run(): no suspended frame held while the lookups wait
  run(ctx) {
    const name = fqdnHeloOrSkip(ctx, ID);
    if (typeof name !== 'string') return name;
    const client = clientOrSkip(ctx, ID);
    if (isFinding(client)) return client;
    const has = (x: DnsAnswer<string> | null) => x !== null && x.status === 'ok' && answerHas(x.records, client);
    return lookupAddresses(ctx, name, has).then((answers) => {
      const { a, aaaa } = answers;
      const seen = describeAddresses(name, answers);
      if (has(a) || has(aaaa)) return finding(ID, 'pass', `HELO ${name} resolves to the client ${client.text}: ${seen}`);
      // no match: both families were asked
      if (a?.status === 'tempfail' || aaaa?.status === 'tempfail') return dnsTempfail(ID, `HELO ${name}: no match with ${client.text} and a lookup failed temporarily: ${seen}`, [a!, aaaa!]);
      return finding(ID, 'fail', `HELO ${name} does not resolve to the client ${client.text}: ${seen}`);
    });
  },
};
