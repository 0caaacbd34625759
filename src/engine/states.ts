/**
 * states — what the engine does at each Postfix protocol_state: one table,
 * the same one docs/engine.md prints ("What happens at each protocol_state").
 *
 *   state           identity                        rate limits  DISCARD/HOLD    header
 *   CONNECT, EHLO,  judged                          -            as REJECT/DEFER -
 *   HELO, XCLIENT,
 *   STARTTLS
 *   MAIL            judged                          -            carried out     -
 *   RCPT            judged                          checked      carried out     PREPEND
 *   DATA            once per instance (see below)   -            carried out     PREPEND
 *   END-OF-MESSAGE  once per instance (see below)   counted      carried out     -
 *   VRFY            judged                          -            as REJECT/DEFER -
 *   ETRN            judged                          -            as REJECT/DEFER -
 *
 * "once per instance": an instance judged at CONNECT..RCPT is not judged
 * again (its RCPT answers stand; Postfix sends no recipient at DATA and
 * END-OF-MESSAGE when there are several, so the per-recipient overrides
 * that applied at RCPT cannot be found again). An instance the daemon first
 * sees at DATA or END-OF-MESSAGE was permitted earlier by Postfix itself
 * (permit_mynetworks, permit_sasl_authenticated before the policy): it is not
 * judged on identity unless `judge_after_data: true`.
 *
 * DISCARD and HOLD: Postfix skips them in client and HELO restrictions
 * ("always skipped in client or helo restrictions", smtpd_check.c
 * not_in_client_helo(): no sender yet) and at VRFY (the same test: VRFY
 * runs outside a mail transaction, there is no sender and nothing to
 * discard), and cannot do them at ETRN (can_delegate_action()), so a mail
 * the admin wanted stopped would pass. Where the table says
 * "as REJECT/DEFER" the engine answers the refusal Postfix does carry out:
 * DISCARD -> REJECT, HOLD -> DEFER, with the same message.
 *
 * What can go wrong: a state not in the table (a future Postfix) is answered
 * DUNNO by the engine and logged by the session (PI_PROTO_UNKNOWN_STATE).
 */

export type IdentityRule = 'judge' | 'once-per-instance';
export type LimitRule = 'check' | 'count' | 'none';

export interface StateRule {
  readonly state: string;
  /** judge: run the identity checks; once-per-instance: see the header */
  readonly identity: IdentityRule;
  /** check: limiter.evaluate; count: limiter.record once the answer is known not to refuse */
  readonly limits: LimitRule;
  /** Postfix carries out DISCARD and HOLD answered at this state */
  readonly delegates: boolean;
  /** a PREPEND (the result header) is carried out at this state */
  readonly header: boolean;
}

function rule(state: string, identity: IdentityRule, limits: LimitRule, delegates: boolean, header: boolean): StateRule {
  return Object.freeze({ state, identity, limits, delegates, header });
}

export const STATE_RULES: ReadonlyMap<string, StateRule> = new Map(
  [
    rule('CONNECT', 'judge', 'none', false, false),
    rule('EHLO', 'judge', 'none', false, false),
    rule('HELO', 'judge', 'none', false, false),
    rule('XCLIENT', 'judge', 'none', false, false),
    rule('STARTTLS', 'judge', 'none', false, false),
    rule('MAIL', 'judge', 'none', true, false),
    rule('RCPT', 'judge', 'check', true, true),
    rule('DATA', 'once-per-instance', 'none', true, true),
    rule('END-OF-MESSAGE', 'once-per-instance', 'count', true, false),
    rule('VRFY', 'judge', 'none', false, false),
    rule('ETRN', 'judge', 'none', false, false),
  ].map((r) => [r.state, r]),
);
