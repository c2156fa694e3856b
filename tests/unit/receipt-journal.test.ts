/**
 * The agent's event journal (edge-agent/playout/receipts.ts) on a real temp
 * directory: written before sending, cleared only by the server's ack (never
 * by the broker's PUBACK), sent again after a reopen or a back-off, one per
 * key, alert statuses and command results kept like receipts, and damage —
 * any cut of the file, any corrupt line — read as "unknown", never as a
 * wrong verdict (fast-check over every truncation point).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ReceiptJournal, journalLine, parseJournalLine } from '../../edge-agent/playout/receipts.ts';
import { PROTOCOL_VERSION, eventAckKey, type AcknowledgedEvent, type AlertStatusEvent, type AsRunEvent, type CommandResultEvent } from '../../protocol/index.ts';
import { waitFor } from '../helpers/wait.ts';

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
    v: PROTOCOL_VERSION,
    siteId: 'site-1',
    at: T0 + 5000,
    type: 'as_run',
    entryId,
    kind: 'bulletin',
    itemId: 'item-1',
    mediaId: 'm-1',
    scheduledAt: T0,
    outcome: 'played',
    startedAt: T0 + 3,
    endedAt: T0 + 4000,
    startErrorMs: 3,
    frames: 200,
    playlistVersion: 'v1',
    ...over,
  };
}
const alertStatus = (status: AlertStatusEvent['status'], at: number): AlertStatusEvent => ({
  v: PROTOCOL_VERSION,
  siteId: 'site-1',
  at,
  type: 'alert_status',
  alertId: 'alr-0123456789abcdef',
  revision: 1,
  status,
});
const cmdResult = (cmdId: string): CommandResultEvent => ({
  v: PROTOCOL_VERSION,
  siteId: 'site-1',
  at: T0,
  type: 'cmd_result',
  cmdId,
  cmdType: 'set_volume',
  ok: true,
  result: { volume: 70 },
});
const idOf = (e: AcknowledgedEvent): string => eventAckKey(e)!;
/** The property runs reopen (and so rewrite, fsync) a journal thousands of times: in memory where the machine has a tmpfs. */
const scratch = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

/** A sender that records what it published and says the broker took it (PUBACK): that alone must clear nothing. */
function broker(): { sent: string[]; send: (e: AcknowledgedEvent) => Promise<boolean>; sentAtLeast(n: number): Promise<unknown> } {
  const sent: string[] = [];
  return { sent, send: async (e) => (sent.push(idOf(e)), true), sentAtLeast: (n) => waitFor(`${n} events sent`, () => sent.length >= n) };
}

describe('ReceiptJournal: acknowledged means stored', () => {
  it('keeps an event until the server acknowledges it — a PUBACK clears nothing — and sends the rest again after a reopen', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file, now: () => T0 });
    await j.open();
    expect(await j.record(receipt('a@1'))).toBe(true);
    expect(await j.record(receipt('b@1'))).toBe(true);
    // On disk before anything was sent (after the journal's first line).
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    const b = broker();
    j.attach(b.send);
    await b.sentAtLeast(2);
    expect(b.sent.sort()).toEqual(['r/a@1', 'r/b@1']);
    expect(j.unsent().map((r) => r.entryId)).toEqual(['a@1', 'b@1']); // published, PUBACKed, not stored yet
    j.acknowledge({ stored: ['r/a@1'] });
    await j.flushed();
    expect(j.unsent().map((r) => r.entryId)).toEqual(['b@1']);
    expect(j.acknowledgedReceipts()).toEqual(['a@1']);
    await j.close();

    const again = new ReceiptJournal({ file, now: () => T0 });
    await again.open();
    expect(again.unsent().map((r) => r.entryId)).toEqual(['b@1']);
    expect(again.has('a@1')).toBe(true);
    const b2 = broker();
    again.attach(b2.send);
    await b2.sentAtLeast(1);
    expect(b2.sent).toEqual(['r/b@1']);
    again.acknowledge({ stored: ['r/b@1', 'r/a@1', 'r/unknown@1'] }); // repeats and strangers change nothing
    expect(again.stats()).toMatchObject({ recorded: 2, unsent: 0, sent: 1 });
    await again.close();
  });

  it('sends again after the back-off when no ack comes, and after every reconnect', async () => {
    const j = new ReceiptJournal({ ackTimeoutMs: 30, retry: { baseMs: 20, capMs: 40 } });
    await j.open();
    await j.record(receipt('a@1'));
    const b = broker();
    j.attach(b.send);
    await b.sentAtLeast(1);
    expect(b.sent[0]).toBe('r/a@1');
    // No ack (a server that died before storing it): out again after the timeout and the back-off.
    await b.sentAtLeast(3);
    expect(new Set(b.sent)).toEqual(new Set(['r/a@1']));
    expect(j.stats().ackTimeouts).toBeGreaterThanOrEqual(2);
    j.detach();
    const b2 = broker();
    j.attach(b2.send);
    await b2.sentAtLeast(1);
    j.acknowledge({ stored: ['r/a@1'] });
    expect(new Set(b2.sent)).toEqual(new Set(['r/a@1'])); // its ack timer may have sent it again meanwhile
    // Acknowledged: the journal owes nothing, so no timer or reconnect can send it again.
    expect(j.stats()).toMatchObject({ unsent: 0, inFlight: 0 });
    j.detach();
    const b3 = broker();
    j.attach(b3.send);
    // A later event on the same journal is sent; the acknowledged one, which would have gone first, is not.
    await j.record(receipt('z@1'));
    await b3.sentAtLeast(1);
    expect(new Set(b3.sent)).toEqual(new Set(['r/z@1'])); // z may have gone twice: its own ack timer is short here
    await j.close();
  });

  it('a refusal for good clears the event too (and is counted, not retried)', async () => {
    const j = new ReceiptJournal();
    await j.open();
    const s = alertStatus('received', T0);
    await j.recordEvent(s);
    j.acknowledge({ stored: [], refused: [{ key: idOf(s), code: 'not_accepted', reason: 'alert alr-0123456789abcdef is not known' }] });
    expect(j.pending()).toEqual([]);
    expect(j.stats()).toMatchObject({ refused: 1, unsent: 0 });
    await j.close();
  });

  it('journals alert statuses and command results like receipts: on disk before sending, kept across a restart until acknowledged', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file });
    await j.open();
    const statuses = [alertStatus('received', T0), alertStatus('playing', T0 + 10), alertStatus('completed', T0 + 90_000)];
    for (const s of statuses) expect(await j.recordEvent(s)).toBe(true);
    expect(await j.recordEvent(cmdResult('cmd-00000001'))).toBe(true);
    expect(await j.recordEvent(cmdResult('cmd-00000001'))).toBe(false); // one answer per command
    expect(await j.recordEvent(alertStatus('received', T0))).toBe(false); // the same step twice
    j.acknowledge({ stored: [idOf(statuses[0]!)] });
    await j.close(); // the agent restarts (or is killed: every record was fsync'ed)

    const again = new ReceiptJournal({ file });
    await again.open();
    expect(again.pending().map(idOf)).toEqual([idOf(statuses[1]!), idOf(statuses[2]!), 'c/cmd-00000001']);
    const b = broker();
    again.attach(b.send);
    await b.sentAtLeast(3);
    expect(b.sent).toEqual([idOf(statuses[1]!), idOf(statuses[2]!), 'c/cmd-00000001']);
    again.acknowledge({ stored: b.sent });
    expect(again.pending()).toEqual([]);
    expect(again.isAcknowledged(cmdResult('cmd-00000001'))).toBe(true);
    await again.close();
    // Acknowledged statuses and results leave the file at the next compaction; nothing is sent again.
    const third = new ReceiptJournal({ file, compactLines: 1 });
    await third.open();
    expect(third.pending()).toEqual([]);
    await third.close();
  });

  it('an alert status is not held behind a backlog of receipts waiting for their acks', async () => {
    const j = new ReceiptJournal({ maxInFlight: 2 });
    await j.open();
    for (const id of ['a@1', 'b@1', 'c@1']) await j.record(receipt(id));
    const b = broker();
    j.attach(b.send);
    await b.sentAtLeast(2);
    expect(b.sent).toEqual(['r/a@1', 'r/b@1']); // the window is full, and no ack comes
    const s = alertStatus('playing', T0 + 1);
    await j.recordEvent(s);
    // The status goes out past the full window; c, which would have gone out with it, does not.
    await b.sentAtLeast(3);
    expect(b.sent).toEqual(['r/a@1', 'r/b@1', idOf(s)]);
    j.acknowledge({ stored: ['r/a@1'] });
    await b.sentAtLeast(4);
    expect(b.sent).toEqual(['r/a@1', 'r/b@1', idOf(s), 'r/c@1']);
    await j.close();
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

  it('reads a journal written before acks: its receipts and started marks, not its PUBACK marks (those receipts go once more)', async () => {
    const file = journalFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, [JSON.stringify({ r: receipt('old@1') }), JSON.stringify({ s: 'old@1' }), JSON.stringify({ p: 'x@1', at: T0, v: 'v1' }), ''].join('\n'));
    const j = new ReceiptJournal({ file });
    await j.open();
    expect(j.unsent().map((r) => r.entryId)).toEqual(['old@1']);
    expect(j.interrupted()).toEqual([{ entryId: 'x@1', startedAt: T0, version: 'v1', damaged: false }]);
    expect(j.damage).toBeUndefined();
    await j.close();
    // Rewritten with checksums.
    for (const l of fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)) expect(parseJournalLine(l).ok && !(parseJournalLine(l) as { legacy: boolean }).legacy).toBe(true);
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
    expect(again.interrupted()).toEqual([{ entryId: 'a@1', startedAt: T0 + 4, version: 'v1', damaged: false }]);
    expect(again.fresh).toBe(false);
    await again.close();
  });

  it('a receipt recorded while the agent stops is still on disk, and leaves no file handle open', async () => {
    const file = journalFile();
    // Open descriptors naming the journal (Linux): a handle left open is closed by the collector, which Node deprecates.
    const handles = () =>
      fs.existsSync('/proc/self/fd')
        ? fs.readdirSync('/proc/self/fd').filter((fd) => {
            try {
              return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
            } catch {
              return false;
            }
          }).length
        : 0;
    const j = new ReceiptJournal({ file, now: () => T0 });
    await j.open();
    await j.markStarted('a@1', T0, 'v1');
    const closing = j.close();
    // The bulletin ends as the agent stops: its receipt comes after close() began, and an ack after it ended.
    const recorded = j.record(receipt('a@1'));
    await closing;
    expect(await recorded).toBe(true);
    j.acknowledge({ stored: ['r/a@1'] });
    await j.flushed();
    if (fs.existsSync('/proc/self/fd')) expect(handles()).toBe(0);
    const again = new ReceiptJournal({ file, now: () => T0 });
    await again.open();
    expect(again.get('a@1')?.outcome).toBe('played');
    expect(again.interrupted()).toEqual([]);
    await again.close();
    expect(handles()).toBe(0);
  });

  it('compacts: acknowledged receipts older than the retention leave, unacknowledged ones stay whatever their age', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file, compactLines: 3, retainMs: 1000, now: () => T0 + 10_000 });
    await j.open();
    await j.record(receipt('old-sent@1'));
    await j.record(receipt('old-unsent@1'));
    await j.record(receipt('new-sent@1', { scheduledAt: T0 + 9500 }));
    j.acknowledge({ stored: ['r/old-sent@1', 'r/new-sent@1'] });
    await j.close();
    const again = new ReceiptJournal({ file, compactLines: 3, retainMs: 1000, now: () => T0 + 10_000 });
    await again.open();
    expect(again.has('old-sent@1')).toBe(false);
    expect(again.has('old-unsent@1')).toBe(true);
    expect(again.has('new-sent@1')).toBe(true);
    expect(again.unsent().map((r) => r.entryId)).toEqual(['old-unsent@1']);
    await again.close();
  });

  it('a journal never written to is not taken for a lost one when opened again; one emptied is, and one compacted down to nothing is not', async () => {
    const file = journalFile();
    const first = new ReceiptJournal({ file, now: () => T0 });
    await first.open();
    expect(first.fresh).toBe(true); // a first start
    await first.close(); // a run that recorded nothing (killed before any bulletin)
    const second = new ReceiptJournal({ file, now: () => T0 + 1000 });
    await second.open();
    expect(second.fresh).toBe(false);
    expect(second.damage).toBeUndefined();
    await second.record(receipt('old@1'));
    second.acknowledge({ stored: ['r/old@1'] });
    await second.close();

    // Every receipt acknowledged and past its retention: compaction keeps the first line alone.
    const third = new ReceiptJournal({ file, compactLines: 0, retainMs: 1000, now: () => T0 + 10_000 });
    await third.open();
    expect(third.has('old@1')).toBe(false);
    await third.close();
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    const fourth = new ReceiptJournal({ file, now: () => T0 + 20_000 });
    await fourth.open();
    expect(fourth.fresh).toBe(false);
    await fourth.close();

    fs.writeFileSync(file, ''); // emptied (a card that came back with the file and nothing in it)
    const fifth = new ReceiptJournal({ file, now: () => T0 + 30_000 });
    await fifth.open();
    expect(fifth.fresh).toBe(true);
    await fifth.close();
  });

  it('refuses to record an invalid receipt (a bug, not a wire error)', async () => {
    const j = new ReceiptJournal();
    await j.open();
    await expect(j.record(receipt('a@1', { outcome: 'maybe' as never }))).rejects.toThrow(/invalid as_run event/);
  });
});

describe('ReceiptJournal: a torn or corrupt line is unknown, never a wrong verdict', () => {
  it('a receipt line cut in half by a power cut: the entry that started is "damaged", not "partial: the agent stopped"', async () => {
    const file = journalFile();
    const j = new ReceiptJournal({ file, now: () => T0 + 60_000 });
    await j.open();
    await j.markStarted('a@1', T0, 'v1');
    await j.close();
    const whole = journalLine(JSON.stringify({ r: receipt('a@1') }));
    fs.appendFileSync(file, whole.slice(0, Math.floor(whole.length / 2))); // the power went mid-write
    const again = new ReceiptJournal({ file, now: () => T0 + 60_000 });
    await again.open();
    expect(again.interrupted()).toEqual([{ entryId: 'a@1', startedAt: T0, version: 'v1', damaged: true }]);
    expect(again.mayHaveLost('a@1')).toBe(true);
    expect(again.damage).toEqual({ lines: 1, entryIds: ['a@1'], unattributedAt: null });
    await again.close();
    // The next restart still knows (the damage is written back), until the entry gets a receipt.
    const third = new ReceiptJournal({ file });
    await third.open();
    expect(third.interrupted()).toEqual([{ entryId: 'a@1', startedAt: T0, version: 'v1', damaged: true }]);
    await third.record(receipt('a@1', { outcome: 'partial', reason: 'error' }));
    expect(third.mayHaveLost('a@1')).toBe(false);
    await third.close();
  });

  it('a flipped byte fails the checksum: the line is damage, not a receipt that says something else', () => {
    const line = journalLine(JSON.stringify({ r: receipt('a@1', { frames: 200 }) }));
    const corrupt = line.replace('"frames":200', '"frames":100');
    expect(parseJournalLine(line).ok).toBe(true);
    expect(parseJournalLine(corrupt)).toEqual({ ok: false, damaged: { kind: 'entry', entryId: 'a@1' } });
  });

  /**
   * A journal's life as operations; each run writes them to a real file, cuts
   * the file at every byte (a power cut in the middle of any write) and reads
   * it back. The property: for every entry, the reopened journal says
   *  - its true receipt (never an altered one), or
   *  - "damaged" (unknown), or
   *  - exactly what the journal said at the last whole line before the cut
   *    (a cut between lines is a crash before a write, which the fsync order
   *    makes a state the agent really was in).
   */
  type Op = { kind: 'start' | 'receipt' | 'ack'; entry: number; outcome: 'played' | 'partial' };
  const opArb = fc.record({
    kind: fc.constantFrom('start', 'receipt', 'ack') as fc.Arbitrary<Op['kind']>,
    entry: fc.integer({ min: 0, max: 3 }),
    outcome: fc.constantFrom('played', 'partial') as fc.Arbitrary<Op['outcome']>,
  });

  type View = Map<string, string>;
  function viewOf(j: ReceiptJournal, ids: string[]): View {
    const out: View = new Map();
    const interrupted = new Map(j.interrupted().map((i) => [i.entryId, i]));
    for (const id of ids) {
      const r = j.get(id);
      const i = interrupted.get(id);
      out.set(id, r ? `receipt:${JSON.stringify(r)}` : j.mayHaveLost(id, T0) ? 'unknown' : i ? 'interrupted' : 'none');
    }
    return out;
  }

  it('any truncation point of the file never produces a wrong verdict', async () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'loanet-journal-cut-'));
    dirs.push(dir);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 6 }), async (ops) => {
        const file = path.join(dir, `j${run++}.journal`);
        const j = new ReceiptJournal({ file, now: () => T0 });
        await j.open();
        const ids = [0, 1, 2, 3].map((n) => `e${n}@${T0}`);
        const truth = new Map<string, AsRunEvent>();
        // After each whole line: the view the journal then had.
        const views: Array<{ bytes: number; view: View }> = [{ bytes: 0, view: viewOf(j, ids) }];
        for (const op of ops) {
          const id = ids[op.entry]!;
          if (op.kind === 'start') await j.markStarted(id, T0, 'v1');
          else if (op.kind === 'receipt') {
            const r = receipt(id, { outcome: op.outcome, ...(op.outcome === 'partial' ? { reason: 'amp_fault' as const } : {}) });
            if (await j.record(r)) truth.set(id, r);
          } else j.acknowledge({ stored: [`r/${id}`] });
          await j.flushed();
          const bytes = fs.statSync(file).size;
          if (bytes !== views[views.length - 1]!.bytes) views.push({ bytes, view: viewOf(j, ids) });
        }
        await j.close();
        const text = fs.readFileSync(file);
        for (let cut = 0; cut <= text.length; cut++) {
          const copy = path.join(dir, `cut-${run}-${cut}.journal`);
          fs.writeFileSync(copy, text.subarray(0, cut));
          const r = new ReceiptJournal({ file: copy, now: () => T0 + 1 });
          await r.open();
          const seen = viewOf(r, ids);
          await r.close();
          fs.rmSync(copy);
          // A line whole but for its newline is a whole record (its checksum holds).
          const whole = cut < text.length && text[cut] === 0x0a ? cut + 1 : cut;
          const before = [...views].reverse().find((v) => v.bytes <= whole)!.view;
          for (const id of ids) {
            const s = seen.get(id)!;
            if (s.startsWith('receipt:')) expect(s, `cut at ${cut}: ${id}`).toBe(`receipt:${JSON.stringify(truth.get(id))}`);
            else if (s !== 'unknown') expect(s, `cut at ${cut} of ${text.length}: ${id}`).toBe(before.get(id));
          }
        }
      }),
      { numRuns: 12 },
    );
  }, 120_000);

  it('any corrupt byte never produces a wrong verdict either', async () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'loanet-journal-flip-'));
    dirs.push(dir);
    const file = path.join(dir, 'base.journal');
    const j = new ReceiptJournal({ file, now: () => T0 });
    await j.open();
    await j.markStarted('a@1', T0, 'v1');
    await j.record(receipt('a@1'));
    await j.markStarted('b@1', T0, 'v1');
    await j.record(receipt('b@1', { outcome: 'partial', reason: 'amp_fault', frames: 50 }));
    await j.close();
    const text = fs.readFileSync(file);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: text.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const copy = path.join(dir, `flip-${at}-${xor}.journal`);
        const bad = Buffer.from(text);
        bad[at] = bad[at]! ^ xor;
        fs.writeFileSync(copy, bad);
        const r = new ReceiptJournal({ file: copy, now: () => T0 + 1 });
        await r.open();
        for (const [id, outcome] of [
          ['a@1', 'played'],
          ['b@1', 'partial'],
        ] as const) {
          const got = r.get(id);
          if (got) expect(got.outcome).toBe(outcome);
          else expect(r.mayHaveLost(id, T0), `flip at ${at}: ${id} lost its receipt silently`).toBe(true);
        }
        await r.close();
        fs.rmSync(copy);
      }),
      { numRuns: 200 },
    );
  });
});
