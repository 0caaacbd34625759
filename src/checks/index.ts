/**
 * checks/index — the ordered registry of identity checks.
 *
 * The order is the engine's tie-break order (first check wins among equally
 * severe actions) and the order of log lines, README rows and metrics.
 * Each entry lives in its own file named after its id.
 */
import type { CheckDef } from '../policy/types.js';

export const CHECKS: readonly CheckDef[] = [];

export const CHECK_IDS: readonly string[] = CHECKS.map((c) => c.id);
