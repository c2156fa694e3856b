import { describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../protocol/index.ts';
import { JitterBuffer, type PlayoutInstruction } from '../../edge-agent/playout/jitter-buffer.ts';

const T0 = 1_757_637_000_000; // ms, server clock: play-at of the first packet
const PACKET_MS = 20;

/** A packet whose bytes say which slot of the stream it is, so a test can check what played. */
const packet = (n: number) => Uint8Array.of(0xfc, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const packetNo = (d: Uint8Array) => ((d[1]! << 24) | (d[2]! << 16) | (d[3]! << 8) | d[4]!) >>> 0;

/** Message k of a stream: packets k·n … k·n+n−1, play-at T0 + k·n·20 ms. */
function message(k: number, opts: { firstSeq?: number; n?: number; fec?: boolean; last?: number; streamId?: number; t0?: number } = {}): AudioFrame {
  const n = opts.n ?? 3;
  return {
    streamId: opts.streamId ?? 9,
    seq: ((opts.firstSeq ?? 0) + k) >>> 0,
    playAtUs: ((opts.t0 ?? T0) + k * n * PACKET_MS) * 1000,
    sampleRate: 48000,
    packetDurationUs: 20000,
    fec: opts.fec ?? false,
    marker: k % 50 === 0,
    endOfStream: opts.last === k,
    packets: Array.from({ length: n }, (_, i) => packet(k * n + i)),
  };
}

interface Played {
  at: number;
  out: PlayoutInstruction;
}

/**
 * Run a sink that plays exactly what it is told, correcting the reported
 * error at once (a perfect sink), from `startMs` to `untilMs` on the server
 * clock, with messages delivered at their arrival times.
 */
function run(buf: JitterBuffer, deliveries: Array<{ at: number; frame: AudioFrame }>, startMs: number, untilMs: number, rate = 1): Played[] {
  const queue = [...deliveries].sort((a, b) => a.at - b.at);
  const out: Played[] = [];
  let elapsed = 0; // kept apart from the epoch so float rounding does not accumulate
  let now = startMs;
  while (now < untilMs) {
    while (queue.length && queue[0]!.at <= now) {
      const d = queue.shift()!;
      buf.push(d.frame, d.at);
    }
    const o = buf.pull(now);
    out.push({ at: now, out: o });
    const consumed = o.kind === 'silence' ? o.durationMs : o.durationMs - o.skipMs - (rate === 1 ? o.errorMs : 0);
    elapsed += consumed * rate;
    now = startMs + elapsed;
  }
  return out;
}

const audible = (p: Played[]) => p.filter((x) => x.out.kind !== 'silence');
const slots = (p: Played[]) => audible(p).map((x) => (x.out.kind === 'silence' ? -1 : x.out.slot));
const arriving = (frames: AudioFrame[], leadMs: number) => frames.map((frame) => ({ at: frame.playAtUs / 1000 - leadMs, frame }));
const stream = (count: number, o: Parameters<typeof message>[1] = {}) => Array.from({ length: count }, (_, k) => message(k, { last: count - 1, ...o }));

describe('JitterBuffer', () => {
  it('plays an in-order stream packet by packet, each at its play-at, then falls silent', () => {
    const buf = new JitterBuffer();
    const played = run(buf, arriving(stream(10), 200), T0 - 500, T0 + 1000);
    const a = audible(played);
    expect(a.map((x) => x.out.kind === 'packet' && packetNo(x.out.data))).toEqual([...Array(30).keys()]);
    for (const x of a) expect(x.at).toBeCloseTo(x.out.kind === 'silence' ? 0 : x.out.playAtMs, 6);
    expect(a[0]!.at).toBe(T0);
    expect(played.at(-1)!.out).toMatchObject({ kind: 'silence', reason: 'ended' });
    expect(played[0]!.out).toMatchObject({ kind: 'silence', reason: 'not_started' });
    expect(buf.stats).toMatchObject({ received: 10, accepted: 10, played: 30, lost: 0, late: 0, bufferLevelMs: 0 });
    expect(buf.ended).toBe(true);
  });

  it('waits with silence of exactly the gap, so the first packet starts on the sample', () => {
    const buf = new JitterBuffer();
    buf.push(message(0), T0 - 250);
    expect(buf.pull(T0 - 27.5)).toEqual({ kind: 'silence', reason: 'waiting', durationMs: 20 });
    expect(buf.pull(T0 - 7.5)).toEqual({ kind: 'silence', reason: 'waiting', durationMs: 7.5 });
    expect(buf.pull(T0)).toMatchObject({ kind: 'packet', slot: 0, skipMs: 0, errorMs: 0 });
    expect(buf.stats.bufferLevelMs).toBe(40);
  });

  it('puts messages reordered by the network back in order', () => {
    const d = arriving(stream(12), 200);
    // Message 4 overtakes 3; 9 arrives after 10 and 11.
    d[3]!.at += 70;
    d[9]!.at += 130;
    const buf = new JitterBuffer();
    const played = run(buf, d, T0 - 500, T0 + 1000);
    expect(slots(played)).toEqual([...Array(36).keys()]);
    expect(buf.stats).toMatchObject({ reordered: 2, lost: 0, played: 36 });
  });

  it('conceals every packet of the 5 % of messages lost, and uses FEC from the next packet when the encoder sent it', () => {
    let x = 7;
    const lose = () => (x = (x * 48271) % 2147483647) / 2147483647 < 0.05;
    const all = stream(400, { fec: true });
    const kept = all.filter((_, k) => k === 0 || k === 399 || !lose());
    const dropped = 400 - kept.length;
    expect(dropped).toBeGreaterThan(10);
    const buf = new JitterBuffer();
    const played = run(buf, arriving(kept, 200), T0 - 100, T0 + 400 * 60 + 100);
    const a = audible(played);
    expect(slots(played)).toEqual([...Array(1200).keys()]); // no gap: every slot is played or concealed
    const conceal = a.filter((p) => p.out.kind === 'conceal');
    expect(conceal.length).toBe(3 * dropped);
    const s = buf.stats;
    expect(s).toMatchObject({ lost: 3 * dropped, played: 3 * kept.length });
    expect(s.concealed + s.fecRecovered).toBe(s.lost);
    // The last packet of a lost message is rebuilt from the FEC in the next message's first packet.
    for (const p of conceal) {
      if (p.out.kind !== 'conceal') continue;
      if (p.out.useFecFrom) expect(packetNo(p.out.useFecFrom)).toBe(p.out.slot + 1);
    }
    expect(s.fecRecovered).toBeGreaterThanOrEqual(dropped - 2);
    expect(played.filter((p) => p.out.kind === 'silence' && p.out.reason !== 'not_started' && p.out.reason !== 'waiting' && p.out.reason !== 'ended')).toEqual([]);
  });

  it('drops a message that arrives after its time, counts it late and conceals in its place', () => {
    const d = arriving(stream(6), 200);
    d[2]!.at = T0 + 2 * 60 + 70; // all three packets of message 2 (T0+120..180 ms) are past
    d[4]!.at = T0 + 4 * 60 + 25; // the first two packets of message 4 are past, the third still plays
    const buf = new JitterBuffer();
    const played = run(buf, d, T0 - 100, T0 + 500);
    expect(slots(played)).toEqual([...Array(18).keys()]);
    const kinds = audible(played).map((p) => p.out.kind);
    expect(kinds.slice(6, 9)).toEqual(['conceal', 'conceal', 'conceal']);
    expect(kinds.slice(12, 15)).toEqual(['conceal', 'conceal', 'packet']);
    expect(buf.stats).toMatchObject({ late: 1, latePackets: 2, lost: 5, accepted: 5 });
    // And the late one is said to be late, by how much.
    const b2 = new JitterBuffer();
    b2.push(message(0), T0 - 200);
    b2.pull(T0);
    b2.pull(T0 + 20);
    b2.pull(T0 + 40);
    b2.pull(T0 + 60);
    expect(b2.push(message(1), T0 + 130)).toEqual({ status: 'late', lateByMs: 10 });
  });

  it('counts a message delivered twice as a duplicate and plays it once', () => {
    const buf = new JitterBuffer();
    expect(buf.push(message(0), T0 - 200)).toEqual({ status: 'accepted', packets: 3, latePackets: 0 });
    expect(buf.push(message(0), T0 - 150)).toEqual({ status: 'duplicate' });
    expect(buf.stats).toMatchObject({ received: 2, accepted: 1, duplicates: 1 });
  });

  it('refuses a message whose play-at is further ahead than the target delay allows', () => {
    const buf = new JitterBuffer({ targetDelayMs: 250, maxEarlyMs: 1000 });
    expect(buf.push(message(0), T0 - 1300)).toEqual({ status: 'too_early', leadMs: 1300 });
    expect(buf.push(message(0), T0 - 1200).status).toBe('accepted');
    expect(buf.stats.tooEarly).toBe(1);
  });

  it('refuses another stream and a change of packet duration', () => {
    const buf = new JitterBuffer();
    buf.push(message(0), T0 - 200);
    expect(buf.push(message(1, { streamId: 10 }), T0 - 140)).toEqual({ status: 'rejected', reason: 'other_stream' });
    expect(buf.push({ ...message(1), packetDurationUs: 10000 }, T0 - 140)).toEqual({ status: 'rejected', reason: 'codec_changed' });
    buf.push(message(1, { last: 1 }), T0 - 140);
    expect(buf.push(message(2), T0 - 80)).toEqual({ status: 'rejected', reason: 'after_end' });
  });

  it('starts a late joiner with the packet due now, mid-packet, not the first it received', () => {
    // A site that comes up 5.013 s into the stream is handed the last 400 ms and the next 250 ms at once.
    const joinAt = T0 + 5013;
    const buf = new JitterBuffer();
    for (let k = 0; k < 200; k++) {
      const f = message(k);
      const at = f.playAtUs / 1000;
      if (at >= joinAt - 400 && at <= joinAt + 250) buf.push(f, joinAt - 1);
    }
    const first = buf.pull(joinAt);
    // 5013 ms is 13 ms into packet 250 (5000..5020 ms).
    expect(first).toMatchObject({ kind: 'packet', skipMs: 13, errorMs: 0, playAtMs: T0 + 5000 });
    expect(first.kind === 'packet' && packetNo(first.data)).toBe(250);
    const second = buf.pull(joinAt + 7);
    expect(second).toMatchObject({ kind: 'packet', playAtMs: T0 + 5020, errorMs: 0 });
    expect(second.kind === 'packet' && packetNo(second.data)).toBe(251);
    // Messages 77..82 (4620..4980 ms) were over on arrival, and the first packet of message 83 (4980..5000 ms).
    expect(buf.stats).toMatchObject({ late: 6, latePackets: 1, played: 2 });
  });

  it('brings a site that subscribes mid-stream into sync within a second (at its first packet)', () => {
    const all = stream(100);
    const reference = new JitterBuffer();
    const ref = run(reference, arriving(all, 200), T0 - 100, T0 + 6100);
    const joinAt = T0 + 2345.6; // subscribes: sees only messages published from here on
    const joiner = new JitterBuffer();
    const late = run(
      joiner,
      arriving(all, 200).filter((d) => d.at >= joinAt),
      joinAt,
      T0 + 6100,
    );
    const firstAudible = audible(late)[0]!;
    expect(firstAudible.at - joinAt).toBeLessThan(1000);
    const no = (p: Played) => (p.out.kind === 'packet' ? packetNo(p.out.data) : -1);
    const refAt = new Map(audible(ref).map((p) => [no(p), p.at]));
    for (const p of audible(late)) expect(p.at).toBeCloseTo(refAt.get(no(p))!, 6);
    expect(audible(late).length).toBeGreaterThan(150);
  });

  it('plays through the sequence number wrapping from 2^32−1 to 0, and still spots duplicates and reordering there', () => {
    const frames = stream(6, { firstSeq: 0xffff_fffd });
    expect(frames.map((f) => f.seq)).toEqual([0xffff_fffd, 0xffff_fffe, 0xffff_ffff, 0, 1, 2]);
    const d = arriving(frames, 200);
    d[2]!.at += 70; // 0xffffffff arrives after 0
    d.push({ at: d[4]!.at + 1, frame: frames[3]! }); // seq 0 again
    const buf = new JitterBuffer();
    const played = run(buf, d, T0 - 100, T0 + 500);
    expect(slots(played)).toEqual([...Array(18).keys()]);
    expect(buf.stats).toMatchObject({ reordered: 1, duplicates: 1, played: 18, lost: 0 });
  });

  it('shifts the whole output by metres / 343 m/s of acoustic delay', () => {
    const plain = new JitterBuffer();
    const delayed = new JitterBuffer({ acousticDelayM: 34.3 });
    expect(delayed.acousticDelayMs).toBeCloseTo(100, 9);
    const a = audible(run(plain, arriving(stream(5), 200), T0 - 100, T0 + 500));
    const b = audible(run(delayed, arriving(stream(5), 200), T0 - 100, T0 + 600));
    expect(b.length).toBe(15);
    expect(a.length).toBe(15);
    a.forEach((p, i) => expect(b[i]!.at - p.at).toBeCloseTo(100, 6));
    expect(b[0]!.at).toBeCloseTo(T0 + 100, 6);
    const early = new JitterBuffer({ acousticDelayM: -68.6 });
    early.push(message(0), T0 - 250);
    expect(early.pull(T0 - 200)).toMatchObject({ kind: 'packet', slot: 0, playAtMs: T0 - 200 });
  });

  it('reports the sink drifting 100 ppm slow as +100 ppm, and a fast one as negative', () => {
    for (const ppm of [100, -60]) {
      const buf = new JitterBuffer({ resyncThresholdMs: 50 });
      // The sink does not correct: each 20 ms packet takes 20 ms × (1 + ppm) of server time.
      run(buf, arriving(stream(250), 200), T0, T0 + 250 * 60 - 100, 1 + ppm * 1e-6);
      expect(buf.driftPpm).toBeCloseTo(ppm, 0);
    }
    expect(new JitterBuffer().driftPpm).toBeNull();
  });

  it('fits the drift over the last driftWindow pulls only: a sink that changes pace is reported at its new pace', () => {
    const buf = new JitterBuffer({ resyncThresholdMs: 50, driftWindow: 100 });
    for (const m of stream(200)) buf.push(m, T0 - 250);
    // 300 pulls 100 ppm slow, then 150 at 60 ppm fast: the window (100 pulls, 2 s) holds the fast ones only.
    let elapsed = 0;
    for (let k = 0; k < 450; k++) {
      buf.pull(T0 + elapsed);
      elapsed += 20 * (1 + (k < 300 ? 100 : -60) * 1e-6);
    }
    expect(buf.driftPpm).toBeCloseTo(-60, 0);
  });

  it('skips ahead when the sink falls far behind and fills with silence when it runs far ahead', () => {
    const buf = new JitterBuffer({ resyncThresholdMs: 30 });
    for (let k = 0; k < 10; k++) buf.push(message(k), T0 - 250);
    expect(buf.pull(T0)).toMatchObject({ kind: 'packet', slot: 0 });
    // Small error: reported for the sink to absorb, not corrected here.
    expect(buf.pull(T0 + 25)).toMatchObject({ kind: 'packet', slot: 1, errorMs: 5, skipMs: 0 });
    // 100 ms late: packets 2..6 are skipped, 7 (T0+140) starts 5 ms in.
    expect(buf.pull(T0 + 145)).toMatchObject({ kind: 'packet', slot: 7, skipMs: 5, errorMs: 0 });
    expect(buf.stats.skipped).toBe(5);
    // 45 ms early for packet 8 (T0+160): silence for exactly the gap, then on time.
    expect(buf.pull(T0 + 115)).toEqual({ kind: 'silence', reason: 'resync', durationMs: 45 });
    expect(buf.pull(T0 + 160)).toMatchObject({ kind: 'packet', slot: 8, errorMs: 0 });
  });

  it('starts on time and conceals when the first messages are lost, if the stream start said when it begins', () => {
    const buf = new JitterBuffer({ start: { atMs: T0, frameMs: 20 } });
    expect(buf.pull(T0 - 5)).toEqual({ kind: 'silence', reason: 'waiting', durationMs: 5 });
    buf.push(message(1), T0 - 150); // message 0 never came
    const played = run(buf, [{ at: T0 - 100, frame: message(2, { last: 2 }) }], T0, T0 + 300);
    expect(audible(played).map((p) => p.out.kind)).toEqual(['conceal', 'conceal', 'conceal', 'packet', 'packet', 'packet', 'packet', 'packet', 'packet']);
    expect(audible(played)[0]!.at).toBe(T0);
    // Without it, the timeline starts at the first packet received.
    const plain = new JitterBuffer();
    plain.push(message(1), T0 - 150);
    expect(plain.pull(T0)).toMatchObject({ kind: 'silence', reason: 'waiting' });
  });

  it('conceals a gap up to 200 ms and then plays silence until audio returns', () => {
    const all = stream(20);
    const kept = all.filter((_, k) => k < 3 || k > 8); // 6 messages = 18 packets missing
    const buf = new JitterBuffer();
    const played = run(buf, arriving(kept, 200), T0 - 50, T0 + 1300);
    const mid = played.filter((p) => p.at >= T0 + 180 && p.at < T0 + 540).map((p) => (p.out.kind === 'silence' ? p.out.reason : p.out.kind));
    expect(mid).toEqual([...Array(10).fill('conceal'), ...Array(8).fill('underrun')]);
    expect(buf.stats).toMatchObject({ lost: 18, concealed: 10, played: 42 });
  });
});
