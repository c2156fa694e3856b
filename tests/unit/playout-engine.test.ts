/**
 * The playout engine's shell (edge-agent/playout/engine.ts) with fake timers:
 * a recording sink, a fake amplifier with a warm-up, a clock 250 ms behind the
 * server. Checks what reaches the sink (play-at on the local clock, frames
 * heard in order after a pre-emption), the amplifier and volume sequence, and
 * the failure reasons an amplifier or a dead device give.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlayoutEngine, type EngineEvent, type ProgrammeSource } from '../../edge-agent/playout/engine.ts';
import { DeviceError } from '../../edge-agent/devices/gateway.ts';
import { FRAME_SAMPLES, type AudioSink, type AudioSinkStats } from '../../edge-agent/audio/types.ts';

const OFFSET = 250; // server clock − local clock

class RecordingSink implements AudioSink {
  readonly kind = 'null' as const;
  readonly latencyMs = 100;
  writes: Array<{ tag: string; index: number; playAt: number; writtenAt: number }> = [];
  flushes: number[] = [];
  /** How long flush() takes (a device round trip, aplay restarting). */
  flushDelayMs = 0;
  opened = 0;
  closed = 0;
  async open() {
    this.opened++;
  }
  async write(frame: Int16Array, playAt: number) {
    this.writes.push({ tag: String.fromCharCode(frame[0]!), index: frame[1]!, playAt, writtenAt: Date.now() });
  }
  async flush() {
    const now = Date.now();
    this.flushes.push(now);
    this.writes = this.writes.filter((w) => w.playAt < now);
    if (this.flushDelayMs) await new Promise((r) => setTimeout(r, this.flushDelayMs));
  }
  async close() {
    this.closed++;
  }
  stats(): AudioSinkStats {
    return { framesWritten: this.writes.length, underruns: 0, framesFlushed: 0, firstPlayAtLocalMs: null, lastPlayAtLocalMs: null };
  }
}

/** Frames tagged with the programme's letter and their index, so the test can read back what was heard. */
function source(tag: string, frames: number): ProgrammeSource & { closed: boolean } {
  return {
    closed: false,
    frame(index) {
      if (index >= frames) return null;
      const f = new Int16Array(FRAME_SAMPLES);
      f[0] = tag.charCodeAt(0);
      f[1] = index;
      return f;
    },
    close() {
      this.closed = true;
    },
  };
}

class FakeAmp {
  calls: Array<{ op: string; value: number | boolean; at: number }> = [];
  fail: DeviceError | null = null;
  fault = 'none';
  constructor(private readonly warmupMs: number) {}
  async setAmplifier(on: boolean) {
    this.calls.push({ op: 'power', value: on, at: Date.now() });
    if (on && this.fail) throw this.fail;
    if (on) await new Promise((r) => setTimeout(r, this.warmupMs));
  }
  async setVolume(level: number) {
    this.calls.push({ op: 'volume', value: level, at: Date.now() });
    return level;
  }
  async status() {
    return { amplifier: { volume: 50, fault: this.fault } };
  }
}

function engineWith(amp: FakeAmp, sink = new RecordingSink()) {
  const events: EngineEvent[] = [];
  const engine = new PlayoutEngine({ sink, clock: { now: () => Date.now(), offsetMs: () => OFFSET }, amplifier: amp, leadMs: 2000, tailMs: 3000 });
  engine.on((e) => events.push(e));
  return { engine, sink, events };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_800_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PlayoutEngine', () => {
  it('plays at the server time converted to the local clock, with the amplifier on before and off after, and the volume restored', async () => {
    const amp = new FakeAmp(1500);
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 10_000; // server clock
    const src = source('b', 50);
    expect(engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', volume: 80, source: src })).toEqual({ ok: true });
    await vi.advanceTimersByTimeAsync(20_000);
    const local = startAt - OFFSET;
    expect(sink.writes.map((w) => w.index)).toEqual([...Array(50).keys()]);
    sink.writes.forEach((w, k) => expect(w.playAt).toBe(local + 20 * k));
    for (const w of sink.writes) expect(w.playAt - w.writtenAt).toBeGreaterThanOrEqual(sink.latencyMs);
    expect(amp.calls).toEqual([
      { op: 'power', value: true, at: local - 2000 },
      { op: 'volume', value: 80, at: expect.any(Number) },
      { op: 'volume', value: 50, at: local + 1000 + 3000 },
      { op: 'power', value: false, at: local + 1000 + 3000 },
    ]);
    expect(events.filter((e) => e.type !== 'amplifier')).toEqual([
      { type: 'started', id: 'b1', kind: 'bulletin', scheduledAt: startAt, at: startAt, startErrorMs: 0, late: false },
      { type: 'ended', id: 'b1', at: startAt + 1000, frames: 50, startedAt: startAt, startErrorMs: 0, late: false },
    ]);
    expect(src.closed).toBe(true);
    expect(sink.closed).toBe(1);
    await engine.stop();
  });

  it('lets an emergency arriving mid-bulletin take over within one frame; the bulletin resumes where it was cut and is heard whole', async () => {
    const amp = new FakeAmp(500);
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 3000;
    engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', source: source('b', 150) });
    await vi.advanceTimersByTimeAsync(3000 + 1007);
    const arrivedLocal = Date.now();
    engine.add({ id: 'e1', kind: 'alert', priority: 'emergency', startAt: arrivedLocal + OFFSET, whenPreempted: 'end', source: source('e', 25) });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sink.flushes).toEqual([arrivedLocal]);
    const firstAlert = sink.writes.find((w) => w.tag === 'e')!;
    expect(firstAlert.playAt - arrivedLocal).toBeGreaterThanOrEqual(0);
    expect(firstAlert.playAt - arrivedLocal).toBeLessThan(20);
    // What was heard, in play order: bulletin frames 0..k, the alert, then bulletin k+1..149.
    const heard = [...sink.writes].sort((a, b) => a.playAt - b.playAt);
    const tags = heard.map((w) => w.tag).join('');
    expect(tags).toMatch(/^b+e{25}b+$/);
    expect(heard.filter((w) => w.tag === 'b').map((w) => w.index)).toEqual([...Array(150).keys()]);
    for (let i = 1; i < heard.length; i++) expect(heard[i]!.playAt - heard[i - 1]!.playAt).toBe(20);
    expect(events.find((e) => e.type === 'preempted')).toMatchObject({ id: 'b1', by: 'e1' });
    expect(events.find((e) => e.type === 'resumed')).toMatchObject({ id: 'b1' });
    expect(events.filter((e) => e.type === 'ended').map((e) => 'id' in e && e.id)).toEqual(['e1', 'b1']);
    await engine.stop();
  });

  it('after a slow flush the emergency is written for at once, not a sink latency later', async () => {
    const amp = new FakeAmp(100);
    const sink = new RecordingSink();
    sink.flushDelayMs = 45; // longer than the frame the cut was planned in
    const { engine, events } = engineWith(amp, sink);
    const startAt = Date.now() + OFFSET + 3000;
    engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', source: source('b', 500) });
    await vi.advanceTimersByTimeAsync(4003);
    const arrivedLocal = Date.now();
    engine.add({ id: 'e1', kind: 'alert', priority: 'emergency', startAt: arrivedLocal + OFFSET, whenPreempted: 'end', source: source('e', 10) });
    await vi.advanceTimersByTimeAsync(2000);
    const firstAlert = sink.writes.find((w) => w.tag === 'e')!;
    expect(firstAlert.playAt - arrivedLocal).toBeGreaterThanOrEqual(0);
    expect(firstAlert.playAt - arrivedLocal).toBeLessThanOrEqual(sink.flushDelayMs + 20);
    expect(events.find((e) => e.type === 'started' && e.id === 'e1')).toMatchObject({ at: firstAlert.playAt + OFFSET });
    sink.flushDelayMs = 0; // stop() flushes too, and fake timers do not run by themselves
    await engine.stop();
  });

  it("fails what was due with 'amp_fault' when the amplifier refuses, 'device_off' when the device does not answer", async () => {
    for (const [error, reason] of [
      [new DeviceError('overheat', 'amplifier in thermal shutdown'), 'amp_fault'],
      [new DeviceError('device_unreachable', 'device controller is not connected'), 'device_off'],
    ] as const) {
      const amp = new FakeAmp(100);
      amp.fail = error;
      const { engine, sink, events } = engineWith(amp);
      const startAt = Date.now() + OFFSET + 5000;
      engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', source: source('b', 10) });
      await vi.advanceTimersByTimeAsync(8000);
      expect(events.find((e) => e.type === 'failed')).toMatchObject({ id: 'b1', reason, frames: 0 });
      expect(events.find((e) => e.type === 'failed')).not.toHaveProperty('startedAt');
      expect(sink.writes).toHaveLength(0);
      await engine.stop();
    }
  });

  it('gives up a programme at the end of its window when the amplifier never says it is on (an answer that never comes), with its receipt reason', async () => {
    const amp = new FakeAmp(100);
    amp.setAmplifier = async (on: boolean) => {
      amp.calls.push({ op: 'power', value: on, at: Date.now() });
      if (on) await new Promise(() => {}); // never answers
    };
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 5000;
    const source_ = source('b', 10);
    engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, notAfter: startAt + 10_000, whenPreempted: 'resume', source: source_ });
    await vi.advanceTimersByTimeAsync(14_000);
    expect(events.filter((e) => e.type === 'failed')).toEqual([]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(events.filter((e) => e.type === 'failed')).toEqual([
      { type: 'failed', id: 'b1', at: expect.any(Number), reason: 'expired', detail: expect.stringContaining('amplifier'), frames: 0 },
    ]);
    expect(source_.closed).toBe(true);
    expect(engine.programmes()).toEqual([]);
    expect(sink.writes).toHaveLength(0);
    await engine.stop();
  });

  it('does not "play" to an amplifier that switched on but reports a fault, and stops what plays when the device reports one', async () => {
    const amp = new FakeAmp(100);
    amp.fault = 'overheat';
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 5000;
    engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', source: source('b', 10) });
    await vi.advanceTimersByTimeAsync(8000);
    expect(events.find((e) => e.type === 'failed')).toMatchObject({ id: 'b1', reason: 'amp_fault', frames: 0 });
    expect(sink.writes).toHaveLength(0);

    amp.fault = 'none';
    const later = Date.now() + OFFSET + 5000;
    engine.add({ id: 'b2', kind: 'bulletin', priority: 'normal', startAt: later, whenPreempted: 'resume', source: source('c', 500) });
    await vi.advanceTimersByTimeAsync(5000 + 2000);
    expect(engine.onAir).toBe('b2');
    const at = Date.now();
    engine.deviceFault('amp_fault', 'amplifier: amp_overheat');
    await vi.advanceTimersByTimeAsync(1000);
    const failed = events.filter((e) => e.type === 'failed' && e.id === 'b2');
    expect(failed).toEqual([expect.objectContaining({ reason: 'amp_fault', detail: 'amplifier: amp_overheat', startedAt: later })]);
    expect(sink.writes.filter((w) => w.tag === 'c').every((w) => w.playAt < at)).toBe(true);
    expect(engine.onAir).toBeNull();
    await engine.stop();
  });

  it('plays on a board whose amplifier cannot be switched (no relay: always on)', async () => {
    const amp = new FakeAmp(100);
    amp.fail = new DeviceError('not_supported', 'no amplifier relay configured (set amplifier.gpio)');
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 5000;
    engine.add({ id: 'b1', kind: 'bulletin', priority: 'normal', startAt, whenPreempted: 'resume', source: source('b', 10) });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.find((e) => e.type === 'ended')).toMatchObject({ id: 'b1', frames: 10, startErrorMs: 0 });
    expect(sink.writes).toHaveLength(10);
    await engine.stop();
  });

  it('cancels a programme on air and stops writing it at once', async () => {
    const amp = new FakeAmp(100);
    const { engine, sink, events } = engineWith(amp);
    const startAt = Date.now() + OFFSET + 3000;
    engine.add({ id: 'live:7', kind: 'live', priority: 'priority', startAt, whenPreempted: 'end', source: source('l', 10_000) });
    await vi.advanceTimersByTimeAsync(4000);
    expect(engine.onAir).toBe('live:7');
    const at = Date.now();
    expect(engine.cancel('live:7', 'cancelled', 'stream stopped')).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sink.writes.every((w) => w.playAt < at)).toBe(true);
    expect(events.find((e) => e.type === 'failed')).toMatchObject({ id: 'live:7', reason: 'cancelled', detail: 'stream stopped' });
    expect(amp.calls.at(-1)).toMatchObject({ op: 'power', value: false });
    expect(engine.onAir).toBeNull();
    await engine.stop();
  });
});
