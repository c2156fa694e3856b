/**
 * Hostile .docx files for tests and benchmarks: a zip whose one entry's declared size lies,
 * and a deflate stream that inflates to many megabytes of repeated XML while
 * staying about a thousand times smaller, built without ever holding the
 * inflated text (one full-flushed block of 1 MiB, repeated).
 */
import zlib from 'node:zlib';

const MIB = 1 << 20;

/** Raw deflate of `head` then `mib` MiB of `unit` repeated: ~1 KB compressed per MiB. */
export function deflateBomb(mib: number, unit = '<w:p><w:r><w:t>lũ quét </w:t></w:r></w:p>', head = '<?xml version="1.0"?><w:document><w:body>'): Buffer {
  const flush = { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH };
  const block = Buffer.from(unit.repeat(Math.ceil(MIB / unit.length))).subarray(0, MIB);
  // A full flush resets the compressor, so every copy of the block compresses to the same bytes and they concatenate.
  const body = zlib.deflateRawSync(block, flush);
  return Buffer.concat([zlib.deflateRawSync(Buffer.from(head), flush), ...Array<Buffer>(mib).fill(body), Buffer.from([0x03, 0x00])]);
}

export interface ZipEntry {
  name: string;
  data: Uint8Array;
  /** Size declared in the headers (a lie when it differs from what `data` inflates to). */
  declaredSize: number;
  /** 8: deflate (default), 0: stored. */
  method?: number;
  /** CRC-32 of the inflated data; default 0 (loanet does not need it to refuse a bomb; a valid file has it). */
  crc?: number;
}

/** A zip archive of the entries as given: sizes as declared, CRCs as given. */
export function zipArchive(entries: readonly ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const method = e.method ?? 8;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE((e.crc ?? 0) >>> 0, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.declaredSize >>> 0, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt32LE((e.crc ?? 0) >>> 0, 16);
    ch.writeUInt32LE(e.data.length, 20);
    ch.writeUInt32LE(e.declaredSize >>> 0, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, Buffer.from(e.data));
    centrals.push(ch, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A .docx zip bomb: word/document.xml declares `declaredSize` bytes and inflates to `mib` MiB. */
export function docxBomb(mib: number, declaredSize = 10_000): Buffer {
  return zipArchive([{ name: 'word/document.xml', data: deflateBomb(mib), declaredSize }]);
}
