/**
 * A device firmware update over TCP, the agent's driver (sim-driver.ts) to a
 * simulated device in its own process (`npm run device -- --flash DIR`),
 * whose power is cut with SIGKILL at every step of the exchange: after
 * fw_begin, in the middle of the chunks, after the last chunk before
 * fw_verify, after fw_verify before fw_activate, on the test boot before
 * fw_confirm, and after fw_confirm. The device always comes back on a
 * confirmed image (the old one until it confirmed the new); the transfer
 * resumes from the offset the device kept; no offset of the flash is
 * programmed twice (the simulated flash counts, firmware-sim/flash.ts
 * `programmed`); the update ends on the new image, confirmed.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SimDeviceDriver } from '../../edge-agent/devices/sim-driver.ts';
import { updateDeviceFirmware, type DeviceUpdateProgress, type FirmwareImage, type FirmwarePort } from '../../edge-agent/devices/firmware-update.ts';
import type { FlashState } from '../../firmware-sim/flash.ts';
import { deviceCli, ROOT, stopAllProcesses, stopProcess, type Proc } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';

const HW = 'loanet-amp-1';
const dirs: string[] = [];
const drivers: SimDeviceDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
  await stopAllProcesses();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function image(size: number, version: string): FirmwareImage {
  const bytes = randomBytes(size);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size, version, hardware: HW, read: (at, n) => bytes.subarray(at, at + n) };
}

/**
 * The village cluster's profile with a 1 s boot instead of its 20 s: the agent's wait for a rebooting device is
 * the same loop either way, and 20 s of real waiting per case made this file the suite's longest by far.
 */
let fastBootProfile: string | undefined;
function profileFile(): string {
  if (fastBootProfile) return fastBootProfile;
  const profile = JSON.parse(fs.readFileSync(path.join(ROOT, 'hardware/profiles/village-cluster-4g.json'), 'utf8')) as { board: { bootMs: number } };
  profile.board.bootMs = 1000;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-fast-boot-'));
  fastBootProfile = path.join(d, 'village-cluster-4g-fast-boot.json');
  fs.writeFileSync(fastBootProfile, JSON.stringify(profile));
  return fastBootProfile;
}

afterAll(() => {
  if (fastBootProfile) fs.rmSync(path.dirname(fastBootProfile), { recursive: true, force: true });
});

async function device(flash: string, port = 0): Promise<{ proc: Proc; port: number }> {
  const proc = deviceCli('--profile', profileFile(), '--port', String(port), '--host', '127.0.0.1', '--flash', flash, '--hardware', HW);
  const m = await proc.waitForLine(/listening on 127\.0\.0\.1:(\d+)/);
  return { proc, port: Number(m[1]) };
}

async function rig() {
  const flash = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-flash-'));
  dirs.push(flash);
  let dev = await device(flash);
  const driver = new SimDeviceDriver({ transport: { kind: 'tcp', host: '127.0.0.1', port: dev.port }, requestTimeoutMs: 3000, reconnect: { baseMs: 50, capMs: 300 } });
  drivers.push(driver);
  await driver.start();
  const progress: DeviceUpdateProgress[] = [];
  let cut: Promise<void> | undefined;
  return {
    driver,
    flash,
    progress,
    /** Pull the plug (SIGKILL) and power the device up again on its flash, same port. */
    powerCut() {
      cut ??= (async () => {
        await stopProcess(dev.proc, 'SIGKILL');
        dev = await device(flash, dev.port);
      })();
      return cut;
    },
    cutDone: () => cut,
    options: { sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 200))), linkRetries: 200, bootTimeoutMs: 60_000 },
  };
}

describe('device firmware update over TCP, with the power cut', () => {
  it('cut in the middle of the transfer: the device keeps its old image, the transfer resumes from what it wrote', async () => {
    const r = await rig();
    const img = image(64 * 1024, '2.0.0');
    let writtenAtCut = -1;
    const out = await updateDeviceFirmware(r.driver.firmware(), img, {
      ...r.options,
      onProgress: (p) => {
        r.progress.push(p);
        if (writtenAtCut < 0 && p.state === 'transferring' && p.written >= 24 * 1024) {
          writtenAtCut = p.written;
          void r.powerCut();
        }
      },
    });
    await r.cutDone();
    expect(out).toEqual({ ok: true, version: '2.0.0', written: img.size });
    // After the cut, no report went back further than the chunk in flight when the power went.
    const after = r.progress.slice(r.progress.findIndex((p) => p.written === writtenAtCut) + 1).filter((p) => p.state === 'transferring');
    expect(Math.min(...after.map((p) => p.written))).toBeGreaterThanOrEqual(writtenAtCut - 512);
    const hello = await r.driver.firmware().hello();
    expect(hello).toMatchObject({ firmware: '2.0.0', fw: { state: 'confirmed' } });
  });

  it('cut while the new image is on test: the device goes back to the old one; the next try activates it again without sending it', async () => {
    const r = await rig();
    const img = image(16 * 1024, '2.1.0');
    const port = r.driver.firmware();
    // The power goes after the device checked out fine on its test boot, just before the agent confirms it.
    const first = await updateDeviceFirmware({ ...port, confirm: async () => (await r.powerCut(), port.confirm()) }, img, r.options);
    expect(first).toMatchObject({ ok: false, reason: 'not_confirmed' });
    expect(await port.hello()).toMatchObject({ firmware: 'loanet-fw 1.4.0', fw: { state: 'confirmed', reverted: { version: '2.1.0', reason: 'not_confirmed' } } });
    const sent: number[] = [];
    const again = await updateDeviceFirmware(port, img, { ...r.options, onProgress: (p) => sent.push(p.written) });
    expect(again).toEqual({ ok: true, version: '2.1.0', written: img.size });
    // The image was whole in its slot: it began at its size, nothing sent again.
    expect(sent[0]).toBe(img.size);
    expect(await port.hello()).toMatchObject({ firmware: '2.1.0', fw: { state: 'confirmed' } });
  });
});

/** The device's flash state as the simulated device keeps it on disk (firmware-sim/flash-file.ts). */
function flashState(flash: string): FlashState {
  return JSON.parse(fs.readFileSync(path.join(flash, 'state.json'), 'utf8')) as FlashState;
}

const FACTORY_FW = 'loanet-fw 1.4.0';

interface CutStep {
  name: string;
  /** The port with the cut at this step: `cut()` pulls the plug and powers the device up again. */
  wrap(port: FirmwarePort, cut: () => Promise<void>, size: number): FirmwarePort;
  /** The version the device boots right after the cut (confirmed). */
  bootsNew: boolean;
  /** Whether the cut ends this try (the test boot given up): the next try activates the kept image again. */
  secondTry?: boolean;
}

/** Once: the first call that `when` accepts. */
function once<T>(when: (x: T) => boolean): (x: T) => boolean {
  let done = false;
  return (x) => !done && when(x) && (done = true);
}

const CUTS: CutStep[] = [
  {
    name: 'after fw_begin',
    bootsNew: false,
    wrap: (p, cut) => {
      const first = once(() => true);
      return {
        ...p,
        begin: async (img) => {
          const r = await p.begin(img);
          if (first(null)) await cut();
          return r;
        },
      };
    },
  },
  {
    name: 'in the middle of the chunks',
    bootsNew: false,
    wrap: (p, cut, size) => {
      const half = once((offset: number) => offset >= size / 2);
      return {
        ...p,
        chunk: async (o, d, c) => {
          const r = await p.chunk(o, d, c);
          if (half(r.offset)) await cut();
          return r;
        },
      };
    },
  },
  {
    name: 'after the last chunk, before fw_verify',
    bootsNew: false,
    wrap: (p, cut) => {
      const first = once(() => true);
      return {
        ...p,
        verify: async () => {
          if (first(null)) await cut();
          return p.verify();
        },
      };
    },
  },
  {
    name: 'after fw_verify, before fw_activate',
    bootsNew: false,
    wrap: (p, cut) => {
      const first = once(() => true);
      return {
        ...p,
        activate: async () => {
          if (first(null)) await cut();
          return p.activate();
        },
      };
    },
  },
  {
    name: 'on the test boot, before fw_confirm',
    bootsNew: false,
    secondTry: true,
    wrap: (p, cut) => {
      const first = once(() => true);
      return {
        ...p,
        confirm: async () => {
          if (first(null)) await cut();
          return p.confirm();
        },
      };
    },
  },
  {
    name: 'after fw_confirm',
    bootsNew: true,
    wrap: (p, cut) => {
      const first = once(() => true);
      return {
        ...p,
        confirm: async () => {
          const r = await p.confirm();
          if (first(null)) await cut();
          return r;
        },
      };
    },
  },
];

describe('device firmware update, the power cut at every step of the exchange', () => {
  it.each(CUTS.map((c) => [c.name, c] as const))('cut %s: boots a confirmed image, resumes by offset, writes nothing twice, ends confirmed', async (_, step) => {
    const r = await rig();
    const img = image(32 * 1024, '3.0.0');
    const port = r.driver.firmware();
    const sent: number[] = [];
    let sentAtCut = -1;
    let atCut: FlashState | undefined;
    let afterBoot: FlashState | undefined;
    const cut = async () => {
      sentAtCut = sent.length;
      await r.powerCut();
      atCut = flashState(r.flash);
      // What the device booted: its bootloader ran before it listened again.
      afterBoot = atCut;
    };
    // Chunks the device took (answered), and every offset a chunk was sent at.
    const tried: number[] = [];
    const counted: FirmwarePort = {
      ...port,
      chunk: async (o, d, c) => {
        tried.push(o);
        const answer = await port.chunk(o, d, c);
        sent.push(o);
        return answer;
      },
    };
    let out = await updateDeviceFirmware(step.wrap(counted, cut, img.size), img, r.options);
    expect(sentAtCut, 'the cut happened').toBeGreaterThanOrEqual(0);
    expect(afterBoot).toMatchObject({ confirmed: true, version: step.bootsNew ? '3.0.0' : FACTORY_FW });
    if (step.secondTry) {
      // The image on test was given up at the reset (never kept unconfirmed); the next try activates it again.
      expect(out).toMatchObject({ ok: false, reason: 'not_confirmed' });
      out = await updateDeviceFirmware(counted, img, r.options);
    }
    expect(out).toEqual({ ok: true, version: '3.0.0', written: img.size });
    // Resumed by offset: the first chunk taken after the cut is where the device's flash stood, and no chunk
    // was even sent below it (a chunk sent while the device was off is sent again at the same offset).
    const after = sent.slice(sentAtCut);
    if (after.length > 0) expect(after[0]).toBe(atCut!.staged?.written ?? 0);
    expect(Math.min(...tried.slice(tried.indexOf(after[0] ?? -1)))).toBeGreaterThanOrEqual(after[0] ?? 0);
    // Every offset of the image taken once, programmed once, and no more bytes than the image.
    expect(sent).toEqual(Array.from({ length: img.size / 512 }, (_, i) => i * 512));
    const fin = flashState(r.flash);
    expect(fin.programmed).toMatchObject({ sha256: img.sha256, bytes: img.size, again: [] });
    expect(fin).toMatchObject({ confirmed: true, version: '3.0.0', previous: null });
    // The driver finds the device again after its last power-up (the cut may have been the exchange's last word).
    const hello = await waitFor('the device answering', () => port.hello().catch(() => undefined), 30_000);
    expect(hello).toMatchObject({ firmware: '3.0.0', fw: { state: 'confirmed' } });
  });
});
