/**
 * limits/backend — where counters live: the interface the limiter uses, the
 * same for the in-process memory backend and the shared Redis/Valkey one.
 *
 * A backend applies one event of one rule to one key, over all the rule's
 * windows at once (atomically in Redis), and answers a Verdict. The memory
 * backend answers synchronously; Redis returns a promise that REJECTS on any
 * backend trouble (down, timeout, script error) — the limiter turns that into
 * the rule's on_backend_failure, so a backend never decides on its own.
 *
 * What can go wrong: nothing here (an interface). A Redis backend's promise
 * rejects on any trouble; a backend that resolved a wrong Verdict would count
 * wrongly, which the limiter cannot detect.
 */
import type { LimitWindow } from './config.js';
import type { Mode, Verdict } from './algorithm.js';

/** The part of a rule a backend needs. */
export interface BackendRule {
  readonly id: string;
  readonly windows: readonly LimitWindow[];
}

export interface Backend {
  readonly kind: 'memory' | 'redis';
  /** GCRA event of `cost` (see algorithm.ts) */
  gcra(rule: BackendRule, key: string, cost: number, mode: Mode, now: number): Verdict | Promise<Verdict>;
  /** distinct-value event: `value` seen under `key` */
  distinct(rule: BackendRule, key: string, value: string, mode: Mode, now: number): Verdict | Promise<Verdict>;
  /** usable right now (memory: always) */
  up(): boolean;
  /** resolves true once usable, false after the connect timeout; never rejects */
  ready(): Promise<boolean>;
  /** keys held in process (memory backend), 0 for Redis */
  size(): number;
  close(): Promise<void>;
}
