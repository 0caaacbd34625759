/**
 * sender_provider_forgery — the sender domain belongs to a big mailhost
 * (`providers:` table: gmail.com, yahoo.*, outlook.*, ...), but the client's
 * forward-confirmed PTR name is not under one of that provider's domains.
 *
 * Big providers send only from their own servers, and all of those have
 * FCrDNS names under the provider's domains (mail-*.google.com,
 * *.outbound.protection.outlook.com, ...), so no confirmed PTR name fails too.
 * Label boundary: evilgoogle.com is not under google.com (unlike haraka's
 * bigco regexp). PTR names checked: at most dns.max_ptr_names (lib/fcrdns.ts).
 * A temporary failure on the PTR or on a forward lookup while no confirmed
 * name is the provider's: tempfail.
 * Legitimate exceptions exist (forwarders and lists that keep the envelope
 * sender); SRS-rewriting forwarders are fine (the sender domain is theirs).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender, literals, senders outside the table and unparsable clients.
 */
import type { CheckDef } from './types.js';
import { fcrdnsOrSkip } from './lib/fcrdns.js';
import { finding, isFinding } from './lib/format.js';
import { isUnder } from './lib/hostname.js';
import { matchProvider } from './lib/providers.js';
import { senderSkipReason } from './lib/sender.js';

const ID = 'sender_provider_forgery';

export const senderProviderForgery: CheckDef = {
  id: ID,
  group: 'sender',
  summary: "the sender domain is a big mailhost's (providers table) but the client's confirmed PTR name is not under that provider's domains",
  defaults: { action: 'reject', code: '550 5.7.1', message: '{client_address} is not a mail server of {sender_domain}', score: 4 },
  async run(ctx) {
    const skip = senderSkipReason(ctx);
    if (skip !== null) return finding(ID, 'skip', skip);
    const d = ctx.id.senderDomain;
    const match = matchProvider(ctx.config.providers, d);
    if (match === null) return finding(ID, 'skip', `${d} is not in the providers table`);
    const f = await fcrdnsOrSkip(ctx, ID);
    if (isFinding(f)) return f;
    const provider = `${d} (providers "${match.key}": ${match.domains.join(', ')})`;
    const own = f.confirmed.find((n) => match.domains.some((pd) => isUnder(n, pd)));
    if (own !== undefined) return finding(ID, 'pass', `${own} is a server of ${provider}: ${f.trail}`, { ptr: own });
    const vars = f.confirmed[0] === undefined ? undefined : { ptr: f.confirmed[0] };
    if (f.tempfail) return finding(ID, 'tempfail', `no confirmed PTR name under ${match.domains.join(', ')} yet, a lookup failed temporarily: ${f.trail}`, vars);
    if (f.confirmed.length === 0) return finding(ID, 'fail', `sender ${provider}, but the client has no confirmed PTR name: ${f.trail}`);
    return finding(ID, 'fail', `sender ${provider}, but the client's confirmed PTR ${f.confirmed.join(', ')} is not under ${match.domains.join(', ')}: ${f.trail}`, vars);
  },
};
