/**
 * The updater (edge-agent/update/updater.ts) on its own, with real files in
 * a temp folder and a real HTTP release server, its ports given by the test:
 * the restart (recorded), whether something plays, the health probes, and
 * the clock (so a health deadline passes without waiting for it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentLogger } from '../../edge-agent/agent-log.ts';
import { BOOT_FILE, readBootState, writeBootState } from '../../edge-agent/update/slots.ts';
import { Updater, type HealthProbes } from '../../edge-agent/update/updater.ts';
import { PROTOCOL_VERSION, type UpdateOrder, type UpdateStatusEvent } from '../../protocol/index.ts';
import { ReleaseServer, makeRelease, makeSigningKey, type TestRelease } from '../helpers/release-server.ts';
import { waitFor } from '../helpers/wait.ts';
import { loadProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { MemoryFlashStorage, SimFlash } from '../../firmware-sim/flash.ts';
import { DeviceError } from '../../edge-agent/devices/gateway.ts';
import type { FirmwarePort } from '../../edge-agent/devices/firmware-update.ts';
import type { DeviceRequest } from '../../protocol/index.ts';

const key = makeSigningKey();
const SITE = 'site-upd';
const rel = (version: string, extra: Parameters<typeof makeRelease>[0]['extra'] = {}, arch: 'arm64' | 'amd64' = 'arm64') =>
  makeRelease({
    id: `agent-${version.replaceAll('.', '-')}`,
    version,
    key,
    arch,
    files: { 'main.mjs': `export const v = '${version}';\n`, 'data.bin': Buffer.alloc(50_000, 3) },
    extra,
  });

let server: ReleaseServer;
let url: string;
let dir: string;
let clock: number;
let playing: boolean;
let restarts: string[];
let events: UpdateStatusEvent[];
const quiet: AgentLogger = { info: () => {}, warn: () => {} } as unknown as AgentLogger;

beforeEach(async () => {
  server = new ReleaseServer();
  url = await server.listen();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-upd-'));
  clock = 1_000_000;
  playing = false;
  restarts = [];
  events = [];
});
afterEach(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function updater(
  o: {
    version?: string;
    slot?: 'factory' | 'a' | 'b';
    probes?: Partial<HealthProbes>;
    firmwareOf?: (id: string) => Promise<FirmwarePort | undefined>;
    isPlaying?: () => boolean;
  } = {},
): Updater {
  const probes: HealthProbes = {
    connected: () => true,
    heartbeatSent: () => true,
    configReceived: () => true,
    soundCheck: async () => ({ ok: true, detail: 'heard' }),
    ...o.probes,
  };
  return new Updater({
    siteId: SITE,
    stateDir: dir,
    httpUrl: url,
    secret: 's',
    version: o.version ?? '1.2.0',
    arch: 'arm64',
    slot: o.slot ?? 'factory',
    trustedKeys: [key.trusted],
    log: quiet,
    now: () => clock,
    publishEvent: (e) => events.push(e),
    requestHeartbeat: () => {},
    probes,
    isPlaying: o.isPlaying ?? (() => playing),
    port: { restart: (why) => void restarts.push(why) },
    ...(o.firmwareOf ? { firmwareOf: o.firmwareOf } : {}),
    sleep: async () => {},
    pollMs: 10,
  });
}

function order(r: TestRelease, o: Partial<UpdateOrder> = {}): Buffer {
  const m: UpdateOrder = {
    v: PROTOCOL_VERSION,
    siteId: SITE,
    at: 1,
    rolloutId: 'roll-1',
    action: 'install',
    component: 'agent',
    releaseId: r.id,
    version: r.manifest.version,
    manifestSha256: r.manifestSha256,
    budgetBytes: 10_000_000,
    healthTimeoutS: 60,
    ...o,
  };
  return Buffer.from(JSON.stringify(m));
}

const final = (u: Updater) => () => {
  const s = u.report()?.state;
  return s === 'failed' || s === 'cancelled' || s === 'updated' || s === 'rolled_back' || s === 'testing' ? u.report() : undefined;
};

describe('updater', () => {
  it('waits while something plays, then writes the trial and restarts', async () => {
    const r = rel('1.3.0');
    server.add(r);
    playing = true;
    const u = updater();
    await u.start();
    u.onOrder(order(r));
    await waitFor('waiting for the alert to end', () => u.report()?.state === 'waiting_idle');
    expect(restarts).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'slots', 'a', 'release.json'))).toBe(true);
    playing = false;
    await waitFor('the switch', () => restarts.length === 1);
    const boot = await readBootState(dir, () => {});
    expect(boot?.trial).toMatchObject({ slot: 'a', version: '1.3.0', tries: 0, fromVersion: '1.2.0', rolloutId: 'roll-1' });
    expect(u.report()?.state).toBe('testing');
    expect(events.map((e) => e.update.state)).toEqual(['queued', 'downloading', 'downloaded', 'verified', 'installing', 'waiting_idle', 'testing']);
    await u.stop();
  });

  it('an alert that starts while the trial is being written holds the restart until it has played', async () => {
    const r = rel('1.3.0');
    server.add(r);
    // Idle at the last check before the switch; the alert arrives once boot.json names the trial.
    let alert: 'not yet' | 'on air' | 'over' = 'not yet';
    let checkedOnAir = 0;
    const u = updater({
      isPlaying: () => {
        if (alert === 'not yet' && fs.existsSync(path.join(dir, BOOT_FILE))) alert = 'on air';
        if (alert === 'on air') checkedOnAir++;
        return alert === 'on air';
      },
    });
    await u.start();
    u.onOrder(order(r));
    await waitFor('the trial written while the alert plays', () => alert === 'on air');
    expect((await readBootState(dir, () => {}))?.trial).toMatchObject({ version: '1.3.0' });
    // The restart had its chances: the updater looked three times while the alert played, and held back each time.
    await waitFor('the updater to look three times while the alert plays', () => checkedOnAir >= 3);
    expect(restarts).toEqual([]);
    alert = 'over';
    await waitFor('the switch once the alert has played', () => restarts.length === 1);
    await u.stop();
  });

  for (const [name, make, reason] of [
    ['a manifest other than the order names', (r: TestRelease) => order(r, { manifestSha256: 'f'.repeat(64) }), 'manifest_mismatch'],
    ['a downgrade', (r: TestRelease) => order(r), 'downgrade'],
  ] as const) {
    it(`refuses ${name} before writing a byte (${reason})`, async () => {
      const r = rel(reason === 'downgrade' ? '1.1.0' : '1.3.0');
      server.add(r);
      const u = updater();
      await u.start();
      u.onOrder(make(r));
      const rep = await waitFor('the refusal', final(u));
      expect(rep).toMatchObject({ state: 'failed', reason });
      expect(fs.existsSync(path.join(dir, 'slots'))).toBe(false);
      expect(server.sent.size).toBe(0);
      await u.stop();
    });
  }

  it('refuses a release for another board (wrong_target)', async () => {
    const r = rel('1.3.0', {}, 'amd64');
    server.add(r);
    const u = updater();
    await u.start();
    u.onOrder(order(r));
    expect(await waitFor('the refusal', final(u))).toMatchObject({ state: 'failed', reason: 'wrong_target' });
    await u.stop();
  });

  it('installs nothing of a file that does not match the manifest (hash_mismatch), and stops at the budget', async () => {
    const r = rel('1.3.0');
    server.add(r);
    server.faults.corrupt = 'data.bin';
    const u = updater();
    await u.start();
    u.onOrder(order(r));
    expect(await waitFor('the refusal', final(u))).toMatchObject({ state: 'failed', reason: 'hash_mismatch' });
    expect(fs.existsSync(path.join(dir, 'slots', 'a.partial'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'slots', 'a'))).toBe(false);
    server.faults = {};
    u.onOrder(order(r, { rolloutId: 'roll-2', budgetBytes: 20_000 }));
    expect(await waitFor('the budget', () => (u.report()?.rolloutId === 'roll-2' ? final(u)() : undefined))).toMatchObject({ state: 'failed', reason: 'budget_exceeded' });
    expect(u.report()?.downloaded).toBeLessThanOrEqual(20_000);
    await u.stop();
  });

  it('on trial: commits when the health check passes', async () => {
    await writeBootState(dir, {
      format: 1,
      committed: { slot: 'factory', version: '1.2.0' },
      trial: { slot: 'a', version: '1.3.0', rolloutId: 'roll-1', releaseId: 'agent-1-3-0', fromVersion: '1.2.0', tries: 1, since: 1 },
    });
    const u = updater({ version: '1.3.0', slot: 'a' });
    await u.start();
    expect(u.onTrial).toBe(true);
    await waitFor('the commit', () => u.report()?.state === 'updated');
    const boot = await readBootState(dir, () => {});
    expect(boot).toMatchObject({ committed: { slot: 'a', version: '1.3.0' }, last: { state: 'updated' } });
    expect(boot?.trial).toBeUndefined();
    expect(restarts).toEqual([]);
    await u.stop();
  });

  it('on trial: rolls back a program that is not the version its manifest says (install_failed)', async () => {
    await writeBootState(dir, {
      format: 1,
      committed: { slot: 'factory', version: '1.2.0' },
      trial: { slot: 'a', version: '1.3.0', rolloutId: 'roll-1', releaseId: 'agent-1-3-0', fromVersion: '1.2.0', tries: 1, since: 1 },
    });
    const u = updater({ version: '1.2.9', slot: 'a' });
    await u.start();
    await waitFor('the rollback', () => restarts.length === 1);
    expect(u.report()).toMatchObject({ state: 'rolled_back', reason: 'install_failed' });
    await u.stop();
  });

  it('on trial: rolls back when no configuration arrives before the deadline (no_config), and the old version reports it', async () => {
    await writeBootState(dir, {
      format: 1,
      committed: { slot: 'b', version: '1.2.0' },
      trial: { slot: 'a', version: '1.3.0', rolloutId: 'roll-1', releaseId: 'agent-1-3-0', fromVersion: '1.2.0', tries: 1, since: 1 },
    });
    const u = updater({ version: '1.3.0', slot: 'a', probes: { configReceived: () => false } });
    await u.start();
    await waitFor('the check under way', () => u.report()?.state === 'testing');
    clock += 301_000; // past any health timeout
    await waitFor('the rollback', () => restarts.length === 1);
    expect(u.report()).toMatchObject({ state: 'rolled_back', reason: 'no_config' });
    const boot = await readBootState(dir, () => {});
    expect(boot).toMatchObject({ committed: { slot: 'b', version: '1.2.0' }, last: { state: 'rolled_back', reason: 'no_config' } });
    expect(boot?.trial).toBeUndefined();
    await u.stop();
    // The old version starts again: it reports the rollback, and takes the same order no more.
    const old = updater({ version: '1.2.0', slot: 'b' });
    await old.start();
    expect(old.report()).toMatchObject({ state: 'rolled_back', reason: 'no_config', version: '1.3.0' });
    await old.stop();
  });
});

describe('device firmware order', () => {
  /** A simulated device of hardware `hw` in this process, behind the firmware requests the gateway would send it. */
  async function simulatedDevice(hw: string): Promise<{ port: FirmwarePort; storage: MemoryFlashStorage }> {
    const profile = await loadProfile('village-cluster-4g');
    // The simulated device's clock jumps over its boot when asked while booting (no real waiting).
    let skew = 0;
    const storage = new MemoryFlashStorage(1024 * 1024);
    const device = new SimDevice(profile, { now: () => Date.now() + skew, seed: 5, flash: new SimFlash(storage, { hardware: hw, factoryVersion: '1.0.0' }) });
    const ask = async <T>(req: DeviceRequest): Promise<T> => {
      const out = device.handle(req);
      if (!out) {
        skew += profile.board.bootMs + 1;
        throw new DeviceError('device_unreachable', 'booting');
      }
      if (!out.reply.ok) throw new DeviceError(out.reply.error.code, out.reply.error.message);
      return out.reply.result as T;
    };
    const port: FirmwarePort = {
      hello: () => ask({ type: 'hello' }),
      begin: (img) => ask({ type: 'fw_begin', sha256: img.sha256, size: img.size, version: img.version, hardware: img.hardware }),
      chunk: (offset, data, crc) => ask({ type: 'fw_chunk', offset, data, crc }),
      verify: () => ask({ type: 'fw_verify' }),
      activate: async () => {
        await ask({ type: 'fw_activate' });
      },
      confirm: () => ask({ type: 'fw_confirm' }),
      reboot: async () => {
        await ask({ type: 'reboot' });
      },
      health: async () => null,
    };
    return { port, storage };
  }
  const image = (): Buffer => {
    const img = Buffer.alloc(6000);
    for (let i = 0; i < img.length; i++) img[i] = (i * 31) & 0xff;
    return img;
  };

  it('fetches the signed image and brings the listed device to it through the gateway, reported per device', async () => {
    const HW = 'loanet-amp-1';
    const { port, storage } = await simulatedDevice(HW);
    const img = image();
    const r = makeRelease({ id: 'amp-2-0-0', version: '2.0.0', key, component: 'device-firmware', files: { 'amp.bin': img }, extra: { target: { hardware: HW } } });
    server.add(r);
    const u = updater({ firmwareOf: async (id) => (id === 'amp' ? port : undefined) });
    await u.start();
    u.onOrder(order(r, { component: 'device-firmware', devices: ['amp'] }));
    const rep = await waitFor('the device updated', final(u), 30_000);
    expect(rep).toMatchObject({ state: 'updated', component: 'device-firmware', devices: [{ id: 'amp', state: 'updated', bytes: 6000 }] });
    expect(await port.hello()).toMatchObject({ firmware: '2.0.0', fw: { state: 'confirmed' } });
    expect(storage.bytesWritten).toBe(6000);
    // A device the agent does not have fails that device, with the reason.
    u.onOrder(order(r, { rolloutId: 'roll-2', component: 'device-firmware', devices: ['modem'] }));
    expect(await waitFor('the refusal', () => (u.report()?.rolloutId === 'roll-2' ? final(u)() : undefined))).toMatchObject({
      state: 'failed',
      reason: 'device_unreachable',
      devices: [{ id: 'modem', state: 'failed', reason: 'device_unreachable' }],
    });
    await u.stop();
  });

  it('refuses a device whose hello names other hardware before fetching a byte of the image', async () => {
    const { port, storage } = await simulatedDevice('loanet-amp-2');
    expect(await port.hello()).toMatchObject({ hardware: 'loanet-amp-2' });
    const r = makeRelease({ id: 'amp-2-0-0', version: '2.0.0', key, component: 'device-firmware', files: { 'amp.bin': image() }, extra: { target: { hardware: 'loanet-amp-1' } } });
    server.add(r);
    const u = updater({ firmwareOf: async (id) => (id === 'amp' ? port : undefined) });
    await u.start();
    u.onOrder(order(r, { component: 'device-firmware', devices: ['amp'] }));
    const rep = await waitFor('the refusal', final(u), 30_000);
    expect(rep).toMatchObject({
      state: 'failed',
      reason: 'wrong_hardware',
      component: 'device-firmware',
      devices: [{ id: 'amp', state: 'failed', reason: 'wrong_hardware', detail: expect.stringContaining('loanet-amp-1') }],
    });
    // Not a byte of the image asked of the server, nothing written to the device, nothing kept on disk.
    expect(server.sent.get('amp.bin')).toBeUndefined();
    expect(server.ranges).toEqual([]);
    expect(storage.bytesWritten).toBe(0);
    const fwDir = path.join(dir, 'firmware');
    expect(fs.existsSync(fwDir) ? fs.readdirSync(fwDir) : []).toEqual([]);
    expect(await port.hello()).toMatchObject({ firmware: '1.0.0', fw: { state: 'confirmed' } });
    await u.stop();
  });
});

describe('committed update', () => {
  it('clears its start count once it has reached the server', async () => {
    await writeBootState(dir, { format: 1, committed: { slot: 'a', version: '1.3.0', starts: 3 } });
    let connected = false;
    const u = updater({ version: '1.3.0', slot: 'a', probes: { connected: () => connected } });
    await u.start();
    expect((await readBootState(dir, () => {}))?.committed.starts).toBe(3);
    connected = true;
    await waitFor('the count cleared', async () => (await readBootState(dir, () => {}))?.committed.starts === undefined);
    expect((await readBootState(dir, () => {}))?.committed).toEqual({ slot: 'a', version: '1.3.0' });
    await u.stop();
    // Or once it stayed up two minutes without a link (not a crash loop).
    await writeBootState(dir, { format: 1, committed: { slot: 'a', version: '1.3.0', starts: 2 } });
    const offline = updater({ version: '1.3.0', slot: 'a', probes: { connected: () => false } });
    await offline.start();
    clock += 121_000;
    await waitFor('the count cleared offline', async () => (await readBootState(dir, () => {}))?.committed.starts === undefined);
    await offline.stop();
  });
});
