/**
 * The HTTP server: listening is a feature's start like any other, after the
 * features its routes need have started; closing it (stop) waits for the
 * requests in flight before the features under it stop.
 */
import type { Feature } from '../feature.ts';
import type { ServerConfig } from '../config.ts';
import { StartupError } from '../errors.ts';
import type { App } from './app.ts';

export function httpFeature(app: App, config: Pick<ServerConfig, 'httpPort' | 'httpHost'>): Feature & { port(): number } {
  return {
    name: 'http',
    async start() {
      try {
        await app.listen({ port: config.httpPort, host: config.httpHost });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw code === 'EADDRINUSE'
          ? new StartupError('LOANET_HTTP_PORT_IN_USE', `HTTP port ${config.httpPort} is in use; set LOANET_HTTP_PORT to a free port`)
          : new StartupError(
              'LOANET_HTTP_LISTEN_FAILED',
              `cannot listen for HTTP on ${config.httpHost}:${config.httpPort} (${code ?? (e as Error).message}); check LOANET_HTTP_HOST and LOANET_HTTP_PORT`,
            );
      }
    },
    stop: () => app.close(),
    port() {
      const addr = app.server.address();
      return typeof addr === 'object' && addr ? addr.port : config.httpPort;
    },
  };
}
