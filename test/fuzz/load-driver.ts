/**
 * load-driver — the client side of the load test, run as its own process
 * (test/load.test.ts spawns it through `sh -c 'ulimit -n ...; exec node ...'`
 * so 1,000 sockets fit whatever the parent's open-files limit is, and so the
 * clients do not share an event loop with tap).
 *
 * Behaves like Postfix: persistent connections, one outstanding request each,
 * the identity mix of identities.ts; one connection in `pipelineEvery` instead
 * sends its requests in bursts of `burst` without waiting (answers must still
 * come back in order). All connections are opened first (in batches, so the
 * listen backlog never overflows), then all start at once.
 *
 * Input: one JSON argument (DriverOptions). Output: one JSON line (DriverResult)
 * on stdout. Every wait is bounded by `timeoutMs`; on timeout the result says
 * how far it got.
 */
import net from 'node:net';
import { IDENTITIES, identityRequest } from './identities.js';

export interface DriverOptions {
  port: number;
  connections: number;
  requestsPerConnection: number;
  /** every n-th connection pipelines (0: none) */
  pipelineEvery: number;
  burst: number;
  connectBatch: number;
  timeoutMs: number;
}

export interface DriverResult {
  connected: number;
  connectErrors: string[];
  sent: number;
  answered: number;
  wrong: number;
  /** the first few wrong answers: identity, expected, got */
  wrongSamples: Array<{ conn: number; index: number; identity: string; expected: string; got: string }>;
  /** connections the server closed before their last answer */
  closedEarly: number;
  timedOut: boolean;
  seconds: number;
  requestsPerSecond: number;
  /** latency of one-at-a-time requests, ms */
  p50: number;
  p99: number;
  max: number;
}

/** Per identity: the request text split around its instance value (building 100,000 requests stays cheap). */
const TEMPLATES = IDENTITIES.map((id) => {
  const marker = '\u0001';
  const [pre, post] = identityRequest(id, marker).split(marker) as [string, string];
  return { id, pre, post };
});

function requestFor(conn: number, i: number): { text: string; expect: string; name: string } {
  const tpl = TEMPLATES[(conn + i) % TEMPLATES.length]!;
  return { text: `${tpl.pre}c${conn}.${i}${tpl.post}`, expect: tpl.id.expect, name: tpl.id.name };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runLoad(o: DriverOptions): Promise<DriverResult> {
  const t0 = Date.now();
  const deadline = t0 + o.timeoutMs;
  const res: DriverResult = {
    connected: 0, connectErrors: [], sent: 0, answered: 0, wrong: 0, wrongSamples: [], closedEarly: 0, timedOut: false,
    seconds: 0, requestsPerSecond: 0, p50: 0, p99: 0, max: 0,
  };
  const socks: net.Socket[] = [];
  for (let b = 0; b < o.connections; b += o.connectBatch) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(o.connectBatch, o.connections - b) }, () => connect(o.port)));
    for (const r of batch) {
      if (r.status === 'fulfilled') socks.push(r.value);
      else if (res.connectErrors.length < 10) res.connectErrors.push(String((r.reason as Error).message));
    }
  }
  res.connected = socks.length;
  const latencies = new Float64Array(o.connections * o.requestsPerConnection);
  let nLat = 0;
  const tStart = process.hrtime.bigint();

  const one = (sock: net.Socket, c: number) =>
    new Promise<void>((resolve) => {
      sock.setNoDelay(true);
      sock.setEncoding('latin1');
      const pipelined = o.pipelineEvery > 0 && c % o.pipelineEvery === 0;
      const expected: Array<{ expect: string; name: string; index: number }> = [];
      let next = 0;
      let got = 0;
      let buf = '';
      let sentAt = 0n;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        sock.destroy();
        resolve();
      };
      const send = () => {
        const n = pipelined ? Math.min(o.burst, o.requestsPerConnection - next) : 1;
        let out = '';
        for (let k = 0; k < n; k++, next++) {
          const r = requestFor(c, next);
          expected.push({ expect: r.expect, name: r.name, index: next });
          out += r.text;
        }
        res.sent += n;
        sentAt = process.hrtime.bigint();
        sock.write(out);
      };
      sock.on('data', (d: string) => {
        buf += d;
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const reply = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const e = expected.shift();
          got++;
          res.answered++;
          const value = reply.startsWith('action=') ? reply.slice(7) : `<not an action: ${reply.slice(0, 100)}>`;
          if (e === undefined || value !== e.expect) {
            res.wrong++;
            if (res.wrongSamples.length < 10) res.wrongSamples.push({ conn: c, index: e?.index ?? -1, identity: e?.name ?? '?', expected: e?.expect ?? '<nothing>', got: value });
          }
          if (!pipelined) latencies[nLat++] = Number(process.hrtime.bigint() - sentAt) / 1e6;
        }
        if (got === o.requestsPerConnection) {
          sock.end();
          finish();
        } else if (expected.length === 0) {
          send();
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => {
        if (got < o.requestsPerConnection) res.closedEarly++;
        finish();
      });
      const timer = setTimeout(finish, Math.max(1, deadline - Date.now()));
      sock.on('close', () => clearTimeout(timer));
      send();
    });

  await Promise.all(socks.map((s, c) => one(s, c)));
  res.timedOut = Date.now() >= deadline;
  const secs = Number(process.hrtime.bigint() - tStart) / 1e9;
  res.seconds = Math.round(secs * 100) / 100;
  res.requestsPerSecond = Math.round(res.answered / secs);
  const sorted = latencies.slice(0, nLat).sort();
  res.p50 = Math.round(quantile(sorted, 0.5) * 1000) / 1000;
  res.p99 = Math.round(quantile(sorted, 0.99) * 1000) / 1000;
  res.max = Math.round((sorted.at(-1) ?? 0) * 1000) / 1000;
  return res;
}

// Run as a program: node load-driver.js '<json options>'
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as DriverOptions;
  runLoad(opts).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`load-driver: ${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}
