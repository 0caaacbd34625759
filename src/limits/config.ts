/**
 * limits/config — the `limits:` section of the config (rate limits).
 * Owned by the rate-limits module; the loader includes it as-is.
 */
import { obj, field, oneOf, int, list, custom, type SpecType } from '../config/spec.js';

// Placeholder rule spec, replaced by the rate-limits implementation.
const ruleSpec = custom<Record<string, unknown>>('a rate-limit rule', (v, fail) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail('expected a mapping'));

export const limitsSpec = obj({
  backend: field(oneOf(['memory', 'redis'] as const), 'memory'),
  max_keys: field(int({ min: 1 }), 100_000),
  rules: field(list(ruleSpec), []),
});

export type LimitsConfig = SpecType<typeof limitsSpec>;
