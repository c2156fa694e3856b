/**
 * The event journal's file format, pure: one line per record,
 * `<crc32 of JSON, 8 hex> <JSON>`, and what a damaged line (torn by a power
 * cut, or corrupt) may have been. The records are described in receipts.ts.
 */
import { crc32 } from 'node:zlib';
import type { AcknowledgedEvent, AsRunEvent } from '../../protocol/index.ts';

/** One record of the journal. */
export type JournalRecord = { j: number } | { r: AsRunEvent } | { e: AcknowledgedEvent } | { s: string } | { p: string; at: number; v?: string } | { d: string; at: number };

/** The ack key of an entry's receipt (protocol eventAckKey of its as_run event). */
export const receiptKey = (entryId: string): string => `r/${entryId}`;
/** A `d` record for a damaged line that named no entry. */
export const UNATTRIBUTED = '*';

/** `<crc32 hex> <json>`: the checksum makes a torn or corrupted line detectable. */
export function journalLine(json: string): string {
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}`;
}

/** A record as one line of the file, without its newline. */
export function encodeRecord(record: JournalRecord): string {
  return journalLine(JSON.stringify(record));
}

/**
 * What a damaged line was, as far as its fragment tells: a record of an entry
 * (receipt, started mark, damage note) with its id when the id survived whole,
 * or harmless to verdicts (an ack mark costs a duplicate; an alert status or
 * command result line is written before it is sent, so a torn one was never
 * sent and never will be; the first line is written before any record), or
 * unknown.
 */
export type DamagedLine = { kind: 'entry'; entryId: string | undefined } | { kind: 'harmless' };

export type ParsedLine = { ok: true; line: JournalRecord; legacy: boolean } | { ok: false; damaged: DamagedLine };

/** Read one line; a line that fails its checksum or its shape is damage, with the entry it seems to name if any. */
export function parseJournalLine(raw: string): ParsedLine {
  const m = /^([0-9a-f]{8}) (.*)$/s.exec(raw);
  let json: string | undefined;
  let legacy = false;
  if (m) {
    if (crc32(m[2]!) === parseInt(m[1]!, 16)) json = m[2]!;
  } else if (raw.startsWith('{')) {
    json = raw;
    legacy = true;
  }
  if (json !== undefined) {
    try {
      const line = JSON.parse(json) as JournalRecord;
      if (line && typeof line === 'object') return { ok: true, line, legacy };
    } catch {
      /* damage, below */
    }
  }
  return { ok: false, damaged: whatWasTorn(raw) };
}

function whatWasTorn(fragment: string): DamagedLine {
  const body = fragment.replace(/^[0-9a-f]{8} /, '');
  // The first line (`j`) is written before anything else, so a torn one held nothing.
  if (body.startsWith('{"s":') || body.startsWith('{"e":') || body.startsWith('{"j":')) return { kind: 'harmless' };
  // A name cut by the tear is a prefix of the real one, not a name: only a closed string counts.
  const m = /"(?:entryId|p|d)":"([A-Za-z0-9_.:@-]{1,120})"/.exec(body);
  return { kind: 'entry', entryId: m?.[1] };
}

/** What reading a journal's text found. */
export interface JournalRead {
  /** Lines in the text (the compaction threshold counts these). */
  lines: number;
  /** Good records without a checksum, from agents before it. */
  legacy: number;
  /** Damaged lines. */
  bad: number;
  /** What the damaged lines may have been (a corrupt line may count twice: as unknown, and as the entry it seems to name). */
  damage: DamagedLine[];
}

/**
 * Read a journal's text line by line, handing each record that passes its
 * checksum to `apply` (which answers false for well-formed JSON that is no
 * journal record: damage too).
 */
export function readJournal(text: string, apply: (record: JournalRecord, legacy: boolean) => boolean): JournalRead {
  const lines = text.split('\n');
  const damage: DamagedLine[] = [];
  let legacy = 0;
  let bad = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!raw) continue;
    const parsed = parseJournalLine(raw);
    if (parsed.ok && apply(parsed.line, parsed.legacy)) {
      if (parsed.legacy) legacy++;
      continue;
    }
    // Appends only ever tear the last line (without its newline): what such a fragment names is true.
    // A bad line before it was corrupted, not torn, and its bytes (the name too) cannot be trusted.
    const torn = i === lines.length - 1;
    bad++;
    if (!parsed.ok && torn) damage.push(parsed.damaged);
    else {
      damage.push({ kind: 'entry', entryId: undefined });
      if (!parsed.ok && parsed.damaged.kind === 'entry' && parsed.damaged.entryId) damage.push(parsed.damaged);
    }
  }
  return { lines: lines.length, legacy, bad, damage };
}
