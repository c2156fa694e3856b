/**
 * Entries a newer playlist no longer holds that this agent held and neither
 * played nor settled (no receipt). The server drops an entry some minutes
 * after its window (server/schedule/distribution.ts KEEP_ENDED_MS), so an
 * agent back from a long outage may get a playlist without the entries it
 * missed while its start-up clock hold keeps it from deciding anything; each
 * still owes the server its receipt (playlist-executor.ts settles them once
 * the clock is verified, missed.ts says which).
 *
 * Kept in `stateDir/playlist-dropped.json` (state-file.ts: as durable and as
 * checked as the saved playlist) and written before the playlist that drops
 * them is saved: an agent that restarts again within the hold reloads the
 * newer playlist, which no longer names them, and only this file still does.
 * An entry leaves the file once its receipt is in the journal.
 *
 * Bounded: at most MAX_DROPPED entries, as many as one playlist may hold, so
 * the file is never larger than a saved playlist; past it (hostile or huge
 * playlists) the oldest by start are forgotten, and counted.
 */
import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { PlaylistEntryMessage, playlistEntryProblem } from '../../protocol/index.ts';
import { readStateFile, writeJsonAtomic } from '../state-file.ts';

export const DROPPED_FILE = 'playlist-dropped.json';
/** The most entries one playlist may hold (protocol/playlist.ts). */
export const MAX_DROPPED = 500;

export interface DroppedEntry {
  entry: PlaylistEntryMessage;
  /** The playlist version that held it (its receipt names it). */
  version: string;
  /** Server clock, when the agent first held it (missed.ts). */
  heldSince: number;
}

const checkEntry = TypeCompiler.Compile(PlaylistEntryMessage);

function isDropped(x: unknown): x is DroppedEntry {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return (
    typeof d.version === 'string' && typeof d.heldSince === 'number' && Number.isFinite(d.heldSince) && checkEntry.Check(d.entry) && playlistEntryProblem(d.entry) === undefined
  );
}

export class DroppedEntries {
  private readonly map = new Map<string, DroppedEntry>();
  /** Handed out by `due()` and not yet settled: still on disk, not handed out again. */
  private readonly taken = new Set<string>();
  private writing: Promise<void> = Promise.resolve();
  private changed = false;
  private overflow = 0;
  private readonly max: number;

  constructor(private readonly o: { stateDir?: string | undefined; max?: number; log: { warn(m: string): void; error(m: string): void } }) {
    this.max = o.max ?? MAX_DROPPED;
  }

  /** Entries forgotten because more than the cap waited for their receipt. */
  get forgotten(): number {
    return this.overflow;
  }

  /** Entries waiting to be settled (not handed out yet). */
  get waiting(): number {
    return this.map.size - this.taken.size;
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  /**
   * What the last run left unsettled that `owed` still says is owed a receipt;
   * a damaged file falls back to its previous copy (state-file.ts).
   */
  async load(owed: (id: string) => boolean): Promise<void> {
    if (!this.o.stateDir) return;
    const read = await readStateFile(join(this.o.stateDir, DROPPED_FILE), 'dropped playlist entries', (m) => this.o.log.warn(m));
    const list = (read.value as { entries?: unknown } | undefined)?.entries;
    if (!Array.isArray(list)) return;
    const good = list.filter(isDropped);
    if (good.length < list.length) this.o.log.warn(`ignoring ${list.length - good.length} unreadable entries of ${DROPPED_FILE}`);
    const owing = good.filter((d) => owed(d.entry.id));
    this.add(owing);
    if (owing.length < list.length) this.changed = true;
  }

  /** Keep these until settled; past the cap the oldest by start are forgotten. */
  add(list: readonly DroppedEntry[]): void {
    if (list.length === 0) return;
    for (const d of list) this.map.set(d.entry.id, d);
    this.changed = true;
    const over = this.map.size - this.max;
    if (over <= 0) return;
    const oldest = [...this.map.values()].sort((a, b) => a.entry.startAt - b.entry.startAt).slice(0, over);
    for (const d of oldest) this.remove(d.entry.id);
    this.overflow += over;
    this.o.log.warn(`${over} dropped playlist entries will get no receipt: more than ${this.max} waited for one (the oldest are forgotten)`);
  }

  /** Forget these: held again, or settled (their receipt is in the journal), or owed none. */
  delete(ids: Iterable<string>): void {
    for (const id of ids) if (this.remove(id)) this.changed = true;
  }

  /** These are settled (their receipt is in the journal, or they are owed none): off the disk. */
  settled(ids: Iterable<string>): Promise<void> {
    this.delete(ids);
    return this.persist();
  }

  /** Entries to settle now; they stay on disk until `settled()`. */
  due(): DroppedEntry[] {
    const out: DroppedEntry[] = [];
    for (const [id, d] of this.map) {
      if (this.taken.has(id)) continue;
      this.taken.add(id);
      out.push(d);
    }
    return out;
  }

  /**
   * Write what is kept now, if it changed; resolves once it is on disk (or
   * failed, which is logged: the entries are still settled while this run lasts).
   */
  persist(): Promise<void> {
    const dir = this.o.stateDir;
    if (!dir || !this.changed) return this.writing;
    this.changed = false;
    const snapshot = { v: 1, entries: [...this.map.values()] };
    this.writing = this.writing.then(async () => {
      try {
        await writeJsonAtomic(join(dir, DROPPED_FILE), snapshot);
      } catch (e) {
        this.o.log.error(`cannot save the dropped playlist entries: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }

  private remove(id: string): boolean {
    this.taken.delete(id);
    return this.map.delete(id);
  }
}
