/**
 * cli/args — command-line parsing shared by the commands (node:util parseArgs).
 *
 * What can go wrong: an unknown flag or a missing value throws a
 * PolicydError PI_CLI_USAGE; the dispatcher prints usage and exits 64.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PolicydError } from '../errors.js';

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
    throw new PolicydError('PI_CLI_USAGE', (e as Error).message);
  }
}
