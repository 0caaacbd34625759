/**
 * sender_null_mx — the sender domain publishes a null MX (RFC 7505): it
 * declares it accepts no mail, so bounces to it cannot be delivered.
 *
 * RFC 7505 §4.2: a server MAY refuse mail whose return address has a null MX,
 * with 550 5.7.27 "Sender address has null MX"; Postfix does so in
 * reject_unknown_sender_domain ("Domain D does not accept mail (nullMX)").
 * Like Postfix, ANY MX record whose target is the root counts, whatever its
 * preference and whatever other MX records exist.
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender, address-literal domains and a domain that does not exist (MX
 * NXDOMAIN: nothing to say about its MX; sender_domain_unknown judges it).
 */
import type { CheckDef, Finding } from './types.js';
import type { SenderMx } from './lib/sender-mx.js';
import { finding, isFinding } from './lib/format.js';
import { senderMxOrFinding } from './lib/sender.js';

const ID = 'sender_null_mx';

export const senderNullMx: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'the sender domain has a null MX (RFC 7505): it accepts no mail, so no bounces',
  defaults: { action: 'reject', code: '550 5.7.27', message: 'sender domain {sender_domain} does not accept mail (nullMX)', score: 5 },
  // a `.then` with a module-level function, not an async run(): no suspended frame held while the MX lookup waits
  run: (ctx) => senderMxOrFinding(ctx, ID).then(judge),
};

function judge(smx: SenderMx | Finding): Finding {
  if (isFinding(smx)) return smx;
  if (smx.nxdomain) return finding(ID, 'skip', `${smx.domain} does not exist (sender_domain_unknown judges it): ${smx.trail}`);
  if (smx.nullMx) return finding(ID, 'fail', `${smx.domain} has a null MX: ${smx.trail}`);
  return finding(ID, 'pass', `${smx.domain} has no null MX: ${smx.trail}`);
}
