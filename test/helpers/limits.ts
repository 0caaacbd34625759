/**
 * limits — shared bits of the rate-limit tests (test/limits*.test.ts): the
 * `limits:` section from YAML (through the real loader, so positions and
 * defaults are the daemon's), requests at RCPT / END-OF-MESSAGE with sane
 * defaults, and a pino logger whose lines can be inspected.
 */
import { pino, type Logger } from 'pino';
import { loadConfigText, formatConfigError } from '../../src/config/load.js';
import type { LimitsConfig } from '../../src/limits/config.js';
import type { Limiter } from '../../src/limits/limiter.js';
import { identityOf } from '../../src/net/identity.js';
import { toPolicyRequest, type PolicyRequest } from '../../src/protocol/request.js';
import type { Finding } from '../../src/checks/types.js';

/** The validated limits: section of a whole config file; throws with file:line:col errors. */
export function limitsFromYaml(yaml: string): LimitsConfig {
  const r = loadConfigText(yaml, 'test.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'));
  return r.config.limits;
}

/** A request as Postfix sends it at RCPT, with `a` overriding the defaults. */
export function request(a: Record<string, string | number> = {}): PolicyRequest {
  const attrs: Record<string, string> = Object.create(null);
  attrs.request = 'smtpd_access_policy';
  attrs.protocol_state = 'RCPT';
  attrs.client_address = '203.0.113.5';
  attrs.helo_name = 'mail.example.net';
  attrs.sender = 'alice@example.net';
  attrs.recipient = 'bob@example.org';
  attrs.instance = 'a1.b2.c3.0';
  for (const [k, v] of Object.entries(a)) attrs[k] = String(v);
  return toPolicyRequest(attrs);
}

export function rcpt(l: Limiter, a: Record<string, string | number> = {}, now?: number): Promise<Finding[]> {
  const r = request(a);
  return l.evaluate(r, identityOf(r), now);
}

/** END-OF-MESSAGE: Postfix sends no recipient when there are several. */
export function eom(l: Limiter, a: Record<string, string | number> = {}, now?: number): Promise<void> {
  const r = request({ protocol_state: 'END-OF-MESSAGE', recipient: '', ...a });
  return l.record(r, identityOf(r), now);
}

export function captureLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  return { log, lines };
}

export const quietLog: Logger = pino({ level: 'silent' });
