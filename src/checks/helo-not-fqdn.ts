/**
 * helo_not_fqdn — the HELO is a valid name but not fully qualified: no dot
 * ("mailserver", "localhost"), an all-numeric last label ("host.123"), or a
 * bare IP address without brackets.
 *
 * RFC 5321 §2.3.5: the EHLO argument is a fully-qualified domain name or, for
 * a host without one, an address literal; a bare IP is neither. Postfix's
 * reject_non_fqdn_helo_hostname (504 5.5.2 "need fully-qualified hostname")
 * refuses bare IPs too; address literals are not names and pass here.
 * Invalid names are left to helo_invalid (skip), so one fault fails one check.
 *
 * What can go wrong: nothing; no DNS.
 */
import type { CheckDef } from './types.js';
import { finding } from './lib/format.js';
import { heloForm } from './lib/hostname.js';

const ID = 'helo_not_fqdn';

export const heloNotFqdn: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'the HELO name is not fully qualified (no dot, numeric last label, or a bare IP address)',
  defaults: { action: 'reject', code: '504 5.5.2', message: 'HELO name {helo_name} is not a fully-qualified host name', score: 3 },
  run(ctx) {
    const h = heloForm(ctx.req, ctx.id);
    switch (h.kind) {
      case 'none': return finding(ID, 'skip', 'no HELO/EHLO given');
      case 'invalid': return finding(ID, 'skip', `HELO is not valid syntax (helo_invalid judges it): ${h.why}`);
      case 'literal': return finding(ID, 'pass', `HELO ${h.name} is an address literal`);
      case 'bare-ip': return finding(ID, 'fail', `HELO ${h.name} is a bare IP address; a host without a name must send an address literal [${h.ip.family === 6 ? 'IPv6:' : ''}${h.ip.text}]`);
      case 'name':
        return h.notFqdn === ''
          ? finding(ID, 'pass', `HELO ${h.name} is fully qualified`)
          : finding(ID, 'fail', `HELO ${h.name} is not fully qualified: ${h.notFqdn}`);
    }
  },
};
