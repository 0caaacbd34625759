/**
 * checks/lib/domain — registered domains (public-suffix aware) via tldts.
 *
 * "Registered domain" = one label below the public suffix: mail.example.co.uk
 * -> example.co.uk. Only the ICANN section of the Public Suffix List counts
 * (allowPrivateDomains: false): foo.blogspot.com is under blogspot.com, one
 * operator. Names under suffixes the list does not know (lab TLDs such as
 * .test or .example) fall back to tldts's default rule, the last label as the
 * suffix: host.dyn.example -> dyn.example. A name that is itself a suffix, a
 * single label or an address is its own registered domain.
 *
 * What can go wrong: tldts never throws on strings; a null answer falls back
 * to the name itself.
 */
import { parse } from 'tldts';

const TLDTS_OPTIONS = {
  allowPrivateDomains: false,
  extractHostname: false, // input is a host name already, not a URL
  validateHostname: false, // syntax is judged elsewhere; do not let "_" hide a domain
  detectIp: true,
} as const;

export interface DomainParts {
  /** registered domain, e.g. example.co.uk (the name itself when there is none) */
  readonly registered: string;
  /** labels left of the registered domain ('' when none), e.g. "mail.eu" */
  readonly host: string;
  /** the registered domain without its suffix, e.g. "example" ('' when unknown) */
  readonly label: string;
  /** the public suffix is in the ICANN list (false for lab TLDs and single labels) */
  readonly icann: boolean;
}

export function domainParts(name: string): DomainParts {
  const r = parse(name, TLDTS_OPTIONS);
  const registered = r.domain ?? name;
  const host = r.domain === null || name === registered || !name.endsWith(`.${registered}`)
    ? ''
    : name.slice(0, name.length - registered.length - 1);
  return { registered, host, label: r.domainWithoutSuffix ?? '', icann: r.isIcann === true && r.domain !== null };
}

export function registeredDomain(name: string): string {
  return domainParts(name).registered;
}
