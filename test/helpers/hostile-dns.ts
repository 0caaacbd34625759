/**
 * test/helpers/hostile-dns — a loopback DNS server of an attacker's making
 * (issue 13): the zones a client controls (its reverse zone, its sender
 * domain, its HELO name) answering with floods and on purpose slowly.
 *
 *   const h = await startHostileDns();           // the attack zones below, ready
 *   config dns.servers: [h.server]                // '127.0.0.1:PORT'
 *   h.maxPending('slow')                          // most queries of the slow zone held at once
 *   h.released('slow')                            // delayed replies of the slow zone sent so far
 *   h.count('A')                                  // queries received, by type
 *   await h.stop();
 *
 * The zones (ATTACK names, all under .attack.example or 2001:db8:bad::/48):
 *   bigA        A     4,000 private addresses (10.x.y.z)
 *   mxFlood     MX    10 hosts h0..h9.mxflood.attack.example, each with
 *                     4,000 private A records (the memory attack)
 *   manyMx      MX    1,000 MX records (distinct hosts, no addresses)
 *   nullMxLast  MX    999 MX records and a null MX ('.') last of all
 *   ptrFlood    PTR   any address in 2001:db8:bad::/48 -> 2,500 PTR names
 *   slow        any   every name under slow.attack.example answers after
 *                     `slowMs` (default 3,000 ms): A 192.0.2.1 (documentation,
 *                     treated as global), MX 10 mx.slow.attack.example
 *   honest      any   honest.example: mail.honest.example A 203.0.113.5,
 *                     MX 10 mail.honest.example; PTR 203.0.113.5 -> mail.honest.example;
 *                     any other name under honest.example: A 203.0.113.5 and
 *                     MX 10 mail.honest.example (new honest names per request)
 * Everything else: NXDOMAIN.
 * `custom(name, type)` (the fuzz's) is asked first for every query and may
 * return any answer (rcode, A/AAAA/MX/PTR records, a delay); undefined falls
 * back to the zones above. Over TCP an answer is cut to what one 64 KB DNS
 * message holds.
 *
 * Why its own server (not dns-server.ts): the floods need DNS name
 * compression to fit in one 64 KB TCP message (4,000 A records are 64,035
 * bytes compressed, 132 KB as dns-packet writes them), so answers are encoded
 * here by hand: owner names point at the question (0xC00C), PTR targets are
 * one label plus that pointer. Queries are decoded with dns-packet.
 * UDP replies bigger than the client's EDNS size (512 without EDNS) go out
 * with TC set and no records; c-ares then asks over TCP on the same port.
 *
 * What can go wrong: binds 127.0.0.1 port 0 (UDP), then TCP on the same port
 * (20 tries, then the promise rejects). A query that does not decode is
 * dropped. stop() closes both sockets and drops replies still delayed.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { parseIp } from '../../src/net/ip.js';

export const ATTACK = {
  bigA: 'big-a.attack.example',
  mxFlood: 'mxflood.attack.example',
  manyMx: 'manymx.attack.example',
  nullMxLast: 'nullmx-last.attack.example',
  /** any address of this /48 (IPv6 client) */
  ptrFloodPrefix: '2001:db8:bad:',
  slowZone: 'slow.attack.example',
  honestDomain: 'honest.example',
  honestHost: 'mail.honest.example',
  honestIp: '203.0.113.5',
} as const;

export const FLOOD_A = 4000;
export const FLOOD_MX_HOSTS = 10;
export const MANY_MX = 1000;
export const FLOOD_PTR = 2500;

const TYPE = { A: 1, PTR: 12, MX: 15, AAAA: 28 } as const;

interface Reply {
  rcode: number;
  /** encoded answer RRs (owner = pointer to the question name) */
  rrs: Buffer[];
  delayMs: number;
  /** zone tag for pending counts ('' = none) */
  tag: string;
}

/** A made-up answer (the fuzz's): records are encoded with compression like the floods. */
export interface CustomAnswer {
  rcode?: number;
  A?: string[];
  AAAA?: string[];
  MX?: Array<[number, string]>;
  /** target names (labels of at most 63 bytes) */
  PTR?: string[];
  delayMs?: number;
}

export interface HostileDns {
  readonly port: number;
  /** for dns.servers */
  readonly server: string;
  /** queries received (all, or of one type) */
  count(type?: string): number;
  /** queries of a tagged zone ('slow') waiting for their delayed reply now */
  pending(tag: string): number;
  /** the most queries of a tagged zone waiting at once since start / reset */
  maxPending(tag: string): number;
  /** delayed replies of a tagged zone sent so far (0: the zone has answered nothing yet) */
  released(tag: string): number;
  reset(): void;
  stop(): Promise<void>;
}

// ---- encoding -------------------------------------------------------------------

function rr(type: number, rdata: Buffer, ttl = 300): Buffer {
  const b = Buffer.alloc(12 + rdata.length);
  b.writeUInt16BE(0xc00c, 0); // the question's name
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4); // IN
  b.writeUInt32BE(ttl, 6);
  b.writeUInt16BE(rdata.length, 10);
  rdata.copy(b, 12);
  return b;
}

function nameWire(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const l of name.split('.')) if (l !== '') parts.push(Buffer.from([l.length]), Buffer.from(l, 'ascii'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

const aRR = (ip: string) => rr(TYPE.A, Buffer.from(ip.split('.').map(Number)));
const mxRR = (pref: number, host: string) => {
  const n = host === '.' || host === '' ? Buffer.from([0]) : nameWire(host);
  const b = Buffer.alloc(2 + n.length);
  b.writeUInt16BE(pref, 0);
  n.copy(b, 2);
  return rr(TYPE.MX, b);
};
/** PTR target "<label>.<question name>": one label and a pointer (7-12 bytes of rdata). */
const ptrRR = (label: string) => rr(TYPE.PTR, Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii'), Buffer.from([0xc0, 0x0c])]));
const ptrNameRR = (name: string) => rr(TYPE.PTR, nameWire(name));
const aaaaRR = (ip: string) => {
  const v = parseIp(ip)?.value ?? 0n;
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Number((v >> BigInt(8 * (15 - i))) & 0xffn);
  return rr(TYPE.AAAA, b);
};

function encodeCustom(c: CustomAnswer, type: number): Reply {
  const rrs: Buffer[] = [];
  if (type === TYPE.A) for (const ip of c.A ?? []) rrs.push(aRR(ip));
  if (type === TYPE.AAAA) for (const ip of c.AAAA ?? []) rrs.push(aaaaRR(ip));
  if (type === TYPE.MX) for (const [p, h] of c.MX ?? []) rrs.push(mxRR(p, h));
  if (type === TYPE.PTR) for (const n of c.PTR ?? []) rrs.push(ptrNameRR(n));
  return { rcode: c.rcode ?? 0, rrs, delayMs: c.delayMs ?? 0, tag: c.delayMs ? 'custom' : '' };
}

/** Built once: the floods are the same for every query. */
const FLOOD_A_RRS = Array.from({ length: FLOOD_A }, (_, i) => aRR(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
const MANY_MX_RRS = Array.from({ length: MANY_MX }, (_, i) => mxRR(i % 100, `m${i}.${ATTACK.manyMx}`));
const NULL_LAST_RRS = [...Array.from({ length: 999 }, (_, i) => mxRR(10, `m${i}.${ATTACK.nullMxLast}`)), mxRR(0, '.')];
const MX_FLOOD_RRS = Array.from({ length: FLOOD_MX_HOSTS }, (_, i) => mxRR(10 + i, `h${i}.${ATTACK.mxFlood}`));
const PTR_FLOOD_RRS = Array.from({ length: FLOOD_PTR }, (_, i) => ptrRR(`n${i}`));

function arpaIp(name: string): string | null {
  if (name.endsWith('.ip6.arpa')) {
    const nib = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (nib.length !== 32) return null;
    const hex = nib.reverse().join('');
    const groups = hex.match(/.{4}/g)!;
    return parseIp(groups.join(':'))?.text ?? null;
  }
  if (name.endsWith('.in-addr.arpa')) {
    const o = name.slice(0, -'.in-addr.arpa'.length).split('.');
    return o.length === 4 ? o.reverse().join('.') : null;
  }
  return null;
}

/** The attack zones (see the header). */
function answer(name: string, type: number, slowMs: number): Reply {
  const ok = (rrs: Buffer[], tag = '', delayMs = 0): Reply => ({ rcode: 0, rrs, delayMs, tag });
  const none: Reply = { rcode: 3, rrs: [], delayMs: 0, tag: '' };
  if (name === ATTACK.slowZone || name.endsWith(`.${ATTACK.slowZone}`)) {
    if (type === TYPE.A) return ok([aRR('192.0.2.1')], 'slow', slowMs);
    if (type === TYPE.MX) return ok([mxRR(10, `mx.${ATTACK.slowZone}`)], 'slow', slowMs);
    return ok([], 'slow', slowMs);
  }
  if (name === ATTACK.bigA) return ok(type === TYPE.A ? FLOOD_A_RRS : []);
  if (name === ATTACK.mxFlood) return ok(type === TYPE.MX ? MX_FLOOD_RRS : []);
  if (name.endsWith(`.${ATTACK.mxFlood}`) && /^h[0-9]\./.test(name)) return ok(type === TYPE.A ? FLOOD_A_RRS : []);
  if (name === ATTACK.manyMx) return ok(type === TYPE.MX ? MANY_MX_RRS : []);
  if (name === ATTACK.nullMxLast) return ok(type === TYPE.MX ? NULL_LAST_RRS : []);
  if (name === ATTACK.honestDomain) return ok(type === TYPE.MX ? [mxRR(10, ATTACK.honestHost)] : []);
  if (name === ATTACK.honestHost) return ok(type === TYPE.A ? [aRR(ATTACK.honestIp)] : []);
  if (name.endsWith(`.${ATTACK.honestDomain}`)) {
    // any other honest name (new names per request): A of the honest client, MX to the honest host
    if (type === TYPE.A) return ok([aRR(ATTACK.honestIp)]);
    if (type === TYPE.MX) return ok([mxRR(10, ATTACK.honestHost)]);
    return ok([]);
  }
  const ip = arpaIp(name);
  if (ip !== null && type === TYPE.PTR) {
    if (ip.startsWith(ATTACK.ptrFloodPrefix)) return ok(PTR_FLOOD_RRS);
    if (ip === ATTACK.honestIp) return ok([ptrNameRR(ATTACK.honestHost)]);
  }
  return none;
}

/** The question section's raw bytes (offset 12 up to and including QTYPE/QCLASS), or null. */
function questionBytes(msg: Buffer): Buffer | null {
  let o = 12;
  while (o < msg.length) {
    const len = msg[o]!;
    if (len === 0) return o + 5 <= msg.length ? msg.subarray(12, o + 5) : null;
    if (len >= 0xc0) return null;
    o += len + 1;
  }
  return null;
}

function encodeReply(query: Buffer, q: Buffer, rep: Reply, maxSize: number): Buffer {
  let size = 12 + q.length;
  let rrs = rep.rrs;
  for (const r of rrs) size += r.length;
  if (maxSize >= 65535 && size > 65535) {
    // over TCP: as many records as one DNS message holds
    let keep = 0;
    size = 12 + q.length;
    while (keep < rrs.length && size + rrs[keep]!.length <= 65535) size += rrs[keep++]!.length;
    rrs = rrs.slice(0, keep);
  }
  const tc = size > maxSize;
  const head = Buffer.alloc(12);
  head.writeUInt16BE(query.readUInt16BE(0), 0);
  head.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (tc ? 0x0200 : 0) | rep.rcode, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(tc ? 0 : rrs.length, 6);
  return tc ? Buffer.concat([head, q]) : Buffer.concat([head, q, ...rrs]);
}

// ---- server -----------------------------------------------------------------------

export async function startHostileDns(opts: {
  slowMs?: number;
  /** asked first for every query (name lower case, type 'A'|'AAAA'|'MX'|'PTR'|...); undefined: the attack zones */
  custom?: (name: string, type: string) => CustomAnswer | undefined;
} = {}): Promise<HostileDns> {
  const slowMs = opts.slowMs ?? 3000;
  const counts = new Map<string, number>();
  const pendingNow = new Map<string, number>();
  const pendingMax = new Map<string, number>();
  const releasedCount = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const conns = new Set<net.Socket>();
  let stopped = false;

  function handle(msg: Buffer, tcp: boolean, send: (b: Buffer) => void): void {
    let decoded: dnsPacket.DecodedPacket;
    try {
      decoded = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = decoded.questions?.[0];
    const q = questionBytes(msg);
    if (question === undefined || q === null) return;
    counts.set(question.type, (counts.get(question.type) ?? 0) + 1);
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const type = TYPE[question.type as keyof typeof TYPE] ?? 0;
    const c = opts.custom?.(name, question.type);
    const rep = c !== undefined ? encodeCustom(c, type) : answer(name, type, slowMs);
    const opt = decoded.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const maxSize = tcp ? 65535 : Math.max(512, opt?.udpPayloadSize ?? 512);
    const out = encodeReply(msg, q, rep, maxSize);
    if (rep.delayMs <= 0) {
      send(out);
      return;
    }
    const tag = rep.tag;
    const now = (pendingNow.get(tag) ?? 0) + 1;
    pendingNow.set(tag, now);
    if (now > (pendingMax.get(tag) ?? 0)) pendingMax.set(tag, now);
    const timer = setTimeout(() => {
      timers.delete(timer);
      pendingNow.set(tag, (pendingNow.get(tag) ?? 1) - 1);
      if (stopped) return;
      releasedCount.set(tag, (releasedCount.get(tag) ?? 0) + 1);
      send(out);
    }, rep.delayMs);
    timers.add(timer);
  }

  const tcp = net.createServer((sock) => {
    conns.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const m = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        handle(Buffer.from(m), true, (b) => {
          if (sock.destroyed) return;
          const l = Buffer.alloc(2);
          l.writeUInt16BE(b.length, 0);
          sock.write(Buffer.concat([l, b]));
        });
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => conns.delete(sock));
  });

  let port = 0;
  let udp: dgram.Socket;
  for (let attempt = 0; ; attempt++) {
    const sock = (udp = dgram.createSocket('udp4'));
    sock.on('message', (msg, rinfo) => handle(msg, false, (b) => sock.send(b, rinfo.port, rinfo.address)));
    await new Promise<void>((res, rej) => {
      udp.once('error', rej);
      udp.bind(0, '127.0.0.1', () => res());
    });
    udp.on('error', () => {});
    port = udp.address().port;
    const ok = await new Promise<boolean>((res) => {
      tcp.once('error', () => res(false));
      tcp.listen(port, '127.0.0.1', () => res(true));
    });
    if (ok) break;
    await new Promise<void>((r) => udp.close(() => r()));
    if (attempt >= 19) throw new Error('hostile-dns: no free UDP+TCP port pair in 20 tries');
  }

  return {
    port,
    server: `127.0.0.1:${port}`,
    count: (type) => (type === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : counts.get(type) ?? 0),
    pending: (tag) => pendingNow.get(tag) ?? 0,
    maxPending: (tag) => pendingMax.get(tag) ?? 0,
    released: (tag) => releasedCount.get(tag) ?? 0,
    reset() {
      counts.clear();
      pendingMax.clear();
      releasedCount.clear();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of conns) s.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}
