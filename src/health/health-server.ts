import { createServer, type Server } from 'node:http';
import { close, listen } from '../util/http-server.js';
import { exposition, type MetricsPage } from './exposition.js';
import type { SelfMetrics } from './self-metrics.js';

/** Where the health endpoint listens. */
export interface HealthServerOptions {
  readonly port: number;
  readonly host: string;
}

/**
 * `/livez` (the process answers), `/readyz` (503 when the last cycle failed or writes have failed too long), `/metrics` (the
 * Prometheus text format). Nothing else; no request body is read.
 */
export class HealthServer {
  private server: Server | undefined;

  constructor(
    private readonly metrics: SelfMetrics,
    /** More on `/metrics` after nstats' own counters (the Prometheus sink's series). */
    private readonly pages: readonly MetricsPage[] = [],
  ) {}

  /** Starts listening; resolves with the bound port. */
  async start(options: HealthServerOptions): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const { ready, reason } = this.metrics.readiness();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${reason}\n`);
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.render());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /livez, /readyz, /metrics\n');
      }
    });
    const bound = await listen(server, options.port, options.host);
    this.server = server;
    return bound;
  }

  private render(): string {
    return exposition([...this.metrics.families(), ...this.pages.flatMap((p) => p.families())]);
  }

  /** Stops listening and closes open connections. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await close(server);
  }
}
