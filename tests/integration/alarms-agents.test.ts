/**
 * Alarms from real agents: each site is the edge agent as its own process
 * (edge-agent/main.ts) on a simulated amplifier board (firmware-sim, over
 * the device protocol on TCP), reaching the broker through a relay the test
 * cuts as a 4G link drops. Faults are injected into the simulated hardware,
 * so what raises an alarm is what a real board would make the agent report.
 *
 * The hold-down is 10 minutes (a flapping link's returns all fall within it
 * on a loaded machine): a repaired fault is seen as inactive, its alarm held
 * open; clearing after the hold-down is tests/integration/alarms-fleet.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { makeAgentSite, type AgentSite } from '../helpers/agent-site.ts';
import { agentCli, stopAllProcesses } from '../helpers/process.ts';

const BAT_XAT = '02683';
const CAM_DUONG = '02671';

interface Alarm {
  id: string;
  kind: string;
  state: string;
  count: number;
  active: boolean;
  severity: string;
  reasons: Array<{ code: string; params: Record<string, unknown> }>;
}

let t: TestServer;
let faulty: AgentSite;
let flapping: AgentSite;

const condition = async (id: string): Promise<string | undefined> => (await t.inject('GET', `/api/sites/${id}`)).body?.status?.condition;
const alarmsOf = async (siteId: string): Promise<Alarm[]> => (await t.inject('GET', `/api/alarms?site=${siteId}&state=open,cleared&limit=500`)).body.alarms;
const alarm = (siteId: string, kind: string, match: (a: Alarm) => boolean = () => true) =>
  waitFor(`a ${kind} alarm of ${siteId}`, async () => (await alarmsOf(siteId)).find((a) => a.kind === kind && match(a)), 30_000);

beforeAll(async () => {
  t = await startTestServer({ LOANET_ALARM_HOLD_DOWN_S: '600', LOANET_ALARM_PENDING_S: '0' });
  await importLaoCai2025(t);
  const dir = tempDir('loanet-alarms-agents-');
  faulty = await makeAgentSite(t, dir, { name: 'Cụm loa thôn Bản Vược', area: BAT_XAT, seed: 21 });
  flapping = await makeAgentSite(t, dir, { name: 'Cụm loa tổ 5 Cam Đường', area: CAM_DUONG, seed: 22 });
  agentCli('--config', faulty.config);
  agentCli('--config', flapping.config);
  for (const s of [faulty, flapping]) {
    // Never heard is unverified; a heartbeat without the monitoring mic's proof is at worst degraded (sound not verified): online either way.
    await waitFor(
      `${s.id} online`,
      async () => {
        const c = await condition(s.id);
        return c !== undefined && c !== 'offline' && c !== 'unverified' ? c : undefined;
      },
      60_000,
    );
  }
}, 120_000);

afterAll(async () => {
  await stopAllProcesses();
  for (const s of [faulty, flapping]) {
    await s?.relay.down();
    await s?.deviceServer.close();
  }
  await t?.stop();
});

describe('alarms from agents on simulated hardware', () => {
  it('an open speaker line, an overheating amplifier and lost mains each raise one alarm with the right reasons', async () => {
    faulty.device.injectFault({ kind: 'line_open', line: 1 });
    faulty.device.injectFault({ kind: 'amp_overheat' });
    faulty.device.injectFault({ kind: 'mains_lost' });
    const line = await alarm(faulty.id, 'speaker_line');
    const amp = await alarm(faulty.id, 'amplifier_fault');
    const power = await alarm(faulty.id, 'power');
    expect(line.reasons).toContainEqual(expect.objectContaining({ code: 'line_open', params: expect.objectContaining({ line: 1 }) }));
    expect(amp.reasons).toContainEqual(expect.objectContaining({ code: 'amplifier_fault', params: expect.objectContaining({ fault: 'overheat' }) }));
    expect(power.reasons.map((r) => r.code)).toContain('on_battery');

    // Heartbeats go on every second with the same faults: still one alarm each, raised once.
    const seen = (await alarmsOf(faulty.id)).length;
    await waitFor('three more heartbeats', async () => {
      const h = (await t.inject('GET', `/api/sites/${faulty.id}`)).body?.status;
      return h && h.lastSeenAt > Date.now() - 500 ? h : undefined;
    });
    await t.server.ctx.alarms.settled();
    const all = await alarmsOf(faulty.id);
    expect(all).toHaveLength(seen);
    for (const kind of ['speaker_line', 'amplifier_fault', 'power']) {
      const mine = all.filter((a) => a.kind === kind);
      expect(mine, kind).toHaveLength(1);
      expect(mine[0]!.count, kind).toBe(1);
      const history = (await t.inject('GET', `/api/alarms/${mine[0]!.id}`)).body.history as Array<{ type: string }>;
      expect(
        history.filter((h) => h.type === 'raised'),
        kind,
      ).toHaveLength(1);
    }
  });

  it('repaired hardware makes each alarm inactive: held open for the hold-down, the same alarm if the fault returns', async () => {
    const before = await alarm(faulty.id, 'amplifier_fault');
    faulty.device.clearFault({ kind: 'line_open', line: 1 });
    faulty.device.clearFault({ kind: 'amp_overheat' });
    faulty.device.clearFault({ kind: 'mains_lost' });
    for (const kind of ['speaker_line', 'amplifier_fault', 'power']) await alarm(faulty.id, kind, (a) => !a.active && a.state === 'raised');
    faulty.device.injectFault({ kind: 'amp_overheat' });
    const back = await alarm(faulty.id, 'amplifier_fault', (a) => a.active);
    expect(back).toMatchObject({ id: before.id, count: 2, state: 'raised' });
  });

  it('a 4G link that drops and comes back four times is one offline alarm with a count of four', async () => {
    for (let i = 0; i < 4; i++) {
      await flapping.relay.down();
      await waitFor('the link down seen', async () => ((await condition(flapping.id)) === 'offline' ? true : undefined), 30_000);
      await flapping.relay.up();
      await waitFor(
        'the agent back',
        async () => {
          const c = await condition(flapping.id);
          return c !== undefined && c !== 'offline' ? c : undefined;
        },
        30_000,
      );
    }
    await t.server.ctx.alarms.settled();
    const offline = (await alarmsOf(flapping.id)).filter((a) => a.kind === 'site_offline');
    expect(offline).toHaveLength(1);
    expect(offline[0]).toMatchObject({ count: 4, state: 'raised', active: false, severity: 'major' });
  });
});
