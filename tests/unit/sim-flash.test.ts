/**
 * The simulated device's firmware update (firmware-sim/flash.ts through the
 * device protocol's fw_* requests): resumable transfer by offset, CRC per
 * chunk, verify after write, test boot confirmed or reverted, and a power cut
 * at any step leaves a device running a confirmed image that resumes the
 * transfer without writing a byte twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadProfile, type DeviceProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { MemoryFlashStorage, SimFlash, type FlashOptions } from '../../firmware-sim/flash.ts';
import { crc16CcittFalse, encodeDeviceFrame, FW_CHUNK_MAX_BYTES, type DeviceReply, type DeviceRequest } from '../../protocol/index.ts';

const HW = 'loanet-amp-1';
let profile: DeviceProfile;
beforeAll(async () => {
  profile = await loadProfile('village-cluster-4g');
});

function image(size: number, version = '2.0.0') {
  const bytes = randomBytes(size);
  return { bytes, meta: { sha256: createHash('sha256').update(bytes).digest('hex'), size, version, hardware: HW } };
}

/** A device on a hand-driven clock over a flash whose storage outlives the device (the power cut). */
function rig(storage = new MemoryFlashStorage(1024 * 1024), opts: Partial<FlashOptions> = {}) {
  let t = 1_700_000_000_000;
  const make = () => new SimDevice(profile, { now: () => t, seed: 1, flash: new SimFlash(storage, { hardware: HW, factoryVersion: '1.0.0', ...opts }) });
  let device = make();
  const ask = (req: DeviceRequest): DeviceReply => {
    const out = device.handle(req);
    if (!out) throw new Error(`device dark on ${req.type}`);
    return out.reply;
  };
  const hello = () => {
    t += profile.board.bootMs + 1;
    const r = ask({ type: 'hello' });
    if (!r.ok || r.op !== 'hello') throw new Error('hello refused');
    return r.result;
  };
  return {
    storage,
    ask,
    hello,
    powerCut: () => {
      device = make();
      t += profile.board.bootMs + 1;
    },
    send(img: ReturnType<typeof image>, from: number, to = img.meta.size) {
      for (let at = from; at < to; at += FW_CHUNK_MAX_BYTES) {
        const chunk = img.bytes.subarray(at, Math.min(at + FW_CHUNK_MAX_BYTES, to));
        const r = ask({ type: 'fw_chunk', offset: at, data: Buffer.from(chunk).toString('base64'), crc: crc16CcittFalse(chunk) });
        expect(r).toMatchObject({ ok: true, result: { offset: at + chunk.length } });
      }
    },
  };
}

const okResult = (r: DeviceReply) => {
  if (!r.ok) throw new Error(`${r.op} refused: ${r.error.code} ${r.error.message}`);
  return r.result as Record<string, unknown>;
};

describe('firmware update of a simulated device', () => {
  it('writes, verifies, test-boots and keeps a confirmed image, reported in hello', () => {
    const r = rig();
    const img = image(5000);
    expect(r.hello()).toMatchObject({ firmware: '1.0.0', fw: { slot: 'a', state: 'confirmed' } });
    expect(okResult(r.ask({ type: 'fw_begin', ...img.meta }))).toEqual({ offset: 0 });
    r.send(img, 0);
    expect(okResult(r.ask({ type: 'fw_verify' }))).toEqual({ ok: true, sha256: img.meta.sha256 });
    okResult(r.ask({ type: 'fw_activate' }));
    expect(r.hello()).toMatchObject({ firmware: '2.0.0', fw: { slot: 'b', state: 'testing' } });
    expect(okResult(r.ask({ type: 'fw_confirm' }))).toEqual({ version: '2.0.0' });
    r.powerCut();
    expect(r.hello()).toMatchObject({ firmware: '2.0.0', fw: { slot: 'b', state: 'confirmed' } });
    expect(r.storage.bytesWritten).toBe(5000);
  });

  it('a chunk fits one device frame at the largest size', () => {
    const chunk = randomBytes(FW_CHUNK_MAX_BYTES);
    expect(() => encodeDeviceFrame(255, { type: 'fw_chunk', offset: 4 * 1024 * 1024 - 1, data: chunk.toString('base64'), crc: 0xffff })).not.toThrow();
  });

  it('resumes after a power cut where it stopped, writing nothing twice', () => {
    const r = rig();
    const img = image(10_000);
    okResult(r.ask({ type: 'fw_begin', ...img.meta }));
    r.send(img, 0, 4 * FW_CHUNK_MAX_BYTES);
    r.powerCut();
    expect(r.hello()).toMatchObject({ firmware: '1.0.0', fw: { state: 'confirmed', staged: { sha256: img.meta.sha256, written: 4 * FW_CHUNK_MAX_BYTES, verified: false } } });
    expect(okResult(r.ask({ type: 'fw_begin', ...img.meta }))).toEqual({ offset: 4 * FW_CHUNK_MAX_BYTES });
    r.send(img, 4 * FW_CHUNK_MAX_BYTES);
    expect(okResult(r.ask({ type: 'fw_verify' }))).toMatchObject({ ok: true });
    expect(r.storage.bytesWritten).toBe(10_000);
  });

  it('a power cut at every step leaves a confirmed image running, and the update completes from there', () => {
    const img = image(3 * FW_CHUNK_MAX_BYTES + 100);
    const steps = ['begin', 'chunk0', 'chunk1', 'chunk2', 'chunk3', 'verify', 'activate', 'confirm'] as const;
    for (let cut = 0; cut <= steps.length; cut++) {
      const r = rig();
      const run = (step: (typeof steps)[number]) => {
        if (step === 'begin') okResult(r.ask({ type: 'fw_begin', ...img.meta }));
        else if (step.startsWith('chunk')) {
          const at = Number(step.slice(5)) * FW_CHUNK_MAX_BYTES;
          r.send(img, at, Math.min(at + FW_CHUNK_MAX_BYTES, img.meta.size));
        } else if (step === 'verify') okResult(r.ask({ type: 'fw_verify' }));
        else if (step === 'activate') {
          okResult(r.ask({ type: 'fw_activate' }));
          r.hello();
        } else okResult(r.ask({ type: 'fw_confirm' }));
      };
      steps.slice(0, cut).forEach(run);
      r.powerCut();
      const after = r.hello();
      // Never a device on an unconfirmed image after a reset: either the old one, or the new one confirmed.
      expect(after.fw?.state, `cut after ${cut} steps`).toBe('confirmed');
      expect(after.firmware, `cut after ${cut} steps`).toBe(cut === steps.length ? '2.0.0' : '1.0.0');
      if (cut === steps.length) continue;
      // An agent resumes: begin answers what is written, the rest follows.
      const { offset } = okResult(r.ask({ type: 'fw_begin', ...img.meta })) as { offset: number };
      r.send(img, offset);
      expect(okResult(r.ask({ type: 'fw_verify' }))).toMatchObject({ ok: true });
      okResult(r.ask({ type: 'fw_activate' }));
      expect(r.hello()).toMatchObject({ firmware: '2.0.0', fw: { state: 'testing' } });
      okResult(r.ask({ type: 'fw_confirm' }));
      expect(r.storage.bytesWritten, `cut after ${cut} steps`).toBe(img.meta.size);
    }
  });

  it('says in hello the hardware id its flash takes images for; one given to the device is said instead; without a flash, its profile name', () => {
    expect(rig().hello()).toMatchObject({ hardware: HW });
    expect(new SimDevice(profile, { seed: 1, hardware: 'loanet-amp-2' }).handle({ type: 'hello' })?.reply).toMatchObject({ ok: true, result: { hardware: 'loanet-amp-2' } });
    expect(new SimDevice(profile, { seed: 1 }).handle({ type: 'hello' })?.reply).toMatchObject({ ok: true, result: { hardware: profile.name } });
  });

  it('refuses an image for other hardware, or too large, before writing a byte', () => {
    const r = rig(new MemoryFlashStorage(64 * 1024), { slotBytes: 64 * 1024 });
    const img = image(1000);
    expect(r.ask({ type: 'fw_begin', ...img.meta, hardware: 'other-board' })).toMatchObject({ ok: false, error: { code: 'wrong_hardware' } });
    expect(r.ask({ type: 'fw_begin', ...img.meta, size: 2 * 1024 * 1024 })).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(r.ask({ type: 'fw_chunk', offset: 0, data: 'AAAA', crc: crc16CcittFalse(Buffer.from('AAAA', 'base64')) })).toMatchObject({ ok: false, error: { code: 'no_transfer' } });
    expect(r.storage.bytesWritten).toBe(0);
  });

  it('refuses a corrupted chunk, a chunk out of order and text that is not base64, and takes the chunk sent again', () => {
    const r = rig();
    const img = image(2000);
    okResult(r.ask({ type: 'fw_begin', ...img.meta }));
    const chunk = img.bytes.subarray(0, FW_CHUNK_MAX_BYTES);
    const bent = Buffer.from(chunk);
    bent[7]! ^= 0x10;
    expect(r.ask({ type: 'fw_chunk', offset: 0, data: bent.toString('base64'), crc: crc16CcittFalse(chunk) })).toMatchObject({ ok: false, error: { code: 'bad_crc' } });
    expect(r.ask({ type: 'fw_chunk', offset: FW_CHUNK_MAX_BYTES, data: chunk.toString('base64'), crc: crc16CcittFalse(chunk) })).toMatchObject({
      ok: false,
      error: { code: 'bad_offset' },
    });
    expect(r.ask({ type: 'fw_chunk', offset: 0, data: 'not base64!', crc: 0 })).toMatchObject({ ok: false, error: { code: 'bad_chunk' } });
    expect(r.storage.bytesWritten).toBe(0);
    r.send(img, 0);
    expect(okResult(r.ask({ type: 'fw_verify' }))).toMatchObject({ ok: true });
  });

  it('reads back each chunk: a cell that did not take the bytes is refused at once and the chunk is sent again', () => {
    const r = rig(new MemoryFlashStorage(1024 * 1024), { badCellAt: 700 });
    const img = image(2000);
    okResult(r.ask({ type: 'fw_begin', ...img.meta }));
    r.send(img, 0, FW_CHUNK_MAX_BYTES);
    const second = img.bytes.subarray(FW_CHUNK_MAX_BYTES, 2 * FW_CHUNK_MAX_BYTES);
    expect(r.ask({ type: 'fw_chunk', offset: FW_CHUNK_MAX_BYTES, data: Buffer.from(second).toString('base64'), crc: crc16CcittFalse(second) })).toMatchObject({
      ok: false,
      error: { code: 'write_failed' },
    });
    r.send(img, FW_CHUNK_MAX_BYTES);
    expect(okResult(r.ask({ type: 'fw_verify' }))).toMatchObject({ ok: true });
  });

  it('an image whose bytes do not hash to its SHA-256 is not verified, cannot be activated, and starts over', () => {
    const r = rig();
    const img = image(1500);
    const liar = { ...img, meta: { ...img.meta, sha256: 'f'.repeat(64) } };
    okResult(r.ask({ type: 'fw_begin', ...liar.meta }));
    r.send(liar, 0);
    expect(okResult(r.ask({ type: 'fw_verify' }))).toEqual({ ok: false, sha256: img.meta.sha256 });
    expect(r.ask({ type: 'fw_activate' })).toMatchObject({ ok: false, error: { code: 'not_verified' } });
    expect(okResult(r.ask({ type: 'fw_begin', ...liar.meta }))).toEqual({ offset: 0 });
    expect(r.hello()).toMatchObject({ firmware: '1.0.0' });
  });

  it('an image that fails its self-test at boot is given up at once, and says why', () => {
    const r = rig(new MemoryFlashStorage(1024 * 1024), { selfTest: (m) => m.version !== '2.0.0' });
    const img = image(1200);
    okResult(r.ask({ type: 'fw_begin', ...img.meta }));
    r.send(img, 0);
    okResult(r.ask({ type: 'fw_verify' }));
    okResult(r.ask({ type: 'fw_activate' }));
    expect(r.hello()).toMatchObject({ firmware: '1.0.0', fw: { slot: 'a', state: 'confirmed', reverted: { version: '2.0.0', reason: 'self_test_failed' } } });
  });

  it('a test image not confirmed before a reset is reverted, and a new transfer may not start while testing', () => {
    const r = rig();
    const img = image(800);
    okResult(r.ask({ type: 'fw_begin', ...img.meta }));
    r.send(img, 0);
    okResult(r.ask({ type: 'fw_verify' }));
    okResult(r.ask({ type: 'fw_activate' }));
    expect(r.hello()).toMatchObject({ firmware: '2.0.0', fw: { state: 'testing' } });
    expect(r.ask({ type: 'fw_begin', ...image(900, '3.0.0').meta })).toMatchObject({ ok: false, error: { code: 'testing' } });
    okResult(r.ask({ type: 'reboot' }));
    expect(r.hello()).toMatchObject({ firmware: '1.0.0', fw: { slot: 'a', state: 'confirmed', reverted: { version: '2.0.0', reason: 'not_confirmed' } } });
    // Still whole in its slot: activated again without a byte sent again.
    expect(okResult(r.ask({ type: 'fw_begin', ...img.meta }))).toEqual({ offset: 800 });
    okResult(r.ask({ type: 'fw_activate' }));
    expect(r.hello()).toMatchObject({ firmware: '2.0.0', fw: { state: 'testing' } });
    expect(r.storage.bytesWritten).toBe(800);
  });

  it('a device without an updatable flash says so', () => {
    let t = 0;
    const d = new SimDevice(profile, { now: () => t });
    t += profile.board.bootMs + 1;
    expect(d.handle({ type: 'fw_verify' })?.reply).toMatchObject({ ok: false, error: { code: 'not_updatable' } });
    expect(d.handle({ type: 'hello' })?.reply).not.toHaveProperty('result.fw');
  });
});
