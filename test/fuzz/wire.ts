/**
 * wire — raw conversations with a live daemon for the fuzz and fault tests:
 * send a byte stream in given chunks (optionally with pauses), half-close,
 * and collect every byte the server sends until it closes, within a time
 * bound. Then check that what came back is nothing but well-formed replies.
 *
 * What can go wrong: a server that never closes gives `timedOut: true` (the
 * socket is destroyed); connection errors (reset by the server after a
 * protocol error while we were still writing) are recorded, not thrown.
 */
import net from 'node:net';

export interface Conversation {
  /** everything the server sent, latin1 */
  raw: string;
  /** the server closed (FIN or reset) before the time bound */
  closed: boolean;
  timedOut: boolean;
  error: string | null;
  ms: number;
}

export async function converse(
  port: number,
  chunks: readonly string[],
  opts: { pauseMs?: (i: number) => number; timeoutMs?: number; halfClose?: boolean } = {},
): Promise<Conversation> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    let raw = '';
    let error: string | null = null;
    let finished = false;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ raw, closed, timedOut, error, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      if (raw.length < 1_000_000) raw += d;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on('close', () => finish(true, false));
    sock.on('connect', async () => {
      for (let i = 0; i < chunks.length && !sock.destroyed && !finished; i++) {
        const pause = opts.pauseMs?.(i) ?? 0;
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
        if (sock.destroyed || sock.writableEnded) break;
        const ok = sock.write(Buffer.from(chunks[i]!, 'latin1'));
        if (!ok) await new Promise<void>((r) => {
          const done = () => {
            sock.off('drain', done);
            sock.off('close', done);
            r();
          };
          sock.on('drain', done);
          sock.on('close', done);
        });
      }
      if (opts.halfClose !== false && !sock.destroyed) sock.end();
    });
  });
}

/** ASCII printable only, never empty: what one reply's action text must be. */
const ACTION_VALUE = /^[\x20-\x7e]+$/;

export interface ParsedReplies {
  actions: string[];
  /** a description of the first malformed part, or null */
  malformed: string | null;
}

/**
 * Split what the server sent into replies. Each must be exactly
 * `action=<printable ASCII>\n\n`: one attribute line, nothing else, no OK
 * (not configured), no bare numeric code, no trailing partial reply.
 */
export function parseReplies(raw: string): ParsedReplies {
  const actions: string[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const end = raw.indexOf('\n\n', pos);
    if (end === -1) return { actions, malformed: `trailing bytes ${JSON.stringify(raw.slice(pos, pos + 80))}` };
    const reply = raw.slice(pos, end);
    pos = end + 2;
    if (!reply.startsWith('action=')) return { actions, malformed: `reply without action=: ${JSON.stringify(reply.slice(0, 120))}` };
    const value = reply.slice(7);
    if (!ACTION_VALUE.test(value)) return { actions, malformed: `reply not one printable ASCII line: ${JSON.stringify(reply.slice(0, 200))}` };
    if (/^ok\b/i.test(value)) return { actions, malformed: `OK answered: ${JSON.stringify(value)}` };
    if (/^\d+$/.test(value.trim())) return { actions, malformed: `bare numeric code: ${JSON.stringify(value)}` };
    actions.push(value);
  }
  return { actions, malformed: null };
}
