/**
 * cli/request-input — one policy request from the command line, for `test`
 * and `client`: built from attribute flags (--client IP --helo NAME ...), or
 * read as name=value lines in Postfix's format from stdin or a file.
 *
 * What can go wrong: no attributes at all, a line without "=", an unknown
 * protocol state or input over 1 MiB each throw PolicydError PI_CLI_USAGE
 * (exit 64). Nothing else is checked here: the daemon judges the rest.
 */
import { readFileSync } from 'node:fs';
import { attrsFromBlock, PROTOCOL_STATES, type Attrs } from '../protocol/request.js';
import { PolicydError } from '../errors.js';

/** flag -> request attribute */
export const ATTRIBUTE_FLAGS = {
  client: 'client_address',
  'client-name': 'client_name',
  'reverse-client-name': 'reverse_client_name',
  helo: 'helo_name',
  sender: 'sender',
  recipient: 'recipient',
  state: 'protocol_state',
  'sasl-username': 'sasl_username',
  'sasl-method': 'sasl_method',
  instance: 'instance',
  'server-address': 'server_address',
} as const;

/** parseArgs options for the attribute flags */
export const ATTRIBUTE_OPTIONS = Object.fromEntries(Object.keys(ATTRIBUTE_FLAGS).map((k) => [k, { type: 'string' as const }])) as {
  [K in keyof typeof ATTRIBUTE_FLAGS]: { type: 'string' };
};

/** A request is small; 1 MiB is far beyond server.max_request_size. */
const INPUT_LIMIT = 1 << 20;

/** stdin, bounded */
export async function readStdin(limit = INPUT_LIMIT): Promise<string> {
  let text = '';
  process.stdin.setEncoding('latin1');
  for await (const chunk of process.stdin) {
    text += chunk as string;
    if (text.length > limit) throw new PolicydError('PI_CLI_USAGE', `the request on stdin is larger than ${limit} bytes`);
  }
  return text;
}

/** A request file (Postfix's format), bounded; a missing file is a usage error naming it. */
export function readRequestFile(path: string, limit = INPUT_LIMIT): string {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new PolicydError('PI_CLI_USAGE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (buf.length > limit) throw new PolicydError('PI_CLI_USAGE', `${path} is larger than ${limit} bytes`);
  return buf.toString('latin1');
}

/** The first request block of the text; every non-empty line must be name=value ('#' lines are comments). */
export function attrsFromStdin(text: string): Attrs {
  const lines = text.split('\n');
  let end = lines.length;
  let seen = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') {
      if (seen) {
        end = i;
        break;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    seen = true;
    if (line.indexOf('=') <= 0) throw new PolicydError('PI_CLI_USAGE', `line ${i + 1} is not name=value: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return attrsFromBlock(lines.slice(0, end).join('\n'));
}

/** True when any attribute flag was given. */
export function hasAttributeFlags(values: Record<string, unknown>): boolean {
  return Object.keys(ATTRIBUTE_FLAGS).some((k) => values[k] !== undefined);
}

/** The attributes the flags give; helo_name, sender and recipient are always sent (empty when not given), as smtpd does. */
export function attrsFromFlags(values: Record<string, unknown>): Attrs {
  const attrs = Object.create(null) as Attrs;
  for (const always of ['helo_name', 'sender', 'recipient']) attrs[always] = '';
  for (const [flag, attr] of Object.entries(ATTRIBUTE_FLAGS)) if (typeof values[flag] === 'string') attrs[attr] = values[flag] as string;
  return attrs;
}

/** request= and protocol_state= filled in (RCPT by default), the state checked. */
export function completeRequest(attrs: Attrs): Attrs {
  attrs.request ??= 'smtpd_access_policy';
  attrs.protocol_state = (attrs.protocol_state ?? 'RCPT').toUpperCase();
  if (!PROTOCOL_STATES.has(attrs.protocol_state)) {
    throw new PolicydError('PI_CLI_USAGE', `--state ${attrs.protocol_state}: expected one of ${[...PROTOCOL_STATES].join(', ')}`);
  }
  return attrs;
}
