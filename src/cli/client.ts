/**
 * cli/client — ask a running daemon one question, as Postfix would (like
 * postgrey's policy-test(8)): send one request over TCP or a UNIX socket,
 * print the reply, exit.
 *
 *   policyd-identity client --client 203.0.113.5 --helo mail.example.com --sender a@example.com
 *   policyd-identity client --connect unix:/var/spool/postfix/private/policyd-identity --file request.txt
 *   policyd-identity client < request.txt        # name=value lines, as Postfix sends them
 *
 * --connect defaults to the config's first listen: endpoint (a wildcard
 * address is asked on loopback). The whole exchange (connect, send, reply)
 * is bounded by --timeout (default 10s). Unlike `test`, this judges nothing
 * itself: it shows what the running daemon answers, with its config, cache
 * and rate-limit counters (a RCPT or END-OF-MESSAGE request counts toward
 * the limits as real mail does).
 *
 * Exit codes: 0 a reply came (whatever it says), 1 no reply (refused,
 * timeout, closed, malformed: PI_CLIENT_FAILED), 64 usage, 78 config error.
 *
 * What can go wrong: a daemon that does not answer within --timeout, closes
 * the connection or answers without `action=` is reported as PI_CLIENT_FAILED
 * (exit 1); the request is sent as given, so a RCPT or END-OF-MESSAGE uses up
 * rate-limit quota like real mail.
 */
import net from 'node:net';
import { parse, COMMON_OPTIONS } from './args.js';
import { loadFor } from './config-source.js';
import { formatConfigError } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { parseEndpoint, type Endpoint } from '../server/endpoint.js';
import { PolicydError } from '../errors.js';
import type { Attrs } from '../protocol/request.js';
import {
  ATTRIBUTE_OPTIONS, attrsFromFlags, attrsFromStdin, completeRequest, hasAttributeFlags, readRequestFile, readStdin,
} from './request-input.js';

export const CLIENT_USAGE = `usage: policyd-identity client [--connect ENDPOINT] [--timeout DURATION] [--config F]
         --client IP [--helo NAME] [--sender ADDR] [--recipient ADDR] [--state STATE]
         [--client-name NAME] [--reverse-client-name NAME] [--sasl-username U] [--instance ID]
       policyd-identity client [--connect ENDPOINT] (--file REQUEST | < REQUEST)

Sends one policy request to a running policyd-identity and prints its reply
(e.g. action=DUNNO). REQUEST is name=value lines as Postfix sends them.
  --connect  inet:HOST:PORT, HOST:PORT or unix:/path (default: the config's first listen:)
  --timeout  for the whole exchange, e.g. 500ms, 10s (default 10s)
Exit 0 when the daemon replied, 1 when it did not, 64 usage, 78 config error.
`;

const CLIENT_OPTIONS = {
  config: COMMON_OPTIONS.config,
  help: COMMON_OPTIONS.help,
  connect: { type: 'string' },
  timeout: { type: 'string' },
  file: { type: 'string', short: 'f' },
  ...ATTRIBUTE_OPTIONS,
} as const;

/** A reply is one short line; more than this is not a policy server. */
const MAX_REPLY = 64 * 1024;

/** The request block as Postfix writes it: name=value lines, then an empty line. */
export function encodeRequest(attrs: Attrs): string {
  let s = '';
  for (const [k, v] of Object.entries(attrs)) {
    if (/[\n\r]/.test(k + v) || k.includes('=') || k === '') throw new PolicydError('PI_CLI_USAGE', `attribute ${JSON.stringify(k)} cannot be sent: names and values are single lines`);
    s += `${k}=${v}\n`;
  }
  return `${s}\n`;
}

/** Where to connect: --connect, else the config's first listen: endpoint (wildcards asked on loopback). */
function target(connect: string | undefined, configFile: string | undefined): Endpoint | number {
  if (connect !== undefined) {
    try {
      return parseEndpoint(connect.startsWith('/') ? `unix:${connect}` : connect);
    } catch (e) {
      throw new PolicydError('PI_CLI_USAGE', `--connect: ${(e as Error).message}`);
    }
  }
  const r = loadFor(configFile, {});
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    process.stderr.write('policyd-identity client: the config is invalid; give --connect, or fix it\n');
    return 78;
  }
  const ep = r.config.listen[0]!.endpoint;
  if (ep.kind === 'inet' && (ep.host === '0.0.0.0' || ep.host === '::')) {
    const host = ep.host === '::' ? '::1' : '127.0.0.1';
    return { ...ep, host, text: host.includes(':') ? `inet:[${host}]:${ep.port}` : `inet:${host}:${ep.port}` };
  }
  return ep;
}

/** One exchange, bounded by timeoutMs: resolves the reply block (without its empty line) or rejects with the reason. */
export function ask(ep: Endpoint, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = ep.kind === 'unix' ? net.connect(ep.path) : net.connect(ep.port, ep.host);
    let buf = '';
    let done = false;
    const finish = (err: Error | null, reply?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from ${ep.text} within ${timeoutMs}ms`)), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(request));
    sock.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\n\n');
      if (end !== -1) finish(null, buf.slice(0, end));
      else if (buf.length > MAX_REPLY) finish(new Error(`the reply from ${ep.text} is longer than ${MAX_REPLY} bytes without an end`));
    });
    sock.on('end', () => finish(new Error(`${ep.text} closed the connection without a reply${buf ? ` (got ${JSON.stringify(buf.slice(0, 200))})` : ''}`)));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new Error(`cannot talk to ${ep.text}: ${e.code ?? e.message}`)));
  });
}

export async function clientCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, CLIENT_OPTIONS);
  if (positionals.length > 0) throw new PolicydError('PI_CLI_USAGE', `unexpected argument ${JSON.stringify(positionals[0])} (see policyd-identity client --help)`);
  const timeoutMs = values.timeout === undefined ? 10_000 : parseDuration(values.timeout);
  if (timeoutMs === null || timeoutMs < 1 || timeoutMs > 600_000) throw new PolicydError('PI_CLI_USAGE', `--timeout ${values.timeout}: expected a duration from 1ms to 600s, like 500ms or 10s`);
  const v = values as Record<string, unknown>;
  let attrs: Attrs;
  if (hasAttributeFlags(v)) {
    if (values.file !== undefined) throw new PolicydError('PI_CLI_USAGE', 'give the request as flags or as --file, not both');
    attrs = attrsFromFlags(v);
  } else if (values.file !== undefined && values.file !== '-') {
    attrs = attrsFromStdin(readRequestFile(values.file));
  } else if (process.stdin.isTTY && values.file === undefined) {
    throw new PolicydError('PI_CLI_USAGE', 'give the request as flags (--client IP --helo NAME ...), --file FILE, or name=value lines on stdin (see policyd-identity client --help)');
  } else {
    attrs = attrsFromStdin(await readStdin());
  }
  if (Object.keys(attrs).length === 0) throw new PolicydError('PI_CLI_USAGE', 'the request is empty: give name=value lines, or flags (--client IP ...)');
  const request = encodeRequest(completeRequest(attrs));
  const ep = target(values.connect, values.config);
  if (typeof ep === 'number') return ep;
  try {
    const reply = await ask(ep, request, timeoutMs);
    if (!/^action=/.test(reply)) {
      process.stderr.write(`policyd-identity client: ${ep.text} answered something other than action=...: ${JSON.stringify(reply.slice(0, 200))} [PI_CLIENT_FAILED]\n`);
      return 1;
    }
    process.stdout.write(`${reply}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`policyd-identity client: ${(e as Error).message} [PI_CLIENT_FAILED]\n`);
    return 1;
  }
}
