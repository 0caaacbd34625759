/**
 * rdns_generic — the client's confirmed PTR name looks like a dynamic or
 * residential pool name (the client's octets in it, or words like dyn, dsl,
 * pool, dhcp, cable, ppp ...). Heuristics and exemptions: lib/generic-rdns.ts.
 *
 * Only forward-confirmed names are judged (a name that fails FCrDNS is not
 * the client's to judge; rspamd does the same). With several confirmed names
 * one non-generic name passes. No confirmed name: skip, or tempfail when a
 * lookup on the way failed temporarily. A weak signal: warn, score 2.
 *
 * What can go wrong: heuristic false positives (see generic-rdns.ts); DNS
 * tempfail -> tempfail, never fail.
 */
import type { CheckDef, Finding } from './types.js';
import { confirmedOrFinding, undecidedNames, type Fcrdns } from './lib/fcrdns.js';
import { finding, isFinding, dnsTempfail } from './lib/format.js';
import { judgeGenericName } from './lib/generic-rdns.js';

const ID = 'rdns_generic';

export const rdnsGeneric: CheckDef = {
  id: ID,
  group: 'rdns',
  summary: 'the confirmed PTR name looks like a dynamic/residential pool name',
  defaults: { action: 'warn', message: 'reverse hostname {ptr} looks like a dynamic address', score: 2 },
  // a `.then` with a module-level function, not an async run(): no suspended frame held while the lookups wait
  run: (ctx) => confirmedOrFinding(ctx, ID).then(judge),
};

function judge(f: Fcrdns | Finding): Finding {
  if (isFinding(f)) return f;
  const verdicts = f.confirmed.map((name) => ({ name, v: judgeGenericName(name, f.client) }));
  const clean = verdicts.find((x) => !x.v.generic);
  if (clean !== undefined) return finding(ID, 'pass', `${clean.name}: ${clean.v.why}`, { ptr: clean.name });
  const undecided = undecidedNames(f);
  const why = verdicts.map((x) => `${x.name}: ${x.v.why}`).join('; ');
  if (undecided.length > 0) return dnsTempfail(ID, `${why}; not decided: ${undecided.join(', ')} (lookup failed temporarily)`, f.forward.map((x) => x.answer), { ptr: verdicts[0]!.name });
  return finding(ID, 'fail', why, { ptr: verdicts[0]!.name });
}
