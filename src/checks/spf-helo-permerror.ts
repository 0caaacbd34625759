/**
 * spf_helo_permerror — SPF of the HELO identity is permerror (the record of the HELO name cannot be evaluated).
 *
 * RFC 7208 §8.7: permerror is a problem of the domain's records, left to
 * local policy (§2.6.7): warn by default.
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

const ID = 'spf_helo_permerror';

export const spfHeloPermerror: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'SPF of the HELO identity is permerror (the record of the HELO name cannot be evaluated)',
  defaults: { action: 'warn', message: 'SPF permerror: the SPF record of {spf_domain} cannot be evaluated', score: 1 },
  run: spfCheck(ID, 'helo', 'permerror'),
};
