// Load: 1,000 concurrent persistent connections x 100 requests each against
// the real CLI (spawned), a warm-cache identity mix answered by the loopback
// test DNS server. Every reply must be correct for its identity and in order;
// the daemon's peak RSS (VmHWM) must stay under 150 MB. Speed is recorded
// (t.comment), never asserted: latency on open connections, the slowest requests
// with the daemon's side of each, and the kernel's TCP/UDP drop counters over the
// run. LOAD_CONNECTIONS / LOAD_REQUESTS change the size.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDENTITIES } from './fuzz/identities.js';
import { openFilesLimit } from './fuzz/daemon.js';
import { startRig } from './fuzz/rig.js';
import type { DriverOptions, DriverResult } from './fuzz/load-driver.js';

const DRIVER = join(dirname(fileURLToPath(import.meta.url)), 'fuzz', 'load-driver.js');
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 1000);
const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 100);
const PEAK_RSS_LIMIT_MB = 150;

/** Kernel counters of this network namespace (shared with whatever else runs on the machine). */
const COUNTERS = ['TcpExt:ListenOverflows', 'TcpExt:ListenDrops', 'TcpExt:TCPSynRetrans', 'TcpExt:TCPTimeouts', 'Tcp:RetransSegs', 'Udp:RcvbufErrors'] as const;
function netCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of ['/proc/net/netstat', '/proc/net/snmp']) {
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      continue;
    }
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      const prefix = names[0]!;
      for (let k = 1; k < names.length; k++) out[`${prefix}${names[k]}`] = Number(values[k]);
    }
  }
  return out;
}

function runDriver(opts: DriverOptions): Promise<{ result: DriverResult | null; stderr: string; code: number | null }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no tap loader in the client process
  delete env.NODE_V8_COVERAGE;
  const nofile = opts.connections + 256;
  const script = `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec env -u NODE_OPTIONS -u NODE_V8_COVERAGE "$0" "$@"`;
  const child = spawn('/bin/sh', ['-c', script, process.execPath, DRIVER, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const kill = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs + 30_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(kill);
      let result: DriverResult | null = null;
      try {
        result = JSON.parse(out.trim().split('\n').pop() ?? '') as DriverResult;
      } catch {
        result = null;
      }
      resolve({ result, stderr, code });
    }),
  );
}

t.test(`${CONNECTIONS} persistent connections x ${REQUESTS} requests: every reply correct and in order, peak RSS bounded`, async (t) => {
  const limits = openFilesLimit();
  t.comment(`open files limit of the test process: soft ${limits.soft}, hard ${limits.hard}; daemon and clients raise theirs to ${CONNECTIONS + 256}`);
  // one info line per decision to a log file, as in production; a connection cap above the client count
  const { d, dns, dir } = await startRig(t, { maxConnections: CONNECTIONS + 100, logToFile: true, nofile: CONNECTIONS + 256 });

  // warm the cache: each identity once, checked (a small run of the same driver)
  const warm = await runDriver({ port: d.port(), connections: 1, requestsPerConnection: IDENTITIES.length, pipelineEvery: 0, burst: 1, connectBatch: 1, timeoutMs: 30_000 });
  t.equal(warm.result?.wrong, 0, `warm-up: each identity answered as expected ${JSON.stringify(warm.result?.wrongSamples ?? warm.stderr)}`);
  const queriesBefore = dns.count();
  const warmMem = d.memory();
  const netBefore = netCounters();

  const { result: r, stderr, code } = await runDriver({
    port: d.port(),
    connections: CONNECTIONS,
    requestsPerConnection: REQUESTS,
    pipelineEvery: 10,
    burst: 10,
    connectBatch: 100,
    timeoutMs: 100_000,
  });
  const mem = d.memory();
  const netAfter = netCounters();
  t.equal(code, 0, `driver exited 0 ${stderr.slice(0, 500)}`);
  if (r === null) {
    t.fail('no result from the load driver');
    return;
  }
  const total = CONNECTIONS * REQUESTS;
  t.equal(r.connected, CONNECTIONS, `all connections open at once ${JSON.stringify(r.connectErrors)}`);
  t.equal(r.answered, total, `${total} requests answered`);
  t.equal(r.wrong, 0, `no wrong or out-of-order answer ${JSON.stringify(r.wrongSamples)}`);
  t.equal(r.closedEarly, 0, 'no connection closed by the daemon');
  t.notOk(r.timedOut, 'finished within the time bound');
  t.ok(d.running, 'daemon still running');
  t.ok(mem.peakMb < PEAK_RSS_LIMIT_MB, `daemon peak RSS (VmHWM) ${mem.peakMb.toFixed(1)} MB < ${PEAK_RSS_LIMIT_MB} MB`);
  t.same(d.errors().map((l) => `${l.code} ${l.msg}`), [], 'no error-level log line');
  const dnsQueries = dns.count() - queriesBefore;
  t.equal(await d.stop(), 0, 'SIGTERM: exit 0 after the run');
  // The slowest timed requests, with the daemon's side of each (its decision line, found by
  // instance): answered long after the write but decided in microseconds means the request
  // waited before the daemon read it (docs/robustness.md, "The load test's slowest request").
  const log = readFileSync(join(dir, 'daemon.log'), 'latin1');
  for (const s of r.slowest.slice(0, 3)) {
    const at = log.indexOf(`"instance":"${s.instance}"`);
    const line = at === -1 ? '' : log.slice(log.lastIndexOf('\n', at) + 1, log.indexOf('\n', at));
    const time = Number(/"time":(\d+)/.exec(line)?.[1] ?? NaN);
    const us = Number(/"us":(\d+)/.exec(line)?.[1] ?? NaN);
    t.comment(`slow: ${JSON.stringify(s)} daemon answered ${(time - s.sentAt).toFixed(1)} ms after the write, decided in ${us} us`);
  }
  t.comment(`kernel counters during the run: ${COUNTERS.map((k) => `${k} +${(netAfter[k] ?? 0) - (netBefore[k] ?? 0)}`).join(', ')}`);
  t.equal(d.decisions, total + IDENTITIES.length, 'one decision log line per answered request, all flushed at exit');
  t.comment(
    `load: ${r.answered} requests on ${r.connected} connections in ${r.seconds} s (${r.requestsPerSecond}/s); ` +
      `latency p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms (one outstanding request per connection, timed from ` +
      `the write to the answer on connections the daemon had accepted; every 10th connection pipelined in bursts of 10); ` +
      `opening (100 connections and their first answers per batch, untimed): longest connect ${r.connectMaxMs} ms, ` +
      `longest batch ${r.openMaxMs} ms; daemon RSS after warm-up ${warmMem.rssMb.toFixed(1)} MB, ` +
      `peak ${mem.peakMb.toFixed(1)} MB, after ${mem.rssMb.toFixed(1)} MB; DNS queries during the run ${dnsQueries}; decision log lines ${d.decisions}`,
  );
});
