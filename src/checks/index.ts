/**
 * checks/index — the ordered registry of identity checks.
 *
 * The order is the engine's tie-break order (first check wins among equally
 * severe actions) and the order of log lines, README rows and metrics.
 * Each entry lives in its own file named after its id (dashes for
 * underscores); shared, memoised DNS work lives in ./lib/.
 *
 * What can go wrong: nothing at run time. Two checks with one id would share
 * one config key, metric label and docs row: keep ids unique when adding one.
 */
import type { CheckDef } from './types.js';
import { heloMissing } from './helo-missing.js';
import { heloInvalid } from './helo-invalid.js';
import { heloNotFqdn } from './helo-not-fqdn.js';
import { heloAddressLiteral } from './helo-address-literal.js';
import { heloPrivate } from './helo-private.js';
import { heloUnknown } from './helo-unknown.js';
import { heloMismatch } from './helo-mismatch.js';
import { heloImpersonation } from './helo-impersonation.js';
import { rdnsMissing } from './rdns-missing.js';
import { rdnsUnconfirmed } from './rdns-unconfirmed.js';
import { rdnsGeneric } from './rdns-generic.js';
import { rdnsHeloMismatch } from './rdns-helo-mismatch.js';
import { clientPrivate } from './client-private.js';
import { senderDomainUnknown } from './sender-domain-unknown.js';
import { senderNullMx } from './sender-null-mx.js';
import { senderMxBogus } from './sender-mx-bogus.js';
import { senderMxRequired } from './sender-mx-required.js';
import { clientNotSenderMx } from './client-not-sender-mx.js';
import { senderProviderForgery } from './sender-provider-forgery.js';
import { spfHelo } from './spf-helo.js';
import { spfHeloSoftfail } from './spf-helo-softfail.js';
import { spfHeloPermerror } from './spf-helo-permerror.js';
import { spfMailFrom } from './spf-mail-from.js';
import { spfMailFromSoftfail } from './spf-mail-from-softfail.js';
import { spfMailFromPermerror } from './spf-mail-from-permerror.js';

export const CHECKS: readonly CheckDef[] = [
  heloMissing,
  heloInvalid,
  heloNotFqdn,
  heloAddressLiteral,
  heloPrivate,
  heloUnknown,
  heloMismatch,
  heloImpersonation,
  spfHelo,
  spfHeloSoftfail,
  spfHeloPermerror,
  rdnsMissing,
  rdnsUnconfirmed,
  rdnsGeneric,
  rdnsHeloMismatch,
  clientPrivate,
  senderDomainUnknown,
  senderNullMx,
  senderMxBogus,
  senderMxRequired,
  clientNotSenderMx,
  spfMailFrom,
  spfMailFromSoftfail,
  spfMailFromPermerror,
  senderProviderForgery,
];

export const CHECK_IDS: readonly string[] = CHECKS.map((c) => c.id);
