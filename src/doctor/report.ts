/**
 * doctor/report — the outbound view: what Gmail, Yahoo and Microsoft
 * (Outlook/Hotmail) check when this server sends to them, as far as it can
 * be seen from outside.
 *
 * The daemon's own checks, turned around: a synthetic request (client_address
 * = our IP, helo_name = our HELO, sender = postmaster@our domain) goes through
 * the registry's check functions directly — not the engine, so no allowlist,
 * override or action setting hides anything — with a CheckContext built as
 * the engine builds it (one memo, so every DNS question is asked once). Then
 * the sender-authentication records (doctor/authentication.ts): SPF pass for
 * the IP, DMARC and its policy, the DKIM key at a selector. Items group the
 * checks the way an admin thinks about them, each with its exact fix
 * (doctor/fixes.ts) and the zone-file records to publish.
 *
 * What the providers publish as requirements (the sources, docs/doctor.md):
 * Google "Email sender guidelines", Yahoo "Sender Best Practices", Microsoft
 * "Outlook.com requirements for high-volume senders" (2025): valid forward-
 * confirmed reverse DNS, SPF, DKIM, DMARC (p=none at least, for bulk), TLS,
 * one-click unsubscribe and a low spam rate for bulk senders. What cannot be
 * checked from outside (TLS on the sending side, DKIM signing itself, DMARC
 * alignment of the From: header, unsubscribe headers, complaint rates) is
 * listed in not_checked, never counted as a pass.
 *
 * Item status: fail if a check failed; else tempfail if one failed
 * temporarily (DNS trouble: run again); else "skip" if nothing could be
 * judged (e.g. FCrDNS without a PTR, DKIM without a selector); else pass.
 * The report is ok when no item fails or tempfails ("skip" items do not
 * count against it: they say what was not looked at).
 *
 * JSON shape (stable, docs/doctor.md): version, ip, helo, domain,
 * dkim_selector, ok, items[{id, title, status, required_by, findings[{check,
 * result, reason}], fix[], records[]}], dmarc_policy, smarthost (null or
 * {relay, all_mail, per_destination, text}), not_checked[{id, text}].
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
import { fixFor, recordsFor, type FixFacts } from './fixes.js';
import { checkDkim, checkDmarc, checkSpf, spfRecordFor } from './authentication.js';
import { smarthostAdvice, DEFAULT_RELAY, type SmarthostAdvice } from './smarthost.js';

export type ItemStatus = 'pass' | 'fail' | 'tempfail' | 'skip';

export type Provider = 'gmail' | 'yahoo' | 'microsoft';
const ALL: readonly Provider[] = ['gmail', 'yahoo', 'microsoft'];

interface ItemDef {
  readonly id: string;
  readonly title: (f: FixFacts) => string;
  /** registry checks judged for this item (empty for the authentication items) */
  readonly checks: readonly string[];
  /** whose published requirements include it */
  readonly requiredBy: readonly Provider[];
  /** the PTR itself is the problem: the smarthost way around applies */
  readonly ptrProblem?: boolean;
}

const ITEMS: readonly ItemDef[] = [
  { id: 'ip_public', title: (f) => `${f.ip} is a public address`, checks: ['client_private'], requiredBy: ALL, ptrProblem: true },
  { id: 'ptr', title: (f) => `${f.ip} has a PTR (reverse DNS) name`, checks: ['rdns_missing'], requiredBy: ALL, ptrProblem: true },
  { id: 'fcrdns', title: () => 'the PTR name resolves back to the IP (FCrDNS)', checks: ['rdns_unconfirmed'], requiredBy: ALL, ptrProblem: true },
  { id: 'ptr_generic', title: () => 'the PTR name is not a dynamic/residential pool name', checks: ['rdns_generic'], requiredBy: ['gmail', 'yahoo'], ptrProblem: true },
  { id: 'helo_fqdn', title: (f) => `HELO ${f.helo} is a fully-qualified host name`, checks: ['helo_invalid', 'helo_not_fqdn'], requiredBy: ALL },
  { id: 'helo_public', title: (f) => `HELO ${f.helo} is not an internal name or address`, checks: ['helo_private'], requiredBy: ALL },
  { id: 'helo_resolves', title: (f) => `HELO ${f.helo} resolves to ${f.ip}`, checks: ['helo_unknown', 'helo_mismatch'], requiredBy: ALL },
  { id: 'ptr_helo', title: () => 'the PTR name and the HELO agree (same name or same domain)', checks: ['rdns_helo_mismatch'], requiredBy: ['gmail'] },
  { id: 'spf', title: (f) => `${f.domain} has an SPF record that gives pass for ${f.ip}`, checks: [], requiredBy: ALL },
  { id: 'dmarc', title: (f) => `${f.domain} has a DMARC record`, checks: [], requiredBy: ALL },
  { id: 'dkim', title: (f) => f.dkimSelector === null ? 'DKIM key (no selector given)' : `${f.domain} publishes the DKIM key at selector ${f.dkimSelector}`, checks: [], requiredBy: ALL },
  { id: 'sender_mx', title: (f) => `sender domain ${f.domain} has MX records (not a null MX) with public addresses`, checks: ['sender_domain_unknown', 'sender_null_mx', 'sender_mx_required', 'sender_mx_bogus'], requiredBy: ALL },
];

/** What no outside look can tell, said plainly (never counted as a pass). */
export const NOT_CHECKED: ReadonlyArray<{ readonly id: string; readonly text: string }> = [
  { id: 'tls', text: 'TLS: whether your server uses STARTTLS when sending (Postfix: smtp_tls_security_level = may, the default on Debian) is seen only by the receiving side.' },
  { id: 'dkim_signing', text: 'DKIM signing: a published key does not mean your mail is signed with it; look for dkim=pass in the Authentication-Results of a message you sent to a Gmail or Outlook.com address.' },
  { id: 'dmarc_alignment', text: 'DMARC alignment: the From: domain must match the SPF (MAIL FROM) or DKIM (d=) domain; only a received message shows it.' },
  { id: 'unsubscribe', text: 'Bulk mail (Gmail, Yahoo: over 5,000 a day): one-click unsubscribe headers (RFC 8058) in every marketing message.' },
  { id: 'spam_rate', text: 'Spam complaint rate below 0.3 % (Gmail Postmaster Tools, Yahoo Sender Hub, Microsoft SNDS show it).' },
];

export interface ItemFinding {
  readonly check: string;
  readonly result: CheckResult;
  readonly reason: string;
}

export interface ItemReport {
  readonly id: string;
  readonly title: string;
  readonly status: ItemStatus;
  readonly required_by: readonly Provider[];
  readonly findings: readonly ItemFinding[];
  /** what to do, in words with the exact lines */
  readonly fix: readonly string[];
  /** the zone-file records to publish (a subset of fix, for scripts) */
  readonly records: readonly string[];
}

export interface DoctorReport {
  /** shape version; bumped only when a field changes meaning or goes away */
  readonly version: 1;
  readonly ip: string;
  readonly helo: string;
  readonly domain: string;
  readonly dkim_selector: string | null;
  readonly ok: boolean;
  readonly items: readonly ItemReport[];
  /** p= of the DMARC record, null without one */
  readonly dmarc_policy: string | null;
  /** relaying through a smarthost, when the PTR side cannot be fixed here */
  readonly smarthost: SmarthostAdvice | null;
  readonly not_checked: ReadonlyArray<{ readonly id: string; readonly text: string }>;
}

export interface DoctorInput {
  ip: string;
  helo: string;
  domain: string;
  dkimSelector?: string | null;
  /** the smarthost to put in the Postfix lines (HOST[:PORT]) */
  relay?: string | null;
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
  const ctx: CheckContext = { req, id: identityOf(req), dns, settings: config, memo: new Map() };

  const needed = new Set(ITEMS.flatMap((i) => i.checks));
  const findings = new Map<string, Finding>();
  await Promise.all(
    [...needed].map(async (id) => {
      const def = BY_ID.get(id);
      if (def === undefined) throw new Error(`doctor: check ${id} is not in the registry`);
      findings.set(id, await def.run(ctx));
    }),
  );

  const [spf, dmarc, dkim] = await Promise.all([
    checkSpf(ctx),
    checkDmarc(ctx, ctx.id.senderDomain || input.domain),
    checkDkim(ctx, ctx.id.senderDomain || input.domain, input.dkimSelector ?? null),
  ]);

  // facts for the fix texts, from the same memo (no new queries)
  const fc = await fcrdnsOrSkip(ctx, 'doctor');
  const family: 4 | 6 = ctx.id.client?.family ?? 4;
  const facts: FixFacts = {
    ip: ctx.id.clientAddress,
    family,
    helo: ctx.id.helo || input.helo,
    domain: ctx.id.senderDomain || input.domain,
    ptrNames: isFinding(fc) ? [] : fc.ptr.records.map((n) => n.toLowerCase().replace(/\.$/, '')),
    confirmed: isFinding(fc) ? [] : fc.confirmed,
    spfExisting: spf.record,
    spfRecord: spfRecordFor(ctx.id.clientAddress, family, spf.record),
    dkimSelector: input.dkimSelector ?? null,
  };
  const auth: Record<string, { status: ItemStatus; reason: string }> = { spf, dmarc, dkim };

  const items: ItemReport[] = ITEMS.map((def) => {
    const fs: ItemFinding[] = def.checks.map((c) => {
      const f = findings.get(c)!;
      return { check: f.check, result: f.result, reason: f.reason };
    });
    let status = def.checks.length > 0 ? statusOf(fs.map((f) => f.result)) : auth[def.id]!.status;
    if (def.checks.length === 0) fs.push({ check: def.id, result: status, reason: auth[def.id]!.reason });
    if (def.id === 'helo_fqdn') {
      // an address literal may be fine for a small peer, not for the big mailhosts
      const h = heloForm(req, ctx.id);
      if (h.kind === 'literal') {
        status = 'fail';
        fs.push({ check: 'doctor', result: 'fail', reason: `HELO ${h.name} is an address literal; big mailhosts expect a host name` });
      }
    }
    const failed = status === 'fail';
    return {
      id: def.id,
      title: def.title(facts),
      status,
      required_by: def.requiredBy,
      findings: fs,
      fix: status === 'tempfail' ? ['A DNS lookup failed temporarily; run doctor again. If it persists, check the DNS servers (--dns).'] : failed ? fixFor(def.id, facts) : [],
      records: failed ? recordsFor(def.id, facts) : [],
    };
  });
  const ptrTrouble = items.some((i) => i.status === 'fail' && ITEMS.find((d) => d.id === i.id)?.ptrProblem === true);
  return {
    version: 1,
    ip: facts.ip,
    helo: facts.helo,
    domain: facts.domain,
    dkim_selector: facts.dkimSelector,
    ok: items.every((i) => i.status === 'pass' || i.status === 'skip'),
    items,
    dmarc_policy: dmarc.policy,
    smarthost: ptrTrouble ? smarthostAdvice(input.relay ?? DEFAULT_RELAY) : null,
    not_checked: NOT_CHECKED,
  };
}
