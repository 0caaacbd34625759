/**
 * client_not_sender_mx — the client address is not an address of any mail
 * exchanger of the sender domain (its MX hosts, or the domain itself when it
 * has no MX: RFC 5321 §5.1).
 *
 * Plenty of legitimate mail leaves from hosts that do not receive mail, so
 * this is a strict reading for special cases (one hosted domain that only
 * sends through its MX); off by default, enable per domain with overrides.
 * Only the client's family is asked (A for IPv4, AAAA for IPv6), for at most
 * MAX_MX_HOSTS hosts. No match and a temporary failure on the way: tempfail.
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender, literals, null MX and domains that do not exist.
 */
import type { CheckDef } from './types.js';
import { answerHas } from './lib/addresses.js';
import { describeAnswer, finding, isFinding, trail, dnsTempfail } from './lib/format.js';
import { isLookupableName } from './lib/hostname.js';
import { lookupFamily } from './lib/lookup.js';
import { senderMxOrFinding } from './lib/sender.js';
import { clientOrSkip } from './lib/subject.js';

const ID = 'client_not_sender_mx';

export const clientNotSenderMx: CheckDef = {
  id: ID,
  group: 'sender',
  summary: "the client address is not an address of any of the sender domain's MX hosts (a strict reading, off by default)",
  defaults: { action: 'off', code: '550 5.7.1', message: 'client {client_address} is not a mail exchanger of {sender_domain}', score: 1 },
  async run(ctx) {
    const client = clientOrSkip(ctx, ID);
    if (isFinding(client)) return client;
    const smx = await senderMxOrFinding(ctx, ID, true);
    if (isFinding(smx)) return smx;
    const hosts = smx.hosts.filter((h) => isLookupableName(h));
    const answers = await Promise.all(hosts.map((h) => lookupFamily(ctx, client.family, h)));
    const type = client.family === 4 ? 'A' : 'AAAA';
    const seen = trail([smx.trail, ...hosts.map((h, i) => describeAnswer(type, h, answers[i]!))]);
    const hit = hosts.find((_, i) => answers[i]!.status === 'ok' && answerHas(answers[i]!.records, client));
    if (hit !== undefined) return finding(ID, 'pass', `client ${client.text} is MX host ${hit}: ${seen}`, { mx: hit });
    if (answers.some((a) => a.status === 'tempfail')) return dnsTempfail(ID, `client ${client.text} not found among the MX hosts and a lookup failed temporarily: ${seen}`, answers);
    return finding(ID, 'fail', `client ${client.text} is not an address of any MX host of ${smx.domain}: ${seen}`);
  },
};
