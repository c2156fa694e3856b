/**
 * The executor's playlist on disk, `stateDir/playlist.json` (state-file.ts:
 * durable, checksummed, with the previous good copy), so after a reboot with
 * the link down the agent still knows what to play, even if the newest copy
 * was torn. Without a stateDir nothing is kept.
 */
import { join } from 'node:path';
import { decodePlaylist, type PlaylistMessage } from '../../protocol/index.ts';
import { readStateFile, writeJsonAtomic } from '../state-file.ts';

export const PLAYLIST_FILE = 'playlist.json';

export class SavedPlaylist {
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly o: { stateDir?: string | undefined; siteId: string; log: { warn(m: string): void; error(m: string): void } }) {}

  /**
   * The newest copy, or the previous good one when the newest is torn.
   * `lost`: a copy was there and none could be used.
   */
  async load(): Promise<{ playlist: PlaylistMessage | null; lost: boolean }> {
    if (!this.o.stateDir) return { playlist: null, lost: false };
    const file = join(this.o.stateDir, PLAYLIST_FILE);
    const read = await readStateFile(file, 'saved playlist', (m) => this.o.log.warn(m));
    if (read.value === undefined) return { playlist: null, lost: read.damaged };
    const decoded = decodePlaylist.check(read.value);
    if (!decoded.ok || decoded.value.siteId !== this.o.siteId) {
      this.o.log.warn(`ignoring saved playlist ${file}: ${decoded.ok ? 'another site' : decoded.error.reason}`);
      return { playlist: null, lost: true };
    }
    return { playlist: decoded.value, lost: false };
  }

  /** Saves `msg` once `after` is done (what must be on disk before this playlist replaces the last); in the order called. */
  save(msg: PlaylistMessage, after: Promise<void>): Promise<void> {
    const dir = this.o.stateDir;
    if (!dir) return after;
    this.saving = this.saving.then(async () => {
      await after;
      try {
        await writeJsonAtomic(join(dir, PLAYLIST_FILE), msg);
      } catch (e) {
        this.o.log.error(`cannot save the playlist: ${(e as Error).message}`);
      }
    });
    return this.saving;
  }
}
