/**
 * A site's history as read back: what FleetState wrote to site_events
 * (connects, disconnects, faults, sound checks, condition changes). Read by
 * the site routes (its history, its uptime) so no route holds SQL.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { SiteCondition } from '../coverage/model.ts';
import type { ConditionTransition } from '../coverage/uptime.ts';
import type { SiteEvent } from '../../api/sites.ts';

export class SiteHistory {
  private readonly conditionBefore: Statement<[string, number]>;
  private readonly conditionsIn: Statement<[string, number, number]>;

  constructor(private readonly db: Db) {
    this.conditionBefore = db.prepare("SELECT condition FROM site_events WHERE site_id = ? AND type = 'condition' AND at <= ? ORDER BY id DESC LIMIT 1");
    this.conditionsIn = db.prepare("SELECT at, condition FROM site_events WHERE site_id = ? AND type = 'condition' AND at > ? AND at < ? ORDER BY id");
  }

  /** The newest `limit` events in [from, to), newest first, of one type if given. */
  events(siteId: string, q: { from?: number; to?: number; type?: string; limit?: number }): SiteEvent[] {
    const rows = this.db
      .prepare(`SELECT at, type, condition, detail FROM site_events WHERE site_id = ? AND at >= ? AND at < ? ${q.type ? 'AND type = ?' : ''} ORDER BY id DESC LIMIT ?`)
      .all(...([siteId, q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, ...(q.type ? [q.type] : []), q.limit ?? 200] as Array<string | number>)) as Array<{
      at: number;
      type: string;
      condition: string | null;
      detail: string | null;
    }>;
    return rows.map((r) => ({ at: r.at, type: r.type, condition: r.condition, detail: r.detail ? JSON.parse(r.detail) : null }));
  }

  /** The condition the site was in at `from` (undefined: none recorded yet), and every change in (from, to), oldest first. */
  conditions(siteId: string, from: number, to: number): { before: SiteCondition | undefined; transitions: ConditionTransition[] } {
    const before = this.conditionBefore.get(siteId, from) as { condition: SiteCondition } | undefined;
    return { before: before?.condition, transitions: this.conditionsIn.all(siteId, from, to) as ConditionTransition[] };
  }
}
