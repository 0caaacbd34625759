/**
 * sender_mx_bogus — every mail exchanger of the sender domain is unresolvable
 * or resolves only to internal/reserved addresses (MX 10 localhost, MX hosts
 * in 10/8, 192.168/16, 127/8, documentation ranges ...): nothing can reach it.
 *
 * policyd-weight's BOGUS_MX. MX hosts by preference, at most MAX_MX_HOSTS
 * (lib/sender-mx.ts); the first host with a global address passes, and is
 * usually the only one asked. A domain without MX records is its own
 * implicit MX (RFC 5321 §5.1). No usable host and a temporary failure on the
 * way: tempfail. identity.public_networks counts as global.
 * Code 550 5.7.1 (IANA SMTP Enhanced Status Codes: "Delivery not authorized,
 * message refused"): Postfix passes X.7.Y through unchanged from every
 * restriction list, while a policy reply's X.1.8 becomes X.1.2 in
 * smtpd_recipient_restrictions (smtpd_dsn_fix()).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips the null
 * sender, literals, null MX (sender_null_mx) and domains that do not exist
 * (sender_domain_unknown).
 */
import type { CheckContext, CheckDef, Finding } from './types.js';
import { describeAddresses, few, finding, isFinding, trail, dnsTempfail } from './lib/format.js';
import { hasRecords, lookupAddresses } from './lib/lookup.js';
import { senderMxOrFinding } from './lib/sender.js';
import { describeHost, usableMx, type SenderMx, type UsableMx } from './lib/sender-mx.js';

const ID = 'sender_mx_bogus';

export const senderMxBogus: CheckDef = {
  id: ID,
  group: 'sender',
  summary: 'every MX host of the sender domain is unresolvable or has only internal/reserved addresses',
  defaults: { action: 'reject', code: '550 5.7.1', message: 'sender domain {sender_domain} has no usable mail exchanger', score: 4 },
  // `.then` steps, not an async function: its suspended frame was held by
  // every never-seen identity's request while the MX and MX-host lookups
  // waited (issue 11 §2)
  run(ctx) {
    return senderMxOrFinding(ctx, ID, true).then((smx) => (isFinding(smx) ? smx : bogusMx(ctx, smx)));
  },
};

function bogusMx(ctx: CheckContext, smx: SenderMx): Promise<Finding> {
  if (!smx.implicit) return usableMx(ctx, smx).then((u) => judgeMx(smx, u));
  return lookupAddresses(ctx, smx.domain, hasRecords).then((answers) => {
    if (answers.a?.status === 'notfound' && answers.aaaa?.status === 'notfound') {
      return finding(ID, 'skip', `${smx.domain} has no MX, A or AAAA (sender_domain_unknown judges it): ${trail([smx.trail, describeAddresses(smx.domain, answers)])}`);
    }
    return usableMx(ctx, smx).then((u) => judgeMx(smx, u));
  });
}

function judgeMx(smx: SenderMx, u: UsableMx): Finding {
  const kind = smx.implicit ? 'implicit MX (RFC 5321 §5.1)' : 'MX';
  // A few hosts named, the rest counted: the sender's zone decides how many there are (issue 13).
  const shown = u.resolved.length <= 3 ? u.resolved : u.resolved.slice(0, 3);
  const seen = trail([
    smx.trail, ...shown.map(describeHost),
    u.resolved.length > shown.length && `${u.resolved.length - shown.length} more MX hosts resolved`,
    smx.dropped > 0 && `${smx.dropped} more MX hosts not checked`,
  ]);
  if (u.usable !== null) return finding(ID, 'pass', `${kind} ${u.usable} has a global address: ${seen}`, { mx: u.usable });
  if (u.tempfail) return dnsTempfail(ID, `no usable ${kind} host found and a lookup failed temporarily: ${few(u.problems, 0, '; ', 3)} (${seen})`, u.resolved.flatMap((h) => (h.answers === null ? [] : [h.answers.a, h.answers.aaaa].filter((x) => x !== null))));
  return finding(ID, 'fail', `no usable ${kind} host: ${few(u.problems, 0, '; ', 3)} (${seen})`);
}
