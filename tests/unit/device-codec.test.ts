import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEVICE_MAX_PAYLOAD, DeviceFrameDecoder, crc16CcittFalse, encodeDeviceFrame, type DeviceDirection, type DeviceMessage } from '../../protocol/index.ts';

const hello: DeviceMessage = { type: 'hello', agent: 'test' };
const volume: DeviceMessage = { type: 'set_volume', level: 55 };
const fault: DeviceMessage = { type: 'fault', device: 'line-2', fault: 'line_open', detail: 'line 2 reads open' };
const reply: DeviceMessage = { type: 'reply', op: 'sound_check', ok: true, result: { levelDb: -26.4 } };

function decodeAll(decoder: DeviceFrameDecoder<DeviceDirection>, chunks: Uint8Array[]) {
  const frames = [];
  const rejected = [];
  for (const c of chunks) {
    const r = decoder.push(c);
    frames.push(...r.frames);
    rejected.push(...r.rejected);
  }
  return { frames, rejected };
}

describe('CRC-16/CCITT-FALSE', () => {
  it('matches the catalogue check value for "123456789"', () => {
    expect(crc16CcittFalse(Buffer.from('123456789'))).toBe(0x29b1);
  });
});

describe('device frame codec', () => {
  it('round-trips requests, replies and events with their seq', () => {
    const d = new DeviceFrameDecoder();
    const bytes = Buffer.concat([encodeDeviceFrame(1, hello), encodeDeviceFrame(2, reply), encodeDeviceFrame(255, fault)]);
    const { frames } = d.push(bytes);
    expect(frames.map((f) => [f.seq, f.message])).toEqual([
      [1, hello],
      [2, reply],
      [255, fault],
    ]);
    expect(d.stats).toMatchObject({ frames: 3, droppedBytes: 0, crcErrors: 0, oversize: 0 });
  });

  it('lays out SYNC, version, seq and a big-endian length before the payload', () => {
    const f = encodeDeviceFrame(7, volume);
    const json = JSON.stringify(volume);
    expect([...f.subarray(0, 4)]).toEqual([0xa5, 0x5a, 1, 7]);
    expect(f.readUInt16BE(4)).toBe(json.length);
    expect(f.subarray(6, 6 + json.length).toString()).toBe(json);
    expect(f.readUInt16BE(6 + json.length)).toBe(crc16CcittFalse(f, 2, 6 + json.length));
  });

  it('skips garbage before and between frames and resynchronises', () => {
    const d = new DeviceFrameDecoder();
    const garbage = Buffer.from([0x00, 0xa5, 0x13, 0x5a, 0xa5, 0xff, 0x42]);
    const { frames } = d.push(Buffer.concat([garbage, encodeDeviceFrame(1, hello), garbage, encodeDeviceFrame(2, volume)]));
    expect(frames.map((f) => f.seq)).toEqual([1, 2]);
    expect(d.stats.droppedBytes).toBe(garbage.length * 2);
  });

  it('drops a frame with a bad CRC, counts it, and still finds the next one', () => {
    const d = new DeviceFrameDecoder();
    const bad = encodeDeviceFrame(1, hello);
    bad[8] = bad[8]! ^ 0x01; // flip a payload bit
    const { frames } = d.push(Buffer.concat([bad, encodeDeviceFrame(2, volume)]));
    expect(frames.map((f) => f.seq)).toEqual([2]);
    expect(d.stats.crcErrors).toBe(1);
  });

  it('waits for the rest of a truncated frame', () => {
    const d = new DeviceFrameDecoder();
    const f = encodeDeviceFrame(3, fault);
    expect(d.push(f.subarray(0, 10)).frames).toEqual([]);
    expect(d.pending).toBe(10);
    expect(d.push(f.subarray(10)).frames.map((x) => x.message)).toEqual([fault]);
    expect(d.pending).toBe(0);
  });

  it('rejects a header announcing more than the maximum payload without waiting for it', () => {
    const d = new DeviceFrameDecoder();
    const header = Buffer.from([0xa5, 0x5a, 1, 9, 0, 0]);
    header.writeUInt16BE(DEVICE_MAX_PAYLOAD + 1, 4);
    const { frames } = d.push(Buffer.concat([header, encodeDeviceFrame(4, hello)]));
    expect(frames.map((f) => f.seq)).toEqual([4]);
    expect(d.stats.oversize).toBe(1);
  });

  it('refuses to encode a payload over the maximum', () => {
    const huge = { type: 'fault', device: 'x', fault: 'y', detail: 'z'.repeat(2000) } as DeviceMessage;
    expect(() => encodeDeviceFrame(1, huge)).toThrow(/exceeds 1024/);
  });

  it('reports a schema-invalid message with its seq and type instead of throwing', () => {
    const d = new DeviceFrameDecoder('to_device');
    const bad = encodeDeviceFrame(5, { type: 'set_volume', level: 300 } as DeviceMessage);
    const { frames, rejected } = d.push(bad);
    expect(frames).toEqual([]);
    expect(rejected).toEqual([expect.objectContaining({ seq: 5, code: 'schema', messageType: 'set_volume' })]);
  });

  it('accepts only its direction: a device decoder rejects an event', () => {
    const d = new DeviceFrameDecoder('to_device');
    expect(d.push(encodeDeviceFrame(1, fault)).rejected[0]?.code).toBe('schema');
    const a = new DeviceFrameDecoder('to_agent');
    expect(a.push(encodeDeviceFrame(1, fault)).frames).toHaveLength(1);
    expect(a.push(encodeDeviceFrame(2, volume)).rejected[0]?.code).toBe('schema');
  });

  it('reports an unknown version rather than guessing at it', () => {
    const d = new DeviceFrameDecoder();
    const { rejected } = d.push(encodeDeviceFrame(6, hello, 2));
    expect(rejected[0]).toMatchObject({ seq: 6, code: 'unknown_version' });
  });

  it('flush() drops a partial frame held back by a false SYNC', () => {
    const d = new DeviceFrameDecoder();
    d.push(Buffer.from([0xa5, 0x5a, 1, 0, 0x03, 0xe8, 1, 2, 3]));
    expect(d.flush()).toBe(9);
    expect(d.push(encodeDeviceFrame(1, hello)).frames).toHaveLength(1);
  });
});

describe('device frame codec properties', () => {
  const message = fc.oneof(
    fc.integer({ min: 0, max: 100 }).map((level): DeviceMessage => ({ type: 'set_volume', level })),
    fc.boolean().map((on): DeviceMessage => ({ type: 'amp_power', on })),
    fc
      .record({ device: fc.string({ maxLength: 64 }), fault: fc.string({ maxLength: 64 }), detail: fc.string({ maxLength: 300 }) })
      .map((f): DeviceMessage => ({ type: 'fault', ...f })),
  );
  const framed = fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), message), { minLength: 1, maxLength: 8 });

  it('any split of the byte stream into chunks yields the same frames', () => {
    fc.assert(
      fc.property(framed, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }), (msgs, cuts) => {
        const bytes = Buffer.concat(msgs.map(([seq, m]) => encodeDeviceFrame(seq, m)));
        const chunks: Uint8Array[] = [];
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          chunks.push(bytes.subarray(pos, pos + n));
          pos += n;
        }
        const { frames } = decodeAll(new DeviceFrameDecoder(), chunks);
        expect(frames.map((f) => [f.seq, f.message])).toEqual(msgs);
      }),
      { numRuns: 300 },
    );
  });

  // Garbage rich in SYNC bytes, so false frame starts (with random lengths) are common.
  const junk = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0xa5), fc.constant(0x5a), fc.constant(0x01)), { maxLength: 64 }).map((b) => Uint8Array.from(b));

  it('after garbage between frames, every frame is recovered once the stream moves on', () => {
    fc.assert(
      fc.property(framed, fc.array(junk, { minLength: 8, maxLength: 8 }), (msgs, junks) => {
        const parts: Uint8Array[] = [];
        msgs.forEach(([seq, m], i) => parts.push(junks[i]!, encodeDeviceFrame(seq, m)));
        // A false SYNC may announce up to 1024 bytes; until that many arrive the decoder
        // cannot tell it from a real frame. Later traffic (here: padding) settles it.
        parts.push(new Uint8Array(DEVICE_MAX_PAYLOAD + 8));
        const { frames } = decodeAll(new DeviceFrameDecoder(), parts);
        expect(frames.map((f) => [f.seq, f.message])).toEqual(msgs);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (chunks) => {
        const d = new DeviceFrameDecoder('to_agent');
        expect(() => decodeAll(d, chunks)).not.toThrow();
        expect(d.pending).toBeLessThanOrEqual(DEVICE_MAX_PAYLOAD + 8 + 200);
      }),
      { numRuns: 500 },
    );
  });
});
