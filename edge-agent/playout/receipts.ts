/**
 * As-run receipts: an append-only journal on the agent's disk, one AsRunEvent
 * per playlist entry, sent to the server QoS 1 and marked sent only when the
 * broker acknowledged it (PUBACK).
 *
 * Why a journal and not the event outbox: a receipt is the proof that a
 * village heard a bulletin; the link may be down for days, the board may lose
 * power mid-write. So a receipt is appended and fsync'ed BEFORE it is sent;
 * after a reconnect or a restart every receipt without a "sent" mark is sent
 * again (back-fill). A receipt may thus reach the server twice (acknowledged,
 * then the agent died before writing the mark); the server keeps one per
 * (siteId, entryId), which absorbs exactly that. It is never lost: a line
 * torn by a crash is the only casualty, and it is the mark or the receipt
 * being written at that instant — the receipt is rewritten by whoever wrote
 * it (the executor re-derives it after a restart, see `started`).
 *
 * Lines (JSON, one per line):
 *   {"r": AsRunEvent}                the receipt
 *   {"s": entryId}                   the broker acknowledged it
 *   {"p": entryId, "at": ms, "v": playlistVersion}
 *                                    the entry started playing: if the agent
 *                                    dies before the receipt, the restart
 *                                    writes a 'partial' receipt instead of
 *                                    playing it again from the start
 * On open, the file is compacted when it grew large or ends in a torn line:
 * unsent receipts and everything younger than `retainMs` are rewritten to a
 * temporary file, fsync'ed and renamed over it.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodeEvent, type AsRunEvent } from '../../protocol/index.ts';

export interface ReceiptJournalOptions {
  /** The journal file; absent: memory only (tests, or an agent without a stateDir). */
  file?: string;
  /** Server-clock time (for retention). */
  now?: () => number;
  /** Receipts in flight at once (default 16). */
  maxInFlight?: number;
  /** Sent receipts are kept this long for dedupe after a restart (default 3 days, beyond the 48 h playlist horizon). */
  retainMs?: number;
  /** Rewrite the file on open when it holds more lines than this (default 2000). */
  compactLines?: number;
  log?: { warn(message: string): void; error(message: string): void };
}

/** Publishes one receipt; resolves true when the broker acknowledged it, false when it was not sent or not acknowledged. */
export type ReceiptSender = (event: AsRunEvent) => Promise<boolean>;

export interface ReceiptStats {
  recorded: number;
  unsent: number;
  inFlight: number;
  sent: number;
  sendFailures: number;
  /** record() calls for an entry that already had a receipt (ignored). */
  duplicates: number;
}

type Line = { r: AsRunEvent } | { s: string } | { p: string; at: number; v?: string };

export class ReceiptJournal {
  private readonly file: string | undefined;
  private readonly now: () => number;
  private readonly maxInFlight: number;
  private readonly retainMs: number;
  private readonly compactLines: number;
  private readonly log: NonNullable<ReceiptJournalOptions['log']>;
  private readonly receipts = new Map<string, AsRunEvent>();
  private readonly sent = new Set<string>();
  private readonly started = new Map<string, { at: number; version?: string }>();
  private readonly inFlight = new Set<string>();
  /** Not acknowledged on this connection: tried again after the next attach (reconnect), not in a loop. */
  private readonly failed = new Set<string>();
  private handle: FileHandle | undefined;
  private writing: Promise<void> = Promise.resolve();
  private sender: ReceiptSender | undefined;
  private counters = { sent: 0, sendFailures: 0, duplicates: 0 };
  private opened = false;

  constructor(o: ReceiptJournalOptions = {}) {
    this.file = o.file;
    this.now = o.now ?? Date.now;
    this.maxInFlight = o.maxInFlight ?? 16;
    this.retainMs = o.retainMs ?? 3 * 24 * 3600_000;
    this.compactLines = o.compactLines ?? 2000;
    this.log = o.log ?? { warn: () => {}, error: () => {} };
  }

  /** Read the journal (receipts, sent marks, started marks); compact it if needed. */
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
    const lines = text.split('\n');
    const torn = text.length > 0 && !text.endsWith('\n');
    let bad = 0;
    for (const raw of lines) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        bad++;
        continue;
      }
      if ('r' in line) {
        const checked = decodeEvent.check(line.r);
        if (checked.ok && checked.value.type === 'as_run') this.receipts.set(checked.value.entryId, checked.value);
        else bad++;
      } else if ('s' in line && typeof line.s === 'string') this.sent.add(line.s);
      else if ('p' in line && typeof line.p === 'string' && typeof line.at === 'number') this.started.set(line.p, { at: line.at, ...(line.v ? { version: line.v } : {}) });
    }
    if (bad > 0) this.log.warn(`receipt journal ${this.file}: ${bad} unreadable line(s) skipped (a write cut by a crash)`);
    if (torn || bad > 0 || lines.length > this.compactLines) await this.compact();
    this.handle = await open(this.file, 'a');
  }

  /** A receipt exists for this entry (sent or not). */
  has(entryId: string): boolean {
    return this.receipts.has(entryId);
  }

  /** Entries that started playing and have no receipt: the agent stopped (crash, power) while they played. */
  interrupted(): Array<{ entryId: string; startedAt: number; version?: string }> {
    const out: Array<{ entryId: string; startedAt: number; version?: string }> = [];
    for (const [entryId, s] of this.started) if (!this.receipts.has(entryId)) out.push({ entryId, startedAt: s.at, ...(s.version ? { version: s.version } : {}) });
    return out;
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
  async record(event: AsRunEvent): Promise<boolean> {
    const checked = decodeEvent.check(event);
    if (!checked.ok) throw new Error(`bug: invalid as_run receipt for ${event.entryId}: ${checked.error.reason}`);
    if (this.receipts.has(event.entryId)) {
      this.counters.duplicates++;
      return false;
    }
    this.receipts.set(event.entryId, event);
    await this.append({ r: event }, true);
    this.pump();
    return true;
  }

  /** Start sending (link up): every unsent receipt goes out, a few at a time. */
  attach(sender: ReceiptSender): void {
    this.sender = sender;
    this.failed.clear();
    this.pump();
  }

  /** Link down: stop sending (what is in flight stays in flight; mqtt.js resends it on reconnect). */
  detach(): void {
    this.sender = undefined;
  }

  unsent(): AsRunEvent[] {
    return [...this.receipts.values()].filter((r) => !this.sent.has(r.entryId));
  }

  get(entryId: string): AsRunEvent | undefined {
    return this.receipts.get(entryId);
  }

  stats(): ReceiptStats {
    return {
      recorded: this.receipts.size,
      unsent: this.receipts.size - [...this.receipts.keys()].filter((k) => this.sent.has(k)).length,
      inFlight: this.inFlight.size,
      ...this.counters,
    };
  }

  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void> {
    return this.writing;
  }

  async close(): Promise<void> {
    this.sender = undefined;
    await this.writing;
    await this.handle?.close().catch(() => {});
    this.handle = undefined;
  }

  // --------------------------------------------------------------- inside ----

  private pump(): void {
    const sender = this.sender;
    if (!sender) return;
    for (const r of this.receipts.values()) {
      if (this.inFlight.size >= this.maxInFlight) return;
      if (this.sent.has(r.entryId) || this.inFlight.has(r.entryId) || this.failed.has(r.entryId)) continue;
      this.inFlight.add(r.entryId);
      void sender(r)
        .catch(() => false)
        .then(async (acked) => {
          if (acked) {
            this.counters.sent++;
            this.sent.add(r.entryId);
            // The mark need not be fsync'ed: losing it costs one duplicate, which the server absorbs.
            await this.append({ s: r.entryId }, false);
          } else {
            this.counters.sendFailures++;
            this.failed.add(r.entryId);
          }
        })
        .finally(() => {
          this.inFlight.delete(r.entryId);
          if (this.sender === sender) this.pump();
        });
    }
  }

  /** Appends are serialised; `sync` makes this one durable before it resolves. */
  private append(line: Line, sync: boolean): Promise<void> {
    if (!this.file) return Promise.resolve();
    const text = `${JSON.stringify(line)}\n`;
    this.writing = this.writing.then(async () => {
      try {
        if (!this.handle) this.handle = await open(this.file!, 'a');
        await this.handle.write(text);
        if (sync) await this.handle.sync();
      } catch (e) {
        this.log.error(`cannot write receipt journal ${this.file}: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }

  private async compact(): Promise<void> {
    const file = this.file!;
    const oldest = this.now() - this.retainMs;
    const out: string[] = [];
    for (const r of this.receipts.values()) {
      const unsent = !this.sent.has(r.entryId);
      if (!unsent && r.scheduledAt < oldest) {
        this.receipts.delete(r.entryId);
        this.sent.delete(r.entryId);
        continue;
      }
      out.push(JSON.stringify({ r }));
      if (!unsent) out.push(JSON.stringify({ s: r.entryId }));
    }
    for (const [id, s] of this.started) {
      if (this.receipts.has(id) || s.at < oldest) {
        if (s.at < oldest) this.started.delete(id);
        continue;
      }
      out.push(JSON.stringify({ p: id, at: s.at, ...(s.version ? { v: s.version } : {}) }));
    }
    for (const id of this.sent) if (!this.receipts.has(id)) this.sent.delete(id);
    const tmp = `${file}.tmp`;
    const h = await open(tmp, 'w');
    try {
      await h.write(out.length ? `${out.join('\n')}\n` : '');
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, file);
    // The rename itself must survive a power cut: sync the directory.
    const dir = await open(dirname(file), 'r');
    try {
      await dir.sync();
    } catch {
      /* some file systems refuse fsync on a directory; the rename is still atomic */
    } finally {
      await dir.close();
    }
  }
}
