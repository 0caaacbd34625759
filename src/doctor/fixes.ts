/**
 * doctor/fixes — what to do about each failed outbound item, in plain words
 * with the exact Postfix lines.
 *
 * The values (IP, HELO, PTR name, domain) are the admin's own, so every line
 * can be copied. Where the fix is in someone else's hands (the PTR belongs to
 * whoever owns the address block), the way around it is shown too: relaying
 * through the ISP's or hosting provider's smarthost, for all mail or only for
 * the big mailhosts (SMARTHOST_LINES).
 *
 * What can go wrong: nothing; pure text.
 */

export interface FixFacts {
  ip: string;
  helo: string;
  domain: string;
  /** PTR names of the IP (possibly unconfirmed), in PTR order */
  ptrNames: readonly string[];
  /** PTR names that resolve back to the IP */
  confirmed: readonly string[];
}

/** the big mailhosts' domains the transport_maps example routes through the smarthost */
export const BIG_MAILHOSTS = ['gmail.com', 'outlook.com', 'yahoo.com', 'aol.com'] as const;

const SMARTHOST = '[smtp.isp.example]:587';

/** Relay through a smarthost: all mail, or only the big mailhosts (transport_maps). */
export function smarthostLines(): string[] {
  return [
    "If the PTR cannot be fixed (it belongs to your ISP or hosting provider), send through their",
    'smarthost instead; it has a proper PTR and reputation. Replace smtp.isp.example with the relay',
    'host they give you, and put your login in /etc/postfix/sasl_passwd:',
    `    ${SMARTHOST} username:password`,
    '  then: postmap /etc/postfix/sasl_passwd && chmod 600 /etc/postfix/sasl_passwd*',
    '',
    '  All outgoing mail through the smarthost, in /etc/postfix/main.cf:',
    `    relayhost = ${SMARTHOST}`,
    '    smtp_sasl_auth_enable = yes',
    '    smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd',
    '    smtp_sasl_security_options = noanonymous',
    '    smtp_tls_security_level = encrypt',
    '',
    '  Or only mail to the big mailhosts: keep the sasl and tls lines above (not relayhost) and add',
    '    transport_maps = hash:/etc/postfix/transport',
    '  with /etc/postfix/transport:',
    ...BIG_MAILHOSTS.map((d) => `    ${d.padEnd(12)} smtp:${SMARTHOST}`),
    '  then: postmap /etc/postfix/transport && postfix reload',
    '  (add their other domains, e.g. hotmail.com, live.com, googlemail.com, as you need them).',
  ];
}

function ptrOf(f: FixFacts): string | null {
  return f.confirmed[0] ?? f.ptrNames[0] ?? null;
}

function heloLines(name: string): string[] {
  return [
    `    myhostname = ${name}          # the server's own name (also its HELO), or only the HELO:`,
    `    smtp_helo_name = ${name}`,
    '  in /etc/postfix/main.cf, then: postfix reload',
  ];
}

/** Fix text per doctor item id, for a failed (or tempfailed) item. */
export function fixFor(item: string, f: FixFacts): string[] {
  // any PTR name, for describing what is there; only a confirmed one is worth announcing
  const ptr = ptrOf(f);
  const good = f.confirmed[0] ?? null;
  switch (item) {
    case 'ip_public':
      return [
        `${f.ip} is not a public address, so no mailhost can see it. If your server sits behind NAT,`,
        'run doctor again with the public address your mail leaves from (your router or provider',
        'knows it); that address needs the PTR, and HELO must name it.',
      ];
    case 'ptr':
      return [
        `Ask whoever owns ${f.ip} (your ISP or hosting provider; for a cloud server, its control panel)`,
        `to set the PTR (reverse DNS) of ${f.ip} to ${f.helo}.`,
        `Without a PTR, Gmail, Outlook/Hotmail, Yahoo and AOL refuse or junk your mail.`,
      ];
    case 'fcrdns':
      return ptr === null
        ? [`Give ${f.ip} a PTR first (see above).`]
        : [
            `The PTR of ${f.ip} names ${ptr}, but ${ptr} does not resolve back to ${f.ip}.`,
            `Add the address record in the DNS zone of ${ptr}:`,
            `    ${ptr}. IN A ${f.ip}`,
            `or ask for the PTR to be changed to a name that resolves to ${f.ip}, such as ${f.helo}.`,
          ];
    case 'ptr_generic':
      return [
        `The PTR name ${ptr ?? ''} looks like a dynamic or residential address pool; big mailhosts`,
        `treat such senders as infected home machines. Ask for a PTR with your own name (${f.helo}),`,
        'or relay through the smarthost (below).',
      ];
    case 'helo_fqdn':
      return [
        `Your server must announce a fully-qualified host name that resolves to ${f.ip}`,
        `(${good ?? `mail.${f.domain}`} is a good choice):`,
        ...heloLines(good ?? `mail.${f.domain}`),
      ];
    case 'helo_public':
      return [
        `HELO ${f.helo} is an internal name or resolves to internal addresses: the classic cause is a`,
        'server announcing its LAN name or address. Announce the public name instead:',
        ...heloLines(good ?? `mail.${f.domain}`),
      ];
    case 'helo_resolves':
      return [
        `Make ${f.helo} resolve to ${f.ip} in your DNS zone:`,
        `    ${f.helo}. IN A ${f.ip}`,
        ...(good !== null && good !== f.helo ? ['or announce the PTR name, which already does:', ...heloLines(good)] : []),
      ];
    case 'ptr_helo':
      return good === null
        ? []
        : [
            `The PTR name ${good} and HELO ${f.helo} should be the same name (or in the same domain).`,
            'Announce the PTR name:',
            ...heloLines(good),
            `or ask whoever owns ${f.ip} to set its PTR to ${f.helo}.`,
          ];
    case 'sender_mx':
      return [
        `${f.domain} must be able to receive mail (bounces, replies): give it MX records pointing at a`,
        'host with a public address, and no null MX ("MX 0 ."), e.g. in its DNS zone:',
        `    ${f.domain}. IN MX 10 ${f.helo}.`,
      ];
    default:
      return [];
  }
}
