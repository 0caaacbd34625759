/**
 * config/secrets — warn about secrets in files other local users can read:
 * the config when it has a Redis password in it (`password:` or in the URL),
 * limits.redis.password_file, limits.redis.tls.key_file (mode o+r). Redaction
 * of URLs and systemd credential paths are in ./redact.ts.
 *
 * What can go wrong: a file that cannot be stat'ed gives no warning here (the
 * config check reports an unreadable file); nothing throws.
 */
import { statSync } from 'node:fs';
import type { Config } from './types.js';
import { credentialPath, urlHasSecret } from './redact.js';

export interface SecretWarning {
  file: string;
  /** the config key that names it, or "config" */
  what: string;
  mode: string;
}

function readableByOthers(file: string): string | null {
  try {
    const m = statSync(file).mode & 0o777;
    return (m & 0o004) !== 0 ? `0${m.toString(8)}` : null;
  } catch {
    return null;
  }
}

/** Files holding a secret that any local user can read (mode o+r). */
export function secretWarnings(config: Config, env: NodeJS.ProcessEnv = process.env): SecretWarning[] {
  const out: SecretWarning[] = [];
  const r = config.limits.redis;
  const inConfig = r.password !== null || urlHasSecret(r.url);
  if (inConfig && !config.source.startsWith('<')) {
    const mode = readableByOthers(config.source);
    if (mode !== null) out.push({ file: config.source, what: 'config (limits.redis has a password)', mode });
  }
  for (const [what, p] of [['limits.redis.password_file', r.password_file], ['limits.redis.tls.key_file', r.tls?.key_file ?? null]] as const) {
    if (p === null) continue;
    const file = credentialPath(p, env);
    if (file === null) continue;
    const mode = readableByOthers(file);
    if (mode !== null) out.push({ file, what, mode });
  }
  return out;
}

/** One line for the log or check-config. */
export function secretWarningText(w: SecretWarning): string {
  return `${w.file} (${w.what}) is readable by every local user (mode ${w.mode}): chmod 640 it, owned by root and the daemon's group, or use a systemd credential (docs/limits.md)`;
}
