/**
 * spf_helo — SPF (RFC 7208 §2.3) of the HELO identity (postmaster@<HELO name>) is fail; temperror is a tempfail.
 *
 * RFC 7208 §2.3: SPF verifiers SHOULD check the HELO identity; it can
 * only be checked for a fully-qualified name (address literals and single
 * words are skipped). A "fail" (§8.4) is the host name's owner saying this
 * client may not use it: 550 5.7.23 (RFC 7372 §3.2) by default; temperror
 * (§8.6) is a tempfail (on_tempfail), never a 5xx.
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

const ID = 'spf_helo';

export const spfHelo: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'SPF (RFC 7208 §2.3) of the HELO identity (postmaster@<HELO name>) is fail; temperror is a tempfail',
  defaults: { action: 'reject', code: '550 5.7.23', message: 'SPF fail: {spf_domain} does not allow {client_address} to use it as HELO name', score: 5 },
  run: spfCheck(ID, 'helo', 'fail'),
};
