/**
 * A device firmware order (`component: 'device-firmware'` on
 * `sites/{siteId}/update`, docs/updates.md "Device firmware"): the release
 * checked as for the agent, but against each device's own version, profile
 * and hardware id (as its hello says; a device of other hardware is failed
 * `wrong_hardware` before a byte of the image is fetched); its one image
 * fetched into the state folder the same way; then
 * each listed device brought to it through the device gateway
 * (edge-agent/devices/firmware-update.ts: resumable, verified, test boot
 * confirmed only when the device works), reported per device. Flashing waits
 * until nothing plays.
 *
 * The order itself (its report, update.json, the budget, cancelling) is the
 * updater's (updater.ts); this module is handed what it needs of it.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyRelease, verifyReleaseSignature, type ReleaseManifest, type TrustedKey } from '../../common/release.ts';
import { UPDATE_FAILURE_REASONS, type DeviceUpdateReport, type UpdateFailureReason, type UpdateOrder, type UpdateReport, type UpdateState } from '../../protocol/index.ts';
import { updateDeviceFirmware, type FirmwarePort } from '../devices/firmware-update.ts';
import { DeviceError } from '../devices/gateway.ts';
import { UpdateFailure, type DownloadBudget, type SignedRelease } from './download.ts';

/** The state folder's subfolder where a firmware image waits while devices take it. */
export const FIRMWARE_DIR = 'firmware';

/** What the updater lends a firmware order: its report, its waits, its fetch. */
export interface FirmwareOrderContext {
  order: UpdateOrder;
  budget: DownloadBudget;
  stateDir: string;
  signal: AbortSignal;
  trustedKeys: readonly TrustedKey[];
  /** The firmware requests of a device behind the agent; undefined when there is none that takes firmware. */
  firmwareOf: ((deviceId: string) => Promise<FirmwarePort | undefined>) | undefined;
  /** The order's manifest and signatures (download.ts fetchSignedRelease, with the order's budget and signal). */
  fetchSigned(): Promise<SignedRelease>;
  /** Resolves once nothing plays (the report says waiting_idle meanwhile); throws when the order is cancelled. */
  untilIdle(fields: Partial<UpdateReport>): Promise<void>;
  /** Waits (the updater's timers, ended by its stop). */
  sleep(ms: number): Promise<void>;
  /** A new state of the order: kept, sent as an event and in the next heartbeats. */
  change(state: UpdateState, fields?: Partial<UpdateReport>): void;
  /** Progress within a state: kept for the next heartbeat. */
  patch(fields: Partial<UpdateReport>): void;
  requestHeartbeat(): void;
}

/** Run a device firmware order to its end (updated, or failed per device); throws UpdateFailure for the order as a whole. */
export async function runFirmwareOrder(c: FirmwareOrderContext): Promise<void> {
  const { order, budget } = c;
  const ids = order.devices ?? [];
  if (ids.length === 0) throw new UpdateFailure('malformed', 'a device firmware order names no device');
  const ports = new Map<string, FirmwarePort>();
  const devices = new Map<string, DeviceUpdateReport>();
  const hellos = new Map<string, DeviceIdentity>();
  for (const id of ids) {
    const port = await c.firmwareOf?.(id);
    if (!port) {
      devices.set(id, { id, state: 'failed', reason: 'device_unreachable', detail: `no device ${id} that takes firmware behind this agent` });
      continue;
    }
    try {
      const h = await helloOnceBack(port, c.sleep);
      ports.set(id, port);
      hellos.set(id, identityOf(h));
      devices.set(id, { id, state: 'queued' });
    } catch (e) {
      devices.set(id, { id, state: 'failed', reason: 'device_unreachable', detail: (e as Error).message.slice(0, 300) });
    }
  }
  const show = () => [...devices.values()];
  c.change('downloading', { downloaded: budget.used, devices: show() });
  const { fetcher, manifestBytes, signatures } = await c.fetchSigned();
  // Each device is checked against its own version, profile and hardware id, before the image is fetched: a
  // device of other hardware would only refuse it at fw_begin, after the whole download. A device that says
  // no hardware (older firmware) is taken as the manifest's; it still checks the image itself at fw_begin.
  const built = manifestHardware(manifestBytes);
  let manifest: ReleaseManifest | undefined;
  for (const [id, h] of hellos) {
    const hardware = h.hardware ?? built;
    const verdict = verifyRelease(manifestBytes, signatures, c.trustedKeys, {
      component: 'device-firmware',
      version: h.firmware,
      ...(hardware ? { hardware } : {}),
      ...(h.profile ? { profile: h.profile } : {}),
    });
    if (verdict.ok) manifest = verdict.manifest;
    else if (verdict.code === 'same_version') {
      // The device already runs this version: this order brought it there before the agent's own power cut,
      // on its test boot (still to be checked and confirmed) or confirmed with the report lost. The signature
      // checked out (same_version is decided after it); updateDeviceFirmware confirms or reports it, sending nothing.
      const signed = verifyReleaseSignature(manifestBytes, signatures, c.trustedKeys);
      if (signed.ok) manifest = signed.manifest;
    } else if (['malformed', 'unsigned', 'unknown_key', 'bad_signature', 'wrong_component'].includes(verdict.code)) throw new UpdateFailure(verdict.code, verdict.reason);
    else if (verdict.code === 'wrong_target' && built !== undefined && hardware !== built) {
      // The signed manifest's hardware is checked first among its targets, so this refusal is the hardware's:
      // the device's own reason, as fw_begin would have said it.
      devices.set(id, { id, state: 'failed', reason: 'wrong_hardware', detail: `the image is for ${built}; device ${id} is ${hardware}`.slice(0, 300) });
      ports.delete(id);
    } else {
      devices.set(id, { id, state: 'failed', reason: verdict.code, detail: verdict.reason.slice(0, 300) });
      ports.delete(id);
    }
  }
  if (!manifest || ports.size === 0) return endFirmware(c, devices);
  if (manifest.version !== order.version) throw new UpdateFailure('manifest_mismatch', `the manifest is of ${manifest.version}, the order of ${order.version}`);
  if (manifest.files.length !== 1) throw new UpdateFailure('malformed', `a firmware release carries one image, not ${manifest.files.length} files`);
  const file = manifest.files[0]!;
  const dest = join(c.stateDir, FIRMWARE_DIR, `${file.sha256}.bin`);
  fetcher.onBytes = (_, onDisk) => c.patch({ bytes: onDisk, total: file.size, downloaded: budget.used });
  await fetcher.downloadFile(file, dest);
  c.change('downloaded', { bytes: file.size, total: file.size, downloaded: budget.used });
  c.change('verified');
  const bytes = await readFile(dest);
  const image = {
    sha256: file.sha256,
    size: file.size,
    version: manifest.version,
    hardware: manifest.target.hardware ?? '',
    read: (offset: number, length: number) => bytes.subarray(offset, offset + length),
  };
  await c.untilIdle({ devices: show() });
  c.change('installing', { devices: show() });
  for (const [id, port] of ports) {
    if (c.signal.aborted) throw new UpdateFailure('download_failed', 'cancelled');
    const outcome = await updateDeviceFirmware(port, image, {
      sleep: c.sleep,
      onProgress: (p) => {
        const state = p.state === 'transferring' ? 'installing' : p.state === 'verifying' ? 'verified' : p.state;
        devices.set(id, { id, state, bytes: p.written, ...(p.reason ? { reason: asReason(p.reason) } : {}), ...(p.detail ? { detail: p.detail.slice(0, 300) } : {}) });
        c.patch({ devices: show() });
      },
    });
    devices.set(
      id,
      outcome.ok
        ? { id, state: 'updated', bytes: outcome.written }
        : { id, state: 'failed', bytes: outcome.written, reason: asReason(outcome.reason), detail: outcome.detail.slice(0, 300) },
    );
    c.patch({ devices: show() });
    c.requestHeartbeat();
  }
  await rm(dest, { force: true });
  endFirmware(c, devices);
}

/** What a device's hello says of it that a release is checked against. */
interface DeviceIdentity {
  firmware: string;
  hardware?: string;
  profile?: string;
}

function identityOf(h: Awaited<ReturnType<FirmwarePort['hello']>> & { hardware?: string; profile?: string }): DeviceIdentity {
  return { firmware: h.firmware, ...(h.hardware ? { hardware: h.hardware } : {}), ...(h.profile ? { profile: h.profile } : {}) };
}

/** The hardware the manifest names, read before its signature is checked (verifyRelease checks it, and refuses a malformed one). */
function manifestHardware(manifestBytes: Uint8Array): string | undefined {
  try {
    const m = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as { target?: { hardware?: unknown } } | null;
    return typeof m?.target?.hardware === 'string' ? m.target.hardware : undefined;
  } catch {
    return undefined;
  }
}

/** How long a device may stay dark at the start of an order before it counts as unreachable (a reboot, as fw_activate's). */
export const DEVICE_BACK_WITHIN_MS = 60_000;
const HELLO_EVERY_MS = 1000;

/**
 * The device's hello, waiting while it does not answer: an agent whose own power was cut just after
 * fw_activate starts again while the device still boots its test image, and must find it (to check and
 * confirm it) rather than fail the order and leave the image unconfirmed.
 */
async function helloOnceBack(port: FirmwarePort, sleep: (ms: number) => Promise<void>): Promise<Awaited<ReturnType<FirmwarePort['hello']>>> {
  for (let waited = 0; ; waited += HELLO_EVERY_MS) {
    try {
      return await port.hello();
    } catch (e) {
      if (waited >= DEVICE_BACK_WITHIN_MS || (e instanceof DeviceError && e.code !== 'device_unreachable')) throw e;
      await sleep(HELLO_EVERY_MS);
    }
  }
}

function endFirmware(c: FirmwareOrderContext, devices: Map<string, DeviceUpdateReport>): void {
  const list = [...devices.values()];
  const failed = list.find((d) => d.state === 'failed');
  if (failed)
    c.change('failed', { reason: failed.reason ?? 'device_error', detail: `device ${failed.id}: ${failed.detail ?? failed.reason ?? 'failed'}`.slice(0, 300), devices: list });
  else c.change('updated', { devices: list });
}

function asReason(code: string): UpdateFailureReason {
  return (UPDATE_FAILURE_REASONS as readonly string[]).includes(code) ? (code as UpdateFailureReason) : 'device_error';
}
