import { describe, expect, it } from 'vitest';
import { LevelRing } from '../../edge-agent/audio/level-ring.ts';
import { BoardDriver, gpiogetCommand, parseGpioValue, type CommandResult, type CommandRunner, type CommandSpec } from '../../edge-agent/devices/board-driver.ts';
import { arecordCommand } from '../../edge-agent/devices/board-mic.ts';
import { parseDeviceGatewayConfig } from '../../edge-agent/devices/factory.ts';
import { DeviceError } from '../../edge-agent/devices/gateway.ts';

const RATE = 8000;
const noSleep = async () => undefined;
const ok: CommandResult = { code: 0, signal: null, stdout: '', stderr: '' };

/** S16LE bytes of a sine with RMS `db` dBFS (or silence for null). */
function pcm(hz: number, db: number | null, ms: number): Buffer {
  const n = Math.round((RATE * ms) / 1000);
  const b = Buffer.alloc(n * 2);
  if (db === null) return b;
  const a = 32768 * Math.SQRT2 * 10 ** (db / 20);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(a * Math.sin((2 * Math.PI * hz * i) / RATE)), 2 * i);
  return b;
}

/**
 * A runner whose streamed processes the test feeds by hand; `run` answers
 * gpioget from `gpio` (offset → stdout) and everything else with exit 0.
 */
function fakeRunner(gpio: Record<string, string> = {}) {
  const runs: CommandSpec[] = [];
  const streams: Array<{ spec: CommandSpec; feed: (b: Buffer) => void; exit: (r?: Partial<CommandResult>) => void; stopped: boolean }> = [];
  const runner: CommandRunner = {
    run: async (spec) => {
      runs.push(spec);
      if (spec.file === 'gpioget') return { ...ok, stdout: `${gpio[spec.args.at(-1)!] ?? '0'}\n` };
      return ok;
    },
    // A gpioset holding the relay line until stopped; chip gpiochip9 fails at once.
    start: (spec) => {
      runs.push(spec);
      if (spec.args.includes('gpiochip9')) return { exited: Promise.resolve({ ...ok, code: 1, stderr: 'unable to open chip' }), stop: async () => ok };
      let finish: (r: CommandResult) => void = () => undefined;
      const exited = new Promise<CommandResult>((resolve) => (finish = resolve));
      return { exited, stop: async () => (finish({ ...ok, code: null, signal: 'SIGTERM' }), exited) };
    },
    stream: (spec, onStdout) => {
      let finish: (r: CommandResult) => void = () => undefined;
      const exited = new Promise<CommandResult>((resolve) => (finish = resolve));
      const s = { spec, feed: onStdout, exit: (r: Partial<CommandResult> = {}) => finish({ ...ok, ...r }), stopped: false };
      streams.push(s);
      return { exited, stop: async () => ((s.stopped = true), finish({ ...ok, code: null, signal: 'SIGTERM' }), exited) };
    },
  };
  return { runner, runs, streams };
}

async function rejection(p: Promise<unknown>): Promise<DeviceError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeviceError);
  return e as DeviceError;
}

describe('command lines', () => {
  it('arecord: raw S16LE mono at the rate, 50 ms periods, bounded by -s for a sound check', () => {
    expect(arecordCommand({ device: 'plughw:1,0' })).toEqual({
      file: 'arecord',
      args: ['-q', '-D', 'plughw:1,0', '-f', 'S16_LE', '-c', '1', '-r', '48000', '-t', 'raw', '-F', '50000'],
    });
    expect(arecordCommand({ device: 'mic', sampleRate: 16000, command: '/usr/bin/arecord' }, 44000).args.slice(-2)).toEqual(['-s', '44000']);
  });

  it('gpioget v1 (positional chip, offset) and v2 (-c, --numeric), active-low either way', () => {
    expect(gpiogetCommand({ chip: 'gpiochip0', line: 5, syntax: 'v1' })).toEqual({ file: 'gpioget', args: ['gpiochip0', '5'] });
    expect(gpiogetCommand({ chip: 'gpiochip0', line: 5, syntax: 'v1', activeLow: true }).args).toEqual(['--active-low', 'gpiochip0', '5']);
    expect(gpiogetCommand({ chip: 'gpiochip0', line: 'GPIO5', activeLow: true, command: '/usr/bin/gpioget' })).toEqual({
      file: '/usr/bin/gpioget',
      args: ['--active-low', '--numeric', '-c', 'gpiochip0', 'GPIO5'],
    });
  });

  it('reads gpioget answers of both versions', () => {
    expect(parseGpioValue('1\n')).toBe(true);
    expect(parseGpioValue('0\n')).toBe(false);
    expect(parseGpioValue('"GPIO5"=active\n')).toBe(true);
    expect(parseGpioValue('"5"=inactive')).toBe(false);
    expect(parseGpioValue('')).toBeUndefined();
  });
});

describe('board config', () => {
  const board = (more: object) => parseDeviceGatewayConfig({ driver: 'board', ...more });
  it('takes a microphone and sense inputs, naming the wrong field', () => {
    expect(board({ mic: { device: 'plughw:1,0', sampleRate: 16000 }, lines: [{ id: 1, sense: { chip: 'gpiochip0', line: 5, activeLow: true } }] })).toMatchObject({
      mic: { device: 'plughw:1,0' },
    });
    expect(() => board({ mic: {} })).toThrow(/devices\.mic\.device/);
    expect(() => board({ mic: { device: 'x', sampleRate: 100 } })).toThrow(/devices\.mic\.sampleRate/);
    expect(() => board({ mic: { device: 'x', gain: 3 } })).toThrow(/devices\.mic/);
    expect(() => board({ lines: [{ id: 1, sense: { line: 5 } }] })).toThrow(/devices\.lines\.0\.sense\.chip/);
    expect(() => board({ lines: [{ id: 1, sense: { chip: 'gpiochip0', line: 'GPIO5', syntax: 'v1' } }] })).toThrow(/devices\.lines\.0\.sense\.line: .*offset/);
  });
});

describe('level ring', () => {
  it('answers the loudest second overlapping the window, null when nothing covers it', () => {
    const ring = new LevelRing(100, 100);
    const p = (db: number) => 32768 * 32768 * 10 ** (db / 10);
    for (let i = 1; i <= 30; i++) ring.push(1000 + i * 100, p(i > 10 && i <= 20 ? -20 : -60));
    expect(ring.loudestDb(1000, 4000)).toBeCloseTo(-20, 1);
    expect(ring.loudestDb(1000, 1900)).toBeCloseTo(-60, 1);
    expect(ring.loudestDb(2150, 2250)).toBeCloseTo(-20, 1); // fewer blocks than a second: their mean
    expect(ring.loudestDb(5000, 6000)).toBeNull();
    expect(ring.loudestDb(0, 1000)).toBeNull();
  });

  it('keeps only its capacity, oldest out first', () => {
    const ring = new LevelRing(5, 100);
    for (let i = 1; i <= 12; i++) ring.push(i * 100, 1);
    expect(ring.length).toBe(5);
    expect(ring.loudestDb(0, 700)).toBeNull();
    expect(ring.loudestDb(700, 1300)).not.toBeNull();
  });
});

describe('board driver with a microphone (fed by hand)', () => {
  const tone = { hz: 1000, durationMs: 1000, level: 60 };

  it('without a microphone: no sound check, no level, monitorMic false', async () => {
    const board = new BoardDriver({}, { runner: fakeRunner().runner });
    expect((await rejection(board.soundCheck(tone))).code).toBe('no_monitor_mic');
    expect(await board.micLevel(0, 1e15)).toBeNull();
    expect((await board.status()).monitorMic).toBe(false);
  });

  it('a sound check captures tone + margin with a bounded arecord while aplay plays, and reads the tone', async () => {
    const f = fakeRunner();
    const board = new BoardDriver({ mic: { device: 'plughw:1,0', sampleRate: RATE }, audio: { device: 'null' } }, { runner: f.runner, sleep: noSleep });
    expect((await board.status()).monitorMic).toBe(true);
    const check = board.soundCheck(tone);
    await expect.poll(() => f.streams.length).toBe(1);
    expect(f.streams[0]!.spec.args).toEqual(expect.arrayContaining(['-D', 'plughw:1,0', '-r', String(RATE), '-s', String((RATE * 1750) / 1000)]));
    // Odd-sized chunks: samples split across reads still line up.
    const heard = Buffer.concat([pcm(1000, null, 300), pcm(1000, -26, 1000), pcm(1000, null, 450)]);
    for (let at = 0; at < heard.length; at += 333) f.streams[0]!.feed(heard.subarray(at, at + 333));
    f.streams[0]!.exit();
    const { levelDb } = await check;
    expect(levelDb).toBeGreaterThan(-26.5);
    expect(levelDb).toBeLessThan(-25.5);
    expect(f.runs.map((r) => r.file)).toEqual(['aplay']);
  });

  it('a capture that cannot start is a DeviceError naming what to install', async () => {
    const f = fakeRunner();
    const board = new BoardDriver({ mic: { device: 'plughw:1,0' }, audio: { device: 'null' } }, { runner: f.runner, sleep: noSleep });
    const check = board.soundCheck(tone);
    await expect.poll(() => f.streams.length).toBe(1);
    f.streams[0]!.exit({ code: null, spawnError: 'ENOENT' });
    const e = await rejection(check);
    expect(e.code).toBe('command_not_found');
    expect(e.message).toMatch(/arecord not found: install alsa-utils/);
    const busy = board.soundCheck(tone);
    await expect.poll(() => f.streams.length).toBe(2);
    f.streams[1]!.exit({ code: 1, stderr: 'arecord: main:850: audio open error: Device or resource busy' });
    expect((await rejection(busy)).message).toMatch(/mic_failed|Device or resource busy/);
  });

  it('listens while the amplifier is on: micLevel over the window, null outside it; the capture stops with the amplifier', async () => {
    const f = fakeRunner();
    let t = 10_000;
    const board = new BoardDriver({ mic: { device: 'mic', sampleRate: RATE } }, { runner: f.runner, sleep: noSleep, now: () => t });
    // No relay: setAmplifier is refused as before, but the microphone listens from here.
    expect((await rejection(board.setAmplifier(true))).code).toBe('not_supported');
    expect(f.streams).toHaveLength(1);
    expect(f.streams[0]!.spec.args).not.toContain('-s');
    for (let i = 0; i < 20; i++) {
      t += 100;
      f.streams[0]!.feed(pcm(1000, i < 10 ? null : -30, 100));
    }
    await rejection(board.setAmplifier(false));
    expect(f.streams[0]!.stopped).toBe(true);
    expect(await board.micLevel(10_000, 11_000)).toBe(-120);
    expect(await board.micLevel(11_000, 12_000)).toBeCloseTo(-30, 0);
    expect(await board.micLevel(10_000, 12_000)).toBeCloseTo(-30, 0);
    expect(await board.micLevel(20_000, 30_000)).toBeNull();
  });

  it('with a relay: listens once the relay is on, stops before it goes off; a relay that fails leaves it deaf', async () => {
    const f = fakeRunner();
    const gpio = { chip: 'gpiochip0', line: 26 };
    const board = new BoardDriver({ mic: { device: 'mic' }, amplifier: { gpio, warmupMs: 0 } }, { runner: f.runner, sleep: noSleep });
    await board.setAmplifier(true);
    expect(f.runs.map((r) => r.file)).toEqual(['gpioset']);
    expect(f.streams).toHaveLength(1);
    await board.setAmplifier(false);
    expect(f.streams[0]!.stopped).toBe(true);
    expect(f.runs.map((r) => r.file)).toEqual(['gpioset', 'gpioset']);
    const broken = new BoardDriver({ mic: { device: 'mic' }, amplifier: { gpio: { ...gpio, chip: 'gpiochip9' }, warmupMs: 0 } }, { runner: f.runner, sleep: noSleep });
    expect((await rejection(broken.setAmplifier(true))).code).toBe('gpio_failed');
    expect(f.streams).toHaveLength(1);
    await board.stop();
  });

  it('a sound check while the amplifier is on copies from the running capture instead of opening the device twice', async () => {
    const f = fakeRunner();
    const board = new BoardDriver({ mic: { device: 'mic', sampleRate: RATE } }, { runner: f.runner, sleep: noSleep });
    await rejection(board.setAmplifier(true));
    const check = board.soundCheck({ ...tone, durationMs: 500 });
    await new Promise((resolve) => setImmediate(resolve));
    f.streams[0]!.feed(Buffer.concat([pcm(1000, -20, 600), pcm(1000, null, 800)]));
    expect((await check).levelDb).toBeCloseTo(-20, 0);
    expect(f.streams).toHaveLength(1);
    expect(f.streams[0]!.stopped).toBe(false);
    await board.stop();
    expect(f.streams[0]!.stopped).toBe(true);
  });
});

describe('speaker lines with a current-sense input', () => {
  const lines = [{ id: 1, sense: { chip: 'gpiochip0', line: 5 } }, { id: 2, sense: { chip: 'gpiochip0', line: 6, syntax: 'v1' as const } }, { id: 3 }];

  it('unknown until a tone or current shows something; current is ok; no current during a tone is open', async () => {
    const gpio: Record<string, string> = { '5': '0', '6': '0' };
    const f = fakeRunner(gpio);
    const board = new BoardDriver({ lines, audio: { device: 'null' } }, { runner: f.runner, sleep: noSleep });
    const statuses = async () => (await board.status()).lines.map((l) => l.status);
    expect(await statuses()).toEqual(['unknown', 'unknown', 'unknown']);
    gpio['5'] = '1';
    await board.playTestTone({ hz: 1000, durationMs: 200, level: 50 });
    expect(f.runs.filter((r) => r.file === 'gpioget').map((r) => r.args)).toContainEqual(['gpiochip0', '6']);
    expect(await statuses()).toEqual(['ok', 'open', 'unknown']);
    // Silence afterwards tells nothing new; current in line 2 later shows it whole again.
    gpio['5'] = '0';
    gpio['6'] = '1';
    expect(await statuses()).toEqual(['ok', 'ok', 'unknown']);
  });

  it('a gpioget that fails reads unknown, never throws', async () => {
    const runner: CommandRunner = { ...fakeRunner().runner, run: async () => ({ ...ok, code: 1, stderr: 'unable to open chip' }) };
    const board = new BoardDriver({ lines }, { runner, sleep: noSleep });
    expect((await board.status()).lines.map((l) => l.status)).toEqual(['unknown', 'unknown', 'unknown']);
  });
});
