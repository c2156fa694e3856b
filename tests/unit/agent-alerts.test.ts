/**
 * The agent's alert handling: the attention signals, the alert's PCM source,
 * the start/cancel decisions, and the handler driving the real playout engine
 * (fake timers, a sink that records what was heard): the alert pre-empts a
 * bulletin at once with a locally made signal, plays its message when the
 * download lands, reports every step, stops on cancel, and is not played
 * again by a restarted agent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AlertStart, AlertStatusEvent } from '../../protocol/index.ts';
import { FRAME_SAMPLES, SAMPLE_RATE, type AudioSink, type AudioSinkStats } from '../../edge-agent/audio/types.ts';
import { PlayoutEngine, type ProgrammeSource } from '../../edge-agent/playout/engine.ts';
import { attentionFrames, chime, siren } from '../../edge-agent/alerts/attention.ts';
import { AlertSource, type MessageFrames } from '../../edge-agent/alerts/alert-source.ts';
import { decideCancel, decideStart, MESSAGE_FETCH_ATTEMPTS, messageFetchDecision, type FetchFailure, type Remembered } from '../../edge-agent/alerts/decide.ts';
import { AlertHandler } from '../../edge-agent/alerts/handler.ts';
import { SharedMediaNeeds } from '../../edge-agent/alerts/media-needs.ts';

/** Sign changes per second in a frame: twice the frequency of a pure tone. */
function hzOf(frames: readonly Int16Array[], from: number, count = 5): number {
  let crossings = 0;
  let prev = 0;
  for (let f = from; f < from + count; f++) {
    for (const s of frames[f]!) {
      if (s !== 0 && prev !== 0 && Math.sign(s) !== Math.sign(prev)) crossings++;
      if (s !== 0) prev = s;
    }
  }
  return crossings / 2 / ((count * FRAME_SAMPLES) / SAMPLE_RATE);
}

describe('attention signals are made on the agent', () => {
  it('the siren wails 600 → 1,200 → 600 Hz, twice in 4 s, about −6 dBFS', () => {
    const s = siren();
    expect(s).toHaveLength(200);
    expect(hzOf(s, 2)).toBeGreaterThan(560);
    expect(hzOf(s, 2)).toBeLessThan(680);
    expect(hzOf(s, 48)).toBeGreaterThan(1100);
    expect(hzOf(s, 98)).toBeLessThan(680);
    const peak = Math.max(...s.slice(10, 190).map((f) => Math.max(...f.map(Math.abs))));
    expect(peak).toBeGreaterThan(16_000);
    expect(peak).toBeLessThanOrEqual(16_384);
    expect(Math.abs(s[0]![0]!)).toBeLessThan(100); // faded in: no click
  });

  it('the chime is three falling tones in 1.8 s; none means no frames', () => {
    const c = chime();
    expect(c).toHaveLength(90);
    expect(hzOf(c, 5)).toBeGreaterThan(hzOf(c, 35));
    expect(hzOf(c, 35)).toBeGreaterThan(hzOf(c, 65));
    expect(attentionFrames(null)).toEqual([]);
    expect(attentionFrames('chime')).toBe(attentionFrames('chime'));
  });
});

const tagged = (tag: number, n: number): MessageFrames & { closed: boolean } => ({
  framesPerPass: n,
  closed: false,
  frame(k: number) {
    if (k < 0 || k >= n) return null;
    const f = new Int16Array(FRAME_SAMPLES);
    f[0] = tag;
    f[1] = k;
    return f;
  },
  close() {
    this.closed = true;
  },
});

describe('the alert source', () => {
  const signal = [1, 2].map((v) => Int16Array.from({ length: FRAME_SAMPLES }, () => v));

  it('signal, then silence while the audio downloads, then the message with gaps between repeats, then the end', () => {
    const sounds: Array<[number, number]> = [];
    const s = new AlertSource({ signal, repeats: 2, gapFrames: 1, onSound: (r, at) => sounds.push([r, at]) });
    const tags = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => s.frame(from + i, 1000 + (from + i) * 20)).map((f) => (f === null ? 'end' : `${f[0]}:${f[1]}`));
    expect(tags(0, 4)).toEqual(['1:1', '2:2', '0:0', '0:0']);
    s.attach(tagged(9, 2));
    expect(tags(4, 10)).toEqual(['9:0', '9:1', '0:0', '9:0', '9:1', 'end']);
    // Asked again after a retraction: the same frames.
    expect(tags(3, 6)).toEqual(['0:0', '9:0', '9:1']);
    expect(sounds).toEqual([
      [0, 1000],
      [1, 1080],
      [2, 1140],
    ]);
  });

  it('without a signal the message starts at the first frame asked once it is there', () => {
    const s = new AlertSource({ signal: [], repeats: 1 });
    expect(s.frame(0, 0)![0]).toBe(0);
    s.attach(tagged(7, 1));
    expect(s.frame(1, 0)![0]).toBe(7);
    expect(s.frame(2, 0)).toBeNull();
  });

  it('a file that arrives after close is closed at once', () => {
    const s = new AlertSource({ signal: [], repeats: 1 });
    s.close();
    const m = tagged(1, 1);
    s.attach(m);
    expect(m.closed).toBe(true);
  });
});

const start = (over: Partial<AlertStart> = {}): AlertStart => ({
  v: 1,
  type: 'alert_start',
  alertId: 'alr-00000000000000a1',
  revision: 1,
  test: false,
  areas: ['2025.02683'],
  media: { mediaId: 'med-1', sha256: 'a'.repeat(64), bytes: 100, durationMs: 40 },
  attention: null,
  repeats: 2,
  validUntil: 4_000_000_000_000,
  at: 1000,
  ...over,
});

describe('start and cancel decisions', () => {
  const mem = (entries: Array<[string, Remembered]>) => new Map(entries);
  it('plays a new alert; ignores one for other sites, one already finished, an older revision', () => {
    expect(decideStart(mem([]), start(), 's1', 2000, false)).toEqual({ action: 'play', replaces: false });
    expect(decideStart(mem([]), start({ sites: ['s2'] }), 's1', 2000, false)).toEqual({ action: 'ignore', why: 'not_for_this_site' });
    const done = mem([['alr-00000000000000a1', { revision: 1, outcome: 'completed', at: 1 }]]);
    expect(decideStart(done, start(), 's1', 2000, false)).toEqual({ action: 'ignore', why: 'already_handled' });
    const rev2 = mem([['alr-00000000000000a1', { revision: 2, outcome: 'playing', at: 1 }]]);
    expect(decideStart(rev2, start(), 's1', 2000, true)).toEqual({ action: 'ignore', why: 'older_revision' });
  });

  it('a newer revision replaces the one playing; an interrupted one (restart) plays again; an expired one does not', () => {
    const playing = mem([['alr-00000000000000a1', { revision: 1, outcome: 'playing', at: 1 }]]);
    expect(decideStart(playing, start({ revision: 2 }), 's1', 2000, true)).toEqual({ action: 'play', replaces: true });
    expect(decideStart(playing, start(), 's1', 2000, true)).toEqual({ action: 'ignore', why: 'already_handled' });
    expect(decideStart(playing, start(), 's1', 2000, false)).toEqual({ action: 'play', replaces: false });
    expect(decideStart(mem([]), start({ validUntil: 2000 }), 's1', 2000, false)).toEqual({ action: 'expired' });
  });

  it('the same revision completing one that started without its message hands the message to the running programme', () => {
    const playing = mem([['alr-00000000000000a1', { revision: 1, outcome: 'playing', at: 1 }]]);
    const { media: _m, ...noMedia } = start();
    expect(decideStart(playing, start(), 's1', 2000, true, true)).toEqual({ action: 'message' });
    expect(decideStart(playing, { ...noMedia, messageState: 'failed' }, 's1', 2000, true, true)).toEqual({ action: 'message' });
    // Another "preparing" copy, or a complete one once the message is there: nothing to do.
    expect(decideStart(playing, { ...noMedia, messageState: 'preparing' }, 's1', 2000, true, true)).toEqual({ action: 'ignore', why: 'already_handled' });
    expect(decideStart(playing, start(), 's1', 2000, true, false)).toEqual({ action: 'ignore', why: 'already_handled' });
    // Not playing here (a restart): the complete copy plays from the start.
    expect(decideStart(playing, start(), 's1', 2000, false, false)).toEqual({ action: 'play', replaces: false });
  });

  it('cancel stops what plays, and remembers an alert it never played so a late start is not played', () => {
    const playing = mem([['alr-00000000000000a1', { revision: 1, outcome: 'playing', at: 1 }]]);
    const cancel = { v: 1 as const, type: 'alert_cancel' as const, alertId: 'alr-00000000000000a1', reason: 'cancelled' as const, at: 5 };
    expect(decideCancel(playing, cancel, true)).toEqual({ action: 'stop', revision: 1 });
    expect(decideCancel(mem([]), cancel, false)).toEqual({ action: 'forget' });
  });
});

describe('shared media needs', () => {
  it('the cache is told the union of the playlist and the alerts', () => {
    const calls: string[][] = [];
    const needs = new SharedMediaNeeds({ setNeeded: (refs) => calls.push(refs.map((r) => r.mediaId)) });
    needs.set('playlist', [{ mediaId: 'b1', sha256: '1', bytes: 1 }]);
    needs.set('alerts', [
      { mediaId: 'a1', sha256: '2', bytes: 1 },
      { mediaId: 'b1-again', sha256: '1', bytes: 1 },
    ]);
    needs.set('alerts', []);
    expect(calls).toEqual([['b1'], ['b1', 'a1'], ['b1']]);
  });
});

// ---------------------------------------------------------------- handler ----

class RecordingSink implements AudioSink {
  readonly kind = 'null' as const;
  readonly latencyMs = 60;
  heard: Array<{ v: number; k: number; playAt: number }> = [];
  async open() {}
  async write(frame: Int16Array, playAt: number) {
    this.heard.push({ v: frame[0]!, k: frame[1]!, playAt });
  }
  async flush() {
    const now = Date.now();
    this.heard = this.heard.filter((w) => w.playAt < now);
  }
  async close() {}
  stats(): AudioSinkStats {
    return { framesWritten: this.heard.length, underruns: 0, framesFlushed: 0, firstPlayAtLocalMs: null, lastPlayAtLocalMs: null };
  }
}

function bulletin(frames: number): ProgrammeSource {
  return {
    frame(index) {
      if (index >= frames) return null;
      const f = new Int16Array(FRAME_SAMPLES);
      f[0] = 5;
      f[1] = index;
      return f;
    },
  };
}

describe('the handler on the real playout engine', () => {
  let dir: string;
  let sink: RecordingSink;
  let engine: PlayoutEngine;
  let events: AlertStatusEvent[];
  let downloaded: boolean;
  const T0 = Date.UTC(2026, 10, 28, 0, 0, 0);

  const handler = (more: Partial<ConstructorParameters<typeof AlertHandler>[0]> = {}) =>
    new AlertHandler({
      siteId: 's1',
      engine,
      serverNow: () => Date.now(),
      media: { need: () => {}, pathOf: () => (downloaded ? '/cache/a.opus' : null) },
      openMessage: async () => tagged(9, 5),
      publish: (e) => events.push(e),
      stateDir: dir,
      log: { warn: () => {}, error: () => {} },
      mediaTimeoutMs: 3000,
      ...more,
    });
  const control = (m: object) => Buffer.from(JSON.stringify(m));

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-agent-alerts-'));
    sink = new RecordingSink();
    engine = new PlayoutEngine({ sink, clock: { now: () => Date.now(), offsetMs: () => 0 }, leadMs: 0, tailMs: 200 });
    events = [];
    downloaded = false;
  });
  afterEach(async () => {
    await engine.stop();
    vi.useRealTimers();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pre-empts a bulletin with the chime at once, plays the message when it lands, reports each step, and the bulletin resumes', async () => {
    const h = handler();
    await h.start();
    engine.add({ id: 'b', kind: 'bulletin', priority: 'normal', startAt: T0, whenPreempted: 'resume', source: bulletin(100) });
    await vi.advanceTimersByTimeAsync(500);
    const t = Date.now();
    h.onControl(control(start({ attention: 'chime', validUntil: T0 + 600_000, volume: 95 })));
    await vi.advanceTimersByTimeAsync(1000);
    downloaded = true;
    await vi.advanceTimersByTimeAsync(4000);
    const alertFrames = sink.heard.filter((w) => w.v !== 5);
    expect(alertFrames[0]!.playAt - t).toBeLessThanOrEqual(80); // the signal's first frame, within a few frames
    expect(alertFrames.filter((w) => w.v === 9).map((w) => w.k)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    const bulletinAfter = sink.heard.filter((w) => w.v === 5 && w.playAt > alertFrames[alertFrames.length - 1]!.playAt);
    expect(bulletinAfter[0]!.k).toBe(sink.heard.filter((w) => w.v === 5 && w.playAt < alertFrames[0]!.playAt).length);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
      ['playing', 1],
      ['playing', 2],
      ['completed', 2],
    ]);
    const playing = events.find((e) => e.status === 'playing')!;
    expect(playing.firstSoundAt! - t).toBeLessThanOrEqual(80);
    // Each status says what played: the chime alone (no messageAt), then the message and the repeats done.
    expect(events.map((e) => [e.messageAt !== undefined, e.messageRepeats])).toEqual([
      [false, undefined],
      [false, 0],
      [true, 0],
      [true, 1],
      [true, 2],
    ]);
    const messageFrame = sink.heard.find((w) => w.v === 9)!;
    expect(Math.abs(events[2]!.messageAt! - messageFrame.playAt)).toBeLessThanOrEqual(80);
    expect(events.every((e) => e.siteId === 's1' && e.alertId === 'alr-00000000000000a1' && e.revision === 1)).toBe(true);
    await h.stop();

    // A restarted agent gets the retained alert_start again: it does not play it twice.
    const again = handler();
    await again.start();
    events = [];
    again.onControl(control(start({ attention: 'chime', validUntil: T0 + 600_000 })));
    await vi.advanceTimersByTimeAsync(1000);
    expect(events).toEqual([]);
    expect(again.stats.ignored).toBe(1);
    await again.stop();
  });

  it('reports what the monitoring microphone heard over the message: mid-alert with the second repeat, and with completed', async () => {
    const windows: Array<[number, number]> = [];
    const h = handler({
      micLevelDb: async (from, to) => {
        windows.push([from, to]);
        await new Promise((res) => setTimeout(res, 50)); // a device round trip
        return -31.5;
      },
      levelThresholdDb: -40,
    });
    await h.start();
    downloaded = true;
    h.onControl(control(start({ attention: 'chime', validUntil: T0 + 600_000 })));
    await vi.advanceTimersByTimeAsync(6000);
    expect(events.map((e) => [e.status, e.repeat, e.levelDb])).toEqual([
      ['received', undefined, undefined],
      ['playing', 0, undefined],
      ['playing', 1, undefined],
      ['playing', 2, undefined],
      ['playing', 2, -31.5],
      ['completed', 2, -31.5],
    ]);
    const first = events[1]!.firstSoundAt!;
    const message = events[2]!.messageAt!;
    const completed = events[5]!;
    expect(completed).toMatchObject({ thresholdDb: -40, firstSoundAt: first, messageAt: message, messageRepeats: 2 });
    // The windows start when the message began, not at the chime: a loud signal is not the message heard.
    expect(message).toBeGreaterThan(first);
    expect(windows).toHaveLength(2);
    expect(windows.every(([from]) => from === message)).toBe(true);
    expect(windows[1]![1]).toBeGreaterThan(windows[0]![1]);
    expect(Math.round(windows[1]![1])).toBe(completed.at); // the time it ended, not when the microphone answered
    await h.stop();
  });

  it('a site without a microphone says null; a microphone that does not answer delays the report only by its timeout', async () => {
    const noMic = handler({ micLevelDb: async () => null, levelThresholdDb: -40 });
    await noMic.start();
    downloaded = true;
    noMic.onControl(control(start({ repeats: 1 })));
    await vi.advanceTimersByTimeAsync(3000);
    const done = events.find((e) => e.status === 'completed')!;
    expect(done.levelDb).toBeNull();
    expect(done.thresholdDb).toBeUndefined();
    await noMic.stop();

    events = [];
    const deaf = handler({ micLevelDb: () => new Promise<number | null>(() => {}), micTimeoutMs: 5000 });
    await deaf.start();
    deaf.onControl(control(start({ alertId: 'alr-00000000000000a2', repeats: 1 })));
    await vi.advanceTimersByTimeAsync(2000);
    expect(events.map((e) => e.status)).toEqual(['received', 'playing']);
    await vi.advanceTimersByTimeAsync(5000);
    const late = events.find((e) => e.status === 'completed')!;
    expect(late).toBeDefined();
    expect('levelDb' in late).toBe(false);
    await deaf.stop();
  });

  it('cancel stops it on the next frame not yet heard and reports stopped', async () => {
    const h = handler();
    await h.start();
    h.onControl(control(start({ attention: 'siren' })));
    await vi.advanceTimersByTimeAsync(1000);
    h.onControl(control({ v: 1, type: 'alert_cancel', alertId: 'alr-00000000000000a1', reason: 'cancelled', at: Date.now() }));
    const cancelledAt = Date.now();
    await vi.advanceTimersByTimeAsync(2000);
    expect(sink.heard.filter((w) => w.playAt > cancelledAt + 20)).toEqual([]);
    expect(events.map((e) => e.status)).toEqual(['received', 'playing', 'stopped']);
    expect(events[2]).toMatchObject({ repeat: 0, detail: 'alert cancelled' });
    await h.stop();
  });

  it('audio that never arrives: the signal plays, then it fails no_media; one received after its validity fails expired', async () => {
    const h = handler();
    await h.start();
    h.onControl(control(start({ attention: 'chime' })));
    await vi.advanceTimersByTimeAsync(5000);
    expect(events.map((e) => e.status)).toEqual(['received', 'playing', 'failed']);
    expect(events[2]).toMatchObject({ reason: 'no_media', repeat: 0 });
    events = [];
    h.onControl(control(start({ alertId: 'alr-00000000000000a2', validUntil: T0 })));
    expect(events).toMatchObject([{ status: 'failed', reason: 'expired' }]);
    // Live-stream control on the same channel, or a cleared retained slot: not ours, not counted as invalid.
    h.onControl(control({ v: 1, type: 'stream_stop', streamId: 1, reason: 'ended', at: 1 }));
    h.onControl(Buffer.alloc(0));
    h.onControl(control({ v: 1, type: 'alert_start', alertId: 'nope' }));
    expect(h.stats.invalid).toBe(1);
    await h.stop();
  });

  it('an Update (a newer revision) stops the one playing and plays the new one; a late copy of the old one is ignored', async () => {
    const h = handler();
    await h.start();
    downloaded = true;
    h.onControl(control(start({ attention: 'siren', repeats: 1 })));
    await vi.advanceTimersByTimeAsync(500);
    h.onControl(control(start({ revision: 2, attention: null, repeats: 1 })));
    await vi.advanceTimersByTimeAsync(3000);
    h.onControl(control(start({ attention: 'siren', repeats: 1 })));
    await vi.advanceTimersByTimeAsync(500);
    expect(events.map((e) => [e.revision, e.status])).toEqual([
      [1, 'received'],
      [1, 'playing'],
      [1, 'stopped'],
      [2, 'received'],
      [2, 'playing'],
      [2, 'completed'],
    ]);
    expect(events[2]!.detail).toBe('replaced by revision 2');
    await h.stop();
  });

  it('dispatched before its message exists: the signal sounds at once, the programme waits past the download timeout, and the message plays when the same revision brings it', async () => {
    const h = handler();
    await h.start();
    downloaded = true;
    const { media, ...noMedia } = start({ attention: 'chime', validUntil: T0 + 600_000 });
    const t = Date.now();
    h.onControl(control({ ...noMedia, messageState: 'preparing' }));
    // Longer than mediaTimeoutMs (3 s): a message still being made is not a download that failed.
    await vi.advanceTimersByTimeAsync(6000);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
    ]);
    expect(sink.heard.filter((w) => w.v !== 0)[0]!.playAt - t).toBeLessThanOrEqual(80);
    expect(sink.heard.filter((w) => w.v === 9)).toEqual([]);
    h.onControl(control({ ...noMedia, media }));
    await vi.advanceTimersByTimeAsync(4000);
    expect(sink.heard.filter((w) => w.v === 9).map((w) => w.k)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
      ['playing', 1],
      ['playing', 2],
      ['completed', 2],
    ]);
    // A later copy of the complete start (retained, re-announced) changes nothing.
    h.onControl(control({ ...noMedia, media }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(events).toHaveLength(5);
    await h.stop();
  });

  it('a message that could not be made: the signal alone is the alert (completed at repeat 0); without a signal it fails no_media', async () => {
    const h = handler();
    await h.start();
    const { media: _m, ...noMedia } = start({ attention: 'chime', validUntil: T0 + 600_000 });
    h.onControl(control({ ...noMedia, messageState: 'preparing' }));
    await vi.advanceTimersByTimeAsync(500);
    h.onControl(control({ ...noMedia, messageState: 'failed' }));
    await vi.advanceTimersByTimeAsync(3000);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
      ['completed', 0],
    ]);
    expect(events[2]!.detail).toMatch(/attention signal only/);

    // A site that connects after the failure gets the retained copy that says so: the signal, then done.
    events = [];
    h.onControl(control({ ...noMedia, alertId: 'alr-00000000000000a2', messageState: 'failed' }));
    await vi.advanceTimersByTimeAsync(3000);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
      ['completed', 0],
    ]);

    events = [];
    h.onControl(control({ ...noMedia, alertId: 'alr-00000000000000a3', attention: null, messageState: 'preparing' }));
    await vi.advanceTimersByTimeAsync(500);
    h.onControl(control({ ...noMedia, alertId: 'alr-00000000000000a3', attention: null, messageState: 'failed' }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['received', undefined],
      ['failed', 'no_media'],
    ]);
    await h.stop();
  });

  it('a message that never comes ends the wait at messageWaitMs with no_media', async () => {
    const h = handler({ messageWaitMs: 20_000 });
    await h.start();
    const { media: _m, ...noMedia } = start({ attention: 'chime', validUntil: T0 + 600_000 });
    h.onControl(control({ ...noMedia, messageState: 'preparing' }));
    await vi.advanceTimersByTimeAsync(15_000);
    expect(events.map((e) => e.status)).toEqual(['received', 'playing']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['received', undefined],
      ['playing', undefined],
      ['failed', 'no_media'],
    ]);
    await h.stop();
  });

  it('a fetch the server refuses (HTTP 404): the siren plays to its end, then the programme ends at once, failed no_media with the status, the amplifier released', async () => {
    let failure: FetchFailure | null = null;
    // An engine that drives an amplifier: when is it switched off?
    const amp: Array<[boolean, number]> = [];
    await engine.stop();
    engine = new PlayoutEngine({
      sink,
      clock: { now: () => Date.now(), offsetMs: () => 0 },
      leadMs: 0,
      tailMs: 200,
      amplifier: { setAmplifier: async (on) => void amp.push([on, Date.now()]), setVolume: async (v) => v },
    });
    const h = handler({ media: { need: () => {}, pathOf: () => null, failureOf: () => failure }, mediaTimeoutMs: 120_000 });
    await h.start();
    const t = Date.now();
    h.onControl(control(start({ attention: 'siren', validUntil: T0 + 600_000 })));
    await vi.advanceTimersByTimeAsync(1000);
    failure = { attempts: 1, error: 'GET http://10.0.0.1:8080/api/media/med-1/audio: HTTP 404' };
    await vi.advanceTimersByTimeAsync(5000);
    // The whole siren (4 s), nothing after it.
    const siren = sink.heard.filter((w) => w.playAt >= t);
    expect(siren).toHaveLength(200);
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['received', undefined],
      ['playing', undefined],
      ['failed', 'no_media'],
    ]);
    expect(events[2]).toMatchObject({ repeat: 0, messageRepeats: 0, detail: 'could not fetch audio med-1: GET /api/media/med-1/audio: HTTP 404 (1 attempt)' });
    expect(events[2]!.messageAt).toBeUndefined();
    // Reported when the siren ended, not at the 120 s download timeout.
    expect(events[2]!.at - t).toBeLessThan(4000 + 500);
    expect(engine.onAir).toBeNull();
    await vi.advanceTimersByTimeAsync(1000);
    expect(amp[0]![0]).toBe(true);
    const off = amp[amp.length - 1]!;
    expect(off[0]).toBe(false);
    expect(off[1] - t).toBeLessThan(4000 + 200 + 500); // the siren, then the amplifier's tail
    await h.stop();
  });

  it('a download that keeps failing (cut, 5xx) gives up after its attempts, after the signal; one cut that is retried in time plays the message', async () => {
    let failure: FetchFailure | null = null;
    const h = handler({ media: { need: () => {}, pathOf: () => (downloaded ? '/cache/a.opus' : null), failureOf: () => failure }, mediaTimeoutMs: 120_000 });
    await h.start();
    h.onControl(control(start({ attention: 'chime', validUntil: T0 + 600_000 })));
    await vi.advanceTimersByTimeAsync(500);
    failure = { attempts: 1, error: 'GET http://h/api/media/med-1/audio interrupted at byte 0 of 100: ECONNRESET' };
    await vi.advanceTimersByTimeAsync(3000);
    expect(events.map((e) => e.status)).toEqual(['received', 'playing']);
    failure = { attempts: MESSAGE_FETCH_ATTEMPTS, error: 'GET http://h/api/media/med-1/audio: HTTP 503' };
    await vi.advanceTimersByTimeAsync(500);
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['received', undefined],
      ['playing', undefined],
      ['failed', 'no_media'],
    ]);
    expect(events[2]!.detail).toBe(`could not fetch audio med-1: GET /api/media/med-1/audio: HTTP 503 (${MESSAGE_FETCH_ATTEMPTS} attempts)`);

    events = [];
    failure = { attempts: 1, error: 'cut' };
    h.onControl(control(start({ alertId: 'alr-00000000000000a2', attention: 'chime', validUntil: T0 + 600_000 })));
    await vi.advanceTimersByTimeAsync(2500);
    downloaded = true;
    await vi.advanceTimersByTimeAsync(3000);
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['received', undefined],
      ['playing', 0],
      ['playing', 1],
      ['playing', 2],
      ['completed', 2],
    ]);
    await h.stop();
  });

  it('the give-up rule: a refusal at once, other failures after their attempts, anything at the deadline; failures before this alert do not count', () => {
    const f = (attempts: number, error: string): FetchFailure => ({ attempts, error });
    expect(messageFetchDecision(null, 0, 1000, 5000, 'm')).toEqual({ action: 'wait' });
    expect(messageFetchDecision(f(1, 'GET http://x:1/api/media/m/audio: HTTP 403'), 0, 1000, 5000, 'm')).toEqual({
      action: 'give_up',
      detail: 'could not fetch audio m: GET /api/media/m/audio: HTTP 403 (1 attempt)',
    });
    // A server shedding a stampede of sites is waited out, up to the deadline.
    expect(messageFetchDecision(f(1, 'HTTP 429'), 0, 1000, 5000, 'm')).toEqual({ action: 'wait' });
    expect(messageFetchDecision(f(MESSAGE_FETCH_ATTEMPTS + 5, 'GET http://x/api/media/m/audio: HTTP 429'), 0, 1000, 5000, 'm')).toEqual({ action: 'wait' });
    expect(messageFetchDecision(f(MESSAGE_FETCH_ATTEMPTS + 5, 'HTTP 429'), 0, 5000, 5000, 'm')).toEqual({
      action: 'give_up',
      detail: 'audio m not in the cache in time; last attempt: HTTP 429',
    });
    expect(messageFetchDecision(f(MESSAGE_FETCH_ATTEMPTS - 1, 'no data for 30000 ms'), 0, 1000, 5000, 'm')).toEqual({ action: 'wait' });
    expect(messageFetchDecision(f(MESSAGE_FETCH_ATTEMPTS, 'no data for 30000 ms'), 0, 1000, 5000, 'm').action).toBe('give_up');
    expect(messageFetchDecision(f(MESSAGE_FETCH_ATTEMPTS, 'HTTP 404'), MESSAGE_FETCH_ATTEMPTS, 1000, 5000, 'm')).toEqual({ action: 'wait' });
    expect(messageFetchDecision(null, 0, 5000, 5000, 'm')).toEqual({ action: 'give_up', detail: 'audio m not in the cache in time' });
  });

  it('a test alert does not pre-empt an emergency programme', async () => {
    const h = handler();
    await h.start();
    engine.add({ id: 'live', kind: 'live', priority: 'emergency', startAt: T0, whenPreempted: 'end', source: bulletin(1000) });
    await vi.advanceTimersByTimeAsync(300);
    downloaded = true;
    h.onControl(control(start({ test: true, attention: 'chime' })));
    await vi.advanceTimersByTimeAsync(3000);
    expect(sink.heard.filter((w) => w.v !== 5)).toEqual([]);
    expect(events.map((e) => e.status)).toEqual(['received']);
    await h.stop();
  });

  it('an advisory (priority) waits for an emergency programme but pre-empts a normal bulletin; an emergency alert pre-empts the advisory', async () => {
    const h = handler();
    await h.start();
    engine.add({ id: 'live', kind: 'live', priority: 'emergency', startAt: T0, whenPreempted: 'end', source: bulletin(1000) });
    await vi.advanceTimersByTimeAsync(300);
    downloaded = true;
    h.onControl(control(start({ priority: 'priority', attention: 'chime' })));
    await vi.advanceTimersByTimeAsync(3000);
    // Under an emergency broadcast the advisory is received and waits: nothing of it is heard.
    expect(sink.heard.filter((w) => w.v !== 5)).toEqual([]);
    expect(events.map((e) => e.status)).toEqual(['received']);
    expect(engine.programmes().find((p) => p.kind === 'alert')).toMatchObject({ priority: 'priority', state: 'pending' });
    engine.cancel('live');
    await h.stop();

    // Over a normal bulletin the advisory takes the next slot; a real emergency alert then takes it from the advisory.
    const h2 = handler();
    await h2.start();
    engine.add({ id: 'b', kind: 'bulletin', priority: 'normal', startAt: Date.now(), whenPreempted: 'resume', source: bulletin(100) });
    await vi.advanceTimersByTimeAsync(300);
    h2.onControl(control(start({ alertId: 'alr-00000000000000a1', priority: 'priority', attention: 'chime' })));
    await vi.advanceTimersByTimeAsync(500);
    const onAir = () => engine.programmes().find((p) => p.id === engine.onAir);
    expect(onAir()).toMatchObject({ kind: 'alert', priority: 'priority' });
    h2.onControl(control(start({ alertId: 'alr-00000000000000e1', attention: 'siren' })));
    await vi.advanceTimersByTimeAsync(500);
    expect(onAir()).toMatchObject({ kind: 'alert', priority: 'emergency' });
    await h2.stop();
  });
});
