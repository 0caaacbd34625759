/**
 * sender_provider_forgery — the sender domain is one of the big mailbox
 * providers' (`providers:` list: gmail.com, yahoo.com, aol.com, icloud.com,
 * ...) but SPF (RFC 7208) for it is not `pass`.
 *
 * Every provider on the list publishes an SPF record naming all of its
 * outbound servers and sends its users' mail only from them, so genuine mail
 * passes SPF: AOL mail from Yahoo's servers (aol.com's record includes
 * Yahoo's ranges), iCloud mail from *.me.com hosts (icloud.com's ranges),
 * Yahoo! JAPAN from its own. Anything else is forgery, softfail included:
 * the providers end their records with ~all, which is "not authorized" here
 * (a provider that sends only from its own servers has no "transitioning"
 * hosts to be soft about). The SPF evaluation is the one the spf_mail_from
 * checks use (checks/lib/spf.ts), done once per request.
 *
 * Legitimate exceptions exist: forwarders and mailing lists that keep the
 * envelope sender (SRS-rewriting forwarders are fine, the sender domain is
 * theirs). Allowlist them (allow.clients) or override the check for them.
 *
 * What can go wrong: SPF temperror (a DNS failure or the request deadline)
 * -> tempfail, never fail. Skips the null sender, address literals, senders
 * outside the list and unparsable clients.
 */
import type { CheckDef } from './types.js';
import { finding, dnsTempfail } from './lib/format.js';
import { isProviderDomain } from './lib/providers.js';
import { senderSkipReason } from './lib/sender.js';
import { describeSpf, isSkip, spfOf, spfVars } from './lib/spf.js';

const ID = 'sender_provider_forgery';

export const senderProviderForgery: CheckDef = {
  id: ID,
  group: 'sender',
  summary: "the sender domain is a big mailbox provider's (providers list) but SPF for it is not pass (softfail counts)",
  defaults: { action: 'reject', code: '550 5.7.1', message: '{client_address} is not a mail server of {sender_domain}', score: 4 },
  async run(ctx) {
    const skip = senderSkipReason(ctx);
    if (skip !== null) return finding(ID, 'skip', skip);
    const d = ctx.id.senderDomain;
    if (!isProviderDomain(ctx.settings.providers, d)) return finding(ID, 'skip', `${d} is not in the providers list`);
    const e = await spfOf(ctx, 'mailfrom');
    if (isSkip(e)) return finding(ID, 'skip', e.skip);
    const why = `${d} is a provider domain; ${describeSpf(e)}`;
    if (e.result === 'pass') return finding(ID, 'pass', why, spfVars(e));
    if (e.result === 'temperror') return dnsTempfail(ID, why, [{ status: 'tempfail', reason: 'TEMPERROR' }], spfVars(e));
    return finding(ID, 'fail', why, spfVars(e));
  },
};
