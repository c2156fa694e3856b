/**
 * A device firmware update over TCP, the agent's driver (sim-driver.ts) to a
 * simulated device in its own process (`npm run device -- --flash DIR`),
 * whose power is cut with SIGKILL: in the middle of the transfer, and while
 * the new image is on its test boot. The device always comes back on a
 * confirmed image; the transfer resumes where it stopped; the update ends
 * on the new image, confirmed.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimDeviceDriver } from '../../edge-agent/devices/sim-driver.ts';
import { updateDeviceFirmware, type DeviceUpdateProgress, type FirmwareImage } from '../../edge-agent/devices/firmware-update.ts';
import { deviceCli, stopAllProcesses, stopProcess, type Proc } from '../helpers/process.ts';

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

async function device(flash: string, port = 0): Promise<{ proc: Proc; port: number }> {
  const proc = deviceCli('--profile', 'village-cluster-4g', '--port', String(port), '--host', '127.0.0.1', '--flash', flash, '--hardware', HW);
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
