/**
 * limits/algorithm — GCRA (generic cell rate algorithm), exact integer form.
 *
 * A window "N per T" is a bucket of N events that refills continuously at N
 * per T: one event costs T/N ms of "theoretical arrival time" (TAT). An event
 * of cost c at time `now` conforms when
 *     max(TAT, now) + c*T/N - now <= T
 * and then TAT becomes max(TAT, now) + c*T/N. A key's whole state per window
 * is that one TAT (O(1) memory, no per-event lists); TAT <= now means "empty
 * bucket", so a key can be forgotten once TAT has passed (its TTL).
 *
 * Exact arithmetic: T/N is rarely a whole number of ms (3 per 1s = 333.33 ms),
 * so TAT is kept as q + r/N ms with integers q, r (0 <= r < N). All sums stay
 * below 2^53 thanks to the bounds in config.ts (N <= 1e6, T <= 31 d, debt
 * capped at one extra window), in JS and in Redis's Lua (doubles) alike. The
 * Lua script in redis.ts is a line-by-line transcription of `gcraApply`; a
 * test runs one event table through both and compares every answer.
 *
 * Several windows of one rule are applied together: an event conforms only
 * if it conforms in every window; then every window is updated, otherwise
 * none ("consume"). "peek" only asks; "force" counts unconditionally (mail
 * that was already accepted), carrying debt up to one extra window.
 *
 * What can go wrong: nothing throws; callers pass validated windows.
 */
import type { LimitWindow } from './config.js';

export const PEEK = 0;
export const CONSUME = 1;
export const FORCE = 2;
export type Mode = typeof PEEK | typeof CONSUME | typeof FORCE;

export interface Verdict {
  readonly allowed: boolean;
  /** ms until an event of the same cost would conform (0 when allowed) */
  readonly retryAfter: number;
  /** index of the window that refused (the one with the longest wait), -1 when allowed */
  readonly window: number;
  /** events of cost 1 that still fit in the tightest window after this one */
  readonly remaining: number;
}

/**
 * Apply one event to a state array laid out as [.., q0, r0, q1, r1, ..]
 * starting at `off`. Missing state is [0, 0] (any q < now reads as empty).
 * Returns the verdict; updates `s` in place unless the mode forbids it.
 * `next` is scratch space of 2*windows.length numbers (no allocation here).
 */
export function gcraApply(
  s: number[], off: number, windows: readonly LimitWindow[], cost: number, mode: Mode, now: number, next: number[],
): Verdict {
  let allowed = true;
  let retryAfter = 0;
  let blocking = -1;
  let remaining = Infinity;
  for (let i = 0; i < windows.length; i++) {
    const n = windows[i]!.max;
    const t = windows[i]!.ms;
    let q = s[off + 2 * i]!;
    let r = s[off + 2 * i + 1]!;
    if (q < now) { q = now; r = 0; } // the bucket has drained: TAT = now
    if (r >= n) r = n - 1; // state written under a larger N (config changed): keep it valid
    let r2 = r + cost * t;
    let q2 = q + Math.floor(r2 / n);
    r2 %= n;
    // excess over the burst tolerance, in units of 1/N ms
    const excess = (q2 - now) * n + r2 - t * n;
    if (excess > 0) {
      allowed = false;
      const wait = Math.ceil(excess / n);
      if (wait > retryAfter) { retryAfter = wait; blocking = i; }
    }
    if (mode === FORCE && q2 - now > 2 * t) { q2 = now + 2 * t; r2 = 0; } // cap the debt at one extra window
    next[2 * i] = q2;
    next[2 * i + 1] = r2;
    // room left after this event (or before it, when it will not be stored)
    const stored = mode === FORCE || (mode === CONSUME && excess <= 0);
    const usedQ = stored ? q2 : q;
    const usedR = stored ? r2 : r;
    const room = Math.floor((t * n - ((usedQ - now) * n + usedR)) / t);
    if (room < remaining) remaining = room;
  }
  const write = mode === FORCE || (mode === CONSUME && allowed);
  if (write) for (let i = 0; i < 2 * windows.length; i++) s[off + i] = next[i]!;
  return { allowed, retryAfter, window: blocking, remaining: Math.max(0, remaining) };
}

/** The time (ms since epoch) after which the state of these windows is empty again. */
export function gcraExpiry(s: readonly number[], off: number, windows: readonly LimitWindow[]): number {
  let exp = 0;
  for (let i = 0; i < windows.length; i++) {
    const q = s[off + 2 * i]!;
    if (q + 1 > exp) exp = q + 1;
  }
  return exp;
}

/**
 * Distinct values over sliding windows, exact, for the memory backend.
 * `seen` maps value -> last time seen, most recent last (Map insertion order);
 * it holds at most `keep` values: once more than max distinct values are in a
 * window the rule is over its limit whatever the older ones were.
 */
export function distinctApply(
  seen: Map<string, number>, value: string, windows: readonly LimitWindow[], mode: Mode, now: number, keep: number,
): Verdict {
  if (mode !== PEEK) {
    seen.delete(value); // re-insert: most recent last
    seen.set(value, now);
    while (seen.size > keep) seen.delete(seen.keys().next().value!);
  }
  let allowed = true;
  let retryAfter = 0;
  let blocking = -1;
  let remaining = Infinity;
  for (let i = 0; i < windows.length; i++) {
    const { max, ms } = windows[i]!;
    const since = now - ms;
    let count = 0;
    let hasValue = false;
    for (const [v, at] of seen) {
      if (at > since) { count++; if (v === value) hasValue = true; }
    }
    if (!hasValue) count++; // peek: the value as if it were added
    if (count > max) {
      allowed = false;
      // the oldest (count - max) values in the window must age out first
      const times: number[] = [];
      for (const at of seen.values()) if (at > since) times.push(at);
      times.sort((a, b) => a - b);
      const wait = times[count - max - 1]! + ms - now;
      if (wait > retryAfter) { retryAfter = wait; blocking = i; }
    }
    if (max - count < remaining) remaining = max - count;
  }
  return { allowed, retryAfter, window: blocking, remaining: Math.max(0, remaining) };
}
