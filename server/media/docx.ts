/**
 * The text of a Word document (.docx), for text to speech: a .docx is a zip
 * whose `word/document.xml` holds the body; its text is in <w:t> runs,
 * paragraphs are <w:p>, tabs <w:tab/>, line breaks <w:br/>. Deleted tracked
 * changes (<w:delText>) and field codes (<w:instrText>) are not read aloud.
 *
 * The file is untrusted, so what it makes us produce is capped as it is
 * produced, never from what the zip declares (a zip bomb declares a few
 * kilobytes and inflates to gigabytes): the number of entries in the central
 * directory, the bytes actually inflated from `word/document.xml` (counted
 * while inflating in small steps, and inflating stops at the cap), and the
 * characters of text extracted (the limit of one text-to-speech item, checked
 * paragraph by paragraph so extraction stops as soon as it is exceeded).
 * Every refusal names its limit. Pure and synchronous: the HTTP route runs it
 * in a worker thread (docx-offthread.ts) so even the bounded work never holds
 * the event loop.
 */
import { Inflate } from 'fflate';
import { MediaRejected } from './analysis.ts';
import { MAX_TEXT_CHARS, speechTextTooLong } from './tts/engine.ts';

export interface DocxLimits {
  /** Size of the .docx file itself (bytes). */
  fileBytes: number;
  /** Entries in the zip's central directory. */
  entries: number;
  /** Bytes of `word/document.xml` once inflated, counted as they are produced. */
  xmlBytes: number;
  /** Characters of text extracted (the text-to-speech limit). */
  textChars: number;
}

export const MAX_DOCX_BYTES = 20 * 1024 * 1024;

/**
 * A real .docx has tens of entries (hundreds with many images); its
 * document.xml is typically 10–30 bytes of markup per character of text, so
 * 32 MiB holds far more than the 50,000 characters that can be spoken.
 */
export const DOCX_LIMITS: Readonly<DocxLimits> = {
  fileBytes: MAX_DOCX_BYTES,
  entries: 5_000,
  xmlBytes: 32 * 1024 * 1024,
  textChars: MAX_TEXT_CHARS,
};

/** Compressed bytes inflated per step: one step can produce at most ~1,032× this before the count is checked. */
const INFLATE_STEP = 4096;

const notDocx = (why: string) => new MediaRejected('LOANET_DOCX_INVALID', 422, `not a Word document (.docx): ${why}`);
const overLimit = (what: string, params: Record<string, number> = {}) => new MediaRejected('LOANET_DOCX_TOO_LARGE', 413, what, params);
const mib = (n: number) => (n >= 1024 * 1024 ? `${Math.round((n / 1024 / 1024) * 10) / 10} MB` : `${n} bytes`);

interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  localOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

export function docxText(buf: Uint8Array, limits: DocxLimits = DOCX_LIMITS): string {
  if (buf.length === 0) throw notDocx('the file is empty');
  if (buf.length > limits.fileBytes) throw overLimit(`the document is larger than ${mib(limits.fileBytes)}`, { limitMb: Math.round(limits.fileBytes / 1024 / 1024) });
  if (buf[0] !== 0x50 || buf[1] !== 0x4b) throw notDocx('it is not a zip file (an old .doc? save it as .docx)');
  const entry = findEntry(buf, 'word/document.xml', limits);
  const xml = new TextDecoder('utf-8').decode(entryBytes(buf, entry, limits));
  return documentXmlText(xml, limits.textChars);
}

const dv = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

/** Reads the central directory (bounded by `limits.entries`) and answers the entry called `name`. */
function findEntry(buf: Uint8Array, name: string, limits: DocxLimits): Entry {
  const v = dv(buf);
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (v.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw notDocx('the zip is damaged (no central directory)');
  const total = v.getUint16(eocd + 10, true);
  const cdSize = v.getUint32(eocd + 12, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  if (total === 0xffff || cdOffset === 0xffffffff) throw notDocx('it is a Zip64 archive, which a Word document never needs');
  if (total > limits.entries) throw overLimit(`the zip holds ${total} entries; a Word document accepted here holds at most ${limits.entries}`);
  if (cdOffset + cdSize > eocd) throw notDocx('the zip is damaged (central directory out of bounds)');
  let found: Entry | undefined;
  let p = cdOffset;
  for (let n = 0; n < total; n++) {
    if (p + 46 > eocd || v.getUint32(p, true) !== CEN_SIG) throw notDocx('the zip is damaged (bad central directory entry)');
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    if (p + 46 + nameLen > eocd) throw notDocx('the zip is damaged (bad central directory entry)');
    const entryName = new TextDecoder('utf-8').decode(buf.subarray(p + 46, p + 46 + nameLen));
    if (entryName === name) {
      if (found) throw notDocx(`it holds ${name} twice`);
      found = { name, method: v.getUint16(p + 10, true), compressedSize: v.getUint32(p + 20, true), localOffset: v.getUint32(p + 42, true) };
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  if (!found) throw notDocx(`it has no ${name}`);
  return found;
}

/** The entry's bytes, inflating in small steps and stopping as soon as more than `limits.xmlBytes` have been produced. */
function entryBytes(buf: Uint8Array, e: Entry, limits: DocxLimits): Uint8Array {
  const v = dv(buf);
  const at = e.localOffset;
  if (at + 30 > buf.length || v.getUint32(at, true) !== LOC_SIG) throw notDocx(`the zip is damaged (no local header for ${e.name})`);
  const start = at + 30 + v.getUint16(at + 26, true) + v.getUint16(at + 28, true);
  // The size the zip declares only delimits the input; what comes out is counted below.
  const end = Math.min(buf.length, start + e.compressedSize);
  if (start > end) throw notDocx(`the zip is damaged (${e.name} out of bounds)`);
  const tooBig = () => overLimit(`${e.name} inflates to more than ${mib(limits.xmlBytes)} (the limit for the text of a document)`);
  if (e.method === 0) {
    if (end - start > limits.xmlBytes) throw tooBig();
    return buf.subarray(start, end);
  }
  if (e.method !== 8) throw notDocx(`${e.name} uses compression method ${e.method}; only deflate is supported`);

  const chunks: Uint8Array[] = [];
  let produced = 0;
  let done = false;
  const inflate = new Inflate((chunk, final) => {
    produced += chunk.length;
    if (produced > limits.xmlBytes) throw tooBig();
    chunks.push(chunk);
    if (final) done = true;
  });
  try {
    for (let p = start; p < end && !done; p += INFLATE_STEP) {
      const q = Math.min(end, p + INFLATE_STEP);
      inflate.push(buf.subarray(p, q), q === end);
    }
  } catch (err) {
    if (err instanceof MediaRejected) throw err;
    throw notDocx(`the zip is damaged (${(err as Error).message})`);
  }
  if (!done) throw notDocx(`the zip is damaged (${e.name} is cut short)`);
  const out = new Uint8Array(produced);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/**
 * Text of a WordprocessingML body: one line per paragraph, blank paragraphs
 * dropped. Refused (naming the limit) as soon as the text passes `maxChars`.
 */
export function documentXmlText(xml: string, maxChars: number = MAX_TEXT_CHARS): string {
  const paragraphs: string[] = [];
  // Length of the answer so far: the paragraphs and the blank lines between them.
  let length = 0;
  let current = '';
  const close = () => {
    // NFC per paragraph equals NFC of the whole: the newline between paragraphs composes with nothing.
    const p = current
      .replace(/[ \t]+/g, ' ')
      .trim()
      .normalize('NFC');
    current = '';
    if (p === '') return;
    length += (paragraphs.length > 0 ? 2 : 0) + p.length;
    if (length > maxChars) throw speechTextTooLong('file', null, maxChars);
    paragraphs.push(p);
  };
  // Tags we act on; everything else (run properties, tables' structure, drawings) is skipped.
  const re = /<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>|<w:t(?:\s[^>]*)?\/>|<w:tab\/>|<w:(?:br|cr)(?:\s[^>]*)?\/>|<\/w:p>|<w:p\/>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const tag = m[0];
    if (m[1] !== undefined) current += decodeEntities(m[1]);
    else if (tag.startsWith('<w:tab')) current += '\t';
    else if (tag.startsWith('<w:br') || tag.startsWith('<w:cr')) current += '\n';
    else if (tag === '</w:p>' || tag === '<w:p/>') close();
  }
  if (current) close();
  return paragraphs.join('\n\n');
}

/** What the worker runs: the text of the document, or the refusal thrown. */
export function docxTextTask(input: { bytes: Uint8Array }): string {
  return docxText(input.bytes);
}
