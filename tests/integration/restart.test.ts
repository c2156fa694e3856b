/**
 * Stop and start the server on the same data folder: nothing registered is
 * lost, and the agents reconnect on their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';

const SITES = 20;
let t: TestServer;
let fleet: FleetRunner;

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '1', LOANET_SOUND_CHECK_INTERVAL_H: '24', LOANET_SOUND_CHECK_PERIOD_S: '1', LOANET_SOUND_CHECK_BATCH: '100' });
  await importLaoCai2025(t);
  fleet = new FleetRunner({ api: new LoanetClient(t.baseUrl, t.token), mqtt: { host: '127.0.0.1', port: t.server.mqttPort }, sites: SITES, heartbeatS: 1, credentialsFile: null });
  await fleet.start();
});
afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
});

describe('server restart', () => {
  it('keeps areas, sites, credentials, users and history, and the agents come back by themselves', async () => {
    await waitFor('all operational', async () => (await t.api('GET', '/api/coverage?area=15')).body.operational === SITES, 30_000, 200);
    const vol = await t.api('POST', `/api/sites/${fleet.ids()[3]}/commands`, { type: 'set_volume', params: { level: 40 }, waitMs: 5000 });
    expect(vol.body.status).toBe('succeeded');
    const before = {
      areas: (await t.api('GET', '/api/areas')).body.areas.length,
      sites: (await t.api('GET', '/api/sites')).body.sites.map((s: { id: string }) => s.id),
      // The scheduled sound checks run every second here: wait for the first site's, so there is something to keep.
      verified: (await waitFor(
        'a verified sound at the first site',
        async () => (await t.api('GET', `/api/sites/${fleet.ids()[0]}`)).body.status.lastSoundVerifiedAt as number | null,
        30_000,
        200,
      )) as number,
    };

    await t.restart();
    const restartedAt = Date.now();
    // A command issued while the agents are still away waits for them.
    const queued = await t.api('POST', `/api/sites/${fleet.ids()[5]}/commands`, { type: 'set_volume', params: { level: 35 } });
    expect(queued.status).toBe(202);

    expect((await t.api('GET', '/api/areas')).body.areas.length).toBe(before.areas);
    expect((await t.api('GET', '/api/sites')).body.sites.map((s: { id: string }) => s.id)).toEqual(before.sites);
    // Kept, not reset: a later check may have landed between the read above and the stop, so it is at least what was read.
    expect((await t.api('GET', `/api/sites/${fleet.ids()[0]}`)).body.status.lastSoundVerifiedAt).toBeGreaterThanOrEqual(before.verified);
    expect((await t.api('GET', `/api/commands/${vol.body.id}`)).body.status).toBe('succeeded');
    const events = (await t.api('GET', `/api/sites/${fleet.ids()[0]}/events?type=connected`)).body.events;
    expect(events.length).toBeGreaterThanOrEqual(1);

    // Every site heard from again after the restart, and all operational.
    await waitFor('agents reconnected', () => fleet.stats().connected === SITES, 30_000, 200);
    await waitFor('every site heard since the restart', () => fleet.ids().every((id) => (t.server.ctx.fleet.observation(id)?.lastSeenAt ?? 0) > restartedAt), 15_000, 200);
    expect((await t.api('GET', '/api/coverage?area=15')).body.operational).toBe(SITES);
    const done = await waitFor(
      'queued command ran',
      async () => {
        const c = (await t.api('GET', `/api/commands/${queued.body.id}`)).body;
        return c.status === 'succeeded' ? c : undefined;
      },
      15_000,
      200,
    );
    expect(done.result).toMatchObject({ volume: 35 });
  });
});
