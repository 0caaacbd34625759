/**
 * dns-relay — a UDP relay on a fixed loopback port in front of the test DNS
 * server, so a fault test can make "the DNS server" die and come back on the
 * SAME address the daemon was configured with (the test DNS server itself
 * always binds a fresh port 0).
 *
 *   const relay = await startDnsRelay(dns.port);   // daemon config: dns.servers: [relay.server]
 *   await relay.kill();     // port closed: queries get ICMP port unreachable (c-ares: ECONNREFUSED)
 *   relay.blackhole(true);  // port open, queries swallowed (c-ares: ETIMEOUT)
 *   await relay.revive();   // same port again, relaying
 *
 * UDP only: the identity mix's answers are small (no truncation, so c-ares
 * never falls back to TCP). Loopback only.
 *
 * What can go wrong: revive() rejects if something else took the port in the
 * meantime (it retries for a second first).
 */
import dgram from 'node:dgram';

export interface DnsRelay {
  readonly port: number;
  /** for config dns.servers */
  readonly server: string;
  readonly alive: boolean;
  /** queries relayed while alive and not blackholed */
  relayed: number;
  kill(): Promise<void>;
  revive(): Promise<void>;
  blackhole(on: boolean): void;
  stop(): Promise<void>;
}

export async function startDnsRelay(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<DnsRelay> {
  let front: dgram.Socket | null = null;
  let port = 0;
  let swallow = false;
  // one upstream socket per relayed query: its reply goes back to that query's sender
  const bind = async (p: number): Promise<dgram.Socket> => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(p, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => { /* a vanished client */ });
    s.on('message', (msg, rinfo) => {
      if (swallow) return;
      api.relayed++;
      const up = dgram.createSocket('udp4');
      const done = () => {
        clearTimeout(t);
        up.close();
      };
      const t = setTimeout(done, 5000);
      up.on('error', done);
      up.on('message', (reply) => {
        if (front === s) s.send(reply, rinfo.port, rinfo.address, () => {});
        done();
      });
      up.send(msg, upstreamPort, upstreamHost);
    });
    return s;
  };
  front = await bind(0);
  port = front.address().port;
  const close = (s: dgram.Socket) => new Promise<void>((r) => s.close(() => r()));
  const api: DnsRelay = {
    port,
    server: `127.0.0.1:${port}`,
    get alive() {
      return front !== null;
    },
    relayed: 0,
    async kill() {
      if (front === null) return;
      const s = front;
      front = null;
      await close(s);
    },
    async revive() {
      if (front !== null) return;
      for (let i = 0; ; i++) {
        try {
          front = await bind(port);
          return;
        } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    blackhole(on: boolean) {
      swallow = on;
    },
    async stop() {
      await api.kill();
    },
  };
  return api;
}
