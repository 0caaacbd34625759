/**
 * config/types — the effective (validated, defaults filled) configuration.
 *
 * What can go wrong: nothing at run time (types only).
 */
import type { ConfigBody } from './schema.js';

export interface Config extends ConfigBody {
  /** where it came from: a file path, or "<embedded defaults>" */
  readonly source: string;
}
