// Operations: metrics (unit + scraping the real endpoint, also with workers: 2),
// SIGHUP reload (valid: takes effect on an open connection; invalid: refused
// with check-config's file:line:col text, old config keeps serving), SIGUSR1
// stats. SIGTERM drain is in server.test.ts. Everything on loopback; DNS from
// the loopback test DNS server.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics, LATENCY_BUCKETS } from '../src/metrics/metrics.js';
import { LatencyHistogram } from '../src/metrics/latency.js';
import { Registry, Histogram, AggregatorRegistry } from 'prom-client';
import { actionClass, stateLabel } from '../src/metrics/labels.js';
import { startMetricsServer } from '../src/metrics/http.js';
import { parseEndpoint } from '../src/server/endpoint.js';
import { toPolicyRequest } from '../src/protocol/request.js';
import type { Decision } from '../src/engine/types.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { PolicyClient, block } from './helpers/policy-client.js';
import { DaemonProcess, CLI, scrape, sample, sumOf, parseExposition } from './helpers/daemon-process.js';
import { memoryLogger } from './helpers/log.js';
import { LAB_IDENTITY_YAML } from './helpers/lab-networks.js';
import { version } from '../src/cli/version.js';

const NO_DECISION: Decision = { action: { verb: 'DUNNO' }, fired: [], findings: [] };

/** a request the default config answers DUNNO: HELO, PTR, FCrDNS and sender MX all fine */
const GOOD = { protocol_state: 'RCPT', client_address: '203.0.113.5', client_name: 'mail.example.net', reverse_client_name: 'mail.example.net', helo_name: 'mail.example.net', sender: 'a@example.net', recipient: 'b@example.org' };
/** the same client without a HELO: refused by helo_missing in the default config */
const NO_HELO = { ...GOOD, helo_name: '' };

async function dnsServer(): Promise<TestDnsServer> {
  const dns = await startDnsServer({
    zone: {
      'mail.example.net': { A: ['203.0.113.5'] },
      'example.net': { MX: [{ exchange: 'mail.example.net', priority: 10 }] },
      'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
      'mx.example.org': { A: ['198.51.100.7'] },
    },
  });
  dns.addPtr('203.0.113.5', 'mail.example.net');
  return dns;
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pi-ops-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- unit: labels and the registry ------------------------------------------------

t.test('labels are bounded: action verb or reply class, known protocol states only', async (t) => {
  // from the action value the session sent, never from its text
  t.equal(actionClass({ verb: 'DUNNO' }), 'DUNNO');
  t.equal(actionClass({ verb: 'REJECT', text: 'no PTR for 203.0.113.5' }), 'REJECT');
  t.equal(actionClass({ verb: 'DEFER_IF_PERMIT', text: '4.7.1 try later' }), 'DEFER_IF_PERMIT');
  t.equal(actionClass({ verb: 'REPLY', code: '550 5.7.1', text: 'go away' }), '5xx');
  t.equal(actionClass({ verb: 'REPLY', code: '450', text: 'later' }), '4xx');
  t.equal(actionClass({ verb: 'REPLY', text: 'no code' }), 'other');
  t.equal(actionClass({ verb: 'REPLY', code: 'REJECT 550', text: 'text that looks like a code' }), 'other');
  t.equal(stateLabel('RCPT'), 'RCPT');
  t.equal(stateLabel('END-OF-MESSAGE'), 'END-OF-MESSAGE');
  t.equal(stateLabel('X-ANY-STRING-A-CLIENT-SENDS'), 'other');
  t.equal(stateLabel(undefined), 'other');
});

t.test('Metrics: decisions, findings, protocol errors, reloads, DNS sources in the exposition', async (t) => {
  const m = new Metrics({ role: 'single', version: '9.9.9', processMetrics: false });
  const rcpt = toPolicyRequest({ request: 'smtpd_access_policy', protocol_state: 'RCPT' });
  const weird = toPolicyRequest({ request: 'smtpd_access_policy', protocol_state: 'NONSENSE' });
  for (let i = 0; i < 3; i++) m.observeDecision(rcpt, NO_DECISION, { verb: 'DUNNO' }, 250);
  m.observeDecision(rcpt, NO_DECISION, { verb: 'REPLY', code: '550 5.7.1', text: 'no' }, 4000);
  m.observeDecision(weird, NO_DECISION, { verb: 'DUNNO' }, 10);
  m.observeFinding({ check: 'rdns_missing', result: 'fail', reason: 'no PTR' });
  m.observeFinding({ check: 'rdns_missing', result: 'pass', reason: 'PTR ok' });
  m.observeFinding({ check: 'rdns_missing', result: 'pass', reason: 'PTR ok' });
  m.observeFinding({ check: 'helo_unknown', result: 'tempfail', reason: 'SERVFAIL' });
  m.observeProtocolError('PI_PROTO_NO_EQUALS');
  m.observeReload(true);
  m.observeReload(false);
  m.observeReload(false);
  m.setConnectionsSource(() => 7);
  const first = { queries: 5, cacheHits: 2, timeouts: 1 };
  const limiterStats = { 'backend.failures': 4, 'backend.up': 0, keys: 12 };
  m.trackRuntime({ dns: { stats: first, cacheEvictions: 1 }, limiter: { stats: () => limiterStats } });
  m.trackRuntime({ dns: { stats: { queries: 3, servfails: 2 }, inflight: 2, queued: 1, cacheSize: 40, cacheBytes: 9000, zonesActive: 3 }, limiter: { stats: () => ({ 'backend.up': 1, keys: 5 }) }, engine: { stats: () => ({ identityCacheSize: 12, identityCacheBytes: 34_000 }) } });
  const body = await m.render();
  const P = 'policyd_identity_';
  t.equal(sample(body, `${P}requests_total`, { protocol_state: 'RCPT', action: 'DUNNO' }), 3);
  t.equal(sample(body, `${P}requests_total`, { protocol_state: 'RCPT', action: '5xx' }), 1);
  t.equal(sample(body, `${P}requests_total`, { protocol_state: 'other', action: 'DUNNO' }), 1, 'unknown state is "other"');
  t.equal(sample(body, `${P}check_results_total`, { check: 'rdns_missing', result: 'pass' }), 2);
  t.equal(sample(body, `${P}check_results_total`, { check: 'rdns_missing', result: 'fail' }), 1);
  t.equal(sample(body, `${P}check_results_total`, { check: 'helo_unknown', result: 'tempfail' }), 1);
  t.equal(sample(body, `${P}decision_duration_seconds_count`), 5);
  t.equal(sample(body, `${P}decision_duration_seconds_bucket`, { le: '0.00025' }), 4, '250 µs falls in le=0.00025 (10 µs too)');
  t.equal(sample(body, `${P}decision_duration_seconds_bucket`, { le: '0.005' }), 5);
  t.equal(sample(body, `${P}protocol_errors_total`, { code: 'PI_PROTO_NO_EQUALS' }), 1);
  t.equal(sample(body, `${P}config_reloads_total`, { result: 'ok' }), 1);
  t.equal(sample(body, `${P}config_reloads_total`, { result: 'failed' }), 2);
  t.equal(sample(body, `${P}open_connections`), 7);
  t.equal(sample(body, `${P}dns_queries_total`), 8, 'summed over resolvers');
  t.equal(sample(body, `${P}dns_servfails_total`), 2);
  t.equal(sample(body, `${P}dns_timeouts_total`), 1);
  t.equal(sample(body, `${P}dns_cache_evictions_total`), 1);
  t.equal(sample(body, `${P}limit_backend_failures_total`), 4, 'counters: summed over runtimes');
  t.equal(sample(body, `${P}dns_inflight`), 2, 'gauges: the current runtime');
  t.equal(sample(body, `${P}dns_queued`), 1);
  t.equal(sample(body, `${P}dns_cache_entries`), 40);
  t.equal(sample(body, `${P}dns_cache_bytes`), 9000);
  t.equal(sample(body, `${P}dns_zones_active`), 3);
  t.equal(sample(body, `${P}identity_cache_entries`), 12);
  t.equal(sample(body, `${P}identity_cache_bytes`), 34_000);
  t.equal(sample(body, `${P}limit_backend_up`), 1);
  t.equal(sample(body, `${P}limit_keys`), 5);
  t.equal(sample(body, `${P}build_info`, { version: '9.9.9', nodejs: process.version }), 1);
  t.match(body, /# TYPE policyd_identity_decision_duration_seconds histogram/);
  // counters read at scrape time move with their source
  first.queries = 10;
  t.equal(sample(await m.render(), `${P}dns_queries_total`), 13);
  // many reloads: old resolvers are folded into a base, the total never goes back
  for (let i = 0; i < 20; i++) m.trackRuntime({ dns: { stats: { queries: 1 } }, limiter: { stats: () => ({}) } });
  t.equal(sample(await m.render(), `${P}dns_queries_total`), 33);
  const snap = m.snapshot();
  t.same(snap.requests.RCPT, { DUNNO: 3, '5xx': 1 });
  t.same(snap.checks.rdns_missing, { pass: 2, fail: 1 });
  t.same(snap.reloads, { ok: 1, failed: 2 });
});

// metrics/latency.ts counts the latency histogram itself; to the registry it must be
// prom-client's own Histogram: the same text, the same JSON, the same cluster merge.
t.test('LatencyHistogram: text, JSON and cluster aggregation equal to prom-client\'s Histogram for the same observations', async (t) => {
  const name = 'policyd_identity_decision_duration_seconds';
  const help = 'Time from a complete request to its answer';
  const mine = new Registry();
  const theirs = new Registry();
  const ours = new LatencyHistogram(name, help, LATENCY_BUCKETS);
  mine.registerMetric(ours as unknown as Histogram);
  const ref = new Histogram({ name, help, buckets: LATENCY_BUCKETS, registers: [theirs] });
  t.equal(await mine.metrics(), await theirs.metrics(), 'empty: same text');
  // every bound exactly (le is inclusive), just above and below it, beyond the last, 0, tiny,
  // and a stream of awkward fractions (the sum is added in the same order)
  const values: number[] = [0, 1e-9, 99.5];
  for (const b of LATENCY_BUCKETS) values.push(b, b * (1 - 1e-12), b * (1 + 1e-12));
  for (let i = 0; i < 5000; i++) values.push(((i * 7919) % 100_003) / 3e6);
  for (const v of values) {
    ours.observe(v);
    ref.observe(v);
  }
  t.equal(await mine.metrics(), await theirs.metrics(), 'same text exposition');
  t.same(await mine.getMetricsAsJSON(), await theirs.getMetricsAsJSON(), 'same JSON');
  t.equal(JSON.stringify(await mine.getMetricsAsJSON()), JSON.stringify(await theirs.getMetricsAsJSON()), 'same JSON, key order too');
  // the cluster primary merges workers' JSON
  const two = async (r: Registry) => AggregatorRegistry.aggregate([await r.getMetricsAsJSON(), await r.getMetricsAsJSON()]).metrics();
  t.equal(await two(mine), await two(theirs), 'same merged exposition of two workers');
  t.match(await mine.metrics(), new RegExp(`${name}_count ${values.length}\\n`));
  ours.observe(Number.NaN);
  t.match(await mine.metrics(), new RegExp(`${name}_count ${values.length}\\n`), 'a non-finite value is not counted');
  mine.resetMetrics();
  theirs.resetMetrics();
  t.match(await mine.metrics(), new RegExp(`${name}_count 0\\n`), 'reset');
});

t.test('every metric named in docs/ops.md and etc/grafana-dashboard.json exists', async (t) => {
  const single = await new Metrics({ role: 'single', version: '1', processMetrics: false }).render();
  const primary = await new Metrics({ role: 'primary', version: '1', processMetrics: false }).render();
  // every metric has a "# TYPE name type" line, samples or not; histograms add _bucket/_sum/_count samples
  const typed = [...(single + primary).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  const known = new Set([...typed, ...parseExposition(single + primary).map((s) => s.name), 'policyd_identity_metrics_workers_missing']);
  const dashboard = JSON.parse(readFileSync(join(process.cwd(), 'etc', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr));
  t.ok(exprs.length >= 5, 'the dashboard has the panels');
  const docs = readFileSync(join(process.cwd(), 'docs', 'ops.md'), 'utf8');
  for (const [where, text] of [['dashboard', exprs.join('\n')], ['docs/ops.md', docs]] as const) {
    const names = new Set(text.match(/policyd_identity_[a-z_]+[a-z]/g) ?? []);
    t.ok(names.size >= 5, `${where} names metrics`);
    for (const n of names) t.ok(known.has(n), `${where}: ${n} is exported`);
  }
});

t.test('metrics HTTP endpoint: /metrics 200 with the Prometheus content type, 404, 405, port in use', async (t) => {
  const m = new Metrics({ role: 'single', version: '1', processMetrics: true });
  const { log, lines } = memoryLogger();
  const srv = await startMetricsServer(parseEndpoint('inet:127.0.0.1:0'), m, () => log);
  t.teardown(() => srv.close());
  const ok = await scrape(`http://${srv.address}/metrics`);
  t.equal(ok.status, 200);
  t.match(ok.contentType, /^text\/plain; version=0\.0\.4/);
  t.ok(sample(ok.body, 'process_cpu_user_seconds_total') !== undefined, 'process metrics present');
  t.equal((await scrape(`http://${srv.address}/nope`)).status, 404);
  const post = await fetch(`http://${srv.address}/metrics`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  t.equal(post.status, 405);
  await t.rejects(startMetricsServer(parseEndpoint(`inet:${srv.address}`), m, () => log), { code: 'PI_METRICS_LISTEN_FAILED' }, 'port in use: coded error');
  // a failing collector gives 500 and a coded log line, nothing else
  const broken = { contentType: 'text/plain', render: () => Promise.reject(new Error('boom')) };
  const srv2 = await startMetricsServer(parseEndpoint('inet:127.0.0.1:0'), broken, () => log);
  t.teardown(() => srv2.close());
  t.equal((await scrape(`http://${srv2.address}/metrics`)).status, 500);
  t.ok(lines.find((l) => l.code === 'PI_METRICS_SCRAPE_FAILED'), 'logged PI_METRICS_SCRAPE_FAILED');
});

// ---- the real daemon ----------------------------------------------------------------

t.test('serve with metrics.listen: scrape after real requests', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\nmetrics:\n  listen: 127.0.0.1:0\ndns:\n  servers: ["${dns.server}"]\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg]);
  t.teardown(() => d.stop());
  const url = d.metricsUrl();
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

  const c = await PolicyClient.connect({ port: d.policyPort() });
  t.equal(await c.ask(block(GOOD)), 'DUNNO', 'a well-configured client');
  t.equal(await c.ask(block(GOOD)), 'DUNNO', 'again (DNS from the cache)');
  const refused = await c.ask(block(NO_HELO));
  t.match(refused, /^(REJECT|5\d\d) /, `no HELO is refused: ${refused}`);
  const open = await scrape(url);
  t.equal(open.status, 200);
  const P = 'policyd_identity_';
  t.equal(sample(open.body, `${P}open_connections`), 1, 'one connection open');
  t.equal(sample(open.body, `${P}requests_total`, { protocol_state: 'RCPT', action: 'DUNNO' }), 2);
  t.equal(sumOf(open.body, `${P}requests_total`), 3);
  t.ok(sumOf(open.body, `${P}check_results_total`, { check: 'helo_missing', result: 'fail' }) >= 1, 'helo_missing fail counted');
  t.ok(sumOf(open.body, `${P}check_results_total`, { result: 'pass' }) >= 2, 'passing checks counted');
  t.ok(sample(open.body, `${P}dns_queries_total`)! >= 1, 'DNS queries sent to the test server');
  t.ok(sample(open.body, `${P}dns_cache_hits_total`)! >= 1, 'the second request hit the cache');
  t.equal(sample(open.body, `${P}decision_duration_seconds_count`), 3);
  t.equal(sample(open.body, `${P}build_info`, { version: version(), nodejs: process.version }), 1);
  c.close();

  // a protocol error: counted by code, the connection is closed
  const bad = await PolicyClient.connect({ port: d.policyPort() });
  bad.send('this line has no equals sign\n\n');
  t.equal(await bad.next(5000), '<closed>');
  const after = await scrape(url);
  t.equal(sample(after.body, `${P}protocol_errors_total`, { code: 'PI_PROTO_NO_EQUALS' }), 1);
  t.equal(await d.stop(), 0, 'clean stop');
});

t.test('workers: 2 — one endpoint reports the whole daemon', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\nworkers: 2\nmetrics:\n  listen: 127.0.0.1:0\ndns:\n  servers: ["${dns.server}"]\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg], { readyMsg: 'cluster primary started' });
  t.teardown(() => d.stop());
  t.equal(await d.waitForCount((l) => l.msg === 'started', 2, 15_000), 2, 'two workers started');
  // in a cluster, listen(0) gives every worker the same port
  const port = d.policyPort();
  t.same(new Set(d.lines.filter((l) => l.msg === 'listening').map((l) => String(l.listen))).size, 1, 'one shared port');
  const url = d.metricsUrl();
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the primary serves the endpoint');

  // six connections: the primary hands them round-robin to the two workers
  const clients = await Promise.all(Array.from({ length: 6 }, () => PolicyClient.connect({ port })));
  t.teardown(() => clients.forEach((c) => c.close()));
  let answered = 0;
  for (const c of clients) for (let i = 0; i < 5; i++) if ((await c.ask(block(GOOD))) === 'DUNNO') answered++;
  t.equal(answered, 30);
  const body = (await scrape(url)).body;
  const P = 'policyd_identity_';
  t.equal(sample(body, `${P}requests_total`, { protocol_state: 'RCPT', action: 'DUNNO' }), 30, 'requests of both workers summed');
  t.equal(sample(body, `${P}open_connections`), 6, 'connections of both workers summed');
  t.equal(sample(body, `${P}decision_duration_seconds_count`), 30);
  t.equal(sample(body, `${P}workers`), 2);
  t.equal(sample(body, `${P}metrics_workers_missing`), 0, 'both workers answered the scrape');
  t.equal(sumOf(body, `${P}build_info`), 1, 'build info once, from the primary');
  // each worker's own share is below the total: the sum really comes from two processes
  const perWorker = d.lines.filter((l) => l.msg === 'listening').map((l) => l.pid);
  t.equal(new Set(perWorker).size, 2, 'two worker pids');
  for (const c of clients) c.close();

  // A worker dies and is restarted at 0: the sum keeps what the dead one had
  // reported (Prometheus would read a drop as a counter reset and count the
  // survivors' totals again), and the new worker's requests add to it.
  const hist = (b: string) => sample(b, `${P}decision_duration_seconds_count`);
  process.kill(Number(perWorker[0]), 'SIGKILL');
  t.ok(await d.waitFor((l) => l.msg === 'worker died; restarting', 15_000), 'the primary restarts the worker');
  t.equal(await d.waitForCount((l) => l.msg === 'started', 3, 15_000), 3, 'the new worker started');
  const during = (await scrape(url)).body;
  t.equal(sample(during, `${P}requests_total`, { protocol_state: 'RCPT', action: 'DUNNO' }), 30, 'no drop after the restart');
  t.equal(hist(during), 30, 'histogram count: no drop either');
  t.equal(sample(during, `${P}open_connections`), 0, 'gauges of the dead worker are not kept');
  let more = 0;
  for (let i = 0; i < 4; i++) {
    const c = await PolicyClient.connect({ port });
    try {
      if ((await c.ask(block(GOOD))) === 'DUNNO') more++;
    } finally {
      c.close();
    }
  }
  t.equal(more, 4);
  const after = (await scrape(url)).body;
  t.equal(sample(after, `${P}requests_total`, { protocol_state: 'RCPT', action: 'DUNNO' }), 34, 'the restarted and the surviving worker add to it');
  t.equal(hist(after), 34);
  t.equal(await d.stop(), 0, 'primary and workers stop cleanly');
});

t.test('workers: 2 on a UNIX socket (check_policy_service unix:...): a stale file is replaced, every worker serves through the one socket', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const path = join(dir, 'policy.sock');
  // a socket file left behind by a killed run
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`], { timeout: 10_000 });
  t.ok(statSync(path).isSocket(), 'a stale socket file is there');
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `${LAB_IDENTITY_YAML}listen: [unix:${path}]\nworkers: 2\ndns:\n  servers: ["${dns.server}"]\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg], { readyMsg: 'cluster primary started' });
  t.teardown(() => d.stop());
  t.equal(await d.waitForCount((l) => l.msg === 'started', 2, 15_000), 2, 'both workers started');
  t.notOk(d.lines.some((l) => l.level === 'fatal'), 'no worker failed to listen');
  t.ok(statSync(path).isSocket(), 'the socket file is there');
  t.equal(statSync(path).mode & 0o777, 0o660, 'with the default mode');
  // (before the fix the second worker unlinked the first one's socket: ENOENT here)
  const clients = await Promise.all(Array.from({ length: 4 }, () => PolicyClient.connect({ path })));
  t.teardown(() => clients.forEach((c) => c.close()));
  let answered = 0;
  for (const c of clients) for (let i = 0; i < 3; i++) if ((await c.ask(block(GOOD))) === 'DUNNO') answered++;
  t.equal(answered, 12);
  for (const c of clients) c.close();
  t.equal(await d.stop(), 0, 'primary and workers stop cleanly');
});

t.test('workers: 2 — SIGHUP hands every worker the config the primary checked; a restarted worker gets it too, not the file', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  const base = `listen: [inet:127.0.0.1:0]\nworkers: 2\ndns:\n  servers: ["${dns.server}"]\n`;
  writeFileSync(cfg, base);
  const d = await DaemonProcess.start(['serve', '--config', cfg], { readyMsg: 'cluster primary started' });
  t.teardown(() => d.stop());
  t.equal(await d.waitForCount((l) => l.msg === 'started', 2, 15_000), 2, 'two workers started');
  const port = d.policyPort();
  /** one request on a new connection: the primary hands connections round-robin to the workers */
  const askNew = async () => {
    const c = await PolicyClient.connect({ port });
    try {
      return await c.ask(block(NO_HELO));
    } finally {
      c.close();
    }
  };
  for (let i = 0; i < 4; i++) t.match(await askNew(), /^(REJECT|5\d\d) /, 'enforce: refused by every worker');

  // dry run, checked by the primary and sent to both workers
  writeFileSync(cfg, `${base}mode: warn\n`);
  d.signal('SIGHUP');
  t.equal(await d.waitForCount((l) => l.msg === 'reloaded', 2, 15_000), 2, 'both workers reloaded');
  for (let i = 0; i < 4; i++) t.match(await askNew(), /^WARN dry-run: /, 'every worker answers the dry run');

  // The file changes again, without SIGHUP; a worker dies and is restarted:
  // it runs the config the primary checked (dry run), not the file as it is now.
  writeFileSync(cfg, base);
  const pids = [...new Set(d.lines.filter((l) => l.msg === 'listening').map((l) => Number(l.pid)))];
  t.equal(pids.length, 2, 'two worker pids');
  process.kill(pids[0]!, 'SIGKILL');
  t.ok(await d.waitFor((l) => l.msg === 'worker died; restarting', 15_000), 'the primary restarts the worker');
  t.equal(await d.waitForCount((l) => l.msg === 'started', 3, 15_000), 3, 'the new worker started');
  for (let i = 0; i < 6; i++) t.match(await askNew(), /^WARN dry-run: /, 'old and restarted worker: still the checked dry-run config');
  t.equal(await d.stop(), 0, 'clean stop');
});

t.test('workers: 2 — workers that keep dying: the primary gives up with PI_SERVER_WORKERS_DYING and exits 1 (systemd Restart=on-failure acts)', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `listen: [inet:127.0.0.1:0]\nworkers: 2\ndns:\n  servers: ["${dns.server}"]\n`);
  const d = await DaemonProcess.start(['serve', '--config', cfg], { readyMsg: 'cluster primary started' });
  t.teardown(() => d.stop());
  const killed = new Set<number>();
  // Kill every worker as soon as it listens (both restart at once); the 11th
  // restart within a minute makes the primary give up.
  for (let round = 0; round < 14 && d.exitCode === null; round++) {
    const w = await d.waitFor((l) => l.msg === 'listening' && !killed.has(Number(l.pid)), 15_000);
    if (w === undefined) break;
    for (const l of d.lines) {
      const pid = Number(l.pid);
      if (l.msg !== 'listening' || killed.has(pid)) continue;
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  t.ok(killed.size >= 11, `${killed.size} workers killed`);
  const code = await Promise.race([d.exited, new Promise<string>((res) => setTimeout(() => res('still running'), 15_000))]);
  t.equal(code, 1, 'the primary exits 1');
  t.ok(d.lines.some((l) => l.code === 'PI_SERVER_WORKERS_DYING' && l.level === 'fatal'), 'logged at fatal with its code');
});

t.test('SIGHUP: a valid new config takes effect on an open connection; an invalid one is refused like check-config', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  const base = `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\nmetrics:\n  listen: 127.0.0.1:0\ndns:\n  servers: ["${dns.server}"]\n`;
  writeFileSync(cfg, base);
  const d = await DaemonProcess.start(['serve', '--config', cfg]);
  t.teardown(() => d.stop());
  const c = await PolicyClient.connect({ port: d.policyPort() });
  t.teardown(() => c.close());
  const before = await c.ask(block(NO_HELO));
  t.match(before, /^(REJECT|5\d\d) /, `enforce: refused (${before})`);

  // valid: dry run — the same request on the same connection is no longer refused
  writeFileSync(cfg, `${base}mode: warn\n`);
  const mark = d.lines.length;
  d.signal('SIGHUP');
  t.ok(await d.waitFor((l) => l.msg === 'reloaded', 10_000, mark), 'logged "reloaded"');
  const after = await c.ask(block(NO_HELO));
  t.notMatch(after, /^(REJECT|5\d\d|4\d\d|DEFER)/, `mode: warn after reload: not refused (${after})`);
  t.notOk(c.closed, 'the connection was not dropped');

  // invalid: the error text is check-config's, and the old (warn) config keeps serving
  writeFileSync(cfg, `${base}mode: warn\nchecks:\n  helo_missing:\n    action: rejectt\n`);
  const cc = spawnSync(process.execPath, [CLI, 'check-config', '--config', cfg], { encoding: 'utf8' });
  t.equal(cc.status, 78, 'check-config refuses it');
  const ccErrors = cc.stderr.split('\n').filter((l) => l.startsWith(cfg));
  t.ok(ccErrors.length >= 1 && /:\d+:\d+/.test(ccErrors[0]!), `check-config names file:line:col: ${ccErrors[0]}`);
  const mark2 = d.lines.length;
  d.signal('SIGHUP');
  const refused = await d.waitFor((l) => l.code === 'PI_CONFIG_RELOAD_FAILED', 10_000, mark2);
  t.ok(refused, 'reload refused with PI_CONFIG_RELOAD_FAILED');
  t.same(refused?.errors, ccErrors, 'same error lines as check-config');
  t.equal(refused?.level, 'error');
  t.equal(await c.ask(block(NO_HELO)), after, 'the old config keeps serving, same answer');
  t.notOk(c.closed, 'still the same connection');

  const body = (await scrape(d.metricsUrl())).body;
  t.equal(sample(body, 'policyd_identity_config_reloads_total', { result: 'ok' }), 1);
  t.equal(sample(body, 'policyd_identity_config_reloads_total', { result: 'failed' }), 1);

  // SIGUSR1: the counters in one log line
  const mark3 = d.lines.length;
  d.signal('SIGUSR1');
  const stats = await d.waitFor((l) => l.msg === 'stats', 10_000, mark3);
  t.ok(stats, 'SIGUSR1 logs a stats line');
  const counters = stats?.counters as { requests: number; actions: Record<string, number> } | undefined;
  t.equal(counters?.requests, 3, 'three requests so far');
  const snap = stats?.metrics as { reloads: { ok: number; failed: number }; requests: Record<string, Record<string, number>>; dns: { queries: number } } | undefined;
  t.same(snap?.reloads, { ok: 1, failed: 1 });
  t.equal(Object.values(snap?.requests.RCPT ?? {}).reduce((a, b) => a + b, 0), 3);
  t.ok((snap?.dns.queries ?? 0) >= 1, 'DNS counters in the stats line');
  t.equal(d.exitCode, null, 'still running');
  c.close();
  t.equal(await d.stop(), 0);
});

t.test('workers: 2 — SIGHUP: the primary refuses an invalid config once; a valid one reaches every worker', async (t) => {
  const dns = await dnsServer();
  t.teardown(() => dns.stop());
  const dir = tempDir(t);
  const cfg = join(dir, 'p.yaml');
  const base = `${LAB_IDENTITY_YAML}listen: [inet:127.0.0.1:0]\nworkers: 2\nmetrics:\n  listen: 127.0.0.1:0\ndns:\n  servers: ["${dns.server}"]\n`;
  writeFileSync(cfg, base);
  const d = await DaemonProcess.start(['serve', '--config', cfg], { readyMsg: 'cluster primary started' });
  t.teardown(() => d.stop());
  t.equal(await d.waitForCount((l) => l.msg === 'started', 2, 15_000), 2, 'two workers started');
  const port = d.policyPort();

  writeFileSync(cfg, `${base}mode: nonsense\n`);
  let mark = d.lines.length;
  d.signal('SIGHUP');
  t.ok(await d.waitFor((l) => l.code === 'PI_CONFIG_RELOAD_FAILED', 10_000, mark), 'refused');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(d.lines.slice(mark).filter((l) => l.code === 'PI_CONFIG_RELOAD_FAILED').length, 1, 'logged once, by the primary');

  writeFileSync(cfg, `${base}mode: warn\n`);
  mark = d.lines.length;
  d.signal('SIGHUP');
  t.equal(await d.waitForCount((l) => l.msg === 'reloaded', 2, 10_000, mark), 2, 'both workers reloaded');
  const clients = await Promise.all(Array.from({ length: 4 }, () => PolicyClient.connect({ port })));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) t.notMatch(await c.ask(block(NO_HELO)), /^(REJECT|5\d\d)/, 'every worker answers with the new config');
  const body = (await scrape(d.metricsUrl())).body;
  t.equal(sample(body, 'policyd_identity_config_reloads_total', { result: 'ok' }), 1, 'one reload, counted once');
  t.equal(sample(body, 'policyd_identity_config_reloads_total', { result: 'failed' }), 1);
  for (const c of clients) c.close();
  t.equal(await d.stop(), 0);
});
