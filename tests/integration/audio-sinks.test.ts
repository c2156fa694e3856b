/**
 * Every AudioSink adapter against one contract, with real outputs: aplay into
 * ALSA's `null` device, a WAV file on disk, the simulated amplifier over the
 * device protocol (real SimDevice behind a real DeviceServer on TCP), and the
 * null sink. Then what each adapter adds: the WAV's length and gaps, aplay's
 * failures, what the simulated amplifier recorded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile, type DeviceProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer } from '../../firmware-sim/device-server.ts';
import { createDeviceGateway } from '../../edge-agent/devices/factory.ts';
import type { DeviceGateway } from '../../edge-agent/devices/gateway.ts';
import { AlsaSink, aplayArgs } from '../../edge-agent/audio/sinks/alsa.ts';
import { FileSink } from '../../edge-agent/audio/sinks/file.ts';
import { NullSink } from '../../edge-agent/audio/sinks/null.ts';
import type { DeviceSink } from '../../edge-agent/audio/sinks/device.ts';
import { createAudioSink } from '../../edge-agent/audio/sinks/factory.ts';
import { frameLevelDb } from '../../edge-agent/audio/sinks/stats.ts';
import { AudioSinkError, FRAME_MS, FRAME_SAMPLES, type AudioSink } from '../../edge-agent/audio/types.ts';
import { waitFor } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const hasAplay = haveTools('aplay');

/** A sine frame at `amplitude` (fraction of full scale). */
function tone(amplitude = 0.5, hz = 1000, startSample = 0): Int16Array {
  const f = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) f[i] = Math.round(32767 * amplitude * Math.sin((2 * Math.PI * hz * (startSample + i)) / 48000));
  return f;
}

let dir: string;
let profile: DeviceProfile;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-sinks-'));
  const base = await loadProfile('village-cluster-4g');
  profile = { ...base, amplifier: { ...base.amplifier, warmupMs: 30 } };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function simulatedAmplifier(now: () => number) {
  const device = new SimDevice(profile, { seed: 3 });
  const server = new DeviceServer(device, { tickIntervalMs: 0 });
  const port = await server.listen(0, '127.0.0.1');
  const gateway = createDeviceGateway({ driver: 'sim', host: '127.0.0.1', port, requestTimeoutMs: 1000, retries: 0 });
  await gateway.start();
  cleanups.push(
    () => gateway.stop(),
    () => server.close(),
  );
  const sink = gateway.audioSink!({ now }) as DeviceSink;
  return { device, gateway, sink };
}

type Clock = { t: number };
const adapters: Array<{ name: string; skip?: boolean; make: (clock: Clock) => Promise<AudioSink> }> = [
  { name: 'null', make: async (c) => new NullSink({ now: () => c.t }) },
  { name: 'file', make: async (c) => new FileSink({ path: path.join(dir, `contract-${Math.random()}.wav`), now: () => c.t }) },
  { name: 'alsa (aplay -D null)', skip: !hasAplay, make: async (c) => new AlsaSink({ device: 'null', now: () => c.t }) },
  { name: 'device (simulated amplifier over TCP)', make: async (c) => (await simulatedAmplifier(() => c.t)).sink },
];

for (const a of adapters) {
  describe.skipIf(a.skip)(`AudioSink contract: ${a.name}`, () => {
    it('refuses writes before open and frames that are not 20 ms', async () => {
      const clock = { t: 10_000 };
      const sink = await a.make(clock);
      await expect(sink.write(tone(), 10_100)).rejects.toMatchObject({ code: 'not_open' });
      await sink.open();
      await expect(sink.write(new Int16Array(100), 10_100)).rejects.toBeInstanceOf(AudioSinkError);
      await sink.close();
      await sink.close(); // idempotent
    });

    it('counts frames, play-at range, underruns (late frames) and what a flush drops', async () => {
      const clock = { t: 10_000 };
      const sink = await a.make(clock);
      expect(sink.latencyMs).toBeGreaterThanOrEqual(FRAME_MS);
      await sink.open();
      // 20 frames written on time, each latencyMs ahead of its play-at.
      for (let k = 0; k < 20; k++) {
        const playAt = 10_000 + sink.latencyMs + k * FRAME_MS;
        clock.t = playAt - sink.latencyMs;
        await sink.write(tone(0.5, 1000, k * FRAME_SAMPLES), playAt);
      }
      expect(sink.stats()).toMatchObject({
        framesWritten: 20,
        underruns: 0,
        framesFlushed: 0,
        firstPlayAtLocalMs: 10_000 + sink.latencyMs,
        lastPlayAtLocalMs: 10_000 + sink.latencyMs + 19 * FRAME_MS,
      });
      // Pre-emption now: the frames not yet due are dropped.
      const undue = Math.ceil(sink.latencyMs / FRAME_MS);
      await sink.flush();
      expect(sink.stats().framesFlushed).toBe(undue);
      // A frame written after its own play-at is an underrun.
      clock.t += 1000;
      await sink.write(tone(), clock.t - 5);
      expect(sink.stats().underruns).toBe(1);
      await sink.close();
    });
  });
}

describe('file sink', () => {
  it('writes a WAV whose length is the frames heard, with silence for gaps in play-at, and without flushed frames', async () => {
    const file = path.join(dir, 'timeline.wav');
    const clock = { t: 0 };
    const sink = new FileSink({ path: file, latencyMs: 100, now: () => clock.t });
    await sink.open();
    for (let k = 0; k < 50; k++) {
      clock.t = k * FRAME_MS;
      await sink.write(tone(0.3), 100 + k * FRAME_MS);
    }
    // 1 s gap, then 10 frames, then a flush with 5 of them not yet due.
    for (let k = 0; k < 10; k++) {
      clock.t = 2000 + k * FRAME_MS;
      await sink.write(tone(0.3), 2100 + k * FRAME_MS);
    }
    await sink.flush();
    await sink.close();
    const wav = fs.readFileSync(file);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
    const samples = (wav.length - 44) / 2;
    // 50 frames (1000 ms) + gap (2100 − 1100 = 1000 ms) + 5 heard frames (the other 5 were flushed).
    expect(samples).toBe((1000 + 1000 + 5 * FRAME_MS) * 48);
    expect(sink.stats().framesFlushed).toBe(5);
    const gapSample = wav.readInt16LE(44 + 1500 * 48 * 2);
    expect(gapSample).toBe(0);
  });
});

describe('file sink across close and open', () => {
  it('continues the same file on the same timeline when the engine reopens it for the next programme', async () => {
    const file = path.join(dir, 'reopen.wav');
    const clock = { t: 0 };
    const sink = new FileSink({ path: file, latencyMs: 20, now: () => clock.t });
    await sink.open();
    for (let k = 0; k < 10; k++) await sink.write(tone(0.3), 1000 + k * FRAME_MS);
    await sink.close(); // amplifier off after the first programme
    await sink.open(); // the next one
    for (let k = 0; k < 5; k++) await sink.write(tone(0.3), 2000 + k * FRAME_MS);
    await sink.close();
    const wav = fs.readFileSync(file);
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
    // 10 frames (1000–1200 ms), silence to 2000 ms, 5 frames: 1100 ms from the first frame.
    expect((wav.length - 44) / 2).toBe(1100 * 48);
    expect(sink.stats().framesWritten).toBe(15);
  });
});

describe.skipIf(!hasAplay)('ALSA sink (real aplay)', () => {
  it('builds the aplay command line from the config', () => {
    expect(aplayArgs({ device: 'plughw:1,0', bufferMs: 200 })).toEqual([
      '-q',
      '-t',
      'raw',
      '-f',
      'S16_LE',
      '-r',
      '48000',
      '-c',
      '1',
      '-D',
      'plughw:1,0',
      '--buffer-time=200000',
      '--period-time=50000',
      '-',
    ]);
  });

  it('plays audio into ALSA null, restarts aplay on a flush only when ALSA holds audio, and plays out the rest on close', async () => {
    const sink = new AlsaSink({ device: 'null', bufferMs: 100 });
    await sink.open();
    // Nothing due yet (play-at beyond the feed horizon of 80 ms): a flush has nothing in ALSA to drop.
    const later = Date.now() + 5000;
    for (let k = 0; k < 10; k++) await sink.write(tone(0.2, 440, k * FRAME_SAMPLES), later + k * FRAME_MS);
    await sink.flush();
    expect(sink.spawns).toBe(1);
    expect(sink.stats().framesFlushed).toBe(10);
    // Due now: fed to aplay at once, so a flush must restart it to drop ALSA's buffer.
    const t0 = Date.now();
    for (let k = 0; k < 150; k++) await sink.write(tone(0.2, 440, k * FRAME_SAMPLES), t0 + k * FRAME_MS);
    await sink.flush();
    expect(sink.spawns).toBe(2);
    for (let k = 0; k < 50; k++) await sink.write(tone(), Date.now() + 3000 + k * FRAME_MS);
    await sink.close(); // queued frames go to aplay, which plays them out and exits 0
    expect(sink.stats().framesWritten).toBe(210);
  });

  it('says what is wrong when ALSA refuses the device or aplay is missing', async () => {
    const sink = new AlsaSink({ device: 'no_such_pcm_device' });
    await sink.open();
    let error: unknown;
    // aplay exits once it fails to open the PCM; the next writes fail with its message. The deadline only bounds a hang.
    for (const deadline = Date.now() + 30_000; !error && Date.now() < deadline; ) {
      try {
        await sink.write(tone(), Date.now() + 200);
        await new Promise((r) => setTimeout(r, 10));
      } catch (e) {
        error = e;
      }
    }
    expect(error).toBeInstanceOf(AudioSinkError);
    expect((error as AudioSinkError).message).toMatch(/aplay on no_such_pcm_device stopped .*(no_such_pcm_device|audio open error)/);
    await sink.close();
    const missing = new AlsaSink({ command: '/nonexistent/aplay-xyz' });
    await expect(missing.open()).rejects.toThrow(/not found: apt-get install alsa-utils/);
  });
});

describe('device sink: the simulated amplifier records what it played', () => {
  it('hears nothing while the amplifier is off, then frames with their level and play times; a flush withdraws frames sent ahead', async () => {
    const clock = { t: Date.now() };
    const { device, gateway, sink } = await simulatedAmplifier(() => clock.t);
    await sink.open();
    const start = clock.t + 1000;
    const write = async (k: number, amplitude: number) => {
      const playAt = start + k * FRAME_MS;
      clock.t = playAt - sink.latencyMs;
      await sink.write(tone(amplitude, 1000, k * FRAME_SAMPLES), playAt);
    };
    for (let k = 0; k < 10; k++) await write(k, 0.5); // amplifier off
    await gateway.setAmplifier(true);
    for (let k = 10; k < 60; k++) await write(k, 0.5);
    await sink.close();

    const rec = device.playedAudio();
    expect(rec.totals).toMatchObject({ frames: 60, heardFrames: 50, silentFrames: 10 });
    expect(rec.runs).toHaveLength(1);
    const run = rec.runs[0]!;
    expect(run).toMatchObject({
      frames: 60,
      heardFrames: 50,
      firstPlayAt: start,
      lastPlayAt: start + 59 * FRAME_MS,
      firstHeardAt: start + 10 * FRAME_MS,
      lastHeardAt: start + 59 * FRAME_MS,
      silent: { amp_off: 10 },
    });
    // A sine at half scale is −9 dBFS RMS (−6 dB for 0.5, −3 dB for a sine).
    expect(run.meanLevelDb!).toBeCloseTo(-9.0, 0);
    expect(frameLevelDb(tone(0.5))).toBeCloseTo(-9.0, 0);
    expect(sink.heardFrames).toBe(50);
    expect(sink.silentFrames).toBe(10);
    expect(device.heardFramesBetween(start, start + 30 * FRAME_MS)).toBe(20);

    // Pre-emption: batches sent ahead are withdrawn.
    const sink2 = gateway.audioSink!({ now: () => clock.t, bufferMs: 100 }) as DeviceSink;
    await sink2.open();
    const s2 = clock.t + 5000;
    for (let k = 0; k < 10; k++) {
      clock.t = s2 + k * FRAME_MS - sink2.latencyMs;
      await sink2.write(tone(0.1), s2 + k * FRAME_MS);
    }
    await sink2.flush();
    await sink2.close();
    const after = device.playedAudio();
    expect(after.totals.flushedFrames).toBeGreaterThan(0);
    expect(after.totals.frames).toBe(60 + 10 - sink2.stats().framesFlushed);
  });

  it('sends the tail of a programme when writes stop, without waiting for close', async () => {
    const { device, gateway, sink } = await simulatedAmplifier(Date.now);
    await gateway.setAmplifier(true);
    await sink.open();
    const start = Date.now() + sink.latencyMs;
    for (let k = 0; k < 13; k++) await sink.write(tone(0.2), start + k * FRAME_MS); // one full batch + 3 frames
    await waitFor('the last 3 frames at the device', () => device.playedAudio().totals.frames === 13, 5000);
    expect(sink.heardFrames + sink.silentFrames).toBeLessThanOrEqual(13);
    await sink.close();
  });

  it('is silent with every speaker line faulty, and says why', async () => {
    const clock = { t: Date.now() };
    const { device, gateway, sink } = await simulatedAmplifier(() => clock.t);
    for (const l of profile.lines) device.injectFault({ kind: 'line_open', line: l.id });
    await gateway.setAmplifier(true);
    await sink.open();
    for (let k = 0; k < 20; k++) {
      clock.t = 1_000_000 + k * FRAME_MS;
      await sink.write(tone(), clock.t + sink.latencyMs);
    }
    await sink.close();
    expect(device.playedAudio().runs[0]!.silent).toEqual({ lines_fault: 20 });
    expect(sink.heardFrames).toBe(0);
  });
});

describe('sink factory', () => {
  it('builds the configured sink, and the device driver\'s own for "device"', async () => {
    expect(createAudioSink({ sink: 'null', alsaDevice: 'default', bufferMs: 200 }).kind).toBe('null');
    expect(createAudioSink({ sink: 'alsa', alsaDevice: 'null', bufferMs: 200 })).toMatchObject({ kind: 'alsa', latencyMs: 200 });
    expect(createAudioSink({ sink: 'file', alsaDevice: 'default', bufferMs: 200, file: path.join(dir, 'f.wav') }).kind).toBe('file');
    const { gateway } = await simulatedAmplifier(Date.now);
    expect(createAudioSink({ sink: 'device', alsaDevice: 'default', bufferMs: 200 }, { gateway }).kind).toBe('device');
    const board: Pick<DeviceGateway, 'audioSink'> = createDeviceGateway({ driver: 'board', audio: { device: 'null' } });
    expect(createAudioSink({ sink: 'device', alsaDevice: 'default', bufferMs: 200 }, { gateway: board }).kind).toBe('alsa');
    expect(() => createAudioSink({ sink: 'device', alsaDevice: 'default', bufferMs: 200 }, { gateway: {} })).toThrow(/no audio output/);
  });
});
