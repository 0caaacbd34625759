/**
 * sender_mx_required — the sender domain has no MX record at all and relies
 * on the A/AAAA fallback (implicit MX, RFC 5321 §5.1).
 *
 * RFC 5321 allows the fallback, so this is a strict reading some receivers
 * apply; off by default. A null MX is an MX record (sender_null_mx judges it).
 *
 * Code 550 5.7.1 (IANA SMTP Enhanced Status Codes: "Delivery not authorized,
 * message refused"): a policy refusal that Postfix passes through unchanged
 * from any restriction list (smtpd_dsn_fix() rewrites only X.1.Y codes).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender, address-literal domains and a domain that does not exist
 * (sender_domain_unknown judges it).
 */
import type { CheckDef, Finding } from './types.js';
import type { SenderMx } from './lib/sender-mx.js';
import { finding, isFinding } from './lib/format.js';
import { senderMxOrFinding } from './lib/sender.js';

const ID = 'sender_mx_required';

export const senderMxRequired: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'the sender domain has no MX record (A/AAAA fallback only; a strict reading, off by default)',
  defaults: { action: 'off', code: '550 5.7.1', message: 'sender domain {sender_domain} has no MX record', score: 1 },
  // a `.then` with a module-level function, not an async run(): no suspended frame held while the MX lookup waits
  run: (ctx) => senderMxOrFinding(ctx, ID).then(judge),
};

function judge(smx: SenderMx | Finding): Finding {
  if (isFinding(smx)) return smx;
  if (smx.nxdomain) return finding(ID, 'skip', `${smx.domain} does not exist (sender_domain_unknown judges it): ${smx.trail}`);
  if (smx.mx.status === 'ok') return finding(ID, 'pass', smx.trail);
  return finding(ID, 'fail', `${smx.domain} has no MX record: ${smx.trail}`);
}
