/**
 * spf_helo_softfail — SPF of the HELO identity is softfail.
 *
 * RFC 7208 §8.5: softfail SHOULD NOT be the sole reason to reject: warn
 * with a score by default.
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

const ID = 'spf_helo_softfail';

export const spfHeloSoftfail: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'SPF of the HELO identity is softfail',
  defaults: { action: 'warn', message: 'SPF softfail: {spf_domain} does not quite allow {client_address} to use it as HELO name', score: 2 },
  run: spfCheck(ID, 'helo', 'softfail'),
};
