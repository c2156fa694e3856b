/**
 * An alert with language versions and agents that do not take them, end to
 * end with real components: a real server (HTTP, embedded broker over TCP,
 * SQLite, ffmpeg for the media) and the fleet runner's real agents. Village
 * 1's agent stands in for one built before alert_versions
 * (EdgeAgentOptions.withoutFeatures, test only): it does not declare the
 * feature and drops an alert_start carrying `versions`, as such an agent's
 * schema (no unknown fields) does. Dropping an emergency alert is the worst
 * failure there is, so the server must send each channel a copy that agent
 * takes (server/alerts/publisher.ts).
 *
 * Xã Bát Xát: the commune's station (Vietnamese alone), village 1 (old agent,
 * [hmn, vi]) and village 2 (new agent, [hmn, vi]). Alerts go on the commune's
 * channel, which all three listen to, or on the two villages' own. The old
 * agent online: its channel's copy has no versions, so the new agent there
 * plays the Vietnamese message alone too, while a channel of new agents only
 * gets the versions. The old agent offline when the alert starts: it is not
 * counted, so the copy has versions; on connecting it refuses that copy (the
 * one its session kept and the retained one) and plays the one sent again
 * without (here about 0.5 s to receive it, the resend's batch window, and
 * 4.4 s to the message, after the chime and the amplifier's warm-up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { ALERT_VERSIONS_FEATURE } from '../../protocol/index.ts';
import { alertReport, BAT_XAT, communeSites, startLanguageWorld, uploadLanguageTone, type LanguageWorld } from '../helpers/language-villages.ts';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = BAT_XAT; // Xã Bát Xát
const PREFIX = 'alto';
const { site, village, station: STATION } = communeSites(PREFIX);
const OLD = site(1);
const NEW = site(2);

let w: LanguageWorld;
let t: TestServer;
let fleet: FleetRunner;
let dir: string;
const media: Record<string, string> = {};
/** The agents' warnings, one line each, prefixed with the site id. */
const agentLog: string[] = [];
/** What the old agent dropped as an invalid alert control message (an alert_start with versions), so far. */
const refusals = () => agentLog.filter((l) => l.startsWith(`${OLD}: dropped an invalid alert control message`)).length;

const tone = async (lang: string, hz: number, seconds = 1) => (await uploadLanguageTone(t, dir, { lang, title: `Cảnh báo (${lang})`, seconds, hz })).id;
const report = (alertId: string) => alertReport(t, alertId);

/** Waits for every site in `ids` to end the alert; with `refusedBefore`, fails at once if the old agent refuses a copy meanwhile. */
const completed = (alertId: string, ids: readonly string[], refusedBefore?: number) =>
  waitFor(
    `${ids.join(', ')} to complete alert ${alertId}`,
    async () => {
      if (refusedBefore !== undefined && refusals() > refusedBefore) throw new Error(`the old agent refused alert ${alertId}: ${agentLog.filter((l) => l.startsWith(OLD)).at(-1)}`);
      const m = await report(alertId);
      return ids.every((id) => ['completed', 'failed', 'stopped'].includes(m.get(id)?.status ?? '')) ? m : undefined;
    },
    90_000,
    250,
  );

const serverSeesConnected = async (id: string): Promise<boolean> => {
  const r = await t.inject('GET', `/api/sites/${id}`);
  expect(r.status, r.text).toBe(200);
  return r.body.status?.connected === true;
};

beforeAll(async () => {
  if (!canRun) return;
  w = await startLanguageWorld({ tempPrefix: 'loanet-alert-old-agents-' });
  ({ t, dir } = w);
  media.vi = await tone('vi', 440);
  media.hmn = await tone('hmn', 550);
  media.ium = await tone('ium', 660);
  fleet = await w.startVillages({
    idPrefix: PREFIX,
    villages: { 1: ['hmn', 'vi'], 2: ['hmn', 'vi'] },
    withoutFeatures: (id) => (id === OLD ? [ALERT_VERSIONS_FEATURE] : undefined),
    log: (line) => agentLog.push(line),
  });
  // Every agent's declaration (the old one's without the feature) is with the server before any alert.
  await waitFor('the server to see all three sites connected', async () => (await Promise.all([STATION, OLD, NEW].map(serverSeesConnected))).every(Boolean), 30_000, 100);
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

describe.skipIf(!canRun)('an alert with versions and agents that do not take them', () => {
  it('the site configuration carries the languages to the new agent only; the old one takes its configuration', async () => {
    const kept = (id: string) => w.siteConfigKept(id);
    await waitFor('the new agent to hold languages hmn,vi', async () => JSON.stringify((await kept(NEW))?.languages) === '["hmn","vi"]', 20_000, 100);
    await waitFor('the old agent to hold a configuration', async () => (await kept(OLD)) !== undefined, 20_000, 100);
    expect((await kept(OLD))?.languages).toBeUndefined();
    expect(fleet.site(OLD).agent.stats.invalidConfigs).toBe(0);
  });

  it('old and new agents on one channel both play the Vietnamese message; the channel gets the copy without versions', async () => {
    const before = refusals();
    const r = await t.inject('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 2,
      validForMinutes: 10,
      title: 'Lũ quét: sơ tán ngay',
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    const rows = await completed(alertId, [STATION, OLD, NEW], before);
    for (const id of [STATION, OLD, NEW]) expect(rows.get(id), id).toMatchObject({ status: 'completed', messageRepeats: 2 });
    // The server decided: an online site on the commune's channel does not take versions, so the
    // channel's copy has none. The new agent plays the Vietnamese message alone, as the old one does.
    expect(rows.get(NEW)!.languagesPlayed ?? []).toEqual([]);
    expect(rows.get(OLD)!.languagesPlayed ?? []).toEqual([]);
    // The old agent never saw a copy it refuses.
    expect(refusals()).toBe(before);
  }, 120_000);

  it("the decision is per channel: the old agent's village gets the copy without versions, the new agent's village the one with", async () => {
    const before = refusals();
    const r = await t.inject('POST', '/api/alerts', {
      areas: [village(1), village(2)],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 1,
      validForMinutes: 10,
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    const rows = await completed(alertId, [OLD, NEW], before);
    expect(rows.get(OLD)).toMatchObject({ status: 'completed', messageRepeats: 1 });
    expect(rows.get(OLD)!.languagesPlayed ?? []).toEqual([]);
    expect(rows.get(NEW)).toMatchObject({ status: 'completed', messageRepeats: 1, languagesPlayed: ['hmn'] });
    expect(refusals()).toBe(before);
  }, 120_000);

  it('an old agent offline when the alert starts plays it once it connects (the copy without versions is sent again)', async () => {
    await fleet.kill(OLD);
    await waitFor('the server to see the old agent offline', async () => !(await serverSeesConnected(OLD)), 30_000, 100);
    const r = await t.inject('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 1,
      validForMinutes: 10,
      title: 'Sạt lở đất: tránh xa sườn đồi',
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    // Offline sites are not counted: the online ones all take versions, so the channel's copy has them.
    const rows = await completed(alertId, [STATION, NEW]);
    expect(rows.get(NEW)).toMatchObject({ status: 'completed', languagesPlayed: ['hmn'] });
    expect(rows.get(OLD)?.status).toBe('pending');

    const before = refusals();
    await fleet.restore(OLD);
    await waitFor('the old agent connected', () => fleet.site(OLD).agent.stats.connected, 30_000, 50);
    const connectedAt = Date.now();
    const row = await waitFor(
      'the old agent to play the alert',
      async () => {
        const x = (await report(alertId)).get(OLD);
        return x?.messageAt ? x : undefined;
      },
      60_000,
      100,
    );
    const playedAfterMs = row.messageAt! - connectedAt;
    const done = (await completed(alertId, [OLD])).get(OLD)!;
    expect(done).toMatchObject({ status: 'completed', messageRepeats: 1 });
    expect(done.languagesPlayed ?? []).toEqual([]);
    // It first refused the retained copy, which had versions; the copy without came after.
    const refused = refusals() - before;
    console.log(
      `old agent: ${refused} copies with versions refused; message played ${playedAfterMs} ms after it connected (received at +${(row.receivedAt ?? 0) - connectedAt} ms)`,
    );
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(playedAfterMs).toBeGreaterThan(0);
  }, 150_000);

  it('a version added mid-alert with an old agent online: the old agent plays on and is not stopped', async () => {
    const before = refusals();
    const r = await t.inject('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 4,
      validForMinutes: 10,
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    await waitFor('the old agent to play the message', async () => (await report(alertId)).get(OLD)?.messageAt ?? undefined, 60_000, 100);
    const added = await t.inject('POST', `/api/alerts/${alertId}/versions`, { versions: [{ language: 'ium', mediaId: media.ium }] });
    expect(added.status, added.text).toBe(200);
    expect(added.body.alert.revision).toBe(1);
    const rows = await completed(alertId, [STATION, OLD, NEW], before);
    expect(rows.get(OLD)).toMatchObject({ status: 'completed', messageRepeats: 4 });
    expect(rows.get(NEW)).toMatchObject({ status: 'completed', messageRepeats: 4 });
    expect(refusals()).toBe(before);
  }, 150_000);

  it('an old agent playing the alert whose link drops while a version is added: on reconnecting it refuses the copy with versions and plays on', async () => {
    const r = await t.inject('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 6,
      validForMinutes: 10,
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    await waitFor('the old agent to play the message', async () => (await report(alertId)).get(OLD)?.messageAt ?? undefined, 60_000, 100);
    fleet.cut(OLD, 'down');
    await waitFor('the server to see the old agent offline', async () => !(await serverSeesConnected(OLD)), 30_000, 100);
    // The only online sites on the channel take versions: the copy, retained, has them now.
    const added = await t.inject('POST', `/api/alerts/${alertId}/versions`, { versions: [{ language: 'ium', mediaId: media.ium }] });
    expect(added.status, added.text).toBe(200);
    const before = refusals();
    await fleet.restore(OLD);
    await waitFor('the old agent connected', () => fleet.site(OLD).agent.stats.connected, 30_000, 50);
    const rows = await completed(alertId, [STATION, OLD, NEW]);
    expect(rows.get(OLD)).toMatchObject({ status: 'completed', messageRepeats: 6 });
    expect(rows.get(OLD)!.languagesPlayed ?? []).toEqual([]);
    expect(refusals() - before).toBeGreaterThanOrEqual(1);
  }, 150_000);
});
