/**
 * checks/lib/providers — is a sender domain one of the big mailbox
 * providers' (`providers:` list, defaults in config/providers.ts)?
 *
 * Exact names only: user@eu.gmail.com is not gmail.com, yahoo.co.jp is not
 * yahoo.com. The list is turned into a Set once per config object (WeakMap),
 * not per request (hot path: one Set lookup per request).
 *
 * What can go wrong: nothing throws.
 */
const sets = new WeakMap<readonly string[], ReadonlySet<string>>();

export function isProviderDomain(list: readonly string[], senderDomain: string): boolean {
  let s = sets.get(list);
  if (s === undefined) {
    s = new Set(list.map((d) => d.toLowerCase().replace(/\.$/, '')));
    sets.set(list, s);
  }
  return s.has(senderDomain);
}
