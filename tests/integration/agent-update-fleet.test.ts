/**
 * The agent's A/B update across a simulated fleet in one process
 * (firmware-sim/fleet-runner.ts, its update port): every site gets the
 * retained order (as the rollout service publishes it), fetches the signed
 * release over HTTP, switches to it (a new agent object reporting the new
 * version), and runs the real health check. 8 % of the sites are injected to
 * fail their sound check on the new version: each rolls back on its own and
 * reports why, on the old version; every other site is committed. Sites
 * that are playing when the order comes play to the end on the old version:
 * the switch waits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import type { EngineEvent } from '../../edge-agent/playout/programme.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { PROTOCOL_VERSION, siteTopic, type TelemetryMessage, type UpdateOrder, type UpdateReport } from '../../protocol/index.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { ReleaseServer, makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const SITES = Number(process.env.LOANET_UPDATE_FLEET_SITES ?? 200);
const FACTORY = readAgentVersion();
const NEW = '99.1.0';
const key = makeSigningKey();
const NEXT = '99.2.0';
const next = makeRelease({ id: 'agent-99-2-0', version: NEXT, key, files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(60_000, 9) } });
const release = makeRelease({ id: 'agent-99-1-0', version: NEW, key, files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(40_000, 7) } });

let t: TestServer;
let fleet: FleetRunner;
let releases: ReleaseServer;
let failing: Set<string>;
const updateStates = new Map<string, string[]>();

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  await importLaoCai2025(t);
  releases = new ReleaseServer();
  releases.add(release);
  releases.add(next);
  const httpUrl = await releases.listen();
  // 8 % of the sites, chosen by id (stable across the run).
  const chosen = new Set<string>();
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: SITES,
    heartbeatS: 2,
    credentialsFile: null,
    update: {
      trustedKeys: [key.trusted],
      httpUrl,
      pollMs: 200,
      failHealthCheck: (id) => chosen.has(id),
    },
  });
  const prepared = await fleet.prepare();
  const ids = prepared.map((p) => p.plan.id).sort();
  for (let i = 0; i < ids.length; i++) if (i % 25 < 2) chosen.add(ids[i]!);
  failing = chosen;
  await fleet.start(prepared);
  t.server.ctx.broker.onSiteMessage((m) => {
    if (m.channel !== 'event') return;
    const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
    if (e.type === 'update_status' && e.update) updateStates.set(m.siteId, [...(updateStates.get(m.siteId) ?? []), e.update.state]);
  });
}, 300_000);

/**
 * A programme handed to a site's engine, as a bulletin would be, that plays until `end()` (then a last second):
 * the test ends it once the site says it waits, so whether the update found it playing does not depend on how
 * fast a loaded machine downloads. Its engine events are collected.
 */
function playUntilEnded(id: string): { seen: EngineEvent[]; end(): void } {
  const engine = fleet.site(id).agent.playout!.engine;
  const seen: EngineEvent[] = [];
  engine.on((e) => seen.push(e));
  let frames = Number.POSITIVE_INFINITY;
  let index = 0;
  const ok = engine.add({
    id: `bulletin-${id}`,
    kind: 'bulletin',
    priority: 'normal',
    startAt: Date.now() + 100,
    whenPreempted: 'resume',
    source: {
      frame(at) {
        index = at;
        if (at >= frames) return null;
        return Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 330 * (index * FRAME_SAMPLES + i)) / 48000)));
      },
    },
  });
  expect(ok).toEqual({ ok: true });
  return { seen, end: () => void (frames = index + 50) };
}

afterAll(async () => {
  await fleet?.stop();
  await releases?.close();
  await t?.stop();
});

const telemetry = (siteId: string): TelemetryMessage | null => t.server.ctx.fleet.observation(siteId)?.telemetry ?? null;

describe('agent update across a simulated fleet', () => {
  it(`updates ${SITES} sites; the 8 % that fail their health check roll back on their own and say why`, async () => {
    const ids = fleet.ids();
    expect(ids.length).toBe(SITES);
    expect(failing.size / SITES).toBeCloseTo(0.08, 1);
    await waitFor('every site online on the old version', () => ids.every((id) => telemetry(id)?.versions.agent === FACTORY), 120_000, 250);
    // A few sites are playing when the order comes.
    const busy = ids.filter((id) => !failing.has(id)).slice(0, 4);
    const played = new Map(busy.map((id) => [id, playUntilEnded(id)]));
    await waitFor('the bulletins on air', () => busy.every((id) => played.get(id)!.seen.some((e) => e.type === 'started')), 30_000);
    for (const id of ids) {
      const order: UpdateOrder = {
        v: PROTOCOL_VERSION,
        siteId: id,
        at: Date.now(),
        rolloutId: 'fleet-roll',
        action: 'install',
        component: 'agent',
        releaseId: release.id,
        version: NEW,
        manifestSha256: release.manifestSha256,
        budgetBytes: release.total * 3,
        healthTimeoutS: 120,
      };
      await t.server.ctx.broker.publish(siteTopic(id, 'update'), Buffer.from(JSON.stringify(order)), { qos: 1, retain: true });
    }
    // The playing sites fetch and install, then wait for the end of what plays; only then is it ended.
    await waitFor('the playing sites waiting to switch', () => busy.every((id) => updateStates.get(id)?.includes('waiting_idle')), 240_000, 250);
    for (const id of busy) expect(telemetry(id)?.versions.agent).toBe(FACTORY);
    for (const id of busy) played.get(id)!.end();
    const settled = (id: string) => {
      const m = telemetry(id);
      return failing.has(id) ? m?.versions.agent === FACTORY && m.update?.state === 'rolled_back' : m?.versions.agent === NEW && m.update?.state === 'updated';
    };
    await waitFor('every site committed, or rolled back where its health check was made to fail', () => ids.every(settled) || undefined, 240_000, 500).catch((e: unknown) => {
      const stuck = ids.filter((id) => !settled(id)).slice(0, 5);
      throw new Error(
        `${(e as Error).message}; not settled: ${stuck.map((id) => `${id} ${JSON.stringify({ v: telemetry(id)?.versions.agent, u: telemetry(id)?.update })}`).join('; ')}`,
      );
    });
    for (const id of failing) expect(telemetry(id)?.update).toMatchObject({ state: 'rolled_back', reason: 'sound_check_failed', version: NEW, fromVersion: FACTORY });
    // The playing sites waited for the end of what played, which ended whole on the old version.
    for (const id of busy) {
      expect(updateStates.get(id)).toContain('waiting_idle');
      expect(played.get(id)!.seen.find((e) => (e.type === 'ended' || e.type === 'failed') && e.id === `bulletin-${id}`)?.type).toBe('ended');
    }
    // Each site fetched the release about once: bytes on the wire per updated site against the release size.
    const perSite = releases.totalSent / SITES;
    expect(perSite).toBeGreaterThanOrEqual(release.total);
    expect(perSite).toBeLessThan(release.total * 1.1);
  }, 420_000);
});
