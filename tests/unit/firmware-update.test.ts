/**
 * The agent's device firmware update (edge-agent/devices/firmware-update.ts)
 * against the simulated device itself (firmware-sim/device.ts with its A/B
 * flash), on a hand-driven clock: lost answers, corrupted chunks, power cuts
 * and agent restarts mid-transfer, a failed self-test and a failed health
 * check. The device ends on a confirmed image every time, and no byte of the
 * image is written twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadProfile, type DeviceProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { MemoryFlashStorage, SimFlash, type FlashOptions } from '../../firmware-sim/flash.ts';
import { updateDeviceFirmware, type DeviceUpdateProgress, type FirmwareImage, type FirmwarePort } from '../../edge-agent/devices/firmware-update.ts';
import { DeviceError } from '../../edge-agent/devices/gateway.ts';
import { crc16CcittFalse, type DeviceRequest } from '../../protocol/index.ts';

const HW = 'loanet-amp-1';
let profile: DeviceProfile;
beforeAll(async () => {
  profile = await loadProfile('village-cluster-4g');
});

function image(size: number, version = '2.0.0'): FirmwareImage {
  const bytes = randomBytes(size);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size, version, hardware: HW, read: (at, n) => bytes.subarray(at, at + n) };
}

interface Faults {
  /** Called before each request reaches the device: may throw (the request is lost) or change it. */
  before?: (req: DeviceRequest, n: number) => DeviceRequest;
  /** Called after the device answered: may throw (the answer is lost). */
  after?: (req: DeviceRequest, n: number) => void;
}

/** A simulated device behind a port, its flash outliving it (power cuts), on a fake clock. */
function rig(flashOpts: Partial<FlashOptions> = {}, faults: Faults = {}) {
  let t = 1_700_000_000_000;
  const storage = new MemoryFlashStorage(1024 * 1024);
  const make = () => new SimDevice(profile, { now: () => t, seed: 3, flash: new SimFlash(storage, { hardware: HW, factoryVersion: '1.0.0', ...flashOpts }) });
  let device = make();
  let n = 0;
  const ask = async <T>(req: DeviceRequest): Promise<T> => {
    const i = n++;
    const sent = faults.before ? faults.before(req, i) : req;
    const out = device.handle(sent);
    if (!out) throw new DeviceError('device_unreachable', 'no answer (booting)');
    faults.after?.(req, i);
    if (!out.reply.ok) throw new DeviceError(out.reply.error.code, out.reply.error.message);
    return out.reply.result as T;
  };
  let healthy = true;
  const port: FirmwarePort = {
    hello: () => ask({ type: 'hello' }),
    begin: (img) => ask({ type: 'fw_begin', sha256: img.sha256, size: img.size, version: img.version, hardware: img.hardware }),
    chunk: (offset, data, crc) => ask({ type: 'fw_chunk', offset, data, crc }),
    verify: () => ask({ type: 'fw_verify' }),
    activate: () => ask({ type: 'fw_activate' }),
    confirm: () => ask({ type: 'fw_confirm' }),
    reboot: () => ask({ type: 'reboot' }),
    health: async () => {
      const s = await ask<{ amp: { fault: string } | null }>({ type: 'get_status' });
      return !healthy ? 'the amplifier does not answer on the new firmware' : s.amp?.fault === 'none' ? null : `amplifier fault ${s.amp?.fault}`;
    },
  };
  const progress: DeviceUpdateProgress[] = [];
  return {
    storage,
    port,
    progress,
    setHealthy: (h: boolean) => (healthy = h),
    powerCut: () => {
      device = make();
    },
    options: {
      onProgress: (p: DeviceUpdateProgress) => progress.push(p),
      sleep: async (ms: number) => {
        t += ms;
      },
    },
    hello: async () => {
      t += profile.board.bootMs + 1;
      return port.hello();
    },
  };
}

describe('updating a device through the agent', () => {
  it('sends, verifies, test-boots, checks and keeps the image, saying each state', async () => {
    const r = rig();
    const img = image(3000);
    const out = await updateDeviceFirmware(r.port, img, r.options);
    expect(out).toEqual({ ok: true, version: '2.0.0', written: 3000 });
    expect([...new Set(r.progress.map((p) => p.state))]).toEqual(['transferring', 'verifying', 'testing', 'updated']);
    expect(await r.hello()).toMatchObject({ firmware: '2.0.0', fw: { state: 'confirmed' } });
    expect(r.storage.bytesWritten).toBe(3000);
  });

  it('a device already on the version is left alone', async () => {
    const r = rig({ factoryVersion: '2.0.0' });
    expect(await updateDeviceFirmware(r.port, image(3000), r.options)).toMatchObject({ ok: true, version: '2.0.0' });
    expect(r.storage.bytesWritten).toBe(0);
  });

  it('answers lost on the link (the chunk was written) and corrupted chunks cost a resend, never a second write', async () => {
    const r = rig(
      {},
      {
        // Every fourth chunk's bytes bent on the way (the device's CRC check refuses them)...
        before: (req, n) =>
          req.type === 'fw_chunk' && n % 4 === 0 ? { ...req, data: Buffer.from(Buffer.from(req.data, 'base64').map((b, i) => (i === 3 ? b ^ 1 : b))).toString('base64') } : req,
        // ... and every fifth answer lost after the device took the chunk.
        after: (req, n) => {
          if (req.type === 'fw_chunk' && n % 5 === 0) throw new DeviceError('device_unreachable', 'answer lost');
        },
      },
    );
    const img = image(20 * 512 + 77);
    const out = await updateDeviceFirmware(r.port, img, { ...r.options, linkRetries: 50 });
    expect(out).toMatchObject({ ok: true, version: '2.0.0' });
    expect(r.storage.bytesWritten).toBe(img.size);
  });

  it('a power cut in the middle: the device boots its old image and the transfer resumes where it stopped', async () => {
    let cutAt = -1;
    const r = rig(
      {},
      {
        after: (req, n) => {
          if (req.type === 'fw_chunk' && cutAt < 0 && n > 6) {
            cutAt = n;
            r.powerCut();
            throw new DeviceError('device_unreachable', 'power cut');
          }
        },
      },
    );
    const img = image(12 * 512);
    const out = await updateDeviceFirmware(r.port, img, r.options);
    expect(cutAt).toBeGreaterThan(0);
    expect(out).toMatchObject({ ok: true, version: '2.0.0' });
    expect(r.storage.bytesWritten).toBe(img.size);
  });

  it('an agent that stops mid-transfer (killed) and starts again carries on from what the device has', async () => {
    let killed = false;
    const r = rig(
      {},
      {
        before: (req, n) => {
          if (!killed && req.type === 'fw_chunk' && n === 5) {
            killed = true;
            throw new DeviceError('agent_stopped', 'the agent process ended');
          }
          return req;
        },
      },
    );
    const img = image(10 * 512);
    expect(await updateDeviceFirmware(r.port, img, r.options)).toMatchObject({ ok: false, reason: 'agent_stopped' });
    const again = await updateDeviceFirmware(r.port, img, r.options);
    expect(again).toMatchObject({ ok: true, version: '2.0.0' });
    expect(r.storage.bytesWritten).toBe(img.size);
  });

  it('an agent restarted while the device is on test checks it and confirms it without sending anything', async () => {
    const r = rig();
    const img = image(2000);
    await r.port.begin(img);
    for (let at = 0; at < img.size; at += 512) {
      const b = img.read(at, Math.min(512, img.size - at));
      await r.port.chunk(at, Buffer.from(b).toString('base64'), crc16CcittFalse(b));
    }
    await r.port.verify();
    await r.port.activate();
    await r.hello();
    const before = r.storage.bytesWritten;
    expect(await updateDeviceFirmware(r.port, img, r.options)).toMatchObject({ ok: true, version: '2.0.0' });
    expect(r.storage.bytesWritten).toBe(before);
    expect(await r.hello()).toMatchObject({ fw: { state: 'confirmed' } });
  });

  it('an image that fails its self-test: failed with the reason, the device on its old image', async () => {
    const r = rig({ selfTest: (m) => m.version !== '2.0.0' });
    const out = await updateDeviceFirmware(r.port, image(1500), r.options);
    expect(out).toMatchObject({ ok: false, reason: 'self_test_failed' });
    expect(await r.hello()).toMatchObject({ firmware: '1.0.0', fw: { state: 'confirmed' } });
    expect(r.progress.at(-1)).toMatchObject({ state: 'failed', reason: 'self_test_failed' });
  });

  it('a device that boots but fails the health check is reset and goes back to its old image', async () => {
    const r = rig();
    r.setHealthy(false);
    const out = await updateDeviceFirmware(r.port, image(1500), r.options);
    expect(out).toMatchObject({ ok: false, reason: 'health_check_failed' });
    expect(await r.hello()).toMatchObject({ firmware: '1.0.0', fw: { state: 'confirmed', reverted: { reason: 'not_confirmed' } } });
  });

  it('an image for other hardware is refused before a byte is written', async () => {
    const r = rig();
    const out = await updateDeviceFirmware(r.port, { ...image(1500), hardware: 'other-board' }, r.options);
    expect(out).toMatchObject({ ok: false, reason: 'wrong_hardware', written: 0 });
    expect(r.storage.bytesWritten).toBe(0);
  });

  it('a device that cannot be updated says so', async () => {
    let t = 0;
    const device = new SimDevice(profile, { now: () => t });
    t += profile.board.bootMs + 1;
    const port = {
      hello: async () => (device.handle({ type: 'hello' })!.reply as { result: { firmware: string } }).result,
    } as FirmwarePort;
    expect(await updateDeviceFirmware(port, image(100), { sleep: async () => {} })).toMatchObject({ ok: false, reason: 'not_updatable' });
  });
});
