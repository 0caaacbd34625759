/**
 * dunno — a Decider with no opinion: every request gets DUNNO.
 * Used where the server is measured or tested alone, without the engine
 * (test/server.test.ts, test/hostile-clients.test.ts; the command line has no
 * such mode).
 *
 * What can go wrong: nothing; every request gets the same frozen decision.
 */
import { DUNNO } from '../protocol/action.js';
import type { Decider, Decision } from './types.js';

const DECISION: Decision = Object.freeze({ action: DUNNO, fired: [], findings: [] });

export const dunnoDecider: Decider = {
  decide: () => DECISION,
};
