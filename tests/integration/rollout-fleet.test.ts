/**
 * A rollout to a simulated fleet, driven by the server's rollout service end
 * to end: a release signed in the test and uploaded through the server's
 * release routes (its key in the server's trust list), a rollout created
 * with POST /api/rollouts (a canary of named sites, then percentage waves),
 * and 200 real in-process agents (firmware-sim/fleet-runner.ts, option
 * `update`) that take their retained orders, fetch the release from the
 * server with their own site credentials, switch, run the real health check
 * and report. 8 % of the sites are made to fail their health check on the
 * new version (their sound check hears nothing): they roll back on their own.
 *
 * What is pinned down: the rollout stops at its error threshold; every failed
 * site is back on the factory version and operational; no site outside the
 * started waves got an order or changed; the sites of the started waves that
 * passed run the new version; and the rollout's page (GET /api/rollouts/:id,
 * what the console shows: per wave, per site state and failure reason) says
 * all of it. LOANET_UPDATE_FLEET_SITES sets another size (a laptop may run
 * fewer; CI runs 200).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import type { TelemetryMessage, UpdateReport } from '../../protocol/index.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const SITES = Number(process.env.LOANET_UPDATE_FLEET_SITES ?? 200);
const FACTORY = readAgentVersion();
const NEW = '99.3.0';
const CANARY = 4;
/** The first percentage wave: a quarter of the fleet in all, the canary included. */
const FIRST_PERCENT = 25;
/** Waits bound a hang only: 200 agents and the server share one process on a busy 2-core machine. */
const LONG = 300_000;
const key = makeSigningKey();
const release = makeRelease({
  id: 'agent-99-3-0',
  version: NEW,
  key,
  arch: boardArch() ?? 'amd64',
  files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(48_000, 5) },
});

let t: TestServer;
let fleet: FleetRunner;
/** Sites whose new version fails its health check: filled once the rollout's waves are known (see the test). */
const failing = new Set<string>();
/** update_status events per site, as the server received them. */
const updateEvents = new Map<string, UpdateReport[]>();

interface RolloutView {
  status: string;
  wave: number;
  reason: { code: string; params: Record<string, string | number | null> } | null;
  waves: Array<{ name: string; size: number; waiting: number; installing: number; updated: number; failed: number }>;
  siteList: Array<{
    siteId: string;
    wave: number | null;
    state: string;
    reportState: string | null;
    reason: string | null;
    detail: string | null;
    fromVersion: string | null;
    toVersion: string;
  }>;
}

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  await importLaoCai2025(t);
  // The server trusts the test's key for uploads (its release-keys folder, read at each use).
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'rollout-fleet.pem'), key.publicPem);
  t.server.ctx.broker.onSiteMessage((m) => {
    if (m.channel !== 'event') return;
    const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
    if (e.type === 'update_status' && e.update) updateEvents.set(m.siteId, [...(updateEvents.get(m.siteId) ?? []), e.update]);
  });
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: SITES,
    heartbeatS: 2,
    credentialsFile: null,
    update: {
      trustedKeys: [key.trusted],
      // The server's own release routes, with each site's credential.
      httpUrl: t.baseUrl,
      pollMs: 200,
      failHealthCheck: (id) => failing.has(id),
    },
  });
  await fleet.start();
}, LONG);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
});

const telemetry = (siteId: string): TelemetryMessage | null => t.server.ctx.fleet.observation(siteId)?.telemetry ?? null;

async function uploadRelease(): Promise<string> {
  const created = await t.api('POST', '/api/releases', { manifest: release.manifestBytes.toString('base64'), signatures: release.signatures });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  for (const [file, body] of release.files) {
    const res = await fetch(`${t.baseUrl}/api/releases/${id}/files/${encodeURIComponent(file)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status, await res.text()).toBeLessThan(300);
  }
  return id;
}

const rollout = async (id: string): Promise<RolloutView> => {
  const r = await t.api('GET', `/api/rollouts/${id}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as RolloutView;
};

describe('a rollout to a simulated fleet, driven by the rollout service', () => {
  it(`canary then waves to ${SITES} sites: 8 % failing their health check stop it at the error threshold; they are back on the old version and working, no later site was touched`, async () => {
    const ids = fleet.ids();
    expect(ids.length).toBe(SITES);
    await waitFor('every site online on the factory version', () => ids.every((id) => telemetry(id)?.versions.agent === FACTORY), LONG, 250);
    const releaseId = await uploadRelease();

    // The whole province of the current structure: every simulated site is in one of its communes.
    const provinces = (await t.api('GET', '/api/areas?level=province')).body.areas as Array<{ key: string }>;
    const province = provinces
      .map((a) => a.key)
      .sort()
      .at(-1)!;
    const canary = [...ids].sort().slice(0, CANARY);
    const firstWaveSize = Math.ceil((SITES * FIRST_PERCENT) / 100) - CANARY;
    // The thresholds, for 8 % of failures:
    // - errorThreshold 5 %: under the 8 % injected, so a wave that holds its share of the failures trips it;
    // - minFinished, half the first wave: the stop is a wave's verdict, not the first two sites' (1 failure of 2
    //   would be 50 %); by then a few of the wave's failures have come in, and once the whole wave is in,
    //   its 8 % is over 5 % whatever order the sites finished in;
    // - successThreshold 95 %: with 8 % failing the wave never reaches it, so it cannot hand over to the next
    //   wave before its errors are judged, and the rollout stops inside the first percentage wave.
    const minFinished = Math.max(3, Math.floor(firstWaveSize / 2));
    const created = await t.api('POST', '/api/rollouts', {
      releaseId,
      targets: { areas: [province] },
      waves: [
        { name: 'canary', sites: canary },
        { name: `${FIRST_PERCENT} %`, percent: FIRST_PERCENT },
        { name: '60 %', percent: 60 },
        { name: 'all', percent: 100 },
      ],
      successThreshold: 0.95,
      errorThreshold: 0.05,
      minFinished,
      onError: 'pause',
      maxInFlight: 50,
      broadcastMarginMin: 0,
      healthTimeoutS: 180,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const list = created.body.siteList as Array<{ siteId: string; wave: number }>;
    expect(list).toHaveLength(SITES);
    const wave = (w: number) => list.filter((s) => s.wave === w).map((s) => s.siteId);
    expect(wave(0).sort()).toEqual(canary);
    expect(wave(1)).toHaveLength(firstWaveSize);
    // 8 % of the fleet fails, spread evenly over the rollout's own order of its percentage waves (a
    // stratified draw; a uniform one would leave the first wave's share of failures to chance, and with it
    // whether the stop happens there). The canary's named sites are all sound. The choice is made before
    // any site of a percentage wave has its order: they wait for the canary to pass.
    const inOrder = [1, 2, 3].flatMap(wave);
    const count = Math.round(SITES * 0.08);
    for (let k = 0; k < count; k++) failing.add(inOrder[Math.floor((k * inOrder.length) / count)]!);
    expect(failing.size).toBe(count);
    const first = wave(1);
    const firstFailing = first.filter((s) => failing.has(s));
    expect(firstFailing.length).toBeGreaterThan(0);
    expect(firstFailing.length / first.length).toBeGreaterThan(0.05);
    const started = new Set([...wave(0), ...first]);
    const untouched = ids.filter((s) => !started.has(s));

    const stopped = await waitFor(
      'the rollout paused at the error threshold, the first wave finished',
      async () => {
        const r = await rollout(id);
        return r.status === 'paused' && r.waves[1]!.installing === 0 ? r : undefined;
      },
      LONG,
      1000,
    ).catch(async (e: unknown) => {
      const r = await rollout(id);
      const open = r.siteList.filter((s) => s.state === 'installing').slice(0, 5);
      throw new Error(`${(e as Error).message}; status ${r.status}; waves ${JSON.stringify(r.waves)}; installing: ${JSON.stringify(open)}`);
    });
    expect(stopped.wave).toBe(1);
    // Why, as a code and its numbers (the console words it): the first percentage wave over 5 %.
    expect(stopped.reason).toMatchObject({ code: 'error_threshold', params: { wave: `${FIRST_PERCENT} %`, thresholdPct: 5 } });
    const { failed, finished } = stopped.reason!.params as { failed: number; finished: number };
    expect(failed / finished).toBeGreaterThan(0.05);
    expect(stopped.waves.map((w) => [w.size, w.updated, w.failed, w.installing])).toEqual([
      [CANARY, CANARY, 0, 0],
      [first.length, first.length - firstFailing.length, firstFailing.length, 0],
      [wave(2).length, 0, 0, 0],
      [wave(3).length, 0, 0, 0],
    ]);
    // The rollout's own stop is audited without a person, with the threshold's code and numbers.
    const audit = (await t.api('GET', '/api/audit?action=rollout.pause')).body.entries as Array<{ username: string | null; target: string; detail: { reason?: unknown } }>;
    expect(audit.find((e) => e.target === id)).toMatchObject({ username: null, detail: { reason: stopped.reason } });

    // What the console shows per site: each failed one with the reason its board gave.
    const view = new Map(stopped.siteList.map((s) => [s.siteId, s]));
    for (const s of firstFailing) {
      expect(view.get(s), s).toMatchObject({ wave: 1, state: 'failed', reportState: 'rolled_back', reason: 'sound_check_failed', fromVersion: FACTORY, toVersion: NEW });
      expect(view.get(s)!.detail, s).toMatch(/injected/);
    }
    for (const s of [...wave(0), ...first.filter((x) => !failing.has(x))]) expect(view.get(s), s).toMatchObject({ state: 'updated', reportState: 'updated' });
    for (const s of untouched) expect(view.get(s), s).toMatchObject({ state: 'waiting', reportState: null });

    // The failed sites: back on the factory version by their own heartbeats, and working.
    await waitFor(
      'every failed site heard on the factory version, rolled back',
      () => firstFailing.every((s) => telemetry(s)?.versions.agent === FACTORY && telemetry(s)?.update?.state === 'rolled_back'),
      LONG,
      500,
    );
    // Operational, as the site page says: a site with a monitoring microphone counts as heard only once a
    // sound check verified it (one without is judged by its speaker lines), so each such site is asked for one, as a technician checking a rolled-back site would;
    // the old version answers it (the fault was injected only into the new version's health check).
    for (const s of firstFailing.filter((x) => fleet.site(x).device.profile.monitorMic)) {
      const c = await t.api('POST', `/api/sites/${s}/commands`, { type: 'sound_check', waitMs: 60_000 });
      expect(c.body.status, `${s}: ${JSON.stringify(c.body)}`).toBe('succeeded');
    }
    const condition = async (s: string) => (await t.api('GET', `/api/sites/${s}`)).body.status as { condition: string; reasons: Array<{ code: string }> } | null;
    await waitFor(
      'every failed site operational',
      async () => {
        for (const s of firstFailing) if ((await condition(s))?.condition !== 'operational') return undefined;
        return true;
      },
      LONG,
      1000,
    ).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await Promise.all(firstFailing.map(async (s) => [s, await condition(s)])))}`);
    });
    // The ones that passed run the new version, committed.
    const passed = [...wave(0), ...first.filter((x) => !failing.has(x))];
    await waitFor('every passed site heard on the new version', () => passed.every((s) => telemetry(s)?.versions.agent === NEW), LONG, 500);
    for (const s of passed) expect(telemetry(s)?.update, s).toMatchObject({ state: 'updated', version: NEW, fromVersion: FACTORY });
    // No site outside the started waves changed: the factory version, no order, no report.
    for (const s of untouched) {
      expect(telemetry(s)?.versions.agent, s).toBe(FACTORY);
      expect(telemetry(s)?.update ?? null, s).toBeNull();
      expect(fleet.site(s).agent.updateReport, s).toBeNull();
      expect(updateEvents.get(s), s).toBeUndefined();
    }
    // The fleet's versions, as the console counts them from the heartbeats.
    const versions = (await t.api('GET', '/api/fleet/versions')).body as { total: { sites: number; agent: Record<string, number> } };
    expect(versions.total.agent[NEW]).toBe(passed.length);
    expect(versions.total.agent[FACTORY]).toBe(SITES - passed.length);
  }, 900_000);
});
