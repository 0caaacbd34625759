/**
 * spf_mail_from — SPF (RFC 7208) of the MAIL FROM identity (postmaster@<HELO> for the null sender) is fail; temperror is a tempfail.
 *
 * RFC 7208 §8.4: a "fail" result is an explicit statement that the client
 * is not authorized to use the domain; the receiver may reject it, and if it
 * rejects at SMTP time it SHOULD use reply 550 and enhanced status 5.7.1
 * (RFC 7208) or, more precisely, 5.7.23 "SPF validation failed" (RFC 7372
 * §3.2). §8.6: temperror is a transient error; the SMTP reply should be 451
 * 4.4.3 — so a temperror is a tempfail here (on_tempfail), never a 5xx.
 * The null sender <> is checked as postmaster@<HELO> (RFC 7208 §2.4).
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

const ID = 'spf_mail_from';

export const spfMailFrom: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'SPF (RFC 7208) of the MAIL FROM identity (postmaster@<HELO> for the null sender) is fail; temperror is a tempfail',
  defaults: { action: 'reject', code: '550 5.7.23', message: 'SPF fail: {spf_domain} does not allow {client_address} to send mail as {spf_sender}', score: 5 },
  run: spfCheck(ID, 'mailfrom', 'fail'),
};
