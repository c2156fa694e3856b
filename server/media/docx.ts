/**
 * The text of a Word document (.docx), for text to speech: a .docx is a zip
 * whose `word/document.xml` holds the body; its text is in <w:t> runs,
 * paragraphs are <w:p>, tabs <w:tab/>, line breaks <w:br/>. Deleted tracked
 * changes (<w:delText>) and field codes (<w:instrText>) are not read aloud.
 */
import { unzipSync } from 'fflate';
import { MediaRejected } from './analysis.ts';

export const MAX_DOCX_BYTES = 20 * 1024 * 1024;
const MAX_XML_BYTES = 50 * 1024 * 1024;

const notDocx = (why: string) => new MediaRejected('LOANET_DOCX_INVALID', 422, `not a Word document (.docx): ${why}`);

export function docxText(buf: Uint8Array): string {
  if (buf.length === 0) throw notDocx('the file is empty');
  if (buf[0] !== 0x50 || buf[1] !== 0x4b) throw notDocx('it is not a zip file (an old .doc? save it as .docx)');
  let files: Record<string, Uint8Array>;
  let tooBig = false;
  try {
    files = unzipSync(buf, {
      filter: (f) => {
        if (f.name !== 'word/document.xml') return false;
        if (f.originalSize > MAX_XML_BYTES) tooBig = true;
        return !tooBig;
      },
    });
  } catch (e) {
    throw notDocx(`the zip is damaged (${(e as Error).message})`);
  }
  if (tooBig) throw notDocx('word/document.xml is implausibly large');
  const xml = files['word/document.xml'];
  if (!xml) throw notDocx('it has no word/document.xml');
  return documentXmlText(new TextDecoder('utf-8').decode(xml));
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

/** Text of a WordprocessingML body: one line per paragraph, blank paragraphs dropped. */
export function documentXmlText(xml: string): string {
  const paragraphs: string[] = [];
  let current = '';
  // Tags we act on; everything else (run properties, tables' structure, drawings) is skipped.
  const re = /<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>|<w:t(?:\s[^>]*)?\/>|<w:tab\/>|<w:(?:br|cr)(?:\s[^>]*)?\/>|<\/w:p>|<w:p\/>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const tag = m[0];
    if (m[1] !== undefined) current += decodeEntities(m[1]);
    else if (tag.startsWith('<w:tab')) current += '\t';
    else if (tag.startsWith('<w:br') || tag.startsWith('<w:cr')) current += '\n';
    else if (tag === '</w:p>' || tag === '<w:p/>') {
      paragraphs.push(current);
      current = '';
    }
  }
  if (current) paragraphs.push(current);
  return paragraphs
    .map((p) => p.replace(/[ \t]+/g, ' ').trim())
    .filter((p) => p !== '')
    .join('\n\n')
    .normalize('NFC');
}
