/**
 * helo_invalid — the HELO/EHLO argument is neither an RFC 5321 Domain nor a
 * valid address literal.
 *
 * Syntax rules and decisions: lib/hostname.ts. checks.helo_invalid.syntax:
 * "postfix" (default) is Postfix's valid_hostname()/valid_ipv6_hostaddr(),
 * so "_" is accepted as reject_invalid_helo_hostname accepts it; "rfc5321"
 * is the strict RFC 5321 §4.1.2/§4.1.3 grammar. Like Postfix's
 * reject_invalid_helo_hostname (501 5.5.2 "Invalid name"), a bare IP
 * address is accepted here; helo_not_fqdn refuses it.
 *
 * What can go wrong: nothing; no DNS.
 */
import type { CheckDef } from './types.js';
import { finding } from './lib/format.js';
import { heloForm } from './lib/hostname.js';

const ID = 'helo_invalid';

export const heloInvalid: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'the HELO name is not an RFC 5321 domain name or address literal',
  defaults: { action: 'reject', code: '501 5.5.2', message: 'invalid HELO name {helo_name}', score: 5 },
  run(ctx) {
    const syntax = ctx.settings.checks.helo_invalid?.syntax ?? 'postfix';
    const h = heloForm(ctx.req, ctx.id, syntax);
    switch (h.kind) {
      case 'none': return finding(ID, 'skip', 'no HELO/EHLO given');
      case 'invalid': return finding(ID, 'fail', `HELO ${JSON.stringify(h.name)} is not valid (${syntax === 'postfix' ? 'Postfix valid_hostname()' : 'RFC 5321 §4.1.2'}): ${h.why}`);
      case 'literal': return finding(ID, 'pass', `HELO ${h.name} is a valid address literal`);
      case 'bare-ip': return finding(ID, 'pass', `HELO ${h.name} is a bare IP address (accepted as syntax; helo_not_fqdn judges it)`);
      case 'name': return finding(ID, 'pass', `HELO ${h.name} is a valid domain name`);
    }
  },
};
