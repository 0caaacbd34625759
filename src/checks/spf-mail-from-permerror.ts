/**
 * spf_mail_from_permerror — SPF of the MAIL FROM identity is permerror (the domain's record cannot be evaluated: syntax, more than 10 DNS-querying terms or 2 void lookups).
 *
 * RFC 7208 §8.7: permerror means the domain's published records cannot be
 * correctly interpreted; it needs operator intervention on the sender's
 * side, and the RFC leaves the handling to local policy (§2.6.7). Mail from
 * such a domain is common and mostly legitimate: warn by default.
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

const ID = 'spf_mail_from_permerror';

export const spfMailFromPermerror: CheckDef = {
  id: ID,
  group: 'sender',
  summary: "SPF of the MAIL FROM identity is permerror (the domain's record cannot be evaluated: syntax, more than 10 DNS-querying terms or 2 void lookups)",
  defaults: { action: 'warn', message: 'SPF permerror: the SPF record of {spf_domain} cannot be evaluated', score: 1 },
  run: spfCheck(ID, 'mailfrom', 'permerror'),
};
