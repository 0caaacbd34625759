/**
 * helo_private — the HELO is, or resolves only to, internal addresses, or is
 * a special-use local name.
 *
 *   - address literal or bare IP: internal when not globally reachable per
 *     the IANA special-purpose registries (src/net/special.ts);
 *   - special-use names (localhost, *.localhost, *.local, *.localdomain,
 *     *.lan, *.home.arpa, *.internal, *.invalid, *.alt, *.onion;
 *     lib/special-names.ts): fail without a DNS query;
 *   - other fully-qualified names: A and AAAA; fail when addresses exist and
 *     all are internal. One global address passes (so the other family is
 *     asked only when the client's family shows none: lib/lookup.ts). No address at all passes
 *     (helo_unknown judges that). No global address and a temporary DNS
 *     failure on A or AAAA: tempfail (the failed type might hold a global one).
 * identity.public_networks counts as global (lab override).
 *
 * What can go wrong: DNS tempfail -> tempfail, never fail.
 */
import type { CheckDef } from './types.js';
import { classify, hasGlobalAddress, judgeAddresses } from './lib/addresses.js';
import { describeAddresses, few, finding, dnsTempfail } from './lib/format.js';
import { heloForm } from './lib/hostname.js';
import { lookupAddresses } from './lib/lookup.js';
import { specialUseName } from './lib/special-names.js';
import { describeIpClass } from '../net/special.js';

const ID = 'helo_private';

export const heloPrivate: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'the HELO is a local/special-use name or resolves only to internal/reserved addresses',
  defaults: { action: 'reject', code: '550 5.7.1', message: 'HELO name {helo_name} is a private or local name', score: 4 },
  // a `.then`, not an async run(): no suspended frame held while the lookups wait
  run(ctx) {
    const h = heloForm(ctx.req, ctx.id);
    if (h.kind === 'none') return finding(ID, 'skip', 'no HELO/EHLO given');
    if (h.kind === 'invalid') return finding(ID, 'skip', `HELO is not valid syntax (helo_invalid judges it): ${h.why}`);
    if (h.kind === 'literal' || h.kind === 'bare-ip') {
      const c = classify(ctx, h.ip);
      return finding(ID, c.global ? 'pass' : 'fail', `HELO ${h.name}: ${describeIpClass(h.ip.text, c)}`);
    }
    const special = specialUseName(h.name);
    if (special !== null) return finding(ID, 'fail', `HELO ${h.name} is a special-use local name (.${special.suffix}, ${special.source})`);
    if (h.notFqdn !== '') return finding(ID, 'skip', `HELO ${h.name} is not fully qualified (helo_not_fqdn judges it); not looked up`);
    const name = h.name;
    return lookupAddresses(ctx, name, hasGlobalAddress(ctx)).then((answers) => {
      const seen = describeAddresses(name, answers);
      const v = judgeAddresses(ctx, answers);
      if (v.global.length > 0) return finding(ID, 'pass', `HELO ${name} has a global address: ${seen}`);
      if (v.tempfail) return dnsTempfail(ID, `HELO ${name}: no global address seen and a lookup failed temporarily: ${seen}`, [answers.a!, answers.aaaa!]); // no global address: both asked
      if (v.internal.length > 0) return finding(ID, 'fail', `HELO ${name} resolves only to internal addresses: ${few(v.internal, v.omitted, '; ', 3)} (${seen})`);
      return finding(ID, 'pass', `HELO ${name} has no addresses (helo_unknown judges that): ${seen}`);
    });
  },
};
