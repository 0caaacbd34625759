/**
 * load-driver — the client side of the load test, run as its own process
 * (test/load.test.ts spawns it through `sh -c 'ulimit -n ...; exec node ...'`
 * so 1,000 sockets fit whatever the parent's open-files limit is, and so the
 * clients do not share an event loop with tap).
 *
 * Behaves like Postfix: persistent connections, one outstanding request each,
 * the identity mix of identities.ts; one connection in `pipelineEvery` instead
 * sends its requests in bursts of `burst` without waiting (answers must still
 * come back in order). All connections are opened first, in batches of
 * `connectBatch`: each sends its first request at once, and the next batch
 * starts when all of them were answered — the proof that the daemon accepted
 * them (a resolved connect() only says the kernel finished the handshake; Node
 * >= 20 accepts one connection per event-loop turn). Then all start at once and
 * the clock runs: latency is that of requests on open connections, taken from
 * the write to the answer; the opening requests are checked but not timed
 * (connectMaxMs / openMaxMs say how long opening took). The accept queue never
 * holds more than one batch, so the listen backlog cannot overflow.
 *
 * For the slowest timed requests the result says which connection and request
 * they were, when they were written (epoch ms, to find the daemon's decision
 * line by its instance) and how long their connection took to open.
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
  /** latency of one-at-a-time requests on open connections (write to answer), ms */
  p50: number;
  p99: number;
  max: number;
  /** the slowest one-at-a-time requests, slowest first (see SlowRequest) */
  slowest: SlowRequest[];
  /** opening: the longest connect() (kernel handshake), ms */
  connectMaxMs: number;
  /** opening: the longest wait for a batch, from its connects to the answers of its first requests, ms */
  openMaxMs: number;
}

/** One slow request: where its time went, as the client saw it. */
export interface SlowRequest {
  conn: number;
  /** request number on its connection (0: the first) */
  index: number;
  /** the request's instance attribute (the daemon's decision line carries it) */
  instance: string;
  latencyMs: number;
  /** when it was written, epoch ms (the daemon's log time is epoch ms too) */
  sentAt: number;
  /** ms from the clock's start (all connections open) to the write */
  sentAfterStartMs: number;
  /** ms its connection took from connect() to 'connect', before the clock started */
  connectMs: number;
}

const SLOWEST = 5;

/** Per identity: the request text split around its instance value (building 100,000 requests stays cheap). */
const TEMPLATES = IDENTITIES.map((id) => {
  const marker = '\u0001';
  const [pre, post] = identityRequest(id, marker).split(marker) as [string, string];
  return { id, pre, post };
});

function requestFor(conn: number, i: number): { text: string; expect: string; name: string; instance: string } {
  const tpl = TEMPLATES[(conn + i) % TEMPLATES.length]!;
  const instance = `c${conn}.${i}`;
  return { text: `${tpl.pre}${instance}${tpl.post}`, expect: tpl.id.expect, name: tpl.id.name, instance };
}

/** epoch ms with sub-ms resolution (comparable to the daemon's Date.now()) */
const nowMs = () => performance.timeOrigin + performance.now();

function connect(port: number): Promise<{ sock: net.Socket; ms: number }> {
  return new Promise((resolve, reject) => {
    const t = nowMs();
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.off('error', reject);
      resolve({ sock: s, ms: nowMs() - t });
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
    seconds: 0, requestsPerSecond: 0, p50: 0, p99: 0, max: 0, slowest: [], openMaxMs: 0, connectMaxMs: 0,
  };
  const latencies = new Float64Array(o.connections * o.requestsPerConnection);
  let nLat = 0;
  let started = false;
  let startMs = 0;
  const slowest: SlowRequest[] = [];
  const connectMs: number[] = [];
  const noteSlow = (c: number, index: number, latencyMs: number, sentAt: number) => {
    if (slowest.length === SLOWEST && latencyMs <= slowest[SLOWEST - 1]!.latencyMs) return;
    const r = requestFor(c, index);
    slowest.push({ conn: c, index, instance: r.instance, latencyMs, sentAt, sentAfterStartMs: sentAt - startMs, connectMs: connectMs[c]! });
    slowest.sort((a, b) => b.latencyMs - a.latencyMs);
    if (slowest.length > SLOWEST) slowest.pop();
  };

  /**
   * One connection: its first request (untimed) is sent at once and `opened`
   * settles with its answer, the proof that the daemon accepted the connection;
   * go() then sends the rest, timed, and `done` settles after the last answer.
   */
  const attach = (sock: net.Socket, c: number) => {
    let opened!: () => void;
    let resolve!: () => void;
    const openedP = new Promise<void>((r) => (opened = r));
    const done = new Promise<void>((r) => (resolve = r));
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    const pipelined = o.pipelineEvery > 0 && c % o.pipelineEvery === 0;
    const expected: Array<{ expect: string; name: string; index: number }> = [];
    let next = 0;
    let got = 0;
    let buf = '';
    let sentAt = 0n;
    let sentAtMs = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      sock.destroy();
      opened();
      resolve();
    };
    const send = () => {
      // the opening request goes alone, also on a pipelining connection
      const n = pipelined && next > 0 ? Math.min(o.burst, o.requestsPerConnection - next) : 1;
      let out = '';
      for (let k = 0; k < n; k++, next++) {
        const r = requestFor(c, next);
        expected.push({ expect: r.expect, name: r.name, index: next });
        out += r.text;
      }
      res.sent += n;
      sentAt = process.hrtime.bigint();
      if (!pipelined) sentAtMs = nowMs();
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
        if (started && !pipelined) {
          const ms = Number(process.hrtime.bigint() - sentAt) / 1e6;
          latencies[nLat++] = ms;
          noteSlow(c, e?.index ?? -1, ms, sentAtMs);
        }
      }
      if (got === o.requestsPerConnection) {
        sock.end();
        finish();
      } else if (expected.length === 0) {
        if (got === 1 && !started) opened();
        else send();
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
    return { opened: openedP, done, go: () => { if (!finished && got === 1 && expected.length === 0) send(); } };
  };

  // Opening: a batch of connections, each with its first request, and the next
  // batch only once the daemon answered all of them. A connect() that resolves
  // only says the kernel finished the handshake: the daemon may not have accepted
  // the connection yet (Node >= 20 accepts one connection per event-loop turn), and
  // a request written then waits in the accept queue, in the measured figure.
  const conns: Array<ReturnType<typeof attach>> = [];
  for (let b = 0; b < o.connections; b += o.connectBatch) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(o.connectBatch, o.connections - b) }, () => connect(o.port)));
    const opening: Array<Promise<void>> = [];
    const tOpen = nowMs();
    for (const r of batch) {
      if (r.status === 'fulfilled') {
        connectMs.push(r.value.ms);
        res.connectMaxMs = Math.max(res.connectMaxMs, r.value.ms);
        const conn = attach(r.value.sock, conns.length);
        conns.push(conn);
        opening.push(conn.opened);
      } else if (res.connectErrors.length < 10) res.connectErrors.push(String((r.reason as Error).message));
    }
    await Promise.all(opening);
    res.openMaxMs = Math.max(res.openMaxMs, nowMs() - tOpen);
  }
  res.connected = conns.length;
  // the clock starts with every connection accepted and answered once
  const tStart = process.hrtime.bigint();
  const answeredAtStart = res.answered;
  startMs = nowMs();
  started = true;
  for (const conn of conns) conn.go();
  await Promise.all(conns.map((conn) => conn.done));
  res.timedOut = Date.now() >= deadline;
  const secs = Number(process.hrtime.bigint() - tStart) / 1e9;
  res.seconds = Math.round(secs * 100) / 100;
  res.requestsPerSecond = Math.round((res.answered - answeredAtStart) / secs);
  const sorted = latencies.slice(0, nLat).sort();
  res.p50 = Math.round(quantile(sorted, 0.5) * 1000) / 1000;
  res.p99 = Math.round(quantile(sorted, 0.99) * 1000) / 1000;
  res.max = Math.round((sorted.at(-1) ?? 0) * 1000) / 1000;
  res.openMaxMs = Math.round(res.openMaxMs * 10) / 10;
  res.connectMaxMs = Math.round(res.connectMaxMs * 10) / 10;
  res.slowest = slowest;
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
