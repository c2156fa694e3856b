/**
 * What a simulated amplifier "played": the record the device protocol's
 * `audio` messages build up in firmware-sim, so tests and the fleet runner can
 * ask a simulated site "did the bulletin come out of your speakers, when, how
 * loud, and if not, why not" — the ground truth an as-run receipt is checked
 * against. Pure and small: totals plus the latest runs (a run = consecutive
 * frames of one output session), never per-frame history, so hundreds of
 * simulated sites playing for hours cost kilobytes.
 */
import { AUDIO_LEVEL_FLOOR_DB } from '../protocol/index.ts';

/** Why a frame that reached the amplifier made no sound. */
export type SilentReason = 'amp_off' | 'warming' | 'overheat' | 'volume_zero' | 'lines_fault' | 'dark';

export interface PlayedRun {
  session: number;
  firstSeq: number;
  lastSeq: number;
  frameMs: number;
  /** Frames received in this run (flushed ones removed). */
  frames: number;
  /** Of those, frames that came out of the speakers. */
  heardFrames: number;
  /** Agent-clock play-at of the first and last frame (start of the frame). */
  firstPlayAt: number;
  lastPlayAt: number;
  firstHeardAt: number | null;
  lastHeardAt: number | null;
  /** Energy mean of the heard frames' levels, dBFS; null when none was heard. */
  meanLevelDb: number | null;
  peakLevelDb: number | null;
  /** Frames that made no sound, by reason. */
  silent: Partial<Record<SilentReason, number>>;
}

export interface AmplifierRecordTotals {
  frames: number;
  heardFrames: number;
  silentFrames: number;
  /** Frames removed by audio_flush (sent ahead, pre-empted before being heard). */
  flushedFrames: number;
  batches: number;
}

export interface AmplifierRecordSnapshot {
  totals: AmplifierRecordTotals;
  /** Latest runs, oldest first (at most `maxRuns`). */
  runs: PlayedRun[];
}

interface RecentFrame {
  session: number;
  seq: number;
  playAt: number;
  energy: number;
  /** Energy that reached the air (after volume and speaker lines), for the microphone. */
  acoustic: number;
  level: number;
  reason: SilentReason | null;
  run: RunState;
}

/** Per-second totals of what came out of the speakers, for the monitoring microphone's windows. */
interface AirSecond {
  /** Frames due in this second (heard or not). */
  frames: number;
  heard: number;
  /** Sum of their acoustic energies (0 for a frame that made no sound). */
  acoustic: number;
}

/** What came out of the speakers over a window of play-at times. */
export interface AirLevel {
  /** Frames due in the window (heard or silent). */
  frames: number;
  heardFrames: number;
  /**
   * The loudest one-second energy mean of the acoustic level (dBFS) in the
   * window, as a level meter's 1 s Leq reads it: gaps between repeats or a
   * download wait do not dilute it. Null when no frame was due.
   */
  loudestSecondDb: number | null;
}

interface RunState extends PlayedRun {
  energySum: number;
}

/** Frames kept for audio_flush: more than any sink sends ahead (a few hundred ms). */
const RECENT_FRAMES = 256;
/** Seconds of air totals kept: an hour, longer than any alert (a few kB per site). */
const AIR_SECONDS = 3600;

const energyOf = (db: number) => (db <= AUDIO_LEVEL_FLOOR_DB ? 0 : 10 ** (db / 10));
const dbOf = (energy: number) => (energy <= 0 ? AUDIO_LEVEL_FLOOR_DB : Math.round(10 * Math.log10(energy) * 10) / 10);

export class AmplifierRecord {
  private readonly totals: AmplifierRecordTotals = { frames: 0, heardFrames: 0, silentFrames: 0, flushedFrames: 0, batches: 0 };
  private readonly runs: RunState[] = [];
  private recent: RecentFrame[] = [];
  private readonly air = new Map<number, AirSecond>();

  constructor(private readonly maxRuns = 100) {}

  /**
   * Record one batch. `silentBecause` is the amplifier's state when the batch
   * arrived (null: the frames were heard); `gainDb` what the volume and the
   * speaker lines did to a heard frame's level on its way to the air.
   * Returns how many were heard.
   */
  add(batch: { session: number; seq: number; playAt: number; frameMs: number; levels: readonly number[] }, silentBecause: SilentReason | null, gainDb = 0): number {
    const gain = 10 ** (gainDb / 10);
    this.totals.batches++;
    for (let i = 0; i < batch.levels.length; i++) {
      const seq = (batch.seq + i) >>> 0;
      const playAt = batch.playAt + i * batch.frameMs;
      const level = batch.levels[i]!;
      const run = this.runFor(batch.session, seq, playAt, batch.frameMs);
      run.frames++;
      run.lastSeq = seq;
      run.lastPlayAt = playAt;
      this.totals.frames++;
      const energy = energyOf(level);
      if (silentBecause === null) {
        run.heardFrames++;
        run.firstHeardAt ??= playAt;
        run.lastHeardAt = playAt;
        run.energySum += energy;
        run.meanLevelDb = dbOf(run.energySum / run.heardFrames);
        run.peakLevelDb = Math.max(run.peakLevelDb ?? AUDIO_LEVEL_FLOOR_DB, level);
        this.totals.heardFrames++;
      } else {
        run.silent[silentBecause] = (run.silent[silentBecause] ?? 0) + 1;
        this.totals.silentFrames++;
      }
      const acoustic = silentBecause === null ? energy * gain : 0;
      this.toAir(playAt, 1, acoustic, silentBecause === null ? 1 : 0);
      this.recent.push({ session: batch.session, seq, playAt, energy, acoustic, level, reason: silentBecause, run });
    }
    if (this.recent.length > RECENT_FRAMES * 2) this.recent = this.recent.slice(-RECENT_FRAMES);
    return silentBecause === null ? batch.levels.length : 0;
  }

  /** Remove frames of `session` from `fromSeq` on that were recorded but pre-empted. Returns how many. */
  flush(session: number, fromSeq: number): number {
    const keep: RecentFrame[] = [];
    let dropped = 0;
    for (const f of this.recent) {
      if (f.session !== session || f.seq < fromSeq) {
        keep.push(f);
        continue;
      }
      dropped++;
      this.toAir(f.playAt, -1, -f.acoustic, f.reason === null ? -1 : 0);
      const run = f.run;
      run.frames--;
      if (f.reason === null) {
        run.heardFrames--;
        run.energySum -= f.energy;
        this.totals.heardFrames--;
      } else {
        run.silent[f.reason]! -= 1;
        this.totals.silentFrames--;
      }
      this.totals.frames--;
    }
    this.recent = keep;
    this.totals.flushedFrames += dropped;
    if (dropped > 0) {
      // Recompute the affected runs' ends from the frames still remembered.
      for (const run of new Set(this.runs)) {
        if (run.session !== session) continue;
        const mine = keep.filter((f) => f.run === run);
        const last = mine[mine.length - 1];
        if (last) {
          run.lastSeq = last.seq;
          run.lastPlayAt = last.playAt;
        }
        const heard = mine.filter((f) => f.reason === null);
        run.lastHeardAt = heard.length ? heard[heard.length - 1]!.playAt : run.heardFrames > 0 ? run.lastHeardAt : null;
        if (run.heardFrames === 0) {
          run.firstHeardAt = null;
          run.meanLevelDb = null;
          run.peakLevelDb = null;
          run.energySum = 0;
        } else {
          run.meanLevelDb = dbOf(Math.max(0, run.energySum) / run.heardFrames);
        }
      }
      const empty = this.runs.filter((r) => r.frames <= 0);
      for (const r of empty) this.runs.splice(this.runs.indexOf(r), 1);
    }
    return dropped;
  }

  snapshot(): AmplifierRecordSnapshot {
    return {
      totals: { ...this.totals },
      runs: this.runs.map(({ energySum: _e, silent, ...r }) => ({ ...r, silent: { ...silent } })),
    };
  }

  /**
   * What came out of the speakers for frames due in [from, to) (agent clock),
   * at one-second resolution: the seconds the window touches count whole.
   * The monitoring microphone's reading is built on this.
   */
  airBetween(from: number, to: number): AirLevel {
    let frames = 0;
    let heardFrames = 0;
    let loudest = -1;
    for (let s = Math.floor(from / 1000); s * 1000 < to; s++) {
      const a = this.air.get(s);
      if (!a || a.frames <= 0) continue;
      frames += a.frames;
      heardFrames += a.heard;
      loudest = Math.max(loudest, a.acoustic / a.frames);
    }
    return { frames, heardFrames, loudestSecondDb: frames === 0 ? null : dbOf(Math.max(0, loudest)) };
  }

  private toAir(playAt: number, frames: number, acoustic: number, heard: number): void {
    const s = Math.floor(playAt / 1000);
    const a = this.air.get(s) ?? { frames: 0, heard: 0, acoustic: 0 };
    a.frames += frames;
    a.heard += heard;
    a.acoustic = Math.max(0, a.acoustic + acoustic);
    this.air.set(s, a);
    if (this.air.size > AIR_SECONDS + 60) {
      // Insertion order is play order, near enough: drop the oldest seconds.
      for (const k of this.air.keys()) {
        if (this.air.size <= AIR_SECONDS) break;
        this.air.delete(k);
      }
    }
  }

  /** Frames heard whose play-at lies in [from, to) on the agent clock (for "was this bulletin heard"). */
  heardBetween(from: number, to: number): number {
    let n = 0;
    for (const r of this.runs) {
      if (r.heardFrames === 0 || r.lastPlayAt < from || r.firstPlayAt >= to) continue;
      // Within a run heard frames are contiguous unless the amplifier state changed mid-run;
      // count the overlap of [firstHeardAt, lastHeardAt] with [from, to) in frames.
      const a = Math.max(from, r.firstHeardAt!);
      const b = Math.min(to, r.lastHeardAt! + r.frameMs);
      if (b > a) n += Math.min(r.heardFrames, Math.round((b - a) / r.frameMs));
    }
    return n;
  }

  private runFor(session: number, seq: number, playAt: number, frameMs: number): RunState {
    const last = this.runs[this.runs.length - 1];
    if (last && last.session === session && seq === (last.lastSeq + 1) >>> 0 && Math.abs(playAt - (last.lastPlayAt + last.frameMs)) <= frameMs / 2) return last;
    const run: RunState = {
      session,
      firstSeq: seq,
      lastSeq: seq,
      frameMs,
      frames: 0,
      heardFrames: 0,
      firstPlayAt: playAt,
      lastPlayAt: playAt,
      firstHeardAt: null,
      lastHeardAt: null,
      meanLevelDb: null,
      peakLevelDb: null,
      silent: {},
      energySum: 0,
    };
    this.runs.push(run);
    if (this.runs.length > this.maxRuns) this.runs.shift();
    return run;
  }
}
