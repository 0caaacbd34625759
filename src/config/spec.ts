/**
 * config/spec — a small schema language for the YAML config.
 *
 * A Spec validates one plain value (from yaml's toJS()) at a key path and
 * returns the typed value, or BAD after recording an issue. Objects reject
 * unknown keys and fill defaults, so the effective config is complete.
 * Positions are not known here: issues carry the key path, and the loader
 * (config/load.ts) maps paths to file/line/column through yaml's nodes.
 *
 * What can go wrong: nothing throws; every problem becomes a ConfigIssue.
 */
import { parseDuration, formatDuration } from './duration.js';

export type SpecType<S> = S extends Spec<infer T> ? T : never;

export type Path = ReadonlyArray<string | number>;

export interface ConfigIssue {
  path: Path;
  message: string;
  /** point at the key (unknown key) rather than the value */
  atKey?: boolean;
}

export interface Ctx {
  issues: ConfigIssue[];
  /** accepted but obsolete forms (a key's old shape): reported, not refused */
  warnings?: ConfigIssue[];
}

/** Record a warning (the value is still used). */
export function warning(ctx: Ctx, path: Path, message: string): void {
  (ctx.warnings ??= []).push({ path, message });
}

export const BAD: unique symbol = Symbol('bad');
export type Bad = typeof BAD;

export interface Spec<T> {
  /** short type description for messages and docs, e.g. "a duration like 5s" */
  readonly describe: string;
  parse(v: unknown, path: Path, ctx: Ctx): T | Bad;
  /**
   * The parsed value back as config text would write it (check-config prints
   * this): durations as "600s", not milliseconds. Absent: the value as it is.
   */
  show?(v: T): unknown;
  /** For the generated key reference (policyd-identity.yaml(5)): what a list holds, */
  readonly item?: Spec<any>;
  /** what a nullable value is when set, */
  readonly inner?: Spec<any>;
  /** a mapping's keys (obj), */
  readonly fields?: Record<string, Field<any>>;
  /** and a free mapping's values (dict). */
  readonly value?: Spec<any>;
}

/** A parsed value written back as config (the spec's show, else the value itself). */
export function showValue<T>(spec: Spec<T>, v: T): unknown {
  return spec.show ? spec.show(v) : v;
}

export function issue(ctx: Ctx, path: Path, message: string, atKey = false): Bad {
  ctx.issues.push({ path, message, atKey });
  return BAD;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (ArrayBuffer.isView(v)) return 'binary data (!!binary)';
  if (v instanceof Date) return 'a timestamp';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function str(opts: { pattern?: RegExp; patternDescribe?: string; nonEmpty?: boolean } = {}): Spec<string> {
  const describe = opts.patternDescribe ?? 'a string';
  return {
    describe,
    parse(v, path, ctx) {
      if (typeof v === 'number' && opts.pattern === undefined) v = String(v);
      if (typeof v !== 'string') return issue(ctx, path, `expected ${describe}, got ${typeName(v)}`);
      if (opts.nonEmpty && v === '') return issue(ctx, path, 'must not be empty');
      if (opts.pattern && !opts.pattern.test(v)) return issue(ctx, path, `expected ${describe}, got ${JSON.stringify(v)}`);
      return v;
    },
  };
}

export function int(opts: { min?: number; max?: number } = {}): Spec<number> {
  const range = `${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.max !== undefined ? ` <= ${opts.max}` : ''}`;
  const describe = `an integer${range}`;
  return {
    describe,
    parse(v, path, ctx) {
      if (typeof v !== 'number' || !Number.isInteger(v)) return issue(ctx, path, `expected ${describe}, got ${typeName(v)}`);
      if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
        return issue(ctx, path, `expected ${describe}, got ${v}`);
      }
      return v;
    },
  };
}

export function num(opts: { min?: number; max?: number } = {}): Spec<number> {
  const describe = 'a number';
  return {
    describe,
    parse(v, path, ctx) {
      if (typeof v !== 'number' || !Number.isFinite(v)) return issue(ctx, path, `expected ${describe}, got ${typeName(v)}`);
      if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
        return issue(ctx, path, `expected a number between ${opts.min ?? '-inf'} and ${opts.max ?? 'inf'}, got ${v}`);
      }
      return v;
    },
  };
}

export function bool(): Spec<boolean> {
  return {
    describe: 'true or false',
    parse(v, path, ctx) {
      if (typeof v !== 'boolean') return issue(ctx, path, `expected true or false, got ${typeName(v)}`);
      return v;
    },
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Spec<T> {
  const describe = `one of ${values.join(', ')}`;
  return {
    describe,
    parse(v, path, ctx) {
      if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
        return issue(ctx, path, `expected ${describe}, got ${typeName(v)}`);
      }
      return v as T;
    },
  };
}

/** A duration: "250ms", "5s", "10m", "1h", "1d", or a plain number of seconds. Returns milliseconds. */
export function duration(opts: { min?: number; max?: number } = {}): Spec<number> {
  const describe = 'a duration like 500ms, 5s, 10m, 1h (a plain number means seconds)';
  return {
    describe,
    parse(v, path, ctx) {
      const ms = parseDuration(v);
      if (ms === null) return issue(ctx, path, `expected ${describe}, got ${typeName(v)}`);
      if ((opts.min !== undefined && ms < opts.min) || (opts.max !== undefined && ms > opts.max)) {
        return issue(ctx, path, `duration out of range (${opts.min ?? 0}ms..${opts.max ?? 'inf'}ms): ${JSON.stringify(v)}`);
      }
      return ms;
    },
    show: (ms) => (ms === 0 ? '0s' : formatDuration(ms)),
  };
}

export function nullable<T>(spec: Spec<T>): Spec<T | null> {
  return {
    describe: `${spec.describe} or null`,
    parse(v, path, ctx) {
      return v === null || v === undefined ? null : spec.parse(v, path, ctx);
    },
    show: (v) => (v === null ? null : showValue(spec, v)),
    inner: spec,
  };
}

export function list<T>(spec: Spec<T>, opts: { min?: number; max?: number } = {}): Spec<T[]> {
  return {
    describe: `a list of ${spec.describe}`,
    parse(v, path, ctx) {
      if (v === null) v = [];
      if (!Array.isArray(v)) return issue(ctx, path, `expected a list, got ${typeName(v)}`);
      if (opts.min !== undefined && v.length < opts.min) return issue(ctx, path, `needs at least ${opts.min} entries`);
      if (opts.max !== undefined && v.length > opts.max) return issue(ctx, path, `at most ${opts.max} entries`);
      const out: T[] = [];
      let bad = false;
      v.forEach((item, i) => {
        const r = spec.parse(item, [...path, i], ctx);
        if (r === BAD) bad = true;
        else out.push(r);
      });
      return bad ? BAD : out;
    },
    show: (v) => v.map((item) => showValue(spec, item)),
    item: spec,
  };
}

/** Transform/validate a value parsed by `base`; `fn` throws an Error whose message is the problem. */
export function refine<T, U>(base: Spec<T>, describe: string, fn: (v: T) => U, show?: (v: U) => unknown): Spec<U> {
  return {
    describe,
    ...(show ? { show } : {}),
    parse(v, path, ctx) {
      const r = base.parse(v, path, ctx);
      if (r === BAD) return BAD;
      try {
        return fn(r);
      } catch (e) {
        return issue(ctx, path, (e as Error).message);
      }
    },
  };
}

/** A custom spec from one function: return the value or call fail(message). */
export function custom<T>(describe: string, fn: (v: unknown, fail: (m: string) => Bad) => T | Bad, show?: (v: T) => unknown): Spec<T> {
  return {
    describe,
    ...(show ? { show } : {}),
    parse(v, path, ctx) {
      return fn(v, (m) => issue(ctx, path, m));
    },
  };
}

export interface Field<T> {
  spec: Spec<T>;
  /** default when the key is absent (or null); absent and no default = required */
  def?: () => T;
  doc?: string;
}

export function field<T>(spec: Spec<T>, def?: T | (() => T), doc?: string): Field<T> {
  const f: Field<T> = { spec };
  if (def !== undefined) f.def = typeof def === 'function' ? (def as () => T) : () => structuredClone(def);
  if (doc !== undefined) f.doc = doc;
  return f;
}

type FieldsOf<F> = { [K in keyof F]: F[K] extends Field<infer U> ? U : never };

export interface ObjSpec<T> extends Spec<T> {
  readonly fields: Record<string, Field<any>>;
}

/** A mapping with known keys only. Missing keys get their default; a key without default is required. */
export function obj<F extends Record<string, Field<any>>>(fields: F): ObjSpec<FieldsOf<F>> {
  return {
    describe: 'a mapping',
    fields,
    parse(v, path, ctx) {
      if (v === null || v === undefined) v = {};
      if (typeof v !== 'object' || Array.isArray(v)) return issue(ctx, path, `expected a mapping, got ${typeName(v)}`);
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      let bad = false;
      for (const k of Object.keys(src)) {
        if (!Object.hasOwn(fields, k)) {
          const known = Object.keys(fields);
          const near = nearest(k, known);
          issue(ctx, [...path, k], `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ` (known: ${known.join(', ')})`}`, true);
          bad = true;
        }
      }
      for (const [k, f] of Object.entries(fields)) {
        const raw = src[k];
        if (raw === undefined || (raw === null && f.def !== undefined)) {
          if (f.def === undefined && 'fields' in f.spec) {
            // a nested section without default: its own defaults apply
            const r = f.spec.parse({}, [...path, k], ctx);
            if (r === BAD) bad = true;
            else out[k] = r;
            continue;
          }
          if (f.def === undefined) {
            issue(ctx, [...path, k], `missing required key "${k}"`);
            bad = true;
            continue;
          }
          out[k] = f.def();
          continue;
        }
        const r = f.spec.parse(raw, [...path, k], ctx);
        if (r === BAD) bad = true;
        else out[k] = r;
      }
      return bad ? BAD : (out as FieldsOf<F>);
    },
    show(v) {
      const out: Record<string, unknown> = {};
      const src = v as Record<string, unknown>;
      for (const [k, f] of Object.entries(fields)) if (Object.hasOwn(src, k)) out[k] = showValue(f.spec, src[k]);
      return out;
    },
  };
}

/** A mapping with free keys (validated by keySpec) and one value spec. */
export function dict<T>(keySpec: Spec<string>, valSpec: Spec<T>): Spec<Record<string, T>> {
  return {
    describe: `a mapping of ${keySpec.describe} to ${valSpec.describe}`,
    parse(v, path, ctx) {
      if (v === null || v === undefined) v = {};
      if (typeof v !== 'object' || Array.isArray(v)) return issue(ctx, path, `expected a mapping, got ${typeName(v)}`);
      const out: Record<string, T> = Object.create(null);
      let bad = false;
      for (const [k, raw] of Object.entries(v as Record<string, unknown>)) {
        const key = keySpec.parse(k, [...path, k], { issues: [] }) === BAD ? BAD : k;
        if (key === BAD) {
          issue(ctx, [...path, k], `bad key ${JSON.stringify(k)}: expected ${keySpec.describe}`, true);
          bad = true;
          continue;
        }
        const r = valSpec.parse(raw, [...path, k], ctx);
        if (r === BAD) bad = true;
        else out[k] = r;
      }
      return bad ? BAD : out;
    },
    show(v) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = showValue(valSpec, item);
      return out;
    },
    value: valSpec,
  };
}

export function pathText(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s === '' ? '(top level)' : s;
}

/** The known key closest to a mistyped one (edit distance <= 2), for "did you mean". */
function nearest(k: string, known: readonly string[]): string | undefined {
  return closestName(k.toLowerCase().replace(/-/g, '_'), known);
}

/** The candidate closest to `word` (edit distance <= 2), or undefined; also for CLI "did you mean". */
export function closestName(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const cand of known) {
    const d = editDistance(word, cand);
    if (d < bestD) {
      bestD = d;
      best = cand;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
