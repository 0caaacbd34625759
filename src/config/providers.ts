/**
 * providers — the default list of big mailbox providers' sender domains for
 * sender_provider_forgery: mail whose MAIL FROM domain is one of these must
 * pass SPF (RFC 7208) for that domain, or it is a forgery.
 *
 * Domains are named exactly (no wildcards, no subdomains): a provider's
 * users send from these domains, and each domain publishes its own SPF record,
 * which the provider keeps current. Who sends for whom is their record's
 * business, not a table here: aol.com's record includes Yahoo's ranges (AOL
 * Mail runs on Yahoo's servers), me.com and mac.com point at icloud.com's.
 * Yahoo! JAPAN (yahoo.co.jp) is a different company with its own record and
 * servers, listed as its own entry.
 *
 * Sources (which provider, where the domain list comes from) are in
 * docs/checks.md, "Provider domains". Config `providers:` replaces this list
 * entirely when given.
 *
 * What can go wrong: nothing at run time (a constant list). A provider that
 * adds a sending domain not listed here is simply not judged for it.
 */
export const DEFAULT_PROVIDERS: readonly string[] = [
  // Google (Gmail): gmail.com, and googlemail.com where Gmail was so named (DE, UK)
  'gmail.com',
  'googlemail.com',
  // Yahoo Inc. (Yahoo Mail, AOL Mail)
  'yahoo.com',
  'ymail.com',
  'rocketmail.com',
  'aol.com',
  // Microsoft (Outlook.com consumer addresses)
  'outlook.com',
  'hotmail.com',
  'live.com',
  'msn.com',
  // Apple (iCloud Mail: icloud.com, and the older me.com and mac.com)
  'icloud.com',
  'me.com',
  'mac.com',
  // LY Corporation (Yahoo! JAPAN Mail)
  'yahoo.co.jp',
  // United Internet (GMX, WEB.DE)
  'gmx.net',
  'gmx.de',
  'web.de',
  // Yandex, VK (Mail.ru)
  'yandex.ru',
  'mail.ru',
];
