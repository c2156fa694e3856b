/**
 * A device firmware rollout through the whole chain: a signed
 * `device-firmware` release uploaded through the server's release routes
 * (its key in the server's trust list and in the agents' release-keys
 * folder), a rollout created with POST /api/rollouts, the server's retained
 * order on `sites/{id}/update` naming the devices, and for each of two sites
 * a real agent process (`edge-agent/main.ts --config FILE`) in front of a
 * simulated device process with its A/B flash in files (`npm run device --
 * --flash DIR --hardware HW`): the agent fetches the image from the server
 * with its own site credential and drives fw_begin … fw_confirm.
 *
 * The release is built for the hardware id `loanet-amp-1`: each device says
 * its hardware id in its `hello` (`--hardware`), the agent's driver
 * (edge-agent/devices/sim-driver.ts) reports it in the heartbeat
 * (`devices[].hardware`, its `kind` staying `controller`, its role), and the
 * server matches the release's `target.hardware` on it. A third site, a real
 * agent in front of a device of the same kind but hardware `loanet-amp-2`:
 * the dry run leaves it out and it never gets an order.
 *
 * What is pinned down: each device ends on the new version, confirmed in its
 * flash (state.json) and said by the site's heartbeat; each site's report
 * lists its device `updated`; the rollout completes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlashState } from '../../firmware-sim/flash.ts';
import { siteTopic, type TelemetryMessage, type UpdateReport } from '../../protocol/index.ts';
import { agentCli, deviceCli, ROOT, stopAllProcesses, type Proc } from '../helpers/process.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

/** The hardware id of the release and of the two devices it is for (the example of hardware/device-protocol.md). */
const HW = 'loanet-amp-1';
/** The third site's device: same kind (`controller`), same driver, other hardware. */
const OTHER_HW = 'loanet-amp-2';
const FACTORY_FW = 'loanet-fw 1.4.0';
const NEW_FW = '2.0.0';
const AREA = '02683';
/** Waits bound a hang only: two agents, two devices and the server on a busy 2-core machine. */
const LONG = 120_000;

const key = makeSigningKey();
const imageBytes = Buffer.alloc(40 * 1024);
for (let i = 0; i < imageBytes.length; i++) imageBytes[i] = (i * 131 + 7) & 0xff;
const release = makeRelease({
  id: 'loanet-amp-1-fw-2-0-0',
  version: NEW_FW,
  key,
  component: 'device-firmware',
  files: { 'loanet-amp-1.bin': imageBytes },
  extra: { target: { hardware: HW } },
});

interface RealSite {
  id: string;
  flash: string;
  device: Proc;
  agent: Proc;
}

let t: TestServer;
let dir: string;
const real: RealSite[] = [];
let other: RealSite;
/** Every topic the server published to, in order: the other site's update topic must not be among them. */
const published: string[] = [];
/** update_status events per site, as the server received them. */
const updateEvents = new Map<string, UpdateReport[]>();

/** The village cluster's profile with a 1 s boot instead of its 20 s (as device-firmware-update.test.ts): the device reboots twice per update. */
function fastBootProfile(): string {
  const profile = JSON.parse(fs.readFileSync(path.join(ROOT, 'hardware/profiles/village-cluster-4g.json'), 'utf8')) as { board: { bootMs: number } };
  profile.board.bootMs = 1000;
  const file = path.join(dir, 'village-cluster-4g-fast-boot.json');
  fs.writeFileSync(file, JSON.stringify(profile));
  return file;
}

async function register(name: string): Promise<{ id: string; secret: string }> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area: AREA, profile: 'village-cluster-4g' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const c = r.body.credential as { siteId: string; secret: string };
  return { id: c.siteId, secret: c.secret };
}

async function startRealSite(name: string, profile: string, keysDir: string, hardware: string): Promise<RealSite> {
  const { id, secret } = await register(name);
  const flash = path.join(dir, `${id}-flash`);
  fs.mkdirSync(flash);
  const device = deviceCli('--profile', profile, '--port', '0', '--host', '127.0.0.1', '--flash', flash, '--hardware', hardware);
  const port = Number((await device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  const config = path.join(dir, `${id}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      siteId: id,
      server: { mqttUrl: t.mqttUrl, httpUrl: t.baseUrl },
      credential: { secret },
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 100, capMs: 1000 },
      devices: { driver: 'sim', host: '127.0.0.1', port, reconnect: { baseMs: 100, capMs: 500 } },
      stateDir: path.join(dir, id),
      releaseKeysDir: keysDir,
    }),
  );
  return { id, flash, device, agent: agentCli('--config', config) };
}

beforeAll(async () => {
  dir = tempDir('loanet-rollout-fw-');
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  await importLaoCai2025(t);
  // The server trusts the test's key for uploads; the agents for installs (their release-keys folder).
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'rollout-device-firmware.pem'), key.publicPem);
  const keysDir = path.join(dir, 'release-keys');
  fs.mkdirSync(keysDir);
  fs.writeFileSync(path.join(keysDir, 'test.pem'), key.publicPem);
  // What the server sends: its one publish to the broker, watched (the broker still gets every message).
  const broker = t.server.ctx.broker;
  const publish = broker.publish.bind(broker);
  broker.publish = (topic, payload, opts) => {
    published.push(topic);
    return publish(topic, payload, opts);
  };
  broker.onSiteMessage((m) => {
    if (m.channel !== 'event') return;
    const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
    if (e.type === 'update_status' && e.update) updateEvents.set(m.siteId, [...(updateEvents.get(m.siteId) ?? []), e.update]);
  });
  const profile = fastBootProfile();
  for (const name of ['Cụm loa Bản Phố', 'Cụm loa Bản Liền']) real.push(await startRealSite(name, profile, keysDir, HW));
  // The same profile, driver and device kind; only the hardware id its device says differs.
  other = await startRealSite('Cụm loa Na Hối', profile, keysDir, OTHER_HW);
}, LONG);

afterAll(async () => {
  await stopAllProcesses();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const telemetry = (siteId: string): TelemetryMessage | null => t.server.ctx.fleet.observation(siteId)?.telemetry ?? null;
const flashState = (flash: string): FlashState => JSON.parse(fs.readFileSync(path.join(flash, 'state.json'), 'utf8')) as FlashState;

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

interface RolloutView {
  status: string;
  siteList: Array<{ siteId: string; state: string; reportState: string | null; fromVersion: string | null; devices: Array<{ id: string; state: string; bytes: number | null }> }>;
}

describe('a device firmware rollout, server to agent to device', () => {
  it('brings each loanet-amp-1 device to the new firmware, confirmed in its flash, reported per device; the rollout completes; a loanet-amp-2 site gets no order', async () => {
    const ids = real.map((s) => s.id);
    // Each device's hardware id, as its hello said it, in its site's heartbeat; its kind is its role.
    const heardAs = (id: string, hardware: string) =>
      telemetry(id)?.devices.some((d) => d.id === 'controller' && d.kind === 'controller' && d.hardware === hardware && d.firmware === FACTORY_FW);
    await waitFor(
      'the three agents heard, each with its device on the factory firmware and saying its hardware',
      () => ids.every((id) => heardAs(id, HW)) && heardAs(other.id, OTHER_HW),
      LONG,
      200,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; agents:\n${[...real, other].map((s) => s.agent.lines.slice(-20).join('\n')).join('\n---\n')}`);
    });
    // Nothing written to a flash yet (its state.json comes with its first write).
    for (const s of [...real, other]) expect(fs.existsSync(path.join(s.flash, 'state.json'))).toBe(false);
    const releaseId = await uploadRelease();

    const body = {
      releaseId,
      targets: { sites: [...ids, other.id] },
      waves: [{ name: 'all', percent: 100 }],
      successThreshold: 1,
      errorThreshold: 0,
      minFinished: 1,
      onError: 'pause',
      maxInFlight: 10,
      broadcastMarginMin: 0,
      healthTimeoutS: 120,
    };
    // The dry run: the two loanet-amp-1 devices in, from the factory firmware; the loanet-amp-2 one left out, naming why.
    const dry = await t.api('POST', '/api/rollouts/dry-run', body);
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const included = dry.body.included as Array<{ siteId: string; devices?: string[]; fromVersion: string | null }>;
    expect(included.map((s) => s.siteId).sort()).toEqual([...ids].sort());
    for (const s of included) expect(s).toMatchObject({ devices: ['controller'], fromVersion: FACTORY_FW });
    expect(dry.body.excluded).toEqual([expect.objectContaining({ siteId: other.id, why: 'no_matching_device', detail: expect.stringContaining(HW) })]);

    const created = await t.api('POST', '/api/rollouts', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rolloutId = created.body.id as string;
    expect((created.body.siteList as Array<{ siteId: string }>).map((s) => s.siteId).sort()).toEqual([...ids].sort());

    const view = async (): Promise<RolloutView> => {
      const r = await t.api('GET', `/api/rollouts/${rolloutId}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as RolloutView;
    };
    const done = await waitFor(
      'the rollout completed',
      async () => {
        const r = await view();
        if (r.status === 'paused' || r.status === 'aborted') throw new Error(`rollout ${r.status}: ${JSON.stringify(r.siteList)}`);
        return r.status === 'completed' ? r : undefined;
      },
      LONG,
      500,
    ).catch(async (e: unknown) => {
      const r = await view().catch(() => null);
      throw new Error(
        `${(e as Error).message}; rollout ${JSON.stringify(r)}; events ${JSON.stringify([...updateEvents])};\nagents:\n${real.map((s) => s.agent.lines.slice(-30).join('\n')).join('\n---\n')}`,
      );
    });
    // What the console shows per site: updated, its controller updated with the whole image written.
    for (const id of ids) {
      expect(
        done.siteList.find((s) => s.siteId === id),
        id,
      ).toMatchObject({ state: 'updated', reportState: 'updated', fromVersion: FACTORY_FW, devices: [{ id: 'controller', state: 'updated', bytes: imageBytes.length }] });
      // The per-device states the agent sent as events reached `updated`.
      const last = updateEvents.get(id)?.at(-1);
      expect(last, id).toMatchObject({ state: 'updated', component: 'device-firmware', version: NEW_FW, devices: [{ id: 'controller', state: 'updated' }] });
    }

    // Each device runs the new image, confirmed in its flash, nothing staged or kept to revert to.
    const sha256 = createHash('sha256').update(imageBytes).digest('hex');
    for (const s of real) {
      expect(flashState(s.flash), s.id).toMatchObject({ version: NEW_FW, confirmed: true, pendingTest: false, previous: null, staged: null });
      expect(flashState(s.flash).programmed, s.id).toMatchObject({ sha256, bytes: imageBytes.length, again: [] });
    }
    // And the site's heartbeat says so.
    await waitFor(
      'each site heard with its controller on the new firmware',
      () => ids.every((id) => telemetry(id)?.versions.firmware === NEW_FW && telemetry(id)?.devices.find((d) => d.id === 'controller')?.firmware === NEW_FW),
      LONG,
      200,
    );

    // The site of other hardware: never an order, never a report, nothing written to its flash, still on its own firmware.
    expect(published).toContain(siteTopic(ids[0]!, 'update'));
    expect(published).not.toContain(siteTopic(other.id, 'update'));
    expect(updateEvents.get(other.id)).toBeUndefined();
    expect(fs.existsSync(path.join(other.flash, 'state.json'))).toBe(false);
    expect(telemetry(other.id)?.devices.find((d) => d.id === 'controller')).toMatchObject({ hardware: OTHER_HW, firmware: FACTORY_FW });
  }, 300_000);
});
