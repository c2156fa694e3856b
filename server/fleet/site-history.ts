/**
 * A site's history as read back: what FleetState wrote to site_events
 * (connects, disconnects, faults, sound checks, condition changes). Read by
 * the site routes (its history, its uptime) so no route holds SQL.
 *
 * Events are in the order they were written (their id): FleetState writes
 * them through one queue, in the order they happened.
 */
import type { Kysely } from 'kysely';
import type { SiteEvent } from '../../api/sites.ts';
import type { SiteCondition } from '../coverage/model.ts';
import type { ConditionTransition } from '../coverage/uptime.ts';
import type { Database } from '../store/schema.ts';

export class SiteHistory {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest `limit` events in [from, to), newest first, of one type if given. */
  async events(siteId: string, q: { from?: number; to?: number; type?: string; limit?: number }): Promise<SiteEvent[]> {
    let query = this.db
      .selectFrom('site_events')
      .select(['at', 'type', 'condition', 'detail'])
      .where('site_id', '=', siteId)
      .where('at', '>=', q.from ?? 0)
      .where('at', '<', q.to ?? Number.MAX_SAFE_INTEGER);
    if (q.type) query = query.where('type', '=', q.type);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(q.limit ?? 200)
      .execute();
    return rows.map((r) => ({ at: r.at, type: r.type, condition: r.condition, detail: r.detail ? JSON.parse(r.detail) : null }));
  }

  /** The condition the site was in at `from` (undefined: none recorded yet), and every change in (from, to), oldest first. */
  async conditions(siteId: string, from: number, to: number): Promise<{ before: SiteCondition | undefined; transitions: ConditionTransition[] }> {
    const conditionEvents = this.db.selectFrom('site_events').where('site_id', '=', siteId).where('type', '=', 'condition');
    const [before, transitions] = await Promise.all([
      conditionEvents.select('condition').where('at', '<=', from).orderBy('id', 'desc').limit(1).executeTakeFirst(),
      conditionEvents.select(['at', 'condition']).where('at', '>', from).where('at', '<', to).orderBy('id').execute(),
    ]);
    // Condition events always carry the condition FleetState classified.
    return {
      before: (before?.condition ?? undefined) as SiteCondition | undefined,
      transitions: transitions.map((r) => ({ at: r.at, condition: r.condition as SiteCondition })),
    };
  }
}
