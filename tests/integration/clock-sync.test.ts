/**
 * The clock exchange end to end: a real server (embedded broker over TCP)
 * answers each agent's requests on its `time` topic; agents report their
 * offset to the server clock and its uncertainty in telemetry. Server and
 * agents share this process, so the true offset is known: the wall clock (the
 * server's) minus the monotonic time base (the agents'), ~0 ms (and 1,500 ms
 * less for an agent whose clock runs 1.5 s ahead). A correct exchange
 * reports an interval, offset ± uncertainty, that holds the truth, however
 * slow the round trips of a busy machine made it; how narrow it is on
 * loopback is printed (a figure, not a test: tests/bench/playout-accuracy.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { EdgeAgent, monotonicEpochMs } from '../../edge-agent/agent.ts';
import { parseAgentConfig } from '../../edge-agent/config.ts';
import type { DeviceGateway, DeviceStatus } from '../../edge-agent/devices/gateway.ts';
import { PROTOCOL_VERSION, decodeClockResponse, encodeJson, siteTopic, type ClockResponse, type TelemetryMessage } from '../../protocol/index.ts';

const SITES = 5;
/** The server stamps whole milliseconds and telemetry rounds to 1 µs: the interval may miss the truth by this much. */
const STAMP_MS = 1;
/**
 * Server clock − the agents' time base, right now (the same process). Date.now()
 * truncates to whole milliseconds, which would blur the truth by up to 1 ms on
 * top of the server stamps' own truncation; read at the instant it ticks, it
 * is exact to a few µs. A preemption between the two reads only lowers the
 * result, so the largest of three reads is kept.
 */
function trueOffset(): number {
  let best = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const before = Date.now();
    let tick = before;
    while (tick === before) tick = Date.now();
    best = Math.max(best, tick - monotonicEpochMs());
  }
  return best;
}
/** Holds the true offset: |offset − truth| ≤ uncertainty (+ the stamps' rounding). */
const holdsTruth = (offsetMs: number, uncertaintyMs: number, truthMs: number) => Math.abs(offsetMs - truthMs) <= uncertaintyMs + STAMP_MS;
let t: TestServer;
let fleet: FleetRunner;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '1' });
  await importLaoCai2025(t);
  fleet = new FleetRunner({ api: new LoanetClient(t.baseUrl, t.token), mqtt: { host: '127.0.0.1', port: t.server.mqttPort }, sites: SITES, heartbeatS: 1, credentialsFile: null });
  await fleet.start();
});

afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  await fleet?.stop();
  await t?.stop();
});

const telemetry = (siteId: string): TelemetryMessage | null => t.server.ctx.fleet.observation(siteId)?.telemetry ?? null;

async function register(name: string, area: string): Promise<{ siteId: string; secret: string }> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area });
  expect(r.status).toBe(201);
  return r.body.credential as { siteId: string; secret: string };
}

/** Just enough devices for a heartbeat. */
const gateway: DeviceGateway = {
  async start() {},
  async stop() {},
  async status(): Promise<DeviceStatus> {
    return {
      amplifier: { on: true, volume: 50, fault: 'none', temperatureC: 40 },
      lines: [{ id: 1, status: 'ok', impedanceOhm: 8, nominalOhm: 8 }],
      power: { source: 'mains', mainsOk: true, batteryPct: null },
      link: { type: 'unknown', signalDbm: -70, up: true },
      boardTemperatureC: 35,
      monitorMic: false,
      devices: [{ id: 'amp-1', kind: 'amplifier', reachable: true }],
    };
  },
  async setVolume(level) {
    return level;
  },
  async setAmplifier() {},
  async playTestTone() {},
  async soundCheck() {
    return { levelDb: null };
  },
  async reboot() {},
  onFault() {
    return () => {};
  },
};

describe('clock exchange over MQTT', () => {
  it('every agent of a small fleet reports a small offset and its uncertainty', async () => {
    const ids = fleet.ids();
    expect(ids).toHaveLength(SITES);
    const reports = await waitFor(
      'every site synced',
      () => {
        const ts = ids.map(telemetry);
        return ts.every((m) => typeof m?.clockOffsetMs === 'number' && typeof m.clockUncertaintyMs === 'number') ? ts : undefined;
      },
      15_000,
      100,
    );
    const offsets = reports.map((m) => m!.clockOffsetMs!);
    console.log(`[clock] fleet offsets ms: ${offsets.map((o) => o.toFixed(3)).join(', ')}; uncertainties ms: ${reports.map((m) => m!.clockUncertaintyMs!.toFixed(3)).join(', ')}`);
    for (const m of reports) {
      expect(m!.clockUncertaintyMs!).toBeGreaterThanOrEqual(0);
      expect(
        holdsTruth(m!.clockOffsetMs!, m!.clockUncertaintyMs!, trueOffset()),
        `${m!.siteId}: ${m!.clockOffsetMs} ± ${m!.clockUncertaintyMs} ms does not hold ${trueOffset()}`,
      ).toBe(true);
    }
    const agents = ids.map((id) => fleet.site(id).agent.stats);
    // After the burst, requests are rare (30 s): a handful per agent so far, not one per 250 ms forever.
    for (const s of agents) {
      expect(s.clockSamples).toBeGreaterThanOrEqual(1);
      expect(s.clockRequests).toBeLessThanOrEqual(12);
    }
  });

  it('an agent whose clock runs 1,500 ms ahead reports an offset of about −1,500 ms', async () => {
    const { siteId, secret } = await register('Cụm loa đồng hồ sai', '02683');
    const ahead = { now: () => monotonicEpochMs() + 1500 };
    const agent = new EdgeAgent({
      config: parseAgentConfig(
        { siteId, server: { mqttUrl: t.mqttUrl }, credential: { secret }, heartbeatIntervalS: 1, keepaliveS: 5, reconnect: { baseMs: 100, capMs: 1000 } },
        { source: 'test', agentVersion: '0.1.0-test' },
      ),
      gateway,
      clock: ahead,
      log: { info() {}, warn() {}, error() {} },
    });
    cleanups.push(() => agent.stop({ graceful: false }));
    await agent.start();
    const m = await waitFor(
      'the skewed agent synced',
      () => {
        const m = telemetry(siteId);
        return typeof m?.clockOffsetMs === 'number' ? m : undefined;
      },
      15_000,
      100,
    );
    console.log(`[clock] agent 1,500 ms ahead: offset ${m.clockOffsetMs!.toFixed(3)} ms ± ${m.clockUncertaintyMs!.toFixed(3)} ms`);
    expect(holdsTruth(m.clockOffsetMs!, m.clockUncertaintyMs!, trueOffset() - 1500), `${m.clockOffsetMs} ± ${m.clockUncertaintyMs} ms does not hold ${trueOffset() - 1500}`).toBe(
      true,
    );
    // Narrow enough to tell the skew from none: the interval holds −1,500 and not 0.
    expect(holdsTruth(m.clockOffsetMs!, m.clockUncertaintyMs!, trueOffset())).toBe(false);
  });

  it("answers a valid request on the site's time topic, counts and drops malformed ones, and does not count clock traffic as a sign of life", async () => {
    const { siteId, secret } = await register('Cụm loa chỉ hỏi giờ', '02671');
    const c: MqttClient = await mqtt.connectAsync(t.mqttUrl, { clientId: siteId, username: siteId, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    const answers: ClockResponse[] = [];
    c.on('message', (topic, payload) => {
      if (topic !== siteTopic(siteId, 'time')) return;
      const d = decodeClockResponse.decode(payload);
      if (d.ok) answers.push(d.value);
    });
    const granted = await c.subscribeAsync(siteTopic(siteId, 'time'), { qos: 0 });
    expect(granted[0]!.qos).toBe(0);

    const before = t.server.ctx.ingest.stats();
    const bad = [
      'not json',
      encodeJson({ v: PROTOCOL_VERSION, siteId, id: -1, t0: 1 }), // schema
      encodeJson({ v: 2, siteId, id: 1, t0: 1 }), // unknown_version
      encodeJson({ v: PROTOCOL_VERSION, siteId: 'another-site', id: 2, t0: 1 }), // site_mismatch
    ];
    for (const p of bad) await c.publishAsync(siteTopic(siteId, 'clock'), p, { qos: 0 });
    const t0 = Date.now();
    await c.publishAsync(siteTopic(siteId, 'clock'), encodeJson({ v: PROTOCOL_VERSION, siteId, id: 77, t0 }), { qos: 0 });
    const answer = await waitFor('the clock answer', () => answers.find((a) => a.id === 77), 5000, 20);
    const t3 = Date.now();
    expect(answer).toMatchObject({ v: PROTOCOL_VERSION, siteId, id: 77, t0 });
    expect(answer.t2).toBeGreaterThanOrEqual(answer.t1);
    // Same machine: the server's stamps lie between our send and receive (±1 ms of Date.now() truncation).
    expect(answer.t1).toBeGreaterThanOrEqual(t0 - 1);
    expect(answer.t2).toBeLessThanOrEqual(t3 + 1);

    const after = await waitFor(
      '4 rejections counted',
      () => {
        const s = t.server.ctx.ingest.stats();
        return s.rejected - before.rejected >= 4 ? s : undefined;
      },
      5000,
      20,
    );
    const delta = (code: string) => ((after.rejectedByCode as Record<string, number>)[code] ?? 0) - ((before.rejectedByCode as Record<string, number>)[code] ?? 0);
    expect({ bad_json: delta('bad_json'), schema: delta('schema'), unknown_version: delta('unknown_version'), site_mismatch: delta('site_mismatch') }).toEqual({
      bad_json: 1,
      schema: 1,
      unknown_version: 1,
      site_mismatch: 1,
    });
    expect(answers.map((a) => a.id)).toEqual([77]);
    // Clock traffic is not a sign of life (nor written anywhere): the site is still never seen.
    expect(t.server.ctx.fleet.observation(siteId)).toMatchObject({ firstSeenAt: null, lastSeenAt: null });
  });
});
