/**
 * doctor/report — the outbound view: what Gmail, Outlook/Hotmail, Yahoo and
 * AOL see when this server connects to them.
 *
 * The same checks the daemon runs on its own clients, turned around: a
 * synthetic request (client_address = our IP, helo_name = our HELO, sender =
 * postmaster@our domain) goes through the registry's check functions
 * directly — not the engine, so no allowlist, override or action setting
 * hides anything — with a CheckContext built as the engine builds it (one
 * memo, so every DNS question is asked once). Items group the checks the way
 * an admin thinks about them, each with its fix (doctor/fixes.ts).
 *
 * Item status: fail if a check failed; else tempfail if one failed
 * temporarily (DNS trouble: run again); else "skip" if nothing could be
 * judged (e.g. FCrDNS without a PTR); else pass. The report is ok only when
 * every item passes.
 *
 * What can go wrong: nothing throws; DNS outages show as tempfail items.
 */
import { CHECKS } from '../checks/index.js';
import { heloForm } from '../checks/lib/hostname.js';
import { fcrdnsOrSkip } from '../checks/lib/fcrdns.js';
import { isFinding } from '../checks/lib/format.js';
import { identityOf } from '../net/identity.js';
import { toPolicyRequest } from '../protocol/request.js';
import type { Config } from '../config/types.js';
import type { CheckContext, CheckDef, CheckResult, Finding } from '../checks/types.js';
import type { DnsLookup } from '../dns/types.js';
import { fixFor, smarthostLines, type FixFacts } from './fixes.js';

export type ItemStatus = 'pass' | 'fail' | 'tempfail' | 'skip';

interface ItemDef {
  readonly id: string;
  readonly title: (f: FixFacts) => string;
  readonly checks: readonly string[];
  /** the PTR itself is the problem: the smarthost way around applies */
  readonly ptrProblem?: boolean;
}

const ITEMS: readonly ItemDef[] = [
  { id: 'ip_public', title: (f) => `${f.ip} is a public address`, checks: ['client_private'], ptrProblem: true },
  { id: 'ptr', title: (f) => `${f.ip} has a PTR (reverse DNS) name`, checks: ['rdns_missing'], ptrProblem: true },
  { id: 'fcrdns', title: () => 'the PTR name resolves back to the IP (FCrDNS)', checks: ['rdns_unconfirmed'], ptrProblem: true },
  { id: 'ptr_generic', title: () => 'the PTR name is not a dynamic/residential pool name', checks: ['rdns_generic'], ptrProblem: true },
  { id: 'helo_fqdn', title: (f) => `HELO ${f.helo} is a fully-qualified host name`, checks: ['helo_invalid', 'helo_not_fqdn'] },
  { id: 'helo_public', title: (f) => `HELO ${f.helo} is not an internal name or address`, checks: ['helo_private'] },
  { id: 'helo_resolves', title: (f) => `HELO ${f.helo} resolves to ${f.ip}`, checks: ['helo_unknown', 'helo_mismatch'] },
  { id: 'ptr_helo', title: () => 'the PTR name and the HELO agree (same name or same domain)', checks: ['rdns_helo_mismatch'] },
  { id: 'sender_mx', title: (f) => `sender domain ${f.domain} has MX records (not a null MX) with public addresses`, checks: ['sender_domain_unknown', 'sender_null_mx', 'sender_mx_required', 'sender_mx_bogus'] },
];

export interface ItemReport {
  readonly id: string;
  readonly title: string;
  readonly status: ItemStatus;
  readonly findings: readonly Finding[];
  readonly fix: readonly string[];
}

export interface DoctorReport {
  readonly ip: string;
  readonly helo: string;
  readonly domain: string;
  readonly ok: boolean;
  readonly items: readonly ItemReport[];
  /** relaying through a smarthost, when the PTR side cannot be fixed here */
  readonly smarthost: readonly string[] | null;
}

export interface DoctorInput {
  ip: string;
  helo: string;
  domain: string;
}

const BY_ID = new Map<string, CheckDef>(CHECKS.map((c) => [c.id, c]));

function statusOf(results: readonly CheckResult[]): ItemStatus {
  if (results.includes('fail')) return 'fail';
  if (results.includes('tempfail')) return 'tempfail';
  if (results.every((r) => r === 'skip')) return 'skip';
  return 'pass';
}

/** Run the outbound checks against `dns` (a DnsLookup: the caching resolver, or a test fake). */
export async function runDoctor(input: DoctorInput, config: Config, dns: DnsLookup): Promise<DoctorReport> {
  const req = toPolicyRequest({
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    client_address: input.ip,
    helo_name: input.helo,
    sender: `postmaster@${input.domain}`,
  });
  const ctx: CheckContext = { req, id: identityOf(req), dns, config, memo: new Map() };

  const needed = new Set(ITEMS.flatMap((i) => i.checks));
  const findings = new Map<string, Finding>();
  await Promise.all(
    [...needed].map(async (id) => {
      const def = BY_ID.get(id);
      if (def === undefined) throw new Error(`doctor: check ${id} is not in the registry`);
      findings.set(id, await def.run(ctx));
    }),
  );

  // facts for the fix texts, from the same memo (no new queries)
  const fc = await fcrdnsOrSkip(ctx, 'doctor');
  const facts: FixFacts = {
    ip: ctx.id.clientAddress,
    helo: ctx.id.helo || input.helo,
    domain: ctx.id.senderDomain || input.domain,
    ptrNames: isFinding(fc) ? [] : fc.ptr.records.map((n) => n.toLowerCase().replace(/\.$/, '')),
    confirmed: isFinding(fc) ? [] : fc.confirmed,
  };

  const items: ItemReport[] = ITEMS.map((def) => {
    const fs = def.checks.map((c) => findings.get(c)!);
    let status = statusOf(fs.map((f) => f.result));
    const extra: Finding[] = [];
    if (def.id === 'helo_fqdn') {
      // an address literal may be fine for a small peer, not for the big mailhosts
      const h = heloForm(req, ctx.id);
      if (h.kind === 'literal') {
        status = 'fail';
        extra.push({ check: 'doctor', result: 'fail', reason: `HELO ${h.name} is an address literal; big mailhosts expect a host name` });
      }
    }
    return {
      id: def.id,
      title: def.title(facts),
      status,
      findings: [...fs, ...extra],
      fix: status === 'fail' || status === 'tempfail' ? (status === 'tempfail' ? ['A DNS lookup failed temporarily; run doctor again. If it persists, check the DNS servers (--dns).'] : fixFor(def.id, facts)) : [],
    };
  });
  const ptrTrouble = items.some((i) => i.status === 'fail' && ITEMS.find((d) => d.id === i.id)?.ptrProblem === true);
  return {
    ip: facts.ip,
    helo: facts.helo,
    domain: facts.domain,
    ok: items.every((i) => i.status === 'pass'),
    items,
    smarthost: ptrTrouble ? smarthostLines() : null,
  };
}
