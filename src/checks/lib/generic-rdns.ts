/**
 * checks/lib/generic-rdns — does a host name look like a dynamic/residential
 * pool name (ISP-generated, one per address) rather than a mail server's name?
 *
 * Only the host part is judged: the labels left of the registered domain
 * (lib/domain.ts), so a provider whose domain happens to contain "dyn" or
 * "cable" is not hit (rspamd#2140), and a name that is just a registered
 * domain ("dns.google") has no host part and is never generic.
 *
 * Signals (SpamAssassin 20_dynrdns.cf, rspamd hfilter, haraka-net-utils
 * is_ip_in_str, draft-msullivan-dnsop-generic-naming-schemes):
 *   1. the client's IPv4 octets in the host part: all four in order or
 *      reversed, or the last three (the first octet is often dropped),
 *      separated by anything ("host-109-168-232-131", "131.232.168.109.pool",
 *      "010-001-002-003"), or the 12 zero-padded digits run together, or the
 *      8 hex digits ("0x3ec6ec81", "p5B0E1234.dip0");
 *      IPv6: the 32 nibbles (either order) or the groups joined with "-";
 *   2. a pool word as a separate token (split on "." "-" "_", digits around
 *      allowed: "dsl", "dyn3", "pool12", "dhcp"), see POOL_WORDS;
 * Exempt: a host part starting with mail/mx/smtp (optionally numbered:
 * "mail-ww0-f53", "mx2", "smtp-out") or with a token static/fixed/fixip
 * anywhere ("static-203-0-113-5") — ISPs name static assignments so.
 *
 * What can go wrong: heuristics. False positives are possible (a mail server
 * named after its address); the check is a warn/score signal by default.
 */
import type { ParsedIp } from '../../net/ip.js';
import { domainParts } from './domain.js';

/** Tokens that mark dynamic, residential or access-network names. */
export const POOL_WORDS: readonly string[] = [
  'dyn', 'dynamic', 'dynip', 'dhcp', 'dsl', 'adsl', 'vdsl', 'xdsl', 'sdsl', 'cable', 'cablemodem', 'modem',
  'ppp', 'pppoe', 'pptp', 'pool', 'dialup', 'dialin', 'dial', 'dip', 'client', 'clients', 'broadband',
  'bredband', 'cpe', 'catv', 'docsis', 'gprs', 'cdma', 'wifi', 'wlan', 'homeuser', 'residential', 'resnet',
];

const POOL_RE = new RegExp(`^[0-9]*(?:${POOL_WORDS.join('|')})[0-9]*$`);
const EXEMPT_FIRST = /^(?:mail|mx|smtp)[0-9]*$/;
const EXEMPT_ANY = /^(?:static|fixed|fixip)[0-9]*$/;

export interface GenericVerdict {
  readonly generic: boolean;
  readonly why: string;
}

function hasRun(runs: readonly number[], seq: readonly number[]): boolean {
  outer: for (let i = 0; i + seq.length <= runs.length; i++) {
    for (let j = 0; j < seq.length; j++) if (runs[i + j] !== seq[j]) continue outer;
    return true;
  }
  return false;
}

function ipv4InHost(host: string, ip: ParsedIp): string | null {
  const n = Number(ip.value);
  const o = [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const runs = (host.match(/[0-9]+/g) ?? []).map((d) => (d.length <= 3 ? Number(d) : -1));
  const rev = [...o].reverse();
  if (hasRun(runs, o)) return `the client's octets ${o.join('-')}`;
  if (hasRun(runs, rev)) return `the client's octets reversed ${rev.join('-')}`;
  if (hasRun(runs, o.slice(1))) return `the client's last octets ${o.slice(1).join('-')}`;
  if (hasRun(runs, rev.slice(0, 3))) return `the client's last octets reversed ${rev.slice(0, 3).join('-')}`;
  const pad = o.map((x) => String(x).padStart(3, '0'));
  const digits: readonly string[] = host.match(/[0-9]+/g) ?? [];
  if (digits.includes(pad.join('')) || digits.includes([...pad].reverse().join(''))) return `the client's address as digits ${pad.join('')}`;
  const hex = n.toString(16).padStart(8, '0');
  if (host.includes(hex)) return `the client's address in hex ${hex}`;
  return null;
}

function ipv6InHost(host: string, ip: ParsedIp): string | null {
  const nibbles = ip.value.toString(16).padStart(32, '0');
  const flat = host.replace(/[.\-_]/g, '');
  if (flat.includes(nibbles) || flat.includes([...nibbles].reverse().join(''))) return `the client's address nibbles`;
  if (host.includes(ip.text.replace(/:/g, '-'))) return `the client's address ${ip.text}`;
  const groups = nibbles.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
  if (host.includes(groups.join('-'))) return `the client's address ${ip.text}`;
  return null;
}

/** Judge a (forward-confirmed) host name against the client address it belongs to. */
export function judgeGenericName(name: string, client: ParsedIp): GenericVerdict {
  const { host, registered } = domainParts(name);
  if (host === '') return { generic: false, why: `${name} has no host part left of ${registered}` };
  const tokens = host.split(/[.\-_]+/).filter((t) => t !== '');
  if (tokens.length > 0 && EXEMPT_FIRST.test(tokens[0]!)) {
    return { generic: false, why: `host part "${host}" starts with "${tokens[0]}" (a mail server name)` };
  }
  const stat = tokens.find((t) => EXEMPT_ANY.test(t));
  if (stat !== undefined) return { generic: false, why: `host part "${host}" says "${stat}" (a static assignment)` };
  const inName = client.family === 4 ? ipv4InHost(host, client) : ipv6InHost(host, client);
  if (inName !== null) return { generic: true, why: `host part "${host}" contains ${inName}` };
  const word = tokens.find((t) => POOL_RE.test(t));
  if (word !== undefined) return { generic: true, why: `host part "${host}" has the dynamic-pool word "${word}"` };
  return { generic: false, why: `host part "${host}" has neither the client's address nor a dynamic-pool word` };
}
