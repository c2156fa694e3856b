/**
 * The playout engine's decisions (edge-agent/playout/timeline.ts) with a fake
 * clock: a small driver plays the shell's part (advance, amplifier, write
 * what next() says, tell it when a source runs out) in 5 ms steps, and
 * records which programme each slot went to.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PlayoutTimeline, type ProgrammeMeta } from '../../edge-agent/playout/timeline.ts';
import type { EngineEvent } from '../../edge-agent/playout/engine.ts';

const T0 = 1_800_000_000_000;

interface Slot {
  id: string;
  index: number;
  slot: number;
  writtenAt: number;
}

class Driver {
  readonly tl: PlayoutTimeline;
  readonly writes: Slot[] = [];
  readonly events: EngineEvent[] = [];
  readonly flushes: number[] = [];
  ampOn = false;
  ampSwitches: Array<{ on: boolean; at: number }> = [];
  now = T0;
  /** Frames each programme's source has. */
  readonly lengths = new Map<string, number>();

  constructor(opts: { latencyMs?: number; leadMs?: number; tailMs?: number; warmupMs?: number } = {}) {
    this.tl = new PlayoutTimeline({ latencyMs: opts.latencyMs ?? 100, batchMs: 40, leadMs: opts.leadMs ?? 2000, tailMs: opts.tailMs ?? 3000 });
    this.warmupMs = opts.warmupMs ?? 1500;
  }
  private readonly warmupMs: number;
  private ampReadyAt: number | null = null;

  add(meta: Partial<ProgrammeMeta> & { id: string; startAt: number }, frames: number) {
    this.lengths.set(meta.id, frames);
    const r = this.tl.add({ kind: 'bulletin', priority: 'normal', whenPreempted: 'resume', ...meta }, this.now);
    if (r.ok && r.flush) this.flush();
    return r;
  }

  cancel(id: string) {
    const r = this.tl.cancel(id, this.now);
    if (r.flush) this.flush();
    return r;
  }

  private flush() {
    this.flushes.push(this.now);
    // What the sink drops: frames not heard yet.
    for (let i = this.writes.length - 1; i >= 0; i--) if (this.writes[i]!.slot >= this.now) this.writes.splice(i, 1);
  }

  step() {
    this.tl.advance(this.now);
    const want = this.tl.ampWanted(this.now, this.ampOn);
    if (want && !this.ampOn) {
      this.ampOn = true;
      this.ampReadyAt = this.now + this.warmupMs;
      this.ampSwitches.push({ on: true, at: this.now });
    } else if (!want && this.ampOn) {
      this.ampOn = false;
      this.tl.ampReady = false;
      this.ampSwitches.push({ on: false, at: this.now });
    }
    if (this.ampOn && this.ampReadyAt !== null && this.now >= this.ampReadyAt) {
      this.tl.ampReady = true;
      this.ampReadyAt = null;
    }
    for (;;) {
      const w = this.tl.next(this.now);
      if (!w) break;
      if (w.index >= (this.lengths.get(w.id) ?? 0)) {
        this.tl.sourceEnded(w);
        continue;
      }
      this.writes.push({ ...w, writtenAt: this.now });
      this.tl.wrote(w);
    }
    this.events.push(...this.tl.drain());
  }

  runUntil(t: number, stepMs = 5) {
    while (this.now < t) {
      this.step();
      this.now += stepMs;
    }
    this.step();
  }

  heard(id: string) {
    return this.writes.filter((w) => w.id === id);
  }
  of(type: EngineEvent['type'], id?: string) {
    return this.events.filter((e) => e.type === type && (id === undefined || ('id' in e && e.id === id)));
  }
}

describe('PlayoutTimeline', () => {
  it('plays a programme from its start, frame after frame on one absolute timeline, amplifier on lead before and off tail after', () => {
    const d = new Driver({ latencyMs: 100, leadMs: 2000, tailMs: 3000 });
    const start = T0 + 10_000;
    d.add({ id: 'b1', startAt: start }, 50); // 1 s
    d.runUntil(start + 6000);
    const heard = d.heard('b1');
    expect(heard.map((w) => w.index)).toEqual([...Array(50).keys()]);
    heard.forEach((w, k) => expect(w.slot).toBe(start + 20 * k));
    // Every frame was written at least the sink latency before it is heard.
    for (const w of heard) expect(w.slot - w.writtenAt).toBeGreaterThanOrEqual(100);
    expect(d.of('started', 'b1')).toEqual([{ type: 'started', id: 'b1', kind: 'bulletin', scheduledAt: start, at: start, startErrorMs: 0, late: false }]);
    expect(d.of('ended', 'b1')).toEqual([{ type: 'ended', id: 'b1', at: start + 1000, frames: 50, startedAt: start, startErrorMs: 0, late: false }]);
    expect(d.ampSwitches).toEqual([
      { on: true, at: start - 2000 },
      { on: false, at: start + 1000 + 3000 },
    ]);
  });

  it('starts late, from the beginning, when the amplifier warms up slower than the lead, and says by how much', () => {
    const d = new Driver({ latencyMs: 100, leadMs: 1000, warmupMs: 1500 });
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start }, 10);
    d.runUntil(start + 2000);
    const started = d.of('started', 'b1')[0] as Extract<EngineEvent, { type: 'started' }>;
    // Amplifier on at start − 1000, ready 1500 later = start + 500; first audible slot = +latency.
    expect(started.at).toBe(start + 600);
    expect(started.startErrorMs).toBe(600);
    expect(started.late).toBe(true);
    expect(d.heard('b1')[0]!.index).toBe(0);
  });

  it('lets an emergency planned ahead take the slot at its start and resumes the bulletin at the frame it left', () => {
    const d = new Driver({ latencyMs: 100 });
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start }, 100); // 2 s
    d.add({ id: 'e1', priority: 'emergency', kind: 'alert', startAt: start + 510 }, 25); // 500 ms, mid-bulletin
    d.runUntil(start + 6000);
    const b = d.heard('b1');
    const e = d.heard('e1');
    expect(e[0]!.slot).toBe(start + 520); // first slot on the run's grid at or after its start: within one frame
    expect(e.map((w) => w.index)).toEqual([...Array(25).keys()]);
    const before = b.filter((w) => w.slot < e[0]!.slot);
    const after = b.filter((w) => w.slot > e[0]!.slot);
    expect(before.at(-1)!.slot).toBe(start + 500); // the last bulletin frame ends where the alert begins
    expect(after[0]!.slot).toBe(start + 520 + 500); // resumes right after the alert
    expect(after[0]!.index).toBe(before.at(-1)!.index + 1); // at the frame it left, nothing lost or repeated
    expect(b.map((w) => w.index)).toEqual([...Array(100).keys()]);
    expect(d.of('preempted', 'b1')).toEqual([{ type: 'preempted', id: 'b1', at: start + 520, by: 'e1', frames: 26 }]);
    expect(d.of('resumed', 'b1')).toEqual([{ type: 'resumed', id: 'b1', at: start + 1020, frames: 26 }]);
    expect(d.of('ended', 'b1')[0]).toMatchObject({ frames: 100, late: false });
  });

  it('pre-empts within one frame an emergency that arrives now, dropping frames written ahead and giving them back', () => {
    const d = new Driver({ latencyMs: 300 }); // a deep buffer: 15 frames ahead
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start }, 200);
    d.runUntil(start + 1003);
    const writtenAhead = d.heard('b1').filter((w) => w.slot >= d.now).length;
    expect(writtenAhead).toBeGreaterThan(10);
    const arrival = d.now;
    const r = d.add({ id: 'e1', priority: 'emergency', kind: 'alert', startAt: arrival }, 10);
    expect(r).toEqual({ ok: true, flush: true });
    d.runUntil(start + 8000);
    const e = d.heard('e1');
    const b = d.heard('b1');
    // The bulletin's last frame heard started before the alert arrived; the alert's first frame starts within one frame of it.
    const lastBefore = b.filter((w) => w.slot < e[0]!.slot).at(-1)!;
    expect(lastBefore.slot).toBeLessThan(arrival);
    expect(e[0]!.slot - arrival).toBeLessThan(20);
    expect(e[0]!.slot).toBe(lastBefore.slot + 20);
    // Nothing lost, nothing twice: the bulletin is heard whole, in order.
    expect(b.map((w) => w.index)).toEqual([...Array(200).keys()]);
    expect(d.flushes).toEqual([arrival]);
  });

  it("ends a pre-empted programme whose policy is 'end', with the frames it played", () => {
    const d = new Driver();
    const start = T0 + 5000;
    d.add({ id: 'live', kind: 'live', startAt: start, whenPreempted: 'end' }, 1000);
    d.add({ id: 'e1', priority: 'emergency', kind: 'alert', startAt: start + 400 }, 10);
    d.runUntil(start + 5000);
    expect(d.of('failed', 'live')).toEqual([
      { type: 'failed', id: 'live', at: start + 400, reason: 'preempted', detail: 'pre-empted by e1', frames: 20, startedAt: start, startErrorMs: 0 },
    ]);
    expect(d.heard('live')).toHaveLength(20);
    expect(d.of('ended', 'e1')).toHaveLength(1);
  });

  it('holds a lower programme due under a higher one until it ends (late), or gives it up past its window', () => {
    const d = new Driver();
    const start = T0 + 5000;
    d.add({ id: 'e1', priority: 'emergency', kind: 'alert', startAt: start }, 50); // 1 s
    d.add({ id: 'b-wait', startAt: start + 200, notAfter: start + 5000 }, 10);
    d.add({ id: 'b-gone', startAt: start + 300, notAfter: start + 600 }, 10);
    d.add({ id: 'b-end', startAt: start + 400, whenPreempted: 'end' }, 10);
    d.runUntil(start + 8000);
    expect(d.of('started', 'b-wait')[0]).toMatchObject({ at: start + 1000, startErrorMs: 800, late: true });
    expect(d.of('failed', 'b-gone')[0]).toMatchObject({ reason: 'preempted', frames: 0 });
    expect(d.of('failed', 'b-end')[0]).toMatchObject({ reason: 'preempted', frames: 0 });
    expect(d.of('failed', 'b-gone')[0]).not.toHaveProperty('startedAt');
  });

  it('gives up a programme whose amplifier never comes up at the end of its window (expired, saying why), instead of holding it for ever', () => {
    const d = new Driver({ leadMs: 2000, warmupMs: 3_600_000 });
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start, notAfter: start + 10_000 }, 50);
    d.runUntil(start + 9000);
    expect(d.events).toEqual([]);
    d.runUntil(start + 11_000);
    expect(d.of('failed', 'b1')).toEqual([
      { type: 'failed', id: 'b1', at: start + 10_005, reason: 'expired', detail: expect.stringContaining('the amplifier had not said it was on'), frames: 0 },
    ]);
    expect(d.tl.list()).toEqual([]);
    expect(d.heard('b1')).toEqual([]);
  });

  it('refuses a programme already past its window and one it holds already', () => {
    const d = new Driver();
    expect(d.add({ id: 'old', startAt: T0 - 10_000, notAfter: T0 - 1 }, 10)).toMatchObject({ ok: false, reason: 'expired' });
    expect(d.add({ id: 'x', startAt: T0 + 1000 }, 10)).toMatchObject({ ok: true });
    expect(d.add({ id: 'x', startAt: T0 + 1000 }, 10)).toMatchObject({ ok: false, reason: 'duplicate' });
  });

  it('keeps the amplifier on through a gap shorter than lead + tail, and switches it off for a longer one', () => {
    const d = new Driver({ leadMs: 2000, tailMs: 3000 });
    const start = T0 + 5000;
    d.add({ id: 'a', startAt: start }, 50);
    d.add({ id: 'b', startAt: start + 1000 + 4000 }, 50); // 4 s gap < 5 s
    d.add({ id: 'c', startAt: start + 30_000 }, 50); // far after
    d.runUntil(start + 40_000);
    expect(d.ampSwitches).toEqual([
      { on: true, at: start - 2000 },
      { on: false, at: start + 6000 + 3000 },
      { on: true, at: start + 30_000 - 2000 },
      { on: false, at: start + 31_000 + 3000 },
    ]);
    for (const id of ['a', 'b', 'c']) expect(d.of('ended', id)[0]).toMatchObject({ late: false, startErrorMs: 0 });
  });

  it('cancels the programme on air: its unheard frames are dropped and the one it pre-empted resumes', () => {
    const d = new Driver({ latencyMs: 200 });
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start }, 100);
    d.add({ id: 'e1', priority: 'emergency', kind: 'alert', startAt: start + 400 }, 500);
    d.runUntil(start + 1003);
    const at = d.now;
    expect(d.cancel('e1')).toEqual({ found: true, flush: true });
    d.runUntil(start + 6000);
    expect(d.of('failed', 'e1')[0]).toMatchObject({ reason: 'cancelled', startedAt: start + 400 });
    const e = d.heard('e1');
    expect(e.at(-1)!.slot).toBeLessThan(at);
    const resumed = d.heard('b1').find((w) => w.slot > at)!;
    expect(resumed.slot - at).toBeLessThan(20);
    expect(d.heard('b1').map((w) => w.index)).toEqual([...Array(100).keys()]);
    expect(d.of('ended', 'b1')).toHaveLength(1);
  });

  it('restarts the run a sink latency from now, instead of writing the past, when the shell fell behind', () => {
    const d = new Driver({ latencyMs: 60 });
    const start = T0 + 5000;
    d.add({ id: 'b1', startAt: start }, 100);
    d.runUntil(start + 200);
    d.now += 700; // the event loop was blocked
    d.runUntil(start + 5000);
    const b = d.heard('b1');
    expect(b.map((w) => w.index)).toEqual([...Array(100).keys()]);
    // Every frame, the first after the stall included, is written at least the sink latency before it is heard.
    for (const w of b) expect(w.slot - w.writtenAt).toBeGreaterThanOrEqual(60);
    const gap = b.findIndex((w, i) => i > 0 && w.slot - b[i - 1]!.slot > 20);
    expect(b[gap]!.slot).toBe(b[gap]!.writtenAt + 60);
  });
});

describe('PlayoutTimeline, any mix of programmes (property)', () => {
  const PRI = ['normal', 'priority', 'emergency'] as const;
  const programme = fc.record({
    priority: fc.constantFrom(...PRI),
    startOffset: fc.integer({ min: 0, max: 6000 }),
    frames: fc.integer({ min: 1, max: 120 }),
    whenPreempted: fc.constantFrom('resume' as const, 'end' as const),
    /** Added this long after the run began (0: known ahead); late ones may arrive after their own start. */
    addedAfter: fc.integer({ min: 0, max: 6000 }),
    cancelAfter: fc.option(fc.integer({ min: 0, max: 8000 }), { nil: undefined }),
  });

  type Mix = Array<{ priority: (typeof PRI)[number]; startOffset: number; frames: number; whenPreempted: 'resume' | 'end'; addedAfter: number; cancelAfter: number | undefined }>;

  /** Plays a mix of programmes through the driver and checks the rules; returns the slots heard, in time order. */
  function playMix(ps: Mix, latencyMs: number): Slot[] {
    const d = new Driver({ latencyMs, leadMs: 1000, warmupMs: 500, tailMs: 1000 });
    const base = d.now + 2000;
    const pending = ps.map((p, i) => ({
      ...p,
      id: `p${i}`,
      startAt: base + p.startOffset,
      addAt: d.now + p.addedAfter,
      cancelAt: p.cancelAfter === undefined ? undefined : d.now + p.cancelAfter,
      added: false,
      cancelled: false,
    }));
    const end = base + 6000 + ps.reduce((a, p) => a + p.frames * 20, 0) + 5000;
    while (d.now < end) {
      for (const p of pending) {
        if (!p.added && d.now >= p.addAt) {
          p.added = true;
          d.add({ id: p.id, priority: p.priority, startAt: p.startAt, whenPreempted: p.whenPreempted }, p.frames);
        }
        if (p.added && !p.cancelled && p.cancelAt !== undefined && d.now >= p.cancelAt) {
          p.cancelled = true;
          d.cancel(p.id);
        }
      }
      d.step();
      d.now += 5;
    }
    const heard = [...d.writes].sort((a, b) => a.slot - b.slot);
    // No overlap, nothing written for a time already past.
    for (let i = 1; i < heard.length; i++) expect(heard[i]!.slot - heard[i - 1]!.slot).toBeGreaterThanOrEqual(20);
    for (const w of heard) expect(w.slot).toBeGreaterThanOrEqual(w.writtenAt);
    const rank = (id: string) => PRI.indexOf(pending.find((p) => p.id === id)!.priority);
    for (const p of pending) {
      const mine = heard.filter((w) => w.id === p.id);
      // Each frame once, in order, from the first: a prefix of the programme.
      expect(mine.map((w) => w.index)).toEqual(mine.map((_, k) => k));
      const terminal = d.events.filter((e) => (e.type === 'ended' || e.type === 'failed') && e.id === p.id);
      if (p.added) expect(terminal, `${p.id}: one ended or failed`).toHaveLength(1);
      const t = terminal[0];
      if (t?.type === 'ended') expect(mine).toHaveLength(p.frames);
      if (t) expect((t as { frames: number }).frames).toBe(mine.length);
      // Started once; the terminal event dates the first sound actually heard.
      expect(d.events.filter((e) => e.type === 'started' && e.id === p.id).length).toBeLessThanOrEqual(1);
      if (mine.length && t) expect(t).toMatchObject({ startedAt: mine[0]!.slot });
      if (!mine.length && t?.type === 'failed') expect(t).not.toHaveProperty('startedAt');
      for (const w of mine.slice(0, 1)) expect(w.slot).toBeGreaterThanOrEqual(p.startAt);
      // While it plays (first to last frame heard), only a higher priority is heard in between.
      if (mine.length > 1) {
        const inside = heard.filter((w) => w.slot > mine[0]!.slot && w.slot < mine.at(-1)!.slot && w.id !== p.id);
        for (const w of inside) expect(rank(w.id), `${w.id} inside ${p.id}`).toBeGreaterThan(rank(p.id));
      }
    }
    return heard;
  }

  it('never overlaps or writes the past, hears each programme once and in order, and a programme on air is only interrupted by a higher one', () => {
    fc.assert(
      fc.property(fc.array(programme, { minLength: 1, maxLength: 5 }), fc.integer({ min: 20, max: 400 }), (ps, latencyMs) => {
        playMix(ps, latencyMs);
      }),
      { numRuns: 300 },
    );
  });

  // Found by the property (seed -415907126). p1 is heard from its start; p0 (same priority, an
  // earlier start time) arrives late and is written after p1's end; an emergency then takes back
  // p1's last frame and p0's only one. p0 had "started" (a started event, startedAt set) but was
  // never heard: it must not, by its earlier start time, go before the rest of p1, which was on air.
  it('regression: a same-priority programme whose every frame was taken back does not cut into the one on air when a higher one pre-empts both', () => {
    const heard = playMix(
      [
        { priority: 'normal', startOffset: 0, frames: 1, whenPreempted: 'resume', addedAfter: 1941, cancelAfter: undefined },
        { priority: 'normal', startOffset: 1, frames: 2, whenPreempted: 'resume', addedAfter: 0, cancelAfter: undefined },
        { priority: 'emergency', startOffset: 0, frames: 1, whenPreempted: 'resume', addedAfter: 2001, cancelAfter: undefined },
      ],
      22,
    );
    expect(heard.map((w) => `${w.id}#${w.index}`)).toEqual(['p1#0', 'p2#0', 'p1#1', 'p0#0']);
  });
});
