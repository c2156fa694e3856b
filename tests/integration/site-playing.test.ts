/**
 * The site page says what a site plays now and since when: a real agent that
 * plays (media cache over HTTP, the playout engine, a simulated amplifier)
 * says it in its heartbeat as playback starts and stops, and GET
 * /api/sites/:id names it (the bulletin's item title, the live stream's
 * label). The agents' periodic heartbeat is a minute here, so seeing it within
 * a bulletin of a few seconds means the agent sent one when playback started.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let bulletinMedia: string;
let liveMedia: string;

interface Playing {
  kind: string;
  id: string;
  itemId: string | null;
  since: number;
  title: string | null;
  source: string | null;
}

async function playingAt(siteId: string): Promise<Playing | null> {
  const r = await t.api('GET', `/api/sites/${siteId}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.playing ?? null) as Playing | null;
}

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-site-playing-');
  t = await startTestServer({ LOANET_SCHEDULE_RECOMPUTE_S: '5' });
  await importLaoCai2025(t);
  bulletinMedia = await uploadTone(t, dir, { title: 'Bản tin sáng', seconds: 8 });
  liveMedia = await uploadTone(t, dir, { title: 'Nguồn trực tiếp', seconds: 30 });
  fleet = await startPlayoutFleet(t, { sites: 1, area: COMMUNE, dir, heartbeatS: 60, connectTimeoutMs: 20_000 });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('the site API says what the site plays now', () => {
  it('a bulletin on air is named by its item title, since its start; silence after it is null', async () => {
    const siteId = fleet.ids()[0]!;
    expect(await playingAt(siteId)).toBeNull();
    const at = Date.now() + 12_000;
    const created = await t.api('POST', '/api/schedule/items', { title: 'Bản tin sáng thứ bảy', mediaId: bulletinMedia, targets: { areas: [COMMUNE] }, start: { at } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);

    const playing = await waitFor('the site API to say the bulletin plays', () => playingAt(siteId), at - Date.now() + 30_000, 100);
    expect(playing).toMatchObject({ kind: 'bulletin', id: `${created.body.id}@${at}`, itemId: created.body.id, title: 'Bản tin sáng thứ bảy', source: null });
    // The agent's estimate of the server clock: near the scheduled start, never long before it.
    expect(Math.abs(playing.since - at)).toBeLessThan(5_000);

    await waitFor('the site API to say nothing plays once it ended', async () => ((await playingAt(siteId)) === null ? true : undefined), 40_000, 100);
  });

  it('a live stream on air is named by its label and source', async () => {
    const siteId = fleet.ids()[0]!;
    const r = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: liveMedia }, areas: [COMMUNE], label: 'Trực tiếp hội nghị xã' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const streamId = String(r.body.id);
    const playing = await waitFor(
      'the site API to say the live stream plays',
      async () => {
        const p = await playingAt(siteId);
        return p?.kind === 'live' ? p : undefined;
      },
      30_000,
      100,
    );
    expect(playing).toMatchObject({ kind: 'live', id: streamId, itemId: null, title: 'Trực tiếp hội nghị xã', source: 'media' });
    const stopped = await t.api('POST', `/api/live/streams/${streamId}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    await waitFor('the site API to say nothing plays once the stream stopped', async () => ((await playingAt(siteId)) === null ? true : undefined), 30_000, 100);
  });
});
