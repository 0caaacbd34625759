/**
 * header — the result header the engine PREPENDs (header.enabled).
 *
 *   simple:   X-Policy-Identity: helo=pass rdns=fail(rdns_unconfirmed) client=pass sender=skip
 *             one word per check group (worst result of the group's checks
 *             that ran: fail > tempfail > pass > skip), the failing or
 *             tempfailing check ids in parentheses, and score=N when scoring
 *             is configured.
 *   rfc8601:  Authentication-Results: mx.example.net; iprev=pass policy.iprev=203.0.113.5 (mail.example.com)
 *             the iprev method of RFC 8601 §2.7.3, from the rdns checks:
 *               rdns_missing fail (no PTR)           -> permerror
 *               rdns_missing/rdns_unconfirmed tempfail -> temperror
 *               rdns_unconfirmed fail (no FCrDNS)    -> fail
 *               rdns_unconfirmed pass                -> pass
 *             no verdict (both off or skipped)       -> no iprev resinfo
 *             An IPv6 policy.iprev value is quoted (":" is not allowed in
 *             an RFC 2045 token).
 *             Then the spf method of RFC 8601 §2.7.2 from the spf_* checks'
 *             evaluations: "spf=<result> smtp.mailfrom=<sender domain>" and,
 *             when the HELO identity was checked too, "spf=<result>
 *             smtp.helo=<HELO>" (with the null sender the MAIL FROM identity
 *             is the HELO one, RFC 7208 §2.4: reported once, as smtp.helo).
 *             Nothing at all -> "Authentication-Results: id; none".
 *   received-spf: Received-SPF: pass (mx.example.net: domain of example.com designates
 *             192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from="a@example.com";
 *             helo=mail.example.com; receiver=mx.example.net; identity=mailfrom
 *             RFC 7208 §9.1, for the MAIL FROM identity (identity=helo with the
 *             null sender), else the HELO identity; "none" when no SPF check
 *             ran. Kept within the 400 characters of a policy reply: the
 *             comment, then envelope-from, then helo are left out when needed.
 * Values come from check ids (cleaned to [a-z0-9_]), fixed words and DNS names
 * cleaned to [A-Za-z0-9.-], so the line is always a valid header (encodeAction drops a
 * PREPEND that is not).
 *
 * What can go wrong: nothing throws.
 */
import { hostname } from 'node:os';
import type { Identity } from '../net/identity.js';
import type { CheckDef, CheckResult, Finding } from '../checks/types.js';
import { formatScore } from './message.js';

export const HEADER_GROUPS = ['helo', 'rdns', 'client', 'sender'] as const;

const RANK: Record<CheckResult, number> = { skip: 0, pass: 1, tempfail: 2, fail: 3 };

export interface HeaderConfig {
  readonly enabled: boolean;
  readonly name: string;
  readonly format: 'simple' | 'rfc8601' | 'received-spf';
  readonly authserv_id: string;
}

export interface HeaderRenderer {
  /**
   * The header line for the findings of one request. `results` is indexed like
   * the registry; `active` lists the indexes that ran.
   */
  render(results: readonly (Finding | undefined)[], active: readonly number[], id: Identity, score: number | undefined): string;
}

const NOT_NAME = /[^A-Za-z0-9.-]/g;

function cleanName(s: string): string {
  return s.replace(NOT_NAME, '');
}

const NOT_ID = /[^a-z0-9_]/g;

/** The spf_* findings that carry an evaluation: MAIL FROM identity first, then HELO. */
const SPF_MAIL_FROM_IDS = ['spf_mail_from', 'spf_mail_from_softfail', 'spf_mail_from_permerror', 'sender_provider_forgery'];
const SPF_HELO_IDS = ['spf_helo', 'spf_helo_softfail', 'spf_helo_permerror'];
const SPF_RESULTS = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

interface SpfSeen {
  readonly result: string;
  readonly domain: string;
  readonly sender: string;
  readonly identity: 'mailfrom' | 'helo';
}

/** The first finding among `idx` that carries an SPF evaluation (vars.spf). */
function spfSeen(results: readonly (Finding | undefined)[], idx: readonly number[]): SpfSeen | null {
  for (const i of idx) {
    const v = results[i]?.vars;
    if (v === undefined || v.spf === undefined || !SPF_RESULTS.has(v.spf)) continue;
    return { result: v.spf, domain: cleanName(v.spf_domain ?? ''), sender: v.spf_sender ?? '', identity: v.spf_identity === 'helo' ? 'helo' : 'mailfrom' };
  }
  return null;
}

/** RFC 7208 §9.1 comment words (mailauth's and pypolicyd-spf's, naming the domain). */
function spfComment(s: SpfSeen, ip: string): string {
  switch (s.result) {
    case 'pass': return `domain of ${s.domain} designates ${ip} as permitted sender`;
    case 'fail': return `domain of ${s.domain} does not designate ${ip} as permitted sender`;
    case 'softfail': return `domain of transitioning ${s.domain} does not designate ${ip} as permitted sender`;
    case 'neutral': return `${ip} is neither permitted nor denied by domain of ${s.domain}`;
    case 'none': return `${s.domain} does not designate permitted sender hosts`;
    case 'temperror': return `error in processing during lookup of ${s.domain}`;
    default: return `permanent error in processing during lookup of ${s.domain}`;
  }
}

/** A dot-atom value as is, anything else as a quoted-string without quotes, backslashes or controls. */
function atomOrQuoted(v: string): string {
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+$/.test(v) && !v.startsWith('.') && !v.endsWith('.') && !v.includes('..')
    ? v
    : `"${v.replace(/["\\\x00-\x1f\x7f-\uffff]/g, '')}"`;
}

const MAX_HEADER = 400;

function indexesOf(defs: readonly CheckDef[], ids: readonly string[]): number[] {
  const out: number[] = [];
  for (const cid of ids) {
    const i = defs.findIndex((d) => d.id === cid);
    if (i !== -1) out.push(i);
  }
  return out;
}

export function compileHeader(h: HeaderConfig, defs: readonly CheckDef[], myNames: readonly string[]): HeaderRenderer | null {
  if (!h.enabled) return null;
  if (h.format === 'rfc8601') {
    const authserv = cleanName(h.authserv_id !== '' ? h.authserv_id : myNames[0] ?? hostname()) || 'localhost';
    const missing = defs.findIndex((d) => d.id === 'rdns_missing');
    const unconfirmed = defs.findIndex((d) => d.id === 'rdns_unconfirmed');
    const mailFromIdx = indexesOf(defs, SPF_MAIL_FROM_IDS);
    const heloIdx = indexesOf(defs, SPF_HELO_IDS);
    return {
      render(results, _active, id) {
        const m = missing === -1 ? undefined : results[missing];
        const u = unconfirmed === -1 ? undefined : results[unconfirmed];
        let verdict: string | null = null;
        if (m?.result === 'fail') verdict = 'permerror';
        else if (m?.result === 'tempfail' || u?.result === 'tempfail') verdict = 'temperror';
        else if (u?.result === 'fail') verdict = 'fail';
        else if (u?.result === 'pass') verdict = 'pass';
        const parts: string[] = [];
        if (verdict !== null) {
          const ip = id.client?.family === 6 ? `"${id.clientAddress}"` : cleanName(id.clientAddress);
          const ptr = cleanName(u?.vars?.ptr ?? m?.vars?.ptr ?? '');
          parts.push(`iprev=${verdict} policy.iprev=${ip}${ptr !== '' ? ` (${ptr})` : ''}`);
        }
        const mf = spfSeen(results, mailFromIdx);
        const he = spfSeen(results, heloIdx);
        if (mf !== null && mf.identity === 'mailfrom') parts.push(`spf=${mf.result} smtp.mailfrom=${mf.domain}`);
        const helo = he ?? (mf !== null && mf.identity === 'helo' ? mf : null);
        if (helo !== null) parts.push(`spf=${helo.result} smtp.helo=${helo.domain}`);
        return parts.length === 0 ? `Authentication-Results: ${authserv}; none` : `Authentication-Results: ${authserv}; ${parts.join('; ')}`;
      },
    };
  }
  if (h.format === 'received-spf') {
    const receiver = cleanName(h.authserv_id !== '' ? h.authserv_id : myNames[0] ?? hostname()) || 'localhost';
    const mailFromIdx = indexesOf(defs, SPF_MAIL_FROM_IDS);
    const heloIdx = indexesOf(defs, SPF_HELO_IDS);
    return {
      render(results, _active, id) {
        const s = spfSeen(results, mailFromIdx) ?? spfSeen(results, heloIdx);
        const ip = id.client === null ? '' : id.clientAddress;
        if (s === null) return `Received-SPF: none (${receiver}: no SPF check was made)${ip !== '' ? ` client-ip=${ip};` : ''} receiver=${receiver}`;
        const pairs: string[] = [];
        if (ip !== '') pairs.push(`client-ip=${ip};`);
        // RFC 7208 §9.1: envelope-from only when the MAIL FROM identity was checked
        const from = s.identity === 'mailfrom' && s.sender.length <= 254 ? `envelope-from=${atomOrQuoted(s.sender)};` : '';
        const heloPair = id.helo !== '' && id.helo.length <= 253 ? `helo=${atomOrQuoted(id.helo)};` : '';
        const tail = `receiver=${receiver}; identity=${s.identity}`;
        const comment = ` (${receiver}: ${spfComment(s, ip)})`;
        const build = (c: string, f: string, hp: string) => `Received-SPF: ${s.result}${c} ${[...pairs, f, hp, tail].filter((x) => x !== '').join(' ')}`;
        let out = build(comment, from, heloPair);
        if (out.length > MAX_HEADER) out = build('', from, heloPair);
        if (out.length > MAX_HEADER) out = build('', '', heloPair);
        if (out.length > MAX_HEADER) out = build('', '', '');
        return out;
      },
    };
  }
  const name = h.name;
  const groupOf = defs.map((d) => HEADER_GROUPS.indexOf(d.group as (typeof HEADER_GROUPS)[number]));
  return {
    render(results, active, _id, score) {
      const rank = [-1, -1, -1, -1];
      const bad: string[][] = [[], [], [], []];
      for (const i of active) {
        const f = results[i];
        const g = groupOf[i]!;
        if (f === undefined || g === -1) continue;
        const r = RANK[f.result] ?? 0;
        if (r > rank[g]!) rank[g] = r;
        if (r >= RANK.tempfail) bad[g]!.push(f.check.replace(NOT_ID, ''));
      }
      let out = `${name}:`;
      for (let g = 0; g < HEADER_GROUPS.length; g++) {
        if (rank[g] === -1) continue;
        const word = rank[g] === 3 ? 'fail' : rank[g] === 2 ? 'tempfail' : rank[g] === 1 ? 'pass' : 'skip';
        out += ` ${HEADER_GROUPS[g]}=${word}`;
        if (bad[g]!.length > 0) out += `(${bad[g]!.join(',')})`;
      }
      if (score !== undefined) out += ` score=${formatScore(score)}`;
      if (out.length === name.length + 1) out += ' none';
      return out;
    },
  };
}
