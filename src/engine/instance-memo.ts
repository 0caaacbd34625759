/**
 * instance-memo — what the engine remembers about the current message
 * instance of one policy connection (kept in ConnState.engine).
 *
 * Postfix sends every request about one message over the same policy
 * connection, with the same `instance` attribute; a new instance means the
 * previous message is done (SMTPD_POLICY_README). So one memo per connection
 * is enough: the identity findings already computed (a message is judged
 * once, however many RCPTs it has), whether the instance was judged before
 * DATA (states.ts), and whether the result header was answered.
 *
 * What can go wrong: a memo written by another engine (before a reload) is
 * replaced, never trusted; a change of client, HELO or sender under the same
 * instance (XCLIENT, a second HELO) empties it.
 */
import type { Finding } from '../checks/types.js';
import type { ConnState } from './types.js';
import type { PolicyRequest } from '../protocol/request.js';

export interface InstanceMemo {
  /** the engine that wrote it: after a reload, a new engine starts afresh */
  owner: object;
  instance: string;
  client: string;
  helo: string;
  sender: string;
  /** findings by registry index (tempfails included: the message is judged once) */
  results: (Finding | undefined)[];
  /**
   * CheckContext.memo shared by all runs of this instance; null until checks
   * run (a warm request answered from the identity cache never needs one, and
   * a Map per new instance was allocation on every such request)
   */
  ctxMemo: Map<string, Promise<unknown>> | null;
  /** identity was judged at CONNECT..RCPT for this instance (DATA/END-OF-MESSAGE do not judge it again) */
  judged: boolean;
  /** the result header was answered for this instance */
  stamped: boolean;
}

/** The memo for this request, reset when the instance (or identity) changed. */
export function instanceMemo(conn: ConnState, req: PolicyRequest, owner: object, slots: number): InstanceMemo {
  let m = conn.engine as InstanceMemo | undefined;
  if (m === undefined || m === null || m.owner !== owner) {
    m = {
      owner,
      instance: req.instance,
      client: req.client_address,
      helo: req.helo_name,
      sender: req.sender,
      results: new Array<Finding | undefined>(slots),
      ctxMemo: null,
      judged: false,
      stamped: false,
    };
    conn.engine = m;
    return m;
  }
  // Same message instance AND the same identity (XCLIENT or a new HELO mid-
  // session would change it): keep. Otherwise reuse the object, empty.
  if (m.instance !== req.instance || m.client !== req.client_address || m.helo !== req.helo_name || m.sender !== req.sender) {
    m.instance = req.instance;
    m.client = req.client_address;
    m.helo = req.helo_name;
    m.sender = req.sender;
    m.results = new Array<Finding | undefined>(slots);
    m.ctxMemo = null;
    m.judged = false;
    m.stamped = false;
  }
  return m;
}
