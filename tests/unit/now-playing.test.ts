import { describe, expect, it } from 'vitest';
import { NowPlaying, initialNowPlaying, nowPlayingAfter, playingOf, type NowPlayingState } from '../../edge-agent/playout/now-playing.ts';
import type { EngineEvent } from '../../edge-agent/playout/programme.ts';

const fold = (events: EngineEvent[]): NowPlayingState => events.reduce(nowPlayingAfter, initialNowPlaying());
const started = (id: string, kind: 'bulletin' | 'alert' | 'live' | 'tone', at: number): EngineEvent => ({
  type: 'started',
  id,
  kind,
  scheduledAt: at,
  at,
  startErrorMs: 0,
  late: false,
});

describe('what the site plays now (telemetry.playing)', () => {
  it('names each programme the way the server knows it', () => {
    expect(playingOf('live', 'live:42', 5)).toEqual({ kind: 'live', id: '42', since: 5 });
    expect(playingOf('alert', 'alert:al-7:3', 5)).toEqual({ kind: 'alert', id: 'al-7', since: 5 });
    expect(playingOf('alert', 'al-7@1700000000000', 5)).toEqual({ kind: 'alert', id: 'al-7', since: 5 });
    expect(playingOf('bulletin', 'item-1@1700000000000', 5)).toEqual({ kind: 'bulletin', id: 'item-1@1700000000000', since: 5 });
    expect(playingOf('tone', 'tone:1', 5)).toBeNull();
    expect(playingOf('live', 'live:1', 1700000000000.62)?.since, 'epoch ms are integers on the wire').toBe(1700000000001);
  });

  it('a bulletin plays from its start until it ends', () => {
    expect(fold([started('b@1', 'bulletin', 100)]).playing).toEqual({ kind: 'bulletin', id: 'b@1', since: 100 });
    expect(fold([started('b@1', 'bulletin', 100), { type: 'ended', id: 'b@1', at: 200, frames: 5, startedAt: 100, late: false, startErrorMs: 0 }]).playing).toBeNull();
  });

  it('an alert pre-empting a bulletin is what plays; the bulletin plays again, since its resumption, when the alert ends', () => {
    const s = fold([started('b@1', 'bulletin', 100), { type: 'preempted', id: 'b@1', at: 150, by: 'alert:a:1', frames: 3 }, started('alert:a:1', 'alert', 150)]);
    expect(s.playing).toEqual({ kind: 'alert', id: 'a', since: 150 });
    const after = [
      { type: 'ended', id: 'alert:a:1', at: 300, frames: 9, startedAt: 150, late: false, startErrorMs: 0 },
      { type: 'resumed', id: 'b@1', at: 300, frames: 3 },
    ] as const satisfies EngineEvent[];
    expect(after.reduce(nowPlayingAfter, s).playing).toEqual({ kind: 'bulletin', id: 'b@1', since: 300 });
  });

  it('a programme that fails while another is on air changes nothing', () => {
    const s = fold([started('live:9', 'live', 10), { type: 'failed', id: 'b@2', at: 20, reason: 'preempted', detail: 'x', frames: 0 }]);
    expect(s.playing).toEqual({ kind: 'live', id: '9', since: 10 });
  });

  it('says it changed only when what plays changed', () => {
    const listeners: Array<(e: EngineEvent) => void> = [];
    let changes = 0;
    const np = new NowPlaying({ on: (l) => (listeners.push(l), () => {}) }, () => changes++);
    const emit = (e: EngineEvent) => {
      for (const l of listeners) l(e);
    };
    emit({ type: 'amplifier', on: true, at: 1, ok: true });
    expect(changes).toBe(0);
    emit(started('live:1', 'live', 2));
    expect(changes).toBe(1);
    expect(np.report()).toEqual({ kind: 'live', id: '1', since: 2 });
    emit({ type: 'ended', id: 'live:1', at: 3, frames: 1, startedAt: 2, late: false, startErrorMs: 0 });
    expect(changes).toBe(2);
    expect(np.report()).toBeNull();
  });
});
