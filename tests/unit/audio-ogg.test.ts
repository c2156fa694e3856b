import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OggOpusError, oggCrc, oggPage, opusPacketSamples, readOggOpus, readOggPages, writeOggOpus } from '../../edge-agent/audio/ogg.ts';

/** A CELT-only 20 ms packet (TOC config 31, code 0) with `n` payload bytes. */
const celt20 = (n: number, fill = 1) => Uint8Array.from([0xf8, ...new Array<number>(n).fill(fill)]);
const packets = (k: number) => Array.from({ length: k }, (_, i) => celt20(10 + (i % 7), i & 0xff));

function expectOggError(f: () => unknown, code: OggOpusError['code']): OggOpusError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OggOpusError);
    expect((e as OggOpusError).code).toBe(code);
    return e as OggOpusError;
  }
  throw new Error(`expected OggOpusError ${code}, nothing was thrown`);
}

describe('Ogg CRC', () => {
  it('matches the Ogg reference value for "OggS" header bytes', () => {
    // Known value: CRC-32/MPEG-2-style without init (poly 04C11DB7, init 0) of "123456789" is 0x89A1897F.
    expect(oggCrc(new TextEncoder().encode('123456789'))).toBe(0x89a1897f);
  });
});

describe('opusPacketSamples (RFC 6716 §3.1 TOC)', () => {
  it('reads frame size and count', () => {
    expect(opusPacketSamples(Uint8Array.of(0xf8))).toBe(960); // CELT 20 ms, 1 frame
    expect(opusPacketSamples(Uint8Array.of(0xf9))).toBe(1920); // code 1: 2 frames
    expect(opusPacketSamples(Uint8Array.of(0x08))).toBe(960); // SILK NB 20 ms
    expect(opusPacketSamples(Uint8Array.of(0x18))).toBe(2880); // SILK 60 ms
    expect(opusPacketSamples(Uint8Array.of(0x60))).toBe(480); // hybrid 10 ms
    expect(opusPacketSamples(Uint8Array.of(0x80))).toBe(120); // CELT 2.5 ms
    expect(opusPacketSamples(Uint8Array.of(0xfb, 0x03))).toBe(2880); // code 3, 3 frames of 20 ms
  });
  it('refuses malformed packets', () => {
    expect(opusPacketSamples(new Uint8Array(0))).toBeNull();
    expect(opusPacketSamples(Uint8Array.of(0xfb))).toBeNull(); // code 3 without count byte
    expect(opusPacketSamples(Uint8Array.of(0xfb, 0x00))).toBeNull(); // zero frames
    expect(opusPacketSamples(Uint8Array.of(0xfb, 0x07))).toBeNull(); // 140 ms > 120 ms
  });
});

describe('readOggOpus', () => {
  it('reads back what writeOggOpus wrote: header fields, packets, duration from the granule', () => {
    const ps = packets(123);
    const s = readOggOpus(writeOggOpus({ packets: ps, preSkip: 312, packetsPerPage: 10 }));
    expect(s.channels).toBe(1);
    expect(s.preSkip).toBe(312);
    expect(s.inputSampleRate).toBe(48000);
    expect(s.packets).toHaveLength(123);
    expect(Array.from(s.packets, (p) => Array.from(p))).toEqual(ps.map((p) => Array.from(p)));
    expect(s.totalSamples).toBe(123 * 960 - 312);
    expect(s.durationMs).toBeCloseTo(((123 * 960 - 312) / 48000) * 1000, 6);
  });

  it('honours end trimming (the last granule stops before the last packet ends)', () => {
    const s = readOggOpus(writeOggOpus({ packets: packets(10), preSkip: 0, endTrimSamples: 500 }));
    expect(s.totalSamples).toBe(10 * 960 - 500);
  });

  it('reassembles packets laced over 255 bytes and packets continued across pages', () => {
    const big = celt20(700, 9);
    const file = writeOggOpus({ packets: [celt20(5), big, celt20(5)], packetsPerPage: 3 });
    expect(readOggOpus(file).packets.at(1)).toEqual(big);

    // Split the big packet over two pages by hand: lacing 255,255 (no packet ends) | continued page with the rest.
    const headers = readOggPages(file).slice(0, 2);
    const serial = headers[0]!.serial;
    const headerBytes = file.subarray(0, headers[1]!.body.byteOffset - file.byteOffset + headers[1]!.body.length);
    const p1 = new Uint8Array(27 + 2 + 510);
    p1.set(oggPage({ flags: 0, granule: null, serial, sequence: 2, packets: [] }).subarray(0, 26));
    p1[26] = 2;
    p1[27] = 255;
    p1[28] = 255;
    p1.set(big.subarray(0, 510), 29);
    new DataView(p1.buffer).setUint32(22, oggCrc(p1, 0, p1.length, 22), true);
    const p2 = oggPage({ flags: 0x01 | 0x04, granule: 960, serial, sequence: 3, packets: [big.subarray(510)] });
    const s = readOggOpus(Uint8Array.from([...headerBytes, ...p1, ...p2]));
    expect(s.packets).toHaveLength(1);
    expect(s.packets.at(0)).toEqual(big);
  });

  it('names what is wrong with damaged input', () => {
    const file = writeOggOpus({ packets: packets(40), packetsPerPage: 10 });
    expect(expectOggError(() => readOggOpus(new Uint8Array(0)), 'truncated').message).toMatch(/empty/);
    expectOggError(() => readOggOpus(new TextEncoder().encode('RIFF....WAVEfmt not an ogg file at all')), 'not_ogg');

    const flipped = file.slice();
    flipped[flipped.length - 20]! ^= 0x40;
    const crc = expectOggError(() => readOggOpus(flipped), 'bad_crc');
    expect(crc.page).toBe(5);
    expect(crc.message).toMatch(/checksum .* damaged.*page 5/);

    expect(expectOggError(() => readOggOpus(file.subarray(0, file.length - 7)), 'truncated').message).toMatch(/ends inside a page/);

    // Cut at a page boundary: every page is whole but the end-of-stream page is gone.
    const pages = readOggPages(file);
    expect(expectOggError(() => readOggOpus(file.subarray(0, pages[4]!.offset)), 'truncated').message).toMatch(/end-of-stream/);

    // Drop a page in the middle.
    const gap = Uint8Array.from([...file.subarray(0, pages[3]!.offset), ...file.subarray(pages[4]!.offset)]);
    expect(expectOggError(() => readOggOpus(gap), 'missing_page').message).toMatch(/from 2 to 4/);
  });

  it('refuses streams that are Ogg but not Opus', () => {
    const vorbis = oggPage({ flags: 0x02 | 0x04, granule: 0, serial: 1, sequence: 0, packets: [new TextEncoder().encode('\x01vorbis and more')] });
    expectOggError(() => readOggOpus(vorbis), 'not_opus');
    const head = new Uint8Array(19);
    head.set(new TextEncoder().encode('OpusHead'));
    head[8] = 1;
    head[9] = 0; // zero channels
    const noChannels = oggPage({ flags: 0x02 | 0x04, granule: 0, serial: 1, sequence: 0, packets: [head, new TextEncoder().encode('OpusTags')] });
    expect(expectOggError(() => readOggOpus(noChannels), 'bad_head').message).toMatch(/0 channels/);
    head[9] = 1;
    const noTags = oggPage({ flags: 0x02 | 0x04, granule: 0, serial: 1, sequence: 0, packets: [head, celt20(3)] });
    expectOggError(() => readOggOpus(noTags), 'no_tags');
  });

  it('never throws anything but OggOpusError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        try {
          readOggOpus(bytes);
        } catch (e) {
          if (!(e instanceof OggOpusError)) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('on a damaged valid file (bytes flipped, cut, spliced) either reads it or throws OggOpusError', () => {
    const file = writeOggOpus({ packets: packets(30), packetsPerPage: 7 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: file.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 4 }),
        fc.nat({ max: file.length }),
        fc.boolean(),
        (flips, cut, fixCrc) => {
          const bytes = file.slice(0, Math.max(cut, 1));
          for (const f of flips) if (f.at < bytes.length) bytes[f.at]! ^= f.xor;
          if (fixCrc) {
            // Recompute every page's CRC where the header is still intact, so corruption reaches the parser proper.
            let off = 0;
            while (off + 27 <= bytes.length && bytes[off] === 0x4f) {
              const n = bytes[off + 26]!;
              let len = 27 + n;
              for (let i = 0; i < n && off + 27 + i < bytes.length; i++) len += bytes[off + 27 + i]!;
              if (off + len > bytes.length) break;
              new DataView(bytes.buffer).setUint32(off + 22, oggCrc(bytes, off, off + len, off + 22), true);
              off += len;
            }
          }
          try {
            const s = readOggOpus(bytes);
            expect(s.totalSamples).toBeGreaterThanOrEqual(0);
          } catch (e) {
            if (!(e instanceof OggOpusError)) throw e;
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
