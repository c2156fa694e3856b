/**
 * Reads an Ogg Opus file (RFC 3533 pages, RFC 7845 mapping) into its Opus
 * packets: what the agent does with a bulletin from its media cache before
 * decoding it. Pure, no I/O: the file is already in memory (speech at 24 kbit/s
 * is ~11 MB an hour, and the cache has verified its SHA-256).
 *
 * The packets are an index over the file's bytes (OpusPacketList: two 32-bit
 * numbers per packet), not an array of views: a view is an object of ~70
 * bytes on V8's heap, 12 MiB for an hour's 180,000 packets on a board that
 * should hold its whole agent in ~70 MiB (measured; the index is 1.4 MB).
 *
 * Strict on purpose: every page's CRC is checked, page sequence numbers must
 * be contiguous and the stream must end with an end-of-stream page. A damaged
 * or cut file gives an OggOpusError naming what is wrong and where (page
 * number, byte offset) — never garbage audio on a loudspeaker, and never any
 * other exception, whatever the bytes (a property-based test holds us to it).
 *
 * Scope: one logical stream (the first beginning-of-stream page's serial);
 * pages of other streams (a multiplexed file) are skipped. Channel mapping
 * families 0 and 1 are read; the library writes mono, family 0.
 */
import type { OggOpusStream, OpusPacketList } from './types.ts';
import { SAMPLE_RATE } from './types.ts';

export type OggOpusErrorCode =
  | 'not_ogg' // no capture pattern where a page must start
  | 'truncated' // the bytes end inside a page, or before the end-of-stream page
  | 'bad_crc' // a page's checksum does not match its bytes
  | 'bad_version' // an Ogg page version other than 0
  | 'missing_page' // page sequence numbers jump: a page was lost
  | 'not_opus' // the first packet is not an OpusHead
  | 'bad_head' // OpusHead fields out of range
  | 'no_tags' // the second packet is not OpusTags
  | 'bad_packet' // an audio packet whose TOC cannot be read
  | 'bad_granule'; // granule positions that make no sense (negative duration, going backwards)

/** A file that is not a readable Ogg Opus stream; `page` and `offset` say where, when known. */
export class OggOpusError extends Error {
  constructor(
    readonly code: OggOpusErrorCode,
    message: string,
    readonly page?: number,
    readonly offset?: number,
  ) {
    super(page !== undefined ? `Ogg Opus: ${message} (page ${page}, byte ${offset})` : `Ogg Opus: ${message}`);
    this.name = 'OggOpusError';
  }
}

// ------------------------------------------------------------------ CRC ----
// Ogg's CRC-32: polynomial 0x04C11DB7, initial 0, no reflection, no final xor,
// computed over the page with its checksum field set to zero (RFC 3533 §6).
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg CRC-32 of bytes[start, end), with the 4 bytes at `zeroAt` read as 0. */
export function oggCrc(bytes: Uint8Array, start = 0, end = bytes.length, zeroAt = -1): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    const b = zeroAt >= 0 && i >= zeroAt && i < zeroAt + 4 ? 0 : bytes[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  }
  return crc;
}

// ---------------------------------------------------------------- pages ----
const HEADER_BYTES = 27;
const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
const U32 = 0x1_0000_0000;

export interface OggPage {
  /** Index of this page in the file (0-based, all streams), for messages. */
  index: number;
  offset: number;
  flags: number;
  /** Granule position, or null for -1 (no packet ends on this page). */
  granule: number | null;
  serial: number;
  sequence: number;
  /** Lacing values. */
  segments: Uint8Array;
  body: Uint8Array;
}

/** Split bytes into CRC-checked pages. Throws OggOpusError. */
export function readOggPages(bytes: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    const index = pages.length;
    if (bytes.length - offset < HEADER_BYTES) {
      if (bytes[offset] !== 0x4f) throw new OggOpusError('not_ogg', 'no "OggS" capture pattern', index, offset);
      throw new OggOpusError('truncated', `the file ends inside a page header (${bytes.length - offset} of ${HEADER_BYTES} bytes)`, index, offset);
    }
    if (bytes[offset] !== 0x4f || bytes[offset + 1] !== 0x67 || bytes[offset + 2] !== 0x67 || bytes[offset + 3] !== 0x53) {
      throw new OggOpusError('not_ogg', index === 0 ? 'not an Ogg file (no "OggS" at the start)' : 'no "OggS" capture pattern where a page must start', index, offset);
    }
    const version = bytes[offset + 4]!;
    if (version !== 0) throw new OggOpusError('bad_version', `Ogg page version ${version}, only 0 exists`, index, offset);
    const flags = bytes[offset + 5]!;
    const lo = view.getUint32(offset + 6, true);
    const hi = view.getUint32(offset + 10, true);
    // -1 (all ones) means no packet ends here; other values above 2^53 cannot be an audio length.
    const granule = lo === 0xffffffff && hi === 0xffffffff ? null : hi * U32 + lo;
    if (granule !== null && hi >= 0x20_0000) throw new OggOpusError('bad_granule', `granule position too large (high word ${hi})`, index, offset);
    const serial = view.getUint32(offset + 14, true);
    const sequence = view.getUint32(offset + 18, true);
    const crc = view.getUint32(offset + 22, true);
    const nSegments = bytes[offset + 26]!;
    const bodyStart = offset + HEADER_BYTES + nSegments;
    if (bodyStart > bytes.length) throw new OggOpusError('truncated', "the file ends inside a page's segment table", index, offset);
    const segments = bytes.subarray(offset + HEADER_BYTES, bodyStart);
    let bodyLength = 0;
    for (const s of segments) bodyLength += s;
    const end = bodyStart + bodyLength;
    if (end > bytes.length) {
      throw new OggOpusError('truncated', `the file ends inside a page (${bytes.length - bodyStart} of ${bodyLength} body bytes)`, index, offset);
    }
    const actual = oggCrc(bytes, offset, end, offset + 22);
    if (actual !== crc) {
      throw new OggOpusError(
        'bad_crc',
        `page checksum 0x${crc.toString(16).padStart(8, '0')} does not match its bytes (0x${actual.toString(16).padStart(8, '0')}): the file is damaged`,
        index,
        offset,
      );
    }
    pages.push({ index, offset, flags, granule, serial, sequence, segments, body: bytes.subarray(bodyStart, end) });
    offset = end;
  }
  return pages;
}

// -------------------------------------------------------------- packets ----

/**
 * Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 §3.1), or
 * null when the packet is malformed (empty, code 3 without its count byte,
 * zero frames, or more than 120 ms).
 */
export function opusPacketSamples(packet: Uint8Array): number | null {
  if (packet.length < 1) return null;
  const toc = packet[0]!;
  const config = toc >> 3;
  // Frame duration in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20, CELT 2.5/5/10/20.
  const frame = config < 12 ? [480, 960, 1920, 2880][config & 3]! : config < 16 ? [480, 960][config & 1]! : [120, 240, 480, 960][config & 3]!;
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    if (packet.length < 2) return null;
    frames = packet[1]! & 0x3f;
    if (frames === 0) return null;
  }
  const samples = frames * frame;
  return samples > (SAMPLE_RATE * 120) / 1000 ? null : samples;
}

/** Packets as ranges of the file's bytes; the rare packet continued across pages is joined into a copy of its own. */
class PacketIndex implements OpusPacketList {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly offsets: Uint32Array,
    private readonly lengths: Uint32Array,
    private readonly joined: ReadonlyMap<number, Uint8Array>,
    /** Index of the first packet listed (the audio starts after OpusHead and OpusTags). */
    private readonly first: number,
    readonly length: number,
  ) {}

  at(index: number): Uint8Array | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return undefined;
    const k = this.first + index;
    return this.joined.get(k) ?? this.bytes.subarray(this.offsets[k]!, this.offsets[k]! + this.lengths[k]!);
  }

  *[Symbol.iterator](): Iterator<Uint8Array> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }
}

function stringAt(bytes: Uint8Array, at: number, s: string): boolean {
  if (bytes.length < at + s.length) return false;
  for (let i = 0; i < s.length; i++) if (bytes[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Read an Ogg Opus file: OpusHead (channels, pre-skip, input rate, gain),
 * OpusTags skipped, audio packets, and the duration from the last granule
 * position. Throws OggOpusError for anything else.
 */
export function readOggOpus(bytes: Uint8Array): OggOpusStream {
  if (bytes.length === 0) throw new OggOpusError('truncated', 'the file is empty');
  const all = readOggPages(bytes);
  const first = all[0]!;
  if (!(first.flags & FLAG_BOS)) throw new OggOpusError('not_opus', 'the first page does not begin a stream', 0, 0);
  const serial = first.serial;
  const pages = all.filter((p) => p.serial === serial);

  // Reassemble packets: lacing values of 255 continue a packet, < 255 end it. Packet k is
  // bytes[offsets[k], offsets[k] + lengths[k]) unless it was joined from pieces on several pages.
  let count = 0;
  for (const page of pages) for (const lace of page.segments) if (lace < 255) count++;
  const offsets = new Uint32Array(count);
  const lengths = new Uint32Array(count);
  const joined = new Map<number, Uint8Array>();
  let packetCount = 0;
  /** OpusHead and OpusTags, with the page each ends on (for messages). */
  const heads: Array<{ data: Uint8Array; page: OggPage }> = [];
  /** The pieces, one per page, of a packet continued on the next page. */
  let pending: Uint8Array[] = [];
  /** The first audio packet whose TOC cannot be read: reported once the stream's structure is known good. */
  let badToc: { index: number; page: OggPage } | undefined;
  let decodable = 0;
  let expectedSequence = first.sequence;
  let ended = false;
  let lastGranule: number | null = null;
  for (const page of pages) {
    if (ended) throw new OggOpusError('bad_granule', 'pages after the end-of-stream page', page.index, page.offset);
    if (page.sequence !== expectedSequence) {
      throw new OggOpusError(
        'missing_page',
        `page sequence jumps from ${expectedSequence - 1} to ${page.sequence}: ${page.sequence > expectedSequence ? 'a page is missing' : 'pages are out of order'}`,
        page.index,
        page.offset,
      );
    }
    expectedSequence = (expectedSequence + 1) >>> 0;
    if (page !== first && page.flags & FLAG_BOS) throw new OggOpusError('not_opus', 'a second beginning-of-stream page for the same stream', page.index, page.offset);
    const continued = (page.flags & FLAG_CONTINUED) !== 0;
    if (continued !== pending.length > 0) {
      throw new OggOpusError(
        'missing_page',
        continued ? 'the page continues a packet that no earlier page began' : 'a packet was left unfinished by the previous page',
        page.index,
        page.offset,
      );
    }
    const bodyAt = page.body.byteOffset - bytes.byteOffset;
    let at = 0;
    /** Where the packet being read begins on this page (its segments are contiguous here). */
    let start = 0;
    for (let s = 0; s < page.segments.length; s++) {
      const lace = page.segments[s]!;
      at += lace;
      if (lace === 255) continue;
      const k = packetCount++;
      let data = page.body.subarray(start, at);
      if (pending.length === 0) {
        offsets[k] = bodyAt + start;
        lengths[k] = data.length;
      } else {
        data = concat([...pending, data]);
        joined.set(k, data);
        pending = [];
      }
      start = at;
      if (k < 2) heads.push({ data, page });
      else {
        const n = opusPacketSamples(data);
        if (n === null) badToc ??= { index: k - 2, page };
        else decodable += n;
      }
    }
    if (page.segments.length > 0 && page.segments[page.segments.length - 1] === 255) pending.push(page.body.subarray(start, at));
    if (page.granule !== null) {
      if (lastGranule !== null && page.granule < lastGranule) {
        throw new OggOpusError('bad_granule', `granule position goes backwards (${lastGranule} → ${page.granule})`, page.index, page.offset);
      }
      lastGranule = page.granule;
    }
    if (page.flags & FLAG_EOS) ended = true;
  }
  const last = pages[pages.length - 1]!;
  if (!ended) throw new OggOpusError('truncated', 'no end-of-stream page: the file was cut short', last.index, last.offset);
  if (pending.length > 0) throw new OggOpusError('truncated', 'the last packet is unfinished', last.index, last.offset);

  // OpusHead (RFC 7845 §5.1).
  const head = heads[0];
  if (!head || !stringAt(head.data, 0, 'OpusHead')) throw new OggOpusError('not_opus', 'the stream is not Opus (no OpusHead packet)', first.index, first.offset);
  if (head.data.length < 19) throw new OggOpusError('bad_head', `OpusHead is ${head.data.length} bytes, at least 19 expected`, head.page.index, head.page.offset);
  const hv = new DataView(head.data.buffer, head.data.byteOffset, head.data.byteLength);
  const version = head.data[8]!;
  if (version >> 4 !== 0) throw new OggOpusError('bad_head', `OpusHead version ${version}: only major version 0 is defined`, head.page.index, head.page.offset);
  const channels = head.data[9]!;
  if (channels === 0) throw new OggOpusError('bad_head', 'OpusHead says 0 channels', head.page.index, head.page.offset);
  const preSkip = hv.getUint16(10, true);
  const inputSampleRate = hv.getUint32(12, true);
  const outputGainQ8 = hv.getInt16(16, true);
  const family = head.data[18]!;
  if (family === 0 && channels > 2) throw new OggOpusError('bad_head', `channel mapping family 0 allows 1 or 2 channels, not ${channels}`, head.page.index, head.page.offset);
  if (family !== 0 && head.data.length < 21 + channels) {
    throw new OggOpusError('bad_head', `OpusHead is too short for the channel mapping table of family ${family}`, head.page.index, head.page.offset);
  }
  if (head.page.granule !== null && head.page.granule !== 0)
    throw new OggOpusError('bad_head', 'the OpusHead page has a nonzero granule position', head.page.index, head.page.offset);

  // OpusTags (§5.2): must follow; its content is not needed to play.
  const tags = heads[1];
  if (!tags || !stringAt(tags.data, 0, 'OpusTags')) {
    const where = tags?.page ?? last;
    throw new OggOpusError('no_tags', 'the second packet is not OpusTags', where.index, where.offset);
  }

  const audioCount = Math.max(0, packetCount - 2);
  if (badToc) throw new OggOpusError('bad_packet', `audio packet ${badToc.index} has an unreadable TOC`, badToc.page.index, badToc.page.offset);
  // Duration: the last granule position counts samples from the stream start,
  // pre-skip included (§4); it may end before the last packet does (end trim),
  // never after it.
  const endGranule = lastGranule ?? 0;
  const totalSamples = endGranule - preSkip;
  if (audioCount > 0 && totalSamples < 0) {
    throw new OggOpusError('bad_granule', `the last granule position (${endGranule}) is smaller than the pre-skip (${preSkip})`, last.index, last.offset);
  }
  if (endGranule > decodable) {
    throw new OggOpusError('bad_granule', `the last granule position (${endGranule}) is beyond the audio in the packets (${decodable} samples)`, last.index, last.offset);
  }
  const samples = Math.max(0, totalSamples);
  return {
    channels,
    preSkip,
    inputSampleRate,
    outputGainQ8,
    packets: new PacketIndex(bytes, offsets, lengths, joined, 2, audioCount),
    totalSamples: samples,
    durationMs: (samples * 1000) / SAMPLE_RATE,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// -------------------------------------------------------------- writing ----

/** Build one Ogg page (CRC filled in) holding whole packets; for tests and tools that emit Ogg. */
export function oggPage(o: { flags: number; granule: number | null; serial: number; sequence: number; packets: Uint8Array[] }): Uint8Array {
  const lacing: number[] = [];
  for (const p of o.packets) {
    let n = p.length;
    while (n >= 255) {
      lacing.push(255);
      n -= 255;
    }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new RangeError(`too many packets/bytes for one Ogg page (${lacing.length} lacing values)`);
  let bodyLength = 0;
  for (const p of o.packets) bodyLength += p.length;
  const page = new Uint8Array(HEADER_BYTES + lacing.length + bodyLength);
  const v = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53], 0);
  page[5] = o.flags;
  if (o.granule === null) {
    v.setUint32(6, 0xffffffff, true);
    v.setUint32(10, 0xffffffff, true);
  } else {
    v.setUint32(6, o.granule % U32, true);
    v.setUint32(10, Math.floor(o.granule / U32), true);
  }
  v.setUint32(14, o.serial, true);
  v.setUint32(18, o.sequence, true);
  page[26] = lacing.length;
  page.set(lacing, HEADER_BYTES);
  let at = HEADER_BYTES + lacing.length;
  for (const p of o.packets) {
    page.set(p, at);
    at += p.length;
  }
  v.setUint32(22, oggCrc(page, 0, page.length), true);
  return page;
}

/**
 * Write Opus packets as an Ogg Opus file (mono unless told, family 0), one page
 * per `packetsPerPage` packets. Granule positions count 48 kHz samples from the
 * start including pre-skip, as RFC 7845 §4 requires.
 */
export function writeOggOpus(o: { packets: Uint8Array[]; preSkip?: number; channels?: number; serial?: number; packetsPerPage?: number; endTrimSamples?: number }): Uint8Array {
  const channels = o.channels ?? 1;
  const preSkip = o.preSkip ?? 312;
  const serial = o.serial ?? 0x4c4f414e; // 'LOAN'
  const perPage = o.packetsPerPage ?? 50;
  const head = new Uint8Array(19);
  const hv = new DataView(head.buffer);
  head.set(
    [...'OpusHead'].map((c) => c.charCodeAt(0)),
    0,
  );
  head[8] = 1;
  head[9] = channels;
  hv.setUint16(10, preSkip, true);
  hv.setUint32(12, SAMPLE_RATE, true);
  const vendor = 'loanet';
  const tags = new Uint8Array(8 + 4 + vendor.length + 4);
  tags.set(
    [...'OpusTags'].map((c) => c.charCodeAt(0)),
    0,
  );
  new DataView(tags.buffer).setUint32(8, vendor.length, true);
  tags.set(
    [...vendor].map((c) => c.charCodeAt(0)),
    12,
  );
  const pages: Uint8Array[] = [
    oggPage({ flags: FLAG_BOS, granule: 0, serial, sequence: 0, packets: [head] }),
    oggPage({ flags: 0, granule: 0, serial, sequence: 1, packets: [tags] }),
  ];
  let granule = 0;
  const total = o.packets.reduce((n, p) => n + (opusPacketSamples(p) ?? 0), 0) - (o.endTrimSamples ?? 0);
  for (let i = 0; i < o.packets.length; i += perPage) {
    const chunk = o.packets.slice(i, i + perPage);
    for (const p of chunk) granule += opusPacketSamples(p) ?? 0;
    const lastPage = i + perPage >= o.packets.length;
    pages.push(oggPage({ flags: lastPage ? FLAG_EOS : 0, granule: lastPage ? total : granule, serial, sequence: pages.length, packets: chunk }));
  }
  if (o.packets.length === 0) pages[1] = oggPage({ flags: FLAG_EOS, granule: 0, serial, sequence: 1, packets: [tags] });
  let n = 0;
  for (const p of pages) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pages) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
