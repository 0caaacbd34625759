/**
 * checks/lib/subject — the common start of checks that need a HELO name to
 * look up or a parsable client address: the value, or the skip finding the
 * check returns when it is absent (a check whose input is absent skips).
 *
 * What can go wrong: nothing.
 */
import type { ParsedIp } from '../../net/ip.js';
import type { CheckContext, Finding } from '../types.js';
import { finding } from './format.js';
import { heloForm } from './hostname.js';

/** The client address, or a skip finding when client_address is not an IP address. */
export function clientOrSkip(ctx: CheckContext, check: string): ParsedIp | Finding {
  return ctx.id.client ?? finding(check, 'skip', `client address ${JSON.stringify(ctx.id.clientAddress)} is not an IP address`);
}

/**
 * The HELO as a fully-qualified name worth a DNS query, or a skip finding:
 * no HELO, invalid syntax (helo_invalid), an address (literal or bare IP) or
 * a name that is not fully qualified (helo_not_fqdn) are not looked up.
 */
export function fqdnHeloOrSkip(ctx: CheckContext, check: string): string | Finding {
  const h = heloForm(ctx.req, ctx.id);
  switch (h.kind) {
    case 'none': return finding(check, 'skip', 'no HELO/EHLO given');
    case 'invalid': return finding(check, 'skip', `HELO is not valid syntax (helo_invalid judges it): ${h.why}`);
    case 'literal': case 'bare-ip': return finding(check, 'skip', `HELO ${h.name} is an address, not a name`);
    case 'name':
      return h.notFqdn === '' ? h.name : finding(check, 'skip', `HELO ${h.name} is not fully qualified (helo_not_fqdn judges it); not looked up`);
  }
}
