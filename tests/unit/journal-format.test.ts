/** The agent's event journal read line by line (edge-agent/playout/journal-format.ts), pure: what damage a line may hide. */
import { describe, expect, it } from 'vitest';
import { encodeRecord, readJournal, type JournalRecord } from '../../edge-agent/playout/journal-format.ts';

const started = (id: string): JournalRecord => ({ p: id, at: 1000 });
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const readAll = (text: string) => {
  const records: Array<{ record: JournalRecord; legacy: boolean }> = [];
  const read = readJournal(text, (record, legacy) => (records.push({ record, legacy }), true));
  return { ...read, records };
};

describe('reading a journal', () => {
  it('a whole journal: every record, no damage', () => {
    const r = readAll(lines(encodeRecord(started('e-1')), encodeRecord({ s: 'r/e-1' })));
    expect(r.records.map((x) => x.record)).toEqual([started('e-1'), { s: 'r/e-1' }]);
    expect(r).toMatchObject({ bad: 0, legacy: 0, damage: [] });
  });

  it('a last line torn by a power cut names the entry it was about, when its name survived whole', () => {
    const torn = encodeRecord(started('e-2')).slice(0, -3);
    const r = readAll(`${encodeRecord(started('e-1'))}\n${torn}`);
    expect(r.bad).toBe(1);
    expect(r.damage).toEqual([{ kind: 'entry', entryId: 'e-2' }]);
  });

  it('a torn ack mark is harmless: it costs one duplicate', () => {
    const r = readAll(`${encodeRecord(started('e-1'))}\n${encodeRecord({ s: 'r/e-1' }).slice(0, -4)}`);
    expect(r.damage).toEqual([{ kind: 'harmless' }]);
  });

  it('a corrupt line before the last cannot be trusted: unknown, and the entry it seems to name', () => {
    const bad = encodeRecord(started('e-3')).replace('1000', '1001');
    const r = readAll(lines(bad, encodeRecord(started('e-4'))));
    expect(r.bad).toBe(1);
    expect(r.damage).toEqual([
      { kind: 'entry', entryId: undefined },
      { kind: 'entry', entryId: 'e-3' },
    ]);
    expect(r.records.map((x) => x.record)).toEqual([started('e-4')]);
  });

  it('lines of an agent before checksums are read and counted as legacy; a record the journal refuses is damage', () => {
    const r = readJournal(lines(JSON.stringify(started('e-5')), encodeRecord({ s: 'x' })), (record) => !('s' in record));
    expect(r).toMatchObject({ legacy: 1, bad: 1, lines: 3 });
  });
});
