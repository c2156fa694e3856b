/**
 * The board driver's monitoring microphone with the real CommandRunner and
 * the real arecord, capturing from ALSA PCMs of type `file` whose `infile`
 * holds a known signal (the file plugin hands the file's samples to the
 * reader, rewinding at its end; its slave `null` supplies no timing, so the
 * capture runs as fast as it is read). The PCMs live in a config of our own
 * that includes the system's alsa.conf, named by ALSA_CONFIG_PATH, which the
 * spawned arecord inherits. Playback goes to ALSA's null device.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceGateway } from '../../edge-agent/devices/factory.ts';
import { DeviceError, type DeviceGateway } from '../../edge-agent/devices/gateway.ts';
import { which } from '../../server/media/tools.ts';
import { haveTools } from '../helpers/require-tool.ts';

const arecord = { name: 'arecord', install: 'apt-get install alsa-utils', present: () => which('arecord') !== undefined };
const SYSTEM_ALSA_CONF = '/usr/share/alsa/alsa.conf';
const alsaConf = { name: SYSTEM_ALSA_CONF, install: 'apt-get install alsa-utils (libasound2-data)', present: () => fs.existsSync(SYSTEM_ALSA_CONF) };
const RATE = 48000;
/** What every site's agent compares with unless configured otherwise (edge-agent/config.ts). */
const THRESHOLD_DB = -40;

/** One second of S16LE mono: exactly 1000 cycles of 1 kHz, so the file's rewind is seamless. */
function signal(kind: 'tone' | 'silence' | 'noise', db: number): Buffer {
  const b = Buffer.alloc(RATE * 2);
  let x = 12345;
  for (let i = 0; i < RATE; i++) {
    let v = 0;
    if (kind === 'tone') v = 32768 * Math.SQRT2 * 10 ** (db / 20) * Math.sin((2 * Math.PI * 1000 * i) / RATE);
    if (kind === 'noise') {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      v = 32768 * Math.sqrt(3) * 10 ** (db / 20) * ((x >>> 0) / 2 ** 31 - 1);
    }
    b.writeInt16LE(Math.round(v), 2 * i);
  }
  return b;
}

describe.skipIf(!haveTools('aplay', arecord, alsaConf))('board microphone with the real arecord on ALSA file PCMs', () => {
  let dir: string;
  const before = process.env.ALSA_CONFIG_PATH;
  const boards: DeviceGateway[] = [];
  const board = (pcm: string, more: object = {}) => {
    const g = createDeviceGateway({ driver: 'board', audio: { device: 'null' }, mic: { device: pcm }, ...more });
    boards.push(g);
    return g;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-board-mic-'));
    const pcms = { tone: signal('tone', -20), silence: signal('silence', 0), noise: signal('noise', -20) };
    let conf = `<${SYSTEM_ALSA_CONF}>\n`;
    for (const [name, samples] of Object.entries(pcms)) {
      const file = path.join(dir, `${name}.raw`);
      fs.writeFileSync(file, samples);
      conf += `pcm.loanet_${name} { type file slave.pcm "null" file "/dev/null" infile "${file}" format "raw" }\n`;
    }
    fs.writeFileSync(path.join(dir, 'asound.conf'), conf);
    process.env.ALSA_CONFIG_PATH = path.join(dir, 'asound.conf');
  });

  afterAll(async () => {
    await Promise.all(boards.map((b) => b.stop()));
    if (before === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = before;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tone = { hz: 1000, durationMs: 500, level: 60 };

  it('a 1 kHz tone at -20 dBFS is heard at -20 dB, above the threshold', async () => {
    const g = board('loanet_tone');
    expect((await g.status()).monitorMic).toBe(true);
    const { levelDb } = await g.soundCheck(tone);
    expect(levelDb).not.toBeNull();
    expect(Math.abs(levelDb! + 20)).toBeLessThanOrEqual(0.5);
    expect(levelDb!).toBeGreaterThanOrEqual(THRESHOLD_DB);
  });

  it('silence is not heard', async () => {
    const { levelDb } = await board('loanet_silence').soundCheck(tone);
    expect(levelDb!).toBeLessThanOrEqual(-90);
  });

  it('noise as loud as the tone, without it, is not heard as the tone', async () => {
    const { levelDb } = await board('loanet_noise').soundCheck(tone);
    expect(levelDb!).toBeLessThan(THRESHOLD_DB);
  });

  it('micLevel: what was heard while the amplifier was on, tone against silence; null outside any capture', async () => {
    const heard = async (pcm: string) => {
      const g = board(pcm);
      const from = performance.timeOrigin + performance.now();
      // No relay configured: refused as before, but the microphone listens from here until switched off.
      await expect(g.setAmplifier(true)).rejects.toMatchObject({ code: 'not_supported' });
      // The deadline only bounds a hang: the file PCM delivers as fast as it is read.
      await expect.poll(() => g.micLevel!(from, performance.timeOrigin + performance.now()), { timeout: 10_000 }).not.toBeNull();
      await expect(g.setAmplifier(false)).rejects.toMatchObject({ code: 'not_supported' });
      const to = performance.timeOrigin + performance.now();
      return { level: await g.micLevel!(from, to), before: await g.micLevel!(from - 60_000, from - 1000) };
    };
    const t = await heard('loanet_tone');
    expect(Math.abs(t.level! + 20)).toBeLessThanOrEqual(0.5);
    expect(t.before).toBeNull();
    const s = await heard('loanet_silence');
    expect(s.level!).toBeLessThanOrEqual(-90);
  });

  it('a sound check while the amplifier is on reads from the running capture (one arecord on the device)', async () => {
    const g = board('loanet_tone');
    await expect(g.setAmplifier(true)).rejects.toMatchObject({ code: 'not_supported' });
    const { levelDb } = await g.soundCheck(tone);
    expect(Math.abs(levelDb! + 20)).toBeLessThanOrEqual(0.5);
    await expect(g.setAmplifier(false)).rejects.toMatchObject({ code: 'not_supported' });
  });

  it('a capture device ALSA does not know fails the sound check with arecord’s reason', async () => {
    const e = await board('loanet_no_such_pcm')
      .soundCheck(tone)
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as DeviceError).code).toBe('mic_failed');
    expect((e as DeviceError).message).toMatch(/arecord .*loanet_no_such_pcm.*(Unknown PCM|audio open error)/s);
  });

  it('arecord missing is command_not_found', async () => {
    const e = await board('loanet_tone', { mic: { device: 'loanet_tone', command: '/nonexistent/arecord' } })
      .soundCheck(tone)
      .catch((err: unknown) => err);
    expect((e as DeviceError).code).toBe('command_not_found');
  });
});
