import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BoardDriver,
  amixerCommand,
  gpiosetCommand,
  playbackCommand,
  spawnRunner,
  toneWav,
  type CommandResult,
  type CommandRunner,
  type CommandSpec,
} from '../../edge-agent/devices/board-driver.ts';
import { createDeviceGateway, parseDeviceGatewayConfig } from '../../edge-agent/devices/factory.ts';
import { DeviceError } from '../../edge-agent/devices/gateway.ts';
import { haveTools } from '../helpers/require-tool.ts';

const tone = { hz: 1000, durationMs: 200, level: 50 };
const noSleep = async () => undefined;

/** Records every command; `run` answers with `result`, `start` holds until stopped. */
function recorder(result: Partial<CommandResult> = {}) {
  const runs: CommandSpec[] = [];
  const starts: CommandSpec[] = [];
  let stopped = 0;
  const ok: CommandResult = { code: 0, signal: null, stdout: '', stderr: '', ...result };
  const runner: CommandRunner = {
    run: async (spec) => (runs.push(spec), ok),
    start: (spec) => {
      starts.push(spec);
      let finish: (r: CommandResult) => void = () => undefined;
      const exited = new Promise<CommandResult>((resolve) => (finish = resolve));
      return { exited, stop: async () => (stopped++, finish({ ...ok, signal: 'SIGTERM', code: null }), exited) };
    },
    stream: () => {
      throw new Error('no capture in these tests');
    },
  };
  return { runner, runs, starts, stopped: () => stopped };
}

async function expectDeviceError(p: Promise<unknown>, code: string | RegExp, message?: RegExp) {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeviceError);
  expect((e as DeviceError).code).toMatch(code);
  if (message) expect((e as DeviceError).message).toMatch(message);
}

describe('command lines', () => {
  const gpio = { chip: 'gpiochip0', line: 17 };

  it('gpioset v1: positional chip, --mode=signal to hold the line', () => {
    expect(gpiosetCommand({ ...gpio, syntax: 'v1' }, 1)).toEqual({ file: 'gpioset', args: ['--mode=signal', 'gpiochip0', '17=1'] });
    expect(gpiosetCommand({ ...gpio, syntax: 'v1', mode: 'exit', activeLow: true }, 0).args).toEqual(['--active-low', 'gpiochip0', '17=0']);
  });

  it('gpioset v2: -c chip, holds by default, -t0 to set and exit', () => {
    expect(gpiosetCommand({ ...gpio, syntax: 'v2' }, 1)).toEqual({ file: 'gpioset', args: ['-c', 'gpiochip0', '17=1'] });
    expect(gpiosetCommand({ ...gpio, line: 'GPIO17', mode: 'exit', activeLow: true, command: '/usr/bin/gpioset' }, 0)).toEqual({
      file: '/usr/bin/gpioset',
      args: ['--active-low', '-t0', '-c', 'gpiochip0', 'GPIO17=0'],
    });
  });

  it('aplay reads a WAV from stdin on the configured device; a custom command replaces it', () => {
    expect(playbackCommand({ device: 'null' })).toEqual({ file: 'aplay', args: ['-q', '-D', 'null', '-t', 'wav', '-'] });
    expect(playbackCommand({ command: ['sh', '-c', 'cat > /dev/null'] })).toEqual({ file: 'sh', args: ['-c', 'cat > /dev/null'] });
  });

  it('amixer sets a percentage on the named control and card', () => {
    expect(amixerCommand({ card: '1', control: 'PCM' }, 70)).toEqual({ file: 'amixer', args: ['-q', '-c', '1', 'sset', 'PCM', '70%'] });
  });
});

describe('test tone WAV', () => {
  it('is a mono 16-bit PCM WAV of the requested length, ramped in and out', () => {
    const wav = toneWav({ hz: 1000, durationMs: 250, level: 100 }, 16000);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.toString('ascii', 8, 12)).toBe('WAVE');
    expect(wav.readUInt16LE(22)).toBe(1);
    expect(wav.readUInt32LE(24)).toBe(16000);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.readUInt32LE(40)).toBe(4000 * 2);
    expect(wav.length).toBe(44 + 8000);
    expect(Math.abs(wav.readInt16LE(44 + 2))).toBeLessThan(100); // ramp: no click
    let peak = 0;
    for (let i = 44; i < wav.length; i += 2) peak = Math.max(peak, Math.abs(wav.readInt16LE(i)));
    expect(peak).toBeGreaterThan(32000);
  });
});

describe('board driver with a recording runner', () => {
  const config = {
    amplifier: { gpio: { chip: 'gpiochip0', line: 26, activeLow: true, syntax: 'v1' as const }, warmupMs: 0 },
    audio: { device: 'null' },
    lines: [{ id: 1, nominalOhm: 167 }],
    power: { source: 'mains' as const, mainsOk: true },
    link: { type: '4g' as const },
    thermalPath: '/nonexistent/thermal',
  };

  it('drives the relay off at start, on and off on request, holding the line with one gpioset at a time', async () => {
    const r = recorder();
    const board = new BoardDriver(config, { runner: r.runner, sleep: noSleep });
    await board.start();
    await board.setAmplifier(true);
    await board.setAmplifier(true); // already on: nothing to do
    await board.setAmplifier(false);
    expect(r.starts.map((s) => s.args.at(-1))).toEqual(['26=0', '26=1', '26=0']);
    expect(r.stopped()).toBe(2);
    await board.stop();
    expect(r.stopped()).toBe(3);
  });

  it('plays the tone through aplay with a WAV on stdin, only with the amplifier on', async () => {
    const r = recorder();
    const board = new BoardDriver(config, { runner: r.runner, sleep: noSleep });
    await expectDeviceError(board.playTestTone(tone), 'amp_off');
    await board.setAmplifier(true);
    await board.playTestTone(tone);
    expect(r.runs[0]).toMatchObject({ file: 'aplay', args: ['-q', '-D', 'null', '-t', 'wav', '-'] });
    expect(Buffer.from(r.runs[0]!.stdin!).toString('ascii', 0, 4)).toBe('RIFF');
  });

  it('reports lines unknown, no mic, configured power and link, and refuses a sound check', async () => {
    const board = new BoardDriver(config, { runner: recorder().runner, sleep: noSleep });
    const s = await board.status();
    expect(s.lines).toEqual([{ id: 1, status: 'unknown', impedanceOhm: null, nominalOhm: 167 }]);
    expect(s.monitorMic).toBe(false);
    expect(s.power).toEqual({ source: 'mains', mainsOk: true, batteryPct: null });
    expect(s.link).toMatchObject({ type: '4g', up: true });
    expect(s.boardTemperatureC).toBeNull();
    await expectDeviceError(board.soundCheck(tone), 'no_monitor_mic');
  });

  it('turns a failing command into a DeviceError that says what failed', async () => {
    const r = recorder({ code: 1, stderr: 'aplay: main:831: audio open error: No such file or directory\n' });
    const board = new BoardDriver({ ...config, amplifier: undefined, mixer: { control: 'PCM' } }, { runner: r.runner });
    await expectDeviceError(board.setVolume(40), 'mixer_failed', /amixer -q sset PCM 40%: exit code 1/);
    await expectDeviceError(board.playTestTone(tone), 'playback_failed', /audio open error/);
    await expectDeviceError(board.reboot(), 'not_supported');
  });
});

describe('board driver with real processes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loanet-board-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('plays a tone through a real child process: the sink receives the whole WAV', async () => {
    const out = join(dir, 'tone.wav');
    const board = createDeviceGateway({ driver: 'board', audio: { command: ['sh', '-c', `cat > '${out}'`] } });
    await board.start();
    await board.playTestTone({ hz: 440, durationMs: 300, level: 60 });
    await board.stop();
    const wav = await readFile(out);
    // 300 ms of 48 kHz mono 16-bit after a 44-byte header, and not silence.
    expect(wav.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(wav.length).toBe(44 + 14_400 * 2);
    const peak = Math.max(...Array.from({ length: 14_400 }, (_, i) => Math.abs(wav.readInt16LE(44 + i * 2))));
    expect(peak).toBeGreaterThan(1000);
  });

  it.skipIf(!haveTools('aplay'))("plays a tone into ALSA's null device with the real aplay", async () => {
    const board = createDeviceGateway({ driver: 'board', audio: { device: 'null' } });
    await board.start();
    // playback_failed or command_not_found would reject: aplay took the WAV and exited 0.
    await expect(board.playTestTone({ hz: 440, durationMs: 300, level: 60 })).resolves.toBeUndefined();
    await board.stop();
  });

  it('a sink that fails is reported with its exit code and stderr', async () => {
    const board = createDeviceGateway({ driver: 'board', audio: { command: ['sh', '-c', 'cat > /dev/null; echo "no such PCM" >&2; exit 3'] } });
    await expectDeviceError(board.playTestTone(tone), 'playback_failed', /exit code 3 — no such PCM/);
  });

  it('a missing command is reported as not found, with what to install', async () => {
    const board = new BoardDriver({ audio: { command: ['/nonexistent/aplay-xyz'] } });
    await expectDeviceError(board.playTestTone(tone), 'command_not_found');
    const r = await spawnRunner.run({ file: '/nonexistent/x', args: [] });
    expect(r.spawnError).toBe('ENOENT');
  });

  it('holds the relay line with a real long-running gpioset stand-in, and releases it on stop', async () => {
    const log = join(dir, 'gpioset.log');
    const fake = join(dir, 'gpioset');
    // Like gpioset v2: record the arguments, then hold the line until signalled.
    await writeFile(fake, `#!/bin/sh\necho "$@" >> ${log}\nexec sleep 30\n`);
    await chmod(fake, 0o755);
    const board = createDeviceGateway({ driver: 'board', amplifier: { gpio: { chip: 'gpiochip0', line: 17, command: fake }, warmupMs: 10 } });
    await board.start();
    await board.setAmplifier(true);
    expect((await board.status()).amplifier).toMatchObject({ on: true });
    await board.stop();
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['-c gpiochip0 17=0', '-c gpiochip0 17=1']);
  });

  it('a gpioset that exits at once (no such chip) fails the amplifier command', async () => {
    const fake = join(dir, 'gpioset-broken');
    await writeFile(fake, '#!/bin/sh\necho "gpioset: unable to open chip \'$3\'" >&2\nexit 1\n');
    await chmod(fake, 0o755);
    const board = createDeviceGateway({ driver: 'board', amplifier: { gpio: { chip: 'gpiochip9', line: 17, command: fake }, warmupMs: 0 } });
    await expectDeviceError(board.setAmplifier(true), 'gpio_failed', /unable to open chip/);
  });

  it('reads the SoC temperature from the thermal zone file', async () => {
    const path = join(dir, 'temp');
    await writeFile(path, '48312\n');
    const board = createDeviceGateway({ driver: 'board', thermalPath: path });
    expect((await board.status()).boardTemperatureC).toBe(48.3);
  });
});

describe('device gateway config', () => {
  it('accepts a board config from JSON and names the wrong field otherwise', () => {
    expect(parseDeviceGatewayConfig({ driver: 'board', amplifier: { gpio: { chip: 'gpiochip0', line: 17, syntax: 'v1' } } })).toMatchObject({ driver: 'board' });
    expect(() => parseDeviceGatewayConfig({ driver: 'board', amplifier: { gpio: { chip: 'gpiochip0', line: 17, syntax: 'v3' } } })).toThrow(/amplifier\.gpio\.syntax/);
    expect(() => parseDeviceGatewayConfig({ driver: 'sim', host: 'localhost' })).toThrow(/devices\.port/);
    expect(() => parseDeviceGatewayConfig({ driver: 'serial' })).toThrow(/expected "sim" or "board"/);
  });
});
