/**
 * doctor/smarthost — relaying through the ISP's or hosting provider's
 * smarthost, when the PTR side of the address cannot be fixed by its user.
 *
 * Two ways, both exact Postfix configuration (main.cf lines and map files):
 *   all mail         relayhost = [relay]:port
 *   per destination  transport_maps: only the big mailhosts' domains go to
 *                    the relay, everything else is delivered directly.
 * TLS is REQUIRED only toward the smarthost (smtp_tls_policy_maps:
 * "[relay]:port encrypt"), so the password never crosses the wire in clear;
 * the global smtp_tls_security_level stays "may" (opportunistic, RFC 3207 /
 * RFC 7435): a global "encrypt" would defer every direct delivery to a
 * server without STARTTLS. SASL: Postfix offers the login only to a
 * next-hop listed in smtp_sasl_password_maps, so per-destination relaying
 * leaves other deliveries alone.
 * test/cli-test-doctor.test.ts feeds these lines to a real `postconf -n` and
 * `postmap` in a temporary config_directory.
 *
 * What can go wrong: nothing; pure text. The relay name is the admin's
 * (--relay) or a placeholder to replace.
 */

/** The big mailhosts' domains the per-destination example routes through the smarthost. */
export const BIG_MAILHOSTS = [
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com', 'aol.com',
] as const;

/** Placeholder relay when --relay is not given. */
export const DEFAULT_RELAY = 'smtp.isp.example:587';

export interface PostfixRecipe {
  /** lines for /etc/postfix/main.cf (postconf -e accepts each as one argument) */
  readonly main_cf: readonly string[];
  /** map files: path -> lines */
  readonly maps: Readonly<Record<string, readonly string[]>>;
  /** commands to run after writing the files */
  readonly commands: readonly string[];
}

export interface SmarthostAdvice {
  /** the relay as Postfix's next-hop, e.g. "[smtp.isp.example]:587" */
  readonly relay: string;
  readonly all_mail: PostfixRecipe;
  readonly per_destination: PostfixRecipe;
  /** the same, as text for the terminal */
  readonly text: readonly string[];
}

/** "smtp.isp.example:587" / "[smtp.isp.example]:587" / "smtp.isp.example" -> "[smtp.isp.example]:587" */
export function relayNextHop(relay: string): string {
  let host = relay.trim();
  let port = '587';
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = bracket[2];
  } else {
    const colon = host.lastIndexOf(':');
    if (colon > 0 && host.indexOf(':') === colon && /^\d+$/.test(host.slice(colon + 1))) {
      port = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
  }
  return `[${host.toLowerCase()}]:${port}`;
}

const SASL_LINES = [
  'smtp_sasl_auth_enable = yes',
  'smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd',
  'smtp_sasl_security_options = noanonymous',
  'smtp_sasl_tls_security_options = noanonymous',
  'smtp_tls_security_level = may',
  'smtp_tls_policy_maps = hash:/etc/postfix/tls_policy',
];

export function smarthostAdvice(relay: string = DEFAULT_RELAY): SmarthostAdvice {
  const hop = relayNextHop(relay);
  const common = {
    '/etc/postfix/sasl_passwd': [`${hop} USERNAME:PASSWORD`],
    '/etc/postfix/tls_policy': [`${hop} encrypt`],
  };
  const commonCommands = [
    'chmod 600 /etc/postfix/sasl_passwd',
    'postmap /etc/postfix/sasl_passwd /etc/postfix/tls_policy',
  ];
  const all: PostfixRecipe = {
    main_cf: [`relayhost = ${hop}`, ...SASL_LINES],
    maps: common,
    commands: [...commonCommands, 'postfix reload'],
  };
  const width = Math.max(...BIG_MAILHOSTS.map((d) => d.length)) + 1;
  const per: PostfixRecipe = {
    main_cf: ['transport_maps = hash:/etc/postfix/transport', ...SASL_LINES],
    maps: { ...common, '/etc/postfix/transport': BIG_MAILHOSTS.map((d) => `${d.padEnd(width)}smtp:${hop}`) },
    commands: [...commonCommands, 'postmap /etc/postfix/transport', 'postfix reload'],
  };
  const recipeText = (r: PostfixRecipe): string[] => [
    '    # /etc/postfix/main.cf',
    ...r.main_cf.map((l) => `    ${l}`),
    ...Object.entries(r.maps).flatMap(([file, lines]) => [`    # ${file}`, ...lines.map((l) => `    ${l}`)]),
    ...r.commands.map((c) => `    $ ${c}`),
  ];
  const text = [
    'If the PTR cannot be fixed (the address belongs to your ISP or hosting provider), send through',
    `their smarthost, which has a proper PTR and reputation. ${relay === DEFAULT_RELAY ? 'Replace smtp.isp.example:587 with the relay they give you (or run doctor with --relay HOST:PORT),' : `Relay ${hop},`}`,
    'and USERNAME:PASSWORD with your login there. TLS is required toward the smarthost only',
    '(smtp_tls_policy_maps); other deliveries keep smtp_tls_security_level = may.',
    '',
    '  All outgoing mail through the smarthost:',
    ...recipeText(all),
    '',
    `  Or only mail to the big mailhosts (${BIG_MAILHOSTS.join(', ')}):`,
    ...recipeText(per),
  ];
  return { relay: hop, all_mail: all, per_destination: per, text };
}
