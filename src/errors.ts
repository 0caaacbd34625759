/**
 * errors — the one table of stable error codes of policyd-identity.
 *
 * Every error the daemon logs or a command prints carries one of these codes.
 * Each entry says what happened, the log level it is reported at and the safe
 * behaviour that follows (what Postfix sees). docs/errors.md lists the same
 * codes (generated: node docs/tools/docs-tables.mjs); test/errors.test.ts keeps
 * the two in step and checks that each code is logged at its level.
 *
 * What can go wrong here: nothing at run time; a code used in the source but
 * missing here is a type error.
 */

export interface ErrorInfo {
  /** one line for humans: what happened */
  readonly text: string;
  /** pino level at which the event is logged */
  readonly level: 'fatal' | 'error' | 'warn' | 'info';
  /** what the daemon does about it (what Postfix sees) */
  readonly effect: string;
}

export const ErrorCodes = {
  // --- protocol (one connection) -------------------------------------------------
  PI_PROTO_LINE_TOO_LONG: { text: 'a request line is longer than server.max_line_length', level: 'warn', effect: 'no reply; the connection is closed (Postfix retries, then uses its default_action)' },
  PI_PROTO_TOO_MANY_ATTRS: { text: 'a request has more attributes than server.max_attributes', level: 'warn', effect: 'no reply; the connection is closed' },
  PI_PROTO_REQUEST_TOO_LARGE: { text: 'a request is larger than server.max_request_size', level: 'warn', effect: 'no reply; the connection is closed' },
  PI_PROTO_NO_EQUALS: { text: 'a request line has no "=" or an empty name', level: 'warn', effect: 'no reply; the connection is closed' },
  PI_PROTO_BAD_REQUEST_TYPE: { text: 'request= is missing or is not smtpd_access_policy', level: 'warn', effect: 'no reply; the connection is closed' },
  PI_PROTO_NUL_BYTE: { text: 'a request contains a NUL byte', level: 'warn', effect: 'no reply; the connection is closed' },
  PI_PROTO_PIPELINE_OVERFLOW: { text: 'a client sent more than 256 KiB while its request was being decided (Postfix sends one request and waits)', level: 'warn', effect: 'no reply to the unread requests; the connection is closed' },
  PI_PROTO_UNKNOWN_STATE: { text: 'protocol_state is not one Postfix documents', level: 'warn', effect: 'answered DUNNO; the connection stays open' },
  PI_PROTO_UNSAFE_ACTION: { text: 'an action that Postfix would read as OK (empty, bare code, OK not allowed) was about to be sent', level: 'error', effect: 'DUNNO is sent instead' },
  // --- server ----------------------------------------------------------------
  PI_SERVER_PEER_DENIED: { text: 'a TCP peer outside server.peers connected', level: 'warn', effect: 'the connection is closed at once' },
  PI_SERVER_TOO_MANY_CONNECTIONS: { text: 'server.max_connections reached', level: 'warn', effect: 'the new connection is closed at once (Postfix retries)' },
  PI_SERVER_IDLE_EVICTED: { text: 'server.max_connections reached: the connection idle longest was closed to admit a new one', level: 'warn', effect: 'that idle connection is closed (Postfix reconnects on its next request)' },
  PI_SERVER_IDLE_TIMEOUT: { text: 'a connection was idle longer than server.idle_timeout', level: 'info', effect: 'the connection is closed' },
  PI_SERVER_LISTEN_FAILED: { text: 'a listener could not be opened (address in use, permission, bad path)', level: 'fatal', effect: 'the daemon exits non-zero at start; a reload keeps the old listeners' },
  PI_SERVER_SOCKET_ERROR: { text: 'a socket error on one connection (reset, broken pipe)', level: 'info', effect: 'that connection is closed; others are unaffected' },
  PI_SERVER_LISTENER_ERROR: { text: 'an open listener reported an error (accept failed, e.g. EMFILE: too many open files)', level: 'error', effect: 'the listener keeps listening; open connections are unaffected; Postfix retries a refused connection' },
  PI_SERVER_DECIDE_FAILED: { text: 'deciding a request threw an unexpected error (the engine guards itself: a bug)', level: 'error', effect: 'a fixed DEFER_IF_PERMIT 4.3.0 is answered, not on_tempfail (the engine that applies it is what failed); never 5xx' },
  PI_SERVER_SYSTEMD_FDS: { text: 'LISTEN_FDS/LISTEN_PID are set but unusable', level: 'fatal', effect: 'the daemon exits non-zero' },
  PI_SERVER_WORKERS_DYING: { text: 'workers: N: more than 10 worker restarts within a minute', level: 'fatal', effect: 'the cluster primary stops the other workers and exits 1 (systemd restarts the unit: Restart=on-failure)' },
  PI_SERVER_SHUTDOWN_TIMEOUT: { text: 'in-flight requests did not finish within server.shutdown_timeout', level: 'warn', effect: 'remaining connections are destroyed and the daemon exits' },
  // --- config ----------------------------------------------------------------
  PI_CONFIG_READ: { text: 'the config file cannot be read', level: 'fatal', effect: 'start: exit 78; reload: the old config keeps serving' },
  PI_CONFIG_YAML: { text: 'the config file is not valid YAML', level: 'fatal', effect: 'start: exit 78; reload: the old config keeps serving' },
  PI_CONFIG_INVALID: { text: 'the config does not match the schema (unknown key, wrong type, bad value)', level: 'fatal', effect: 'start: exit 78; reload: the old config keeps serving' },
  PI_CONFIG_WARNING: { text: 'the config is valid but a setting has no effect as written (the line says which)', level: 'warn', effect: 'the config is used as written' },
  PI_CONFIG_DEPRECATED: { text: 'the config uses an obsolete form of a key that is still understood (e.g. the providers mapping)', level: 'warn', effect: 'the config loads with the value converted as the warning says; check-config and the start/reload log print it' },
  PI_CONFIG_SECRET_READABLE: { text: 'a file holding a secret (the config with a Redis password, limits.redis.password_file, the TLS key) is readable by every local user', level: 'warn', effect: 'the daemon serves on; chmod 640 the file or use a systemd credential' },
  PI_CONFIG_RELOAD_FAILED: { text: 'SIGHUP: the new config was refused', level: 'error', effect: 'the old config keeps serving' },
  // --- log -------------------------------------------------------------------
  PI_LOG_LINES_DROPPED: { text: 'log lines were lost: the log destination failed (disk full, reader gone) or did not take them in time', level: 'warn', effect: 'requests are answered as before; the count of lost lines is logged once lines are written again' },
  PI_LOG_REOPEN_FAILED: { text: 'SIGUSR2: the log file could not be reopened (permission, missing directory)', level: 'error', effect: 'logging goes on into the file open before (the rotated one)' },
  // --- DNS -------------------------------------------------------------------
  PI_DNS_TEMPFAIL: { text: 'a DNS lookup failed temporarily (SERVFAIL, REFUSED, timeout, bad reply, no server)', level: 'warn', effect: 'the checks that needed it report tempfail; on_tempfail decides (never 5xx)' },
  PI_DNS_DEADLINE: { text: 'the per-request DNS deadline (dns.deadline) passed', level: 'warn', effect: 'pending lookups count as tempfail' },
  // --- rate limits -------------------------------------------------------------
  PI_LIMITS_BACKEND_DOWN: { text: 'the rate-limit backend (Redis/Valkey) failed or timed out', level: 'warn', effect: "the rule's on_backend_failure applies (default: skip the rule, fail open)" },
  // --- metrics -----------------------------------------------------------------
  PI_METRICS_LISTEN_FAILED: { text: 'the metrics endpoint (metrics.listen) could not be opened', level: 'error', effect: 'the daemon serves Postfix without the metrics endpoint' },
  PI_METRICS_SCRAPE_FAILED: { text: 'collecting the metrics for a scrape failed', level: 'warn', effect: 'that scrape gets HTTP 500; the policy service is unaffected' },
  // --- CLI -------------------------------------------------------------------
  PI_CLI_USAGE: { text: 'bad command line', level: 'error', effect: 'usage is printed; exit 64' },
  PI_CLIENT_FAILED: { text: '`policyd-identity client` got no reply: connection refused, timeout, closed, or not a policy reply', level: 'error', effect: 'printed on stderr; exit 1' },
  PI_INTERNAL: { text: 'an internal error that should not happen', level: 'error', effect: 'logged; the request gets the on_tempfail action' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error with a stable code from the table above. Never hang other properties on Error. */
export class PolicydError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code].text, options);
    this.code = code;
    this.name = 'PolicydError';
  }
}
