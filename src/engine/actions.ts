/**
 * actions — check actions (reject, defer, ...) compiled once into what the
 * engine needs per request: a severity, a class-correct reply code, a message
 * template; and the one place that turns them into Postfix PolicyActions.
 *
 * Wire forms (Postfix check_table_result(), PF src/smtpd/smtpd_check.c):
 *   reject           code ? "550 5.7.1 text"  : "REJECT text"    (Postfix default 554 5.7.1)
 *   defer            code ? "450 4.7.1 text"  : "DEFER text"     (Postfix default 450 4.7.1)
 *   defer_if_permit  "DEFER_IF_PERMIT <dsn> text"  (dsn_split() reads a leading
 *                    enhanced status code from the text; the reply is always 450)
 *   disconnect       "421 4.7.0 text" (or 521): Postfix replies, then hangs up
 *   discard/hold/warn "DISCARD text" / "HOLD text" / "WARN text" (code ignored)
 *
 * Codes that contradict the action are CORRECTED, never sent as written (the
 * action word is what the admin chose; the code only details it), and a
 * warning is recorded for check-config:
 *   reject + 4xx -> 5xx (same digits after the class), defer + 5xx -> 4xx,
 *   disconnect + anything but 421/521 -> 421 (4xx given) or 521 (5xx given),
 *   defer_if_permit: only the DSN is used, its class forced to 4,
 *   on_tempfail: always class 4 (a DNS failure never produces a 5xx).
 * A reply text that itself starts with an enhanced status code (an admin's
 * message, or a placeholder such as {helo_name} filled by the client!) gets
 * that code's class forced to the reply's class, so "DEFER 5.7.1 ..." can
 * never become a permanent DSN.
 *
 * What can go wrong: nothing throws; bad input degrades to the verb's default.
 */
import type { PolicyAction } from '../protocol/action.js';
import { normalizeReplyCode } from '../protocol/action.js';
import type { CheckAction } from '../checks/types.js';
import { compileTemplate, type Template } from './message.js';

/** reject > disconnect > discard > hold > defer > defer_if_permit > warn > none */
export const SEVERITY: Readonly<Record<CheckAction, number>> = Object.freeze({
  off: 0,
  warn: 1,
  defer_if_permit: 2,
  defer: 3,
  hold: 4,
  discard: 5,
  disconnect: 6,
  reject: 7,
});

/** Severity from which an action stops or alters delivery (everything but warn/off). */
export const BLOCKING = SEVERITY.defer_if_permit;

export interface CompiledAction {
  readonly action: CheckAction;
  readonly severity: number;
  /** class-correct reply code for REPLY answers ("550 5.7.1", "421 4.7.0"), else null */
  readonly code: string | null;
  /** enhanced status code put in front of a DEFER_IF_PERMIT text ("4.4.3"), else null */
  readonly dsn: string | null;
  readonly template: Template;
  readonly score: number;
  /** what the admin configured, for explanations */
  readonly configuredCode: string | null;
}

export interface RawActionSettings {
  readonly action: CheckAction;
  readonly code?: string | null;
  readonly message?: string | null;
  readonly score?: number | null;
}

/** Replace the class digit of "NXX[ C.S.D]" (reply and DSN) with `cls`. */
function withClass(code: string, cls: '4' | '5'): string {
  const sp = code.indexOf(' ');
  if (sp === -1) return cls + code.slice(1);
  return `${cls}${code.slice(1, sp)} ${cls}${code.slice(sp + 2)}`;
}

/**
 * Compile one action setting. `where` names it in warnings
 * ("checks.rdns_missing"); `warn` collects config warnings.
 */
export function compileAction(where: string, s: RawActionSettings, warnAll: (msg: string) => void, codeIsDefault = false): CompiledAction {
  const action = s.action;
  const raw = s.code ?? null;
  // A code the admin did not write (the check's default, kept when only the
  // action was changed) is adapted to the action like any other, silently.
  const warn = codeIsDefault ? () => {} : warnAll;
  let code: string | null = raw === null ? null : normalizeReplyCode(raw);
  if (raw !== null && code === null) warn(`${where}.code ${JSON.stringify(raw)} is not a 4xx/5xx reply code: ignored`);
  let dsn: string | null = null;
  switch (action) {
    case 'reject':
    case 'defer': {
      const cls = action === 'reject' ? '5' : '4';
      if (code !== null && code[0] !== cls) {
        const fixed = withClass(code, cls);
        warn(`${where}: action ${action} with ${cls === '5' ? 'temporary' : 'permanent'} code "${code}": sent as "${fixed}"`);
        code = fixed;
      }
      break;
    }
    case 'defer_if_permit':
      if (code !== null) {
        const sp = code.indexOf(' ');
        if (sp !== -1) dsn = `4${code.slice(sp + 2)}`;
        if (code[0] !== '4' || !code.startsWith('450')) warn(`${where}: defer_if_permit always replies 450; only the status "${dsn ?? '4.7.1'}" of "${code}" is used`);
      }
      code = null;
      break;
    case 'disconnect': {
      if (code === null) code = '421 4.7.0';
      else if (!code.startsWith('421') && !code.startsWith('521')) {
        const cls = code[0] === '5' ? '5' : '4';
        const sp = code.indexOf(' ');
        const fixed = `${cls}21 ${sp === -1 ? `${cls}.7.0` : code.slice(sp + 1)}`;
        warn(`${where}: action disconnect needs a 421 or 521 code, "${code}" is sent as "${fixed}"`);
        code = fixed;
      }
      break;
    }
    case 'discard': case 'hold': case 'warn': case 'off':
      if (code !== null && action !== 'off') warn(`${where}: a code means nothing with action ${action}: ignored`);
      code = null;
      break;
  }
  return {
    action,
    severity: SEVERITY[action] ?? 0,
    code,
    dsn,
    template: compileTemplate(s.message ?? '', (m) => warnAll(`${where}.message: ${m}`)),
    score: typeof s.score === 'number' && Number.isFinite(s.score) ? s.score : 0,
    configuredCode: raw,
  };
}

/**
 * The global on_tempfail action: defer_if_permit | defer | warn | off, its
 * code forced to class 4 whatever was configured (never a 5xx on DNS trouble).
 */
export function compileTempfailAction(
  s: { action: 'defer_if_permit' | 'defer' | 'warn' | 'off'; code: string | null; message: string },
  warn: (msg: string) => void,
): CompiledAction {
  // warn/off have no code: ignore the default "450 4.4.3" rather than warn about it
  let code = s.action === 'warn' || s.action === 'off' ? null : s.code;
  if (code !== null) {
    const n = normalizeReplyCode(code);
    if (n !== null && n[0] !== '4') {
      const fixed = withClass(n, '4');
      warn(`on_tempfail.code "${n}" is permanent; a DNS failure never gets a 5xx: sent as "${fixed}"`);
      code = fixed;
    } else code = n;
  }
  // on_tempfail has no REPLY form for defer_if_permit; its code is the DSN
  return compileAction('on_tempfail', { action: s.action, code, message: s.message, score: 0 }, warn);
}

const LEADING_DSN = /^[0-9]\.\d{1,3}\.\d{1,3}(?=\s|$)/;

/** Force the class digit of a leading enhanced status code in `text` to `cls`. */
export function fixLeadingDsn(text: string, cls: '4' | '5'): string {
  // Fast path: the text starts with a digit only when someone put a DSN (or
  // something looking like one) there; most texts do not.
  const c = text.charCodeAt(0);
  if (c < 48 || c > 57) return text;
  if (!LEADING_DSN.test(text) || text[0] === cls) return text;
  return cls + text.slice(1);
}

/** The Postfix answer for a compiled action and its rendered (already sanitised) text. */
export function toPolicyAction(a: CompiledAction, text: string): PolicyAction {
  switch (a.action) {
    case 'reject':
      if (a.code !== null) return { verb: 'REPLY', code: a.code, text: a.code.length === 3 ? fixLeadingDsn(text, '5') : text };
      return withText('REJECT', fixLeadingDsn(text, '5'));
    case 'defer':
      if (a.code !== null) return { verb: 'REPLY', code: a.code, text: a.code.length === 3 ? fixLeadingDsn(text, '4') : text };
      return withText('DEFER', fixLeadingDsn(text, '4'));
    case 'defer_if_permit':
      return withText('DEFER_IF_PERMIT', a.dsn !== null ? (text === '' ? a.dsn : `${a.dsn} ${text}`) : fixLeadingDsn(text, '4'));
    case 'disconnect': {
      const code = a.code ?? '421 4.7.0';
      const cls = code[0] === '5' ? '5' : '4';
      return { verb: 'REPLY', code, text: code.length === 3 ? fixLeadingDsn(text, cls) : text };
    }
    case 'discard':
      return withText('DISCARD', text);
    case 'hold':
      return withText('HOLD', text);
    case 'warn':
      return withText('WARN', text);
    default:
      return { verb: 'DUNNO' };
  }
}

function withText(verb: PolicyAction['verb'], text: string): PolicyAction {
  return text === '' ? { verb } : { verb, text };
}
