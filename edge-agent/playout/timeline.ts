/**
 * The playout engine's decisions, pure: no timers, no sink, no amplifier —
 * the shell (engine.ts) passes the server time in and does the I/O it is told
 * to. Unit-tested with a fake clock (tests/unit/playout-timeline.test.ts).
 *
 * The model. Sound is a sequence of 20 ms slots on the server clock. While
 * something plays, slots follow each other without gaps (cursor += 20 ms), so
 * a run never drifts from the instant it started; when nothing plays the
 * cursor is idle and the next programme anchors a new run at its own start.
 * Each slot is owned by the best programme eligible for it: started already
 * or due (startAt ≤ slot), highest priority first, then the earliest start,
 * then the first added (so one of two same-priority programmes keeps the
 * site; the server refuses such overlaps when they are scheduled anyway).
 *
 * Written ahead. The shell writes slots up to `latencyMs + batchMs` ahead of
 * now (the sink's output buffer, plus a batch so a timer wakes every few
 * frames, not every frame). Those frames are not heard yet, so a programme
 * that takes over (a higher priority, a cancel) *retracts* them: the shell
 * flushes the sink, each programme's position goes back to the first frame
 * the listener has not heard, and the slots are assigned again. That is what
 * makes pre-emption take effect within one frame even with a deep buffer.
 *
 * Amplifier. Wanted from `leadMs` before the first due start until `tailMs`
 * after the last sound; kept on through a gap shorter than lead + tail (a
 * relay that cycles for a two-second gap wears out and thumps twice).
 */
import { FRAME_MS } from '../audio/types.ts';
import type { EngineEvent, PlayoutFailure, Programme, ProgrammeKind, ProgrammePriority } from './programme.ts';

export interface TimelineOptions {
  /** The sink's output latency: a frame must be written this long before its slot to be heard on time. */
  latencyMs: number;
  /** Extra write-ahead so the shell wakes once per few frames (default 40 ms). */
  batchMs?: number;
  leadMs: number;
  tailMs: number;
  /** Start error above which a start counts as late (default 100 ms). */
  lateToleranceMs?: number;
  /** Whether an amplifier must be ready before a programme may start (default true). */
  gateOnAmplifier?: boolean;
}

/** What the timeline knows of a programme: everything but its source. */
export type ProgrammeMeta = Omit<Programme, 'source'>;

export type ProgrammeState = 'pending' | 'playing' | 'suspended';

interface Held {
  meta: ProgrammeMeta;
  rank: number;
  order: number;
  state: ProgrammeState;
  /** Index of the next frame to write (frames written and not retracted). */
  position: number;
  startedAt?: number;
  startErrorMs?: number;
  /** Slot at which its source said "no more" (its sound ends there), while frames are still unheard. */
  endSlot?: number;
  /** How it leaves at endSlot: absent = it ended (its source ran out); set = it fails so (pre-empted, policy 'end'). */
  endAs?: { reason: PlayoutFailure; detail: string };
  /** It was due while a higher priority held the site. */
  blocked: boolean;
}

interface Written {
  slot: number;
  id: string;
  index: number;
}

/** One frame for the shell to fetch from the programme's source and write. */
export interface SlotWrite {
  id: string;
  index: number;
  /** Server time the frame is heard. */
  slot: number;
}

const RANK: Record<ProgrammePriority, number> = { normal: 0, priority: 1, emergency: 2 };

export class PlayoutTimeline {
  readonly latencyMs: number;
  readonly batchMs: number;
  /** Settable: the device says its warm-up only once it has started. */
  leadMs: number;
  /** Settable for the same reason: the device says its hold after sound once started. */
  tailMs: number;
  readonly lateToleranceMs: number;
  private readonly gate: boolean;
  private readonly held = new Map<string, Held>();
  private queue: Written[] = [];
  /** Server time of the next slot of the current run; null when idle. */
  private cursor: number | null = null;
  /** Who owned the last slot written. */
  private lastOwner: string | null = null;
  /** End of the last sound written (server time). */
  private lastSoundEnd: number | null = null;
  private order = 0;
  /** A retraction emptied the sink: the next write is heard at once (AudioSink.flush), not a latency later. */
  private flushed = false;
  private events: EngineEvent[] = [];
  /** Set by the shell: the amplifier is on and warmed up. */
  ampReady: boolean;

  constructor(o: TimelineOptions) {
    this.latencyMs = o.latencyMs;
    this.batchMs = o.batchMs ?? 40;
    this.leadMs = o.leadMs;
    this.tailMs = o.tailMs;
    this.lateToleranceMs = o.lateToleranceMs ?? 100;
    this.gate = o.gateOnAmplifier ?? true;
    this.ampReady = !this.gate;
  }

  /** Events produced since the last call, in order. */
  drain(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  has(id: string): boolean {
    return this.held.has(id);
  }

  meta(id: string): ProgrammeMeta | undefined {
    return this.held.get(id)?.meta;
  }

  /** Programmes held, the one on air first, then by the order they would play. */
  list(): Array<{ id: string; kind: ProgrammeKind; priority: ProgrammePriority; state: ProgrammeState; frames: number }> {
    return [...this.held.values()]
      .sort((a, b) => (a.state === 'playing' ? -1 : 0) - (b.state === 'playing' ? -1 : 0) || better(a, b))
      .map((h) => ({ id: h.meta.id, kind: h.meta.kind, priority: h.meta.priority, state: h.state, frames: h.position }));
  }

  /** The programme that owns the slot being written now, or null. */
  get onAir(): string | null {
    for (const h of this.held.values()) if (h.state === 'playing') return h.meta.id;
    return null;
  }

  /**
   * Take a programme. Returns `flush: true` when frames already written must
   * be dropped from the sink (it outranks what owns slots at or after its start).
   */
  add(meta: ProgrammeMeta, now: number): { ok: true; flush: boolean } | { ok: false; reason: 'duplicate' | 'expired'; detail: string } {
    if (this.held.has(meta.id)) return { ok: false, reason: 'duplicate', detail: `programme ${meta.id} is already held` };
    if (meta.notAfter !== undefined && meta.notAfter < now) {
      return { ok: false, reason: 'expired', detail: `must start by ${new Date(meta.notAfter).toISOString()}; it is ${now - meta.notAfter} ms past` };
    }
    const h: Held = { meta, rank: RANK[meta.priority], order: this.order++, state: 'pending', position: 0, blocked: false };
    this.held.set(meta.id, h);
    // Slots from max(start, now) on that a lower programme already holds are retracted.
    const from = Math.max(meta.startAt, now);
    const outranked = this.queue.some((w) => w.slot + FRAME_MS > from && w.slot >= now && this.rankOf(w.id) < h.rank);
    return { ok: true, flush: outranked ? this.retract(now) : false };
  }

  /** Stop a programme. `flush` when its frames were written ahead and must be dropped. */
  cancel(id: string, now: number, reason: PlayoutFailure = 'cancelled', detail = 'cancelled'): { found: boolean; flush: boolean } {
    const h = this.held.get(id);
    if (!h) return { found: false, flush: false };
    const flush = this.queue.some((w) => w.id === id && w.slot >= now) ? this.retract(now) : false;
    this.fail(h, now, reason, detail);
    return { found: true, flush };
  }

  /** Every programme fails (the amplifier or the sink is gone); pending ones due before `dueBy` only, if given. */
  failAll(now: number, reason: PlayoutFailure, detail: string, dueBy?: number): string[] {
    const out: string[] = [];
    for (const h of [...this.held.values()]) {
      if (dueBy !== undefined && h.state === 'pending' && h.meta.startAt > dueBy) continue;
      this.fail(h, now, reason, detail);
      out.push(h.meta.id);
    }
    if (this.onAir === null) {
      this.queue = this.queue.filter((w) => this.held.has(w.id));
      if (this.queue.length === 0) this.cursor = null;
    }
    return out;
  }

  /**
   * The next frame to write, or null when nothing is due before
   * now + latency + batch. Owner changes (start, pre-emption, resume, end of
   * a blocked programme's window) happen here and produce events.
   */
  next(now: number): SlotWrite | null {
    const until = now + this.latencyMs + this.batchMs;
    for (let guard = 0; guard < 1000; guard++) {
      let slot = this.cursor;
      if (slot !== null && slot < now) {
        // Fell behind (a blocked event loop): a frame written now is heard `latency` from now, so the
        // run restarts there — a gap, but what follows is on time again, and nothing is skipped.
        // Right after a flush the sink is empty and plays the next write at once: restart at now.
        slot = this.flushed ? now : now + this.latencyMs;
        this.cursor = slot;
      }
      if (slot === null) {
        const first = this.firstStart(now);
        if (first === null) return null;
        slot = first;
      }
      if (slot >= until) return null;
      this.expireBlocked(slot);
      const owner = this.ownerOf(slot);
      if (!owner) {
        if (this.cursor !== null) {
          // The run ends here: nothing eligible at this slot.
          this.cursor = null;
          this.lastOwner = null;
          continue;
        }
        return null;
      }
      this.switchTo(owner, slot);
      if (owner.position === 0 && owner.startedAt !== slot) {
        // Its first frame goes out here, not where it was first planned (a retraction took that one back).
        owner.startedAt = slot;
        owner.startErrorMs = slot - owner.meta.startAt;
      }
      return { id: owner.meta.id, index: owner.position, slot };
    }
    return null;
  }

  /** The shell wrote `w` (its source gave a frame). */
  wrote(w: SlotWrite): void {
    const h = this.held.get(w.id);
    if (!h) return;
    this.queue.push({ slot: w.slot, id: w.id, index: w.index });
    this.flushed = false;
    h.position = w.index + 1;
    this.cursor = w.slot + FRAME_MS;
    this.lastSoundEnd = w.slot + FRAME_MS;
    this.lastOwner = w.id;
  }

  /** The programme's source has no frame `w.index`: its sound ends at `w.slot`. */
  sourceEnded(w: SlotWrite): void {
    const h = this.held.get(w.id);
    if (!h) return;
    h.endSlot = w.slot;
    h.state = 'suspended'; // out of the running; it leaves for good in advance() once its last frame is heard
    this.cursor = w.slot;
    this.lastOwner = null;
  }

  /** The programme's source failed: it stops here, what it wrote still plays. */
  sourceFailed(w: SlotWrite, now: number, detail: string): void {
    const h = this.held.get(w.id);
    if (h) this.fail(h, now, 'error', detail);
    this.cursor = w.slot;
    this.lastOwner = null;
  }

  /**
   * Retire frames heard by `now`; programmes whose last frame was heard end;
   * programmes never started whose window is over leave.
   */
  advance(now: number): void {
    let i = 0;
    while (i < this.queue.length && this.queue[i]!.slot + FRAME_MS <= now) i++;
    if (i > 0) this.queue.splice(0, i);
    this.expireUnstarted(now);
    for (const h of [...this.held.values()]) {
      if (h.endSlot !== undefined && h.endSlot <= now) {
        if (h.endAs) {
          this.fail(h, h.endSlot, h.endAs.reason, h.endAs.detail);
          continue;
        }
        this.held.delete(h.meta.id);
        this.events.push({
          type: 'ended',
          id: h.meta.id,
          at: h.endSlot,
          frames: h.position,
          startedAt: h.startedAt ?? h.endSlot,
          startErrorMs: h.startErrorMs ?? 0,
          late: (h.startErrorMs ?? 0) > this.lateToleranceMs,
        });
      }
    }
    if (this.queue.length === 0 && this.cursor !== null && this.cursor < now && this.onAir === null) this.cursor = null;
  }

  /** Whether the amplifier should be on at `now`, given whether it is on. */
  ampWanted(now: number, isOn: boolean): boolean {
    if (this.queue.length > 0 || this.onAir !== null) return true;
    for (const h of this.held.values()) {
      if (h.state !== 'pending') return true;
      if (h.meta.startAt - this.leadMs <= now) return true;
    }
    if (!isOn) return false;
    if (this.lastSoundEnd !== null && now < this.lastSoundEnd + this.tailMs) return true;
    // A programme due soon after the tail would switch it on again: keep it on.
    for (const h of this.held.values()) if (h.meta.startAt - this.leadMs <= now + this.tailMs) return true;
    return false;
  }

  /**
   * When the shell must look again (server time): the next write, the next
   * amplifier switch, the next end of a programme. null: nothing scheduled.
   */
  nextWakeAt(now: number, ampOn: boolean): number | null {
    let t = Infinity;
    // Wake a little before a slot's write deadline (slot − latency).
    const margin = this.batchMs / 2;
    if (this.cursor !== null) t = Math.min(t, this.cursor - this.latencyMs - margin);
    for (const h of this.held.values()) {
      if (h.state === 'pending') {
        t = Math.min(t, h.meta.startAt - this.latencyMs - margin);
        if (!ampOn) t = Math.min(t, h.meta.startAt - this.leadMs);
        if (h.meta.notAfter !== undefined) t = Math.min(t, h.meta.notAfter);
      }
      if (h.endSlot !== undefined) t = Math.min(t, h.endSlot);
    }
    const q = this.queue[0];
    if (q) t = Math.min(t, q.slot + FRAME_MS);
    if (ampOn && this.lastSoundEnd !== null) t = Math.min(t, this.lastSoundEnd + this.tailMs);
    if (ampOn) for (const h of this.held.values()) if (h.state === 'pending') t = Math.min(t, h.meta.startAt - this.leadMs - this.tailMs);
    if (t === Infinity) return null;
    return Math.max(t, now);
  }

  /** The volume the owner of the current run wants, or undefined (the site's own volume). */
  wantedVolume(): number | undefined {
    const id = this.lastOwner ?? this.onAir;
    return id ? this.held.get(id)?.meta.volume : undefined;
  }

  // ---------------------------------------------------------------- inside ----

  private rankOf(id: string): number {
    return this.held.get(id)?.rank ?? -1;
  }

  /** Drop written slots from `now` on; each programme resumes from the first frame not heard. */
  private retract(now: number): boolean {
    const keep: Written[] = [];
    let first: number | null = null;
    for (const w of this.queue) {
      if (w.slot < now) {
        keep.push(w);
        continue;
      }
      if (first === null) first = w.slot;
      const h = this.held.get(w.id);
      if (h) h.position = Math.min(h.position, w.index);
    }
    if (first === null) return false;
    this.queue = keep;
    this.flushed = true;
    // A programme whose end is not heard yet (its source ran out, or a pre-emption was to end it
    // there) is back in play from the first frame not heard: the slots are assigned again.
    for (const h of this.held.values()) {
      if (h.endSlot !== undefined && h.endSlot > now) {
        delete h.endSlot;
        delete h.endAs;
        h.state = 'suspended';
      }
    }
    this.cursor = first;
    // States stay: the one on air keeps its claim and is pre-empted (with an event) only if outranked.
    const last = keep[keep.length - 1];
    this.lastOwner = last ? last.id : null;
    this.lastSoundEnd = last ? last.slot + FRAME_MS : this.lastSoundEnd === null ? null : Math.min(this.lastSoundEnd, now);
    return true;
  }

  /** The first slot of a new run: the earliest due programme's start, not before now + latency. */
  private firstStart(now: number): number | null {
    if (this.gate && !this.ampReady) return null;
    let t = Infinity;
    for (const h of this.held.values()) {
      if (h.endSlot !== undefined) continue;
      t = Math.min(t, h.state === 'pending' ? h.meta.startAt : now);
    }
    if (t === Infinity) return null;
    // Never before the end of what is already written (a run that just ended may still be ahead of now).
    return Math.max(t, now + this.latencyMs, this.lastSoundEnd ?? -Infinity);
  }

  private eligible(h: Held, slot: number): boolean {
    if (h.endSlot !== undefined) return false;
    if (h.state === 'pending') return h.meta.startAt <= slot && (!this.gate || this.ampReady);
    // Started but nothing of it heard (a retraction took every frame back): still never before its start.
    return h.position > 0 || h.meta.startAt <= slot;
  }

  private ownerOf(slot: number): Held | null {
    let best: Held | null = null;
    for (const h of this.held.values()) if (this.eligible(h, slot) && (!best || better(h, best) < 0)) best = h;
    return best;
  }

  /**
   * Pending programmes past their window. next() gives them up as it lays the
   * slots, but it lays none while the amplifier is not ready: an amplifier
   * that never comes up must not hold a programme (and its receipt) for ever.
   */
  private expireUnstarted(now: number): void {
    for (const h of [...this.held.values()]) {
      if (h.state !== 'pending' || h.meta.notAfter === undefined || now <= h.meta.notAfter) continue;
      const by = `not started by ${new Date(h.meta.notAfter).toISOString()}`;
      if (h.blocked) this.fail(h, now, 'preempted', 'a higher priority held the site past its window');
      else this.fail(h, now, 'expired', this.gate && !this.ampReady ? `${by}: the amplifier had not said it was on and warmed up` : by);
    }
  }

  /** Pending programmes due at `slot` that lose to a higher one: wait (resume) or give up (end), and never past notAfter. */
  private expireBlocked(slot: number): void {
    const owner = this.ownerOf(slot);
    for (const h of [...this.held.values()]) {
      if (h.state !== 'pending' || h.meta.startAt > slot || h === owner) continue;
      if (owner && owner.rank > h.rank) h.blocked = true;
      if (h.meta.notAfter !== undefined && slot > h.meta.notAfter) {
        this.fail(
          h,
          slot,
          h.blocked ? 'preempted' : 'expired',
          h.blocked ? 'a higher priority held the site past its window' : `not started by ${new Date(h.meta.notAfter).toISOString()}`,
        );
      } else if (h.blocked && h.meta.whenPreempted === 'end') {
        this.fail(h, slot, 'preempted', `a higher priority (${owner?.meta.id}) was on air at its start`);
      }
    }
  }

  private switchTo(owner: Held, slot: number): void {
    if (owner.state === 'playing') return;
    for (const h of [...this.held.values()]) {
      if (h === owner || h.state !== 'playing') continue;
      if (h.meta.whenPreempted === 'end') {
        // It stops here for good once this slot is heard; until then a retraction may give it back.
        h.state = 'suspended';
        h.endSlot = slot;
        h.endAs = { reason: 'preempted', detail: `pre-empted by ${owner.meta.id}` };
      } else {
        h.state = 'suspended';
        this.events.push({ type: 'preempted', id: h.meta.id, at: slot, by: owner.meta.id, frames: h.position });
      }
    }
    if (owner.startedAt === undefined) {
      owner.startedAt = slot;
      owner.startErrorMs = slot - owner.meta.startAt;
      this.events.push({
        type: 'started',
        id: owner.meta.id,
        kind: owner.meta.kind,
        scheduledAt: owner.meta.startAt,
        at: slot,
        startErrorMs: owner.startErrorMs,
        late: owner.startErrorMs > this.lateToleranceMs,
      });
    } else if (owner.state === 'suspended') {
      this.events.push({ type: 'resumed', id: owner.meta.id, at: slot, frames: owner.position });
    }
    owner.state = 'playing';
  }

  private fail(h: Held, at: number, reason: PlayoutFailure, detail: string): void {
    this.held.delete(h.meta.id);
    const event: EngineEvent = { type: 'failed', id: h.meta.id, at, reason, detail, frames: h.position };
    // Started means heard: a programme whose every frame was taken back did not start.
    if (h.startedAt !== undefined && h.position > 0) {
      event.startedAt = h.startedAt;
      event.startErrorMs = h.startErrorMs ?? 0;
    }
    this.events.push(event);
  }
}

/**
 * Negative when a plays before b: higher priority; at the same priority the one already
 * on air keeps the site (a later arrival with an earlier start time waits), then the
 * earlier start, then the first added.
 *
 * "On air" is position > 0 — it has frames written and not taken back, i.e. heard or to be
 * heard — not `startedAt !== undefined`: a retraction can take back every frame of a
 * programme that had started (startedAt stays set), and such a programme was never heard.
 * Counting it as started let it, by its earlier start time, cut into a same-priority
 * programme the listener was hearing when a higher one pre-empted both.
 */
function better(a: Held, b: Held): number {
  return b.rank - a.rank || Number(b.position > 0) - Number(a.position > 0) || a.meta.startAt - b.meta.startAt || a.order - b.order;
}
