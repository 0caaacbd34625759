/**
 * dunno — a Decider with no opinion: every request gets DUNNO.
 * Used by `serve --no-checks`-style setups and tests of the server alone.
 *
 * What can go wrong: nothing; every request gets the same frozen decision.
 */
import { DUNNO } from '../protocol/action.js';
import type { Decider, Decision } from './types.js';

const DECISION: Decision = Object.freeze({ action: DUNNO, fired: [], findings: [] });

export const dunnoDecider: Decider = {
  decide: () => DECISION,
};
