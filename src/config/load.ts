/**
 * config/load — read, parse and validate policyd-identity.yaml.
 *
 * YAML is parsed with yaml's parseDocument(src, { lineCounter }), which
 * collects every syntax error with its line/column and keeps node ranges so a
 * schema problem found by key path (config/spec.ts) can be reported at the
 * exact file:line:column of the key or value, like a compiler:
 *
 *   /etc/policyd-identity/policyd-identity.yaml:12:5: dns.timeout: expected a duration ...
 *
 * Command-line overrides (--listen, --dns, --log-level) are applied to the
 * parsed data before validation, so they are checked by the same schema.
 *
 * What can go wrong: never throws; returns { ok: false, errors } with codes
 * PI_CONFIG_READ, PI_CONFIG_YAML or PI_CONFIG_INVALID. An obsolete but still
 * understood form (e.g. the old providers mapping) loads, with warnings
 * (PI_CONFIG_DEPRECATED) that check-config and serve print.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { BAD, pathText, type Path } from './spec.js';
import { buildConfigSpec } from './schema.js';
import type { Config } from './types.js';
import { crossCheck as limitsCrossCheck } from '../limits/config.js';
import type { ErrorCode } from '../errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/policyd-identity/policyd-identity.yaml';
export const EMBEDDED = '<embedded defaults>';

export interface ConfigError {
  code: ErrorCode;
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface Overrides {
  listen?: string[];
  dns?: string[];
  logLevel?: string;
}

/** ok: `warnings` are obsolete forms that were still read (code PI_CONFIG_DEPRECATED); print them, keep serving. */
export type LoadResult = { ok: true; config: Config; warnings: ConfigError[] } | { ok: false; errors: ConfigError[] };

/** "file:line:col: path: message" — one line per error, as check-config prints them. */
export function formatConfigError(e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.col}` : e.file;
  return `${where}: ${e.path ? `${e.path}: ` : ''}${e.message} [${e.code}]`;
}

export function loadConfigFile(file: string, overrides: Overrides = {}): LoadResult {
  let src: string;
  try {
    src = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, errors: [{ code: 'PI_CONFIG_READ', file, line: 0, col: 0, path: '', message: `cannot read: ${err.code ?? err.message}` }] };
  }
  return loadConfigText(src, file, overrides);
}

export function loadConfigText(src: string, file: string, overrides: Overrides = {}): LoadResult {
  const lc = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  // Warnings (an unresolved tag like !!js/function, an unknown %directive) are
  // refused too: a config must mean exactly what it says.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return {
      ok: false,
      errors: problems.map((e) => ({
        code: 'PI_CONFIG_YAML' as const,
        file,
        line: e.linePos?.[0].line ?? 0,
        col: e.linePos?.[0].col ?? 0,
        path: '',
        message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
      })),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, errors: [{ code: 'PI_CONFIG_YAML', file, line: 0, col: 0, path: '', message: (e as Error).message }] };
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, errors: [{ code: 'PI_CONFIG_INVALID', file, line: 1, col: 1, path: '', message: 'the config must be a mapping of keys' }] };
  }
  const raw = data as Record<string, unknown>;
  applyOverrides(raw, overrides);
  const ctx = { issues: [] as { path: Path; message: string; atKey?: boolean }[], warnings: [] as { path: Path; message: string }[] };
  const body = buildConfigSpec().parse(raw, [], ctx);
  if (body === BAD || ctx.issues.length > 0) {
    return {
      ok: false,
      errors: ctx.issues.map((i) => {
        const pos = positionOf(doc.contents as YamlNode | null, i.path, i.atKey ?? false, lc);
        return { code: 'PI_CONFIG_INVALID' as const, file, line: pos.line, col: pos.col, path: pathText(i.path), message: i.message };
      }),
    };
  }
  // Checks that span sections (e.g. workers vs the memory rate-limit backend).
  const cross = limitsCrossCheck(body);
  if (cross.length > 0) {
    const pos = positionOf(doc.contents as YamlNode | null, ['limits', 'backend'], false, lc);
    return { ok: false, errors: cross.map((message) => ({ code: 'PI_CONFIG_INVALID' as const, file, line: pos.line, col: pos.col, path: 'limits.backend', message })) };
  }
  const warnings = ctx.warnings.map((w) => {
    const pos = positionOf(doc.contents as YamlNode | null, w.path, true, lc);
    return { code: 'PI_CONFIG_DEPRECATED' as const, file, line: pos.line, col: pos.col, path: pathText(w.path), message: w.message };
  });
  return { ok: true, config: { ...body, source: file }, warnings };
}

/** The embedded default config, with overrides. */
export function defaultConfig(overrides: Overrides = {}): LoadResult {
  return loadConfigText('', EMBEDDED, overrides);
}

function applyOverrides(raw: Record<string, unknown>, o: Overrides): void {
  if (o.listen && o.listen.length > 0) raw.listen = o.listen;
  if (o.dns && o.dns.length > 0) raw.dns = { ...(asObj(raw.dns) ?? {}), servers: o.dns };
  if (o.logLevel) raw.log = { ...(asObj(raw.log) ?? {}), level: o.logLevel };
}

function asObj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Walk the YAML nodes along `path`; the deepest node found gives the position. */
function positionOf(root: YamlNode | null, path: Path, atKey: boolean, lc: LineCounter): { line: number; col: number } {
  let node: YamlNode | null = root;
  let pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
  for (let i = 0; i < path.length && node; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as YamlNode;
      const valNode = pair.value as YamlNode | null;
      if (last && atKey && keyNode.range) return lc.linePos(keyNode.range[0]);
      if (valNode && valNode.range) pos = lc.linePos(valNode.range[0]);
      else if (keyNode.range) pos = lc.linePos(keyNode.range[0]);
      node = valNode;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) break;
      if (item.range) pos = lc.linePos(item.range[0]);
      node = item;
    } else break;
  }
  return pos;
}
