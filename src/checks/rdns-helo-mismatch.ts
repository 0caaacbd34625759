/**
 * rdns_helo_mismatch — the client's confirmed PTR name and its HELO name are
 * neither equal nor in the same registered domain (mail.example.com and
 * out2.example.com match; mail.example.co.uk and mx.other.co.uk do not).
 * Registered domains come from the Public Suffix List (lib/domain.ts).
 *
 * policyd-weight scores the same (REV_IP_EQ_HELO / RESOLVED_IP_IS_NOT_HELO);
 * a weak signal: warn, score 1. Skips when there is no HELO, the HELO is an
 * address (literal or bare IP) or invalid, or no PTR name is confirmed
 * (tempfail instead when a lookup on the way failed temporarily).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail.
 */
import type { CheckDef, Finding } from './types.js';
import { registeredDomain } from './lib/domain.js';
import { confirmedOrFinding, undecidedNames, type Fcrdns } from './lib/fcrdns.js';
import { finding, isFinding, dnsTempfail } from './lib/format.js';
import { heloForm } from './lib/hostname.js';

const ID = 'rdns_helo_mismatch';

export const rdnsHeloMismatch: CheckDef = {
  id: ID,
  group: 'rdns',
  summary: 'the confirmed PTR name and the HELO name are neither equal nor in the same registered domain',
  defaults: { action: 'warn', message: 'reverse hostname {ptr} and HELO name {helo_name} differ', score: 1 },
  // a `.then`, not an async run(): no suspended frame held while the lookups wait
  run(ctx) {
    const h = heloForm(ctx.req, ctx.id);
    if (h.kind === 'none') return finding(ID, 'skip', 'no HELO/EHLO given');
    if (h.kind !== 'name') return finding(ID, 'skip', `HELO ${h.name} is not a domain name`);
    const helo = h.name;
    return confirmedOrFinding(ctx, ID).then((f) => judge(f, helo));
  },
};

function judge(f: Fcrdns | Finding, helo: string): Finding {
  if (isFinding(f)) return f;
  const heloDomain = registeredDomain(helo);
  for (const name of f.confirmed) {
    if (name === helo) return finding(ID, 'pass', `PTR name ${name} equals the HELO`, { ptr: name });
    const d = registeredDomain(name);
    if (d === heloDomain) return finding(ID, 'pass', `PTR name ${name} and HELO ${helo} are both in ${d}`, { ptr: name });
  }
  const first = f.confirmed[0]!;
  const why = `PTR ${f.confirmed.map((n) => `${n} (${registeredDomain(n)})`).join(', ')} vs HELO ${helo} (${heloDomain})`;
  const undecided = undecidedNames(f);
  if (undecided.length > 0) return dnsTempfail(ID, `${why}; not decided: ${undecided.join(', ')} (lookup failed temporarily)`, f.forward.map((x) => x.answer), { ptr: first });
  return finding(ID, 'fail', why, { ptr: first });
}
