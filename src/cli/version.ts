/**
 * cli/version — the package version, from the nearest package.json above this
 * file (dist/cli/ or build/src/cli/). Its own module so subcommands can use it
 * without importing cli.ts (which imports them: an import cycle).
 *
 * What can go wrong: no package.json within five directories up (a broken
 * install): the version reads "unknown" rather than throwing.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

export function version(): string {
  if (cached !== null) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) return (cached = (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version);
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
