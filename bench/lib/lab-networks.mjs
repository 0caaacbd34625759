// lab-networks — the identity.public_networks lines every bench daemon config
// carries. The bench identities (lib/mix.mjs, lib/zone.mjs) live in the
// documentation ranges, which the IANA registries (and so the daemon's
// defaults) call not globally reachable; a lab declares them public. The list
// is the daemon's own DOCUMENTATION_NETWORKS (dist/config/schema.js), so it is
// written once.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './procs.mjs';

const { DOCUMENTATION_NETWORKS } = await import(pathToFileURL(path.join(ROOT, 'dist', 'config', 'schema.js')).href);

/** A whole `identity:` section, ending with a newline. */
export const LAB_IDENTITY_YAML = `identity:\n  public_networks: [${DOCUMENTATION_NETWORKS.map((n) => JSON.stringify(n)).join(', ')}]\n`;
