/**
 * findings-cache — a small, short-lived cache of identity-check findings
 * shared by all connections, so a client that opens connection after
 * connection with the same identity is judged nearly for free.
 *
 * Key: protocol_state, canonical client address, server_address (what
 * helo_impersonation compares with), HELO as sent, sender domain (the whole
 * sender when it has no domain, since reasons quote it), null-sender flag,
 * SASL flag — every request field the identity checks read (they never read
 * the recipient or a sender's local part; checks are pure functions of these,
 * the DNS and the config). A check that starts reading another request field
 * must be added here. One engine = one config, so a reload starts empty.
 * Correctness limits: entries live at most `ttlMs` (default 2 s, well inside
 * any DNS TTL that matters), TEMPFAIL findings are never stored (a DNS
 * hiccup is retried by the next request), and findings are stored per check
 * (an override that turns on one more check runs just that one).
 * Bounded: at most `maxEntries`; the oldest entry goes first (insertion
 * order of a Map; with a TTL this short FIFO is as good as LRU).
 *
 * What can go wrong: nothing throws.
 */
import type { Finding } from '../checks/types.js';

interface Entry {
  readonly expires: number;
  readonly results: (Finding | undefined)[];
}

export class FindingsCache {
  private readonly map = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly slots: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The cached findings by registry index (some may be missing), or undefined. */
  get(key: string, now: number): readonly (Finding | undefined)[] | undefined {
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.expires <= now) {
      this.map.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e.results;
  }

  /** Store the non-tempfail findings of `indexes` from `results`. */
  put(key: string, now: number, results: readonly (Finding | undefined)[], indexes: readonly number[]): void {
    let e = this.map.get(key);
    if (e === undefined || e.expires <= now) {
      if (e !== undefined) this.map.delete(key);
      if (this.map.size >= this.maxEntries) {
        const oldest = this.map.keys().next();
        if (!oldest.done) this.map.delete(oldest.value);
      }
      e = { expires: now + this.ttlMs, results: new Array<Finding | undefined>(this.slots) };
      this.map.set(key, e);
    }
    for (const i of indexes) {
      const f = results[i];
      if (f !== undefined && f.result !== 'tempfail') e.results[i] = f;
    }
  }

  clear(): void {
    this.map.clear();
  }
}

/** The cache key of a request (see the header for why these fields). */
export function identityKey(
  state: string, clientAddress: string, serverAddress: string, helo: string, senderDomain: string, sender: string, nullSender: boolean, sasl: boolean,
): string {
  const s = senderDomain !== '' ? senderDomain : `<${sender}>`;
  return `${state}\u0000${clientAddress}\u0000${serverAddress}\u0000${helo}\u0000${s}\u0000${nullSender ? 1 : 0}${sasl ? 1 : 0}`;
}
