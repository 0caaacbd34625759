/**
 * helo_address_literal — the HELO is an address literal that is not the
 * client's own address.
 *
 * RFC 5321 §4.1.3/§2.3.5: a host without a name identifies itself by its
 * address literal; a literal that is some other address is a false identity
 * (qpsmtpd helo plugin "is_forged_literal"). Compared canonically:
 * [IPv6:2001:DB8:0:0::5] equals 2001:db8::5, and [IPv6:::ffff:192.0.2.1]
 * equals the IPv4 client 192.0.2.1.
 *
 * Default: warn with score 2, never reject. RFC 5321 §4.1.4: a server MAY
 * verify that the EHLO argument corresponds to the client's address, but "if
 * the verification fails, the server MUST NOT refuse to accept a message on
 * that basis". The score lets scoring.reject_at count it with other signs.
 *
 * What can go wrong: nothing; no DNS. Skips names, bare IPs (helo_not_fqdn),
 * invalid literals (helo_invalid) and an unparsable client address.
 */
import type { CheckDef } from './types.js';
import { finding, isFinding } from './lib/format.js';
import { heloForm } from './lib/hostname.js';
import { clientOrSkip } from './lib/subject.js';

const ID = 'helo_address_literal';

export const heloAddressLiteral: CheckDef = {
  id: ID,
  group: 'helo',
  summary: "the HELO is an address literal that is not the client's address",
  defaults: { action: 'warn', message: 'HELO {helo_name} is not your address {client_address}', score: 2 },
  run(ctx) {
    const h = heloForm(ctx.req, ctx.id);
    if (h.kind === 'none') return finding(ID, 'skip', 'no HELO/EHLO given');
    if (h.kind === 'invalid') return finding(ID, 'skip', `HELO is not valid syntax (helo_invalid judges it): ${h.why}`);
    if (h.kind === 'bare-ip') return finding(ID, 'skip', `HELO ${h.name} is a bare IP address, not a literal (helo_not_fqdn judges it)`);
    if (h.kind === 'name') return finding(ID, 'skip', `HELO ${h.name} is a name, not an address literal`);
    const client = clientOrSkip(ctx, ID);
    if (isFinding(client)) return client;
    if (client.family === h.ip.family && client.value === h.ip.value) {
      return finding(ID, 'pass', `HELO ${h.name} is the client's address ${client.text}`);
    }
    return finding(ID, 'fail', `HELO ${h.name} (${h.ip.text}) is not the client's address ${client.text}`);
  },
};
