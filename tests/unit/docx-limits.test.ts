/** .docx text under hostile input: caps on entries, inflated bytes and extracted characters, whatever the zip declares. */
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { LoanetError } from '../../server/errors.ts';
import { MediaRejected } from '../../server/media/analysis.ts';
import { DOCX_LIMITS, docxText, documentXmlText, type DocxLimits } from '../../server/media/docx.ts';
import { MAX_TEXT_CHARS } from '../../server/media/tts/engine.ts';
import { deflateBomb, docxBomb, zipArchive } from '../helpers/zip-bomb.ts';

const para = (t: string) => `<w:p><w:r><w:t xml:space="preserve">${t}</w:t></w:r></w:p>`;
const refusal = (f: () => unknown): { code: string; status: number; message: string } => {
  try {
    f();
  } catch (e) {
    if (e instanceof MediaRejected || e instanceof LoanetError) return { code: e.code, status: e.statusCode, message: e.message };
    throw e;
  }
  throw new Error('not refused');
};

/** The extraction as it was before the character limit: every paragraph, then joined and normalised. */
function referenceText(xml: string): string {
  const paragraphs: string[] = [];
  let current = '';
  const re = /<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>|<w:t(?:\s[^>]*)?\/>|<w:tab\/>|<w:(?:br|cr)(?:\s[^>]*)?\/>|<\/w:p>|<w:p\/>/g;
  const ent: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const tag = m[0];
    if (m[1] !== undefined) current += m[1].replace(/&(amp|lt|gt|quot|apos);/g, (_x, e: string) => ent[e]!);
    else if (tag.startsWith('<w:tab')) current += '\t';
    else if (tag.startsWith('<w:br') || tag.startsWith('<w:cr')) current += '\n';
    else {
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

describe('.docx limits', () => {
  it('has the documented limits: 20 MB file, 5,000 entries, 32 MB of XML, the 50,000 characters of text to speech', () => {
    expect(DOCX_LIMITS).toEqual({ fileBytes: 20 * 1024 * 1024, entries: 5000, xmlBytes: 32 * 1024 * 1024, textChars: MAX_TEXT_CHARS });
    expect(MAX_TEXT_CHARS).toBe(50_000);
  });

  it('refuses a zip bomb by what it inflates, not by the size it declares, and stops inflating at the limit', () => {
    // 1 GiB of XML declared as 10 kB: refused once 32 MB have come out (reading it all would take seconds and a gigabyte).
    const bomb = docxBomb(1024);
    expect(bomb.length).toBeLessThan(DOCX_LIMITS.fileBytes);
    expect(refusal(() => docxText(bomb))).toEqual({
      code: 'LOANET_DOCX_TOO_LARGE',
      status: 413,
      message: 'word/document.xml inflates to more than 32 MB (the limit for the text of a document)',
    });
    // A declared size of 0 or of 4 GB changes nothing.
    for (const declared of [0, 0xffffffff]) {
      expect(refusal(() => docxText(zipArchive([{ name: 'word/document.xml', data: deflateBomb(40), declaredSize: declared }]))).code).toBe('LOANET_DOCX_TOO_LARGE');
    }
    // A stored (uncompressed) entry larger than the limit, with small limits to keep the test light.
    const small: DocxLimits = { ...DOCX_LIMITS, xmlBytes: 1000 };
    const stored = zipArchive([{ name: 'word/document.xml', data: strToU8(para('x'.repeat(2000))), declaredSize: 10, method: 0 }]);
    expect(refusal(() => docxText(stored, small)).message).toBe('word/document.xml inflates to more than 1000 bytes (the limit for the text of a document)');
  });

  it('refuses more entries than the limit, before looking at any of them', () => {
    const many = zipArchive(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}.xml`, data: deflateRawSync('<x/>'), declaredSize: 4 })));
    expect(refusal(() => docxText(many, { ...DOCX_LIMITS, entries: 5 }))).toMatchObject({
      code: 'LOANET_DOCX_TOO_LARGE',
      status: 413,
      message: 'the zip holds 6 entries; a Word document accepted here holds at most 5',
    });
  });

  it('refuses text longer than text to speech accepts (50,000 characters), naming the limit, and stops reading there', () => {
    const long = zipSync({ 'word/document.xml': strToU8(`<w:body>${Array.from({ length: 600 }, (_, i) => para(`Đoạn ${i} `.padEnd(100, 'a'))).join('')}</w:body>`) });
    expect(refusal(() => docxText(long))).toEqual({
      code: 'LOANET_TTS_TEXT_TOO_LONG',
      status: 413,
      message: 'file: the text has more than 50,000 characters; at most 50,000 characters can be spoken as one item (split it)',
    });
    // Exactly at the limit is accepted.
    const exact = zipSync({ 'word/document.xml': strToU8(para('b'.repeat(MAX_TEXT_CHARS))) });
    expect(docxText(exact)).toHaveLength(MAX_TEXT_CHARS);
  });

  it('refuses what is damaged or not a Word document, naming why', () => {
    const ok = zipSync({ 'word/document.xml': strToU8(para('Xin chào')) });
    expect(docxText(ok)).toBe('Xin chào');
    expect(refusal(() => docxText(ok.subarray(0, ok.length - 30))).message).toMatch(/damaged/);
    expect(refusal(() => docxText(zipArchive([{ name: 'word/document.xml', data: deflateBomb(1).subarray(0, 500), declaredSize: 1 }]))).message).toMatch(/damaged/);
    expect(refusal(() => docxText(zipArchive([{ name: 'word/document.xml', data: strToU8('x'), declaredSize: 1, method: 12 }]))).message).toMatch(/compression method 12/);
    expect(refusal(() => docxText(new Uint8Array(30_000_000).fill(0x50))).status).toBe(413);
  });

  it('property: random zip structures are read within the limits or refused with a named refusal, never anything else', () => {
    const limits: DocxLimits = { fileBytes: 1 << 20, entries: 8, xmlBytes: 4096, textChars: 300 };
    const bombs = [0, 1, 2].map((m) => new Uint8Array(deflateBomb(m)));
    const xmlText = fc
      .array(
        fc.oneof(
          fc.constantFrom('<w:p>', '</w:p>', '<w:p/>', '<w:tab/>', '<w:br/>', '&amp;', '&#x1EA0;', ' '),
          fc.string({ maxLength: 40 }).map((s) => `<w:t>${s.replace(/[<&]/g, '')}</w:t>`),
        ),
        { maxLength: 200 },
      )
      .map((a) => a.join(''));
    const entry = fc.record({
      name: fc.oneof(fc.constant('word/document.xml'), fc.string({ maxLength: 20 })),
      data: fc.oneof(
        xmlText.map((x) => new Uint8Array(deflateRawSync(x))),
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(...bombs),
      ),
      declaredSize: fc.oneof(fc.nat(), fc.constant(0xffffffff)),
      method: fc.constantFrom(0, 8, 8, 8, 9),
    });
    const mutate = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 0, maxLength: 10 }), mutate, fc.option(fc.nat()), (entries, flips, cut) => {
        let zip: Uint8Array = zipArchive(entries);
        if (zip.length > 0) for (const [at, b] of flips) zip[at % zip.length] = b;
        if (cut !== null) zip = zip.subarray(0, cut % (zip.length + 1));
        try {
          const text = docxText(zip, limits);
          expect(text.length).toBeLessThanOrEqual(limits.textChars);
        } catch (e) {
          if (e instanceof MediaRejected) expect(['LOANET_DOCX_INVALID', 'LOANET_DOCX_TOO_LARGE']).toContain(e.code);
          else if (e instanceof LoanetError) expect(e.code).toBe('LOANET_TTS_TEXT_TOO_LONG');
          else throw e;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('property: a document is refused for its XML exactly when that XML is larger than the limit, whatever size it declares', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.nat(), (n, declared) => {
        const xml = `<w:body>${'<w:p/>'.repeat(n)}</w:body>`;
        const zip = zipArchive([{ name: 'word/document.xml', data: deflateRawSync(xml), declaredSize: declared }]);
        const limits = { ...DOCX_LIMITS, xmlBytes: 9000 };
        if (xml.length > limits.xmlBytes) expect(refusal(() => docxText(zip, limits)).code).toBe('LOANET_DOCX_TOO_LARGE');
        else expect(docxText(zip, limits)).toBe('');
      }),
      { numRuns: 100 },
    );
  });

  it('property: the text is what the extraction without a limit gives when within the limit, refused exactly when longer', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => `<w:r><w:t>${s.replace(/[<&>]/g, '')}</w:t></w:r>`),
      fc.constantFrom('</w:p>', '<w:p/>', '<w:tab/>', '<w:br/>', '<w:r><w:t>e\u0301</w:t></w:r>', '<w:r><w:t>  &amp;  </w:t></w:r>'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 80 }), fc.integer({ min: 0, max: 200 }), (pieces, max) => {
        const xml = pieces.join('');
        const want = referenceText(xml);
        if (want.length > max) expect(refusal(() => documentXmlText(xml, max)).code).toBe('LOANET_TTS_TEXT_TOO_LONG');
        else expect(documentXmlText(xml, max)).toBe(want);
      }),
      { numRuns: 500 },
    );
  });
});
