/**
 * checks/lib/providers — which big mailhost, if any, a sender domain belongs to.
 *
 * The `providers:` table (config/providers.ts has the defaults) maps a sender
 * domain, or `name.*` (that name under ANY public suffix of the ICANN list:
 * yahoo.* = yahoo.com, yahoo.co.uk, yahoo.de ...), to the domains under which
 * that provider's outbound servers have their forward-confirmed PTR names.
 * Keys match the whole sender domain: user@eu.gmail.com is not gmail.com.
 * Lab TLDs unknown to the Public Suffix List (.test, .example) are no public
 * suffix, so yahoo.test does not match yahoo.*.
 *
 * What can go wrong: nothing throws. The table is indexed once per config
 * object (WeakMap), not per request (hot path: one Map lookup per request).
 */
import { domainParts } from './domain.js';

export interface ProviderMatch {
  /** the table key that matched, e.g. "yahoo.*" */
  readonly key: string;
  /** the provider's PTR domains */
  readonly domains: readonly string[];
}

interface ProviderIndex {
  readonly exact: Map<string, ProviderMatch>;
  readonly wildcard: Map<string, ProviderMatch>;
}

const indexes = new WeakMap<object, ProviderIndex>();

function indexOf(table: Readonly<Record<string, readonly string[]>>): ProviderIndex {
  let idx = indexes.get(table);
  if (idx !== undefined) return idx;
  idx = { exact: new Map(), wildcard: new Map() };
  for (const [rawKey, domains] of Object.entries(table)) {
    const key = rawKey.toLowerCase();
    const norm = domains.map((d) => d.toLowerCase().replace(/^\*?\./, '').replace(/\.$/, ''));
    if (key.endsWith('.*')) idx.wildcard.set(key.slice(0, -2), { key, domains: norm });
    else idx.exact.set(key.replace(/\.$/, ''), { key, domains: norm });
  }
  indexes.set(table, idx);
  return idx;
}

export function matchProvider(table: Readonly<Record<string, readonly string[]>>, senderDomain: string): ProviderMatch | null {
  const idx = indexOf(table);
  const exact = idx.exact.get(senderDomain);
  if (exact !== undefined) return exact;
  if (idx.wildcard.size === 0) return null;
  const parts = domainParts(senderDomain);
  // name.* : the sender domain must be exactly <name>.<public suffix>
  if (!parts.icann || parts.registered !== senderDomain) return null;
  return idx.wildcard.get(parts.label) ?? null;
}
