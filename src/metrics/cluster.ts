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
 * What can go wrong: a worker restarted by the primary starts its counters at
 * 0, so the summed counters drop once; Prometheus' rate()/increase() treat
 * that as a counter reset.
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

  const onMessage = (w: Worker, m: unknown) => {
    if (!isResponse(m)) return;
    const p = pending.get(m.id);
    if (!p || !p.waiting.delete(w.id)) return;
    if (m.metrics) p.got.push(m.metrics);
    if (p.waiting.size === 0) p.done();
  };
  const onExit = (w: Worker) => {
    for (const p of pending.values()) if (p.waiting.delete(w.id) && p.waiting.size === 0) p.done();
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
      const own = await primary.registry.getMetricsAsJSON();
      return AggregatorRegistry.aggregate([own, ...got]).metrics();
    },
    close() {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
    },
  };
}
