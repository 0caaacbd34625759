/**
 * findings-cache — a small, short-lived cache of identity-check findings
 * shared by all connections, so a client that opens connection after
 * connection with the same identity is judged nearly for free.
 *
 * Key: protocol_state, canonical client address, server_address (what
 * helo_impersonation compares with), HELO as sent (an absent helo_name
 * attribute and an empty one are different keys: helo_missing skips the
 * first and refuses the second), the whole sender as given (not only its
 * domain: SPF's check_host() reads the local part through the %{l} and %{s}
 * macros, RFC 7208 §7.3, and the spf_* findings quote the sender; keyed by
 * domain, mallory@ got alice@'s SPF pass and words from the same address),
 * null-sender flag, SASL flag — every request field the identity checks read
 * (they never read the recipient; checks are pure functions of these, the
 * DNS and the config). A check that starts reading another request field
 * must be added here. One engine = one config, so a reload starts empty.
 * Correctness limits: entries live at most `ttlMs` (default 2 s, well inside
 * any DNS TTL that matters), TEMPFAIL findings are never stored (a DNS
 * hiccup is retried by the next request), and findings are stored per check
 * (an override that turns on one more check runs just that one).
 * Bounded: at most `maxEntries` entries AND `maxBytes` estimated bytes
 * (identity_cache.size / .max_bytes): a finding's reason quotes DNS answers
 * of the client's making, so the count alone does not bound memory (issue 13:
 * 2 MB reasons x 10,000 entries). The oldest entry goes first (insertion
 * order of a Map; with a TTL this short FIFO is as good as LRU). Expired
 * entries are swept from the front (insertion order = expiry order, the TTL
 * being fixed): up to SWEEP_PER_CALL per get() and put(), so they are freed
 * as the traffic goes on, not only when the bound is reached.
 *
 * What can go wrong: nothing throws.
 */
import type { Finding } from '../checks/types.js';

interface Entry {
  readonly expires: number;
  readonly results: (Finding | undefined)[];
  /** estimated bytes kept alive (findingBytes of each stored finding, the key, the entry) */
  bytes: number;
}

/** Expired entries dropped from the front per get()/put() at most (amortised sweep). */
const SWEEP_PER_CALL = 4;

/** What a stored finding keeps alive, roughly (V8, one-byte strings): the object, its reason, its vars. */
function findingBytes(f: Finding): number {
  let n = 72 + f.reason.length;
  if (f.vars !== undefined) for (const k in f.vars) n += 48 + k.length + f.vars[k]!.length;
  return n;
}

export class FindingsCache {
  private readonly map = new Map<string, Entry>();
  private used = 0;
  /**
   * At most the expiry of the front (oldest) entry, Infinity when empty:
   * sweep() returns at once while nothing can have expired. Why: the sweep's
   * Map iterator was an allocation on every get() of the warm path.
   */
  private frontExpires = Infinity;
  hits = 0;
  misses = 0;
  /** entries dropped for the entry or byte bound */
  evictions = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly slots: number,
    private readonly maxBytes = Infinity,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** estimated bytes held (see findingBytes) */
  get bytes(): number {
    return this.used;
  }

  /** Drop expired entries from the front (the oldest), at most `max`. */
  sweep(now: number, max = SWEEP_PER_CALL): number {
    if (now < this.frontExpires) return 0;
    let n = 0;
    for (const [key, e] of this.map) {
      if (n >= max || e.expires > now) {
        this.frontExpires = e.expires;
        return n;
      }
      this.drop(key, e);
      n++;
    }
    this.frontExpires = Infinity;
    return n;
  }

  private drop(key: string, e: Entry): void {
    this.map.delete(key);
    this.used -= e.bytes;
  }

  /** The cached findings by registry index (some may be missing), or undefined. */
  get(key: string, now: number): readonly (Finding | undefined)[] | undefined {
    this.sweep(now);
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.expires <= now) {
      this.drop(key, e);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e.results;
  }

  /** Store the non-tempfail findings of `indexes` from `results`. */
  put(key: string, now: number, results: readonly (Finding | undefined)[], indexes: readonly number[]): void {
    this.sweep(now);
    let e = this.map.get(key);
    if (e === undefined || e.expires <= now) {
      if (e !== undefined) this.drop(key, e);
      if (this.map.size >= this.maxEntries) this.evictOldest();
      e = { expires: now + this.ttlMs, results: new Array<Finding | undefined>(this.slots), bytes: 96 + 2 * key.length + 8 * this.slots };
      this.map.set(key, e);
      if (e.expires < this.frontExpires) this.frontExpires = e.expires;
      this.used += e.bytes;
    }
    for (const i of indexes) {
      const f = results[i];
      if (f === undefined || f.result === 'tempfail') continue;
      const old = e.results[i];
      const delta = findingBytes(f) - (old === undefined ? 0 : findingBytes(old));
      e.results[i] = f;
      e.bytes += delta;
      this.used += delta;
    }
    // The entry just written stays (a single entry over max_bytes is dropped at once).
    while (this.used > this.maxBytes && this.map.size > 0) {
      const first = this.map.keys().next().value as string;
      if (first === key && this.map.size === 1) {
        this.drop(key, e);
        this.evictions++;
        break;
      }
      this.evictOldest();
    }
  }

  private evictOldest(): void {
    for (const [k, old] of this.map) {
      this.drop(k, old);
      this.evictions++;
      return;
    }
  }

  clear(): void {
    this.map.clear();
    this.frontExpires = Infinity;
    this.used = 0;
  }
}

/**
 * Keys made before, by client address (a slice of the key itself, so nothing
 * of a request text is kept alive): a warm client's key is found and checked
 * in place (keyMatches) instead of built again. Why: building it was ~12
 * string pieces and a flattened ~60-char string per request, then a hash of
 * all of it in the cache's Map (357 bytes per warm request, bench/hotpath.mjs
 * --alloc; issue 11 §4); a known key has its hash already. Bounded: at most
 * KEYS_PER_CLIENT keys per address (the oldest replaced) and
 * MAX_INTERNED_CLIENTS addresses (then all are forgotten: a key not found is
 * only built again). Content-defined, so shared by every engine.
 * Only keys of at most MAX_INTERNED_KEY_CHARS chars are kept: these keys are
 * held outside the cache's byte bound (identity_cache.max_bytes), and a
 * client's HELO and sender may each be a whole line (server.max_line_length,
 * 8 KB): 4,096 such keys held 59 MB after the cache had let them go. A
 * longer key is built per request, as before (no real client's is that long).
 */
const interned = new Map<string, string[]>();
const KEYS_PER_CLIENT = 4;
const MAX_INTERNED_CLIENTS = 1024;
/** Longer keys are not kept (header): 4 x 1,024 x 512 chars, at most ~4 MB as two-byte strings. */
const MAX_INTERNED_KEY_CHARS = 512;

/** What the kept keys hold (for tests): addresses and chars of their keys. */
export function internedFootprint(): { addresses: number; chars: number } {
  let chars = 0;
  for (const keys of interned.values()) for (const k of keys) chars += k.length;
  return { addresses: interned.size, chars };
}

const SEP = 0; // the fields' separator in a key: \u0000

/** Does `key` read exactly what identityKey would build from these fields? Compared in place, nothing built. */
function keyMatches(
  key: string, state: string, clientAddress: string, serverAddress: string, helo: string | undefined, sender: string, nullSender: boolean, sasl: boolean,
): boolean {
  let at = state.length;
  if (!key.startsWith(state) || key.charCodeAt(at) !== SEP) return false;
  if (!key.startsWith(clientAddress, at + 1)) return false; // the map's key, but checked here too: no reliance on how the state ends
  at += 1 + clientAddress.length;
  if (key.charCodeAt(at) !== SEP || !key.startsWith(serverAddress, at + 1)) return false;
  at += 1 + serverAddress.length;
  if (key.charCodeAt(at) !== SEP) return false;
  if (helo === undefined) {
    if (key.charCodeAt(at + 1) !== 45) return false; // "-"
    at += 2;
  } else {
    if (key.charCodeAt(at + 1) !== 61 || !key.startsWith(helo, at + 2)) return false; // "="
    at += 2 + helo.length;
  }
  if (key.charCodeAt(at) !== SEP) return false;
  if (key.charCodeAt(at + 1) !== 60 || !key.startsWith(sender, at + 2) || key.charCodeAt(at + 2 + sender.length) !== 62) return false; // "<" ">"
  at += 3 + sender.length;
  return key.length === at + 3 && key.charCodeAt(at) === SEP
    && key.charCodeAt(at + 1) === (nullSender ? 49 : 48) && key.charCodeAt(at + 2) === (sasl ? 49 : 48);
}

/** The cache key of a request (see the header for why these fields). */
export function identityKey(
  state: string, clientAddress: string, serverAddress: string, helo: string | undefined, sender: string, nullSender: boolean, sasl: boolean,
): string {
  const known = interned.get(clientAddress);
  if (known !== undefined) {
    for (let i = 0; i < known.length; i++) {
      const k = known[i]!;
      if (keyMatches(k, state, clientAddress, serverAddress, helo, sender, nullSender, sasl)) return k;
    }
  }
  // the whole sender (its domain and the flags derive from it): SPF reads the local part (header)
  const s = `<${sender}>`;
  // "=" + the HELO when the attribute was sent (even empty), "-" when it was not: never equal
  const h = helo === undefined ? '-' : `=${helo}`;
  const key = `${state}\u0000${clientAddress}\u0000${serverAddress}\u0000${h}\u0000${s}\u0000${nullSender ? 1 : 0}${sasl ? 1 : 0}`;
  if (key.length > MAX_INTERNED_KEY_CHARS) return key;
  if (known !== undefined) {
    if (known.length >= KEYS_PER_CLIENT) known.shift();
    known.push(key);
  } else {
    if (interned.size >= MAX_INTERNED_CLIENTS) interned.clear();
    interned.set(key.slice(state.length + 1, state.length + 1 + clientAddress.length), [key]);
  }
  return key;
}
