/**
 * The source information system document (schema.ts) of an area over a
 * period, read from the same sources as the reports (../sources.ts): the
 * area's sites with the fleet's verdict now, the as-run per occurrence
 * (accountAsRun's entries: the as-run log's own counts), and the alerts as
 * the report's model judges their delivery (buildReport's alert rows), and
 * the live streams as the live feature recorded them (liveStreamsIn).
 */
import type { ServerContext } from '../../context.ts';
import type { AreaNode } from '../../registry/model.ts';
import type { Site } from '../../registry/sites.ts';
import { fail } from '../../errors.ts';
import { buildReport } from '../report-model.ts';
import { relayOriginOf } from '../relay-origin.ts';
import { alertsOf, liveStreamsIn, type ReportSourceDeps, readAsRun } from '../sources.ts';
import { parsePeriod } from '../period.ts';
import { SOURCE_SYSTEM_SCHEMA, type SourceSystemDocument } from './schema.ts';

export type SourceSystemDeps = ReportSourceDeps & Pick<ServerContext, 'fleet'>;

/** The longest period one document covers: a month and a day (its broadcasts are listed one by one). */
export const MAX_DOCUMENT_DAYS = 31;

const iso = (t: number) => new Date(t).toISOString();

export async function sourceSystemDocument(d: SourceSystemDeps, root: AreaNode, periodText: string): Promise<SourceSystemDocument> {
  const period = parsePeriod(periodText);
  if (!period) throw fail('LOANET_BAD_REQUEST', { field: 'period', text: `${periodText} is not a period: write 2026-11 or 2026-11-01..2026-11-15` });
  if (period.to - period.from > MAX_DOCUMENT_DAYS * 86_400_000 + 3_600_000) throw fail('LOANET_PERIOD_TOO_LONG', { field: 'period', maxDays: MAX_DOCUMENT_DAYS });
  const { from, to } = period;
  const index = d.coverage.areaIndex();
  const ref = (a: AreaNode) => ({ code: a.code, name: a.name, level: a.level });
  const communeOf = (areaId: number): AreaNode | null => {
    for (let a = index.byId.get(areaId); a; a = a.parentId === null ? undefined : index.byId.get(a.parentId)) if (a.level === 'commune') return a;
    return null;
  };
  const subtree = d.coverage.subtreeIds(root.id);
  const sites = (await d.sites.list({ areaIds: subtree, includeRetired: true })).filter((s) => s.createdAt < to && (s.retiredAt === null || s.retiredAt > from));
  const now = d.now();

  const stations: SourceSystemDocument['stations'] = sites.map((s) => {
    const verdict = s.retiredAt === null ? d.fleet.classify(s.id, now) : undefined;
    const seen = d.fleet.observation(s.id)?.lastSeenAt ?? null;
    const area = index.byId.get(s.areaId);
    const commune = communeOf(s.areaId);
    return {
      id: s.id,
      name: s.name,
      kind: s.kind,
      area: area ? ref(area) : { code: s.areaKey, name: s.areaKey, level: 'commune' },
      commune: commune ? ref(commune) : null,
      condition: s.retiredAt !== null ? 'retired' : (verdict?.condition ?? 'unverified'),
      reasons: verdict?.reasons.map((r) => r.code) ?? [],
      lastSeenAt: seen === null ? null : iso(seen),
      lat: s.lat,
      lon: s.lon,
    };
  });

  const { entries } = await readAsRun(d, sites, period);
  const titles = new Map<string, string>();
  for (const itemId of new Set(entries.map((e) => e.itemId))) titles.set(itemId, (await d.schedule.service.get(itemId).catch(() => undefined))?.title ?? itemId);
  const broadcasts = entries
    .filter((e) => e.scheduledAt >= from && e.scheduledAt < to)
    .sort((a, b) => a.scheduledAt - b.scheduledAt || a.entryId.localeCompare(b.entryId))
    .map((e) => ({ entryId: e.entryId, itemId: e.itemId, title: titles.get(e.itemId) ?? e.itemId, scheduledAt: iso(e.scheduledAt), sites: e.sites, asRun: e.byStatus }));

  // The alert rows as the report judges them: the model needs the sites and areas, nothing of their history.
  const above = new Set(d.coverage.areaPath(root.id));
  const model = buildReport({
    period,
    rootKey: root.key,
    areas: index.order.filter((a) => subtree.has(a.id) || above.has(a.id)),
    sites: sites.map((s) => ({ siteId: s.id, name: s.name, kind: s.kind, areaId: s.areaId })),
    asRun: [],
    items: new Map(),
    live: [],
    alerts: await alertsOf(d, period),
    conditions: new Map(),
    faults: [],
    generatedAt: now,
  });
  const alerts = model.alerts.map((a) => ({
    id: a.id,
    title: a.title,
    issuedAt: iso(a.issuedAt),
    test: a.test,
    priority: a.priority,
    targeted: a.targeted,
    sounded: a.sounded,
    message: a.message,
    heard: a.heard,
    firstSoundAfterMs: a.firstSoundAfterMs === null ? null : Math.round(a.firstSoundAfterMs),
    allMessageAfterMs: a.allMessageAfterMs === null ? null : Math.round(a.allMessageAfterMs),
  }));

  return {
    schema: SOURCE_SYSTEM_SCHEMA,
    generatedAt: iso(now),
    area: ref(root),
    period: { from: iso(from), to: iso(to) },
    stations,
    broadcasts,
    alerts,
    live: await liveOf(d, sites, subtree, above, period),
  };
}

/**
 * The live streams started in the period that were sent to the area (a
 * target in it or above it) or heard at one of its sites, with the area's
 * sites counted as the live feature recorded them.
 */
async function liveOf(
  d: SourceSystemDeps,
  sites: readonly Site[],
  subtree: ReadonlySet<number>,
  above: ReadonlySet<number>,
  period: { from: number; to: number },
): Promise<NonNullable<SourceSystemDocument['live']>> {
  const index = d.coverage.areaIndex();
  const pathOf = new Map(sites.map((s) => [s.id, new Set(d.coverage.areaPath(s.areaId))]));
  const out: NonNullable<SourceSystemDocument['live']> = [];
  for (const s of await liveStreamsIn(d, period, new Set([...subtree, ...above]))) {
    const targets = s.areas.map((k) => index.byKey.get(k)).filter((a): a is AreaNode => a !== undefined);
    const targeted = sites.filter((site) => targets.some((a) => pathOf.get(site.id)!.has(a.id))).length;
    const reports = s.siteReports.filter((r) => pathOf.has(r.siteId));
    if (targeted === 0 && reports.length === 0) continue;
    out.push({
      id: s.id,
      source: s.source.kind,
      relayOrigin: s.source.kind === 'relay' ? relayOriginOf(s.source.url, d.config.relayOrigins) : null,
      label: s.source.label,
      url: s.source.kind === 'relay' ? (s.source.url ?? null) : null,
      areas: targets.map((a) => ({ code: a.code, name: a.name, level: a.level })),
      startedAt: iso(s.startedAt),
      endedAt: s.endedAt === null ? null : iso(s.endedAt),
      endReason: s.endReason,
      startedBy: s.startedBy,
      endedBy: s.endedBy,
      targeted,
      reported: reports.length,
      played: reports.filter((r) => r.played > 0).length,
      playedMs: Math.max(0, ...reports.map((r) => r.played * s.codec.frameMs)),
    });
  }
  return out;
}
