import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AUDIO_FRAME_HEADER_BYTES,
  AUDIO_FRAME_MAX_BYTES,
  audioFrameSize,
  frameStreamId,
  streamMatches,
  unwrapPlayAt,
  OPUS_PACKET_DURATIONS_US,
  OPUS_SAMPLE_RATES,
  decodeAudioControl,
  decodeAudioFrame,
  decodeClockResponse,
  encodeAudioFrame,
  nextSeq,
  seqDelta,
  type AudioFrame,
} from '../../protocol/index.ts';

const NOW_US = 1_757_637_000_000_000;

const base: AudioFrame = {
  streamId: 0x0304,
  seq: 7,
  playAtUs: 1_757_637_000_123_450,
  sampleRate: 48000,
  packetDurationUs: 20000,
  fec: true,
  marker: false,
  endOfStream: false,
  packets: [Uint8Array.of(0xfc, 1, 2), Uint8Array.of(0xfc, 3), Uint8Array.of(0xfc)],
};
const cbr: AudioFrame = { ...base, packets: Array.from({ length: 5 }, (_, k) => new Uint8Array(60).fill(k)) };

/** Play-at within a few hours of now (what a receiver with a server clock sees), in 10 µs steps. */
const arbPlayAt = fc.integer({ min: -4 * 3600_000_00, max: 4 * 3600_000_00 }).map((d) => NOW_US + d * 10);
const arbFrame: fc.Arbitrary<AudioFrame> = fc.record({
  streamId: fc.integer({ min: 0, max: 0xffff }),
  seq: fc.integer({ min: 0, max: 0xffff }),
  playAtUs: arbPlayAt,
  sampleRate: fc.constantFrom(...OPUS_SAMPLE_RATES),
  packetDurationUs: fc.constantFrom(...OPUS_PACKET_DURATIONS_US),
  fec: fc.boolean(),
  marker: fc.boolean(),
  endOfStream: fc.boolean(),
  packets: fc.oneof(
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 700 }), { minLength: 1, maxLength: 10 }),
    // CBR: every packet the same length (one length on the wire).
    fc.tuple(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 10 })).map(([l, n]) => Array.from({ length: n }, () => new Uint8Array(l).fill(0xfc))),
  ),
});

/** Compare decoded packets as plain arrays: decoded ones are views into the message. */
const plain = (f: AudioFrame) => ({ ...f, packets: f.packets.map((p) => [...p]) });

describe('audio frame codec (compact format)', () => {
  it('lays out magic, count and flags, codec, stream, seq and play-at in 10 µs, then one length for CBR packets', () => {
    const b = encodeAudioFrame({ ...cbr, marker: true, streamId: 0xabcd_0304 });
    expect([...b.subarray(0, 3)]).toEqual([0x6c, (4 << 4) | 0b1011, 0x03]);
    expect(b.readUInt16BE(3)).toBe(0x0304); // the low half of the stream id
    expect(b.readUInt16BE(5)).toBe(7);
    expect(b.readUInt32BE(7)).toBe((1_757_637_000_123_450 / 10) % 2 ** 32);
    expect(b.readUInt16BE(11)).toBe(60);
    expect(b.length).toBe(AUDIO_FRAME_HEADER_BYTES + 2 + 5 * 60);
    expect(audioFrameSize(cbr.packets.map((p) => p.length))).toBe(b.length);
    // 13 bytes of header for 300 of speech: the first format spent 32.
    expect(b.length - 300).toBe(13);
  });

  it('writes a length per packet when they differ: one byte under 128, two above', () => {
    const b = encodeAudioFrame({ ...base, packets: [new Uint8Array(3).fill(1), new Uint8Array(200).fill(2)] });
    expect(b[1]! & 0x08).toBe(0);
    expect([...b.subarray(11, 14)]).toEqual([3, 0x80, 200]);
    expect(b.length).toBe(11 + 3 + 3 + 200);
  });

  it('round-trips any packets, counts, sequence numbers and times near the receiver clock (property)', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const r = decodeAudioFrame(encodeAudioFrame(frame), NOW_US);
        expect(r.ok).toBe(true);
        if (r.ok) expect(plain(r.frame)).toEqual(plain(frame));
      }),
      { numRuns: 300 },
    );
  });

  it('unwraps play-at to the instant nearest the receiver clock, across the counter wrap', () => {
    const wrapUs = 2 ** 32 * 10;
    const justAfterWrap = Math.ceil(NOW_US / wrapUs) * wrapUs + 20;
    const b = encodeAudioFrame({ ...base, playAtUs: justAfterWrap });
    // A receiver just before the wrap (its clock a little behind) still gets the instant after it.
    const r = decodeAudioFrame(b, justAfterWrap - 60_000);
    expect(r.ok && r.frame.playAtUs).toBe(justAfterWrap);
    expect(unwrapPlayAt(0, 5)).toBe(0);
    expect(() => encodeAudioFrame({ ...base, playAtUs: NOW_US + 5 })).toThrow(/multiple of 10/);
  });

  it('says truncated, never throws, for every proper prefix of a valid message (property)', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const b = encodeAudioFrame(frame);
        for (let n = 0; n < b.length; n++) {
          const r = decodeAudioFrame(b.subarray(0, n), NOW_US);
          if (r.ok || r.code !== 'truncated') throw new Error(`prefix of ${n}/${b.length} bytes gave ${JSON.stringify(r)}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a message over 8 KiB before reading it, and the encoder will not build one', () => {
    const big = Buffer.alloc(AUDIO_FRAME_MAX_BYTES + 1);
    encodeAudioFrame(base).copy(big);
    expect(decodeAudioFrame(big, NOW_US)).toMatchObject({ ok: false, code: 'oversized' });
    const packets = Array.from({ length: 10 }, () => new Uint8Array(900).fill(0xfc));
    expect(() => encodeAudioFrame({ ...base, packets })).toThrow(RangeError);
  });

  it('refuses the first format by name, a wrong magic and unknown codec indices', () => {
    const with_ = (i: number, v: number) => {
      const b = encodeAudioFrame(base);
      b[i] = v;
      return decodeAudioFrame(b, NOW_US);
    };
    expect(decodeAudioFrame(Buffer.of(0x4c, 0x41, 1, 0, 3, 3), NOW_US)).toMatchObject({ ok: false, code: 'bad_version', reason: expect.stringContaining('first format') });
    expect(with_(0, 0x7b)).toMatchObject({ ok: false, code: 'bad_magic' }); // a JSON control message is not a frame
    expect(with_(2, 0x53)).toMatchObject({ ok: false, code: 'bad_codec' });
    expect(with_(2, 0x06)).toMatchObject({ ok: false, code: 'bad_codec' });
  });

  it('refuses more than ten packets, an empty packet and bytes after the last packet', () => {
    const b = encodeAudioFrame(base);
    for (const n of [10, 15]) {
      const c = Buffer.from(b);
      c[1] = (n << 4) | (c[1]! & 0x0f);
      expect(decodeAudioFrame(c, NOW_US)).toMatchObject({ ok: false, code: 'bad_count' });
    }
    const empty = Buffer.from(b);
    empty[AUDIO_FRAME_HEADER_BYTES] = 0;
    expect(decodeAudioFrame(empty, NOW_US)).toMatchObject({ ok: false, code: 'bad_packet' });
    const uniformZero = encodeAudioFrame(cbr);
    uniformZero.writeUInt16BE(0, AUDIO_FRAME_HEADER_BYTES);
    expect(decodeAudioFrame(uniformZero, NOW_US)).toMatchObject({ ok: false, code: 'bad_packet' });
    expect(decodeAudioFrame(Buffer.concat([b, Buffer.of(0)]), NOW_US)).toMatchObject({ ok: false, code: 'trailing_bytes' });
    expect(() => encodeAudioFrame({ ...base, packets: [] })).toThrow(RangeError);
    expect(() => encodeAudioFrame({ ...base, packets: [new Uint8Array(0)] })).toThrow(RangeError);
    expect(() => encodeAudioFrame({ ...base, seq: 2 ** 16 })).toThrow(RangeError);
  });

  it('never throws on random garbage, with or without a valid header in front (property)', () => {
    const header = encodeAudioFrame(base).subarray(0, AUDIO_FRAME_HEADER_BYTES);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.boolean(), (bytes, prefixed) => {
        const input = prefixed ? Buffer.concat([header, bytes]) : bytes;
        const r = decodeAudioFrame(input, NOW_US);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes from a view at an odd offset of a larger buffer', () => {
    const b = encodeAudioFrame(base);
    const host = new Uint8Array(b.length + 3);
    host.set(b, 3);
    const r = decodeAudioFrame(host.subarray(3), NOW_US);
    expect(r.ok && plain(r.frame)).toEqual(plain(base));
  });

  it('names a stream by the low half of its id', () => {
    expect(frameStreamId(0xdead_beef)).toBe(0xbeef);
    expect(streamMatches(0xbeef, 0xdead_beef)).toBe(true);
    expect(streamMatches(0xbeef, 0xdead_beee)).toBe(false);
  });
});

describe('sequence arithmetic', () => {
  it('wraps from 2^16-1 to 0 and measures signed distance across the wrap', () => {
    expect(nextSeq(0xffff)).toBe(0);
    expect(seqDelta(0xfffe, 1)).toBe(3);
    expect(seqDelta(1, 0xfffe)).toBe(-3);
    expect(seqDelta(5, 5)).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }), (a, d) => {
        expect(seqDelta(a, (a + d) & 0xffff)).toBe(d);
      }),
    );
  });
});

describe('audio control messages', () => {
  const start = {
    v: 1,
    type: 'stream_start',
    streamId: 42,
    codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage: 3, bitrate: 24000, fec: true },
    priority: 'emergency',
    areas: ['2025.02683'],
    source: { kind: 'browser', label: 'Chủ tịch UBND xã' },
    delayMs: 250,
    whenPreempted: 'end',
    startAt: 1757637000250,
    at: 1757637000000,
  };

  it('accepts a stream start and stop and refuses an unknown priority naming the field', () => {
    expect(decodeAudioControl.check(start).ok).toBe(true);
    expect(decodeAudioControl.check({ v: 1, type: 'stream_stop', streamId: 42, reason: 'operator', at: 1757637060000 }).ok).toBe(true);
    const bad = decodeAudioControl.check({ ...start, priority: 'urgent' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'schema' } });
    expect(!bad.ok && bad.error.reason).toContain('/priority');
    expect(decodeAudioControl.check({ ...start, v: 2 })).toMatchObject({ ok: false, error: { code: 'unknown_version' } });
    expect(decodeAudioControl.check({ ...start, codec: { ...start.codec, packetsPerMessage: 11 } }).ok).toBe(false);
    expect(decodeAudioControl.check({ ...start, areas: [] }).ok).toBe(false);
  });

  it('decodes a clock response with fractional ms and refuses one missing t2', () => {
    expect(decodeClockResponse.decode('{"v":1,"siteId":"xa-ban-xeo-01","id":9,"t0":1757637000000.25,"t1":1757637001980.5,"t2":1757637001980.75}').ok).toBe(true);
    expect(decodeClockResponse.decode('{"v":1,"siteId":"xa-ban-xeo-01","id":9,"t0":1,"t1":2}').ok).toBe(false);
    // It travels on a site topic, so it names the site (checked against the topic).
    expect(decodeClockResponse.decode('{"v":1,"id":9,"t0":1,"t1":2,"t2":2}').ok).toBe(false);
  });
});
