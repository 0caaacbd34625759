/**
 * spf_mail_from_softfail — SPF of the MAIL FROM identity is softfail (the domain says: probably not authorized).
 *
 * RFC 7208 §8.5: softfail is "weaker than fail", a receiver "SHOULD NOT
 * reject the message based solely on this result" but may subject it to
 * closer scrutiny: warn with a score by default.
 *
 * One SPF evaluation per identity and request (checks/lib/spf.ts), shared by
 * the spf_* checks, sender_provider_forgery and the result header. neutral,
 * none and pass are passes; the other spf_* checks of the identity judge the
 * other results. The finding's reason carries the record, the lookup counts
 * and the DNS answers.
 *
 * What can go wrong: nothing throws; DNS trouble is temperror, which only
 * the spf_mail_from / spf_helo check reports (tempfail).
 */
import type { CheckDef } from './types.js';
import { spfCheck } from './lib/spf.js';

const ID = 'spf_mail_from_softfail';

export const spfMailFromSoftfail: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'SPF of the MAIL FROM identity is softfail (the domain says: probably not authorized)',
  defaults: { action: 'warn', message: 'SPF softfail: {spf_domain} does not quite allow {client_address} to send mail as {spf_sender}', score: 2 },
  run: spfCheck(ID, 'mailfrom', 'softfail'),
};
