/**
 * The sim driver against the simulated firmware over real TCP sockets and
 * over in-memory stream pairs: the same DeviceGateway behaviour either way.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile, type DeviceProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer, createDevicePair } from '../../firmware-sim/device-server.ts';
import { createDeviceGateway } from '../../edge-agent/devices/factory.ts';
import { DeviceError, type DeviceFaultNotice, type DeviceGateway } from '../../edge-agent/devices/gateway.ts';
import { waitFor } from '../helpers/server.ts';

let profile: DeviceProfile;
const tone = { hz: 1000, durationMs: 100, level: 80 };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const base = await loadProfile('village-cluster-4g');
  // Real timing, shortened: warm-up and boot in tens of ms so the suite stays fast.
  profile = { ...base, amplifier: { ...base.amplifier, warmupMs: 50 }, board: { ...base.board, bootMs: 300 } };
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function collectFaults(gw: DeviceGateway) {
  const notices: DeviceFaultNotice[] = [];
  const waiters: { match: (n: DeviceFaultNotice) => boolean; resolve: (n: DeviceFaultNotice) => void }[] = [];
  gw.onFault((n) => {
    notices.push(n);
    for (const w of waiters.splice(0)) w.match(n) ? w.resolve(n) : waiters.push(w);
  });
  // The deadline only bounds a hang: a loaded machine may take seconds to deliver a notice.
  const next = (match: (n: DeviceFaultNotice) => boolean, ms = 15_000) =>
    new Promise<DeviceFaultNotice>((resolve, reject) => {
      const seen = notices.find(match);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no matching fault notice in ${ms} ms; got ${JSON.stringify(notices)}`)), ms);
      waiters.push({ match, resolve: (n) => (clearTimeout(timer), resolve(n)) });
    });
  return { notices, next };
}

async function expectDeviceError(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeviceError);
  expect((e as DeviceError).code).toBe(code);
}

async function startTcp() {
  const device = new SimDevice(profile, { seed: 7 });
  const server = new DeviceServer(device, { tickIntervalMs: 0 });
  const port = await server.listen(0, '127.0.0.1');
  const gateway = createDeviceGateway({ driver: 'sim', host: '127.0.0.1', port, requestTimeoutMs: 400, retries: 0, reconnect: { baseMs: 50, capMs: 200 } });
  const faults = collectFaults(gateway);
  await gateway.start();
  cleanups.push(
    () => gateway.stop(),
    () => server.close(),
  );
  return { device, server, port, gateway, faults };
}

async function startStream() {
  const device = new SimDevice(profile, { seed: 7 });
  const server = new DeviceServer(device, { tickIntervalMs: 0 });
  const pair = createDevicePair();
  server.attach(pair.device);
  const gateway = createDeviceGateway({ driver: 'sim-stream', stream: pair.agent, requestTimeoutMs: 400, retries: 0 });
  const faults = collectFaults(gateway);
  await gateway.start();
  cleanups.push(
    () => gateway.stop(),
    () => server.close(),
  );
  return { device, server, pair, gateway, faults };
}

for (const [name, start] of [
  ['TCP', startTcp],
  ['in-memory stream', startStream],
] as const) {
  describe(`sim driver ↔ firmware-sim over ${name}`, () => {
    it('reports status and carries out volume, amplifier, tone and sound check', async () => {
      const { gateway } = await start();
      const s = await gateway.status();
      expect(s.devices).toEqual([expect.objectContaining({ reachable: true, firmware: profile.firmware })]);
      expect(s.lines.map((l) => l.status)).toEqual(['ok', 'ok']);
      expect(s.monitorMic).toBe(true);
      expect(s.link).toMatchObject({ type: '4g', up: true });
      // Power sequencing as the profile says, learnt from the device's hello.
      expect(gateway.amplifierWarmupMs?.()).toBe(profile.amplifier.warmupMs);
      expect(gateway.amplifierHoldMs?.()).toBe(profile.amplifier.holdMs);

      expect(await gateway.setVolume(60)).toBe(60);
      await gateway.setAmplifier(true);
      await gateway.playTestTone(tone);
      const { levelDb } = await gateway.soundCheck(tone);
      expect(levelDb).toBeGreaterThan(-40);
      expect((await gateway.status()).amplifier).toMatchObject({ on: true, volume: 60, fault: 'none' });
    });

    it('a line_open fault reaches onFault at once and shows in status', async () => {
      const { device, gateway, faults } = await start();
      device.injectFault({ kind: 'line_open', line: 2 });
      expect(await faults.next((n) => n.fault === 'line_open')).toMatchObject({ device: 'line-2', cleared: false });
      expect((await gateway.status()).lines[1]).toMatchObject({ id: 2, status: 'open' });
      device.clearFault({ kind: 'line_open', line: 2 });
      expect(await faults.next((n) => n.fault === 'line_open' && n.cleared)).toMatchObject({ device: 'line-2' });
    });

    it('an overheated amplifier: the sound check hears nothing and a tone fails', async () => {
      const { device, gateway } = await start();
      await gateway.setAmplifier(true);
      device.injectFault({ kind: 'amp_overheat' });
      expect((await gateway.status()).amplifier).toMatchObject({ fault: 'overheat' });
      expect((await gateway.soundCheck(tone)).levelDb).toBeLessThan(-60);
      await expectDeviceError(gateway.playTestTone(tone), 'amp_overheat');
    });

    it('a device that stops answering (rebooting) is reported unreachable, then reachable again', async () => {
      const { gateway, faults } = await start();
      await gateway.reboot();
      const s = await gateway.status();
      expect(s.devices[0]).toMatchObject({ reachable: false, error: expect.stringMatching(/did not answer get_status/) });
      expect(s.lines.map((l) => l.status)).toEqual(['unknown', 'unknown']);
      await faults.next((n) => n.fault === 'device_unreachable' && !n.cleared);
      await waitFor('the device answering again after its reboot', async () => (await gateway.status()).devices[0]?.reachable === true);
      await faults.next((n) => n.fault === 'device_unreachable' && n.cleared);
    });
  });
}

describe('serial-line behaviour over a stream', () => {
  it('a false SYNC announcing a long frame is dropped after a silent gap, so the next real frame gets through', async () => {
    const device = new SimDevice(profile, { seed: 7 });
    const server = new DeviceServer(device, { tickIntervalMs: 0 });
    const pair = createDevicePair();
    server.attach(pair.device);
    const gateway = createDeviceGateway({ driver: 'sim-stream', stream: pair.agent, requestTimeoutMs: 400, frameGapMs: 50 });
    const faults = collectFaults(gateway);
    cleanups.push(
      () => gateway.stop(),
      () => server.close(),
    );
    await gateway.start();
    // Line noise that looks like the start of a 1000-byte frame, then silence.
    pair.device.write(Buffer.from([0xa5, 0x5a, 0x01, 0x00, 0x03, 0xe8, 0x11, 0x22]));
    // The stimulus is the silence itself (longer than frameGapMs); a busy machine only makes it longer.
    await new Promise((r) => setTimeout(r, 80));
    device.injectFault({ kind: 'modem_link_lost' });
    expect(await faults.next((n) => n.fault === 'modem_link_lost')).toMatchObject({ device: 'modem' });
  });
});

describe('losing the device', () => {
  it('TCP: server stopped → status unreachable, commands throw device_unreachable; server back → reconnects', async () => {
    const { server, port, gateway, faults, device } = await startTcp();
    await server.close();
    await faults.next((n) => n.fault === 'device_unreachable' && !n.cleared);
    const s = await gateway.status();
    expect(s.devices[0]).toMatchObject({ reachable: false });
    expect(s.amplifier).toBeNull();
    await expectDeviceError(gateway.setVolume(50), 'device_unreachable');
    await expectDeviceError(gateway.setAmplifier(true), 'device_unreachable');

    const again = new DeviceServer(device, { tickIntervalMs: 0 });
    await again.listen(port, '127.0.0.1');
    cleanups.push(() => again.close());
    await faults.next((n) => n.fault === 'device_unreachable' && n.cleared);
    expect(await gateway.setVolume(50)).toBe(50);
  });

  it('TCP: a device that is not there at start is reported unreachable, and start() still resolves', async () => {
    const probe = new DeviceServer(new SimDevice(profile), { tickIntervalMs: 0 });
    const port = await probe.listen(0);
    await probe.close(); // a port that was free a moment ago: nothing listens now
    const gateway = createDeviceGateway({ driver: 'sim', host: '127.0.0.1', port, requestTimeoutMs: 300, reconnect: { baseMs: 1000 } });
    cleanups.push(() => gateway.stop());
    await gateway.start();
    expect((await gateway.status()).devices[0]).toMatchObject({ reachable: false, error: expect.stringMatching(/cannot connect/) });
  });

  it('stream: the other end closing → unreachable and device_unreachable', async () => {
    const { pair, gateway, faults } = await startStream();
    pair.device.destroy();
    await faults.next((n) => n.fault === 'device_unreachable');
    expect((await gateway.status()).devices[0]?.reachable).toBe(false);
    await expectDeviceError(gateway.playTestTone(tone), 'device_unreachable');
  });
});
