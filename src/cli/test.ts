/**
 * cli/test — judge one request without a running daemon: what would Postfix get, and why.
 *
 *   policyd-identity test --client 203.0.113.5 --helo mail.example.com \
 *       --sender a@example.com [--recipient b@example.org] [--state RCPT] [--json]
 *   policyd-identity test < request.txt          # a request block as Postfix sends it
 *
 * It builds the same runtime as `serve` (src/runtime.ts: the configured DNS
 * servers, cache, checks engine and rate limiter) and asks the engine to
 * explain its decision: the action line Postfix would get, then one row per
 * check with its result, the action in force and the reason (the DNS answers
 * it saw). `--config F` and `--dns HOST[:PORT]` work as for serve. Rate limits
 * are evaluated but never counted (engine.explain does not record).
 *
 * Exit codes: 0 evaluated (whatever the answer), 64 usage (no attributes, a
 * stdin line without "=", unknown flag), 78 config error.
 *
 * What can go wrong: DNS trouble shows as tempfail rows and the on_tempfail
 * answer, exactly as the daemon would answer; logs (engine warnings) go to
 * stderr so stdout stays the report.
 */
import { COMMON_OPTIONS, parse } from './args.js';
import { loadFor } from './config-source.js';
import { formatConfigError } from '../config/load.js';
import { createLogger, flushLogger } from '../log/logger.js';
import { createRuntime } from '../runtime.js';
import { toPolicyRequest, type Attrs } from '../protocol/request.js';
import { ATTRIBUTE_OPTIONS, attrsFromFlags, attrsFromStdin, completeRequest, hasAttributeFlags, readStdin } from './request-input.js';
import { explanationToJson, renderExplanation } from '../engine/explain.js';
import { PolicydError } from '../errors.js';

const TEST_OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  ...ATTRIBUTE_OPTIONS,
} as const;

export const TEST_USAGE = `usage: policyd-identity test [--config F] [--dns HOST[:PORT]]... [--json]
         --client IP [--helo NAME] [--sender ADDR] [--recipient ADDR] [--state STATE]
         [--client-name NAME] [--sasl-username U] [--instance ID] [--server-address IP]
       policyd-identity test [--config F] [--json] < request   (name=value lines, as Postfix sends)

Flags: --state defaults to RCPT; an omitted --helo/--sender/--recipient is sent empty, as
Postfix does (no HELO given, null sender). Prints the action Postfix would get and, per
check, the result, the action in force and why (the DNS answers seen). Rate limits are
evaluated but not counted. Exit 0 once evaluated, whatever the answer.
`;

export { attrsFromStdin };

export async function testCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, TEST_OPTIONS);
  if (positionals.length > 0) throw new PolicydError('PI_CLI_USAGE', `unexpected argument ${JSON.stringify(positionals[0])} (see policyd-identity test --help)`);
  const v = values as Record<string, string | boolean | string[] | undefined>;

  let attrs: Attrs;
  if (hasAttributeFlags(v)) {
    attrs = attrsFromFlags(v);
  } else if (process.stdin.isTTY) {
    throw new PolicydError('PI_CLI_USAGE', 'give the request as flags (--client IP --helo NAME ...) or as name=value lines on stdin (see policyd-identity test --help)');
  } else {
    attrs = attrsFromStdin(await readStdin());
    if (Object.keys(attrs).length === 0) throw new PolicydError('PI_CLI_USAGE', 'no request on stdin: give name=value lines, or flags (--client IP --helo NAME ...; see policyd-identity test --help)');
  }
  completeRequest(attrs);
  const req = toPolicyRequest(attrs);

  const r = loadFor(values.config, { dns: values.dns, logLevel: values['log-level'] });
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    return 78;
  }
  const config = r.config;
  // warnings and DNS trouble to stderr; stdout is the report
  const log = createLogger({ level: values['log-level'] ?? 'warn', destination: 'stderr', sync: true });
  const runtime = await createRuntime(config, log);
  try {
    const { explanation } = await runtime.engine.explain(req);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ config: config.source, request: { ...attrs }, action: `action=${explanation.answer}`, ...explanationToJson(explanation) }, null, 2)}\n`);
    } else {
      process.stdout.write(`# config: ${config.source}\n`);
      process.stdout.write(`# request: ${describeRequest(attrs)}\n`);
      process.stdout.write(`Postfix gets: action=${explanation.answer}\n\n`);
      process.stdout.write(renderExplanation(explanation));
    }
  } finally {
    await runtime.close();
    await new Promise<void>((res) => flushLogger(log, res));
  }
  return 0;
}

function describeRequest(a: Attrs): string {
  const keys = ['protocol_state', 'client_address', 'client_name', 'helo_name', 'sender', 'recipient', 'sasl_username', 'instance'];
  return keys.filter((k) => a[k] !== undefined && a[k] !== '').map((k) => `${k}=${a[k]}`).join(' ');
}
