/**
 * An emergency alert sent while a rollout is under way, end to end: the
 * server's rollout service sends its orders to a commune of simulated sites
 * (firmware-sim/fleet-runner.ts, real agents with the update option and the
 * playout engine), whose downloads of the release are held mid-way by a gate
 * in front of the server's release routes; then an alert comes.
 *
 * The rule (docs/updates.md, "An order"): installing never starts while a
 * site plays an alert, and an alert arriving mid-update pre-empts the update:
 * the old version plays it, and the switch waits for its end. So: every site
 * plays the alert on time, on the old version (the first wave's sites still
 * downloading when it starts); their downloads are let through while the
 * alert plays, so each has its release installed and waits (`waiting_idle`);
 * each switches to the new version only after the alert ended there. The
 * rollout's next wave falls due while the alert is still active: the server
 * holds its sites (`playing`) and sends them nothing until the alert is
 * over (cancelled here), then they update too and the rollout completes.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import type { EngineEvent } from '../../edge-agent/playout/engine.ts';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import type { TelemetryMessage, UpdateReport } from '../../protocol/index.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { uploadTone } from '../helpers/media.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
const SITES = Number(process.env.LOANET_ROLLOUT_ALERT_SITES ?? 24);
const FACTORY = readAgentVersion();
const NEW = '99.4.0';
/** The alert's message: long enough that every site's download, let through once the alert is on air everywhere, ends before it does. */
const MESSAGE_S = 8;
const REPEATS = 2;
/** Waits bound a hang only. */
const LONG = 180_000;
const key = makeSigningKey();
const release = makeRelease({
  id: 'agent-99-4-0',
  version: NEW,
  key,
  arch: boardArch() ?? 'amd64',
  files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(64_000, 3) },
});

/**
 * A proxy in front of the server for the sites' release downloads that holds
 * every file request until opened: the sites stay mid-download (manifest and
 * signatures fetched and checked, the files not yet) for as long as a test
 * needs, with no fixed wait. Everything else passes straight through.
 */
class ReleaseGate {
  held = 0;
  private open = false;
  private readonly waiting: Array<() => void> = [];
  private server: http.Server | undefined;

  async listen(target: string): Promise<string> {
    const up = new URL(target);
    this.server = http.createServer((req, res) => {
      const forward = () => {
        const r = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        });
        r.on('error', () => res.destroy());
        req.pipe(r);
      };
      if (!this.open && req.url?.includes('/files/')) {
        this.held++;
        this.waiting.push(forward);
      } else forward();
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  release(): void {
    this.open = true;
    for (const f of this.waiting.splice(0)) f();
  }

  async close(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let mediaId: string;
const gate = new ReleaseGate();
/** update_status events per site with the time the server had them. */
const updates = new Map<string, Array<UpdateReport & { heardAt: number }>>();
/** When each site's agent restarted into another version (the fleet's log of the switch). */
const switchedAt = new Map<string, number>();
/** Engine events of each site's first (factory) agent, with the time they happened. */
const events = new Map<string, Array<EngineEvent & { wallAt: number }>>();

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-rollout-alert-');
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  await importLaoCai2025(t);
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'rollout-alert.pem'), key.publicPem);
  mediaId = await uploadTone(t, dir, { title: 'Cảnh báo lũ quét (thử)', seconds: MESSAGE_S, hz: 880 });
  t.server.ctx.broker.onSiteMessage((m) => {
    if (m.channel !== 'event') return;
    const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
    if (e.type === 'update_status' && e.update) updates.set(m.siteId, [...(updates.get(m.siteId) ?? []), { ...e.update, heardAt: Date.now() }]);
  });
  const releaseUrl = await gate.listen(t.baseUrl);
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: SITES,
    heartbeatS: 2,
    area: COMMUNE,
    credentialsFile: null,
    // Releases through the gate; the sites' media (the alert's message) straight from the server.
    update: { trustedKeys: [key.trusted], httpUrl: releaseUrl, pollMs: 200 },
    log: (line) => {
      const m = /^fleet: (\S+) restarts: switch to /.exec(line);
      if (m && !switchedAt.has(m[1]!)) switchedAt.set(m[1]!, Date.now());
    },
  });
  await fleet.start();
  for (const id of fleet.ids()) {
    const list: Array<EngineEvent & { wallAt: number }> = [];
    events.set(id, list);
    fleet.site(id).agent.playout!.engine.on((e) => list.push({ ...e, wallAt: Date.now() }));
  }
}, LONG);

afterAll(async () => {
  await fleet?.stop();
  await gate.close();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const telemetry = (siteId: string): TelemetryMessage | null => t.server.ctx.fleet.observation(siteId)?.telemetry ?? null;

describe.skipIf(!canRun)(`an alert during a rollout to ${SITES} simulated sites`, () => {
  it('plays everywhere on time on the old version; the sites mid-update switch only after it ended there, the next wave starts only once it is over', async () => {
    const ids = fleet.ids();
    await waitFor('every site online on the factory version', () => ids.every((id) => telemetry(id)?.versions.agent === FACTORY), LONG, 250);

    const created = await t.api('POST', '/api/releases', { manifest: release.manifestBytes.toString('base64'), signatures: release.signatures });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const releaseId = created.body.id as string;
    for (const [file, body] of release.files) {
      const res = await fetch(`${t.baseUrl}/api/releases/${releaseId}/files/${file}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
        body,
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    const r = await t.api('POST', '/api/rollouts', {
      releaseId,
      targets: { areas: [COMMUNE] },
      // Three quarters mid-update when the alert comes; the rest wait for the next wave, which is due while the alert is still active.
      waves: [
        { name: 'first', percent: 75 },
        { name: 'rest', percent: 100 },
      ],
      maxInFlight: 50,
      broadcastMarginMin: 0,
      healthTimeoutS: 180,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const rolloutId = r.body.id as string;
    expect(r.body.sites).toBe(SITES);
    const list = r.body.siteList as Array<{ siteId: string; wave: number }>;
    const first = list.filter((s) => s.wave === 0).map((s) => s.siteId);
    const rest = list.filter((s) => s.wave === 1).map((s) => s.siteId);
    expect(first.length).toBeGreaterThan(0);
    expect(rest.length).toBeGreaterThan(0);

    // Every site mid-update: its order taken, the release checked, its files held at the gate.
    await waitFor(
      'every site of the first wave downloading, its files held',
      () => first.every((id) => fleet.site(id).agent.updateReport?.state === 'downloading') && gate.held >= first.length,
      LONG,
      100,
    );

    const calledAt = Date.now();
    const a = await t.api('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId },
      attention: 'chime',
      repeats: REPEATS,
      validForMinutes: 10,
      title: 'Lũ quét: sơ tán ngay',
    });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    const alertId = a.body.id as string;
    const ofAlert = (e: EngineEvent) => 'id' in e && typeof e.id === 'string' && e.id.startsWith(`alert:${alertId}:`);
    // The version and the update each site had when the alert went on air there.
    const atStart = new Map<string, { version: string | undefined; update: string | undefined }>();
    await waitFor(
      'the alert on air at every site',
      () => {
        for (const id of ids) {
          if (atStart.has(id)) continue;
          const onAir = fleet.site(id).agent.playout!.engine.onAir;
          if (onAir?.startsWith(`alert:${alertId}:`)) atStart.set(id, { version: telemetry(id)?.versions.agent, update: fleet.site(id).agent.updateReport?.state });
        }
        return atStart.size === ids.length;
      },
      60_000,
      20,
    );
    for (const id of first) expect(atStart.get(id), id).toEqual({ version: FACTORY, update: 'downloading' });
    for (const id of rest) expect(atStart.get(id), id).toEqual({ version: FACTORY, update: undefined });

    // The downloads go on while the alert plays: each site installs its release and waits for the end.
    gate.release();
    await waitFor(
      'every site of the first wave installed, waiting for the alert to end',
      () => first.every((id) => updates.get(id)?.some((u) => u.state === 'waiting_idle')),
      LONG,
      100,
    ).catch((e: unknown) => {
      const late = first.filter((id) => !updates.get(id)?.some((u) => u.state === 'waiting_idle')).slice(0, 5);
      throw new Error(`${(e as Error).message}; not waiting: ${late.map((id) => `${id} ${JSON.stringify(updates.get(id)?.map((u) => u.state))}`).join('; ')}`);
    });

    // Every site played the whole alert, as the server's delivery state has it.
    const delivery = await waitFor(
      'every site completed the alert',
      async () => {
        const d = (await t.api('GET', `/api/alerts/${alertId}?limit=1000`)).body.delivery;
        return d.counts.completed === ids.length ? d : undefined;
      },
      LONG,
      250,
    );
    expect(delivery.counts.targeted).toBe(SITES);
    expect(delivery.counts.unreached).toBe(0);

    for (const id of ids) {
      const ev = events.get(id)!.filter(ofAlert);
      const started = ev.find((e) => e.type === 'started');
      // On time: on air within seconds of the call, as without a rollout (a bound on a busy machine, not a measure).
      expect(started, id).toBeDefined();
      expect(started!.wallAt - calledAt, id).toBeLessThan(15_000);
      // Played to its end, never cut by the update.
      expect(
        ev.some((e) => e.type === 'failed'),
        `${id}: ${JSON.stringify(ev)}`,
      ).toBe(false);
      if (!first.includes(id)) continue;
      // The update waited: installed while the alert played, switched after its last part ended.
      const endedAt = Math.max(...ev.filter((e) => e.type === 'ended').map((e) => e.wallAt));
      const states = updates.get(id)!;
      const waiting = states.find((u) => u.state === 'waiting_idle')!;
      expect(waiting.heardAt, id).toBeLessThan(endedAt);
      const switched = await waitFor(`${id} switched`, () => switchedAt.get(id), LONG, 100);
      expect(switched, id).toBeGreaterThan(endedAt);
      for (const u of states.filter((x) => x.state === 'testing' || x.state === 'updated')) expect(u.heardAt, `${id} ${u.state}`).toBeGreaterThan(endedAt);
    }

    // The first wave is done; the next one is due, but while the alert is active no site of it starts:
    // the rollout holds them as playing (the server's side of the rule), and none got an order.
    await waitFor('the first wave on the new version', () => first.every((id) => telemetry(id)?.versions.agent === NEW && telemetry(id)?.update?.state === 'updated'), LONG, 250);
    const held = await waitFor(
      'the next wave due, held while the alert is active',
      async () => {
        const d = (await t.api('GET', `/api/rollouts/${rolloutId}`)).body as { wave: number; held: Array<{ siteId: string; why: string }> };
        return d.wave === 1 && d.held.length === rest.length ? d : undefined;
      },
      LONG,
      250,
    );
    expect(held.held.map((h) => [h.siteId, h.why]).sort()).toEqual(rest.map((id) => [id, 'playing']).sort());
    for (const id of rest) {
      expect(fleet.site(id).agent.updateReport, id).toBeNull();
      expect(updates.get(id), id).toBeUndefined();
    }
    // The alert is over for the province when it is cancelled (or expires): the rest start then.
    expect((await t.api('POST', `/api/alerts/${alertId}/cancel`)).status).toBe(200);

    // And then every site is committed on the new version; the rollout completes.
    await waitFor('every site on the new version', () => ids.every((id) => telemetry(id)?.versions.agent === NEW && telemetry(id)?.update?.state === 'updated'), LONG, 250);
    await waitFor('the rollout completed', async () => (await t.api('GET', `/api/rollouts/${rolloutId}`)).body.status === 'completed', LONG, 500);
  }, 600_000);
});
