/**
 * endpoint — listen endpoints in Postfix's own notation.
 *
 *   inet:127.0.0.1:10040   inet:[::1]:10040   inet:*:10040 (all addresses)
 *   unix:/var/spool/postfix/private/policyd-identity
 *   127.0.0.1:10040        (a bare host:port, accepted on the command line)
 *
 * What can go wrong: `parseEndpoint` throws an Error with the reason; the
 * config loader reports it with file/line/column.
 */
import { isIP } from 'node:net';

export type Endpoint =
  | { kind: 'inet'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string };

export function parseEndpoint(s: string): Endpoint {
  const t = s.trim();
  if (t.startsWith('unix:')) {
    const path = t.slice(5);
    if (!path.startsWith('/')) throw new Error(`unix endpoint needs an absolute path: ${JSON.stringify(s)}`);
    if (Buffer.byteLength(path) > 107) throw new Error(`unix socket path longer than 107 bytes: ${JSON.stringify(s)}`);
    return { kind: 'unix', path, text: `unix:${path}` };
  }
  const rest = t.startsWith('inet:') ? t.slice(5) : t;
  let host: string, portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1 || rest[close + 1] !== ':') throw new Error(`expected inet:[IPv6]:PORT, got ${JSON.stringify(s)}`);
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
    if (isIP(host) !== 6) throw new Error(`not an IPv6 address: ${JSON.stringify(host)}`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) throw new Error(`expected inet:HOST:PORT or unix:/path, got ${JSON.stringify(s)}`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw new Error(`IPv6 addresses need brackets: inet:[${host}]:${portText}`);
    if (host === '*') host = '::';
    else if (host !== 'localhost' && isIP(host) === 0) throw new Error(`not an IP address: ${JSON.stringify(host)}`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new Error(`bad port ${JSON.stringify(portText)} in ${JSON.stringify(s)}`);
  const port = Number(portText);
  const text = host.includes(':') ? `inet:[${host}]:${port}` : `inet:${host}:${port}`;
  return { kind: 'inet', host, port, text };
}

/** DNS server strings: HOST, HOST:PORT, [IPv6]:PORT or a bare IPv6 address (Node's setServers format). */
export function parseDnsServer(s: string): string {
  const t = s.trim();
  if (isIP(t) !== 0) return t;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    const host = t.slice(1, close);
    const port = t.slice(close + 2);
    if (close === -1 || isIP(host) !== 6 || t[close + 1] !== ':' || !/^\d{1,5}$/.test(port) || Number(port) > 65535 || Number(port) === 0) {
      throw new Error(`expected [IPv6]:PORT, got ${JSON.stringify(s)}`);
    }
    return t;
  }
  const colon = t.lastIndexOf(':');
  const host = t.slice(0, colon);
  const port = t.slice(colon + 1);
  if (colon === -1 || isIP(host) !== 4 || !/^\d{1,5}$/.test(port) || Number(port) > 65535 || Number(port) === 0) {
    throw new Error(`expected an IP address, IP:PORT or [IPv6]:PORT, got ${JSON.stringify(s)}`);
  }
  return t;
}
