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
 *             no verdict (both off or skipped)       -> "Authentication-Results: id; none"
 *             An IPv6 policy.iprev value is quoted (":" is not allowed in
 *             an RFC 2045 token).
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
  readonly format: 'simple' | 'rfc8601';
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

export function compileHeader(h: HeaderConfig, defs: readonly CheckDef[], myNames: readonly string[]): HeaderRenderer | null {
  if (!h.enabled) return null;
  if (h.format === 'rfc8601') {
    const authserv = cleanName(h.authserv_id !== '' ? h.authserv_id : myNames[0] ?? hostname()) || 'localhost';
    const missing = defs.findIndex((d) => d.id === 'rdns_missing');
    const unconfirmed = defs.findIndex((d) => d.id === 'rdns_unconfirmed');
    return {
      render(results, _active, id) {
        const m = missing === -1 ? undefined : results[missing];
        const u = unconfirmed === -1 ? undefined : results[unconfirmed];
        let verdict: string | null = null;
        if (m?.result === 'fail') verdict = 'permerror';
        else if (m?.result === 'tempfail' || u?.result === 'tempfail') verdict = 'temperror';
        else if (u?.result === 'fail') verdict = 'fail';
        else if (u?.result === 'pass') verdict = 'pass';
        if (verdict === null) return `Authentication-Results: ${authserv}; none`;
        const ip = id.client?.family === 6 ? `"${id.clientAddress}"` : cleanName(id.clientAddress);
        const ptr = cleanName(u?.vars?.ptr ?? m?.vars?.ptr ?? '');
        return `Authentication-Results: ${authserv}; iprev=${verdict} policy.iprev=${ip}${ptr !== '' ? ` (${ptr})` : ''}`;
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
