/**
 * `npm start`: the loanet server with its embedded MQTT broker and SQLite
 * store. Configuration comes from LOANET_* variables (README has the table).
 * A start-up problem prints one line naming what is wrong and what to change.
 */
import { loadConfig } from './config.ts';
import { StartupError } from './errors.ts';
import { startServer } from './server.ts';
import { listenNotice } from './listen-notice.ts';
import pino from 'pino';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (e) {
    return fail(e);
  }
  const log = pino({ level: config.logLevel, base: undefined });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, { logger: log, httpLogger: false });
  } catch (e) {
    return fail(e);
  }
  const { httpPort, mqttPort } = server;
  const exposure = listenNotice({ httpHost: config.httpHost, httpPort, mqttHost: config.mqttHost, mqttPort, externalBroker: config.mqttUrl });
  log.info({ httpHost: config.httpHost, httpPort, mqttHost: config.mqttHost, mqttPort, dataDir: config.dataDir, exposure }, 'loanet started');
  const mqtt = config.mqttUrl ? `external MQTT broker ${config.mqttUrl} as ${config.mqttUsername}` : `MQTT mqtt://localhost:${mqttPort}`;
  console.log(
    `loanet ${server.ctx.versions.loanet}: console http://localhost:${httpPort}/  API http://localhost:${httpPort}/api  docs http://localhost:${httpPort}/docs  ${mqtt}  data ${config.dataDir}`,
  );
  console.log(exposure);
  if (server.generatedAdminPassword) {
    console.log(
      `first start: created user "admin" with password ${server.generatedAdminPassword} (shown once: write it down). ` +
        `Lost it? Start loanet again with LOANET_ADMIN_PASSWORD set to a new password (at least ${config.passwordMinLength} characters) to reset it.`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function fail(e: unknown): never {
  if (e instanceof StartupError) {
    console.error(`loanet: ${e.message}`);
    process.exit(2);
  }
  console.error('loanet: unexpected start-up failure', e);
  process.exit(1);
}

void main();
