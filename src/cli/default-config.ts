/**
 * cli/default-config — print the commented default config (the package's
 * etc/policyd-identity.yaml), the starting point of an install:
 *
 *   policyd-identity default-config > /etc/policyd-identity/policyd-identity.yaml
 *
 * Every value in it is the built-in default (a test keeps the file and the
 * schema equal), so the printed file changes nothing until it is edited.
 *
 * What can go wrong: the file is looked up beside the program (dist/ or
 * build/src/ in a checkout, the package directory after `npm install -g`);
 * when it is missing (a broken install) the command says which paths it
 * tried and exits 1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from './args.js';
import { PolicydError } from '../errors.js';

/** The shipped commented config: the nearest etc/policyd-identity.yaml above this module (at most 4 levels). */
export function defaultConfigPath(): { path: string | null; tried: string[] } {
  const tried: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    const p = join(dir, 'etc', 'policyd-identity.yaml');
    tried.push(p);
    if (existsSync(p)) return { path: p, tried };
  }
  return { path: null, tried };
}

export async function defaultConfigCommand(argv: string[]): Promise<number> {
  const { positionals } = parse(argv, { help: { type: 'boolean', short: 'h' } });
  if (positionals.length > 0) throw new PolicydError('PI_CLI_USAGE', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const { path, tried } = defaultConfigPath();
  if (path === null) {
    process.stderr.write(`policyd-identity default-config: etc/policyd-identity.yaml is not installed beside the program (tried ${tried.join(', ')}) [PI_INTERNAL]\n`);
    return 1;
  }
  process.stdout.write(readFileSync(path, 'utf8'));
  return 0;
}
