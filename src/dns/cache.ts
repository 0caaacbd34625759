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
 * Expiry is lazy: an expired entry is dropped when it is read or when it
 * reaches the tail of the list. That is enough because the size is bounded
 * either way; there is no sweeper timer.
 *
 * What can go wrong: nothing throws. capacity 0 disables the cache (set() is a
 * no-op); ttl <= 0 is not stored.
 */

interface Node<V> {
  readonly ns: number;
  readonly key: string;
  value: V;
  /** epoch ms; the entry is stale when expires <= now */
  expires: number;
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
  /** entries dropped to stay within capacity (for metrics) */
  evictions = 0;

  constructor(capacity: number, namespaces = 1) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.maps = Array.from({ length: namespaces }, () => new Map<string, Node<V>>());
  }

  get size(): number {
    return this.count;
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

  /** Store value for ttlMs from now, replacing any entry for the key; evicts the LRU entry when full. */
  set(ns: number, key: string, value: V, ttlMs: number, now: number): void {
    if (this.capacity === 0 || !(ttlMs > 0)) {
      this.delete(ns, key);
      return;
    }
    const map = this.maps[ns]!;
    const old = map.get(key);
    if (old !== undefined) {
      old.value = value;
      old.expires = now + ttlMs;
      if (old !== this.head) {
        this.unlink(old);
        this.pushFront(old);
      }
      return;
    }
    const node: Node<V> = { ns, key, value, expires: now + ttlMs, prev: null, next: null };
    map.set(key, node);
    this.pushFront(node);
    this.count++;
    while (this.count > this.capacity && this.tail !== null) {
      this.remove(this.tail);
      this.evictions++;
    }
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
    this.head = this.tail = null;
    this.count = 0;
  }

  private remove(node: Node<V>): void {
    this.maps[node.ns]!.delete(node.key);
    this.unlink(node);
    this.count--;
  }

  private unlink(node: Node<V>): void {
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
