/**
 * The as-run receipt journal (edge-agent/playout/receipts.ts) on a real temp
 * directory: written before sending, marked sent only on acknowledgement,
 * back-filled after a reopen, one per entry, a torn line survived.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReceiptJournal } from '../../edge-agent/playout/receipts.ts';
import { PROTOCOL_VERSION, type AsRunEvent } from '../../protocol/index.ts';

const T0 = 1_800_000_000_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function journalFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-receipts-'));
  dirs.push(d);
  return path.join(d, 'state', 'asrun.journal');
}

function receipt(entryId: string, over: Partial<AsRunEvent> = {}): AsRunEvent {
  return {
    v: PROTOCOL_VERSION, siteId: 'site-1', at: T0 + 5000, type: 'as_run', entryId, kind: 'bulletin', itemId: 'item-1', mediaId: 'm-1',
    scheduledAt: T0, outcome: 'played', startedAt: T0 + 3, endedAt: T0 + 4000, startErrorMs: 3, frames: 200, playlistVersion: 'v1', ...over,
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('ReceiptJournal', () => {
  it('keeps a receipt on disk until the broker acknowledged it, and sends the unacknowledged ones again after a reopen', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file, now: () => T0 });
    await j.open();
    expect(await j.record(receipt('a@1'))).toBe(true);
    expect(await j.record(receipt('b@1'))).toBe(true);
    // On disk before anything was sent.
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    const sent: string[] = [];
    j.attach(async (e) => {
      sent.push(e.entryId);
      return e.entryId === 'a@1'; // b is published but never acknowledged
    });
    await settle();
    await j.flushed();
    expect(sent.sort()).toEqual(['a@1', 'b@1']);
    expect(j.unsent().map((r) => r.entryId)).toEqual(['b@1']);
    await j.close();

    const again = new ReceiptJournal({ file, now: () => T0 });
    await again.open();
    expect(again.unsent().map((r) => r.entryId)).toEqual(['b@1']);
    expect(again.has('a@1')).toBe(true);
    const backfilled: string[] = [];
    again.attach(async (e) => (backfilled.push(e.entryId), true));
    await settle();
    expect(backfilled).toEqual(['b@1']);
    expect(again.stats()).toMatchObject({ recorded: 2, unsent: 0, sent: 1 });
    await again.close();
  });

  it('writes one receipt per entry: a second one for the same entry is ignored', async () => {
    const j = new ReceiptJournal({ file: journalFile() });
    await j.open();
    expect(await j.record(receipt('a@1'))).toBe(true);
    expect(await j.record(receipt('a@1', { outcome: 'skipped', reason: 'no_media' }))).toBe(false);
    expect(j.get('a@1')?.outcome).toBe('played');
    expect(j.stats().duplicates).toBe(1);
    await j.close();
  });

  it('survives a line torn by a crash: the complete receipts are kept and the file is rewritten whole', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file });
    await j.open();
    await j.record(receipt('a@1'));
    await j.close();
    fs.appendFileSync(file, '{"r":{"v":1,"siteId":"site-1","at":18'); // power lost mid-write
    const again = new ReceiptJournal({ file });
    await again.open();
    expect(again.unsent().map((r) => r.entryId)).toEqual(['a@1']);
    await again.record(receipt('b@1'));
    await again.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines.map((l) => JSON.parse(l).r.entryId)).toEqual(['a@1', 'b@1']);
  });

  it('remembers entries that started and have no receipt (the agent died while they played)', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file });
    await j.open();
    await j.markStarted('a@1', T0 + 4, 'v1');
    await j.markStarted('b@1', T0 + 9, 'v1');
    await j.record(receipt('b@1'));
    await j.close();
    const again = new ReceiptJournal({ file });
    await again.open();
    expect(again.interrupted()).toEqual([{ entryId: 'a@1', startedAt: T0 + 4, version: 'v1' }]);
    await again.close();
  });

  it('compacts: sent receipts older than the retention leave, unsent ones stay whatever their age', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file, compactLines: 3, retainMs: 1000, now: () => T0 + 10_000 });
    await j.open();
    await j.record(receipt('old-sent@1'));
    await j.record(receipt('old-unsent@1'));
    await j.record(receipt('new-sent@1', { scheduledAt: T0 + 9500 }));
    j.attach(async (e) => e.entryId !== 'old-unsent@1');
    await settle();
    await j.close();
    const again = new ReceiptJournal({ file, compactLines: 3, retainMs: 1000, now: () => T0 + 10_000 });
    await again.open();
    expect(again.has('old-sent@1')).toBe(false);
    expect(again.has('old-unsent@1')).toBe(true);
    expect(again.has('new-sent@1')).toBe(true);
    expect(again.unsent().map((r) => r.entryId)).toEqual(['old-unsent@1']);
    await again.close();
  });

  it('refuses to record an invalid receipt (a bug, not a wire error)', async () => {
    const j = new ReceiptJournal();
    await j.open();
    await expect(j.record(receipt('a@1', { outcome: 'maybe' as never }))).rejects.toThrow(/invalid as_run receipt/);
  });
});
