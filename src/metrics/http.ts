/**
 * metrics/http — the Prometheus scrape endpoint (node:http), `metrics.listen`.
 *
 *   GET /metrics   the text exposition (200), or 500 when collecting failed
 *   GET /          a one-line pointer to /metrics
 *   anything else  404 / 405
 *
 * It binds where the config says (default off; e.g. 127.0.0.1:9464). It has
 * no authentication: keep it on loopback or behind a firewall.
 *
 * What can go wrong: the port is taken or not permitted: `startMetricsServer`
 * rejects with PI_METRICS_LISTEN_FAILED; the caller logs it and keeps serving
 * Postfix (metrics are optional, mail is not). A failing scrape is logged at
 * warn and answered 500; it never touches the policy service.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Endpoint } from '../server/endpoint.js';
import type { Logger } from '../log/logger.js';
import { PolicydError } from '../errors.js';

export interface MetricsServer {
  /** "HOST:PORT" actually bound (port 0 in tests) */
  readonly address: string;
  close(): Promise<void>;
}

export interface Exposition {
  contentType: string;
  render(): Promise<string>;
}

export function startMetricsServer(endpoint: Endpoint, source: Exposition, log: () => Logger): Promise<MetricsServer> {
  if (endpoint.kind !== 'inet') return Promise.reject(new PolicydError('PI_METRICS_LISTEN_FAILED', 'metrics.listen must be HOST:PORT'));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('policyd-identity metrics: /metrics\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    source.render().then(
      (body) => {
        res.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (e: Error) => {
        log().warn({ code: 'PI_METRICS_SCRAPE_FAILED', err: e.message }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  // a scraper that keeps a connection open must not hold up shutdown
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new PolicydError('PI_METRICS_LISTEN_FAILED', `metrics.listen ${endpoint.text}: ${e.message}`, { cause: e })));
    server.listen({ host: endpoint.host, port: endpoint.port }, () => {
      const a = server.address() as AddressInfo;
      const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
      server.on('error', (e) => log().warn({ code: 'PI_METRICS_SCRAPE_FAILED', err: e.message }, 'metrics server error'));
      resolve({
        address,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            server.closeAllConnections();
          }),
      });
    });
  });
}
