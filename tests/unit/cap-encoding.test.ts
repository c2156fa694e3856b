import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { charsetOf, decodeCapDocument, declaredEncoding } from '../../server/alerts/cap/encoding.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cap');
const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const utf8 = (s: string) => new TextEncoder().encode(s);
const doc = (decl: string) => `<?xml version="1.0"${decl}?><alert>Usulután</alert>`;

describe('the text of a posted CAP document (RFC 7303 §3)', () => {
  it('reads a Latin-1 document by its XML declaration', () => {
    const r = decodeCapDocument(latin1(doc(' encoding="ISO-8859-1"')));
    expect(r).toMatchObject({ ok: true, from: 'declaration', text: doc(' encoding="ISO-8859-1"') });
  });

  it('the charset parameter wins over the declaration, and the disagreement is noted', () => {
    const r = decodeCapDocument(latin1(doc(' encoding="UTF-8"')), 'application/cap+xml; charset=ISO-8859-1');
    expect(r.ok && r.text).toContain('Usulután');
    expect(r.ok && r.from).toBe('charset');
    expect(r.ok && r.notes.join(' ')).toContain('disagree');
    expect(charsetOf('text/xml;charset="windows-1252"')).toBe('windows-1252');
    expect(charsetOf('application/xml')).toBeUndefined();
  });

  it('a byte order mark wins over the charset parameter', () => {
    const le = new Uint8Array([0xff, 0xfe, ...Buffer.from(doc(''), 'utf16le')]);
    const r = decodeCapDocument(le, 'application/xml; charset=ISO-8859-1');
    expect(r).toMatchObject({ ok: true, from: 'bom', text: doc('') });
  });

  it('UTF-8 without a declaration; bytes that are not UTF-8 are refused, not turned into "Usulut�n"', () => {
    expect(decodeCapDocument(utf8(doc('')))).toMatchObject({ ok: true, from: 'default', text: doc('') });
    const r = decodeCapDocument(latin1(doc('')));
    expect(r).toMatchObject({ ok: false, kind: 'invalid_bytes' });
    expect(!r.ok && r.message).toContain('declare its real encoding');
  });

  it('an encoding nobody can read is refused naming it and where it came from', () => {
    const r = decodeCapDocument(utf8(doc(' encoding="x-klingon"')));
    expect(r).toMatchObject({ ok: false, kind: 'unknown_encoding', encoding: 'x-klingon', from: 'declaration' });
    expect(!r.ok && r.message).toContain('"x-klingon" (from the XML declaration)');
    const c = decodeCapDocument(utf8(doc('')), 'application/xml; charset=ebcdic-xyz');
    expect(!c.ok && c.message).toContain('the charset parameter');
  });

  it('other encodings of the Encoding Standard: Shift_JIS, Big5, windows-1251', () => {
    expect(declaredEncoding(utf8('<?xml version="1.0" encoding="Shift_JIS"?><a/>'))).toBe('Shift_JIS');
    const big5 = new Uint8Array([...utf8('<?xml version="1.0" encoding="Big5"?><a>'), 0xa4, 0xa4, ...utf8('</a>')]);
    expect(decodeCapDocument(big5)).toMatchObject({ ok: true, text: '<?xml version="1.0" encoding="Big5"?><a>中</a>' });
    const cyr = new Uint8Array([...utf8('<?xml version="1.0" encoding="windows-1251"?><a>'), 0xcf, ...utf8('</a>')]);
    expect(decodeCapDocument(cyr)).toMatchObject({ ok: true, text: '<?xml version="1.0" encoding="windows-1251"?><a>П</a>' });
  });

  it('the Latin-1 fixture parses with its Spanish words intact', () => {
    const r = parseCap(readFileSync(path.join(FIXTURES, 'corpus', 'sv-inundacion-usulutan-latin1.xml')));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.alert.info[0]!.headline).toBe('Alerta por inundación en Usulután');
    expect(r.alert.info[0]!.instruction).toContain('Evacúe las zonas bajas del río Lempa; diríjase');
  });
});
