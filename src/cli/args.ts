/**
 * cli/args — command-line parsing shared by the commands (node:util parseArgs).
 *
 * What can go wrong: an unknown flag or a missing value throws a
 * PolicydError PI_CLI_USAGE (an unknown flag with "did you mean", as the
 * config loader does for keys); the dispatcher prints it and exits 64.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PolicydError } from '../errors.js';
import { closestName } from '../config/spec.js';

export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  listen: { type: 'string', multiple: true },
  dns: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** The parsed values, typed from the option specs (booleans, repeatable strings, strings). */
export type ParsedValues<O extends OptionSpecs> = {
  [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string;
};

export function parse<O extends OptionSpecs>(argv: string[], options: O): { values: ParsedValues<O>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as ParsedValues<O>, positionals: r.positionals };
  } catch (e) {
    throw new PolicydError('PI_CLI_USAGE', usageMessage(e as Error & { code?: string }, options));
  }
}

/** Node's parser message, or for an unknown flag: `unknown option --clinet (did you mean --client?)`. */
function usageMessage(e: Error & { code?: string }, options: OptionSpecs): string {
  const m = /^Unknown option '([^']+)'/.exec(e.message);
  if (e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || !m) return e.message;
  const flag = m[1]!;
  const known = Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
  const near = flag.startsWith('--') ? closestName(flag, known.filter((k) => k.startsWith('--'))) : undefined;
  return near !== undefined
    ? `unknown option ${flag} (did you mean ${near}?)`
    : `unknown option ${flag} (known: ${known.filter((k) => k.startsWith('--')).join(' ')})`;
}
