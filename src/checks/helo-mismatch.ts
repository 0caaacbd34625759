/**
 * helo_mismatch — none of the HELO name's A/AAAA addresses is the client's.
 *
 * RFC 5321 §4.1.4: a server MAY check that the EHLO name corresponds to the
 * client address, but MUST NOT refuse a message on that basis alone; hence
 * the default action warn and a small score (rspamd HFILTER_HELO_IP_A 1.0),
 * to add up with other weak signals.
 * Compared canonically (IPv4-mapped aware). No match and a temporary failure
 * on A or AAAA: tempfail (the failed type might have held the address).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips literals
 * (helo_address_literal), bare IPs, invalid and non-FQDN names.
 */
import type { CheckDef } from './types.js';
import { answerHas } from './lib/addresses.js';
import { describeAnswer, finding, isFinding, trail, dnsTempfail } from './lib/format.js';
import { lookupAddresses } from './lib/lookup.js';
import { clientOrSkip, fqdnHeloOrSkip } from './lib/subject.js';

const ID = 'helo_mismatch';

export const heloMismatch: CheckDef = {
  id: ID,
  group: 'helo',
  summary: "none of the HELO name's A/AAAA addresses is the client address (never a reason to refuse alone: RFC 5321 §4.1.4)",
  defaults: { action: 'warn', message: 'HELO name {helo_name} does not resolve to {client_address}', score: 1 },
  async run(ctx) {
    const name = fqdnHeloOrSkip(ctx, ID);
    if (typeof name !== 'string') return name;
    const client = clientOrSkip(ctx, ID);
    if (isFinding(client)) return client;
    const { a, aaaa } = await lookupAddresses(ctx, name);
    const seen = trail([describeAnswer('A', name, a), describeAnswer('AAAA', name, aaaa)]);
    const has = (x: typeof a) => x.status === 'ok' && answerHas(x.records, client);
    if (has(a) || has(aaaa)) return finding(ID, 'pass', `HELO ${name} resolves to the client ${client.text}: ${seen}`);
    if (a.status === 'tempfail' || aaaa.status === 'tempfail') return dnsTempfail(ID, `HELO ${name}: no match with ${client.text} and a lookup failed temporarily: ${seen}`, [a, aaaa]);
    return finding(ID, 'fail', `HELO ${name} does not resolve to the client ${client.text}: ${seen}`);
  },
};
