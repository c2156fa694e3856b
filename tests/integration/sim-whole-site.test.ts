/**
 * A simulated site is a whole site: the fleet `npm run sim` runs
 * (firmware-sim/main.ts simFleet) plays an alert on its simulated amplifier
 * and confirms it, as a board would; a heartbeat-only site (asked for with
 * --heartbeat-only, for scale tests) says in its telemetry that it cannot
 * play, so the server counts it faulty with the reason cannot_play and an
 * alert lists it unreached with that reason, never "online, no confirmation
 * yet". Real server (HTTP, embedded broker over TCP, SQLite, ffmpeg), real
 * agents.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { simFleet } from '../../firmware-sim/main.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone, UPLOAD_HOOK_TIMEOUT_MS } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
const WHOLE = 3;

let t: TestServer;
let dir: string;
let whole: FleetRunner;
let light: FleetRunner;
let mediaId: string;

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-sim-whole-');
  t = await startTestServer({ LOANET_HEARTBEAT_S: '1', LOANET_SOUND_CHECK_INTERVAL_H: '24', LOANET_SOUND_CHECK_PERIOD_S: '1', LOANET_SOUND_CHECK_BATCH: '100' });
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Cảnh báo thử', seconds: 1, hz: 880 });
  const base = {
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    heartbeatS: 1,
    area: COMMUNE,
    credentialsFile: null,
    dataDir: path.join(dir, 'data'),
  };
  whole = simFleet({ ...base, sites: WHOLE, prefix: 'whole' });
  light = simFleet({ ...base, sites: 1, prefix: 'light', heartbeatOnly: true });
  await whole.start();
  await light.start();
  await waitFor('every agent connected', () => whole.stats().connected === WHOLE && light.stats().connected === 1, 30_000, 50);
}, UPLOAD_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await whole?.stop();
  await light?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('npm run sim sites', () => {
  it('are whole by default: they play an alert and confirm it; a heartbeat-only site is never operational and an alert says why it is not reached', async () => {
    const [lightId] = light.ids();
    expect(whole.plays).toBe(true);
    expect(light.plays).toBe(false);
    // Each whole site keeps its state where `npm run sim` says: <data>/sim-sites/<site>.
    for (const id of whole.ids()) expect(fs.existsSync(path.join(dir, 'data', 'sim-sites', id)), id).toBe(true);

    const verdict = await waitFor(
      'the heartbeat-only site classified, the whole ones operational',
      async () => {
        const c = (await t.api('GET', `/api/coverage?area=${COMMUNE}`)).body;
        // Read in the same turn as the counts: on a loaded machine a 1 s heartbeat can be late enough for a site to
        // flicker offline between two awaits.
        const wholeOperational = whole.ids().every((id) => t.server.ctx.fleet.verdict(id)?.condition === 'operational');
        return c.operational === WHOLE && c.faulty === 1 && wholeOperational ? t.server.ctx.fleet.verdict(lightId!) : undefined;
      },
      30_000,
      100,
    );
    expect(verdict!.condition).toBe('faulty');
    expect(verdict!.reasons[0]).toMatchObject({ code: 'cannot_play', severity: 'faulty', message: 'cannot play: the agent has no audio output' });
    const site = (await t.api<{ status: { condition: string; reasons: Array<{ code: string }> } }>('GET', `/api/sites/${lightId}`)).body.status;
    expect(site.condition).toBe('faulty');
    expect(site.reasons.map((r) => r.code)).toContain('cannot_play');

    const calledAt = Date.now();
    const r = await t.api('POST', '/api/alerts', { areas: [COMMUNE], message: { mediaId }, attention: 'chime', repeats: 1, validForMinutes: 5, title: 'Thử cảnh báo' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const delivery = await waitFor(
      'every whole site confirmed playing',
      async () => {
        const d = (await t.api('GET', `/api/alerts/${r.body.id}?limit=100`)).body.delivery;
        return d.counts.confirmedPlaying === WHOLE ? d : undefined;
      },
      30_000,
      100,
    );
    expect(delivery.counts.targeted).toBe(WHOLE + 1);
    expect(delivery.counts.unreached).toBe(1);
    const unreached = delivery.unreached as Array<{ siteId: string; reasons: Array<{ code: string }> }>;
    expect(unreached.map((u) => u.siteId)).toEqual([lightId]);
    const codes = unreached[0]!.reasons.map((x) => x.code);
    expect(codes).toContain('cannot_play');
    expect(codes).not.toContain('no_confirmation');
    // The ground truth behind the confirmations: each whole site's amplifier sounded after the call, the light one's never.
    const local = calledAt - (Date.now() - monotonicEpochMs());
    for (const id of whole.ids()) expect(whole.site(id).device.heardFramesBetween(local, local + 60_000), id).toBeGreaterThan(0);
    expect(light.site(lightId!).device.heardFramesBetween(local, local + 60_000)).toBe(0);
  }, 90_000);
});
