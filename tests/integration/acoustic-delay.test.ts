/**
 * The per-site acoustic delay set remotely (issue 4), end to end with real
 * components: the server (HTTP, embedded broker over TCP, ffmpeg relaying a
 * local HTTP radio stream) and two of the fleet runner's real agents (state
 * directories, clock exchange, jitter buffer, libopus, playout engine) on
 * simulated devices.
 *
 * - a technician's set_acoustic_delay is answered with the value and its delay in ms;
 * - the value survives an agent restart (kept in the site's state directory);
 * - a live stream started afterwards plays at that site later than at its
 *   neighbour by metres / 343 s, measured on the marked messages each receiver
 *   scheduled (the same instants live-fleet.test.ts compares).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg } from '../helpers/media.ts';
import { startRadio } from '../helpers/live.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683';
const METRES = 34.3; // 100 ms at 343 m/s
const DELAY_MS = 1000;

let t: TestServer;
let fleet: FleetRunner;
let radio: Awaited<ReturnType<typeof startRadio>> | undefined;
let base: string;
let dir: string;
let technician: string;

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-acoustic-');
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=5', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, 'a.mp3'));
  radio = await startRadio(dir);
  base = radio.base;

  t = await startTestServer({ LOANET_RELAY_ALLOW: '127.0.0.1' }); // the test radio is local
  await importLaoCai2025(t);
  const created = await t.api('POST', '/api/users', { username: 'tech-acoustic', password: 'password-of-tech-acoustic', role: 'technician' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  technician = (await t.api('POST', '/api/auth/login', { username: 'tech-acoustic', password: 'password-of-tech-acoustic' }, { token: null })).body.token;
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: 2,
    heartbeatS: 2,
    area: COMMUNE,
    credentialsFile: null,
    faultShare: 0,
    playout: { sink: 'device', bufferMs: 100, tailMs: 1000, stateRoot: path.join(dir, 'sites') },
  });
  await fleet.start();
  await waitFor('every agent connected', () => fleet.stats().connected === 2, 60_000, 100);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
  await radio?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('a per-site acoustic delay set by command', () => {
  it('refuses a value out of range, naming it', async () => {
    const [, far] = fleet.ids();
    const r = await t.api('POST', `/api/sites/${far}/commands`, { type: 'set_acoustic_delay', params: { metres: 5000 }, waitMs: 0 }, { token: technician });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/metres/);
  });

  it('is answered with the value, survives an agent restart, and delays live streams started afterwards by metres / 343 s', async () => {
    const [near, far] = fleet.ids() as [string, string];
    expect(fleet.site(far).agent.acousticDelayM).toBe(0);

    // A technician sets it, as for the volume.
    const r = await t.api('POST', `/api/sites/${far}/commands`, { type: 'set_acoustic_delay', params: { metres: METRES }, waitMs: 5000 }, { token: technician });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', type: 'set_acoustic_delay', result: { acousticDelayM: METRES, delayMs: 100 } });

    // The agent dies and a new one starts from the same state directory.
    await fleet.kill(far);
    await fleet.restore(far);
    expect(fleet.site(far).agent.acousticDelayM).toBe(METRES);
    expect(fleet.site(near).agent.acousticDelayM).toBe(0);
    await waitFor('the restarted agent connected', () => fleet.site(far).agent.stats.connected, 30_000, 50);
    await waitFor('clocks synced', () => [near, far].every((id) => fleet.site(id).agent.stats.clockSamples >= 5), 30_000, 100);

    const started = await t.api('POST', '/api/live/streams', { source: { kind: 'relay', url: `${base}/a.mp3` }, areas: [COMMUNE], priority: 'normal', delayMs: DELAY_MS });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const stream = started.body.id as number;
    const marks = (id: string) => fleet.site(id).agent.liveReceiver!.marksPlayed.filter((m) => m.streamId === stream);
    await waitFor(
      'both sites played marked messages',
      () => {
        const seqs = new Set(marks(near).map((m) => m.seq));
        return marks(far).filter((m) => seqs.has(m.seq)).length >= 3;
      },
      30_000,
      100,
    );
    expect((await t.api('POST', `/api/live/streams/${stream}/stop`)).status).toBe(200);

    // Same process, same time base: the local instants compare directly.
    const nearAt = new Map(marks(near).map((m) => [m.seq, m.localAt]));
    const diffs = marks(far)
      .filter((m) => nearAt.has(m.seq))
      .map((m) => m.localAt - nearAt.get(m.seq)!);
    const report = (id: string) => fleet.site(id).agent.liveReceiver!.lastReports.get(stream);
    await waitFor('statistics from both sites', () => report(near) && report(far), 15_000, 100);
    // Each site plays within its clock estimate's worst-case error of the schedule (+ 2 ms of rounding), as in live-fleet.test.ts.
    const bound = (report(near)!.clockUncertaintyMs ?? Infinity) + (report(far)!.clockUncertaintyMs ?? Infinity) + 2;
    console.log(`acoustic delay ${METRES} m: far − near per marked message ${diffs.map((d) => d.toFixed(2)).join(', ')} ms (expected 100 ± ${bound.toFixed(2)})`);
    for (const d of diffs) expect(Math.abs(d - (METRES / 343) * 1000)).toBeLessThanOrEqual(bound);
  }, 120_000);
});
