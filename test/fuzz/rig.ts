/**
 * rig — the test bench the fuzz, load and fault tests share: a loopback test
 * DNS server with the identity zone (optionally behind a DnsRelay that can
 * die and come back on the same port), a temporary directory with the daemon
 * config, and the spawned daemon. Everything is torn down with the tap test.
 *
 *   const { d, port, dns, relay, writeConfig } = await startRig(t, { relay: true, dnsExtra: '...' });
 *
 * What can go wrong: start-up failures reject (the test fails with the
 * daemon's stderr, see SpawnedDaemon.start).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { identityConfig, populateZone, type ConfigOptions } from './identities.js';
import { SpawnedDaemon } from './daemon.js';
import { startDnsRelay, type DnsRelay } from './dns-relay.js';

/** the part of a tap Test the rig needs */
interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface RigOptions extends Omit<ConfigOptions, 'dnsServer' | 'logDestination'> {
  /** put a DnsRelay between the daemon and the DNS server */
  relay?: boolean;
  /** log.destination: a file in the rig's directory instead of stdout */
  logToFile?: boolean;
  /** open-files soft limit for the daemon */
  nofile?: number;
}

export interface Rig {
  dir: string;
  dns: TestDnsServer;
  relay: DnsRelay | null;
  /** the config file the daemon reads (SIGHUP re-reads it) */
  cfg: string;
  d: SpawnedDaemon;
  port: number;
  /** rewrite the config file with other options (same DNS server, same log destination) */
  writeConfig(o?: Partial<RigOptions>): void;
}

export async function startRig(t: Teardown, o: RigOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'pi-robust-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dns = await startDnsServer();
  t.teardown(() => dns.stop());
  populateZone(dns);
  const relay = o.relay ? await startDnsRelay(dns.port) : null;
  if (relay) t.teardown(() => relay.stop());
  const cfg = join(dir, 'policyd-identity.yaml');
  const logFile = o.logToFile ? join(dir, 'daemon.log') : undefined;
  const writeConfig = (more: Partial<RigOptions> = {}) =>
    writeFileSync(cfg, identityConfig({ ...o, ...more, dnsServer: relay?.server ?? dns.server, logDestination: logFile }));
  writeConfig();
  const d = await SpawnedDaemon.start(cfg, { nofile: o.nofile, logFile });
  t.teardown(() => d.stop());
  return { dir, dns, relay, cfg, d, port: d.port(), writeConfig };
}
