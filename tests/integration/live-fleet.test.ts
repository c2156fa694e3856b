/**
 * A live broadcast to a commune of simulated sites, end to end with real
 * components: the server (HTTP, embedded broker over TCP, ffmpeg relaying a
 * local HTTP radio stream, Opus encoding) and the fleet runner's real agents
 * (area audio and control channels, clock exchange, jitter buffer, libopus,
 * the playout engine) on simulated devices whose amplifiers record what they
 * played. Every site's clock is off by up to ±2 s, and its live audio
 * messages arrive 0–150 ms late (reordered) with 5 % lost.
 *
 * - every site plays; concealment covers the losses; the true play-time skew
 *   between sites (local play instants corrected by each site's known clock
 *   error) stays within the sites' clock uncertainty (tests/bench/live-broadcast.ts
 *   measures it against SKEW_BOUND_MS at scale);
 * - a site that connects mid-stream gets the retained start and plays in sync;
 * - an emergency stream pre-empts everywhere; the pre-empted normal stream
 *   resumes after it, the pre-empted 'end' stream ends;
 * - stopping the stream silences every site and its amplifier goes off after
 *   the profile's tail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import type { EngineEvent } from '../../edge-agent/playout/engine.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg } from '../helpers/media.ts';
import { startRadio } from '../helpers/live.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683';
const SITES = Number(process.env.LOANET_LIVE_FLEET_SITES ?? 50);
/**
 * The ~50 ms at which two horns are heard as an echo: the true spread's p99 is printed against
 * it; the test checks each site's own clock bound, which holds on any machine.
 */
const SKEW_BOUND_MS = 50;
const TAIL_MS = 1000;
/**
 * Capture to play-at. It must cover the message grouping (60 ms), the links' jitter (up to
 * 150 ms here) and how far ahead each site writes its output (its sink's latency + the
 * engine's 40 ms batch: 140 ms with the 100 ms buffer below) — 350 ms — plus a margin.
 * Here the server and 50 agents share one Node process on a small shared machine, so
 * event-loop lag adds to the links' jitter: 1 s keeps the test about correctness; what a
 * shorter delay achieves is the benchmark's question (tests/bench/live-broadcast.ts).
 */
const DELAY_MS = 1000;
const SINK_BUFFER_MS = 100;

let t: TestServer;
let fleet: FleetRunner;
let radio: Awaited<ReturnType<typeof startRadio>> | undefined;
let base: string;
let dir: string;
const clockError = new Map<string, number>();
const events = new Map<string, EngineEvent[]>();
const link = { sent: 0, dropped: 0 };

/** Server clock − the agents' monotonic time base (same process). */
const trueOffset = () => Date.now() - monotonicEpochMs();

const onAir = (id: string) => fleet.site(id).agent.playout!.engine.onAir;
const startRelay = async (tone: string, priority: string, extra: object = {}) => {
  const r = await t.api('POST', '/api/live/streams', { source: { kind: 'relay', url: `${base}/${tone}.mp3` }, areas: [COMMUNE], priority, delayMs: DELAY_MS, ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as number;
};

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-live-fleet-');
  for (const [name, hz] of [
    ['a', 440],
    ['b', 1000],
    ['d', 660],
  ] as const) {
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=5`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, `${name}.mp3`));
  }
  // Each file is 5 s: the next copy 4 s after the last, about as fast as it plays (see startRadio).
  radio = await startRadio(dir, { gapMs: 4000 });
  base = radio.base;

  t = await startTestServer({ LOANET_RELAY_ALLOW: '127.0.0.1' }); // the test radio is local
  await importLaoCai2025(t);
  const rnd = mulberry32(2026);
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: SITES,
    heartbeatS: 5,
    area: COMMUNE,
    credentialsFile: null,
    faultShare: 0,
    playout: {
      sink: 'device',
      bufferMs: SINK_BUFFER_MS,
      tailMs: TAIL_MS,
      clockErrorMs: (id) => {
        const e = Math.round((rnd() * 2 - 1) * 2000);
        clockError.set(id, e);
        return e;
      },
      liveAudioLink: () => (deliver) => {
        link.sent++;
        if (rnd() < 0.05) return void link.dropped++;
        setTimeout(deliver, rnd() * 150);
      },
    },
  });
  await fleet.start();
  await waitFor('every agent connected', () => fleet.stats().connected === SITES, 90_000, 100);
  // The clock exchange has found each site's error (a burst of samples at connect).
  await waitFor('clocks synced', () => fleet.ids().every((id) => fleet.site(id).agent.stats.clockSamples >= 5), 30_000, 100);
  for (const id of fleet.ids()) {
    const list: EngineEvent[] = [];
    events.set(id, list);
    fleet.site(id).agent.playout!.engine.on((e) => list.push(e));
  }
}, 240_000);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
  await radio?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)(`a live broadcast to ${SITES} simulated sites over jittery, lossy links with clocks up to ±2 s off`, { timeout: 180_000 }, () => {
  // One broadcast followed through its life: each test picks up where the one before left it.
  let ids: string[] = [];
  let late = '';
  let a = 0;
  let d = 0;
  /** When the late joiner's agent was seen connected (server clock). */
  let joined = 0;
  /** When A was on air again everywhere after the emergency (server clock). */
  let resumedAt = 0;
  /** Just before the stop was asked, and once it was answered (the server stopped sending by then). */
  let stoppedAt = 0;
  let stopAnsweredAt = 0;

  /** A server-clock instant on site `id`'s device clock (its injected error, known here). */
  const local = (id: string, x: number) => x - trueOffset() + clockError.get(id)!;
  /** Frames site `id`'s speakers played (sound, not silence) from `from` (server clock) on. */
  const heardSince = (id: string, from: number) => fleet.site(id).device.heardFramesBetween(local(id, from), local(id, Date.now() + 60_000));

  it('every site plays stream A', async () => {
    ids = fleet.ids();
    late = ids[ids.length - 1]!;
    const others = ids.filter((id) => id !== late);
    await fleet.kill(late);
    const asked = Date.now();
    a = await startRelay('a', 'normal');
    await waitFor('every site plays stream A', () => others.every((id) => onAir(id) === `live:${a}`), 60_000, 50);
    // Well into the stream before the late site joins: 2 s of A out of every speaker.
    await waitFor('2 s of A heard at every site', () => others.every((id) => heardSince(id, asked) >= 100), 60_000, 100);
  });

  it('a site that connects mid-stream gets the retained start, and plays A once its amplifier has warmed up', async () => {
    await fleet.restore(late);
    // A restored site is a new agent (as systemd would start): watch its engine from the start.
    const lateEvents: EngineEvent[] = [];
    events.set(late, lateEvents);
    fleet.site(late).agent.playout!.engine.on((e) => lateEvents.push(e));
    joined = await waitFor('late joiner connected', () => (fleet.site(late).agent.stats.connected ? Date.now() : 0), 60_000, 10);
    await waitFor('late joiner plays A', () => onAir(late) === `live:${a}`, 60_000, 10);
    await waitFor('1 s of A heard at the late joiner', () => heardSince(late, joined) >= 50, 60_000, 100).catch(async (err: Error) => {
      const v = (await t.api('GET', `/api/live/streams/${a}`)).body;
      throw new Error(
        `${err.message}: heard ${heardSince(late, joined)}; stream A ${JSON.stringify({ state: v.state, endReason: v.endReason, endDetail: v.endDetail, server: v.server })}, on air ${onAir(late)}`,
      );
    });
    const started = lateEvents.find((e) => e.type === 'started' && e.id === `live:${a}`) as Extract<EngineEvent, { type: 'started' }>;
    const ampOn = lateEvents.find((e) => e.type === 'amplifier' && e.on) as Extract<EngineEvent, { type: 'amplifier' }>;
    expect(started).toBeDefined();
    expect(ampOn).toBeDefined();
    // The warm-up is physics no protocol can shorten: no sound before the amplifier is on. How soon after
    // connecting it sounds is a time a loaded machine stretches (printed below; the live bench's business).
    expect(started.at).toBeGreaterThanOrEqual(ampOn.at);
    console.log(`live fleet: late joiner first sound ${(started.at - joined).toFixed(0)} ms after connecting, ${(started.at - ampOn.at).toFixed(0)} ms after its amplifier was on`);
  });

  it("an emergency pre-empts everywhere: a 'priority' stream that would rather end than wait ends for good, A resumes after", async () => {
    d = await startRelay('d', 'priority', { whenPreempted: 'end' });
    await waitFor('every site plays D over A', () => ids.every((id) => onAir(id) === `live:${d}`), 60_000, 50);
    const b = await startRelay('b', 'emergency');
    await waitFor('every site plays the emergency', () => ids.every((id) => onAir(id) === `live:${b}`), 60_000, 50);
    const emergencyOn = Date.now();
    await waitFor('the emergency heard everywhere', () => ids.every((id) => heardSince(id, emergencyOn) >= 25), 60_000, 100);
    expect((await t.api('POST', `/api/live/streams/${b}/stop`)).status).toBe(200);
    await waitFor('A resumes everywhere', () => ids.every((id) => onAir(id) === `live:${a}`), 60_000, 50).catch(async (err: Error) => {
      const v = (await t.api('GET', `/api/live/streams/${a}`)).body;
      const behind = ids.filter((id) => onAir(id) !== `live:${a}`);
      throw new Error(
        `${err.message}: ${behind.length} sites not on A, e.g. on ${onAir(behind[0]!)}; stream A ${JSON.stringify({ state: v.state, endReason: v.endReason, endDetail: v.endDetail })}`,
      );
    });
    resumedAt = Date.now();
    for (const id of ids) {
      const ev = events.get(id)!;
      // D was cut by the emergency and ended for good, as its start said.
      expect(
        ev.some((e) => e.type === 'failed' && e.id === `live:${d}` && e.reason === 'preempted'),
        id,
      ).toBe(true);
      expect(
        ev.some((e) => e.type === 'resumed' && e.id === `live:${a}`),
        id,
      ).toBe(true);
    }
    expect((await t.api('POST', `/api/live/streams/${d}/stop`)).status).toBe(200);
  });

  it("stopping A silences every site, then its amplifier goes off after the profile's tail; sound came out until then", async () => {
    // 3 s of A again, so the stream carries enough marked messages for the skew below.
    await waitFor('3 s of A again at every site', () => ids.every((id) => heardSince(id, resumedAt) >= 150), 60_000, 100);
    stoppedAt = Date.now();
    expect((await t.api('POST', `/api/live/streams/${a}/stop`)).status).toBe(200);
    stopAnsweredAt = Date.now();
    // It ends with its end-of-stream message, or — where that message was lost — by the stop, a moment later.
    const endedA = (id: string) => events.get(id)!.some((e) => (e.type === 'ended' || (e.type === 'failed' && e.reason === 'cancelled')) && e.id === `live:${a}`);
    await waitFor('every site ended A', () => ids.every(endedA), 60_000, 50).catch((err: Error) => {
      const stuck = ids.filter((id) => !endedA(id));
      throw new Error(
        `${err.message}: ${stuck.length} sites, e.g. ${stuck[0]}: on air ${onAir(stuck[0]!)}, events ${JSON.stringify(
          events
            .get(stuck[0]!)!
            .filter((e) => 'id' in e && e.id === `live:${a}`)
            .slice(-4),
        )}, receiver ${JSON.stringify(fleet.site(stuck[0]!).agent.liveReceiver!.streamsHeld())}`,
      );
    });
    await waitFor('every amplifier off', () => ids.every((id) => !fleet.site(id).device.status().amp?.on), 60_000, 50);
    for (const id of ids) {
      const device = fleet.site(id).device;
      // Sound came out while the stream was on (not silence: the tone's level).
      expect(device.heardFramesBetween(local(id, resumedAt), local(id, stoppedAt)), id).toBeGreaterThan(25);
      const runs = device.playedAudio().runs.filter((r) => r.lastPlayAt >= local(id, resumedAt) && r.heardFrames > 25);
      // Sound, not silence (-120): concealed losses, which a loaded machine makes more of, lower the mean a little.
      expect(Math.max(...runs.map((r) => r.meanLevelDb ?? -120)), id).toBeGreaterThan(-60);
      // The last audio the server sent plays out (its play-at is at most the stop + the stream's delay), then nothing.
      expect(device.heardFramesBetween(local(id, stopAnsweredAt + DELAY_MS + 500), local(id, Date.now() + 60_000)), id).toBe(0);
    }
  });

  it("concealment covers the links' losses (some rebuilt from in-band FEC), as the sites report; each says why each stream ended there", async () => {
    const view = await waitFor(
      'final reports',
      async () => {
        const v = (await t.api('GET', `/api/live/streams/${a}`)).body;
        return v.sites.sites === SITES ? v : null;
      },
      60_000,
      200,
    );
    expect(link.dropped).toBeGreaterThan(0);
    expect(view.sites.lost).toBeGreaterThan(0);
    expect(view.sites.concealed).toBeGreaterThan(0);
    // A lost message's last packet is rebuilt from the next message's first packet (in-band FEC).
    expect(view.sites.fecRecovered).toBeGreaterThan(0);
    // How much loss stays unconcealed (silence heard) depends on the machine: a stalled event loop turns
    // messages late, in bursts longer than concealment covers. Printed below; the live-broadcast bench measures it (lossAfterConcealmentPct).
    expect(view.sites.unconcealedLossRatio).toBeLessThan(1);
    // Marked messages heard by the sites (how many depends on how long A was heard, so on the machine).
    expect(view.skew.marks).toBeGreaterThanOrEqual(1);
    // A by its end (or its stop), D pre-empted for good.
    for (const r of view.siteReports as Array<{ siteId: string; final: boolean; end: { reason: string } | null }>) {
      expect(r.final, r.siteId).toBe(true);
      expect(['ended', 'stopped'], r.siteId).toContain(r.end?.reason);
    }
    const dView = (await t.api('GET', `/api/live/streams/${d}`)).body as { siteReports: Array<{ siteId: string; end: { reason: string } | null }> };
    expect(dView.siteReports.length).toBe(SITES);
    for (const r of dView.siteReports) expect(r.end?.reason, r.siteId).toBe('preempted');
    console.log(
      `live fleet: ${SITES} sites, link dropped ${link.dropped}/${link.sent}, sites lost ${view.sites.lost} concealed ${view.sites.concealed} fec ${view.sites.fecRecovered} unconcealed ${(view.sites.unconcealedLossRatio * 100).toFixed(3)} %, server-reported skew ${JSON.stringify(view.skew)}`,
    );
  });

  it("every site plays in sync: any two sites within the sum of their clocks' worst-case errors", () => {
    // True skew: the local instant each site scheduled a marked message for, minus its clock error, on the server clock.
    const bySeq = new Map<number, number[]>();
    for (const id of ids) {
      for (const m of fleet.site(id).agent.liveReceiver!.marksPlayed) {
        if (m.streamId !== a) continue;
        const real = m.localAt - clockError.get(id)! + trueOffset();
        bySeq.set(m.seq, [...(bySeq.get(m.seq) ?? []), real]);
      }
    }
    const spreads = [...bySeq.values()]
      .filter((v) => v.length >= SITES / 2)
      .map((v) => Math.max(...v) - Math.min(...v))
      .sort((x, y) => x - y);
    expect(spreads.length).toBeGreaterThanOrEqual(1);
    const p99 = spreads[Math.min(spreads.length - 1, Math.ceil(0.99 * spreads.length) - 1)]!;
    console.log(`live fleet: true skew p50 ${spreads[Math.floor(spreads.length / 2)]!.toFixed(2)} ms p99 ${p99.toFixed(2)} ms (echo threshold ${SKEW_BOUND_MS} ms)`);
    // A site plays within its clock estimate's worst-case error of the schedule, so any two sites are within
    // the sum of the two largest uncertainties (+ 2 ms of sample rounding and timers). That holds on any
    // machine; whether the clocks get under the echo threshold depends on the machine's load (the
    // live-broadcast bench measures it).
    const u = ids.map((id) => fleet.site(id).agent.liveReceiver!.lastReports.get(a)?.clockUncertaintyMs ?? Infinity).sort((x, y) => y - x);
    expect(spreads[spreads.length - 1]!).toBeLessThanOrEqual(u[0]! + u[1]! + 2);
  });
});
