/**
 * sender_domain_unknown — the sender domain does not exist: NXDOMAIN, or no
 * MX and no A/AAAA record.
 *
 * RFC 5321 §5.1: a domain without MX records is its own implicit MX when it
 * has an address, so A/AAAA alone makes it routable. Like Postfix's
 * reject_unknown_sender_domain (MX first, then A/AAAA; "Domain not found"),
 * a temporary failure on any of them beats "not found" (tempfail). MX
 * NXDOMAIN settles it without asking A/AAAA (the name does not exist).
 * A domain that cannot exist in the DNS (bad characters, empty labels) fails
 * without a query.
 *
 * Code 550 5.7.1 (IANA SMTP Enhanced Status Codes: "Delivery not authorized,
 * message refused"), not Postfix's own 5.1.8: called from
 * smtpd_recipient_restrictions, Postfix's smtpd_dsn_fix() rewrites a policy
 * reply's X.1.8 ("bad sender's system address") to X.1.2 ("bad destination
 * system address"), which blames the recipient's domain; X.7.Y passes
 * through unchanged from every restriction list.
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender and address-literal domains (lib/sender.ts).
 */
import type { CheckContext, CheckDef, Finding } from './types.js';
import { describeAddresses, finding, trail, dnsTempfail } from './lib/format.js';
import { hasRecords, lookupAddresses } from './lib/lookup.js';
import { senderDomainMalformed, senderSkipReason } from './lib/sender.js';
import { getSenderMx, type SenderMx } from './lib/sender-mx.js';

const ID = 'sender_domain_unknown';

export const senderDomainUnknown: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'the sender domain does not exist (NXDOMAIN, or no MX and no A/AAAA)',
  defaults: { action: 'reject', code: '550 5.7.1', message: 'sender domain {sender_domain} not found', score: 5 },
  // `.then` steps, not an async function: its suspended frame was held by
  // every never-seen identity's request while the MX lookup waited (issue 11 §2)
  run(ctx) {
    const skip = senderSkipReason(ctx);
    if (skip !== null) return finding(ID, 'skip', skip);
    const d = ctx.id.senderDomain;
    if (senderDomainMalformed(ctx)) return finding(ID, 'fail', `sender domain ${JSON.stringify(d)} is not a valid domain name (not looked up)`);
    return getSenderMx(ctx).then((smx) => domainOf(ctx, d, smx));
  },
};

function domainOf(ctx: CheckContext, d: string, smx: SenderMx): Finding | Promise<Finding> {
  if (smx.mx.status === 'ok') return finding(ID, 'pass', `${d} has MX records: ${smx.trail}`);
  if (smx.nxdomain) return finding(ID, 'fail', `${d} does not exist: ${smx.trail}`);
  return lookupAddresses(ctx, d, hasRecords).then((answers) => {
    const { a, aaaa } = answers;
    const seen = trail([smx.trail, describeAddresses(d, answers)]);
    if (a?.status === 'ok' || aaaa?.status === 'ok') return finding(ID, 'pass', `${d} has no MX but an address (implicit MX, RFC 5321 §5.1): ${seen}`);
    // neither had records: both families were asked
    if ([smx.mx, a!, aaaa!].some((x) => x.status === 'tempfail')) return dnsTempfail(ID, `${d}: lookup failed temporarily: ${seen}`, [smx.mx, a!, aaaa!]);
    return finding(ID, 'fail', `${d} has no MX, A or AAAA record: ${seen}`);
  });
}
