/**
 * A device's firmware flash and bootloader, as MCUboot lays them out: two
 * slots, the image running in one; an update is written into the other,
 * identified by its SHA-256, resumable from what is already written; read
 * back and hashed before it may run; booted once as a test; kept only when
 * confirmed, and given up at the next reset otherwise (or at once, when the
 * image fails its own self-test at boot).
 *
 * Pure but for the storage it is given: the simulator's device process keeps
 * slots and state in files (flash-file.ts), unit tests in memory. Every state
 * change is saved before it is answered, and a chunk's bytes are written
 * before the count that says they are, so a power cut at any instant leaves
 * a state from which the transfer resumes and the device boots an image that
 * worked: at worst the last chunk is written twice, never counted unwritten.
 */
import { createHash } from 'node:crypto';
import { crc16CcittFalse, FW_CHUNK_MAX_BYTES, FW_MAX_IMAGE_BYTES, type DeviceFirmwareState } from '../protocol/device.ts';

export type Slot = 'a' | 'b';

export interface FirmwareImageMeta {
  sha256: string;
  size: number;
  version: string;
  hardware: string;
}

export interface FlashState {
  active: Slot;
  /** The version in the active slot. */
  version: string;
  /** Confirmed, or on its test boot (a reset now reverts). */
  confirmed: boolean;
  /** A verified image waits to be booted as a test at the next boot. */
  pendingTest: boolean;
  /** The confirmed version to go back to while testing, and the image on test (kept staged if it is given up). */
  previous: { slot: Slot; version: string; trial: FirmwareImageMeta } | null;
  reverted: { version: string; reason: 'self_test_failed' | 'not_confirmed' } | null;
  /** The image being written into the other slot. */
  staged: (FirmwareImageMeta & { written: number; verified: boolean }) | null;
  /**
   * What the flash programmed for the last image begun (kept after it boots): its bytes in all, and the
   * offsets programmed more than once (a resume that went back, a verify that started over, a bad cell).
   * Flash wears with every program; a test reads it to show that nothing was written twice. Absent in
   * a state saved before it existed.
   */
  programmed?: { sha256: string; bytes: number; end: number; again: number[] };
}

/** Where the slots and the state live: files on the simulated device, memory in unit tests. */
export interface FlashStorage {
  loadState(): FlashState | null;
  /** Atomic: after a power cut, either the old or the new state is read back. */
  saveState(s: FlashState): void;
  write(slot: Slot, offset: number, bytes: Uint8Array): void;
  read(slot: Slot, offset: number, length: number): Uint8Array;
}

export interface FlashOptions {
  /** The board's hardware id: an image built for another is refused before a byte is written. */
  hardware: string;
  /** Largest image a slot holds. */
  slotBytes?: number;
  /** The version on a new device's slot a. */
  factoryVersion: string;
  /** Whether an image passes the firmware's own self-test when it boots (fault injection). */
  selfTest?: (meta: FirmwareImageMeta) => boolean;
  /** Corrupt what is written at this offset of the staged image (fault injection: a bad flash cell), once. */
  badCellAt?: number;
}

export type FlashRefusal = { ok: false; code: string; message: string };
export type FlashAnswer<T> = ({ ok: true } & T) | FlashRefusal;

const refuse = (code: string, message: string): FlashRefusal => ({ ok: false, code, message });
const other = (s: Slot): Slot => (s === 'a' ? 'b' : 'a');

export class SimFlash {
  private state: FlashState;
  private badCellAt: number | undefined;

  constructor(
    private readonly storage: FlashStorage,
    private readonly o: FlashOptions,
  ) {
    this.state = storage.loadState() ?? { active: 'a', version: o.factoryVersion, confirmed: true, pendingTest: false, previous: null, reverted: null, staged: null };
    this.badCellAt = o.badCellAt;
  }

  get slotBytes(): number {
    return this.o.slotBytes ?? FW_MAX_IMAGE_BYTES;
  }

  /** The board's hardware id, the one an image must name. */
  get hardware(): string {
    return this.o.hardware;
  }

  /** The version running now. */
  get version(): string {
    return this.state.version;
  }

  info(): DeviceFirmwareState {
    const s = this.state;
    return {
      slot: s.active,
      state: s.confirmed ? 'confirmed' : 'testing',
      ...(s.reverted ? { reverted: { ...s.reverted } } : {}),
      ...(s.staged ? { staged: { sha256: s.staged.sha256, version: s.staged.version, size: s.staged.size, written: s.staged.written, verified: s.staged.verified } } : {}),
    };
  }

  /**
   * Start or resume writing `meta` into the slot not running. The same image
   * resumes where it stopped; another one starts over (its slot is reused).
   */
  begin(meta: FirmwareImageMeta): FlashAnswer<{ offset: number }> {
    const s = this.state;
    if (meta.hardware !== this.o.hardware) return refuse('wrong_hardware', `image for ${meta.hardware}; this device is ${this.o.hardware}`);
    if (meta.size > this.slotBytes) return refuse('too_large', `image of ${meta.size} bytes; a slot holds ${this.slotBytes}`);
    if (!s.confirmed) return refuse('testing', `version ${s.version} is on its test boot: confirm it or reset first`);
    if (s.staged && s.staged.sha256 === meta.sha256 && s.staged.size === meta.size) {
      // The same image: nothing already written is written again.
      if (s.reverted) this.save({ ...s, reverted: null });
      return { ok: true, offset: s.staged.written };
    }
    this.save({ ...s, pendingTest: false, reverted: null, staged: { ...meta, written: 0, verified: false } });
    return { ok: true, offset: 0 };
  }

  /** Write one chunk at the next offset, read it back, and count it. */
  chunk(offset: number, bytes: Uint8Array, crc: number): FlashAnswer<{ offset: number }> {
    const st = this.state.staged;
    if (!st) return refuse('no_transfer', 'no image begun: send fw_begin first');
    if (bytes.length === 0 || bytes.length > FW_CHUNK_MAX_BYTES) return refuse('bad_chunk', `chunk of ${bytes.length} bytes; 1..${FW_CHUNK_MAX_BYTES} allowed`);
    if (crc16CcittFalse(bytes) !== crc) return refuse('bad_crc', `chunk at ${offset}: CRC ${crc16CcittFalse(bytes)} of its bytes, not ${crc}`);
    if (offset !== st.written) return refuse('bad_offset', `chunk at ${offset}; the next expected is at ${st.written}`);
    if (offset + bytes.length > st.size) return refuse('bad_chunk', `chunk at ${offset} of ${bytes.length} bytes runs past the image's ${st.size}`);
    const slot = other(this.state.active);
    let written = bytes;
    if (this.badCellAt !== undefined && this.badCellAt >= offset && this.badCellAt < offset + bytes.length) {
      written = Uint8Array.from(bytes);
      written[this.badCellAt - offset]! ^= 0xff;
      this.badCellAt = undefined;
    }
    this.storage.write(slot, offset, written);
    const p = this.state.programmed?.sha256 === st.sha256 ? this.state.programmed : { sha256: st.sha256, bytes: 0, end: 0, again: [] };
    // Writes are sequential: an offset below the furthest end programmed is programmed again.
    const programmed = { sha256: st.sha256, bytes: p.bytes + bytes.length, end: Math.max(p.end, offset + bytes.length), again: offset < p.end ? [...p.again, offset] : p.again };
    // Verify after write: a cell that did not take the bytes is found now, not at boot.
    const back = this.storage.read(slot, offset, bytes.length);
    if (!equal(back, bytes)) {
      this.save({ ...this.state, programmed });
      return refuse('write_failed', `flash at ${offset} read back differs from what was written; send the chunk again`);
    }
    this.save({ ...this.state, programmed, staged: { ...st, written: offset + bytes.length, verified: false } });
    return { ok: true, offset: offset + bytes.length };
  }

  /** Hash the written image as read back from the slot. */
  verify(): FlashAnswer<{ sha256: string; verified: boolean }> {
    const st = this.state.staged;
    if (!st) return refuse('no_transfer', 'no image begun: send fw_begin first');
    if (st.written < st.size) return refuse('incomplete', `${st.written} of ${st.size} bytes written`);
    const slot = other(this.state.active);
    const h = createHash('sha256');
    for (let at = 0; at < st.size; at += 64 * 1024) h.update(this.storage.read(slot, at, Math.min(64 * 1024, st.size - at)));
    const sha256 = h.digest('hex');
    const verified = sha256 === st.sha256;
    // A mismatch starts the image over: its bytes cannot be trusted where they differ.
    this.save({ ...this.state, staged: verified ? { ...st, verified } : { ...st, written: 0, verified: false } });
    return { ok: true, sha256, verified };
  }

  /** Mark the verified image for a test boot; the caller reboots. */
  activate(): FlashAnswer<Record<never, never>> {
    const st = this.state.staged;
    if (!st?.verified) return refuse('not_verified', 'no verified image: fw_verify must pass first');
    this.save({ ...this.state, pendingTest: true });
    return { ok: true };
  }

  /** Keep the image on test for good. */
  confirm(): FlashAnswer<{ version: string }> {
    if (this.state.confirmed) return { ok: true, version: this.state.version };
    this.save({ ...this.state, confirmed: true, previous: null });
    return { ok: true, version: this.state.version };
  }

  /**
   * The bootloader, at every (re)boot: a test image not confirmed before this
   * reset is given up; an image marked for test runs, and is given up at once
   * if its self-test fails.
   */
  boot(): void {
    const s = this.state;
    if (!s.confirmed && s.previous) {
      // The image given up stays whole in its slot: activating it again needs no byte sent again.
      const kept = { ...s.previous.trial, written: s.previous.trial.size, verified: true };
      this.save({
        ...s,
        active: s.previous.slot,
        version: s.previous.version,
        confirmed: true,
        previous: null,
        staged: kept,
        reverted: { version: s.version, reason: 'not_confirmed' },
      });
      return;
    }
    if (!s.pendingTest || !s.staged?.verified) return;
    const { written: _w, verified: _v, ...image } = s.staged;
    const previous = { slot: s.active, version: s.version, trial: image };
    if (this.o.selfTest && !this.o.selfTest(image)) {
      this.save({ ...s, pendingTest: false, reverted: { version: image.version, reason: 'self_test_failed' } });
      return;
    }
    this.save({ ...s, active: other(s.active), version: image.version, confirmed: false, pendingTest: false, previous, reverted: null, staged: null });
  }

  private save(next: FlashState): void {
    this.storage.saveState(next);
    this.state = next;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Flash in memory (unit tests, and a simulated device that need not survive its process). */
export class MemoryFlashStorage implements FlashStorage {
  private readonly slots: Record<Slot, Uint8Array>;
  private state: FlashState | null = null;
  /** How many bytes were written to flash in all (a test's "nothing written twice"). */
  bytesWritten = 0;

  constructor(slotBytes = FW_MAX_IMAGE_BYTES) {
    this.slots = { a: new Uint8Array(slotBytes), b: new Uint8Array(slotBytes) };
  }

  loadState(): FlashState | null {
    return this.state ? structuredClone(this.state) : null;
  }

  saveState(s: FlashState): void {
    this.state = structuredClone(s);
  }

  write(slot: Slot, offset: number, bytes: Uint8Array): void {
    this.slots[slot].set(bytes, offset);
    this.bytesWritten += bytes.length;
  }

  read(slot: Slot, offset: number, length: number): Uint8Array {
    return this.slots[slot].slice(offset, offset + length);
  }
}
