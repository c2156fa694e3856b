/**
 * GET /metrics (Prometheus text 0.0.4), GET /livez and GET /readyz: for
 * machines, outside /api (no user, no session, no JSON), hidden from the
 * API description. /livez and /readyz answer anyone and say nothing beyond
 * the names of what is not ready; /metrics is guarded by access.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import { forwardedByUntrustedProxy, metricsRefusal } from './access.ts';
import { CONTENT_TYPE, render, type MetricFamily } from './exposition.ts';
import type { NotReady } from './readiness.ts';

export interface OpsRouteDeps {
  metricsToken: string | undefined;
  metrics(): Promise<MetricFamily[]>;
  notReady(): Promise<readonly NotReady[]>;
}

const TEXT = 'text/plain; charset=utf-8';

export const opsRoutes =
  (d: OpsRouteDeps): FastifyPluginAsync =>
  async (app) => {
    // The event loop answered: that is all liveness means (readiness.ts says why).
    app.get('/livez', { schema: { hide: true } }, async (_req, reply) => reply.header('cache-control', 'no-store').type(TEXT).send('ok\n'));

    app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
      const missing = await d.notReady();
      reply.header('cache-control', 'no-store').type(TEXT);
      if (missing.length === 0) return reply.send('ok\n');
      return reply.status(503).send(`not ready: ${missing.join(', ')}\n`);
    });

    app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
      const refused = metricsRefusal(d.metricsToken, req.headers.authorization, req.ip, forwardedByUntrustedProxy(req.headers, req.socket.remoteAddress, req.ip));
      reply.header('cache-control', 'no-store').type(TEXT);
      if (refused === 'token') return reply.status(401).header('www-authenticate', 'Bearer').send('a bearer token (LOANET_METRICS_TOKEN) is required\n');
      if (refused === 'forwarded')
        return reply
          .status(403)
          .send(
            'this request came through a proxy that LOANET_TRUST_PROXY does not name, so it is not from this machine; set LOANET_METRICS_TOKEN, or name the proxy in LOANET_TRUST_PROXY\n',
          );
      if (refused === 'not_loopback') return reply.status(403).send('metrics are served to this machine only; set LOANET_METRICS_TOKEN to scrape from elsewhere\n');
      return reply.type(CONTENT_TYPE).send(render(await d.metrics()));
    });
  };
