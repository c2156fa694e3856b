/**
 * A failed update raises an alarm, and a later successful one clears it: a
 * real server (HTTP, embedded broker on TCP, SQLite), a release signed in
 * the test and uploaded through the releases API, and two real in-process
 * agents (firmware-sim/fleet-runner.ts, option `update`) that take their
 * orders, fetch the release, switch, run the real health check and report.
 * One of them fails its health check on the new version (its sound check
 * hears nothing) and rolls back on its own: the alarms' holder reads the
 * failed attempt from the updates store and raises `update_failed` for that
 * site alone, with the release and the board's reason. A second release
 * that passes there clears it (the hold-down is 1 s here).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import type { Alarm } from '../../server/alarms/model.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { makeRelease, makeSigningKey, type TestRelease } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const FACTORY = readAgentVersion();
const BAD = '99.5.0';
const GOOD = '99.6.0';
/** Waits bound a hang only: agents, health checks and the server share one busy machine. */
const LONG = 180_000;
const key = makeSigningKey();
const releaseOf = (version: string, fill: number) =>
  makeRelease({
    id: `agent-${version.replaceAll('.', '-')}`,
    version,
    key,
    arch: boardArch() ?? 'amd64',
    files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(32_000, fill) },
  });

let t: TestServer;
let fleet: FleetRunner;
const failing = new Set<string>();

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2', LOANET_ALARM_HOLD_DOWN_S: '1' });
  await importLaoCai2025(t);
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'alarms-update.pem'), key.publicPem);
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: 2,
    heartbeatS: 2,
    credentialsFile: null,
    update: { trustedKeys: [key.trusted], httpUrl: t.baseUrl, pollMs: 200, failHealthCheck: (id) => failing.has(id) },
  });
  await fleet.start();
}, LONG);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
});

async function upload(release: TestRelease): Promise<string> {
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

/** One wave to these sites, that goes to its end whatever fails. */
async function rollOut(releaseId: string, sites: string[]): Promise<string> {
  const r = await t.api('POST', '/api/rollouts', {
    releaseId,
    targets: { sites },
    waves: [{ name: 'all', percent: 100 }],
    successThreshold: 0.5,
    errorThreshold: 1,
    minFinished: 1,
    onError: 'pause',
    maxInFlight: 10,
    broadcastMarginMin: 0,
    healthTimeoutS: 120,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

async function finished(rolloutId: string): Promise<Array<{ siteId: string; state: string; reason: string | null }>> {
  return waitFor(
    `rollout ${rolloutId}: every site finished`,
    async () => {
      const r = (await t.api('GET', `/api/rollouts/${rolloutId}`)).body as { siteList: Array<{ siteId: string; state: string; reason: string | null }> };
      return r.siteList.every((s) => s.state === 'updated' || s.state === 'failed') ? r.siteList : undefined;
    },
    LONG,
    500,
  );
}

const updateAlarms = async (siteId: string): Promise<Alarm[]> => {
  const r = await t.api('GET', `/api/alarms?site=${siteId}&state=open,cleared&limit=100`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.alarms as Alarm[]).filter((a) => a.kind === 'update_failed');
};

describe('a failed update raises an alarm', () => {
  it('the site that rolled back has an update_failed alarm with the release and its reason, the one that updated none; a later successful update clears it', async () => {
    const ids = fleet.ids().sort();
    const [bad, good] = [ids[0]!, ids[1]!];
    failing.add(bad);
    await waitFor('both sites online on the factory version', () => ids.every((id) => t.server.ctx.fleet.observation(id)?.telemetry?.versions.agent === FACTORY), LONG, 250);

    const first = await rollOut(await upload(releaseOf(BAD, 3)), ids);
    const sites = new Map((await finished(first)).map((s) => [s.siteId, s]));
    expect(sites.get(bad)).toMatchObject({ state: 'failed', reason: 'sound_check_failed' });
    expect(sites.get(good)).toMatchObject({ state: 'updated' });

    const raised = await waitFor('the update_failed alarm of the rolled-back site', async () => (await updateAlarms(bad)).find((a) => a.state === 'raised'), LONG, 250);
    // Minor for a cluster (it plays the previous release), a level worse for a commune station (alarm-rules.ts).
    const station = t.server.ctx.fleet.observation(bad)?.kind === 'station';
    expect(raised).toMatchObject({
      severity: station ? 'major' : 'minor',
      active: true,
      count: 1,
      reasons: [{ code: 'update_failed', params: expect.objectContaining({ rolloutId: first, component: 'agent', release: BAD, reason: 'sound_check_failed' }) }],
    });
    // The site that updated: none. Asked after the holder's look that raised the other, so its look had been made.
    expect(await updateAlarms(good)).toEqual([]);

    // The fault fixed in the next release: it passes there, and the alarm ends (the same alarm, not a new one).
    failing.delete(bad);
    const second = await rollOut(await upload(releaseOf(GOOD, 4)), [bad]);
    expect((await finished(second)).map((s) => s.state)).toEqual(['updated']);
    const cleared = await waitFor('the update_failed alarm cleared', async () => (await updateAlarms(bad)).find((a) => a.state === 'cleared'), LONG, 250);
    expect(cleared).toMatchObject({ id: raised.id, count: 1, cleared: expect.objectContaining({ cause: 'condition_cleared' }) });
    expect((await updateAlarms(bad)).filter((a) => a.state !== 'cleared')).toEqual([]);
    expect(await updateAlarms(good)).toEqual([]);
  }, 600_000);
});
