/**
 * doctor/authentication — the sender-authentication records Gmail, Yahoo and
 * Microsoft require of senders, as seen from outside: SPF (RFC 7208) pass for
 * the IP, a DMARC record (RFC 7489) and its policy, the DKIM key (RFC 6376) at
 * a selector.
 *
 * SPF is evaluated by the daemon's own SPF code (checks/lib/spf.ts, mailauth's
 * check_host() on the request DNS), as check_host(ip, domain,
 * postmaster@domain). DMARC: TXT at _dmarc.<domain> (RFC 7489 §6.1); records
 * not starting "v=DMARC1" are ignored; more than one is as none (§6.6.3).
 * DKIM: TXT at <selector>._domainkey.<domain> (RFC 6376 §3.6.2.1); an empty
 * p= is a revoked key (§3.6.1). The organizational-domain fallback of DMARC
 * is not walked: doctor asks about the domain the admin sends as.
 *
 * What can go wrong: nothing throws; DNS trouble is a tempfail status.
 */
import type { CheckContext } from '../checks/types.js';
import { lookupTxt } from '../checks/lib/lookup.js';
import { isSkip, spfOf, type SpfResult } from '../checks/lib/spf.js';

export type AuthStatus = 'pass' | 'fail' | 'tempfail' | 'skip';

export interface SpfCheck {
  readonly status: AuthStatus;
  readonly result: SpfResult | null;
  /** the domain's SPF record, null when none was found */
  readonly record: string | null;
  readonly reason: string;
}

export interface DmarcCheck {
  readonly status: AuthStatus;
  readonly record: string | null;
  /** p= of the record ("none", "quarantine", "reject"), null without a record */
  readonly policy: string | null;
  readonly reason: string;
}

export interface DkimCheck {
  readonly status: AuthStatus;
  readonly selector: string | null;
  readonly name: string | null;
  readonly record: string | null;
  readonly reason: string;
}

/** SPF for ip at domain: pass is the only good result for the big mailhosts. */
export async function checkSpf(ctx: CheckContext): Promise<SpfCheck> {
  const e = await spfOf(ctx, 'mailfrom');
  if (isSkip(e)) return { status: 'skip', result: null, record: null, reason: e.skip };
  const words = `SPF ${e.result} for ${ctx.id.clientAddress} at ${e.domain}: ${e.text}${e.record !== null ? `; record "${e.record}"` : ''}`;
  if (e.result === 'pass') return { status: 'pass', result: e.result, record: e.record, reason: words };
  if (e.result === 'temperror') return { status: 'tempfail', result: e.result, record: e.record, reason: words };
  return { status: 'fail', result: e.result, record: e.record, reason: words };
}

/** One tag of a tag=value list (DMARC, DKIM), lower-cased name; null when absent. */
export function tagValue(record: string, tag: string): string | null {
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim().toLowerCase() === tag) return part.slice(eq + 1).trim();
  }
  return null;
}

export async function checkDmarc(ctx: CheckContext, domain: string): Promise<DmarcCheck> {
  const name = `_dmarc.${domain}`;
  const a = await lookupTxt(ctx, name);
  if (a.status === 'tempfail') return { status: 'tempfail', record: null, policy: null, reason: `TXT ${name} -> ${a.reason} (temporary failure)` };
  const records = a.status === 'ok' ? a.records.filter((r) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(r)) : [];
  if (records.length === 0) return { status: 'fail', record: null, policy: null, reason: `no DMARC record: TXT ${name} -> ${a.status === 'ok' ? `${a.records.length} record(s), none "v=DMARC1"` : a.reason}` };
  if (records.length > 1) return { status: 'fail', record: records[0]!, policy: null, reason: `${records.length} DMARC records at ${name}: receivers then apply none (RFC 7489 §6.6.3)` };
  const record = records[0]!;
  const p = tagValue(record, 'p')?.toLowerCase() ?? null;
  if (p === null || !['none', 'quarantine', 'reject'].includes(p)) {
    return { status: 'fail', record, policy: p, reason: `DMARC record at ${name} has no valid p= tag: "${record}"` };
  }
  return { status: 'pass', record, policy: p, reason: `DMARC record at ${name}: policy p=${p}; "${record}"` };
}

export async function checkDkim(ctx: CheckContext, domain: string, selector: string | null): Promise<DkimCheck> {
  if (selector === null) {
    return { status: 'skip', selector: null, name: null, record: null, reason: 'not checked: give --dkim-selector (the s= tag of your DKIM-Signature header)' };
  }
  const name = `${selector}._domainkey.${domain}`;
  const a = await lookupTxt(ctx, name);
  if (a.status === 'tempfail') return { status: 'tempfail', selector, name, record: null, reason: `TXT ${name} -> ${a.reason} (temporary failure)` };
  if (a.status !== 'ok') return { status: 'fail', selector, name, record: null, reason: `no DKIM key: TXT ${name} -> ${a.reason}` };
  const keys = a.records.filter((r) => tagValue(r, 'p') !== null && (tagValue(r, 'v') ?? 'DKIM1') === 'DKIM1');
  if (keys.length === 0) return { status: 'fail', selector, name, record: a.records[0] ?? null, reason: `no DKIM key at ${name}: no record with a p= tag` };
  const record = keys[0]!;
  if (tagValue(record, 'p') === '') return { status: 'fail', selector, name, record, reason: `the DKIM key at ${name} is revoked (empty p=, RFC 6376 §3.6.1)` };
  return { status: 'pass', selector, name, record, reason: `DKIM key at ${name}: "${record.length > 120 ? `${record.slice(0, 120)}...` : record}"` };
}

/** The SPF record to publish: the existing one with the IP added before its "all", or a new one. */
export function spfRecordFor(ip: string, family: 4 | 6, existing: string | null): string {
  const term = `${family === 4 ? 'ip4' : 'ip6'}:${ip}`;
  if (existing === null) return `v=spf1 ${term} ~all`;
  const terms = existing.trim().split(/\s+/);
  const all = terms.findIndex((x) => /^[+?~-]?all$/i.test(x) || /^redirect=/i.test(x));
  if (all === -1) return [...terms, term].join(' ');
  return [...terms.slice(0, all), term, ...terms.slice(all)].join(' ');
}
