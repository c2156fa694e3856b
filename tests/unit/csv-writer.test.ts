/**
 * The one CSV writer of every export (server/csv.ts): text from users and
 * sites can never become a spreadsheet formula, numbers the server computes
 * stay numbers, and what a reader parses back is what was written.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CSV_BOM, csvCell, csvDocument, csvNumber, csvRow, startsWithFormulaTrigger, type CsvCell } from '../../server/csv.ts';
import { parseCsvRecords } from '../../server/registry/csv.ts';

const TRIGGERS = ['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'];

describe('csvCell', () => {
  it("neutralises every formula trigger of OWASP's list (and the full-width forms) with a quote mark, inside quotes", () => {
    expect(csvCell("-2+3+cmd|' /C calc'!A0")).toBe(`"'-2+3+cmd|' /C calc'!A0"`);
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('+1')).toBe(`"'+1"`);
    expect(csvCell('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvCell('\tXã Bát Xát')).toBe(`"'\tXã Bát Xát"`);
    expect(csvCell('\r=1+1')).toBe(`"'\r=1+1"`);
    expect(csvCell('\n=1+1')).toBe(`"'\n=1+1"`);
    expect(csvCell('＝1+1')).toBe(`"'＝1+1"`);
    // Text that only looks like a number is still text from a user: neutralised.
    expect(csvCell('-5')).toBe(`"'-5"`);
  });

  it('keeps ordinary text as it is and quotes what must be quoted (RFC 4180; ";" and tab for other list separators)', () => {
    expect(csvCell('Xã Bát Xát')).toBe('Xã Bát Xát');
    expect(csvCell('a "b"')).toBe('"a ""b"""');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('a;=1+1')).toBe('"a;=1+1"');
    expect(csvCell('a\tb')).toBe('"a\tb"');
    expect(csvCell('line 1\r\nline 2')).toBe('"line 1\r\nline 2"');
    expect(csvCell('')).toBe('');
  });

  it("keeps the server's numbers as numbers, negative ones too", () => {
    expect(csvCell(-21.3)).toBe('-21.3');
    expect(csvCell(csvNumber(-71.84, 1))).toBe('-71.8');
    expect(csvCell(csvNumber(0.4, 2))).toBe('0.40');
    expect(csvCell(3)).toBe('3');
    expect(csvCell(Number.NaN)).toBe('');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });

  it('a document: BOM, header, CRLF after every line', () => {
    expect(
      csvDocument(
        ['a', 'b'],
        [
          ['=x', -1],
          [null, 'y'],
        ],
      ),
    ).toBe(`${CSV_BOM}a,b\r\n"'=x",-1\r\n,y\r\n`);
  });
});

/** Any text, often starting with a trigger, with quotes, separators and line breaks inside. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.tuple(fc.constantFrom(...TRIGGERS), fc.string({ unit: 'binary', maxLength: 40 })).map(([t, s]) => t + s),
  fc.array(fc.constantFrom('=', '"', ',', ';', '\r', '\n', '\t', "'", ' ', 'a', '-', '1', '＠'), { maxLength: 12 }).map((a) => a.join('')),
);

describe('csv writer: properties', () => {
  it('any text cell parses back (RFC 4180) to a value that does not start with a trigger and, minus the added quote mark, equals the input', () => {
    fc.assert(
      fc.property(text, (s) => {
        // A second cell after it proves the cell did not leak into the next one.
        const records = parseCsvRecords(csvRow([s, 'end']) + '\r\n');
        expect(records).toHaveLength(1);
        const [back, end] = records[0]!;
        expect(end).toBe('end');
        expect(startsWithFormulaTrigger(back!)).toBe(false);
        expect(startsWithFormulaTrigger(s) ? back!.slice(1) : back).toBe(s);
        if (startsWithFormulaTrigger(s)) expect(back!.startsWith("'")).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a whole document of typed rows reads back cell by cell; numbers read back as the numbers written', () => {
    const cell: fc.Arbitrary<CsvCell> = fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant(null));
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { maxLength: 8 }), (rows) => {
        const doc = csvDocument(['a', 'b', 'c'], rows);
        expect(doc.startsWith(CSV_BOM)).toBe(true);
        const records = parseCsvRecords(doc);
        // The reader skips a record that is one empty field: a row of only empty cells is "", "", "" = 3 fields, never skipped.
        expect(records).toHaveLength(rows.length + 1);
        rows.forEach((row, i) => {
          row.forEach((c, j) => {
            const back = records[i + 1]![j]!;
            if (c === null) expect(back).toBe('');
            else if (typeof c === 'number') expect(Number(back)).toBe(c === 0 ? 0 : c);
            else expect(startsWithFormulaTrigger(c as string) ? back.slice(1) : back).toBe(c);
          });
        });
      }),
      { numRuns: 500 },
    );
  });
});
