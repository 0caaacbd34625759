/**
 * checks/lib/addresses — judge the addresses a name resolves to: global or internal.
 *
 * "Internal" = not globally reachable per the IANA special-purpose registries
 * (src/net/special.ts), unless listed in identity.public_networks (a lab or
 * test network declared public). Used by client_private, helo_private and
 * sender_mx_bogus, so all three agree on what "internal" means.
 *
 * Bounded: an answer holds at most MAX_RECORDS (32) records (the resolver
 * drops and counts the rest), so a verdict looks at 64 addresses at most;
 * reasons name a few of them (format.ts few()).
 *
 * What can go wrong: records that do not parse as addresses (a broken
 * resolver) are ignored, never counted as global.
 */
import { parseIp, type ParsedIp } from '../../net/ip.js';
import { classifyIp, describeIpClass, type IpClass } from '../../net/special.js';
import type { DnsAnswer } from '../../dns/types.js';
import type { CheckContext } from '../types.js';
import type { AddressAnswers } from './lookup.js';

export function classify(ctx: CheckContext, ip: ParsedIp): IpClass {
  return classifyIp(ip, ctx.settings.identity.public_networks);
}

export interface AddressVerdict {
  /** globally reachable addresses found (canonical text) */
  readonly global: readonly string[];
  /** internal addresses found, each described ("10.0.0.1 is private-use (10.0.0.0/8, RFC 1918)") */
  readonly internal: readonly string[];
  /** the A or the AAAA lookup failed temporarily */
  readonly tempfail: boolean;
  /** records beyond the resolver's MAX_RECORDS per answer, not judged (src/dns/resolver.ts) */
  readonly omitted: number;
}

export function judgeAddresses(ctx: CheckContext, answers: AddressAnswers): AddressVerdict {
  const global: string[] = [];
  const internal: string[] = [];
  for (const ans of [answers.a, answers.aaaa]) {
    if (ans === null || ans.status !== 'ok') continue;
    for (const rec of ans.records) {
      const ip = parseIp(rec);
      if (ip === null) continue;
      const c = classify(ctx, ip);
      if (c.global) global.push(ip.text);
      else internal.push(describeIpClass(ip.text, c));
    }
  }
  return {
    global, internal, tempfail: answers.a?.status === 'tempfail' || answers.aaaa?.status === 'tempfail',
    omitted: (answers.a?.omitted ?? 0) + (answers.aaaa?.omitted ?? 0),
  };
}

/**
 * lookupAddresses()'s `settles` for "has the name a global address": an answer
 * with one settles it (the other family could only add more global ones).
 */
export function hasGlobalAddress(ctx: CheckContext): (first: DnsAnswer<string>) => boolean {
  return (first) => {
    if (first.status !== 'ok') return false;
    for (const rec of first.records) {
      const ip = parseIp(rec);
      if (ip !== null && classify(ctx, ip).global) return true;
    }
    return false;
  };
}

/** Does an A/AAAA answer list the address `ip`? (canonical comparison, IPv4-mapped aware) */
export function answerHas(records: readonly string[], ip: ParsedIp): boolean {
  for (const rec of records) {
    if (rec === ip.text) return true; // records are canonical already: the cheap test first
    const p = parseIp(rec);
    if (p !== null && p.family === ip.family && p.value === ip.value) return true;
  }
  return false;
}
