import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AUDIO_FRAME_HEADER_BYTES,
  AUDIO_FRAME_MAX_BYTES,
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

const base: AudioFrame = {
  streamId: 0x0102_0304,
  seq: 7,
  playAtUs: 1_757_637_000_123_456,
  sampleRate: 48000,
  packetDurationUs: 20000,
  fec: true,
  marker: false,
  endOfStream: false,
  packets: [Uint8Array.of(0xfc, 1, 2), Uint8Array.of(0xfc, 3), Uint8Array.of(0xfc)],
};

const arbFrame: fc.Arbitrary<AudioFrame> = fc.record({
  streamId: fc.integer({ min: 0, max: 0xffff_ffff }),
  seq: fc.integer({ min: 0, max: 0xffff_ffff }),
  playAtUs: fc.maxSafeNat(),
  sampleRate: fc.constantFrom(...OPUS_SAMPLE_RATES),
  packetDurationUs: fc.constantFrom(...OPUS_PACKET_DURATIONS_US),
  fec: fc.boolean(),
  marker: fc.boolean(),
  endOfStream: fc.boolean(),
  packets: fc.array(fc.uint8Array({ minLength: 1, maxLength: 700 }), { minLength: 1, maxLength: 10 }),
});

/** Compare decoded packets as plain arrays: decoded ones are views into the message. */
const plain = (f: AudioFrame) => ({ ...f, packets: f.packets.map((p) => [...p]) });

describe('audio frame codec', () => {
  it('lays out magic, version, flags, codec, count, stream id, seq and play-at big-endian', () => {
    const b = encodeAudioFrame({ ...base, marker: true });
    expect([...b.subarray(0, 6)]).toEqual([0x4c, 0x41, 1, 0b011, 0x03, 3]);
    expect(b.readUInt32BE(6)).toBe(0x0102_0304);
    expect(b.readUInt32BE(10)).toBe(7);
    expect(b.readBigUInt64BE(14)).toBe(1_757_637_000_123_456n);
    expect(b.readUInt16BE(22)).toBe(3);
    expect([...b.subarray(24, 27)]).toEqual([0xfc, 1, 2]);
    expect(b.length).toBe(AUDIO_FRAME_HEADER_BYTES + 2 + 3 + 2 + 2 + 2 + 1);
  });

  it('round-trips any packets, counts, sequence numbers and times (property)', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const r = decodeAudioFrame(encodeAudioFrame(frame));
        expect(r.ok).toBe(true);
        if (r.ok) expect(plain(r.frame)).toEqual(plain(frame));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the largest play-at below 2^53 exact and refuses a high word beyond it', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const r = decodeAudioFrame(encodeAudioFrame({ ...base, playAtUs: max }));
    expect(r.ok && r.frame.playAtUs).toBe(max);
    const b = encodeAudioFrame(base);
    b.writeUInt32BE(0x0020_0000, 14);
    expect(decodeAudioFrame(b)).toMatchObject({ ok: false, code: 'bad_time' });
  });

  it('says truncated, never throws, for every proper prefix of a valid message (property)', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const b = encodeAudioFrame(frame);
        for (let n = 0; n < b.length; n++) {
          const r = decodeAudioFrame(b.subarray(0, n));
          if (r.ok || r.code !== 'truncated') throw new Error(`prefix of ${n}/${b.length} bytes gave ${JSON.stringify(r)}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a message over 8 KiB before reading it, and the encoder will not build one', () => {
    const big = Buffer.alloc(AUDIO_FRAME_MAX_BYTES + 1);
    encodeAudioFrame(base).copy(big);
    expect(decodeAudioFrame(big)).toMatchObject({ ok: false, code: 'oversized' });
    const packets = Array.from({ length: 10 }, () => new Uint8Array(900).fill(0xfc));
    expect(() => encodeAudioFrame({ ...base, packets })).toThrow(RangeError);
  });

  it('refuses a wrong version, a wrong magic, reserved flags and unknown codec indices', () => {
    const with_ = (i: number, v: number) => {
      const b = encodeAudioFrame(base);
      b[i] = v;
      return decodeAudioFrame(b);
    };
    expect(with_(2, 2)).toMatchObject({ ok: false, code: 'bad_version', reason: 'audio frame version 2; this side speaks 1' });
    expect(with_(0, 0x7b)).toMatchObject({ ok: false, code: 'bad_magic' }); // a JSON control message is not a frame
    expect(with_(1, 0)).toMatchObject({ ok: false, code: 'bad_magic' });
    expect(with_(3, 0x08)).toMatchObject({ ok: false, code: 'bad_flags' });
    expect(with_(4, 0x53)).toMatchObject({ ok: false, code: 'bad_codec' });
    expect(with_(4, 0x06)).toMatchObject({ ok: false, code: 'bad_codec' });
    expect(decodeAudioFrame(Buffer.of(0x4c, 0x41, 9))).toMatchObject({ ok: false, code: 'bad_version' });
  });

  it('refuses zero or more than ten packets, an empty packet and bytes after the last packet', () => {
    const b = encodeAudioFrame(base);
    for (const n of [0, 11, 255]) {
      const c = Buffer.from(b);
      c[5] = n;
      expect(decodeAudioFrame(c)).toMatchObject({ ok: false, code: 'bad_count' });
    }
    const empty = Buffer.from(b);
    empty.writeUInt16BE(0, AUDIO_FRAME_HEADER_BYTES);
    expect(decodeAudioFrame(empty)).toMatchObject({ ok: false, code: 'bad_packet' });
    expect(decodeAudioFrame(Buffer.concat([b, Buffer.of(0)]))).toMatchObject({ ok: false, code: 'trailing_bytes' });
    expect(() => encodeAudioFrame({ ...base, packets: [] })).toThrow(RangeError);
    expect(() => encodeAudioFrame({ ...base, packets: [new Uint8Array(0)] })).toThrow(RangeError);
    expect(() => encodeAudioFrame({ ...base, seq: 2 ** 32 })).toThrow(RangeError);
  });

  it('never throws on random garbage, with or without a valid header in front (property)', () => {
    const header = encodeAudioFrame(base).subarray(0, AUDIO_FRAME_HEADER_BYTES);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.boolean(), (bytes, prefixed) => {
        const input = prefixed ? Buffer.concat([header, bytes]) : bytes;
        const r = decodeAudioFrame(input);
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
    const r = decodeAudioFrame(host.subarray(3));
    expect(r.ok && plain(r.frame)).toEqual(plain(base));
  });
});

describe('sequence arithmetic', () => {
  it('wraps from 2^32-1 to 0 and measures signed distance across the wrap', () => {
    expect(nextSeq(0xffff_ffff)).toBe(0);
    expect(seqDelta(0xffff_fffe, 1)).toBe(3);
    expect(seqDelta(1, 0xffff_fffe)).toBe(-3);
    expect(seqDelta(5, 5)).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (a, d) => {
        expect(seqDelta(a, (a + d) >>> 0)).toBe(d);
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
