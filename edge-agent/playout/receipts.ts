/**
 * The agent's event journal: an append-only file on the agent's disk holding
 * every event whose loss would falsify the province's proof — the as-run
 * receipts (one per playlist entry), alert statuses and command results —
 * until the SERVER says it has stored them (protocol/event-ack.ts).
 *
 * Why the server's word and not the broker's PUBACK: aedes sends the PUBACK
 * of a QoS 1 publish before the server's handler has stored it, and an
 * external broker (Mosquitto) acknowledges while the server may be down and
 * its queue for the server full; a receipt cleared on PUBACK was lost when
 * the server died at that moment. So an event is appended and fsync'ed BEFORE
 * it is sent, sent again after every reconnect, when a later event's ack
 * overtakes it, and when no ack came within 30 s (at once, then after 30 s,
 * doubling up to 10 min), and marked done only on the ack.
 * It may thus reach the server more than once; the server keeps one per key
 * (eventAckKey) and acks each copy.
 *
 * Every line carries its own checksum, so a line torn by a power cut (or a
 * block of garbage) is recognised as damage, never read as something else.
 * What it was is then unknown: if it named an entry, that entry is reported
 * by `mayHaveLost()` / `interrupted()[].damaged`, and the executor reports
 * "unknown" rather than a wrong verdict (a torn receipt line must not become
 * "partial: agent stopped while this played" for a full play). A torn line
 * that names nothing taints every entry without a receipt that started
 * before it was found (`damage.unattributedAt`). The damage is written back
 * into the journal (`d` lines), so the next restart still knows.
 *
 * Lines: `<crc32 of JSON, 8 hex> <JSON>`, one per line:
 *   {"j": ms}                        the journal began then (server clock): the
 *                                    first line of every journal, kept by
 *                                    compaction, so a journal is never empty
 *                                    once begun — an empty one was emptied
 *                                    (`fresh`), not merely unused by a run
 *                                    that recorded nothing
 *   {"r": AsRunEvent}                the receipt
 *   {"e": AlertStatusEvent | CommandResultEvent}
 *                                    another event the server must store
 *   {"s": key}                       the server stored it (or refused it for good)
 *   {"p": entryId, "at": ms, "v": playlistVersion}
 *                                    the entry started playing: if the agent
 *                                    dies before the receipt, the restart
 *                                    writes a 'partial' receipt instead of
 *                                    playing it again from the start
 *   {"d": entryId | "*", "at": ms}   a damaged line named this entry (or none)
 * Lines without a checksum are from agents before it: their receipts and
 * started marks are read, their sent marks (a PUBACK, not a store) are not,
 * so those receipts are sent once more after the upgrade and the server
 * keeps what it lacked.
 *
 * On open, the file is compacted when it grew large or held damage: the
 * first line, unacknowledged events, receipts younger than `retainMs`,
 * started marks and damage notes are rewritten to a temporary file, fsync'ed
 * and renamed over it. An agent from before the `j` line reads it as damage
 * that named nothing (it then says unknown, never a wrong verdict, for what
 * it has no receipt of).
 *
 * The line format and what a damaged line may have been are journal-format.ts;
 * when events are sent and sent again is journal-sender.ts.
 */
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodeEvent, eventAckKey, isAcknowledgedEvent, type AcknowledgedEvent, type AsRunEvent, type EventAck } from '../../protocol/index.ts';
import { replaceFileDurably } from './durable-file.ts';
import { encodeRecord, readJournal, receiptKey, UNATTRIBUTED, type JournalRecord } from './journal-format.ts';
import { JournalSender, type EventSender } from './journal-sender.ts';

// The line codec is part of what this module offers its tests and tools.
export { journalLine, parseJournalLine, type DamagedLine } from './journal-format.ts';
export type { EventSender } from './journal-sender.ts';

export interface ReceiptJournalOptions {
  /** The journal file; absent: memory only (tests, or an agent without a stateDir). */
  file?: string;
  /** Server-clock time (for retention and damage notes). */
  now?: () => number;
  /** Receipts sent and not yet acknowledged by the server, at once (default 32); alert statuses and command results are not held back by it. */
  maxInFlight?: number;
  /** Acknowledged receipts are kept this long for dedupe after a restart (default 3 days, beyond the 48 h playlist horizon). */
  retainMs?: number;
  /** Rewrite the file on open when it holds more lines than this (default 2000). */
  compactLines?: number;
  /** An event the server has not acknowledged by then is sent again after the back-off (default 30 s). */
  ackTimeoutMs?: number;
  /** After an ack timeout, events go again at once, then after this back-off while no ack comes (default 30 s doubling to 10 min). */
  retry?: { baseMs: number; capMs: number };
  log?: { warn(message: string): void; error(message: string): void };
}

export interface ReceiptStats {
  /** Receipts held (acknowledged or not). */
  recorded: number;
  /** Events (receipts and others) not yet acknowledged by the server. */
  unsent: number;
  inFlight: number;
  /** Events the server acknowledged as stored since open. */
  sent: number;
  /** Events the server refused for good since open (dropped, logged). */
  refused: number;
  /** Publishes that did not reach the broker. */
  sendFailures: number;
  /** Events published whose ack did not come within ackTimeoutMs, or that a later event's ack overtook (sent again). */
  ackTimeouts: number;
  /** record() calls for an entry that already had a receipt, or an event already held (ignored). */
  duplicates: number;
}

/** What open() found torn or corrupt, in this file's life (kept in `d` lines across restarts). */
export interface JournalDamage {
  /** Damaged lines found by this open (0 when the damage was found by an earlier one). */
  lines: number;
  /** Entries a damaged line named: their receipt or started mark may be lost. */
  entryIds: string[];
  /** Some damaged line named no entry: any entry without a receipt that started before this time (server clock) may have lost its record. */
  unattributedAt: number | null;
}

export class ReceiptJournal {
  private readonly file: string | undefined;
  private readonly now: () => number;
  private readonly retainMs: number;
  private readonly compactLines: number;
  private readonly log: NonNullable<ReceiptJournalOptions['log']>;
  /** Every held event by its ack key, in the order recorded. */
  private readonly events = new Map<string, AcknowledgedEvent>();
  /** The receipts among them, by entry id (acknowledged ones kept for `retainMs`). */
  private readonly receipts = new Map<string, AsRunEvent>();
  /** Keys the server acknowledged (stored or refused). */
  private readonly acked = new Set<string>();
  private readonly started = new Map<string, { at: number; version?: string }>();
  /** Entries a damaged line named, with when it was found. */
  private readonly damagedIds = new Map<string, number>();
  private unattributedAt: number | null = null;
  private damagedLines = 0;
  private lostFile = false;
  /** When the journal began (its `j` line); undefined for a journal from before that line, or not opened. */
  private begunAt: number | undefined;
  private handle: FileHandle | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly sending: JournalSender;
  private counters = { sent: 0, refused: 0, duplicates: 0 };
  private opened = false;
  /** close() was called: later writes open the file for themselves only. */
  private closed = false;

  constructor(o: ReceiptJournalOptions = {}) {
    this.file = o.file;
    this.now = o.now ?? Date.now;
    this.retainMs = o.retainMs ?? 3 * 24 * 3600_000;
    this.compactLines = o.compactLines ?? 2000;
    this.log = o.log ?? { warn: () => {}, error: () => {} };
    this.sending = new JournalSender({
      maxInFlight: o.maxInFlight ?? 32,
      ackTimeoutMs: o.ackTimeoutMs ?? 30_000,
      retry: o.retry ?? { baseMs: 30_000, capMs: 600_000 },
      events: () => this.events,
      isAcked: (key) => this.acked.has(key),
    });
  }

  /** Read the journal (events, acks, started marks, damage); compact it if needed. */
  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    if (!this.file) return;
    await mkdir(dirname(this.file), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.lostFile = text.length === 0;
    const { lines, legacy, bad, damage } = readJournal(text, (record, legacy) => this.apply(record, legacy));
    if (damage.length > 0) {
      this.damagedLines = bad;
      const at = this.now();
      const named: string[] = [];
      for (const d of damage) {
        if (d.kind === 'harmless') continue;
        if (d.entryId === undefined) this.unattributedAt = Math.max(this.unattributedAt ?? 0, at);
        else if (!this.damagedIds.has(d.entryId)) this.damagedIds.set(d.entryId, at), named.push(d.entryId);
      }
      this.log.warn(
        `event journal ${this.file}: ${bad} damaged line(s) (cut by a power cut or corrupt)${named.length ? `, naming ${[...new Set(named)].join(', ')}` : ''}; what they held is reported as unknown`,
      );
    }
    if (damage.length > 0 || legacy > 0 || lines > this.compactLines) await this.compact();
    this.handle = await open(this.file, 'a');
    if (this.begunAt === undefined && text.length === 0) {
      this.begunAt = this.now();
      await this.append({ j: this.begunAt }, true);
    }
  }

  /** A receipt exists for this entry (acknowledged or not). */
  has(entryId: string): boolean {
    return this.receipts.has(entryId);
  }

  /**
   * Entries that started playing and have no receipt: the agent stopped
   * (crash, power) while they played — unless `damaged`: then a damaged line
   * may have been their receipt, and what became of them is unknown.
   */
  interrupted(): Array<{ entryId: string; startedAt: number; version?: string; damaged: boolean }> {
    const out: Array<{ entryId: string; startedAt: number; version?: string; damaged: boolean }> = [];
    for (const [entryId, s] of this.started) {
      if (!this.receipts.has(entryId)) out.push({ entryId, startedAt: s.at, ...(s.version ? { version: s.version } : {}), damaged: this.mayHaveLost(entryId, s.at) });
    }
    return out;
  }

  /** What open() found damaged, in this file's life; undefined when the journal is whole. */
  get damage(): JournalDamage | undefined {
    if (this.damagedIds.size === 0 && this.unattributedAt === null) return undefined;
    return { lines: this.damagedLines, entryIds: [...this.damagedIds.keys()], unattributedAt: this.unattributedAt };
  }

  /**
   * The journal file was absent or empty at open: a first start, or a journal
   * wiped, lost or emptied (a journal begun is never empty: its first line).
   * One left empty by an agent from before that line is fresh too.
   */
  get fresh(): boolean {
    return this.lostFile;
  }

  /**
   * True when the journal cannot vouch for this entry: it has no receipt for
   * it, and a damaged line named it, or named nothing and was found after
   * `startAt` (the entry's start; absent: assume it may be affected).
   */
  mayHaveLost(entryId: string, startAt?: number): boolean {
    if (this.receipts.has(entryId)) return false;
    if (this.damagedIds.has(entryId)) return true;
    return this.unattributedAt !== null && (startAt === undefined || startAt <= this.unattributedAt);
  }

  /** Note that an entry started playing (fsync'ed, like a receipt). */
  markStarted(entryId: string, at: number, version?: string): Promise<void> {
    if (this.started.has(entryId)) return this.writing;
    this.started.set(entryId, { at, ...(version ? { version } : {}) });
    return this.append({ p: entryId, at, ...(version ? { v: version } : {}) }, true);
  }

  /**
   * Write a receipt to disk (fsync) and then send it. One per entry: a second
   * one for the same entry is ignored (returns false). Resolves when it is on disk.
   */
  record(event: AsRunEvent): Promise<boolean> {
    return this.recordEvent(event);
  }

  /**
   * Write an event the server must store (a receipt, an alert status, a
   * command result) to disk, fsync'ed, then send it. An event already held
   * (same key) is ignored: false. Resolves when it is on disk.
   */
  async recordEvent(event: AcknowledgedEvent): Promise<boolean> {
    const checked = decodeEvent.check(event);
    if (!checked.ok || !isAcknowledgedEvent(checked.value))
      throw new Error(`bug: invalid ${event.type} event for the journal: ${checked.ok ? 'not journaled' : checked.error.reason}`);
    const key = eventAckKey(event)!;
    if (this.events.has(key) || this.acked.has(key) || (event.type === 'as_run' && this.receipts.has(event.entryId))) {
      this.counters.duplicates++;
      return false;
    }
    this.events.set(key, event);
    if (event.type === 'as_run') this.receipts.set(event.entryId, event);
    await this.append(event.type === 'as_run' ? { r: event } : { e: event }, true);
    this.sending.pump();
    return true;
  }

  /** The server has acknowledged this event (it was in the journal and is now stored). */
  isAcknowledged(event: AcknowledgedEvent): boolean {
    return this.acked.has(eventAckKey(event)!);
  }

  /** Start sending (link up): every unacknowledged event goes out, a few at a time. */
  attach(sender: EventSender): void {
    this.sending.attach(sender);
  }

  /** Link down: stop sending; whatever was not acknowledged goes out again after the next attach. */
  detach(): void {
    this.sending.detach();
  }

  /** The server's ack (sites/{siteId}/ack): what it stored, and what it refused for good. */
  acknowledge(ack: Pick<EventAck, 'stored' | 'refused'>): void {
    let any = false;
    // The server handles one site's events in the order they were sent and acks them in that order: an
    // event sent before one it acknowledges, and not acknowledged itself, did not reach it (a broker's full
    // queue for a server that was down dropped it). It goes again now, not after its timeout.
    const overtaken = this.sending.latestSendOf([...ack.stored, ...(ack.refused ?? []).map((r) => r.key)]);
    for (const key of ack.stored) if (this.settle(key)) this.counters.sent++, (any = true);
    for (const r of ack.refused ?? []) {
      if (!this.settle(r.key)) continue;
      this.counters.refused++;
      any = true;
      this.log.warn(`the server refused ${r.key} for good (${r.code}: ${r.reason}); not sent again`);
    }
    if (!any) return;
    this.sending.acknowledged(overtaken);
  }

  /** Events not yet acknowledged by the server, oldest first. */
  pending(): AcknowledgedEvent[] {
    return [...this.events.entries()].filter(([k]) => !this.acked.has(k)).map(([, e]) => e);
  }

  /** Receipts not yet acknowledged by the server. */
  unsent(): AsRunEvent[] {
    return [...this.receipts.values()].filter((r) => !this.acked.has(receiptKey(r.entryId)));
  }

  /** Receipts the server has acknowledged as stored (or refused), by entry id. */
  acknowledgedReceipts(): string[] {
    return [...this.receipts.keys()].filter((id) => this.acked.has(receiptKey(id)));
  }

  get(entryId: string): AsRunEvent | undefined {
    return this.receipts.get(entryId);
  }

  stats(): ReceiptStats {
    let unsent = 0;
    for (const k of this.events.keys()) if (!this.acked.has(k)) unsent++;
    const { sent, refused, duplicates } = this.counters;
    return {
      recorded: this.receipts.size,
      unsent,
      inFlight: this.sending.inFlightCount,
      sent,
      refused,
      sendFailures: this.sending.sendFailures,
      ackTimeouts: this.sending.ackTimeouts,
      duplicates,
    };
  }

  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void> {
    return this.writing;
  }

  /**
   * Stop sending and close the file, in the order of the writes. A record
   * made after this (a bulletin that ends while the agent stops, an ack that
   * was already on its way) is still written, and fsync'ed when it must be,
   * through a handle opened and closed for that one write: as durable as
   * before, and no handle is left open.
   */
  async close(): Promise<void> {
    this.detach();
    this.closed = true;
    this.writing = this.writing.then(async () => {
      await this.handle?.close().catch(() => {});
      this.handle = undefined;
    });
    await this.writing;
  }

  // --------------------------------------------------------------- inside ----

  /** Apply one line read from the file; false when it is well-formed JSON but not a journal line (damage). */
  private apply(line: JournalRecord, legacy: boolean): boolean {
    if ('j' in line) {
      if (typeof line.j !== 'number') return false;
      this.begunAt = line.j;
    } else if ('r' in line) {
      const checked = decodeEvent.check(line.r);
      if (!checked.ok || checked.value.type !== 'as_run') return false;
      this.events.set(receiptKey(checked.value.entryId), checked.value);
      this.receipts.set(checked.value.entryId, checked.value);
    } else if ('e' in line) {
      const checked = decodeEvent.check(line.e);
      if (!checked.ok || !isAcknowledgedEvent(checked.value) || checked.value.type === 'as_run') return false;
      this.events.set(eventAckKey(checked.value)!, checked.value);
    } else if ('s' in line && typeof line.s === 'string') {
      // An old agent's mark meant the broker's PUBACK, not the server's store: ignored, so the receipt goes again.
      if (!legacy) this.acked.add(line.s);
    } else if ('p' in line && typeof line.p === 'string' && typeof line.at === 'number') {
      this.started.set(line.p, { at: line.at, ...(typeof line.v === 'string' ? { version: line.v } : {}) });
    } else if ('d' in line && typeof line.d === 'string' && typeof line.at === 'number') {
      if (line.d === UNATTRIBUTED) this.unattributedAt = Math.max(this.unattributedAt ?? 0, line.at);
      else this.damagedIds.set(line.d, Math.max(this.damagedIds.get(line.d) ?? 0, line.at));
    } else return false;
    return true;
  }

  /** Mark a key acknowledged (once); acknowledged events other than receipts leave memory. */
  private settle(key: string): boolean {
    const event = this.events.get(key);
    if (!event || this.acked.has(key)) return false;
    this.acked.add(key);
    this.sending.settled(key);
    if (event.type !== 'as_run') this.events.delete(key);
    // The mark need not be fsync'ed: losing it costs one duplicate, which the server absorbs.
    void this.append({ s: key }, false);
    return true;
  }

  /** Appends are serialised; `sync` makes this one durable before it resolves. */
  private append(line: JournalRecord, sync: boolean): Promise<void> {
    if (!this.file) return Promise.resolve();
    const text = `${encodeRecord(line)}\n`;
    this.writing = this.writing.then(async () => {
      try {
        // After close() a write gets a handle of its own, closed again at once.
        const handle = this.closed ? await open(this.file!, 'a') : (this.handle ??= await open(this.file!, 'a'));
        try {
          await handle.write(text);
          if (sync) await handle.sync();
        } finally {
          if (handle !== this.handle) await handle.close();
        }
      } catch (e) {
        this.log.error(`cannot write event journal ${this.file}: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }

  private async compact(): Promise<void> {
    const file = this.file!;
    const oldest = this.now() - this.retainMs;
    const out: string[] = [];
    const put = (line: JournalRecord) => out.push(encodeRecord(line));
    // First, whatever else leaves: a journal compacted down to nothing is still not an emptied one.
    this.begunAt ??= this.now();
    put({ j: this.begunAt });
    for (const [key, e] of this.events) {
      const acked = this.acked.has(key);
      if (e.type === 'as_run') {
        if (acked && e.scheduledAt < oldest) {
          this.events.delete(key);
          this.receipts.delete(e.entryId);
          continue;
        }
        put({ r: e });
      } else {
        if (acked) {
          this.events.delete(key);
          continue;
        }
        put({ e });
      }
      if (acked) put({ s: key });
    }
    for (const [id, s] of this.started) {
      if (this.receipts.has(id) || s.at < oldest) {
        if (s.at < oldest) this.started.delete(id);
        continue;
      }
      put({ p: id, at: s.at, ...(s.version ? { v: s.version } : {}) });
    }
    for (const k of this.acked) if (!this.events.has(k)) this.acked.delete(k);
    // Damage outlives the restart that found it, until the entry has a receipt or leaves the retention window.
    for (const [id, at] of this.damagedIds) {
      if (this.receipts.has(id) || at < oldest) this.damagedIds.delete(id);
      else put({ d: id, at });
    }
    if (this.unattributedAt !== null && this.unattributedAt >= oldest) put({ d: UNATTRIBUTED, at: this.unattributedAt });
    await replaceFileDurably(file, `${out.join('\n')}\n`);
  }
}
