/**
 * checks/lib/sender — the common start of the sender-domain checks: when
 * there is nothing to judge, and the domain's MX data when there is.
 *
 * RFC 5321 §4.5.5: the null reverse-path <> is used for delivery status
 * notifications; bounces must never be refused on the sender domain. Address
 * literal domains (user@[192.0.2.1]) have no DNS to ask (Postfix's
 * reject_unknown_sender_domain skips both too).
 *
 * What can go wrong: nothing throws; an MX tempfail becomes a tempfail finding.
 */
import type { CheckContext, Finding } from '../types.js';
import { finding, dnsTempfail } from './format.js';
import { isLookupableName } from './hostname.js';
import { getSenderMx, type SenderMx } from './sender-mx.js';

/** Why the sender domain cannot be judged, or null when it can. */
export function senderSkipReason(ctx: CheckContext): string | null {
  const id = ctx.id;
  if (id.nullSender) return 'null sender <> (bounces are not judged by sender domain, RFC 5321 §4.5.5)';
  if (id.senderDomainIsLiteral) return `sender domain ${id.senderDomain} is an address literal`;
  if (id.senderDomain === '') return `sender ${JSON.stringify(id.sender)} has no domain part`;
  return null;
}

/** The sender domain is not a name that could exist in the DNS (not looked up). */
export function senderDomainMalformed(ctx: CheckContext): boolean {
  return !isLookupableName(ctx.id.senderDomain);
}

/**
 * The sender's MX data for a check that judges MX records, or the finding the
 * check returns instead: skip (null sender, literal, malformed domain; with
 * `needHosts` also null MX and a domain that does not exist, which other
 * checks judge) or tempfail (the MX lookup failed temporarily).
 * Not an async function: one `.then` on the memoised MX data, because an
 * async function's suspended frame was held by every request while it waited
 * for DNS, four per never-seen identity (the checks that judge MX data).
 */
export function senderMxOrFinding(ctx: CheckContext, check: string, needHosts = false): Promise<SenderMx | Finding> {
  const skip = senderSkipReason(ctx);
  if (skip !== null) return Promise.resolve(finding(check, 'skip', skip));
  if (senderDomainMalformed(ctx)) return Promise.resolve(finding(check, 'skip', 'sender domain is not a valid domain name (sender_domain_unknown judges it)'));
  return getSenderMx(ctx).then((smx) => judgeSenderMx(smx, check, needHosts));
}

function judgeSenderMx(smx: SenderMx, check: string, needHosts: boolean): SenderMx | Finding {
  if (smx.mx.status === 'tempfail') return dnsTempfail(check, smx.trail, [smx.mx]);
  if (needHosts && smx.nullMx) return finding(check, 'skip', `${smx.domain} has a null MX (sender_null_mx judges it): ${smx.trail}`);
  if (needHosts && smx.nxdomain) return finding(check, 'skip', `${smx.domain} does not exist (sender_domain_unknown judges it): ${smx.trail}`);
  return smx;
}
