/**
 * cli/config-source — which config file a command uses, and loading it.
 *
 * --config F wins; otherwise /etc/policyd-identity/policyd-identity.yaml when
 * it exists; otherwise the embedded defaults (the same values as the shipped
 * etc/policyd-identity.yaml), which is what a fresh clone runs on.
 *
 * A ConfigSource is the text that was read, with its file name and the
 * command-line overrides: what the cluster primary validates and then hands
 * to its workers, so a worker runs exactly the version that was checked.
 *
 * What can go wrong: see config/load.ts (never throws; errors carry codes
 * PI_CONFIG_READ/YAML/INVALID). A file that appears at the default path after
 * start is only read at the next reload.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadConfigText, DEFAULT_CONFIG_PATH, EMBEDDED, type ConfigError, type LoadResult, type Overrides } from '../config/load.js';

export interface ConfigSource {
  /** the YAML text ('' for the embedded defaults) */
  readonly text: string;
  /** its path, or "<embedded defaults>" */
  readonly file: string;
  readonly overrides: Overrides;
}

export function configPath(explicit: string | undefined): string | null {
  if (explicit !== undefined) return explicit;
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null;
}

/** Read the config text (not yet validated). */
export function readConfigSource(explicit: string | undefined, overrides: Overrides): { ok: true; source: ConfigSource } | { ok: false; errors: ConfigError[] } {
  const file = configPath(explicit);
  if (file === null) return { ok: true, source: { text: '', file: EMBEDDED, overrides } };
  try {
    return { ok: true, source: { text: readFileSync(file, 'utf8'), file, overrides } };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, errors: [{ code: 'PI_CONFIG_READ', file, line: 0, col: 0, path: '', message: `cannot read: ${err.code ?? err.message}` }] };
  }
}

/** Validate a source (the same result for the same source, in any process). */
export function loadSource(source: ConfigSource): LoadResult {
  return loadConfigText(source.text, source.file, source.overrides);
}

export function loadFor(explicit: string | undefined, overrides: Overrides): LoadResult {
  const r = readConfigSource(explicit, overrides);
  return r.ok ? loadSource(r.source) : r;
}
