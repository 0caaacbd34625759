/**
 * cli/doctor — the outbound view: why might Gmail, Yahoo or Microsoft
 * (Outlook/Hotmail) refuse this server's mail? (doctor/report.ts does the
 * checking; docs/doctor.md is the reference, with the --json shape.)
 *
 *   policyd-identity doctor --ip 203.0.113.5 --helo mail.example.com --domain example.com
 *       [--dkim-selector S] [--relay HOST[:PORT]] [--json] [--dns HOST[:PORT]]... [--config F]
 *
 * DNS: the system's resolver by default (doctor looks at the real Internet,
 * like the mailhosts do), or --dns / dns.servers from --config.
 *
 * Exit codes: 0 every item passes, 1 something needs attention (or DNS
 * failed temporarily), 64 usage, 78 config error.
 *
 * What can go wrong: DNS answers from the real Internet may be slow or
 * missing: a lookup that fails temporarily is reported as such (exit 1), never
 * as a pass or a permanent problem.
 */
import { COMMON_OPTIONS, parse } from './args.js';
import { loadFor } from './config-source.js';
import { formatConfigError } from '../config/load.js';
import { CachingResolver } from '../dns/resolver.js';
import { parseIp } from '../net/ip.js';
import { PolicydError } from '../errors.js';
import { runDoctor, type DoctorReport } from '../doctor/report.js';

export const DOCTOR_USAGE = `usage: policyd-identity doctor --ip PUBLIC_IP --helo NAME --domain SENDER_DOMAIN
         [--dkim-selector SELECTOR] [--relay HOST[:PORT]] [--json] [--dns HOST[:PORT]]... [--config F]

Checks what Gmail, Yahoo and Microsoft (Outlook/Hotmail) require of senders, as
far as it shows from outside: public address, PTR with forward confirmation,
HELO, SPF pass for the IP, DMARC (policy shown), the DKIM key at a selector,
the domain's MX and null MX; and prints the exact fix for each failed item.
Exit 0 when nothing fails, 1 otherwise.
  --ip             the public address your mail leaves from
  --helo           the name your Postfix announces (postconf myhostname smtp_helo_name)
  --domain         the domain of your sender addresses
  --dkim-selector  the s= of your DKIM-Signature header (the key is checked only when given)
  --relay          your provider's smarthost, for the relay advice (default smtp.isp.example:587)
`;

const DOCTOR_OPTIONS = {
  config: COMMON_OPTIONS.config,
  dns: COMMON_OPTIONS.dns,
  help: COMMON_OPTIONS.help,
  ip: { type: 'string' },
  helo: { type: 'string' },
  domain: { type: 'string' },
  'dkim-selector': { type: 'string' },
  relay: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const MARK: Record<string, string> = { pass: 'PASS', fail: 'FAIL', tempfail: 'DNS?', skip: 'n/a ' };

export function renderReport(r: DoctorReport, dnsLabel: string): string {
  const out: string[] = [];
  out.push('What Gmail, Yahoo and Microsoft (Outlook/Hotmail) check when your server sends to them:');
  out.push(`  IP ${r.ip}   HELO ${r.helo}   sender domain ${r.domain}${r.dkim_selector ? `   DKIM selector ${r.dkim_selector}` : ''}   (DNS: ${dnsLabel})`);
  out.push('');
  for (const item of r.items) {
    out.push(`${MARK[item.status]}  ${item.title}`);
    for (const f of item.findings) if (f.result !== 'skip' || item.status === 'skip') out.push(`      ${f.reason}`);
    if (item.fix.length > 0) {
      out.push('      fix:');
      for (const l of item.fix) out.push(`        ${l}`);
    }
  }
  if (r.dmarc_policy !== null) out.push('', `DMARC policy of ${r.domain}: p=${r.dmarc_policy}`);
  if (r.smarthost) {
    out.push('');
    for (const l of r.smarthost.text) out.push(l);
  }
  out.push('', 'Not checked (cannot be seen from outside):');
  for (const n of r.not_checked) out.push(`  - ${n.text}`);
  out.push('');
  const bad = r.items.filter((i) => i.status === 'fail' || i.status === 'tempfail').length;
  out.push(r.ok ? 'All checks pass.' : `${bad} of ${r.items.length} items need attention.`);
  return `${out.join('\n')}\n`;
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, DOCTOR_OPTIONS);
  if (positionals.length > 0) throw new PolicydError('PI_CLI_USAGE', `unexpected argument ${JSON.stringify(positionals[0])} (see policyd-identity doctor --help)`);
  for (const k of ['ip', 'helo', 'domain'] as const) {
    if (values[k] === undefined || values[k] === '') throw new PolicydError('PI_CLI_USAGE', `--${k} is required (see policyd-identity doctor --help)`);
  }
  if (parseIp(values.ip!) === null) throw new PolicydError('PI_CLI_USAGE', `--ip ${JSON.stringify(values.ip)} is not an IP address`);
  const domain = values.domain!.replace(/^.*@/, '');

  const r = loadFor(values.config, { dns: values.dns });
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    return 78;
  }
  const dns = new CachingResolver(r.config.dns);
  let report: DoctorReport;
  try {
    const selector = values['dkim-selector'];
    if (selector !== undefined && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i.test(selector)) throw new PolicydError('PI_CLI_USAGE', `--dkim-selector ${JSON.stringify(selector)} is not a selector (labels of letters, digits, "-", "_")`);
    if (values.relay !== undefined && !/^(\[[a-z0-9.-]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(values.relay)) throw new PolicydError('PI_CLI_USAGE', `--relay ${JSON.stringify(values.relay)} is not HOST[:PORT]`);
    // doctor's deadline covers SPF's up to 10 DNS-querying terms too: four times the daemon's
    report = await runDoctor(
      { ip: values.ip!, helo: values.helo!, domain, dkimSelector: selector?.toLowerCase() ?? null, relay: values.relay ?? null },
      r.config,
      dns.scoped(Date.now() + 4 * r.config.dns.deadline),
    );
  } finally {
    dns.close();
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const dnsLabel = r.config.dns.servers.length > 0 ? r.config.dns.servers.join(', ') : 'system resolver';
    process.stdout.write(renderReport(report, dnsLabel));
  }
  return report.ok ? 0 : 1;
}
