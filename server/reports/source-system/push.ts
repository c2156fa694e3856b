/**
 * The push side of the source information system adapter: each day, once
 * it is over (Asia/Ho_Chi_Minh), one version-1 document per commune for that
 * day, enqueued as a `source_system.record` outbox event to the destinations
 * that want it (signed, retried, nothing lost while the receiver is down:
 * docs/webhooks.md). Per commune, not one per province: a province's day
 * could pass the outbox's 256 KiB payload bound, and a receiver files by
 * commune anyway. Nothing is read or sent when no destination wants it.
 *
 * A day is done when its marker `${dataDir}/source-system/<yyyy-mm-dd>.done`
 * exists, written after its last event: a server stopped half-way sends the
 * day again (at least once; a receiver recognises a repeat by `area.code`
 * and `period`). Days missed while the server was down are not caught up:
 * the pull API (GET /api/source-system/v1) serves any past day.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerContext } from '../../context.ts';
import { wants } from '../../outbox/destination.ts';
import type { JsonValue } from '../../outbox/model.ts';
import { dateOfDay, dayNumber, wallTimeAt } from '../../time/zone.ts';
import { REPORT_ZONE } from '../period.ts';
import { type SourceSystemDeps, sourceSystemDocument } from './document.ts';

/** The calendar day before the one `now` falls on, in Asia/Ho_Chi_Minh, as yyyy-mm-dd (pure). */
export function previousDay(now: number, zone: string = REPORT_ZONE): string {
  const w = wallTimeAt(now, zone);
  const d = dateOfDay(dayNumber(w.year, w.month, w.day) - 1);
  return `${d.year}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
}

export type SourceSystemPushDeps = SourceSystemDeps & Pick<ServerContext, 'outbox' | 'log'> & { dataDir: string };

export class SourceSystemPush {
  private readonly dir: string;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly deps: SourceSystemPushDeps) {
    this.dir = path.join(deps.dataDir, 'source-system');
  }

  /** Whether any destination wants the documents. */
  wanted(): boolean {
    return this.deps.outbox.destinations().some((d) => wants(d, 'source_system.record'));
  }

  /** Sends yesterday's documents if not sent yet; resolves to the events enqueued. One run at a time. */
  runDue(): Promise<number> {
    if (this.stopped || !this.wanted()) return Promise.resolve(0);
    this.running ??= this.push(previousDay(this.deps.now())).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async push(day: string): Promise<number> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new RangeError(`a day is yyyy-mm-dd, not ${day}`);
    const marker = path.join(this.dir, `${day}.done`);
    if (fs.existsSync(marker)) return 0;
    const root = this.deps.coverage.defaultRoot();
    const subtree = this.deps.coverage.subtreeIds(root.id);
    const communes = this.deps.coverage
      .areaIndex()
      .order.filter((a) => a.level === 'commune' && subtree.has(a.id))
      .sort((a, b) => a.code.localeCompare(b.code));
    let sent = 0;
    for (const commune of communes) {
      if (this.stopped) return sent;
      const doc = await sourceSystemDocument(this.deps, commune, `${day}..${day}`);
      try {
        await this.deps.outbox.enqueue('source_system.record', doc as unknown as JsonValue);
        sent++;
      } catch (err) {
        // A payload over the bound is a commune too large for one event: logged and skipped, the pull API still serves it.
        if (!(err instanceof RangeError)) throw err;
        this.deps.log.warn({ err, day, commune: commune.code }, 'source system: a commune’s day is too large for one event; skipped (pull it)');
      }
    }
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(marker, `${new Date(this.deps.now()).toISOString()}\n`, { mode: 0o600 });
    this.deps.log.info({ day, communes: sent }, 'source system: yesterday’s documents enqueued');
    return sent;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }
}
