/**
 * cli/config-source — which config file a command uses, and loading it.
 *
 * --config F wins; otherwise /etc/policyd-identity/policyd-identity.yaml when
 * it exists; otherwise the embedded defaults (the same values as the shipped
 * etc/policyd-identity.yaml), which is what a fresh clone runs on.
 *
 * What can go wrong: see config/load.ts (never throws; errors carry codes
 * PI_CONFIG_READ/YAML/INVALID). A file that appears at the default path after
 * start is only read at the next reload.
 */
import { existsSync } from 'node:fs';
import { loadConfigFile, defaultConfig, DEFAULT_CONFIG_PATH, type LoadResult, type Overrides } from '../config/load.js';

export function configPath(explicit: string | undefined): string | null {
  if (explicit !== undefined) return explicit;
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null;
}

export function loadFor(explicit: string | undefined, overrides: Overrides): LoadResult {
  const p = configPath(explicit);
  return p === null ? defaultConfig(overrides) : loadConfigFile(p, overrides);
}
