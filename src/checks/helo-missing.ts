/**
 * helo_missing — the client reached MAIL, RCPT, DATA or END-OF-MESSAGE without HELO/EHLO.
 *
 * RFC 5321 §4.1.4: a client MUST issue EHLO/HELO before a mail transaction;
 * Postfix's smtpd_helo_required = yes answers "503 5.5.1 Error: send HELO/EHLO
 * first". Before MAIL (CONNECT, EHLO/HELO, VRFY, ETRN ...) a missing name is
 * not yet an error: skip.
 *
 * Absent is not empty: Postfix always sends `helo_name=` (empty when no
 * HELO/EHLO was given). A request without the attribute at all did not come
 * from Postfix's smtpd (a hand-written test, another MTA's client): we cannot
 * tell whether HELO happened, so the check skips rather than refuse.
 *
 * What can go wrong: nothing; no DNS.
 */
import type { CheckDef } from './types.js';
import { finding } from './lib/format.js';
import { heloForm } from './lib/hostname.js';

const ID = 'helo_missing';
const TRANSACTION_STATES = new Set(['MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE']);

export const heloMissing: CheckDef = {
  id: ID,
  group: 'helo',
  summary: 'no HELO/EHLO was given before MAIL, RCPT, DATA or END-OF-MESSAGE',
  defaults: { action: 'reject', code: '503 5.5.1', message: 'send HELO/EHLO first', score: 3 },
  run(ctx) {
    if (heloForm(ctx.req, ctx.id).kind !== 'none') return finding(ID, 'pass', `HELO/EHLO given: ${ctx.id.helo || ctx.req.helo_name}`);
    const state = ctx.req.protocol_state;
    if (ctx.req.attrs.helo_name === undefined) return finding(ID, 'skip', 'the request has no helo_name attribute (not sent by Postfix smtpd): HELO unknown');
    if (!TRANSACTION_STATES.has(state)) return finding(ID, 'skip', `no HELO/EHLO yet at ${state || 'an unknown state'} (only MAIL, RCPT, DATA, END-OF-MESSAGE need one)`);
    return finding(ID, 'fail', `no HELO/EHLO was given before ${state}`);
  },
};
