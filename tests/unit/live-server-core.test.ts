/** The pure parts of server/live: PCM framing, grouping on the slot grid, skew, target areas, the stats event's schema. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PcmQueue } from '../../server/live/pcm-queue.ts';
import { FrameAssembler } from '../../server/live/frame-assembler.ts';
import { SkewTracker } from '../../server/live/skew.ts';
import { outermost } from '../../server/live/service.ts';
import { firstClash } from '../../server/live/area-overlap.ts';
import { LIVE_FRAME_BYTES } from '../../server/live/opus-encoder.ts';
import { decodeAudioFrame, decodeEvent, encodeAudioFrame } from '../../protocol/index.ts';

describe('PcmQueue', () => {
  it('turns chunks of any size into whole 20 ms frames, bytes in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 30 }), (sizes) => {
        const q = new PcmQueue();
        let n = 0;
        for (const s of sizes) {
          const c = Buffer.alloc(s);
          for (let i = 0; i < s; i++) c[i] = (n + i) & 0xff;
          n += s;
          q.push(c);
        }
        let pos = 0;
        for (let f = q.take(); f; f = q.take()) {
          expect(f.length).toBe(LIVE_FRAME_BYTES);
          for (let i = 0; i < f.length; i += 97) expect(f[i]).toBe((pos + i) & 0xff);
          pos += f.length;
        }
        expect(pos).toBe(Math.floor(n / LIVE_FRAME_BYTES) * LIVE_FRAME_BYTES);
        const rest = q.takeRest();
        if (n % LIVE_FRAME_BYTES) {
          expect(rest!.length).toBe(LIVE_FRAME_BYTES);
          expect(rest![0]).toBe(pos & 0xff);
          expect(rest![LIVE_FRAME_BYTES - 1]).toBe(0);
        } else expect(rest).toBeUndefined();
        expect(q.levelMs).toBe(0);
      }),
    );
  });

  it('a live queue keeps only the newest audio beyond its bound, frame-aligned', () => {
    const q = new PcmQueue({ maxMs: 100 });
    for (let i = 0; i < 10; i++) q.push(Buffer.alloc(LIVE_FRAME_BYTES, i));
    expect(q.levelMs).toBe(100);
    expect(q.droppedMs).toBe(100);
    expect(q.take()![0]).toBe(5);
  });
});

describe('FrameAssembler', () => {
  const pkt = (n: number) => Uint8Array.of(0xf8, n & 0xff);

  it('groups consecutive slots into messages of N packets with the play-at of their first slot, seq +1, markers every M', () => {
    const a = new FrameAssembler({ streamId: 7, startAtMs: 1_700_000_000_123, packetsPerMessage: 3, markerEvery: 2, fec: true });
    const out = Array.from({ length: 9 }, (_, k) => a.add(k, pkt(k))).flat();
    expect(out.map((f) => f.seq)).toEqual([0, 1, 2]);
    expect(out.map((f) => f.playAtUs)).toEqual([0, 60_000, 120_000].map((d) => 1_700_000_000_123_000 + d));
    expect(out.map((f) => f.marker)).toEqual([true, false, true]);
    expect(out[1]!.packets.map((p) => p[1])).toEqual([3, 4, 5]);
    // Through the wire format and back.
    const back = decodeAudioFrame(encodeAudioFrame(out[2]!), 1_700_000_000_123_000);
    expect(back.ok && back.frame).toMatchObject({ streamId: 7, seq: 2, fec: true, marker: true, endOfStream: false });
  });

  it('a skipped slot closes the message being filled; the next starts at its own slot', () => {
    const a = new FrameAssembler({ streamId: 1, startAtMs: 1000, packetsPerMessage: 3, fec: false });
    expect(a.add(0, pkt(0))).toEqual([]);
    const out = a.add(2, pkt(2));
    expect(out).toHaveLength(1);
    expect(out[0]!.packets).toHaveLength(1);
    const next = [...a.add(3, pkt(3)), ...a.add(4, pkt(4))];
    expect(next[0]!.playAtUs).toBe(1_000_000 + 2 * 20_000);
    expect(() => a.add(4, pkt(4))).toThrow(RangeError);
  });

  it('finish flags the last message end of stream, with a filler packet when nothing is pending', () => {
    const a = new FrameAssembler({ streamId: 1, startAtMs: 1000, packetsPerMessage: 2, fec: false });
    a.add(0, pkt(0));
    const last = a.finish(pkt(99));
    expect(last).toMatchObject({ endOfStream: true, playAtUs: 1_000_000 });
    expect(last.packets.map((p) => p[1])).toEqual([0]);
    const b = new FrameAssembler({ streamId: 1, startAtMs: 1000, packetsPerMessage: 2, fec: false });
    b.add(0, pkt(0));
    b.add(1, pkt(1));
    const end = b.finish(pkt(99));
    expect(end.playAtUs).toBe(1_000_000 + 2 * 20_000);
    expect(end.packets.map((p) => p[1])).toEqual([99]);
  });
});

describe('SkewTracker', () => {
  it('spread per mark is latest − earliest site; summary over marks heard from two or more sites', () => {
    const s = new SkewTracker();
    for (let seq = 0; seq < 100; seq++) {
      s.add('a', seq, 1000 + seq);
      s.add('b', seq, 1000 + seq + (seq === 99 ? 40 : 2));
      s.add('c', seq, 1000 + seq + 1);
    }
    s.add('a', 500, 1); // one site only: no spread
    expect(s.summary()).toEqual({ marks: 100, sites: 3, p50Ms: 2, p99Ms: 2, maxMs: 40 });
  });

  it('forgets the oldest marks beyond its bound', () => {
    const s = new SkewTracker(10);
    for (let seq = 0; seq < 20; seq++) s.add('a', seq, 0), s.add('b', seq, seq);
    expect(s.summary()).toMatchObject({ marks: 10, maxMs: 19, p50Ms: 14 });
  });
});

describe('outermost target areas', () => {
  it('drops areas inside another target and duplicates, so no site gets a frame twice', () => {
    const province = { id: 1, key: 'p', path: [1] };
    const district = { id: 2, key: 'd', path: [2, 1] };
    const commune = { id: 3, key: 'c', path: [3, 2, 1] };
    const other = { id: 4, key: 'o', path: [4] };
    expect(outermost([commune, district, other, other])).toEqual([district, other]);
    expect(outermost([commune, province])).toEqual([province]);
  });

  it('a stream of the same priority over an area, above it or inside it clashes; another priority or a sibling area does not', () => {
    const district = { id: 2, key: 'd', path: [2, 1] };
    const commune = { id: 3, key: 'c', path: [3, 2, 1] };
    const village = { id: 5, key: 'v', path: [5, 3, 2, 1] };
    const sibling = { id: 4, key: 's', path: [4, 2, 1] };
    const onAir = [
      { id: 10, priority: 'emergency', areas: [district], label: 'PCTT' },
      { id: 11, priority: 'normal', areas: [commune], label: 'VOV1' },
    ];
    expect(firstClash([village], 'normal', onAir)).toEqual({ other: onAir[1], area: village });
    expect(firstClash([district], 'normal', onAir)).toEqual({ other: onAir[1], area: district });
    expect(firstClash([sibling], 'normal', onAir)).toBeUndefined();
    expect(firstClash([village], 'priority', onAir)).toBeUndefined();
    expect(firstClash([sibling, village], 'emergency', onAir)?.area).toBe(sibling);
  });
});

describe('stream_stats event', () => {
  const ok = {
    v: 1,
    siteId: 'cum-loa-1',
    at: 1_700_000_000_000,
    type: 'stream_stats',
    streamId: 42,
    received: 10,
    late: 0,
    lost: 1,
    concealed: 1,
    fecRecovered: 0,
    played: 29,
    bufferLevelMs: 200,
    marks: [{ seq: 0, playedAt: 1_700_000_000_250.5 }],
    clockUncertaintyMs: null,
    final: false,
  };
  it('passes the site event boundary, and a report with a missing or unknown field does not', () => {
    expect(decodeEvent.decode(Buffer.from(JSON.stringify(ok))).ok).toBe(true);
    const { played: _p, ...missing } = ok;
    expect(decodeEvent.decode(Buffer.from(JSON.stringify(missing))).ok).toBe(false);
    expect(decodeEvent.decode(Buffer.from(JSON.stringify({ ...ok, extra: 1 }))).ok).toBe(false);
    expect(decodeEvent.decode(Buffer.from(JSON.stringify({ ...ok, lost: -1 }))).ok).toBe(false);
    expect(decodeEvent.decode(Buffer.from(JSON.stringify({ ...ok, marks: Array.from({ length: 65 }, (_, seq) => ({ seq, playedAt: 1 })) }))).ok).toBe(false);
  });
});
