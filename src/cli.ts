#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * cli — the `policyd-identity` command: dispatch to a subcommand.
 *
 *   policyd-identity [serve] [--config F] [--listen ADDR]... [--dns HOST[:PORT]]... [--log-level L] [--stdio]
 *   policyd-identity check-config [--config F] [-q]
 *   policyd-identity test [--client IP --helo NAME --sender ADDR ... | < request] [--json]
 *   policyd-identity doctor --ip IP --helo NAME --domain DOMAIN [--json] [--dns HOST[:PORT]]
 *   policyd-identity client [--connect ENDPOINT] [--timeout D] [--client IP ... | --file F | < request]
 *   policyd-identity default-config
 *   policyd-identity --version | --help
 *
 * Exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 config error.
 * A closed stdout (`check-config | head -1`) ends a command quietly (EPIPE).
 *
 * The shebang gives Node the daemon's flags (NODE_FLAGS below; `npm start`,
 * the systemd unit via this shebang and the tests that spawn the daemon use
 * the same):
 *   --max-semi-space-size=4: V8's young generation at 3 x 4 MiB (default
 *     3 x 16): the daemon's garbage is short-lived request objects, so small
 *     scavenges are cheap; 1,000 busy connections peak at 98-99 MiB with 4
 *     against 117 with V8's default, the sustained cold load at 139-145 MiB
 *     against 151-169 with 8 MiB or the default (A/B of 2026-12-06, below).
 *   Not --single-threaded-gc (A/B below): it spends less CPU per request
 *     (sustained cold load 932-1,070 µs per never-seen identity against
 *     1,141-1,466) but caps the daemon at one core, GC included: at 1,000
 *     never-seen identities/s it saturated (943 answered/s, p99 362 ms) where
 *     V8's parallel collector kept up (996/s, p99 328 ms).
 *   A/B: `node bench/run.mjs --phases semispace --semi "4,4+--single-threaded-gc,8,default"`
 *   (docs/bench.md, "Semi-space and GC threads").
 *
 * What can go wrong: an unknown command or option exits 64 (PI_CLI_USAGE);
 * an error a command does not handle exits 1 with its stack on stderr
 * (PI_INTERNAL).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PolicydError } from './errors.js';
import { serveCommand } from './cli/serve.js';
import { checkConfigCommand } from './cli/check-config.js';
import { testCommand, TEST_USAGE } from './cli/test.js';
import { doctorCommand, DOCTOR_USAGE } from './cli/doctor.js';
import { clientCommand, CLIENT_USAGE } from './cli/client.js';
import { defaultConfigCommand } from './cli/default-config.js';
import { version } from './cli/version.js';
import { closestName } from './config/spec.js';

type Command = (argv: string[]) => Promise<number>;

/** Node flags the daemon runs with (the shebang above says the same; a test keeps them equal). */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The heap limit the systemd unit adds (Environment=NODE_OPTIONS= in
 * systemd/policyd-identity.service; a test keeps the two equal). Not in the
 * shebang: flags on the command line override an admin's NODE_OPTIONS. Tests
 * and the bench run the daemon with NODE_FLAGS plus this, as production does:
 * without it V8 lets the old generation grow to several times the live heap.
 */
export const UNIT_NODE_OPTIONS: readonly string[] = ['--max-old-space-size=256'];

/** subcommands; `test` and `doctor` register here too */
export const COMMANDS: Record<string, { run: Command; summary: string; usage?: string }> = {
  serve: { run: serveCommand, summary: 'run the policy daemon (default)' },
  'check-config': { run: checkConfigCommand, summary: 'validate the config and print the effective settings' },
  test: { run: testCommand, summary: 'judge one request (flags or stdin) and explain the answer, no daemon needed', usage: TEST_USAGE },
  doctor: { run: doctorCommand, summary: 'outbound view: what Gmail/Outlook/Yahoo/AOL see of your server, with fixes', usage: DOCTOR_USAGE },
  client: { run: clientCommand, summary: 'send one request to a running daemon and print its reply', usage: CLIENT_USAGE },
  'default-config': { run: defaultConfigCommand, summary: 'print the commented default config (install it as /etc/policyd-identity/policyd-identity.yaml)' },
};

export { version };

function usage(): string {
  const cmds = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`).join('\n');
  return `usage: policyd-identity [COMMAND] [OPTIONS]

commands:
${cmds}

common options:
  -c, --config FILE       config file (default /etc/policyd-identity/policyd-identity.yaml,
                          or the embedded defaults when it does not exist)
      --listen ADDR       listen endpoint, repeatable: inet:127.0.0.1:10040, inet:[::1]:10040,
                          unix:/path (overrides listen:)
      --dns HOST[:PORT]   DNS server, repeatable (overrides dns.servers)
      --log-level LEVEL   fatal|error|warn|info|debug|trace|silent
      --stdio             serve: one conversation on stdin/stdout (Postfix spawn(8))
  -h, --help              this text
      --version           print the version
`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`policyd-identity ${version()}\n`);
    return 0;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  let name = 'serve';
  let rest = argv;
  if (argv[0] !== undefined && !argv[0].startsWith('-')) {
    name = argv[0];
    rest = argv.slice(1);
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    const near = closestName(name, Object.keys(COMMANDS));
    process.stderr.write(`policyd-identity: unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''} [PI_CLI_USAGE]\n${usage()}`);
    return 64;
  }
  // A reader that stops early (`check-config | head -1`) closes our stdout:
  // end quietly, as Unix tools do, instead of dying with a stack trace. serve
  // is left alone: its stdout is the journal, or Postfix in --stdio mode.
  if (name !== 'serve') quietOnClosedStdout();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage ?? usage());
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof PolicydError && e.code === 'PI_CLI_USAGE') {
      process.stderr.write(`policyd-identity ${name}: ${e.message} [PI_CLI_USAGE]\n(see policyd-identity --help)\n`);
      return 64;
    }
    throw e;
  }
}

function quietOnClosedStdout(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}

function isMain(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`policyd-identity: internal error: ${(e as Error).stack ?? e} [PI_INTERNAL]\n`);
      process.exit(1);
    },
  );
}
