/**
 * helo_unknown — a fully-qualified HELO name has no A, AAAA or MX record.
 *
 * Postfix reject_unknown_helo_hostname (450 4.7.1 "Host not found"): A, AAAA,
 * then MX, the first record found wins; a null MX counts as existing ("Allow
 * MTA names to have nullMX records"). Any temporary failure beats "not found"
 * (Postfix dns_lookup: only when every type is authoritatively absent is the
 * host unknown), so then the result is tempfail.
 * The client's family first, the other only when the first has no records
 * (lib/lookup.ts lookupAddresses; shared with helo_private/helo_mismatch);
 * MX only when neither has records.
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail. Skips literals,
 * bare IPs, invalid and non-FQDN names (other checks judge those).
 */
import type { DnsAnswer, MxRecord } from '../dns/types.js';
import type { CheckDef, Finding } from './types.js';
import { describeAddresses, describeMx, dnsTempfail, finding, trail } from './lib/format.js';
import { hasRecords, lookupAddresses, lookupMx, type AddressAnswers } from './lib/lookup.js';
import { fqdnHeloOrSkip } from './lib/subject.js';

const ID = 'helo_unknown';

export const heloUnknown: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'a fully-qualified HELO name has no A, AAAA or MX record',
  defaults: { action: 'defer', code: '450 4.7.1', message: 'HELO name {helo_name}: host not found', score: 2 },
  // `.then` chains, not an async run(): no suspended frame held while the lookups wait
  run(ctx) {
    const name = fqdnHeloOrSkip(ctx, ID);
    if (typeof name !== 'string') return name;
    return lookupAddresses(ctx, name, hasRecords).then((answers) => {
      const seen = [describeAddresses(name, answers)];
      if (answers.a?.status === 'ok' || answers.aaaa?.status === 'ok') return finding(ID, 'pass', `HELO ${name} exists: ${trail(seen)}`);
      return lookupMx(ctx, name).then((mx) => judgeMx(name, answers, mx, seen));
    });
  },
};

/** Neither family had an address: the MX answer decides. */
function judgeMx(name: string, answers: AddressAnswers, mx: DnsAnswer<MxRecord>, seen: string[]): Finding {
  const { a, aaaa } = answers;
  seen.push(describeMx(name, mx));
  if (mx.status === 'ok') return finding(ID, 'pass', `HELO ${name} exists (MX only): ${trail(seen)}`);
  // both families were asked here (neither had records)
  if ([a, aaaa, mx].some((x) => x?.status === 'tempfail')) return dnsTempfail(ID, `HELO ${name}: lookup failed temporarily: ${trail(seen)}`, [a, aaaa, mx].filter((x) => x !== undefined && x !== null));
  return finding(ID, 'fail', `HELO ${name} has no A, AAAA or MX record: ${trail(seen)}`);
}
