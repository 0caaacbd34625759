/**
 * limits/memory — the in-process backend: a bounded LRU map of counters.
 *
 * Keys are "<rule id>\0<key>": a GCRA key holds a small number array
 * [expiry, q0, r0, q1, r1, ...], a distinct key a DistinctEntry.
 * The bound is a two-generation LRU: written keys go to the young Map; when
 * it holds max_keys/2 keys the old generation is dropped whole and the young
 * one becomes old; a key written while old moves back to young. So at most
 * max_keys keys are held and the max_keys/2 most recently written always
 * are. (Why not one Map used as a queue, deleting its first key: V8 leaves a
 * hole per deleted entry until the next rehash and `keys().next()` walks
 * them, which measured 17 us per insert at 50,000 keys; this is O(1).)
 * A sweep, at most SWEEP_BATCH keys per tick, drops keys whose windows have
 * drained, so dead keys do not wait for the bound to push them out.
 * Peeks (count: accepted checks at RCPT) never insert: a flood of one-off
 * clients that are refused early costs no memory.
 *
 * What can go wrong: nothing; an evicted key restarts from zero (the bound is
 * what an admin trades for memory: size it above the number of active keys).
 * Counters are per process: cluster mode needs Redis (config.crossCheck).
 */
import { gcraApply, gcraExpiry, distinctApply, PEEK, type Mode, type Verdict } from './algorithm.js';
import { MAX_WINDOWS } from './config.js';
import type { Backend, BackendRule } from './backend.js';

const SWEEP_INTERVAL_MS = 1000;
const SWEEP_BATCH = 10_000;

class DistinctEntry {
  constructor(public exp: number, readonly seen: Map<string, number>) {}
}
type Entry = number[] | DistinctEntry;

export class MemoryBackend implements Backend {
  readonly kind = 'memory' as const;
  private young = new Map<string, Entry>();
  private old = new Map<string, Entry>();
  private readonly half: number;
  // scratch for gcraApply's next state: reused, no allocation per event
  private readonly next: number[] = new Array<number>(2 * MAX_WINDOWS).fill(0);
  private readonly zeros: number[] = new Array<number>(1 + 2 * MAX_WINDOWS).fill(0);
  private sweepIter: IterableIterator<[string, Entry]> | null = null;
  private sweepMap: Map<string, Entry> | null = null;
  private readonly timer: NodeJS.Timeout | null;

  constructor(maxKeys: number, opts: { sweep?: boolean } = {}) {
    this.half = Math.max(1, Math.floor(maxKeys / 2));
    this.timer = opts.sweep === false ? null : setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.timer?.unref();
  }

  gcra(rule: BackendRule, key: string, cost: number, mode: Mode, now: number): Verdict {
    const k = `${rule.id}\0${key}`;
    const found = (this.young.get(k) ?? this.old.get(k)) as number[] | undefined;
    if (found === undefined && mode === PEEK) {
      this.zeros.fill(0);
      return gcraApply(this.zeros, 1, rule.windows, cost, mode, now, this.next);
    }
    const s = found ?? new Array<number>(1 + 2 * rule.windows.length).fill(0);
    const v = gcraApply(s, 1, rule.windows, cost, mode, now, this.next);
    if (mode !== PEEK) {
      s[0] = gcraExpiry(s, 1, rule.windows);
      this.touch(k, s);
    }
    return v;
  }

  distinct(rule: BackendRule, key: string, value: string, mode: Mode, now: number): Verdict {
    const k = `${rule.id}\0${key}`;
    let e = (this.young.get(k) ?? this.old.get(k)) as DistinctEntry | undefined;
    if (e === undefined) {
      if (mode === PEEK) return distinctApply(new Map(), value, rule.windows, mode, now, 1);
      e = new DistinctEntry(0, new Map());
    }
    let keep = 0;
    let longest = 0;
    for (const w of rule.windows) { if (w.max + 1 > keep) keep = w.max + 1; if (w.ms > longest) longest = w.ms; }
    const v = distinctApply(e.seen, value, rule.windows, mode, now, keep);
    if (mode !== PEEK) {
      e.exp = now + longest;
      this.touch(k, e);
    }
    return v;
  }

  /** A written key belongs to the young generation; rotate when it is full. */
  private touch(k: string, e: Entry): void {
    if (this.young.has(k)) return; // entries are updated in place
    this.old.delete(k);
    this.young.set(k, e);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  /**
   * Drop drained keys, at most SWEEP_BATCH per call, resuming where the last
   * call stopped (old generation first, then young).
   */
  sweep(now: number): number {
    let dropped = 0;
    for (let i = 0; i < SWEEP_BATCH; i++) {
      if (this.sweepIter === null) {
        // next generation to walk: old, then young, then stop until the next call
        this.sweepMap = this.sweepMap === null ? this.old : this.sweepMap === this.old ? this.young : null;
        if (this.sweepMap === null) break;
        this.sweepIter = this.sweepMap.entries();
      }
      const n = this.sweepIter.next();
      if (n.done) { this.sweepIter = null; continue; }
      const [k, e] = n.value;
      const exp = Array.isArray(e) ? e[0]! : e.exp;
      if (exp <= now) { this.sweepMap!.delete(k); dropped++; }
    }
    return dropped;
  }

  up(): boolean { return true; }
  ready(): Promise<boolean> { return Promise.resolve(true); }
  size(): number { return this.young.size + this.old.size; }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.young.clear();
    this.old.clear();
    this.sweepIter = null;
    this.sweepMap = null;
    return Promise.resolve();
  }
}
