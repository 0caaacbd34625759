/**
 * dns/cache — a bounded LRU with per-entry expiry, for DNS answers.
 *
 * Entries live in one Map per namespace (the resolver uses one namespace per
 * record type) and on ONE recency list shared by all namespaces, so the size
 * bound is global. The list is intrusive (prev/next fields on the entry), so:
 *   - the key is the plain name: no "A:" + name concatenation per lookup (that
 *     would allocate a string and re-hash it on every cache hit);
 *   - a hit moves the entry to the front with a few pointer writes instead of
 *     Map delete + set (which re-hashes and leaves holes that make the Map
 *     rebuild itself now and then).
 * A hit therefore costs one Map lookup, one comparison with `now` and a
 * pointer splice, and allocates nothing.
 *
 * Two bounds, whichever is reached first: `capacity` entries and `maxBytes`
 * bytes. The caller states each entry's size (an estimate of what it keeps
 * alive: src/dns/resolver.ts answerBytes()); an attacker's zone decides how
 * big an answer is, so the entry count alone does not bound memory. An entry
 * bigger than maxBytes is not stored.
 *
 * Expiry: an expired entry is dropped when it is read, when it reaches the
 * tail of the list, and by the sweep: every set() checks the next 2 entries
 * of a cursor that walks the list from the tail towards the head, and
 * sweep(now, max) checks up to `max` more (the resolver calls it on an
 * unref'd timer). So expired entries are freed within about capacity / 2
 * inserts, or one timer round when nothing is inserted.
 *
 * What can go wrong: nothing throws. capacity 0 or maxBytes 0 disables the
 * cache (set() is a no-op); ttl <= 0 is not stored.
 */

interface Node<V> {
  readonly ns: number;
  readonly key: string;
  value: V;
  /** epoch ms; the entry is stale when expires <= now */
  expires: number;
  /** estimated bytes kept alive by this entry (the caller's estimate) */
  bytes: number;
  prev: Node<V> | null; // towards the most recently used end
  next: Node<V> | null; // towards the least recently used end
}

export class TtlLru<V> {
  readonly capacity: number;
  private readonly maps: Array<Map<string, Node<V>>>;
  /** most recently used */
  private head: Node<V> | null = null;
  /** least recently used: evicted first */
  private tail: Node<V> | null = null;
  private count = 0;
  private used = 0;
  /** the sweep's position: the next entry to check, walking towards the head (null: start at the tail) */
  private sweepAt: Node<V> | null = null;
  /** entries dropped to stay within capacity or maxBytes (for metrics) */
  evictions = 0;
  /** expired entries dropped by the sweep (for tests and metrics) */
  swept = 0;

  constructor(capacity: number, namespaces = 1, readonly maxBytes = Infinity) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.maps = Array.from({ length: namespaces }, () => new Map<string, Node<V>>());
  }

  get size(): number {
    return this.count;
  }

  /** Sum of the entries' stated sizes. */
  get bytes(): number {
    return this.used;
  }

  /** The live value, or undefined (absent or expired; an expired entry is removed). */
  get(ns: number, key: string, now: number): V | undefined {
    const node = this.maps[ns]!.get(key);
    if (node === undefined) return undefined;
    if (node.expires <= now) {
      this.remove(node);
      return undefined;
    }
    if (node !== this.head) {
      this.unlink(node);
      this.pushFront(node);
    }
    return node.value;
  }

  /**
   * Store value for ttlMs from now, replacing any entry for the key; evicts
   * least recently used entries until both bounds hold. `bytes`: what the
   * entry keeps alive (default 0: count-bounded only).
   */
  set(ns: number, key: string, value: V, ttlMs: number, now: number, bytes = 0): void {
    if (this.capacity === 0 || !(ttlMs > 0) || !(bytes <= this.maxBytes)) {
      this.delete(ns, key);
      return;
    }
    this.sweep(now, 2);
    const map = this.maps[ns]!;
    let node = map.get(key);
    if (node !== undefined) {
      node.value = value;
      node.expires = now + ttlMs;
      this.used += bytes - node.bytes;
      node.bytes = bytes;
      if (node !== this.head) {
        this.unlink(node);
        this.pushFront(node);
      }
    } else {
      node = { ns, key, value, expires: now + ttlMs, bytes, prev: null, next: null };
      map.set(key, node);
      this.pushFront(node);
      this.count++;
      this.used += bytes;
    }
    while ((this.count > this.capacity || this.used > this.maxBytes) && this.tail !== null && this.tail !== node) {
      this.remove(this.tail);
      this.evictions++;
    }
  }

  /** Drop expired entries among the next `max` the sweep cursor reaches; returns how many were dropped. */
  sweep(now: number, max: number): number {
    let dropped = 0;
    let node = this.sweepAt ?? this.tail;
    // at most one lap: the cursor wraps from the head back to the tail
    const n = Math.min(max, this.count);
    for (let i = 0; i < n && this.count > 0; i++) {
      if (node === null) node = this.tail!;
      const prev: Node<V> | null = node.prev;
      if (node.expires <= now) {
        this.remove(node);
        dropped++;
      }
      node = prev;
    }
    this.sweepAt = node; // null: the next sweep starts again at the tail
    this.swept += dropped;
    return dropped;
  }

  delete(ns: number, key: string): boolean {
    const node = this.maps[ns]!.get(key);
    if (node === undefined) return false;
    this.remove(node);
    return true;
  }

  /** Whether a live entry exists, without touching recency (tests, diagnostics). */
  has(ns: number, key: string, now: number): boolean {
    const node = this.maps[ns]!.get(key);
    return node !== undefined && node.expires > now;
  }

  clear(): void {
    for (const m of this.maps) m.clear();
    this.head = this.tail = this.sweepAt = null;
    this.count = 0;
    this.used = 0;
  }

  private remove(node: Node<V>): void {
    this.maps[node.ns]!.delete(node.key);
    this.unlink(node);
    this.count--;
    this.used -= node.bytes;
  }

  private unlink(node: Node<V>): void {
    if (node === this.sweepAt) this.sweepAt = node.prev; // the cursor never points at a node off the list
    if (node.prev !== null) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
  }

  private pushFront(node: Node<V>): void {
    node.next = this.head;
    if (this.head !== null) this.head.prev = node;
    this.head = node;
    if (this.tail === null) this.tail = node;
  }
}
