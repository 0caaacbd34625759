/**
 * cli/check-config — validate a config and print the effective result
 * (like `postfix check` / `nginx -t`). Exit 0 when valid, 78 otherwise.
 *
 * What can go wrong: nothing is looked up or listened on; an invalid config
 * exits 78 with file:line:col errors, warnings (PI_CONFIG_DEPRECATED and the
 * engine's) go to stderr and still exit 0.
 */
import { stringify } from 'yaml';
import { COMMON_OPTIONS, parse } from './args.js';
import { loadFor } from './config-source.js';
import { formatConfigError } from '../config/load.js';
import type { Config } from '../config/types.js';
import { redactUrl } from '../config/redact.js';
import { secretWarnings, secretWarningText } from '../config/secrets.js';
import { showValue } from '../config/spec.js';
import { buildConfigSpec, type ConfigBody } from '../config/schema.js';
import { createEngine } from '../engine/engine.js';
import type { DnsLookup } from '../dns/types.js';

/**
 * The effective config as config text: valid input that means the same (a
 * test feeds it back). Durations print as "600s" (a plain number would mean
 * seconds), endpoints and CIDR sets as text; `source` is not a key.
 * Secrets are the exception: a password prints as "***", a Redis URL without
 * its password.
 */
export function printableConfig(config: Config): unknown {
  const { source: _source, ...body } = config;
  return JSON.parse(
    JSON.stringify(showValue(buildConfigSpec(), body as ConfigBody), (k, v) => {
      if (v && typeof v === 'object' && 'kind' in v && 'text' in v && (v.kind === 'inet' || v.kind === 'unix')) return v.text;
      // secrets never printed: a password as ***, a Redis URL without its password (config/redact.ts)
      if (k === 'password' && typeof v === 'string') return '***';
      if (k === 'url' && typeof v === 'string') return redactUrl(v);
      return v;
    }),
  );
}

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_OPTIONS, quiet: { type: 'boolean', short: 'q' } });
  const r = loadFor(values.config, { listen: values.listen, dns: values.dns, logLevel: values['log-level'] });
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    process.stderr.write(`config invalid: ${r.errors.length} error(s)\n`);
    return 78;
  }
  // Settings that are valid but probably not what was meant (a code an action
  // ignores, an override that matches everything): the engine finds them while
  // compiling; serve logs the same lines at start.
  for (const w of r.warnings) process.stderr.write(`warning: ${formatConfigError(w)}\n`);
  const noDns = { scoped: (): DnsLookup => { throw new Error('check-config does no lookups'); } };
  const warnings = [...createEngine(r.config, { dns: noDns }).warnings];
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  for (const w of secretWarnings(r.config)) {
    warnings.push(secretWarningText(w));
    process.stderr.write(`warning: ${secretWarningText(w)} [PI_CONFIG_SECRET_READABLE]\n`);
  }
  if (!values.quiet) {
    process.stdout.write(`# effective config from ${r.config.source}\n`);
    process.stdout.write(stringify(printableConfig(r.config)));
  }
  process.stderr.write(`config OK: ${r.config.source}${warnings.length > 0 ? ` (${warnings.length} warning(s))` : ''}\n`);
  return 0;
}
