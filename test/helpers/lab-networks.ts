/**
 * helpers/lab-networks — the one place tests declare the documentation ranges public.
 *
 * The daemon follows the IANA special-purpose registries: 192.0.2.0/24,
 * 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 and 3fff::/20 are not
 * globally reachable, so a client there is "private" by default. Tests use
 * these ranges as stand-ins for Internet hosts (they never reach the
 * network), so they configure identity.public_networks themselves, as a lab
 * would, from here.
 */
import { DOCUMENTATION_NETWORKS } from '../../src/config/schema.js';
import { compileCidrs } from '../../src/net/ip.js';

/** The prefixes a test lab counts as public. */
export const LAB_PUBLIC_NETWORKS: readonly string[] = DOCUMENTATION_NETWORKS;

/** The same as a compiled set, for configs built in code. */
export function labPublicNetworks(): ReturnType<typeof compileCidrs> {
  return compileCidrs([...LAB_PUBLIC_NETWORKS]);
}

/** YAML lines for a config file's identity section (two-space indented key under `identity:`). */
export const LAB_PUBLIC_NETWORKS_YAML = `  public_networks: [${LAB_PUBLIC_NETWORKS.map((n) => JSON.stringify(n)).join(', ')}]\n`;

/** A whole `identity:` section declaring the lab networks public, for configs that have none. */
export const LAB_IDENTITY_YAML = `identity:\n${LAB_PUBLIC_NETWORKS_YAML}`;
