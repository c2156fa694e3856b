/**
 * Updating the firmware of a device behind the agent (amplifier controller,
 * line-supervision board) through the device protocol's fw_* requests
 * (hardware/device-protocol.md, "Firmware update"). What the agent decides:
 * where to resume, what to send again and how often, when the device has
 * come back on its test image, whether it works well enough to keep it, and
 * how to say where it stands (ThingsBoard's states, per device).
 *
 * The device keeps what matters across a power cut (the bytes written, the
 * slot it boots); the agent keeps nothing of its own: after its own restart
 * it asks the device (`hello`, `fw_begin`) and carries on from there. Nothing
 * here touches a socket: the port is the driver's (sim-driver.ts), or the
 * simulated device itself in tests.
 */
import { crc16CcittFalse, FW_CHUNK_MAX_BYTES, type DeviceFirmwareState } from '../../protocol/device.ts';
import { DeviceError } from './gateway.ts';

export interface FirmwareImage {
  sha256: string;
  size: number;
  version: string;
  hardware: string;
  /** Bytes [offset, offset + length) of the image (already verified against sha256 by whoever downloaded it). */
  read(offset: number, length: number): Uint8Array;
}

/** The fw_* requests of one device (a refusal throws DeviceError with the device's code). */
export interface FirmwarePort {
  hello(): Promise<{ firmware: string; fw?: DeviceFirmwareState }>;
  begin(image: Omit<FirmwareImage, 'read'>): Promise<{ offset: number }>;
  chunk(offset: number, data: string, crc: number): Promise<{ offset: number }>;
  verify(): Promise<{ ok: boolean; sha256: string }>;
  activate(): Promise<void>;
  confirm(): Promise<{ version: string }>;
  /** A reset: a test image not yet confirmed is given up. */
  reboot(): Promise<void>;
  /** Whether the device on its new image works: why not, or null. (Status answered, no new fault; a tone heard where a microphone is.) */
  health(): Promise<string | null>;
}

export type DeviceUpdateState = 'transferring' | 'verifying' | 'testing' | 'updated' | 'failed';

export interface DeviceUpdateProgress {
  state: DeviceUpdateState;
  version: string;
  written: number;
  size: number;
  /** Why it failed (stable code), when state is failed. */
  reason?: string;
  detail?: string;
}

export interface UpdateOptions {
  onProgress?: (p: DeviceUpdateProgress) => void;
  /** How often one chunk is sent again after a refusal or a lost answer before the update fails. */
  chunkRetries?: number;
  /** How many times in all the device may drop out (a lost answer, a reboot) before the update fails. */
  linkRetries?: number;
  /** How long the device may take to come back after fw_activate, ms. */
  bootTimeoutMs?: number;
  /** Waits between polls of a rebooting device; real timers in the agent, a fake clock's advance in tests. */
  sleep: (ms: number) => Promise<void>;
}

export type UpdateOutcome = { ok: true; version: string; written: number } | { ok: false; reason: string; detail: string; written: number };

/** Device codes that mean "send this chunk again". */
const RESEND = new Set(['bad_crc', 'write_failed', 'device_unreachable', 'device_busy']);

/**
 * Bring the device to `image`, from wherever it stands: already there, half
 * written, written but not verified, on test. Answers how it ended; never
 * throws for what the device says.
 */
export async function updateDeviceFirmware(port: FirmwarePort, image: FirmwareImage, o: UpdateOptions): Promise<UpdateOutcome> {
  const chunkRetries = o.chunkRetries ?? 5;
  let linkRetries = o.linkRetries ?? 10;
  let written = 0;
  const report = (state: DeviceUpdateState, extra: Partial<DeviceUpdateProgress> = {}) => o.onProgress?.({ state, version: image.version, written, size: image.size, ...extra });
  const fail = (reason: string, detail: string): UpdateOutcome => {
    report('failed', { reason, detail });
    return { ok: false, reason, detail, written };
  };
  const codeOf = (e: unknown) => (e instanceof DeviceError ? e.code : 'error');
  const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

  const hello = await retrying(() => port.hello());
  if ('error' in hello) return fail(hello.error.code, hello.error.message);
  const { firmware, fw } = hello.value;
  if (!fw) return fail('not_updatable', `the device (firmware ${firmware}) does not take firmware updates`);
  if (firmware === image.version && fw.state === 'confirmed') {
    written = image.size;
    report('updated');
    return { ok: true, version: firmware, written };
  }
  // An agent restarted while the device was on its test boot: check it and decide, nothing to send.
  if (firmware === image.version && fw.state === 'testing') return settle();

  let begun = await retrying(() => port.begin(image));
  if ('error' in begun) return fail(begun.error.code, begun.error.message);
  written = begun.value.offset;
  report('transferring');
  let resends = 0;
  while (written < image.size) {
    const bytes = image.read(written, Math.min(FW_CHUNK_MAX_BYTES, image.size - written));
    try {
      written = (await port.chunk(written, Buffer.from(bytes).toString('base64'), crc16CcittFalse(bytes))).offset;
      resends = 0;
      report('transferring');
    } catch (e) {
      const code = codeOf(e);
      if (code === 'bad_offset' || code === 'no_transfer' || code === 'device_unreachable') {
        // Where does the device stand? (It rebooted, lost power, or took a chunk whose answer was lost.)
        if (--linkRetries < 0) return fail(code, `gave up after the device dropped out too often: ${messageOf(e)}`);
        begun = await retrying(() => port.begin(image));
        if ('error' in begun) return fail(begun.error.code, begun.error.message);
        written = begun.value.offset;
        continue;
      }
      if (!RESEND.has(code)) return fail(code, messageOf(e));
      if (++resends > chunkRetries) return fail(code, `chunk at ${written} refused ${resends} times: ${messageOf(e)}`);
    }
  }

  report('verifying');
  const v = await retrying(() => port.verify());
  if ('error' in v) return fail(v.error.code, v.error.message);
  if (!v.value.ok) return fail('verify_mismatch', `the device read back ${v.value.sha256}, not ${image.sha256}; it starts the image over`);
  const act = await retrying(() => port.activate());
  if ('error' in act) return fail(act.error.code, act.error.message);
  return settle();

  /** After fw_activate (or found on test): wait for the device, check it works, keep or give up the image. */
  async function settle(): Promise<UpdateOutcome> {
    report('testing');
    const back = await untilBack();
    if (!back) return fail('no_boot', `the device did not answer within ${o.bootTimeoutMs ?? 60_000} ms of its reboot`);
    if (back.firmware !== image.version || back.fw?.state !== 'testing') {
      const r = back.fw?.reverted;
      return fail(r?.reason ?? 'not_running', r ? `the device went back to ${back.firmware}: ${r.reason}` : `the device runs ${back.firmware}, not ${image.version}`);
    }
    const why = await port.health().catch((e: unknown) => `health check failed: ${messageOf(e)}`);
    if (why !== null) {
      // Reset: the device gives the image up and boots the old one.
      await port.reboot().catch(() => undefined);
      return fail('health_check_failed', why);
    }
    const c = await retrying(() => port.confirm());
    if ('error' in c) return fail(c.error.code, c.error.message);
    // A reset between the check and the confirm (a power cut) reverted it: the device confirms the old image it runs.
    if (c.value.version !== image.version) return fail('not_confirmed', `the device reset before the confirm and went back to ${c.value.version}`);
    written = image.size;
    report('updated');
    return { ok: true, version: c.value.version, written };
  }

  async function untilBack(): Promise<{ firmware: string; fw?: DeviceFirmwareState } | undefined> {
    const step = 500;
    for (let waited = 0; waited <= (o.bootTimeoutMs ?? 60_000); waited += step) {
      try {
        return await port.hello();
      } catch {
        await o.sleep(step);
      }
    }
    return undefined;
  }

  /** A request whose answer may be lost on the link: asked again (bounded by the link budget), else its error. */
  async function retrying<T>(f: () => Promise<T>): Promise<{ value: T } | { error: { code: string; message: string } }> {
    for (;;) {
      try {
        return { value: await f() };
      } catch (e) {
        if (codeOf(e) !== 'device_unreachable' || --linkRetries < 0) return { error: { code: codeOf(e), message: messageOf(e) } };
        await o.sleep(1000);
      }
    }
  }
}
