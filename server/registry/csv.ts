/**
 * A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF or LF, BOM).
 * Area lists are a few thousand rows, so it reads a whole string at once.
 * (Exports are written by server/csv.ts.)
 */
export interface CsvTable {
  header: string[];
  rows: Array<Record<string, string>>;
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`CSV line ${line}: ${message}`);
    this.name = 'CsvError';
  }
}

/** Every record of a CSV text as written (fields not trimmed, blank lines skipped): the RFC 4180 reading itself. */
export function parseCsvRecords(text: string): string[][] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let inQuotes = false;
  let line = 1;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"') {
      if (field !== '') throw new CsvError('quote inside an unquoted field', line);
      inQuotes = true;
    } else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      record.push(field);
      field = '';
      if (!(record.length === 1 && record[0] === '')) records.push(record);
      record = [];
      line++;
    } else field += ch;
  }
  if (inQuotes) throw new CsvError('unterminated quoted field', line);
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

export function parseCsv(text: string): CsvTable {
  const [header, ...body] = parseCsvRecords(text);
  if (!header) throw new CsvError('empty file: expected a header row', 1);
  const names = header.map((h) => h.trim());
  const rows = body.map((r, idx) => {
    if (r.length !== names.length) {
      throw new CsvError(`has ${r.length} fields, the header has ${names.length}`, idx + 2);
    }
    const o: Record<string, string> = {};
    names.forEach((n, j) => (o[n] = r[j]!.trim()));
    return o;
  });
  return { header: names, rows };
}
