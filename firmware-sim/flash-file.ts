/**
 * The simulated device's flash on disk, so a killed device process (a power
 * cut) comes back with what it had written: one file per slot, written in
 * place and fsynced, and the bootloader state written to a temporary file,
 * fsynced and renamed over the old one (either the old or the new state is
 * read back, never half of one).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FlashState, FlashStorage, Slot } from './flash.ts';

export class FileFlashStorage implements FlashStorage {
  private readonly fds: Record<Slot, number>;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    const open = (s: Slot) => fs.openSync(path.join(dir, `slot-${s}.bin`), fs.existsSync(path.join(dir, `slot-${s}.bin`)) ? 'r+' : 'w+');
    this.fds = { a: open('a'), b: open('b') };
  }

  loadState(): FlashState | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, 'state.json'), 'utf8')) as FlashState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  saveState(s: FlashState): void {
    const tmp = path.join(this.dir, 'state.json.tmp');
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(s));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, 'state.json'));
  }

  write(slot: Slot, offset: number, bytes: Uint8Array): void {
    fs.writeSync(this.fds[slot], bytes, 0, bytes.length, offset);
    fs.fsyncSync(this.fds[slot]);
  }

  read(slot: Slot, offset: number, length: number): Uint8Array {
    const out = Buffer.alloc(length);
    const n = fs.readSync(this.fds[slot], out, 0, length, offset);
    return out.subarray(0, n).length === length ? out : Buffer.concat([out.subarray(0, n), Buffer.alloc(length - n)]);
  }

  close(): void {
    fs.closeSync(this.fds.a);
    fs.closeSync(this.fds.b);
  }
}
