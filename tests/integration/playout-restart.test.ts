/**
 * A station whose board is killed (SIGKILL: agent and simulated devices die
 * together, as at a power cut) and started again shortly before a bulletin
 * plays it, and settles what it missed while dead. Real time, no faked
 * clock: the server in this process (HTTP, embedded broker on TCP, SQLite),
 * a whole simulated station in its own process (`npm run sim`: a real edge
 * agent, its media cache over HTTP, its receipt journal and saved playlist on
 * disk, its amplifier over the device protocol), killed and started again on
 * the same folder as a board reboots.
 *
 * Killed before it had recorded anything, the station's receipt journal is
 * empty: that is not a journal lost (which would make the missed bulletin
 * `unknown`), so the missed one is `skipped expired` and the next one plays.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone, UPLOAD_HOOK_TIMEOUT_MS } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { holdsPlaylist, scheduleOnce } from '../helpers/agent-site.ts';
import { type Proc, startProcess, stopAllProcesses, stopProcess } from '../helpers/process.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683';
const BULLETIN_S = 4;

let t: TestServer;
let dir: string;
let mediaId: string;

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-playout-restart-');
  t = await startTestServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin sáng', seconds: BULLETIN_S });
}, UPLOAD_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await stopAllProcesses();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** One station of COMMUNE in its own sim process; `prefix` names it and its folder, so a process started again is the same station. */
function startStation(prefix: string): Proc {
  return startProcess(
    process.execPath,
    [
      '--import',
      'tsx',
      'firmware-sim/main.ts',
      '--sites',
      '1',
      '--area',
      COMMUNE,
      '--heartbeat',
      '5',
      '--prefix',
      prefix,
      '--credentials',
      path.join(dir, `${prefix}-credentials.json`),
    ],
    { env: { LOANET_URL: t.baseUrl, LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD, LOANET_DATA_DIR: path.join(dir, prefix) } },
  );
}
const stationId = (prefix: string) => `${prefix}-${COMMUNE}-st`;
const online = (id: string) => waitFor(`${id} online`, async () => (await t.api('GET', `/api/sites/${id}`)).body?.status?.connected === true, 60_000, 200);
const receipt = (siteId: string, at: number) =>
  waitFor(
    `${siteId}'s receipt of ${new Date(at).toISOString()}`,
    async () => (await t.server.ctx.asRun.list({ siteIds: [siteId], from: at - 1, to: at + 1 }))[0],
    at - Date.now() + 60_000,
    200,
  );
const until = (at: number, what: string) => waitFor(what, () => Date.now() >= at, at - Date.now() + 5000, 50);

describe.skipIf(!canRun)('a station killed and started again shortly before a bulletin', () => {
  it('plays the bulletin, and says of the one it missed while dead that it expired (its journal was empty: nothing was lost)', async () => {
    let station = startStation('mat');
    const id = stationId('mat');
    await online(id);
    const missedAt = Date.now() + 15_000;
    const at = missedAt + 40_000;
    const missedItem = await scheduleOnce(t, { title: 'Bản tin lỡ', mediaId, at: missedAt, siteId: id });
    const item = await scheduleOnce(t, { title: 'Bản tin sáng', mediaId, at, siteId: id });
    await holdsPlaylist(t, id, 2);

    // Killed before either: its journal holds nothing yet, which is not a journal lost.
    await stopProcess(station, 'SIGKILL');
    await until(at - 30_000, '30 s before the bulletin');
    station = startStation('mat');

    const missed = await receipt(id, missedAt);
    expect(missed, station.lines.slice(-40).join('\n')).toMatchObject({ entryId: `${missedItem}@${missedAt}`, outcome: 'skipped', reason: 'expired' });
    const played = await receipt(id, at);
    expect(played, station.lines.slice(-40).join('\n')).toMatchObject({ entryId: `${item}@${at}`, outcome: 'played' });
    await stopProcess(station);
  }, 180_000);
});
