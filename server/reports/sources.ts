/**
 * Reads what a report needs from the stores into plain ReportInputs (the
 * edge: buildReport in report-model.ts decides every figure). Each source is
 * read as its own feature reads it, never recomputed:
 *
 * - as-run: the sent entries and receipts of the area's sites, through the
 *   as-run accounting (accountAsRun) as GET /api/as-run does, so a report's
 *   bulletin figures are the as-run log's own statuses;
 * - items: each item's entry kind (its receipts') and its language (the
 *   media library's tag of its audio);
 * - live: the live streams started in the period and what each site said it
 *   played (played packets × frame length); whose radio a relay carried
 *   from its URL and the configured sources (relay-origin.ts);
 * - alerts: those issued in the period and their delivery rows;
 * - uptime and verified coverage: each site's condition history
 *   (site_events, via SiteHistory);
 * - faults: the technicians' alarms (server/alarms) raised in the period,
 *   the same alarms, kinds and times the maintenance log works from. A fault
 *   with a work order (server/maintenance) lasts until a verified sound
 *   check closed it (its first closed order's verifiedAt, the rule of
 *   repair-times.ts), open while no order is closed; one without (or with
 *   cancelled orders only) until its alarm cleared. Each says which.
 */
import { accountAsRun, type SiteInfo } from '../asrun/accounting.ts';
import { AlertStore } from '../alerts/store.ts';
import type { ServerContext } from '../context.ts';
import type { LiveStreamDetail } from '../live/views.ts';
import type { WorkOrder } from '../maintenance/model.ts';
import type { AreaNode } from '../registry/model.ts';
import type { Site } from '../registry/sites.ts';
import { relayOriginOf } from './relay-origin.ts';
import type { AlertInput, FaultEpisode, LivePlay, ReportInputs, ReportItem, ReportSite, SiteHistory } from './model.ts';
import type { ReportPeriod } from './period.ts';

export type ReportSourceDeps = Pick<
  ServerContext,
  'coverage' | 'sites' | 'asRun' | 'schedule' | 'siteHistory' | 'live' | 'store' | 'media' | 'alarms' | 'maintenance' | 'config' | 'now'
>;

/** A page of live streams read at a time, newest first, back to the period's start. */
const LIVE_PAGE = 200;
/** Alarms read per page. */
const ALARM_PAGE = 1000;

export async function readReportInputs(d: ReportSourceDeps, root: AreaNode, period: ReportPeriod): Promise<ReportInputs> {
  const { from, to } = period;
  const index = d.coverage.areaIndex();
  const subtree = d.coverage.subtreeIds(root.id);
  // The subtree, and the areas above the root (a commune's district names it in the report).
  const above = new Set(d.coverage.areaPath(root.id));
  const areas = index.order.filter((a) => subtree.has(a.id) || above.has(a.id));
  const registered = await d.sites.list({ areaIds: subtree, includeRetired: true });
  const sites: ReportSite[] = registered.map((s) => ({ siteId: s.id, name: s.name, kind: s.kind, areaId: s.areaId, createdAt: s.createdAt, retiredAt: s.retiredAt }));
  const siteIds = registered.map((s) => s.id);
  const { lines, receipts } = await readAsRun(d, registered, period);

  const items = new Map<string, ReportItem>();
  const kindOf = new Map(receipts.map((r) => [r.itemId, r.kind]));
  for (const itemId of new Set(lines.map((l) => l.itemId))) {
    const item = await d.schedule.service.get(itemId).catch(() => undefined);
    const media = item ? await d.media.library.item(item.mediaId) : undefined;
    items.set(itemId, { kind: kindOf.get(itemId) ?? 'bulletin', lang: media?.lang ?? 'vi' });
  }

  const conditions = new Map<string, SiteHistory>();
  for (const id of siteIds) {
    const h = await d.siteHistory.conditions(id, from, to);
    conditions.set(id, { ...(h.before ? { initial: h.before } : {}), transitions: h.transitions });
  }

  return {
    period,
    rootKey: root.key,
    areas,
    sites,
    asRun: lines,
    items,
    live: await livePlays(d, new Set(siteIds), period),
    alerts: await alertsOf(d, period),
    conditions,
    faults: await faultsOf(d, subtree, period),
    generatedAt: d.now(),
  };
}

/** The as-run of `sites` over a period, through the as-run log's own accounting (titles by item id: callers that print them look them up). */
export async function readAsRun(d: ReportSourceDeps, sites: readonly Site[], { from, to }: { from: number; to: number }) {
  const index = d.coverage.areaIndex();
  const siteIds = sites.map((s) => s.id);
  const info = new Map<string, SiteInfo>(sites.map((s) => [s.id, { name: s.name, areaKey: s.areaKey, areaName: index.byId.get(s.areaId)?.name ?? s.areaKey }]));
  const sent = await d.schedule.sent.list({ siteIds, from, to });
  const receipts = await d.asRun.list({ siteIds, from, to });
  return { ...accountAsRun({ sent, receipts, sites: info, titleOf: (id) => id, siteNow: () => undefined, now: d.now() }), receipts };
}

async function livePlays(d: ReportSourceDeps, siteIds: ReadonlySet<string>, period: ReportPeriod): Promise<LivePlay[]> {
  const out: LivePlay[] = [];
  for (const s of await liveStreamsIn(d, period)) {
    for (const r of s.siteReports) {
      if (!siteIds.has(r.siteId)) continue;
      out.push({
        streamId: s.id,
        siteId: r.siteId,
        source: s.source.kind,
        // Whose radio a relay carries, from its URL and the configured sources (relay-origin.ts).
        relayOrigin: s.source.kind === 'relay' ? relayOriginOf(s.source.url, d.config.relayOrigins) : null,
        lang: 'vi',
        startedAt: s.startedAt,
        playedMs: r.played * s.codec.frameMs,
      });
    }
  }
  return out;
}

/**
 * The live streams started in [from, to), oldest first, each with every
 * site's report, as the live feature serves them (GET /api/live/streams/:id);
 * only those with a target among `areaIds` when given.
 */
export async function liveStreamsIn(d: Pick<ReportSourceDeps, 'live'>, { from, to }: { from: number; to: number }, areaIds?: ReadonlySet<number>): Promise<LiveStreamDetail[]> {
  const out: LiveStreamDetail[] = [];
  let before: number | undefined = to;
  while (before !== undefined) {
    const page: Awaited<ReturnType<ReportSourceDeps['live']['list']>> = await d.live.list({ state: 'all', limit: LIVE_PAGE, before, ...(areaIds ? { areaIds } : {}) });
    for (const s of page.streams) {
      if (s.startedAt < from || s.startedAt >= to) continue;
      const detail = await d.live.get(s.id);
      if (detail) out.push(detail);
    }
    const oldest = page.streams.at(-1)?.startedAt;
    before = page.next !== null && oldest !== undefined && oldest >= from ? page.next : undefined;
  }
  return out.sort((a, b) => a.startedAt - b.startedAt || a.id - b.id);
}

async function faultsOf(d: ReportSourceDeps, areaIds: ReadonlySet<number>, { from, to }: ReportPeriod): Promise<FaultEpisode[]> {
  const out: FaultEpisode[] = [];
  for (let offset = 0; ; offset += ALARM_PAGE) {
    const { alarms } = await d.alarms.store.list({ areaIds: [...areaIds], from, to, limit: ALARM_PAGE, offset });
    const repairs = repairsByWorkOrder(await d.maintenance.store.ofAlarms(alarms.map((a) => a.id)));
    for (const a of alarms) {
      if (a.raisedAt === null) continue;
      const byOrder = repairs.get(a.id);
      out.push({
        siteId: a.siteId,
        kind: a.kind,
        startedAt: a.raisedAt,
        endedAt: byOrder === undefined ? (a.cleared?.at ?? null) : byOrder,
        acknowledgedAt: a.acknowledged?.at ?? null,
        repairSource: byOrder === undefined ? 'alarm' : 'work_order',
      });
    }
    if (alarms.length < ALARM_PAGE) return out;
  }
}

/**
 * Per alarm with a work order that counts (any but cancelled): its earliest
 * verified close, or null while none is closed. As repairTimes reads them: a
 * second order for one alarm (a repair that did not hold) does not move the
 * first verification.
 */
export function repairsByWorkOrder(orders: readonly Pick<WorkOrder, 'alarmId' | 'state' | 'verifiedAt'>[]): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const o of orders) {
    if (o.alarmId === null || o.state === 'cancelled') continue;
    const verified = o.state === 'closed' ? o.verifiedAt : null;
    const prev = out.get(o.alarmId);
    if (prev === undefined || (verified !== null && (prev === null || verified < prev))) out.set(o.alarmId, verified);
  }
  return out;
}

export async function alertsOf(d: ReportSourceDeps, { from, to }: ReportPeriod): Promise<AlertInput[]> {
  // Read-only over the alert feature's tables: the alerts whose current revision was issued in the period.
  const rows = await d.store.db.selectFrom('alerts').select('id').where('revised_at', '>=', from).where('revised_at', '<', to).orderBy('revised_at').execute();
  const store = new AlertStore(d.store.db);
  const out: AlertInput[] = [];
  for (const { id } of rows) {
    const alert = await store.get(id);
    if (!alert) continue;
    out.push({ alert, lang: alert.message.kind === 'tts' ? alert.message.lang : 'vi', deliveries: await store.deliveries(id) });
  }
  return out;
}
