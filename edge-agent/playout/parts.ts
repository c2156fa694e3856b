/**
 * A playlist entry in several languages (protocol/playlist.ts `parts`) as ONE
 * programme: the engine sees a single source, so the versions play back to
 * back at one priority, a higher priority suspends the whole of it, and no
 * lower programme can slip in between two versions. Pure: the files are opened
 * by the executor and attached here as they come into the cache.
 *
 * Turns. Each pass (`repeats`) plays every part in order; a part's turn comes
 * when the engine asks for the first frame after the previous turn's last. A
 * part with no source attached by then is skipped (no_media, or error when its
 * file could not be read) and the next plays from that same frame: the
 * programme never waits for a missing version. Turn boundaries, once laid,
 * stay, so a frame the engine asks again (a pre-emption retracts frames written
 * ahead but not heard) comes from the same part.
 *
 * The receipt (partsReceipt) reads the turns against the frames the engine
 * says were heard: a turn wholly heard played, one cut part-way is partial
 * with the programme's reason, later parts are skipped with it.
 */
import { summariseParts, type AsRunOutcome, type AsRunPart, type AsRunReason, type PlaylistEntryMessage, type PlaylistPartMessage } from '../../protocol/index.ts';
import type { MediaRef } from '../media-cache/types.ts';
import type { ProgrammeSource } from './programme.ts';

const FRAME_MS = 20;

/** The media files an entry needs in the cache: its parts', or its own. */
export function mediaRefsOf(entry: PlaylistEntryMessage): MediaRef[] {
  const list = entry.parts ?? [entry];
  return list.map((p) => ({ mediaId: p.mediaId, sha256: p.sha256, bytes: p.bytes }));
}

/** A part as an entry of its own, played once: what the executor opens a part's file as. */
export function partAsEntry(entry: PlaylistEntryMessage, part: PlaylistPartMessage): PlaylistEntryMessage {
  const { parts: _parts, repeats: _repeats, ...rest } = entry;
  return { ...rest, mediaId: part.mediaId, sha256: part.sha256, bytes: part.bytes, durationMs: part.durationMs };
}

/** Why a part has no source: its file was not in the cache, or could not be read. */
export type PartUnavailable = 'no_media' | 'error';

/** One part's turn in one pass. */
export interface PartTurn {
  part: number;
  /** First frame index of this turn in the programme's count. */
  start: number;
  /** One past its last frame; undefined while it plays. */
  end: number | undefined;
  skipped?: PartUnavailable;
  /** Server time of its first frame's slot, and of the slot after its last (the latest ask of each). */
  firstAt?: number;
  endAt?: number;
}

export class PartsSource implements ProgrammeSource {
  private readonly sources: Array<ProgrammeSource | undefined>;
  private readonly unavailable: Array<PartUnavailable | undefined>;
  private readonly turns: PartTurn[] = [];
  private readonly count: number;
  private readonly repeats: number;
  private done = false;

  constructor(parts: number, repeats = 1) {
    this.count = parts;
    this.repeats = Math.max(1, repeats);
    this.sources = new Array<ProgrammeSource | undefined>(parts).fill(undefined);
    this.unavailable = new Array<PartUnavailable | undefined>(parts).fill(undefined);
  }

  /** A part's file, opened: it plays at its turn (a turn already past stays skipped). */
  attach(part: number, source: ProgrammeSource): void {
    if (this.sources[part] || this.done || !this.turnAhead(part)) {
      source.close?.();
      return;
    }
    this.sources[part] = source;
    this.unavailable[part] = undefined;
  }

  /** A part's file could not be read: skipped with `error` at its turn (unless attached after all). */
  fail(part: number): void {
    if (!this.sources[part]) this.unavailable[part] = 'error';
  }

  has(part: number): boolean {
    return this.sources[part] !== undefined;
  }

  /** Whether a part's file is still worth opening: not attached, not failed, and a turn of it still to come. */
  wants(part: number): boolean {
    return !this.done && !this.sources[part] && this.unavailable[part] !== 'error' && this.turnAhead(part);
  }

  /** Whether a turn of this part is still to come (its last pass's turn not laid yet). */
  private turnAhead(part: number): boolean {
    return this.count * (this.repeats - 1) + part >= this.turns.length;
  }

  frame(index: number, atServerMs: number): Int16Array | null {
    this.note(index, atServerMs);
    // A frame asked again (after a retraction) comes from the turn that held it.
    for (let i = this.turns.length - 1; i >= 0; i--) {
      const t = this.turns[i]!;
      if (t.end !== undefined && index >= t.start && index < t.end) return this.sources[t.part]?.frame(index - t.start, atServerMs) ?? null;
      if (t.end === undefined && index >= t.start) break;
      if (index >= t.start) return null;
    }
    if (this.turns.length === 0 && !this.next(index, atServerMs)) return null;
    for (;;) {
      const t = this.turns[this.turns.length - 1]!;
      if (t.end === undefined) {
        const f = this.sources[t.part]!.frame(index - t.start, atServerMs);
        if (f) return f;
        t.end = index;
        t.endAt = atServerMs;
      }
      if (!this.next(index, atServerMs)) return null;
    }
  }

  close(): void {
    this.done = true;
    for (const s of this.sources) s?.close?.();
  }

  /** The turns laid so far, for the receipt. */
  laid(): ReadonlyArray<Readonly<PartTurn>> {
    return this.turns;
  }

  /** Lay the next turn from `index` (turn k is part k mod count of pass k div count); skipped turns take no frame. False when every pass is over. */
  private next(index: number, atServerMs: number): boolean {
    for (;;) {
      const k = this.turns.length;
      if (k >= this.count * this.repeats) return false;
      const part = k % this.count;
      const t: PartTurn = { part, start: index, end: undefined };
      this.turns.push(t);
      if (this.sources[part]) {
        t.firstAt = atServerMs;
        return true;
      }
      t.skipped = this.unavailable[part] ?? 'no_media';
      t.end = index;
    }
  }

  /** The latest ask of a boundary frame is when that boundary was heard (an earlier ask may have been retracted). */
  private note(index: number, at: number): void {
    for (const t of this.turns) {
      if (t.start === index && !t.skipped) t.firstAt = at;
      if (t.end === index && !t.skipped) t.endAt = at;
    }
  }
}

/** How the programme ended, as the engine said: its heard frames, and why it stopped early if it did. */
export interface ProgrammeEnd {
  frames: number;
  /** Absent: it ran to its end. */
  reason?: AsRunReason;
  /** When it stopped (server clock): the end of a part cut part-way. */
  at: number;
  /** The programme's first sound was late (engine 'ended'/'started'). */
  late?: boolean;
}

/**
 * Each part's outcome from the turns laid and the frames heard, and the
 * entry's summary (summariseParts; its reason: that of the first part that did
 * not play to its end). A part is played when each of its `repeats` turns was
 * wholly heard; a turn never reached (the programme stopped before it) counts
 * as skipped for the programme's reason.
 */
export function partsReceipt(
  parts: readonly Pick<PlaylistPartMessage, 'language' | 'mediaId'>[],
  turns: ReadonlyArray<Readonly<PartTurn>>,
  repeats: number,
  end: ProgrammeEnd,
): { parts: AsRunPart[]; outcome: AsRunOutcome; reason?: AsRunReason } {
  const stopped: AsRunReason = end.reason ?? 'error';
  const out: AsRunPart[] = parts.map((p, i) => {
    const mine = turns.filter((t) => t.part === i);
    let frames = 0;
    let startedAt: number | undefined;
    let endedAt: number | undefined;
    let reason: AsRunReason | undefined;
    let whole = true;
    for (const t of mine) {
      const length = t.end === undefined ? Infinity : t.end - t.start;
      const heard = Math.max(0, Math.min(end.frames - t.start, length));
      if (heard > 0) {
        frames += heard;
        startedAt ??= t.firstAt ?? end.at - heard * FRAME_MS;
        endedAt = heard === length ? (t.endAt ?? end.at) : end.at;
      }
      if (t.skipped || heard < length) {
        whole = false;
        reason ??= t.skipped ?? stopped;
      }
    }
    if (mine.length < Math.max(1, repeats)) {
      whole = false;
      reason ??= stopped;
    }
    const outcome: AsRunOutcome = whole ? (i === 0 && end.late ? 'late' : 'played') : frames > 0 ? 'partial' : 'skipped';
    return {
      language: p.language,
      mediaId: p.mediaId,
      outcome,
      ...(startedAt !== undefined ? { startedAt: Math.max(0, Math.round(startedAt)) } : {}),
      ...(endedAt !== undefined ? { endedAt: Math.max(0, Math.round(endedAt)) } : {}),
      ...(frames > 0 ? { frames } : {}),
      ...(!whole && reason ? { reason } : {}),
    };
  });
  const outcome = summariseParts(out);
  const first = out.find((p) => p.outcome !== 'played' && p.outcome !== 'late');
  return { parts: out, outcome, ...(first?.reason ? { reason: first.reason } : {}) };
}

/**
 * The parts of an entry's receipt: those given; else, for an entry with parts
 * that never started, each skipped for the entry's reason (an entry whose
 * record was lost, or that was playing when the agent stopped, has none: the
 * agent cannot tell per part). Times moved as the receipt's (onto the best clock).
 */
export function receiptParts(
  entry: PlaylistEntryMessage,
  outcome: AsRunOutcome,
  reason: AsRunReason | undefined,
  given: readonly AsRunPart[] | undefined,
  move: (t: number | undefined) => number | undefined,
): AsRunPart[] | undefined {
  const parts =
    given ??
    (entry.parts && outcome === 'skipped'
      ? entry.parts.map((p): AsRunPart => ({ language: p.language, mediaId: p.mediaId, outcome: 'skipped', ...(reason ? { reason } : {}) }))
      : undefined);
  return parts?.map((p) => {
    const startedAt = move(p.startedAt);
    const endedAt = move(p.endedAt);
    return {
      ...p,
      ...(startedAt !== undefined ? { startedAt: Math.max(0, Math.round(startedAt)) } : {}),
      ...(endedAt !== undefined ? { endedAt: Math.max(0, Math.round(endedAt)) } : {}),
    };
  });
}
