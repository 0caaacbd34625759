/**
 * doctor/fixes — what to do about each failed outbound item, in plain words
 * with the exact Postfix lines.
 *
 * The values (IP, HELO, PTR name, domain) are the admin's own, so every line
 * can be copied; address records are A for an IPv4 address and AAAA for an
 * IPv6 one. Where the fix is in someone else's hands (the PTR belongs to
 * whoever owns the address block), the way around it is shown too: relaying
 * through the ISP's or hosting provider's smarthost (doctor/smarthost.ts).
 * recordsFor() gives the zone-file lines alone, for --json.
 *
 * What can go wrong: nothing; pure text.
 */

export interface FixFacts {
  ip: string;
  /** 4 or 6: the record type of the address (A or AAAA) */
  family: 4 | 6;
  helo: string;
  domain: string;
  /** PTR names of the IP (possibly unconfirmed), in PTR order */
  ptrNames: readonly string[];
  /** PTR names that resolve back to the IP */
  confirmed: readonly string[];
  /** the SPF record to publish (existing one with the IP added, or a new one) */
  spfRecord: string;
  /** the existing SPF record, null when none */
  spfExisting: string | null;
  /** DKIM selector given, or null */
  dkimSelector: string | null;
}

/** "A" or "AAAA" for the address family. */
function rr(f: FixFacts): 'A' | 'AAAA' {
  return f.family === 4 ? 'A' : 'AAAA';
}

/** The DMARC record doctor suggests: monitoring policy, reports to postmaster (RFC 7489 §6.3). */
export function dmarcRecordFor(domain: string): string {
  return `v=DMARC1; p=none; rua=mailto:postmaster@${domain}`;
}

/** Zone-file lines that fix an item (empty when the fix is not a DNS record of the admin's). */
export function recordsFor(item: string, f: FixFacts): string[] {
  const good = f.confirmed[0] ?? null;
  const ptr = ptrOf(f);
  switch (item) {
    case 'fcrdns':
      return ptr === null ? [] : [`${ptr}. IN ${rr(f)} ${f.ip}`];
    case 'helo_resolves':
      return [`${f.helo}. IN ${rr(f)} ${f.ip}`];
    case 'spf':
      return [`${f.domain}. IN TXT "${f.spfRecord}"`];
    case 'dmarc':
      return [`_dmarc.${f.domain}. IN TXT "${dmarcRecordFor(f.domain)}"`];
    case 'dkim':
      return f.dkimSelector === null ? [] : [`${f.dkimSelector}._domainkey.${f.domain}. IN TXT "v=DKIM1; k=rsa; p=<your public key, base64>"`];
    case 'sender_mx':
      return [`${f.domain}. IN MX 10 ${good ?? f.helo}.`];
    default:
      return [];
  }
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
            `    ${ptr}. IN ${rr(f)} ${f.ip}`,
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
        `    ${f.helo}. IN ${rr(f)} ${f.ip}`,
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
        `    ${f.domain}. IN MX 10 ${good ?? f.helo}.`,
      ];
    case 'spf':
      return [
        f.spfExisting === null
          ? `${f.domain} has no SPF record. Gmail, Yahoo and Microsoft require SPF; publish (RFC 7208):`
          : `The SPF record of ${f.domain} does not give pass for ${f.ip}. Add ${f.family === 4 ? 'ip4' : 'ip6'}:${f.ip} (replace the record, one SPF record per domain):`,
        `    ${f.domain}. IN TXT "${f.spfRecord}"`,
        ...(f.spfExisting !== null && /\binclude:|\bredirect=/i.test(f.spfExisting)
          ? ['or, if you send through a provider, make sure its include: is there and it lists this address.']
          : []),
      ];
    case 'dmarc':
      return [
        `${f.domain} needs one DMARC record (Gmail and Yahoo for bulk senders, Microsoft for high-volume`,
        'senders; p=none, monitoring only, is enough to start). In its DNS zone (RFC 7489):',
        `    _dmarc.${f.domain}. IN TXT "${dmarcRecordFor(f.domain)}"`,
        'The From: domain must align with the SPF or DKIM domain for DMARC to pass.',
      ];
    case 'dkim':
      return f.dkimSelector === null
        ? []
        : [
            `No usable DKIM key at ${f.dkimSelector}._domainkey.${f.domain}. Publish the public key of the key your`,
            'signer (OpenDKIM, rspamd, your provider) signs with, e.g. from opendkim-genkey -s SELECTOR -d DOMAIN:',
            `    ${f.dkimSelector}._domainkey.${f.domain}. IN TXT "v=DKIM1; k=rsa; p=<your public key, base64>"`,
          ];
    default:
      return [];
  }
}
