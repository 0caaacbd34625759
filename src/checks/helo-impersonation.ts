/**
 * helo_impersonation — the client claims to be us: its HELO is one of our
 * own names (identity.my_names) or an address of ours (identity.my_addresses,
 * or the address it connected to, Postfix's server_address).
 *
 * A remote client has no business presenting our name; spam bots do it to
 * look local (qpsmtpd helo "is_in_badhelo", policyd cluebringer CheckHelo).
 * Our own hosts are meant to be allowlisted (allow.clients), which the engine
 * applies before any check runs, so here a match simply fails.
 * Exact name equality (after normalisation), no DNS: a HELO that merely
 * resolves to our address is not judged here.
 *
 * What can go wrong: nothing; no DNS. Skips when neither identity.my_names,
 * identity.my_addresses nor server_address gives anything to compare with.
 */
import { parseIp } from '../net/ip.js';
import type { CheckDef } from './types.js';
import { finding } from './lib/format.js';
import { heloForm } from './lib/hostname.js';

const ID = 'helo_impersonation';

export const heloImpersonation: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'the HELO is one of our own names or addresses (identity.my_names, identity.my_addresses)',
  defaults: { action: 'reject', code: '550 5.7.1', message: 'HELO name {helo_name} belongs to this server, not to you', score: 5 },
  run(ctx) {
    const h = heloForm(ctx.req, ctx.id);
    if (h.kind === 'none') return finding(ID, 'skip', 'no HELO/EHLO given');
    if (h.kind === 'invalid') return finding(ID, 'skip', `HELO is not valid syntax (helo_invalid judges it): ${h.why}`);
    const { my_names: names, my_addresses: addresses } = ctx.settings.identity;
    const server = ctx.req.server_address === '' ? null : parseIp(ctx.req.server_address);
    if (h.kind === 'name') {
      if (names.length === 0) return finding(ID, 'skip', 'identity.my_names is empty: nothing to compare the HELO name with');
      return names.includes(h.name)
        ? finding(ID, 'fail', `HELO ${h.name} is one of our names (identity.my_names)`)
        : finding(ID, 'pass', `HELO ${h.name} is not one of our names (${names.join(', ')})`);
    }
    if (addresses.size === 0 && server === null) return finding(ID, 'skip', 'identity.my_addresses is empty and server_address is unknown: nothing to compare the HELO address with');
    if (addresses.hasParsed(h.ip)) return finding(ID, 'fail', `HELO ${h.name} is one of our addresses (identity.my_addresses)`);
    if (server !== null && server.family === h.ip.family && server.value === h.ip.value) {
      return finding(ID, 'fail', `HELO ${h.name} is our own address (server_address ${server.text})`);
    }
    return finding(ID, 'pass', `HELO ${h.name} is not one of our addresses`);
  },
};
