/**
 * policy-client — a minimal Postfix-like policy client for tests: persistent
 * connection, one request at a time (or pipelined on demand), replies parsed
 * into their `action=` values. Loopback / UNIX sockets only.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * The real Postfix 3.7.11 request blocks (test/fixtures/postfix-3.7, see its
 * README). Tests run from build/test/helpers, so the sources are three levels up.
 */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'postfix-3.7');

/** One fixture file's bytes (latin1, as Postfix sent them); a missing file throws naming its path. */
export function fixture(name: string): string {
  const p = join(FIXTURES, name);
  try {
    return readFileSync(p, 'latin1');
  } catch (e) {
    throw new Error(`fixture not found: ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function block(attrs: Record<string, string | number>): string {
  let s = 'request=smtpd_access_policy\n';
  for (const [k, v] of Object.entries(attrs)) if (k !== 'request') s += `${k}=${v}\n`;
  return s + '\n';
}

export class PolicyClient {
  private buf = '';
  private waiters: Array<(v: string) => void> = [];
  private replies: string[] = [];
  closed = false;
  readonly sock: net.Socket;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (;;) {
        const end = this.buf.indexOf('\n\n');
        if (end === -1) break;
        const reply = this.buf.slice(0, end);
        this.buf = this.buf.slice(end + 2);
        const w = this.waiters.shift();
        if (w) w(reply);
        else this.replies.push(reply);
      }
    });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w('<closed>');
    });
    sock.on('error', () => {});
  }

  static connect(opts: { port: number; host?: string } | { path: string }, timeoutMs = 5000): Promise<PolicyClient> {
    return new Promise((resolve, reject) => {
      const s = 'path' in opts ? net.connect(opts.path) : net.connect(opts.port, opts.host ?? '127.0.0.1');
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new PolicyClient(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /** next reply (raw, without the blank line), '<closed>' if the server closed, '<timeout>' after timeoutMs */
  next(timeoutMs = 10_000): Promise<string> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.closed) return Promise.resolve('<closed>');
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i !== -1) this.waiters.splice(i, 1);
        resolve('<timeout>');
      }, timeoutMs);
      const w = (v: string) => {
        clearTimeout(t);
        resolve(v);
      };
      this.waiters.push(w);
    });
  }

  send(raw: string): void {
    this.sock.write(raw);
  }

  /** send a request block, wait for its reply, return the action value */
  async ask(raw: string, timeoutMs = 10_000): Promise<string> {
    this.send(raw);
    const r = await this.next(timeoutMs);
    return r.startsWith('action=') ? r.slice(7) : r;
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
