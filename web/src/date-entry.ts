/**
 * Dates and times as people in the province type them: day/month/year
 * (dd/mm/yyyy) and a 24-hour clock, whatever language the browser was set up
 * in (a browser date field shows its own locale's mm/dd/yyyy). Pure: what the
 * entry fields of components/date-entry.tsx read and show. Values travel as
 * the wire's local forms: "YYYY-MM-DD", "HH:mm", "YYYY-MM-DDTHH:mm" in
 * Asia/Ho_Chi_Minh.
 */

const pad = (n: number) => String(n).padStart(2, '0');

function realDay(y: number, m: number, d: number): boolean {
  if (y < 1970 || y > 2200 || m < 1 || m > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= days;
}

/**
 * "5/12/2026", "05-12-2026", "5.12.2026", "05 12 2026" or the digits alone "05122026" (a phone's number pad
 * has no slash) → "2026-12-05"; a two-digit year is 20yy. Null for anything else, or a day that does not exist.
 */
export function parseDayEntry(text: string): string | null {
  const s = text.trim();
  let d: number;
  let m: number;
  let y: number;
  const parts = /^(\d{1,2})\s*[/.\-\s]\s*(\d{1,2})\s*[/.\-\s]\s*(\d{2}|\d{4})$/.exec(s);
  if (parts) {
    d = Number(parts[1]);
    m = Number(parts[2]);
    y = Number(parts[3]);
  } else {
    const digits = /^(\d{2})(\d{2})(\d{4}|\d{2})$/.exec(s);
    if (!digits) return null;
    d = Number(digits[1]);
    m = Number(digits[2]);
    y = Number(digits[3]);
  }
  if (y < 100) y += 2000;
  return realDay(y, m, d) ? `${y}-${pad(m)}-${pad(d)}` : null;
}

/** "2026-12-05" → "05/12/2026"; anything else → "". */
export function showDayEntry(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  return m ? `${m[3]}/${m[2]}/${m[1]}` : '';
}

/** "7:30", "07:30", "7h30", "7.30", "0730", "730" or "7" → "07:30" / "07:00" (24-hour). Null for anything else. */
export function parseTimeEntry(text: string): string | null {
  const s = text.trim().toLowerCase();
  const sep = /^(\d{1,2})\s*[:h.\s]\s*(\d{2})?$/.exec(s);
  const digits = /^(\d{1,2}?)(\d{2})$/.exec(s);
  let h: number;
  let min: number;
  if (sep) {
    h = Number(sep[1]);
    min = sep[2] === undefined ? 0 : Number(sep[2]);
  } else if (/^\d{1,2}$/.test(s)) {
    h = Number(s);
    min = 0;
  } else if (digits && digits[1] !== '') {
    h = Number(digits[1]);
    min = Number(digits[2]);
  } else return null;
  return h <= 23 && min <= 59 ? `${pad(h)}:${pad(min)}` : null;
}

/** "YYYY-MM-DDTHH:mm" → its day and time parts ("" each when it is not one). */
export function splitLocal(value: string): { day: string; time: string } {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})$/.exec(value);
  return m ? { day: m[1]!, time: m[2]! } : { day: '', time: '' };
}
