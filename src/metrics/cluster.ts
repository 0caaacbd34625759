/**
 * metrics/cluster — one metrics endpoint for a node:cluster daemon (`workers: N`).
 *
 * The primary serves the endpoint. On each scrape it asks every connected
 * worker for its metrics over the cluster IPC channel, merges them with its
 * own (build info, reloads, workers) using prom-client's
 * AggregatorRegistry.aggregate (counters and histograms summed, gauges summed
 * unless the metric says otherwise), and returns one exposition: the whole
 * daemon, not one worker.
 *
 * Why not AggregatorRegistry.clusterMetrics(): it leaves out the primary's own
 * registry and waits 5 s for a worker that died mid-scrape; here a worker that
 * exits or does not answer within the timeout is left out of that scrape and
 * counted in policyd_identity_metrics_workers_missing.
 *
 * Counters never go backwards across worker restarts: the primary keeps each
 * worker's last answer, and when a worker exits, the counters and histograms
 * of that answer are folded into one "retired" snapshot that every later
 * scrape adds (the restarted worker starts from 0 beside it). Without that, the
 * sum dropped by the dead worker's share and Prometheus' rate()/increase()
 * read the drop as a counter reset, counting the survivors' whole totals again.
 * A worker that does not answer within the timeout contributes its previous
 * answer to that scrape, for the same reason.
 *
 * What can go wrong: what a worker counted after its last answered scrape and
 * before it died is lost (the sum grows a little less than the truth, never
 * shrinks); a worker that never answered a scrape leaves nothing behind. The
 * retired snapshot is one merged set of series, so it does not grow with the
 * number of restarts (only with label values, as any counter does).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, type Registry } from 'prom-client';
import type { Metrics } from './metrics.js';

/** one process's metrics as prom-client's getMetricsAsJSON() gives them */
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

const REQ = 'policyd:metrics-req';
const RES = 'policyd:metrics-res';

interface MetricsRequest { type: typeof REQ; id: number }
interface MetricsResponse { type: typeof RES; id: number; metrics?: MetricJson[]; error?: string }

function isRequest(m: unknown): m is MetricsRequest {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === REQ;
}
/** counters and histograms only grow: they are what a worker that exited leaves in the sum */
function isMonotonic(m: MetricJson): boolean {
  const type = String(m.type); // prom-client types it as an enum; the JSON carries 'counter', 'histogram', ...
  return type === 'counter' || type === 'histogram';
}

function isResponse(m: unknown): m is MetricsResponse {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === RES;
}

/** Worker side: answer the primary's requests with this worker's metrics. */
export function answerPrimary(metrics: Metrics): () => void {
  const onMessage = (m: unknown) => {
    if (!isRequest(m)) return;
    metrics.registry.getMetricsAsJSON().then(
      (json) => process.send?.({ type: RES, id: m.id, metrics: json } satisfies MetricsResponse),
      (e: Error) => process.send?.({ type: RES, id: m.id, error: e.message } satisfies MetricsResponse),
    );
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

export interface ClusterCollector {
  /** the merged exposition of the primary and every worker that answered */
  render(): Promise<string>;
  close(): void;
}

/**
 * Primary side. `expected`: the configured number of workers; `timeoutMs`: how
 * long a scrape waits for them.
 */
export function clusterCollector(primary: Metrics, expected: number, timeoutMs = 2000): ClusterCollector {
  let nextId = 1;
  interface Pending { waiting: Set<number>; got: MetricJson[][]; done: () => void }
  const pending = new Map<number, Pending>();
  let missing = 0;
  /** each live worker's last answer, by worker id */
  const last = new Map<number, MetricJson[]>();
  /** counters and histograms of exited workers: folded into `retired` at the next scrape */
  const exited: MetricJson[][] = [];
  let retired: MetricJson[] = [];
  let compacting = false;

  const onMessage = (w: Worker, m: unknown) => {
    if (!isResponse(m)) return;
    const p = pending.get(m.id);
    if (!p || !p.waiting.delete(w.id)) return;
    if (m.metrics) {
      p.got.push(m.metrics);
      last.set(w.id, m.metrics);
    }
    if (p.waiting.size === 0) p.done();
  };
  const onExit = (w: Worker) => {
    for (const p of pending.values()) if (p.waiting.delete(w.id) && p.waiting.size === 0) p.done();
    const snapshot = last.get(w.id);
    last.delete(w.id);
    // gauges (connections, cache sizes) die with the worker; what only grows stays
    if (snapshot !== undefined) exited.push(snapshot.filter(isMonotonic));
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);

  new Gauge({
    name: 'policyd_identity_metrics_workers_missing',
    help: 'Workers that did not answer the last metrics scrape (exited, restarting or too slow)',
    registers: [primary.registry],
    collect() {
      this.set(missing);
    },
  });

  return {
    async render() {
      const id = nextId++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
      const got: MetricJson[][] = [];
      let asked = 0;
      await new Promise<void>((resolve) => {
        const waiting = new Set<number>();
        const timer = setTimeout(() => finish(), timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          pending.delete(id);
          resolve();
        };
        pending.set(id, { waiting, got, done: finish });
        for (const w of workers) {
          try {
            w.send({ type: REQ, id } satisfies MetricsRequest);
            waiting.add(w.id);
            asked++;
          } catch {
            // the channel closed between isConnected() and send(): leave this worker out
          }
        }
        if (asked === 0) finish();
      });
      missing = Math.max(0, expected - got.length);
      if (exited.length > 0 && !compacting) {
        // fold the exited workers into one merged snapshot, whatever the number of
        // restarts; swapped in at once (no await between), so a scrape running
        // beside this one sees each exited worker exactly once
        compacting = true;
        const n = exited.length;
        try {
          const merged = await AggregatorRegistry.aggregate([retired, ...exited.slice(0, n)]).getMetricsAsJSON();
          retired = merged;
          exited.splice(0, n);
        } finally {
          compacting = false;
        }
      }
      const own = await primary.registry.getMetricsAsJSON();
      // Every live worker's latest answer (this scrape's, or the previous one of a
      // worker too slow this time: its counters stay in the sum), plus what the
      // exited ones left. Built without an await, so no exit can slip between.
      return AggregatorRegistry.aggregate([own, ...last.values(), retired, ...exited]).metrics();
    },
    close() {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
    },
  };
}
