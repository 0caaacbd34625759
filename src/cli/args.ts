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

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new PolicydError('PI_CLI_USAGE', (e as Error).message);
  }
}
