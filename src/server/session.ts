/**
 * session — one policy connection, independent of the transport.
 *
 * The transport adapter (listeners.ts for TCP/UNIX/systemd, startStdio() in
 * daemon.ts for Postfix spawn) feeds
 * bytes in with `receive` and gives the session a Sink to write answers to and
 * to close. The session parses requests (protocol/parser.ts), asks the current
 * Decider for each one strictly in arrival order (Postfix sends one request
 * and waits, but a pipelining client must still get answers in order), one
 * at a time: while a request is decided the transport is paused and further
 * input stays unparsed in the parser (at most MAX_HELD_BYTES), so no queue of
 * parsed requests exists whatever the client sends. It writes
 * `action=...` through the safe encoder, and reports every decision to the
 * daemon (one log line, metrics).
 *
 * Never sends a banner or any unsolicited byte. A protocol error: requests
 * already complete are still answered, the bad one gets no reply, and the
 * connection is closed (SMTPD_POLICY_README: log a warning and disconnect;
 * Postfix retries). An unknown protocol_state is logged and answered DUNNO.
 *
 * What can go wrong: a Decider that throws or rejects (it should not) is
 * logged as PI_SERVER_DECIDE_FAILED and answered with a safe 4xx-class
 * DEFER_IF_PERMIT — never 5xx, never OK.
 */
// hrtime from node:process, not process.hrtime: the global `process` is an
// accessor (a getter call per read) and perf of the daemon at 64 connections
// showed its loads (LoadGlobalIC) at ~1.4 % of the process's samples, most of
// them in pump/answer (issue 11 §4).
import { hrtime } from 'node:process';
import { PolicyParser, type ParserLimits } from '../protocol/parser.js';
import { requestOf, PROTOCOL_STATES, type RawRequest, type PolicyRequest } from '../protocol/request.js';
import { encodeAction, DUNNO, type EncodeOptions, type PolicyAction } from '../protocol/action.js';
import type { Decider, Decision, ConnState } from '../engine/types.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';

export interface Sink {
  /** write bytes of an answer */
  write(data: string): void;
  /** close gracefully after pending writes */
  end(): void;
  /** stop reading the client (a request is being decided) */
  pause?(): void;
  /** read again */
  resume?(): void;
}

/**
 * Bytes a connection may send while its request is being decided (Postfix
 * never does: it waits for each answer). The transport stops reading at once,
 * so this only bounds what one read() had already brought in; a transport that
 * cannot pause and a client that keeps going get PI_PROTO_PIPELINE_OVERFLOW.
 */
export const MAX_HELD_BYTES = 256 << 10;

/** What the daemon shares with every session; replaced as a whole on reload. */
export interface ServerContext {
  decider: Decider;
  parserLimits: ParserLimits;
  allowOk: boolean;
  log: Logger;
  /**
   * One call per answered request: the decision log line and metrics. `sent`
   * is the action Postfix got (the decision's, or DUNNO when the encoder
   * refused it as unsafe); `actionLine` its encoded form.
   */
  onDecision(req: PolicyRequest, decision: Decision, sent: PolicyAction, actionLine: string, micros: number, conn: ConnState): void;
  onProtocolError(code: ErrorCode, peer: string): void;
  /** a connection was opened (counters) */
  onOpen?(): void;
}

const FALLBACK: PolicyAction = { verb: 'DEFER_IF_PERMIT', text: '4.3.0 policy service temporarily unable to decide' };
const UNKNOWN_STATE_DECISION = (state: string): Decision => ({
  action: DUNNO, fired: [], findings: [], note: `unknown protocol_state ${JSON.stringify(state)}`,
});

// The encoder's options, made once: encodeAction reports an unsafe action
// through onUnsafe, synchronously, into `unsafeWhy`. Why not an options object
// and a closure per answer: two allocations on every request of the warm path
// (issue 11 §4).
let unsafeWhy: string | null = null;
const onUnsafe = (why: string): void => {
  unsafeWhy = why;
};
const ENCODE_OK: EncodeOptions = { allowOk: true, onUnsafe };
const ENCODE_NO_OK: EncodeOptions = { allowOk: false, onUnsafe };

export class Session {
  private readonly parser: PolicyParser;
  /** the parsed request waiting to be decided: never more than one */
  private readonly queue: RawRequest[] = [];
  private busy = false;
  private paused = false;
  private closing = false;
  private closed = false;
  readonly conn: ConnState;
  /** requests answered on this connection */
  answered = 0;

  constructor(
    private readonly getContext: () => ServerContext,
    private readonly sink: Sink,
    peer: string,
  ) {
    const ctx = getContext();
    this.parser = new PolicyParser(ctx.parserLimits);
    ctx.onOpen?.();
    this.conn = { engine: undefined, peer };
  }

  /** true when nothing is in progress: safe to close now */
  get idle(): boolean {
    return !this.busy && this.queue.length === 0 && !this.parser.partial;
  }

  /** bytes received and not parsed yet (held while a request is decided) */
  get heldBytes(): number {
    return this.parser.held;
  }

  /** parsed requests waiting (0 or 1) */
  get queued(): number {
    return this.queue.length;
  }

  receive(chunk: string): void {
    if (this.closed || this.closing) return;
    if (this.busy && this.parser.held + chunk.length > MAX_HELD_BYTES) {
      // The transport was asked to stop reading and the client keeps sending.
      this.protocolError('PI_PROTO_PIPELINE_OVERFLOW');
      return;
    }
    // While busy: max 0, the chunk is only held. Otherwise at most one request comes out.
    this.parse(chunk);
    if (!this.busy) this.pump();
  }

  private parse(chunk: string): void {
    const err = this.parser.read(chunk, this.queue, this.busy || this.queue.length > 0 ? 0 : 1);
    if (err !== null) this.protocolError(err);
  }

  private protocolError(code: ErrorCode): void {
    this.getContext().onProtocolError(code, this.conn.peer);
    this.closing = true; // answer what was complete, then close; the bad request gets no reply
  }

  /** stop taking requests; close as soon as in-flight work is answered */
  drain(): void {
    this.closing = true;
    if (!this.busy) this.pump();
  }

  /** the transport went away */
  gone(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    while (!this.closed) {
      // next request: the parsed one, else one more from the held bytes (a protocol
      // error found there still closes the connection, after the answers before it)
      if (this.queue.length === 0 && this.parser.held > 0) this.parse('');
      const raw = this.queue.shift();
      if (raw === undefined) break;
      const req = requestOf(raw);
      const ctx = this.getContext();
      const t0 = hrtime.bigint();
      if (!PROTOCOL_STATES.has(req.protocol_state)) {
        ctx.log.warn({ code: 'PI_PROTO_UNKNOWN_STATE', peer: this.conn.peer, protocol_state: req.protocol_state }, 'unknown protocol_state, answering DUNNO');
        this.answer(ctx, req, UNKNOWN_STATE_DECISION(req.protocol_state), t0);
        continue;
      }
      let d: Promise<Decision> | Decision;
      try {
        d = ctx.decider.decide(req, this.conn);
      } catch (e) {
        d = this.failed(ctx, e);
      }
      if (d instanceof Promise) {
        // Asynchronous decision (DNS): stop reading, answer when it settles, then continue in order.
        this.busy = true;
        if (!this.paused) {
          this.paused = true;
          this.sink.pause?.();
        }
        d.then(
          (dec) => this.resume(ctx, req, dec, t0),
          (e) => this.resume(ctx, req, this.failed(ctx, e), t0),
        );
        return;
      }
      this.answer(ctx, req, d, t0);
    }
    if (this.closing && !this.closed && this.queue.length === 0) {
      this.closed = true;
      this.sink.end();
      return;
    }
    if (this.paused && !this.closed) {
      this.paused = false;
      this.sink.resume?.();
    }
  }

  private resume(ctx: ServerContext, req: PolicyRequest, d: Decision, t0: bigint): void {
    this.busy = false;
    if (this.closed) return; // client went away meanwhile: nothing to write to
    this.answer(ctx, req, d, t0);
    this.pump();
  }

  private failed(ctx: ServerContext, e: unknown): Decision {
    ctx.log.error({ code: 'PI_SERVER_DECIDE_FAILED', peer: this.conn.peer, err: e }, 'decider failed; answering a temporary failure');
    return { action: FALLBACK, fired: [], findings: [], note: 'internal error' };
  }

  private answer(ctx: ServerContext, req: PolicyRequest, d: Decision, t0: bigint): void {
    let sent = d.action;
    unsafeWhy = null;
    const line = encodeAction(d.action, ctx.allowOk ? ENCODE_OK : ENCODE_NO_OK);
    if (unsafeWhy !== null) {
      sent = DUNNO;
      ctx.log.error({ code: 'PI_PROTO_UNSAFE_ACTION', why: unsafeWhy }, 'unsafe action replaced by DUNNO');
    }
    this.sink.write(line);
    this.answered++;
    const micros = Number(hrtime.bigint() - t0) / 1000;
    ctx.onDecision(req, d, sent, line, micros, this.conn);
  }
}
