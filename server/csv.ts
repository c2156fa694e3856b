/**
 * The one CSV writer of every export (the as-run log, an alert's delivery
 * report, …), pure. What people open in a spreadsheet must never run: a text
 * cell from a user or a site (a bulletin title, a site name, a detail a site
 * published) that begins like a formula is neutralised, while the numbers the
 * server computes stay numbers.
 *
 * Cells are typed by their JavaScript type:
 * - a `string` is text: if it begins with a formula trigger (OWASP's list:
 *   `=`, `+`, `-`, `@`, tab, carriage return; also line feed and the
 *   full-width `＝ ＋ － ＠`, which spreadsheets in East Asian locales may
 *   fold to their ASCII forms) it gets a leading `'` and is quoted, so a
 *   spreadsheet shows it as text and the reader still sees the original;
 * - a `number` (or `csvNumber(n, decimals)`) is the server's own figure,
 *   written as is, a negative one too (`-21.3` stays a number);
 * - `null`/`undefined` is an empty cell.
 *
 * Quoting is RFC 4180 (double quotes doubled). A cell holding a quote, a
 * comma, a semicolon, a tab or a line break is quoted, so a spreadsheet
 * whose list separator is `;` (or tab) cannot split it into a second cell
 * that would start with a trigger. Files are UTF-8 with a byte-order mark
 * (Excel opens BOM-less UTF-8 in the local code page: "Xã Bát Xát" turns to
 * mojibake) and CRLF line ends.
 */

export const CSV_BOM = '\uFEFF';

/** A number written with a fixed count of decimals ("0.40"), still a number to a spreadsheet. */
export interface CsvNumber {
  readonly number: number;
  readonly decimals: number;
}

export type CsvCell = string | number | CsvNumber | null | undefined;

export function csvNumber(n: number, decimals: number): CsvNumber {
  return { number: n, decimals };
}

/**
 * Characters that make a spreadsheet read a cell as a formula (or, for tab
 * and line breaks, let it through to one) when they come first.
 */
const TRIGGERS = new Set(['=', '+', '-', '@', '\t', '\r', '\n', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']);

/** Whether a text cell would be taken for a formula: it begins with a trigger. */
export function startsWithFormulaTrigger(s: string): boolean {
  return s.length > 0 && TRIGGERS.has(s[0]!);
}

const NEEDS_QUOTES = /[",;\t\r\n]/;

function quote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** One text cell: neutralised when it begins like a formula, quoted when needed. */
export function csvText(s: string): string {
  if (startsWithFormulaTrigger(s)) return quote(`'${s}`);
  return NEEDS_QUOTES.test(s) ? quote(s) : s;
}

/** One cell of any kind, as it appears between the separators. */
export function csvCell(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return csvText(v);
  const n = typeof v === 'number' ? v : v.number;
  if (!Number.isFinite(n)) return '';
  return typeof v === 'number' ? String(n) : n.toFixed(v.decimals);
}

export function csvRow(cells: readonly CsvCell[]): string {
  return cells.map(csvCell).join(',');
}

/** A whole file: BOM, the header row, the rows, CRLF after each line. */
export function csvDocument(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return CSV_BOM + [csvRow(header), ...rows.map(csvRow)].join('\r\n') + '\r\n';
}
