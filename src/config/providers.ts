/**
 * providers — the default table of big mailhosts for sender_provider_forgery.
 *
 * Key: a sender domain, or `name.*` for the same name under any public suffix
 * (yahoo.* = yahoo.com, yahoo.co.uk, yahoo.de ...). Value: the domains under
 * which that provider's outbound servers have their forward-confirmed PTR
 * names (label boundary: `evilgoogle.com` is not under `google.com`).
 * Config `providers:` replaces this table entirely when given.
 */
export const DEFAULT_PROVIDERS: Readonly<Record<string, readonly string[]>> = {
  'gmail.com': ['google.com'],
  'googlemail.com': ['google.com'],
  'yahoo.*': ['yahoo.com', 'yahoodns.net'],
  'ymail.com': ['yahoo.com', 'yahoodns.net'],
  'rocketmail.com': ['yahoo.com', 'yahoodns.net'],
  'aol.com': ['aol.com', 'yahoodns.net'],
  'outlook.*': ['outlook.com', 'protection.outlook.com'],
  'hotmail.*': ['outlook.com', 'protection.outlook.com', 'hotmail.com'],
  'live.*': ['outlook.com', 'protection.outlook.com'],
  'msn.com': ['outlook.com', 'protection.outlook.com'],
  'icloud.com': ['apple.com', 'icloud.com'],
  'me.com': ['apple.com', 'icloud.com'],
  'mac.com': ['apple.com', 'icloud.com'],
  'gmx.*': ['gmx.net', 'gmx.com', 'gmx.de'],
  'web.de': ['web.de'],
  'yandex.*': ['yandex.net', 'yandex.ru'],
  'mail.ru': ['mail.ru'],
};
