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
 *   error) stays within the sites' clock uncertainty and under SKEW_BOUND_MS
 *   (tests/bench/live-broadcast.ts measures it at scale);
 * - a site that connects mid-stream starts within a second, in sync;
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
 * True play-time spread between sites for the same message, p99: under the ~50 ms at which
 * two horns are heard as an echo. The tighter check below is each site's own clock bound.
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
  for (const [name, hz] of [['a', 440], ['b', 1000], ['d', 660]] as const) {
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=5`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, `${name}.mp3`));
  }
  radio = await startRadio(dir);
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

describe.skipIf(!canRun)(`a live broadcast to ${SITES} simulated sites over jittery, lossy links with clocks up to ±2 s off`, () => {
  it('every site plays in sync, losses are concealed, a late joiner syncs, priorities pre-empt and resume or end, stop silences every site', async () => {
    const ids = fleet.ids();
    const late = ids[ids.length - 1]!;
    const others = ids.filter((id) => id !== late);
    await fleet.kill(late);

    const a = await startRelay('a', 'normal');
    await waitFor('every site plays stream A', () => others.every((id) => onAir(id) === `live:${a}`), 20_000, 50);

    // The late joiner comes up mid-stream: the retained start arrives with its subscription.
    await new Promise((r) => setTimeout(r, 2000));
    await fleet.restore(late);
    // A restored site is a new agent (as systemd would start): watch its engine from the start.
    const lateEvents: EngineEvent[] = [];
    events.set(late, lateEvents);
    fleet.site(late).agent.playout!.engine.on((e) => lateEvents.push(e));
    const joined: number = await waitFor('late joiner connected', () => (fleet.site(late).agent.stats.connected ? Date.now() : 0), 30_000, 10);
    await waitFor('late joiner plays A', () => onAir(late) === `live:${a}`, 10_000, 10);
    await new Promise((r) => setTimeout(r, 3000));

    // An emergency pre-empts; a 'priority' stream that would rather end than wait ends; A resumes after.
    const d = await startRelay('d', 'priority', { whenPreempted: 'end' });
    await waitFor('every site plays D over A', () => ids.every((id) => onAir(id) === `live:${d}`), 20_000, 50);
    const b = await startRelay('b', 'emergency');
    await waitFor('every site plays the emergency', () => ids.every((id) => onAir(id) === `live:${b}`), 20_000, 50);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await t.api('POST', `/api/live/streams/${b}/stop`)).status).toBe(200);
    await waitFor('A resumes everywhere', () => ids.every((id) => onAir(id) === `live:${a}`), 20_000, 50);
    for (const id of ids) {
      const ev = events.get(id)!;
      // D was cut by the emergency and ended for good, as its start said.
      expect(ev.some((e) => e.type === 'failed' && e.id === `live:${d}` && e.reason === 'preempted'), id).toBe(true);
      expect(ev.some((e) => e.type === 'resumed' && e.id === `live:${a}`), id).toBe(true);
    }
    expect((await t.api('POST', `/api/live/streams/${d}/stop`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000));

    // Stop: every site falls silent, then its amplifier goes off after the profile's tail.
    const stoppedAt = Date.now();
    expect((await t.api('POST', `/api/live/streams/${a}/stop`)).status).toBe(200);
    // It ends with its end-of-stream message, or — where that message was lost — by the stop, a moment later.
    const endedA = (id: string) => events.get(id)!.some((e) => (e.type === 'ended' || (e.type === 'failed' && e.reason === 'cancelled')) && e.id === `live:${a}`);
    await waitFor('every site ended A', () => ids.every(endedA), 20_000, 50).catch((err: Error) => {
      const stuck = ids.filter((id) => !endedA(id));
      throw new Error(`${err.message}: ${stuck.length} sites, e.g. ${stuck[0]}: on air ${onAir(stuck[0]!)}, events ${JSON.stringify(events.get(stuck[0]!)!.filter((e) => 'id' in e && e.id === `live:${a}`).slice(-4))}, receiver ${JSON.stringify(fleet.site(stuck[0]!).agent.liveReceiver!.streamsHeld())}`);
    });
    await waitFor('every amplifier off', () => ids.every((id) => !fleet.site(id).device.status().amp?.on), 20_000, 50);
    for (const id of ids) {
      const local = (x: number) => x - trueOffset() + clockError.get(id)!;
      // Sound came out while the stream was on (not silence: the tone's level).
      if (fleet.site(id).device.heardFramesBetween(local(stoppedAt - 3000), local(stoppedAt)) <= 25) {
        console.log('DEBUG', id, 'err', clockError.get(id), 'stoppedAt local', local(stoppedAt), JSON.stringify(fleet.site(id).device.playedAudio().runs.slice(-5).map((r) => ({ f: r.firstPlayAt - local(stoppedAt), l: r.lastPlayAt - local(stoppedAt), n: r.frames, h: r.heardFrames, db: r.meanLevelDb, s: r.silent }))), JSON.stringify(events.get(id)!.slice(-8).map((e) => ({ ...e, at: e.at - stoppedAt }))));
      }
      expect(fleet.site(id).device.heardFramesBetween(local(stoppedAt - 3000), local(stoppedAt)), id).toBeGreaterThan(25);
      const runs = fleet.site(id).device.playedAudio().runs.filter((r) => r.lastPlayAt >= local(stoppedAt - 3000) && r.heardFrames > 25);
      expect(Math.max(...runs.map((r) => r.meanLevelDb ?? -120)), id).toBeGreaterThan(-30);
      // The last audio the server sent plays out (its play-at is the stop + the stream's delay), then nothing.
      expect(fleet.site(id).device.heardFramesBetween(local(stoppedAt + DELAY_MS + 500), local(Date.now() + 60_000)), id).toBe(0);
    }

    // The late joiner: its first sound came within a second of its connection, once its amplifier had warmed up
    // (the profile's warm-up is physics no protocol can shorten; server time, the site's clock error removed).
    const started = events.get(late)!.find((e) => e.type === 'started' && e.id === `live:${a}`) as Extract<EngineEvent, { type: 'started' }>;
    const ampOn = events.get(late)!.find((e) => e.type === 'amplifier' && e.on) as Extract<EngineEvent, { type: 'amplifier' }>;
    expect(started).toBeDefined();
    expect(ampOn).toBeDefined();
    expect(started.at - Math.max(joined, ampOn.at)).toBeLessThan(1000);

    // Concealment covered the losses: the sites' own statistics, gathered by the server.
    const view = await waitFor('final reports', async () => {
      const v = (await t.api('GET', `/api/live/streams/${a}`)).body;
      return v.sites.sites === SITES ? v : null;
    }, 20_000, 200);
    expect(link.dropped).toBeGreaterThan(0);
    expect(view.sites.lost).toBeGreaterThan(0);
    expect(view.sites.concealed).toBeGreaterThan(0);
    // A lost message's last packet is rebuilt from the next message's first packet (in-band FEC).
    expect(view.sites.fecRecovered).toBeGreaterThan(0);
    expect(view.sites.unconcealedLossRatio).toBeLessThan(0.01);
    expect(view.skew.marks).toBeGreaterThan(3);
    // Each site says why the stream ended there: A by its end (or its stop), D pre-empted for good.
    for (const r of view.siteReports as Array<{ siteId: string; final: boolean; end: { reason: string } | null }>) {
      expect(r.final, r.siteId).toBe(true);
      expect(['ended', 'stopped'], r.siteId).toContain(r.end?.reason);
    }
    const dView = (await t.api('GET', `/api/live/streams/${d}`)).body as { siteReports: Array<{ siteId: string; end: { reason: string } | null }> };
    expect(dView.siteReports.length).toBe(SITES);
    for (const r of dView.siteReports) expect(r.end?.reason, r.siteId).toBe('preempted');

    // True skew: the local instant each site scheduled a marked message for, minus its clock error, on the server clock.
    const bySeq = new Map<number, number[]>();
    for (const id of ids) {
      for (const m of fleet.site(id).agent.liveReceiver!.marksPlayed) {
        if (m.streamId !== a) continue;
        const real = m.localAt - clockError.get(id)! + trueOffset();
        bySeq.set(m.seq, [...(bySeq.get(m.seq) ?? []), real]);
      }
    }
    const spreads = [...bySeq.values()].filter((v) => v.length >= SITES / 2).map((v) => Math.max(...v) - Math.min(...v)).sort((x, y) => x - y);
    expect(spreads.length).toBeGreaterThan(3);
    const p99 = spreads[Math.min(spreads.length - 1, Math.ceil(0.99 * spreads.length) - 1)]!;
    console.log(`live fleet: ${SITES} sites, link dropped ${link.dropped}/${link.sent}, sites lost ${view.sites.lost} concealed ${view.sites.concealed} fec ${view.sites.fecRecovered} unconcealed ${(view.sites.unconcealedLossRatio * 100).toFixed(3)} %, true skew p50 ${spreads[Math.floor(spreads.length / 2)]!.toFixed(2)} ms p99 ${p99.toFixed(2)} ms, server-reported skew ${JSON.stringify(view.skew)}, late joiner first sound ${(started.at - joined).toFixed(0)} ms after connecting, ${(started.at - ampOn.at).toFixed(0)} ms after its amplifier was ready`);
    expect(p99).toBeLessThanOrEqual(SKEW_BOUND_MS);
    // Tighter: a site plays within its clock estimate's worst-case error of the schedule, so any two
    // sites are within the sum of the two largest uncertainties (+ 2 ms of sample rounding and timers).
    const u = ids.map((id) => fleet.site(id).agent.liveReceiver!.lastReports.get(a)?.clockUncertaintyMs ?? Infinity).sort((x, y) => y - x);
    expect(spreads[spreads.length - 1]!).toBeLessThanOrEqual(u[0]! + u[1]! + 2);
  }, 240_000);
});
