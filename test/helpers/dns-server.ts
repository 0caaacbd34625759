/**
 * test/helpers/dns-server — a loopback DNS server for tests, e2e runs and benches.
 *
 * It answers from an in-memory zone over UDP and TCP (same port, like a real
 * server: c-ares retries a truncated UDP reply over TCP) and can misbehave on
 * purpose. Nothing here ever talks to anything but 127.0.0.1 / ::1.
 *
 *   const dns = await startDnsServer({ zone: {
 *     'mail.example.net': { A: ['203.0.113.5'], AAAA: ['2001:db8::5'], ttl: 300 },
 *     'example.net': { MX: [{ exchange: 'mail.example.net', priority: 10 }] },
 *     'nullmx.example': { MX: [{ exchange: '', priority: 0 }] },   // RFC 7505 null MX
 *     'alias.example.net': { CNAME: 'mail.example.net' },
 *   } });
 *   dns.addPtr('203.0.113.5', 'mail.example.net');                   // builds the in-addr.arpa name
 *   config servers: [dns.server]                                     // '127.0.0.1:PORT' or '[::1]:PORT'
 *   dns.setBehaviour('slow.example', { mode: 'answer', delayMs: 200 });
 *   dns.setBehaviour('broken.example', 'servfail', 'MX');            // per name and type
 *   dns.setBehaviour((q) => q.type === 'PTR' ? 'timeout' : undefined); // global rule
 *   dns.count('example.net', 'MX')  -> queries received for it (UDP + TCP)
 *   await dns.stop();                                                // idempotent
 *
 * Semantics
 * - Names are matched case-insensitively, one trailing dot ignored. Unknown
 *   name -> NXDOMAIN; known name without the asked type -> NODATA (NOERROR,
 *   empty answer, SOA in the authority section, as real servers send).
 * - CNAME is followed inside the zone for every type but CNAME (at most 8
 *   hops; a loop gives SERVFAIL), so RFC 2317 style PTR delegation works:
 *   `5.0.113.203.in-addr.arpa CNAME 5.0/26.0.113.203.in-addr.arpa`. A CNAME to a
 *   name outside the zone gives NXDOMAIN with the CNAME in the answer.
 * - TXT strings are split into <= 255-byte chunks (c-ares says EBADRESP otherwise).
 * - A UDP reply bigger than the client allows (512, or its EDNS size) is sent
 *   with TC set and no records, and the client retries over TCP.
 * - Modes: 'answer' (normal), 'servfail', 'refused', 'formerr', 'notimp',
 *   'nxdomain', 'nodata', 'timeout' (the query is dropped), 'truncated' (TC bit,
 *   no records; over TCP the connection is closed without a reply), 'garbage'
 *   (right id and question, then random bytes: c-ares says EBADRESP). Any mode
 *   can carry `delayMs` before the reply. Precedence: name+type rule, then name
 *   rule, then the global rule; the first that gives a behaviour wins.
 *   What c-ares (Node 20) makes of them: SERVFAIL, REFUSED, FORMERR, NOTIMP ->
 *   ESERVFAIL, EREFUSED, EFORMERR, ENOTIMP (one query each, no retry with a
 *   single server); timeout -> ETIMEOUT; truncated -> ECONNREFUSED (UDP, then
 *   the TCP retry is closed); garbage -> EBADRESP; stopped server -> ECONNREFUSED.
 * - Query log: `queries` keeps the last `maxLog` (default 10 000) queries;
 *   `count()` counters are exact and unbounded in time (one counter per
 *   distinct name and type). `reset()` clears both.
 *
 * What can go wrong: port 0 is used, so binding never collides; if the TCP port
 * matching the UDP port is taken, both are re-bound on a new port (20 tries,
 * then the promise rejects). A malformed query is ignored and counted in
 * `malformed`. `stop()` closes both sockets, every TCP connection and every
 * pending delayed reply; replies scheduled after stop are dropped.
 *
 * dns-packet notes: encode() ignores an `rcode` field, so the rcode goes into
 * the low 4 bits of `flags` (values from RFC 1035 §4.1.1, the same numbers as
 * dns-packet/rcodes.js, which has no type declarations); encodingLength('')
 * disagrees with encode(''), so the root name is always written as '.'.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';
import { parseIp } from '../../src/net/ip.js';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface ZoneEntry {
  /** IPv4 addresses; an object gives that record its own TTL */
  A?: Array<string | { address: string; ttl: number }>;
  AAAA?: Array<string | { address: string; ttl: number }>;
  /** exchange '' or '.' is a null MX (RFC 7505) */
  MX?: Array<{ exchange: string; priority: number }>;
  PTR?: string[];
  CNAME?: string;
  TXT?: string[];
  NS?: string[];
  /** seconds, for every record of this name (default: the server's defaultTtl) */
  ttl?: number;
}
export type Zone = Record<string, ZoneEntry>;

export type Mode =
  | 'answer' | 'servfail' | 'refused' | 'formerr' | 'notimp' | 'nxdomain' | 'nodata'
  | 'timeout' | 'truncated' | 'garbage';
export interface Behaviour {
  mode?: Mode;
  /** wait this long before replying (ms) */
  delayMs?: number;
}
export interface QueryInfo {
  /** lower case, no trailing dot */
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}
export type BehaviourRule = Mode | Behaviour | ((q: QueryInfo) => Mode | Behaviour | undefined | null);

export interface DnsServerOptions {
  zone?: Zone;
  host?: '127.0.0.1' | '::1';
  /** also serve TCP on the same port (default true) */
  tcp?: boolean;
  /** TTL (s) of records without one (default 300) */
  defaultTtl?: number;
  /** SOA minimum (s) in negative answers (default 60) */
  negativeTtl?: number;
  /** how many recent queries `queries` keeps (default 10 000) */
  maxLog?: number;
  /**
   * A name the zone does not hold is asked here (lower case, no trailing dot):
   * generated zones (a new name per request, floods built on demand) without
   * storing every name. undefined -> NXDOMAIN.
   */
  resolve?: (name: string) => ZoneEntry | undefined;
}

export interface TestDnsServer {
  readonly port: number;
  readonly address: string;
  /** for config `dns.servers`: '127.0.0.1:PORT' or '[::1]:PORT' */
  readonly server: string;
  /** the most recent queries received (bounded by maxLog) */
  readonly queries: ReadonlyArray<QueryInfo>;
  /** queries that could not be decoded */
  readonly malformed: number;
  /** queries received for name (and type); no arguments: all queries */
  count(name?: string, type?: string): number;
  /** clear the query log and counters */
  reset(): void;
  /** add or replace a name */
  set(name: string, entry: ZoneEntry): void;
  remove(name: string): void;
  /** PTR for an address (IPv4, IPv6, IPv4-mapped): builds the in-addr.arpa / ip6.arpa name */
  addPtr(ip: string, names: string | string[], ttl?: number): void;
  /** global rule (null clears it) */
  setBehaviour(rule: BehaviourRule | null): void;
  /** rule for one name, optionally one type only (null clears it) */
  setBehaviour(name: string, rule: BehaviourRule | null, type?: string): void;
  stop(): Promise<void>;
}

/** in-addr.arpa / ip6.arpa name of an address (IPv4-mapped IPv6 -> in-addr.arpa). */
export function arpaName(ip: string): string {
  const p = parseIp(ip);
  if (!p) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  if (p.family === 4) return `${p.text.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${p.value.toString(16).padStart(32, '0').split('').reverse().join('.')}.ip6.arpa`;
}

function normName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

function normalise(rule: Mode | Behaviour | undefined | null): Behaviour | undefined {
  if (rule === undefined || rule === null) return undefined;
  return typeof rule === 'string' ? { mode: rule } : rule;
}

function chunkTxt(s: string): Buffer[] {
  const b = Buffer.from(s);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out.length ? out : [Buffer.alloc(0)];
}

const MAX_HOPS = 8;

export async function startDnsServer(opts: DnsServerOptions = {}): Promise<TestDnsServer> {
  const host = opts.host ?? '127.0.0.1';
  const wantTcp = opts.tcp ?? true;
  const defaultTtl = opts.defaultTtl ?? 300;
  const negativeTtl = opts.negativeTtl ?? 60;
  const maxLog = opts.maxLog ?? 10_000;

  const zone = new Map<string, ZoneEntry>();
  for (const [name, entry] of Object.entries(opts.zone ?? {})) zone.set(normName(name), entry);

  let globalRule: BehaviourRule | null = null;
  const nameRules = new Map<string, BehaviourRule>(); // key: name or "name TYPE"
  const log: QueryInfo[] = [];
  const counts = new Map<string, number>(); // "TYPE name"
  let malformed = 0;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const conns = new Set<net.Socket>();

  function behaviourFor(q: QueryInfo): Behaviour {
    for (const key of [`${q.name} ${q.type}`, q.name]) {
      const r = nameRules.get(key);
      if (r !== undefined) {
        const b = normalise(typeof r === 'function' ? r(q) : r);
        if (b) return b;
      }
    }
    if (globalRule !== null) {
      const b = normalise(typeof globalRule === 'function' ? globalRule(q) : globalRule);
      if (b) return b;
    }
    return { mode: 'answer' };
  }

  function soa(name: string): Answer {
    const labels = name.split('.');
    const apex = labels.length > 2 ? labels.slice(-2).join('.') : name;
    return {
      type: 'SOA', name: apex, ttl: negativeTtl,
      data: { mname: `ns.${apex}`, rname: `hostmaster.${apex}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: negativeTtl },
    };
  }

  /** Records for a question, following CNAMEs inside the zone. */
  function lookup(qname: string, qtype: string): { rcode: number; answers: Answer[]; authorities: Answer[] } {
    const answers: Answer[] = [];
    let name = qname;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const entry = zone.get(name) ?? opts.resolve?.(name);
      if (!entry) return { rcode: RCODE.NXDOMAIN, answers, authorities: [soa(qname)] };
      const ttl = entry.ttl ?? defaultTtl;
      if (entry.CNAME !== undefined && qtype !== 'CNAME') {
        const target = normName(entry.CNAME);
        answers.push({ type: 'CNAME', name, ttl, data: target });
        name = target;
        continue;
      }
      const before = answers.length;
      switch (qtype) {
        case 'A':
        case 'AAAA':
          for (const r of entry[qtype] ?? []) {
            if (typeof r === 'string') answers.push({ type: qtype, name, ttl, data: r });
            else answers.push({ type: qtype, name, ttl: r.ttl, data: r.address });
          }
          break;
        case 'MX':
          for (const r of entry.MX ?? []) {
            const exchange = r.exchange === '' || r.exchange === '.' ? '.' : r.exchange;
            answers.push({ type: 'MX', name, ttl, data: { preference: r.priority, exchange } });
          }
          break;
        case 'PTR':
        case 'NS':
          for (const r of entry[qtype] ?? []) answers.push({ type: qtype, name, ttl, data: r });
          break;
        case 'CNAME':
          if (entry.CNAME !== undefined) answers.push({ type: 'CNAME', name, ttl, data: normName(entry.CNAME) });
          break;
        case 'TXT':
          for (const r of entry.TXT ?? []) answers.push({ type: 'TXT', name, ttl, data: chunkTxt(r) });
          break;
        default:
          break;
      }
      return { rcode: RCODE.NOERROR, answers, authorities: answers.length > before ? [] : [soa(name)] };
    }
    return { rcode: RCODE.SERVFAIL, answers: [], authorities: [] }; // CNAME loop
  }

  /** Build the reply for one decoded query; null = send nothing. */
  function reply(query: DecodedPacket, q: Question, info: QueryInfo, mode: Mode, maxSize: number): Buffer | null {
    const base = {
      type: 'response' as const,
      id: query.id ?? 0,
      questions: [q],
    };
    const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
    const flags = (rcode: number, extra = 0): number =>
      rd | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | extra | rcode;
    const edns: Answer[] = (query.additionals ?? []).some((a) => a.type === 'OPT')
      ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
      : [];
    switch (mode) {
      case 'timeout':
        return null;
      case 'servfail':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.SERVFAIL), additionals: edns });
      case 'refused':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.REFUSED), additionals: edns });
      case 'formerr':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.FORMERR) });
      case 'notimp':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.NOTIMP), additionals: edns });
      case 'nxdomain':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.NXDOMAIN), authorities: [soa(info.name)], additionals: edns });
      case 'nodata':
        return dnsPacket.encode({ ...base, flags: flags(RCODE.NOERROR), authorities: [soa(info.name)], additionals: edns });
      case 'truncated':
        if (info.transport === 'tcp') return null; // the caller closes the connection
        return dnsPacket.encode({ ...base, flags: flags(RCODE.NOERROR, dnsPacket.TRUNCATED_RESPONSE), additionals: edns });
      case 'garbage': {
        // Right id and question (so the client does not ignore it as a spoofed
        // reply), a header claiming 3 answers, then random bytes.
        const head = dnsPacket.encode({ ...base, flags: flags(RCODE.NOERROR) });
        head.writeUInt16BE(3, 6);
        return Buffer.concat([head, randomBytes(13)]);
      }
      case 'answer': {
        const r = lookup(info.name, info.type);
        const out = dnsPacket.encode({ ...base, flags: flags(r.rcode), answers: r.answers, authorities: r.authorities, additionals: edns });
        if (out.length <= maxSize) return out;
        return dnsPacket.encode({ ...base, flags: flags(RCODE.NOERROR, dnsPacket.TRUNCATED_RESPONSE), additionals: edns });
      }
    }
  }

  /**
   * Decode, log, decide; `send(null)` means: reply nothing (the TCP side then
   * closes for 'truncated').
   */
  function handle(msg: Buffer, transport: 'udp' | 'tcp', send: (buf: Buffer | null, mode: Mode) => void): void {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      malformed++;
      return;
    }
    const q = query.questions?.[0];
    if (query.type !== 'query' || !q) {
      malformed++;
      return;
    }
    const info: QueryInfo = { name: normName(q.name), type: q.type, transport };
    log.push(info);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);
    const key = `${info.type} ${info.name}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);

    const b = behaviourFor(info);
    const mode = b.mode ?? 'answer';
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT');
    const maxSize = transport === 'tcp' ? 65535 : opt && 'udpPayloadSize' in opt ? Math.max(512, opt.udpPayloadSize) : 512;
    const go = (): void => {
      if (stopped) return;
      let buf: Buffer | null;
      try {
        buf = reply(query, q, info, mode, maxSize);
      } catch {
        buf = dnsPacket.encode({ type: 'response', id: query.id ?? 0, questions: [q], flags: RCODE.SERVFAIL });
      }
      send(buf, mode);
    };
    const delay = b.delayMs ?? 0;
    if (delay > 0) {
      const t = setTimeout(() => {
        timers.delete(t);
        go();
      }, delay);
      timers.add(t);
    } else {
      go();
    }
  }

  // --- sockets ----------------------------------------------------------------
  const type = host === '::1' ? 'udp6' : 'udp4';
  let udp!: dgram.Socket;
  let tcp: net.Server | null = null;
  let port = 0;

  const bindUdp = (): Promise<dgram.Socket> =>
    new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type, recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
      s.once('error', reject);
      s.bind(0, host, () => {
        s.off('error', reject);
        resolve(s);
      });
    });
  const listenTcp = (p: number): Promise<net.Server> =>
    new Promise((resolve, reject) => {
      const srv = net.createServer({ noDelay: true });
      srv.once('error', reject);
      srv.listen({ port: p, host, exclusive: true }, () => {
        srv.off('error', reject);
        resolve(srv);
      });
    });

  for (let attempt = 0; ; attempt++) {
    udp = await bindUdp();
    port = udp.address().port;
    if (!wantTcp) break;
    try {
      tcp = await listenTcp(port);
      break;
    } catch (e) {
      await new Promise<void>((r) => udp.close(() => r()));
      if (attempt >= 19) throw e;
    }
  }

  udp.on('error', () => { /* a send error to a vanished client: nothing to do */ });
  udp.on('message', (msg, rinfo) => {
    handle(msg, 'udp', (buf) => {
      if (buf && !stopped) udp.send(buf, rinfo.port, rinfo.address, () => { /* errors ignored, as above */ });
    });
  });

  tcp?.on('connection', (sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (pending.length > 70_000) {
        sock.destroy(); // more than one maximal message buffered: not a DNS client
        return;
      }
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        handle(msg, 'tcp', (buf, mode) => {
          if (stopped || sock.destroyed) return;
          if (buf === null) {
            if (mode === 'truncated') sock.destroy();
            return;
          }
          const len2 = Buffer.alloc(2);
          len2.writeUInt16BE(buf.length, 0);
          sock.write(Buffer.concat([len2, buf]));
        });
      }
    });
  });

  const address = host;
  const server = host === '::1' ? `[::1]:${port}` : `${host}:${port}`;

  const api: TestDnsServer = {
    port,
    address,
    server,
    get queries() {
      return log;
    },
    get malformed() {
      return malformed;
    },
    count(name?: string, qtype?: string): number {
      if (name === undefined && qtype === undefined) {
        let n = 0;
        for (const v of counts.values()) n += v;
        return n;
      }
      if (name !== undefined && qtype !== undefined) return counts.get(`${qtype} ${normName(name)}`) ?? 0;
      let n = 0;
      const wantName = name === undefined ? undefined : normName(name);
      for (const [k, v] of counts) {
        const sp = k.indexOf(' ');
        if ((wantName === undefined || k.slice(sp + 1) === wantName) && (qtype === undefined || k.slice(0, sp) === qtype)) n += v;
      }
      return n;
    },
    reset(): void {
      log.length = 0;
      counts.clear();
      malformed = 0;
    },
    set(name: string, entry: ZoneEntry): void {
      zone.set(normName(name), entry);
    },
    remove(name: string): void {
      zone.delete(normName(name));
    },
    addPtr(ip: string, names: string | string[], ttl?: number): void {
      const entry: ZoneEntry = { PTR: Array.isArray(names) ? names : [names] };
      if (ttl !== undefined) entry.ttl = ttl;
      zone.set(arpaName(ip), entry);
    },
    setBehaviour(a: BehaviourRule | string | null, rule?: BehaviourRule | null, qtype?: string): void {
      if (arguments.length === 1) {
        globalRule = a as BehaviourRule | null;
        return;
      }
      const key = qtype === undefined ? normName(a as string) : `${normName(a as string)} ${qtype}`;
      if (rule === null || rule === undefined) nameRules.delete(key);
      else nameRules.set(key, rule);
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of conns) c.destroy();
      conns.clear();
      await Promise.all([
        new Promise<void>((r) => {
          try {
            udp.close(() => r());
          } catch {
            r();
          }
        }),
        new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r())),
      ]);
    },
  };
  return api;
}
