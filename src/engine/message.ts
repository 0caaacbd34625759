/**
 * message — reply-text templates with {placeholders}, compiled once at engine
 * creation and filled per answer.
 *
 * Placeholders: {client_address} {client_name} {helo_name} {sender}
 * {sender_domain} {recipient} {ptr} {check} {score} {reason}, plus any
 * variable a finding carries in `vars` (a check's vars win over the request's,
 * so a check can say which {ptr} it judged). An unknown name renders empty.
 *
 * Safety: most values come from the SMTP client (HELO, sender, PTR names an
 * attacker controls). Every value is cleaned (control and non-ASCII bytes to
 * spaces, at most MAX_VALUE characters) and the whole text then goes through
 * sanitizeText, so no CR/LF can end the reply or smuggle an attribute.
 * Filling is one pass: a value containing "{sender}" stays literal text.
 *
 * What can go wrong: nothing throws.
 */
import { sanitizeText } from '../protocol/action.js';
import type { PolicyRequest } from '../protocol/request.js';
import type { Identity } from '../net/identity.js';
import type { Finding } from '../checks/types.js';

export const PLACEHOLDERS = [
  'client_address', 'client_name', 'helo_name', 'sender', 'sender_domain', 'recipient', 'ptr', 'check', 'score', 'reason',
] as const;

/** A compiled template: literal parts around placeholder names (parts.length === names.length + 1). */
export interface Template {
  readonly source: string;
  readonly parts: readonly string[];
  readonly names: readonly string[];
  /** the finished text when there are no placeholders (rendered once, at compile time) */
  readonly fixed: string | null;
}

/** at most this many characters of one value (so a long HELO cannot push the reason out of the 400-char reply) */
export const MAX_VALUE = 120;

const PLACEHOLDER = /\{([a-z][a-z0-9_]*)\}/g;
const UNSAFE = /[^\x20-\x7e]/g;

export function compileTemplate(source: string, warn?: (msg: string) => void): Template {
  const clean = source.replace(UNSAFE, ' ');
  if (clean !== source) warn?.('control or non-ASCII characters replaced by spaces');
  const parts: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const m of clean.matchAll(PLACEHOLDER)) {
    parts.push(clean.slice(last, m.index));
    names.push(m[1]!);
    last = m.index + m[0].length;
  }
  parts.push(clean.slice(last));
  return { source, parts, names, fixed: names.length === 0 ? sanitizeText(clean) : null };
}

/** What a message can talk about. */
export interface MessageContext {
  readonly req: PolicyRequest;
  readonly id: Identity;
  /** the finding that made the answer (null for scoring) */
  readonly finding: Finding | null;
  /** every finding of the request, for variables the winning one lacks (e.g. {ptr}) */
  readonly findings: readonly Finding[];
  readonly check: string;
  readonly score: number;
  /** overrides finding.reason (scoring: the score breakdown) */
  readonly reason?: string;
}

export function formatScore(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Math.round(n * 100) / 100);
}

function cleanValue(v: string): string {
  const s = v.length > MAX_VALUE ? v.slice(0, MAX_VALUE) : v;
  return s.replace(UNSAFE, ' ');
}

function fromFindings(findings: readonly Finding[], name: string): string | undefined {
  for (const f of findings) {
    const v = f.vars?.[name];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** The raw value of one placeholder. */
export function placeholderValue(name: string, ctx: MessageContext): string {
  const own = ctx.finding?.vars?.[name];
  if (own !== undefined) return own;
  const { req, id } = ctx;
  switch (name) {
    case 'client_address': return id.clientAddress;
    case 'client_name': return req.client_name === '' ? 'unknown' : req.client_name;
    case 'helo_name': return req.helo_name;
    case 'sender': return req.sender === '' ? '<>' : req.sender;
    case 'sender_domain': return id.senderDomain;
    case 'recipient': return req.recipient;
    case 'check': return ctx.check;
    case 'score': return formatScore(ctx.score);
    case 'reason': return ctx.reason ?? ctx.finding?.reason ?? '';
    case 'ptr':
      return fromFindings(ctx.findings, 'ptr') ?? (req.client_name !== '' && req.client_name !== 'unknown' ? req.client_name : 'unknown');
    default:
      return fromFindings(ctx.findings, name) ?? '';
  }
}

/** Fill a template; the result is safe for one SMTP reply line. */
export function renderTemplate(t: Template, ctx: MessageContext): string {
  // Fast path: a message without placeholders was rendered at compile time.
  if (t.fixed !== null) return t.fixed;
  let out = t.parts[0]!;
  for (let i = 0; i < t.names.length; i++) out += cleanValue(placeholderValue(t.names[i]!, ctx)) + t.parts[i + 1]!;
  return sanitizeText(out);
}
