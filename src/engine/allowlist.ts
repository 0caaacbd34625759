/**
 * allowlist — `allow:` compiled once into matchers, and domain-list matchers
 * shared with overrides.
 *
 * A request is allowlisted (identity checks skipped, DUNNO — or OK only with
 * allow.action: ok) when, tested in this order:
 *   allow.clients        the canonical client address is in one of the CIDRs
 *   allow.sasl           true and the client authenticated (sasl_username set)
 *   allow.helo           the normalised HELO equals an entry, or is a
 *                        subdomain of a "*.example.com" / ".example.com" entry
 *   allow.sender_domains the sender domain is an entry or a subdomain of one
 * allow.helo and allow.sender_domains are claims the client makes: anyone can
 * say "HELO mail.example.com". Prefer allow.clients.
 *
 * What can go wrong: nothing throws; entries that are not names never match.
 */
import type { CidrSet } from '../net/ip.js';
import type { Identity } from '../net/identity.js';
import type { PolicyRequest } from '../protocol/request.js';

/**
 * A set of domains matching each name and its subdomains ("example.com"
 * matches example.com and mx.eu.example.com, never badexample.com).
 */
export class DomainSet {
  private readonly names: Set<string>;
  /** label counts of the entries (a suffix of another length cannot match) */
  private readonly labelCounts = new Set<number>();
  /** longest entry, characters (a longer suffix cannot match) */
  private readonly maxLen: number;
  constructor(domains: readonly string[]) {
    this.names = new Set(domains.map((d) => d.toLowerCase().replace(/^\*?\./, '').replace(/\.$/, '')).filter((d) => d !== ''));
    let maxLen = 0;
    for (const d of this.names) {
      this.labelCounts.add(d.split('.').length);
      if (d.length > maxLen) maxLen = d.length;
    }
    this.maxLen = maxLen;
  }

  get size(): number {
    return this.names.size;
  }

  /**
   * `name` must be normalised (lower case, no trailing dot), as Identity has it.
   * Linear in the name (issue 13: the walk sliced and hashed every suffix, so an
   * 8 KB sender domain of 4,000 labels cost 48 ms): the suffixes are walked
   * from the right, only as long as they are no longer than the longest
   * entry, and only those with an entry's label count are sliced and looked up.
   */
  has(name: string): boolean {
    if (name === '' || this.names.size === 0) return false;
    if (this.names.has(name)) return true;
    let labels = 0;
    for (let dot = name.lastIndexOf('.'); dot !== -1; dot = dot === 0 ? -1 : name.lastIndexOf('.', dot - 1)) {
      labels++;
      if (name.length - dot - 1 > this.maxLen) return false;
      if (this.labelCounts.has(labels) && this.names.has(name.slice(dot + 1))) return true;
    }
    return false;
  }
}

/** HELO names: exact entries, and "*.suffix" / ".suffix" entries matching subdomains only. */
export class HeloList {
  private readonly exact = new Set<string>();
  private readonly suffixes: DomainSet;
  constructor(entries: readonly string[]) {
    const sub: string[] = [];
    for (const raw of entries) {
      const e = raw.toLowerCase().replace(/\.$/, '');
      if (e.startsWith('*.')) sub.push(e.slice(2));
      else if (e.startsWith('.')) sub.push(e.slice(1));
      else if (e !== '') this.exact.add(e);
    }
    this.suffixes = new DomainSet(sub);
  }

  has(helo: string): boolean {
    if (helo === '') return false;
    if (this.exact.has(helo)) return true;
    const dot = helo.indexOf('.');
    return dot !== -1 && this.suffixes.has(helo.slice(dot + 1));
  }
}

export type AllowlistName = 'allow.clients' | 'allow.sasl' | 'allow.helo' | 'allow.sender_domains';

export interface AllowConfig {
  readonly clients: CidrSet;
  readonly helo: readonly string[];
  readonly sender_domains: readonly string[];
  readonly sasl: boolean;
}

export interface Allowlist {
  /** which list allowlists the request, or null */
  match(req: PolicyRequest, id: Identity): AllowlistName | null;
}

export function compileAllowlist(allow: AllowConfig): Allowlist {
  const clients = allow.clients.size > 0 ? allow.clients : null;
  const helo = allow.helo.length > 0 ? new HeloList(allow.helo) : null;
  const senders = allow.sender_domains.length > 0 ? new DomainSet(allow.sender_domains) : null;
  const sasl = allow.sasl;
  return {
    match(req, id) {
      if (clients !== null && id.client !== null && clients.hasParsed(id.client)) return 'allow.clients';
      if (sasl && req.sasl_username !== '') return 'allow.sasl';
      if (helo !== null && helo.has(id.helo)) return 'allow.helo';
      if (senders !== null && !id.nullSender && senders.has(id.senderDomain)) return 'allow.sender_domains';
      return null;
    },
  };
}
