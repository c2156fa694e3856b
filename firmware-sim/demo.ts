/**
 * `npm run demo`: the server (embedded broker, SQLite) and a simulated fleet
 * for the real Lào Cai communes (2025 list) in one process: one station per
 * commune and a few clusters per commune, with a small share of injected
 * faults. Prints where to look.
 *
 * Environment: the server's LOANET_* variables (README), plus
 * LOANET_DEMO_CLUSTERS_PER_COMMUNE (default 3) and LOANET_DEMO_FAULTS (default 0.04).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../server/config.ts';
import { StartupError } from '../server/errors.ts';
import { startServer } from '../server/server.ts';
import { LoanetClient } from '../tools/api-client.ts';
import { FleetRunner } from './fleet-runner.ts';
import { simulatedPlayout } from './fleet-playout.ts';

const LAO_CAI_2025 = path.resolve(import.meta.dirname, '../server/registry/vn-admin/lao-cai-2025.csv');

async function main(): Promise<void> {
  const env: Record<string, string | undefined> = {
    // Lively defaults for watching: faster heartbeats and sound checks than production.
    LOANET_HEARTBEAT_S: '10',
    LOANET_SOUND_CHECK_PERIOD_S: '5',
    LOANET_SOUND_CHECK_BATCH: '100',
    LOANET_HISTORY_S: '60',
    LOANET_ADMIN_PASSWORD: 'loanet-demo',
    LOANET_LOG_LEVEL: 'warn',
    // Every simulated site connects from 127.0.0.1 (up to 5,049 with LOANET_DEMO_CLUSTERS_PER_COMMUNE=50):
    // the per-address MQTT limits are for a real network.
    LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: '100000',
    LOANET_MQTT_CONNECT_BURST: '100000',
    LOANET_MQTT_CONNECT_RATE: '100000',
    ...process.env,
  };
  const config = loadConfig(env);
  const perCommune = Number(env.LOANET_DEMO_CLUSTERS_PER_COMMUNE ?? 3);
  const faults = Number(env.LOANET_DEMO_FAULTS ?? 0.04);
  if (!Number.isInteger(perCommune) || perCommune < 0 || perCommune > 50)
    throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_DEMO_CLUSTERS_PER_COMMUNE must be a whole number from 0 to 50');
  if (!(faults >= 0 && faults <= 1)) throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_DEMO_FAULTS must be a share from 0 to 1');

  const server = await startServer(config);
  const base = `http://localhost:${server.httpPort}`;
  const api = new LoanetClient(`http://127.0.0.1:${server.httpPort}`, undefined);
  await api.login('admin', config.adminPassword ?? 'loanet-demo');
  const communes = (await api.get<{ areas: unknown[] }>('/api/areas?version=2025&level=commune')).areas.length;
  if (communes === 0) {
    const r = await api.request<{ created: number }>('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'), 'text/csv');
    console.log(`demo: imported ${r.created} areas of Lào Cai (2025 list, 99 communes)`);
  }
  const sites = 99 * (1 + perCommune);
  const fleet = new FleetRunner({
    api,
    mqtt: { host: '127.0.0.1', port: server.mqttPort },
    sites,
    heartbeatS: config.heartbeatIntervalS,
    faultShare: faults,
    idPrefix: 'demo',
    credentialsFile: path.join(config.dataDir, 'demo-credentials.json'),
    log: (line) => console.log(line.replace(/^fleet:/, 'demo:')),
    // Scheduled bulletins and alerts play on the simulated amplifiers, with as-run receipts.
    playout: simulatedPlayout({ dir: path.join(config.dataDir, 'demo-sites'), httpUrl: api.baseUrl }),
  });
  await fleet.start();

  console.log(`
loanet demo is running: ${sites} simulated sites in the ${communes || 99} communes of Lào Cai.

  console       ${base}/   (user admin, password ${config.adminPassword ?? 'loanet-demo'})
  API docs      ${base}/docs
  health        curl ${base}/api/health
  log in        curl -s -X POST ${base}/api/auth/login -H 'content-type: application/json' \\
                  -d '{"username":"admin","password":"${config.adminPassword ?? 'loanet-demo'}"}'
  coverage      curl -s '${base}/api/coverage?area=15' -H "Authorization: Bearer $TOKEN"   (the province)
                curl -s '${base}/api/coverage?area=02683' -H "Authorization: Bearer $TOKEN" (Xã Bát Xát)
  failing sites curl -s '${base}/api/sites?condition=faulty' -H "Authorization: Bearer $TOKEN"
  MQTT broker   mqtt://localhost:${server.mqttPort}   data folder ${config.dataDir}

Sites with a monitoring microphone are 'degraded: sound never verified' until
their first scheduled sound check (a few per ${config.soundCheckPeriodS} s). Ctrl-C stops everything.
`);
  const timer = setInterval(async () => {
    try {
      const c = await api.get<{
        sites: number;
        operational: number;
        degraded: number;
        faulty: number;
        offline: number;
        unverified: number;
        villages: number;
        villagesCovered: number;
      }>('/api/coverage?area=15');
      console.log(
        `demo: ${c.operational}/${c.sites} sites operational (${c.degraded} degraded, ${c.faulty} faulty, ${c.offline} offline, ${c.unverified} unverified); villages covered ${c.villagesCovered}/${c.villages}`,
      );
    } catch (e) {
      console.log(`demo: ${(e as Error).message}`);
    }
  }, 15_000);
  const stop = async () => {
    clearInterval(timer);
    await fleet.stop();
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((e: unknown) => {
  console.error(`loanet demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(e instanceof StartupError ? 2 : 1);
});
