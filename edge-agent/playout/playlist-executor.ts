/**
 * Plays the site's playlist (protocol/playlist.ts) from the media cache at
 * each entry's start time, whether or not the server is reachable, and writes
 * one as-run receipt per entry.
 *
 * - The playlist is kept in `stateDir/playlist.json` (saved-playlist.ts:
 *   durable, checksummed, with the previous good copy), so after a reboot
 *   with the link down the agent still knows what to play, even if the
 *   newest copy was torn.
 * - The media cache is told what the playlist needs (entries not yet over);
 *   it fetches what it lacks and evicts only what no entry needs.
 * - `prepareAheadMs` before an entry's start (longer than the amplifier lead),
 *   its file is opened from the cache and handed to the playout engine as a
 *   'bulletin' (or 'alert') programme at the entry's priority; the engine
 *   starts it on the server clock and switches the amplifier.
 * - An entry with parts (one programme in several languages) is one
 *   programme over a PartsSource (parts.ts): each part's file is fetched and
 *   opened, a part whose file comes into the cache late is attached before its
 *   turn, and the receipt says what became of each part.
 * - Receipts: played / late from the engine's 'ended', partial / skipped from
 *   'failed', and from here: skipped no_media (not in the cache at its start),
 *   expired / unknown for an entry it has no receipt for and will not play
 *   (missed.ts says which is true), cancelled (removed while
 *   playing, via the engine), and partial 'error' for an entry that was
 *   playing when the agent died (the journal's started mark), so a restart
 *   does not play it twice.
 * - An entry a newer playlist dropped after its window without a receipt
 *   here still gets one once the clock is verified, across restarts
 *   (dropped-entries.ts).
 */
import {
  PROTOCOL_VERSION,
  type AsRunEvent,
  type AsRunOutcome,
  type AsRunPart,
  type AsRunReason,
  type PlaylistEntryMessage,
  type PlaylistMessage,
  type PlaylistReport,
} from '../../protocol/index.ts';
import type { MediaCache, MediaRef } from '../media-cache/types.ts';
import type { EngineEvent, PlayoutEngineApi, ProgrammeSource } from './engine.ts';
import type { ReceiptJournal } from './receipts.ts';
import { receiptClock, type ClockState } from './clock-sync.ts';
import { missedVerdict, type MissedVerdict } from './missed.ts';
import { DroppedEntries, type DroppedEntry } from './dropped-entries.ts';
import { SavedPlaylist } from './saved-playlist.ts';
import { mediaRefsOf, partAsEntry, partsReceipt, PartsSource, receiptParts } from './parts.ts';

/** Frames decoded at hand-over (320 ms: more than any sink writes ahead at the start). */
const PRIME_FRAMES = 16;

export interface PlaylistExecutorOptions {
  siteId: string;
  engine: Pick<PlayoutEngineApi, 'add' | 'cancel' | 'on'>;
  /** The server clock as the agent estimates it. */
  serverNow: () => number;
  clockUncertaintyMs?: () => number | null;
  /**
   * The agent's clock as receipts and the start-up hold need it (agent.ts):
   * its state now; whether non-urgent entries may start ('hold' while a
   * just-started agent waits for the server's time with its link up); a check
   * of the clock before an entry starts; and one after it ended, which the
   * receipt waits for (bounded) so its times are checked against the best
   * clock known. Absent: the clock is taken as verified.
   */
  clock?: { state(): ClockState; gate(): 'ok' | 'hold'; check(): void; confirm(): Promise<void> };
  /** Absent: no cache (no HTTP URL configured), every entry is skipped no_media. */
  cache?: Pick<MediaCache, 'setNeeded' | 'has' | 'pathOf' | 'report' | 'verify'>;
  journal: ReceiptJournal;
  stateDir?: string;
  /** Builds a source from a cached file: Ogg Opus → decoder → frames (default in agent wiring). */
  openSource: (path: string, entry: PlaylistEntryMessage) => Promise<ProgrammeSource>;
  /** Hand an entry to the engine this long before its start (default 5 s; must exceed the amplifier lead, which may change once the device said its warm-up). */
  prepareAheadMs?: number | (() => number);
  log?: { info(message: string): void; warn(message: string): void; error(message: string): void };
}

export interface PlaylistExecutorStats {
  playlistsAccepted: number;
  playlistsUnchanged: number;
  playlistsRefused: number;
  programmesStarted: number;
  receipts: number;
  /** Dropped entries owed a receipt and forgotten: more than dropped-entries.ts keeps waited for one. */
  droppedForgotten: number;
}

type Handed = { entry: PlaylistEntryMessage; version: string; clockAtStart?: ClockState; parts?: PartsSource; late?: boolean };

type ReceiptFacts = {
  startedAt?: number;
  endedAt?: number;
  startErrorMs?: number;
  frames?: number;
  reason?: AsRunReason;
  detail?: string;
  clockAtStart?: ClockState | undefined;
  parts?: AsRunPart[];
};

export type AcceptResult = 'new' | 'unchanged' | 'stale' | 'wrong_site';

const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

export class PlaylistExecutor {
  private readonly o: PlaylistExecutorOptions;
  private readonly prepareAhead: () => number;
  private readonly log: NonNullable<PlaylistExecutorOptions['log']>;
  private playlist: PlaylistMessage | null = null;
  /** Entries handed to the engine (or being opened), until their receipt is written. */
  private readonly handed = new Map<string, Handed>();
  private readonly opening = new Set<string>();
  /** Parts of handed entries whose file is being opened (`entryId#index`). */
  private readonly openingParts = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Entries whose receipt waits for the clock check after their play (not to be handed again meanwhile). */
  private readonly settling = new Set<string>();
  /** Entries waiting for a verified clock were logged (once per hold). */
  private holdLogged = false;
  private readonly saved: SavedPlaylist;
  /** Server clock when this run started, when it first held each entry, and what state it lost (missed.ts). */
  private runStartedAt = 0;
  private readonly heldSince = new Map<string, number>();
  private journalLost = false;
  private playlistLost = false;
  private readonly dropped: DroppedEntries;
  private readonly counters = { playlistsAccepted: 0, playlistsUnchanged: 0, playlistsRefused: 0, programmesStarted: 0, receipts: 0 };

  constructor(o: PlaylistExecutorOptions) {
    this.o = o;
    const ahead = o.prepareAheadMs ?? 5000;
    this.prepareAhead = typeof ahead === 'function' ? ahead : () => ahead;
    this.log = o.log ?? { info: () => {}, warn: () => {}, error: () => {} };
    this.saved = new SavedPlaylist({ stateDir: o.stateDir, siteId: o.siteId, log: this.log });
    this.dropped = new DroppedEntries({ stateDir: o.stateDir, log: this.log });
  }

  get stats(): PlaylistExecutorStats {
    return { ...this.counters, droppedForgotten: this.dropped.forgotten };
  }

  get version(): string | null {
    return this.playlist?.version ?? null;
  }

  /** The entries of the playlist held (for the fleet runner, tests and the console). */
  heldEntries(): readonly PlaylistEntryMessage[] {
    return this.playlist?.entries ?? [];
  }

  /**
   * Load the saved playlist, settle entries a crash interrupted, and start the schedule.
   * `journalLost`: the agent ran before with this state folder and its receipt journal is gone or
   * damaged, so an entry due before now may have played: its receipt says unknown (missed.ts).
   */
  async start(o: { journalLost?: boolean } = {}): Promise<void> {
    this.runStartedAt = this.o.serverNow();
    this.journalLost = o.journalLost ?? false;
    this.unsubscribe = this.o.engine.on((e) => this.onEngineEvent(e));
    const loaded = await this.saved.load();
    this.playlist = loaded.playlist;
    this.playlistLost = loaded.lost;
    for (const e of this.playlist?.entries ?? []) this.heldSince.set(e.id, this.runStartedAt);
    // One the saved playlist holds again (saved before the playlist that dropped it) is played or settled from there.
    await this.dropped.load((id) => !this.heldSince.has(id) && !this.o.journal.has(id));
    for (const i of this.o.journal.interrupted()) {
      const entry = this.playlist?.entries.find((e) => e.id === i.entryId);
      if (!entry) continue;
      if (i.damaged) {
        // A torn journal line may have been its receipt: it may have played to the end. Not a guess either way.
        await this.receipt(entry, i.version ?? this.playlist!.version, 'unknown', {
          reason: 'state_lost',
          detail: 'it started playing before the agent stopped, and a damaged line of the receipt journal may have been its receipt',
        });
        continue;
      }
      await this.receipt(entry, i.version ?? this.playlist!.version, 'partial', {
        startedAt: i.startedAt,
        startErrorMs: i.startedAt - entry.startAt,
        reason: 'error',
        detail: 'the agent stopped (restart, crash or power loss) while this played',
      });
    }
    this.syncCache();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  /** A playlist from the broker (already decoded and validated). */
  async accept(msg: PlaylistMessage): Promise<AcceptResult> {
    if (msg.siteId !== this.o.siteId) {
      this.counters.playlistsRefused++;
      return 'wrong_site';
    }
    const current = this.playlist;
    if (current && current.version === msg.version) {
      this.counters.playlistsUnchanged++;
      return 'unchanged';
    }
    if (current && msg.at < current.at) {
      this.counters.playlistsRefused++;
      return 'stale';
    }
    this.playlist = msg;
    this.counters.playlistsAccepted++;
    const keep = new Set(msg.entries.map((e) => e.id));
    const now = this.o.serverNow();
    const ended: DroppedEntry[] = [];
    for (const e of current?.entries ?? []) {
      if (keep.has(e.id) || this.handed.has(e.id) || this.opening.has(e.id) || this.settling.has(e.id) || this.o.journal.has(e.id)) continue;
      // Still open when the server made this playlist (its own clock): withdrawn, owed no receipt.
      if (notAfterOf(e) >= msg.at) continue;
      ended.push({ entry: e, version: current!.version, heldSince: this.heldSince.get(e.id) ?? now });
    }
    this.dropped.delete(keep);
    this.dropped.add(ended);
    for (const id of [...this.heldSince.keys()]) if (!keep.has(id)) this.heldSince.delete(id);
    for (const id of keep) if (!this.heldSince.has(id)) this.heldSince.set(id, now);
    // An entry handed to the engine and no longer wanted is stopped; its receipt says cancelled.
    for (const id of [...this.handed.keys()]) if (!keep.has(id)) this.o.engine.cancel(id, 'cancelled', 'removed from the playlist');
    // The entries it drops are on disk before it replaces the playlist that named them.
    await this.saved.save(msg, this.dropped.persist());
    this.syncCache();
    this.tick();
    return 'new';
  }

  /** What the heartbeat says of the playlist (telemetry.playlist). */
  report(): PlaylistReport {
    const now = this.o.serverNow();
    const cache = this.o.cache?.report();
    let missing = 0;
    for (const e of this.upcoming(now)) if (mediaRefsOf(e).some((m) => !this.o.cache?.has(m.sha256))) missing++;
    return {
      version: this.playlist?.version ?? null,
      entries: this.playlist?.entries.length ?? 0,
      missing,
      cacheBytes: Math.max(0, Math.round(cache?.cacheBytes ?? 0)),
      cacheLimitBytes: Math.max(0, Math.round(cache?.limitBytes ?? 0)),
    };
  }

  // ------------------------------------------------------------- inside ----

  /** Entries not yet settled (no receipt, not handed) whose window is not over. */
  private upcoming(now: number): PlaylistEntryMessage[] {
    return (this.playlist?.entries ?? []).filter((e) => !this.o.journal.has(e.id) && notAfterOf(e) >= now);
  }

  private syncCache(): void {
    if (!this.o.cache) return;
    const now = this.o.serverNow();
    const needed = new Map<string, MediaRef>();
    for (const e of this.playlist?.entries ?? []) {
      if (this.o.journal.has(e.id) && !this.handed.has(e.id)) continue;
      if (endOf(e) < now && !this.handed.has(e.id)) continue;
      for (const m of mediaRefsOf(e)) needed.set(m.sha256, m);
    }
    this.o.cache.setNeeded([...needed.values()]);
  }

  private tick(): void {
    clearTimeout(this.timer);
    if (this.stopped || !this.playlist) return;
    const now = this.o.serverNow();
    const version = this.playlist.version;
    const prepareAheadMs = this.prepareAhead();
    const hold = this.o.clock?.gate() === 'hold';
    let held = 0;
    let wake = Infinity;
    if (this.attachLateParts()) wake = now + 250;
    if (this.dropped.waiting > 0) {
      if (hold) wake = Math.min(wake, now + 250);
      else this.settleDropped(now);
    }
    for (const entry of this.playlist.entries) {
      if (this.handed.has(entry.id) || this.opening.has(entry.id) || this.settling.has(entry.id) || this.o.journal.has(entry.id)) continue;
      // An unverified clock may be a minute off either way: neither start nor settle an entry by it; alerts never wait.
      if (hold && entry.kind !== 'alert' && entry.priority !== 'emergency') {
        held++;
        wake = Math.min(wake, now + 250);
        continue;
      }
      const missed = this.missed(entry, this.heldSince.get(entry.id) ?? now, now);
      if (missed) {
        void this.receipt(entry, version, missed.outcome, { reason: missed.reason, detail: missed.detail });
        continue;
      }
      if (now < entry.startAt - prepareAheadMs) {
        wake = Math.min(wake, entry.startAt - prepareAheadMs);
        continue;
      }
      if (entry.parts) {
        if (entry.parts.some((p) => this.o.cache?.pathOf(p.sha256))) void this.handParts(entry, version);
        else if (now >= entry.startAt)
          void this.receipt(entry, version, 'skipped', {
            reason: 'no_media',
            detail: `no version of it in the cache at start time (${entry.parts.map((p) => p.language).join(', ')})`,
          });
        else wake = Math.min(wake, now + 100);
        continue;
      }
      const path = this.o.cache?.pathOf(entry.sha256) ?? null;
      if (path) {
        void this.hand(entry, version, path);
      } else if (now >= entry.startAt) {
        void this.receipt(entry, version, 'skipped', { reason: 'no_media', detail: `media ${entry.mediaId} (${entry.sha256.slice(0, 12)}…) not in the cache at start time` });
      } else {
        wake = Math.min(wake, now + 100); // the download may finish before the start
      }
    }
    if (held > 0 && !this.holdLogged) this.log.info(`${held} entries wait for the server's time before playing (the clock is not verified yet)`);
    this.holdLogged = held > 0;
    if (wake === Infinity) wake = now + 60_000; // the playlist may gain entries; look again now and then
    this.timer = setTimeout(() => this.tick(), Math.max(10, Math.min(wake - now, 1000)));
    this.timer.unref();
  }

  /** The receipt owed for an entry it has no receipt for and will not play, or null (missed.ts). */
  private missed(entry: PlaylistEntryMessage, heldSince: number, now: number): MissedVerdict {
    const journalLost = this.journalLost || this.o.journal.mayHaveLost(entry.id, entry.startAt);
    return missedVerdict(
      { startAt: entry.startAt, notAfter: notAfterOf(entry) },
      { now, runStartedAt: this.runStartedAt, heldSince, journalLost, playlistLost: this.playlistLost },
    );
  }

  /** Entries a newer playlist dropped (dropped-entries.ts): their receipt when their window is over, else nothing (withdrawn). */
  private settleDropped(now: number): void {
    const settled = this.dropped.due().map(async ({ entry, version, heldSince }) => {
      const missed = this.o.journal.has(entry.id) ? null : this.missed(entry, heldSince, now);
      if (missed) await this.receipt(entry, version, missed.outcome, { reason: missed.reason, detail: missed.detail });
      // Kept on disk when its receipt could not be written: the next start settles it again.
      return !missed || this.o.journal.has(entry.id) ? entry.id : null;
    });
    void Promise.all(settled).then((ids) => this.dropped.settled(ids.filter((id) => id !== null)));
  }

  private async hand(entry: PlaylistEntryMessage, version: string, path: string): Promise<void> {
    this.opening.add(entry.id);
    this.o.clock?.check();
    // A file damaged on disk since it was verified is fetched again now (the cache drops it), not played as noise or skipped.
    if (this.o.cache?.verify && !(await this.o.cache.verify(entry.sha256).catch(() => true))) {
      this.opening.delete(entry.id);
      this.tick();
      return;
    }
    let source: ProgrammeSource;
    try {
      source = await this.o.openSource(path, entry);
    } catch (e) {
      this.opening.delete(entry.id);
      await this.receipt(entry, version, 'skipped', { reason: 'error', detail: `cannot read media ${entry.mediaId}: ${(e as Error).message}` });
      return;
    }
    this.opening.delete(entry.id);
    if (this.stopped || !this.playlist?.entries.some((e) => e.id === entry.id)) {
      source.close?.();
      return;
    }
    // Decode the first frames now, seconds ahead, so the write at the start instant costs no decoding
    // (a cold decoder on a slow board, or many agents in one simulator process, would start late).
    try {
      for (let i = 0; i < PRIME_FRAMES; i++) source.frame(i, entry.startAt + i * 20);
    } catch {
      /* a bad file shows when it plays: the engine fails it with its reason */
    }
    this.handed.set(entry.id, { entry, version });
    await this.add(entry, version, source);
  }

  private async add(entry: PlaylistEntryMessage, version: string, source: ProgrammeSource): Promise<void> {
    const repeats = entry.repeats ?? 1;
    const r = this.o.engine.add({
      id: entry.id,
      kind: entry.kind,
      priority: entry.priority,
      startAt: entry.startAt,
      // A bulletin interrupted by an alert continues after it, as long as it is still wanted.
      whenPreempted: 'resume',
      durationMs: entry.durationMs * repeats,
      notAfter: notAfterOf(entry),
      source,
      ...(entry.volume !== undefined ? { volume: entry.volume } : {}),
    });
    if (!r.ok) {
      this.handed.delete(entry.id);
      source.close?.();
      if (r.reason === 'expired') await this.receipt(entry, version, 'skipped', { reason: 'expired', detail: r.detail });
      else this.log.warn(`entry ${entry.id} not played: ${r.detail}`);
    }
  }

  /** An entry with parts: one programme over the parts whose files are in the cache now; the others may still come before their turn. */
  private async handParts(entry: PlaylistEntryMessage, version: string): Promise<void> {
    const parts = entry.parts ?? [];
    this.opening.add(entry.id);
    this.o.clock?.check();
    const source = new PartsSource(parts.length, entry.repeats ?? 1);
    await Promise.all(parts.map((_, i) => this.openPart(entry, source, i)));
    this.opening.delete(entry.id);
    if (this.stopped || !this.playlist?.entries.some((e) => e.id === entry.id)) {
      source.close();
      return;
    }
    if (!parts.some((_, i) => source.has(i))) {
      source.close();
      // Files damaged on disk are being fetched again: the tick decides again (and skips the entry at its start if still nothing).
      if (parts.every((_, i) => source.wants(i))) {
        this.tick();
        return;
      }
      // Some file could not be read (opening it again would fail again): no version can play.
      const reasons = parts.map((_, i): AsRunReason => (source.wants(i) ? 'no_media' : 'error'));
      await this.receipt(entry, version, 'skipped', {
        reason: reasons[0]!,
        detail: `cannot read the media of ${parts
          .filter((_, i) => reasons[i] === 'error')
          .map((p) => p.language)
          .join(', ')}; the other versions are not in the cache`,
        parts: parts.map((p, i) => ({ language: p.language, mediaId: p.mediaId, outcome: 'skipped', reason: reasons[i]! })),
      });
      return;
    }
    this.handed.set(entry.id, { entry, version, parts: source });
    await this.add(entry, version, source);
  }

  /** Open part `i`'s file from the cache (verified again first) and attach it; a file that cannot be read skips that part ('error'). */
  private async openPart(entry: PlaylistEntryMessage, source: PartsSource, i: number): Promise<void> {
    const part = entry.parts?.[i];
    const key = `${entry.id}#${i}`;
    if (!part || this.openingParts.has(key)) return;
    const path = this.o.cache?.pathOf(part.sha256);
    if (!path) return;
    this.openingParts.add(key);
    try {
      if (this.o.cache?.verify && !(await this.o.cache.verify(part.sha256).catch(() => true))) return;
      const opened = await this.o.openSource(path, partAsEntry(entry, part));
      try {
        for (let k = 0; k < PRIME_FRAMES; k++) opened.frame(k, entry.startAt + k * 20);
      } catch {
        /* a bad file shows when it plays */
      }
      source.attach(i, opened);
    } catch (e) {
      source.fail(i);
      this.log.warn(`cannot read media ${part.mediaId} (${part.language}) of ${entry.id}: ${(e as Error).message}`);
    } finally {
      this.openingParts.delete(key);
    }
  }

  /** Parts of programmes already handed whose file came into the cache since: attach them before their turn. True while some are still awaited. */
  private attachLateParts(): boolean {
    let awaited = false;
    for (const h of this.handed.values()) {
      const parts = h.entry.parts;
      if (!h.parts || !parts) continue;
      for (let i = 0; i < parts.length; i++) {
        if (!h.parts.wants(i)) continue;
        awaited = true;
        if (this.o.cache?.pathOf(parts[i]!.sha256)) void this.openPart(h.entry, h.parts, i);
      }
    }
    return awaited;
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'amplifier') return;
    const h = this.handed.get(e.id);
    if (!h) return;
    const { entry, version } = h;
    switch (e.type) {
      case 'started':
        this.counters.programmesStarted++;
        h.late = e.late;
        if (this.o.clock) h.clockAtStart = this.o.clock.state();
        void this.o.journal.markStarted(entry.id, e.at, version);
        return;
      case 'ended': {
        this.handed.delete(e.id);
        const facts = { startedAt: e.startedAt, endedAt: e.at, startErrorMs: e.startErrorMs, frames: e.frames, clockAtStart: h.clockAtStart };
        if (h.parts && entry.parts) {
          const r = partsReceipt(entry.parts, h.parts.laid(), entry.repeats ?? 1, { frames: e.frames, at: e.at, late: e.late });
          const skipped = r.parts.filter((p) => p.outcome !== 'played' && p.outcome !== 'late').map((p) => `${p.language} (${p.reason ?? p.outcome})`);
          void this.receipt(entry, version, r.outcome, {
            ...facts,
            parts: r.parts,
            ...(r.reason ? { reason: r.reason, detail: `versions skipped at their turn: ${skipped.join(', ')}` } : {}),
          });
          return;
        }
        void this.receipt(entry, version, e.late ? 'late' : 'played', facts);
        return;
      }
      case 'failed': {
        this.handed.delete(e.id);
        const started = e.startedAt !== undefined;
        const facts: ReceiptFacts = {
          reason: e.reason satisfies AsRunReason,
          detail: e.detail,
          frames: e.frames,
          ...(started ? { startedAt: e.startedAt!, endedAt: e.at, startErrorMs: e.startErrorMs ?? e.startedAt! - entry.startAt, clockAtStart: h.clockAtStart } : {}),
        };
        if (h.parts && entry.parts) {
          const r = partsReceipt(entry.parts, h.parts.laid(), entry.repeats ?? 1, { frames: started ? e.frames : 0, at: e.at, reason: e.reason, late: h.late ?? false });
          void this.receipt(entry, version, r.outcome, { ...facts, parts: r.parts, ...(r.reason ? { reason: r.reason } : {}) });
          return;
        }
        void this.receipt(entry, version, started ? 'partial' : 'skipped', facts);
        return;
      }
      default:
        return;
    }
  }

  private async receipt(entry: PlaylistEntryMessage, version: string, outcome: AsRunOutcome, x: ReceiptFacts): Promise<void> {
    // A play's times are checked against the clock once more before they are written (a step of the
    // server's clock during the play shows here); a receipt for no play says the clock it decided on.
    let clock: ReturnType<typeof receiptClock> | undefined;
    if (this.o.clock) {
      if (x.clockAtStart) {
        this.settling.add(entry.id);
        try {
          await this.o.clock.confirm();
        } finally {
          this.settling.delete(entry.id);
        }
      }
      const now = this.o.clock.state();
      clock = receiptClock(x.clockAtStart ?? now, now);
      if (!x.clockAtStart) delete clock.clockErrorMs;
    }
    const shift = clock?.clockErrorMs ?? 0;
    const moved = (t: number | undefined): number | undefined => (t === undefined ? undefined : t - shift);
    x = { ...x, startedAt: moved(x.startedAt), endedAt: moved(x.endedAt), startErrorMs: moved(x.startErrorMs) };
    const parts = receiptParts(entry, outcome, x.reason, x.parts, moved);
    const uncertainty = clock ? (clock.clockUncertaintyMs ?? null) : this.o.clockUncertaintyMs?.();
    const event: AsRunEvent = {
      v: PROTOCOL_VERSION,
      siteId: this.o.siteId,
      at: Math.max(0, Math.round(this.o.serverNow())),
      type: 'as_run',
      entryId: entry.id,
      kind: entry.kind,
      itemId: entry.itemId,
      mediaId: entry.mediaId,
      scheduledAt: entry.startAt,
      outcome,
      playlistVersion: version,
      ...(x.startedAt !== undefined ? { startedAt: Math.max(0, Math.round(x.startedAt)) } : {}),
      ...(x.endedAt !== undefined ? { endedAt: Math.max(0, Math.round(x.endedAt)) } : {}),
      ...(x.startErrorMs !== undefined ? { startErrorMs: Math.round(x.startErrorMs * 1000) / 1000 } : {}),
      ...(x.frames !== undefined ? { frames: x.frames } : {}),
      ...(x.reason ? { reason: x.reason } : {}),
      ...(x.detail ? { detail: clip(x.detail, 300) } : {}),
      ...(uncertainty !== null && uncertainty !== undefined ? { clockUncertaintyMs: Math.round(uncertainty * 1000) / 1000 } : {}),
      ...(clock ? { clockSynced: clock.clockSynced } : {}),
      ...(clock?.clockErrorMs !== undefined ? { clockErrorMs: clock.clockErrorMs } : {}),
      ...(parts ? { parts } : {}),
    };
    try {
      if (await this.o.journal.record(event)) {
        this.counters.receipts++;
        this.log.info(`as-run ${entry.id}: ${outcome}${x.reason ? ` (${x.reason})` : ''}`);
      }
    } catch (e) {
      this.log.error(`cannot record the receipt of ${entry.id}: ${(e as Error).message}`);
    }
  }
}

/** Do not start after this: the entry's own notAfter, else its start + duration (protocol/playlist.ts). */
export function notAfterOf(e: PlaylistEntryMessage): number {
  return e.notAfter ?? e.startAt + e.durationMs;
}

function endOf(e: PlaylistEntryMessage): number {
  return Math.max(notAfterOf(e), e.startAt + e.durationMs * (e.repeats ?? 1));
}
