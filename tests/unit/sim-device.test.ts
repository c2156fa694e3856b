import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeviceProfile, listProfiles, loadProfile, parseProfile, type DeviceProfile as Profile } from '../../hardware/profiles.ts';
import { MIC_NOISE_FLOOR_DB, OPEN_LINE_OHM, SimDevice, type SimReplyOutcome } from '../../firmware-sim/device.ts';
import type { DeviceEvent, DeviceRequest } from '../../protocol/index.ts';

const HOUR = 3_600_000;
let cluster: Profile;
let solar: Profile;
let station: Profile;

beforeAll(async () => {
  [cluster, solar, station] = await Promise.all([loadProfile('village-cluster-4g'), loadProfile('village-cluster-solar'), loadProfile('commune-station')]);
});

/** A device on a hand-driven clock. */
function rig(profile: Profile) {
  let t = 1_700_000_000_000;
  const device = new SimDevice(profile, { now: () => t, seed: 42 });
  const events: DeviceEvent[] = [];
  device.onEvent((e) => events.push(e));
  const ask = (req: DeviceRequest): SimReplyOutcome | null => device.handle(req);
  const advance = (ms: number) => {
    t += ms;
    device.tick();
  };
  const ampOnReady = () => {
    ask({ type: 'amp_power', on: true });
    advance(profile.amplifier.warmupMs);
  };
  return { device, events, ask, advance, ampOnReady };
}

function result<T>(o: SimReplyOutcome | null): T {
  if (!o?.reply.ok) throw new Error(`expected ok, got ${JSON.stringify(o)}`);
  return o.reply.result as T;
}

describe('hardware profiles', () => {
  it('ships the three reference site kinds, all valid', async () => {
    expect(await listProfiles()).toEqual(expect.arrayContaining(['commune-station', 'village-cluster-4g', 'village-cluster-solar']));
    expect(station.lines).toHaveLength(4);
    expect(solar.monitorMic).toBe(false);
    expect(solar.power.solar).not.toBeNull();
  });

  it('profile.schema.json is the TypeBox schema (regenerate it when profiles.ts changes)', async () => {
    const file = JSON.parse(await readFile(new URL('../../hardware/profile.schema.json', import.meta.url), 'utf8'));
    const { $schema: _s, ...rest } = file;
    expect(rest).toEqual(JSON.parse(JSON.stringify(DeviceProfile)));
  });

  it('rejects a profile naming the field that is wrong', () => {
    expect(() => parseProfile({ ...cluster, amplifier: { ...cluster.amplifier, ratedWatts: -1 } }, 'x.json')).toThrow(/amplifier\/ratedWatts/);
    expect(() => parseProfile({ ...cluster, lines: [cluster.lines[0], cluster.lines[0]] })).toThrow(/duplicate line id/);
  });

  it('an unknown profile name lists the known ones', async () => {
    await expect(loadProfile('no-such')).rejects.toThrow(/known profiles: commune-station/);
  });
});

describe('simulated device', () => {
  it('reports a healthy status: lines near nominal, mains, 4G signal', () => {
    const { device } = rig(cluster);
    const s = device.status();
    expect(s.lines.map((l) => l.status)).toEqual(['ok', 'ok']);
    expect(s.lines[0]!.ohm).toBeCloseTo(167, -1);
    expect(s.power).toEqual({ source: 'mains', mainsOk: true, batteryPct: 100 });
    expect(s.link.up).toBe(true);
    expect(s.link.dbm).toBeLessThan(-80);
  });

  it('answers amp_power after the warm-up, and a tone during warm-up waits for it', () => {
    const { ask } = rig(cluster);
    expect(ask({ type: 'amp_power', on: true })?.busyMs).toBe(cluster.amplifier.warmupMs);
    expect(ask({ type: 'play_tone', hz: 1000, durationMs: 500, level: 80 })?.busyMs).toBe(cluster.amplifier.warmupMs + 500);
  });

  it('refuses a tone with the amplifier off', () => {
    const { ask } = rig(cluster);
    expect(ask({ type: 'play_tone', hz: 1000, durationMs: 500, level: 80 })?.reply).toMatchObject({ ok: false, error: { code: 'amp_off' } });
  });

  it('a line_open fault shows the line open, emits fault, and clearing emits fault_cleared', () => {
    const { device, events } = rig(station);
    const emitted = device.injectFault({ kind: 'line_open', line: 3 });
    expect(emitted).toEqual([expect.objectContaining({ type: 'fault', device: 'line-3', fault: 'line_open' })]);
    expect(device.status().lines[2]).toMatchObject({ status: 'open', ohm: OPEN_LINE_OHM });
    device.clearFault({ kind: 'line_open', line: 3 });
    expect(events.map((e) => `${e.type}:${e.fault}`)).toEqual(['fault:line_open', 'fault_cleared:line_open']);
    expect(device.status().lines[2]!.status).toBe('ok');
  });

  it('a shorted line reads near zero ohms', () => {
    const { device } = rig(station);
    device.injectFault({ kind: 'line_short', line: 1 });
    expect(device.status().lines[0]).toMatchObject({ status: 'short' });
    expect(device.status().lines[0]!.ohm).toBeLessThan(1);
  });

  it('an overheated amplifier refuses tones and its sound check hears only noise', () => {
    const { device, ask, ampOnReady, events } = rig(cluster);
    ampOnReady();
    device.injectFault({ kind: 'amp_overheat' });
    expect(events.at(-1)).toMatchObject({ type: 'fault', device: 'amplifier', fault: 'amp_overheat' });
    expect(device.status().amp).toMatchObject({ fault: 'overheat' });
    expect(ask({ type: 'play_tone', hz: 1000, durationMs: 500, level: 80 })?.reply).toMatchObject({ ok: false, error: { code: 'amp_overheat' } });
    const { levelDb } = result<{ levelDb: number }>(ask({ type: 'sound_check', hz: 1000, durationMs: 500, level: 80 }));
    expect(levelDb).toBeLessThan(-60);
  });

  it('the mic hears about -20 dBFS at full volume, less with lower volume or faulty lines, nothing with all lines open', () => {
    const { device, ask, ampOnReady } = rig(cluster);
    ampOnReady();
    const check = () => result<{ levelDb: number }>(ask({ type: 'sound_check', hz: 1000, durationMs: 300, level: 100 })).levelDb;
    ask({ type: 'set_volume', level: 100 });
    const full = check();
    expect(full).toBeGreaterThan(-21.5);
    expect(full).toBeLessThan(-18.5);
    ask({ type: 'set_volume', level: 50 });
    const half = check();
    expect(half).toBeCloseTo(-26, 0);
    device.injectFault({ kind: 'line_open', line: 1 });
    expect(check()).toBeLessThan(half - 2);
    device.injectFault({ kind: 'line_short', line: 2 });
    expect(check()).toBeLessThan(MIC_NOISE_FLOOR_DB + 3);
  });

  it('the mic hears nothing with the amplifier off', () => {
    const { ask } = rig(cluster);
    expect(result<{ levelDb: number }>(ask({ type: 'sound_check', hz: 1000, durationMs: 300, level: 100 })).levelDb).toBeLessThan(-60);
  });

  describe('mic_level: what the microphone heard of the audio played in a window', () => {
    /** 5 s of frames at `levelDb` from `playAt` (agent clock), as a sink sends them: 50 frames a batch. */
    const play = (ask: (r: DeviceRequest) => SimReplyOutcome | null, playAt: number, levelDb: number, session = 7) => {
      for (let b = 0; b < 5; b++) ask({ type: 'audio', session, seq: b * 50, playAt: playAt + b * 1000, frameMs: 20, levels: Array(50).fill(levelDb) });
    };
    const level = (o: SimReplyOutcome | null) => result<{ levelDb: number | null }>(o).levelDb;
    const T = 2_000_000;

    it('hears a programme on the sound-check scale: a -3 dBFS signal at full volume reads about -20 dBFS, lower with volume, a quieter signal or an open line', () => {
      const { device, ask, ampOnReady } = rig(cluster);
      ampOnReady();
      ask({ type: 'set_volume', level: 100 });
      play(ask, T, -3);
      expect(level(ask({ type: 'mic_level', from: T, to: T + 5000 }))).toBeCloseTo(-20, 0);
      ask({ type: 'set_volume', level: 50 });
      play(ask, T + 10_000, -3);
      expect(level(ask({ type: 'mic_level', from: T + 10_000, to: T + 15_000 }))).toBeCloseTo(-26, 0);
      play(ask, T + 20_000, -23);
      expect(level(ask({ type: 'mic_level', from: T + 20_000, to: T + 25_000 }))).toBeCloseTo(-46, 0);
      device.injectFault({ kind: 'line_open', line: 1 });
      play(ask, T + 30_000, -3);
      expect(level(ask({ type: 'mic_level', from: T + 30_000, to: T + 35_000 }))).toBeCloseTo(-29, 0);
      // A window with nothing played in it hears the ambient floor.
      expect(level(ask({ type: 'mic_level', from: T + 40_000, to: T + 45_000 }))).toBeLessThan(MIC_NOISE_FLOOR_DB + 2);
    });

    it('the loudest second counts: silence before the message (a download wait) does not dilute it', () => {
      const { ask, ampOnReady } = rig(cluster);
      ampOnReady();
      ask({ type: 'set_volume', level: 100 });
      play(ask, T, -120);
      play(ask, T + 5000, -3);
      expect(level(ask({ type: 'mic_level', from: T, to: T + 10_000 }))).toBeCloseTo(-20, 0);
    });

    it('hears nothing when every speaker line is open, or the amplifier is off, or the frames were flushed before being heard', () => {
      const open = rig(cluster);
      open.ampOnReady();
      for (const l of cluster.lines) open.device.injectFault({ kind: 'line_open', line: l.id });
      play(open.ask, T, -3);
      expect(level(open.ask({ type: 'mic_level', from: T, to: T + 5000 }))).toBeLessThan(MIC_NOISE_FLOOR_DB + 2);
      const off = rig(cluster);
      play(off.ask, T, -3);
      expect(level(off.ask({ type: 'mic_level', from: T, to: T + 5000 }))).toBeLessThan(MIC_NOISE_FLOOR_DB + 2);
      const flushed = rig(cluster);
      flushed.ampOnReady();
      flushed.ask({ type: 'audio', session: 1, seq: 0, playAt: T, frameMs: 20, levels: Array(50).fill(-3) });
      flushed.ask({ type: 'audio_flush', session: 1, fromSeq: 0 });
      expect(level(flushed.ask({ type: 'mic_level', from: T, to: T + 1000 }))).toBeLessThan(MIC_NOISE_FLOOR_DB + 2);
    });

    it('a site without a monitoring microphone answers null, not an error', () => {
      const { ask, ampOnReady } = rig(solar);
      ampOnReady();
      play(ask, T, -3);
      expect(ask({ type: 'mic_level', from: T, to: T + 5000 })?.reply).toEqual({ type: 'reply', op: 'mic_level', ok: true, result: { levelDb: null } });
    });
  });

  it('a site without a monitoring mic refuses a sound check', () => {
    const { ask, ampOnReady } = rig(solar);
    ampOnReady();
    expect(ask({ type: 'sound_check', hz: 1000, durationMs: 300, level: 100 })?.reply).toMatchObject({ ok: false, error: { code: 'no_monitor_mic' } });
  });

  it('on mains loss the battery drains, warns when low, and at 0 % the device goes dark; mains back, it boots again', () => {
    const { device, events, ask, advance } = rig(cluster);
    device.injectFault({ kind: 'mains_lost' });
    expect(device.status().power).toMatchObject({ source: 'battery', mainsOk: false });
    advance(10 * HOUR);
    const pct = device.batteryPercent!;
    expect(pct).toBeLessThan(100);
    expect(pct).toBeGreaterThan(50);
    advance(200 * HOUR);
    expect(device.batteryPercent).toBe(0);
    expect(device.isDark()).toBe(true);
    expect(ask({ type: 'get_status' })).toBeNull();
    expect(events.map((e) => e.fault)).toEqual(['mains_lost', 'battery_low']);

    device.clearFault({ kind: 'mains_lost' });
    expect(device.isDark()).toBe(true); // booting
    advance(cluster.board.bootMs);
    const s = result<{ power: { source: string }; amp: { on: boolean } }>(ask({ type: 'get_status' }));
    expect(s.power.source).toBe('mains');
    expect(s.amp.on).toBe(false);
    expect(
      events
        .slice(2)
        .map((e) => `${e.type}:${e.fault}`)
        .sort(),
    ).toEqual(['fault_cleared:battery_low', 'fault_cleared:mains_lost']);
  });

  it('an amplifier left on drains the battery faster', () => {
    const a = rig(cluster);
    const b = rig(cluster);
    b.ask({ type: 'amp_power', on: true });
    for (const r of [a, b]) {
      r.device.injectFault({ kind: 'mains_lost' });
      r.advance(5 * HOUR);
    }
    expect(b.device.batteryPercent!).toBeLessThan(a.device.batteryPercent! - 5);
  });

  it('a solar site reports solar while charging and battery when the input is lost', () => {
    const { device } = rig(solar);
    expect(device.status().power).toEqual({ source: 'solar', mainsOk: null, batteryPct: 100 });
    device.injectFault({ kind: 'mains_lost' });
    expect(device.status().power.source).toBe('battery');
  });

  it('modem link loss shows the link down with no signal', () => {
    const { device, events } = rig(cluster);
    device.injectFault({ kind: 'modem_link_lost' });
    expect(device.status().link).toMatchObject({ up: false, dbm: null });
    expect(events).toEqual([expect.objectContaining({ device: 'modem', fault: 'modem_link_lost' })]);
  });

  it('reboot answers, then is silent for the boot time, with the amplifier off after', () => {
    const { ask, advance, ampOnReady } = rig(station);
    ampOnReady();
    expect(ask({ type: 'reboot' })?.reply.ok).toBe(true);
    expect(ask({ type: 'get_status' })).toBeNull();
    advance(station.board.bootMs);
    expect(result<{ amp: { on: boolean } }>(ask({ type: 'get_status' })).amp.on).toBe(false);
  });

  it('refuses a fault on a line the profile does not have', () => {
    const { device } = rig(solar);
    expect(() => device.injectFault({ kind: 'line_open', line: 2 })).toThrow(/no speaker line 2/);
  });
});
