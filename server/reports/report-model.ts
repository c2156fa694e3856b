/**
 * The periodic report a commune station and the province file (báo cáo định
 * kỳ), built from plain inputs (pure): what was planned and played, hours on
 * air by kind and by language, uptime and verified coverage, faults and their
 * time to repair, alerts and how fast they sounded. One row per commune (and
 * per village for uptime and coverage), and the totals of the area reported
 * on (the province, or one commune for a commune's own report).
 *
 * Its inputs are what the other modules already decide, never decided again:
 * - as-run lines as server/asrun/accounting.ts classifies them (its statuses,
 *   its reasons), with each item's kind and language;
 *   hours by language from the parts (language versions) each site played,
 *   as server/asrun/languages.ts reads them from its receipt;
 * - live streams as each site played them (server/live: the source kind;
 *   whether a relay carries national or provincial radio is not recorded by
 *   the live feature, so the caller says it per play: relay-origin.ts);
 * - alerts and their delivery rows (server/alerts/model.ts), judged by
 *   delivery-status.ts;
 * - each site's condition history as server/coverage/uptime.ts reads it;
 * - fault episodes (`FaultEpisode`, a plain input defined in model.ts: the
 *   service reads them from the technicians' alarms, each ended by its work
 *   order's verified close where it has one, else by the alarm's clearing).
 *
 * Additive figures add up: the area's totals are the sum of its communes'
 * rows (plus sites above commune level, `outside`), and a commune's coverage
 * the sum of its villages'. Every share is worked out from the milliseconds
 * beside it, so a reader can check it (tests/unit/reports-model.test.ts).
 */
import { heardVerdict, playedOf } from '../alerts/delivery-status.ts';
import { AS_RUN_STATUSES, type AsRunLine, type AsRunStatus } from '../asrun/accounting.ts';
import type { VersionOutcome } from '../asrun/languages.ts';
import { SITE_CONDITIONS, type SiteCondition } from '../coverage/model.ts';
import { conditionShares } from '../coverage/uptime.ts';
import { effectiveLanguages } from '../registry/area-languages.ts';
import type { AreaNode } from '../registry/model.ts';
import {
  AIRTIME_KINDS,
  UNSPECIFIED_REASON,
  type AirtimeFigures,
  type AirtimeKind,
  type AlertFigures,
  type AlertRow,
  type AreaRef,
  type BulletinFigures,
  type CoverageFigures,
  type FaultFigures,
  type FaultRow,
  type LanguageAirtime,
  type LanguageUse,
  type LivePlay,
  type RepairSource,
  type Report,
  type ReportInputs,
  type ReportSite,
  type SiteHistory,
  type UnitFigures,
  type UptimeFigures,
  type VillageRow,
} from './model.ts';

// ------------------------------------------------------------------- build --

const zeroStatus = () => Object.fromEntries(AS_RUN_STATUSES.map((s) => [s, 0])) as Record<AsRunStatus, number>;
const zeroKinds = () => Object.fromEntries(AIRTIME_KINDS.map((k) => [k, 0])) as Record<AirtimeKind, number>;
const zeroConditions = () => Object.fromEntries(SITE_CONDITIONS.map((c) => [c, 0])) as Record<SiteCondition, number>;
const zeroFault = (): FaultFigures => ({
  count: 0,
  repaired: 0,
  open: 0,
  repairMs: 0,
  longestRepairMs: null,
  meanRepairMs: null,
  repairedByWorkOrder: 0,
  acknowledged: 0,
  ackMs: 0,
  meanAckMs: null,
});

interface Acc {
  sites: number;
  stations: number;
  clusters: number;
  bulletins: BulletinFigures;
  airtime: AirtimeFigures;
  uptime: UptimeFigures;
  coverage: CoverageFigures;
  faults: { total: FaultFigures; byKind: Record<string, FaultFigures> };
  alertIds: Set<string>;
  alerts: AlertFigures;
  /** Per language, the places that heard it as their own language and those that heard it in place of theirs. */
  languagePlaces: Map<string, Record<LanguageUse, Set<string>>>;
}

function newAcc(): Acc {
  return {
    sites: 0,
    stations: 0,
    clusters: 0,
    bulletins: { planned: 0, byStatus: zeroStatus(), skippedByReason: {}, unplanned: 0 },
    airtime: { totalMs: 0, byKind: zeroKinds(), byLanguage: {}, languageUse: {} },
    uptime: { siteMs: 0, audibleMs: 0, byCondition: zeroConditions(), share: null },
    coverage: { villages: 0, villagesWithoutCluster: 0, villageMs: 0, coveredMs: 0, share: null },
    faults: { total: zeroFault(), byKind: {} },
    alertIds: new Set(),
    alerts: { alerts: 0, deliveries: 0, sounded: 0, message: 0, heard: 0 },
    languagePlaces: new Map(),
  };
}

const zeroLanguage = (): LanguageAirtime => ({ ownMs: 0, fallbackMs: 0, placesOwn: 0, placesFallback: 0 });

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

function finish(a: Acc): UnitFigures {
  const fault = (f: FaultFigures): FaultFigures => ({ ...f, meanRepairMs: ratio(f.repairMs, f.repaired), meanAckMs: ratio(f.ackMs, f.acknowledged) });
  return {
    sites: a.sites,
    stations: a.stations,
    clusters: a.clusters,
    bulletins: a.bulletins,
    airtime: {
      ...a.airtime,
      languageUse: Object.fromEntries(
        Object.entries(a.airtime.languageUse).map(([lang, u]) => {
          const places = a.languagePlaces.get(lang);
          return [lang, { ...u, placesOwn: places?.own.size ?? 0, placesFallback: places?.fallback.size ?? 0 }];
        }),
      ),
    },
    uptime: { ...a.uptime, share: ratio(a.uptime.audibleMs, a.uptime.siteMs) },
    coverage: { ...a.coverage, share: ratio(a.coverage.coveredMs, a.coverage.villageMs) },
    faults: { total: fault(a.faults.total), byKind: Object.fromEntries(Object.entries(a.faults.byKind).map(([k, f]) => [k, fault(f)])) },
    alerts: { ...a.alerts, alerts: a.alertIds.size },
  };
}

function addFault(f: FaultFigures, repairMs: number | null, ackMs: number | null, source: RepairSource): void {
  f.count++;
  if (ackMs !== null) {
    f.acknowledged++;
    f.ackMs += ackMs;
  }
  if (repairMs === null) {
    f.open++;
    return;
  }
  f.repaired++;
  if (source === 'work_order') f.repairedByWorkOrder++;
  f.repairMs += repairMs;
  f.longestRepairMs = Math.max(f.longestRepairMs ?? 0, repairMs);
}

/** Statuses under which audio came out of the site's speakers. */
const SOUNDED: ReadonlySet<AsRunStatus> = new Set(['played', 'late', 'early', 'unverified', 'partial']);

/** How long an as-run line was on air: its receipt's start to end, else its frames, else (a full play) its planned length. */
export function lineAirtimeMs(l: Pick<AsRunLine, 'status' | 'startedAt' | 'endedAt' | 'frames' | 'durationMs'>): number {
  if (!SOUNDED.has(l.status)) return 0;
  if (l.startedAt !== null && l.endedAt !== null) return Math.max(0, l.endedAt - l.startedAt);
  if (l.frames !== null) return l.frames * 20;
  return l.status === 'partial' ? 0 : l.durationMs;
}

/**
 * How long one language version of a line was on air: its frames (exact,
 * even for a version repeated between others), else its start to end; a
 * version that did not sound, none.
 */
export function versionAirtimeMs(v: Pick<VersionOutcome, 'outcome' | 'frames' | 'startedAt' | 'endedAt'>): number {
  if (v.outcome !== 'played' && v.outcome !== 'late' && v.outcome !== 'partial') return 0;
  if (v.frames !== null && v.frames !== undefined) return v.frames * 20;
  if (v.startedAt !== null && v.endedAt !== null) return Math.max(0, v.endedAt - v.startedAt);
  return 0;
}

/**
 * A line's time on air by language: an item without versions, all of it in
 * the item's language; one version, all of it in that version's; several,
 * each version's own time (versionAirtimeMs). A receipt that says nothing per
 * version (an agent that played several without saying which for how long)
 * counts whole in the first version's language.
 */
export function lineLanguageAirtime(
  l: Pick<AsRunLine, 'status' | 'startedAt' | 'endedAt' | 'frames' | 'durationMs' | 'languages'>,
  itemLang: string,
): Array<{ lang: string; ms: number }> {
  const total = lineAirtimeMs(l);
  if (total === 0) return [];
  const versions = l.languages?.versions ?? [];
  if (versions.length === 0) return [{ lang: itemLang, ms: total }];
  if (versions.length === 1) return [{ lang: versions[0]!.language, ms: total }];
  const parts = versions.map((v) => ({ lang: v.language, ms: versionAirtimeMs(v) })).filter((p) => p.ms > 0);
  return parts.length > 0 ? parts : [{ lang: versions[0]!.language, ms: total }];
}

function liveKind(p: LivePlay): AirtimeKind {
  if (p.source === 'browser') return 'live';
  // A library item streamed live is the station's own programme.
  if (p.source === 'media') return 'bulletin';
  return p.relayOrigin === 'national' ? 'relay_national' : p.relayOrigin === 'provincial' ? 'relay_provincial' : 'relay_other';
}

/** The time a village had at least one operational cluster: the union of their operational spans. */
function coveredMs(spans: Array<[number, number]>): number {
  spans.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [s, e] of spans) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

function operationalSpans(h: SiteHistory, window: { from: number; to: number }): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let current = h.initial ?? 'unverified';
  let cursor = window.from;
  const t = h.transitions;
  let i = 0;
  while (i < t.length && t[i]!.at <= window.from) current = t[i++]!.condition;
  for (; i < t.length && t[i]!.at < window.to; i++) {
    if (current === 'operational' && t[i]!.at > cursor) out.push([cursor, t[i]!.at]);
    cursor = t[i]!.at;
    current = t[i]!.condition;
  }
  if (current === 'operational' && window.to > cursor) out.push([cursor, window.to]);
  return out;
}

const OUTSIDE = '';

export function buildReport(input: ReportInputs): Report {
  const { from, to } = input.period;
  const inPeriod = (at: number) => at >= from && at < to;
  const byId = new Map(input.areas.map((a) => [a.id, a]));
  const ref = (a: AreaNode): AreaRef => ({ key: a.key, code: a.code, name: a.name, level: a.level });
  const root = input.areas.find((a) => a.key === input.rootKey);
  if (!root) throw new RangeError(`no area ${input.rootKey} to report on`);
  if (root.level === 'village') throw new RangeError(`a report covers a commune or more, not the village ${root.key}`);

  // Each area of the root's subtree → its commune (or OUTSIDE above commune level) and its village.
  const place = new Map<number, { unit: string; village: AreaNode | null }>();
  const placeOf = (id: number): { unit: string; village: AreaNode | null } | null => {
    const known = place.get(id);
    if (known) return known;
    let unit: string | null = null;
    let village: AreaNode | null = null;
    for (let a = byId.get(id); a; a = a.parentId === null ? undefined : byId.get(a.parentId)) {
      if (a.level === 'village' && !village) village = a;
      if (a.level === 'commune' && unit === null) unit = a.key;
      if (a.id === root.id) {
        const p = { unit: unit ?? OUTSIDE, village };
        place.set(id, p);
        return p;
      }
    }
    return null;
  };

  const communes = input.areas.filter((a) => a.level === 'commune' && placeOf(a.id) !== null).sort((a, b) => a.code.localeCompare(b.code));
  const villages = input.areas.filter((a) => a.level === 'village' && placeOf(a.id) !== null).sort((a, b) => a.code.localeCompare(b.code));
  const accs = new Map<string, Acc>(communes.map((c) => [c.key, newAcc()]));
  const communeByKey = new Map(communes.map((c) => [c.key, c]));
  const outside = newAcc();
  const total = newAcc();
  const accOf = (unit: string) => (unit === OUTSIDE ? outside : accs.get(unit)!);
  const villageAccs = new Map(villages.map((v) => [v.key, { sites: 0, clusters: 0, uptime: newAcc().uptime, coverage: newAcc().coverage, spans: [] as Array<[number, number]> }]));

  // Where a site's audio is heard, for hours by language: its village, else its own area (a station: its commune), with that place's languages now.
  const languagesOf = new Map<number, readonly string[]>();
  const sites = new Map<string, { site: ReportSite; unit: string; village: AreaNode | null; place: string; languages: readonly string[] }>();
  for (const s of input.sites) {
    const p = placeOf(s.areaId);
    if (!p) continue;
    let languages = languagesOf.get(s.areaId);
    if (!languages) languagesOf.set(s.areaId, (languages = effectiveLanguages(s.areaId, byId).languages));
    sites.set(s.siteId, { site: s, ...p, place: p.village?.key ?? byId.get(s.areaId)?.key ?? String(s.areaId), languages });
  }
  // Anything counted above commune level shows as its own row, so the total stays the sum of the rows.
  let outsideUsed = false;
  const both = (unit: string, f: (a: Acc) => void) => {
    if (unit === OUTSIDE) outsideUsed = true;
    f(accOf(unit));
    f(total);
  };

  // Sites, uptime (uptime.ts) and the spans their villages were covered.
  for (const { site, unit, village } of sites.values()) {
    // A site registered after the period, or retired before it, was not part of the system then.
    const window = { from: Math.max(from, site.createdAt ?? from), to: Math.min(to, site.retiredAt ?? to) };
    if (!(window.to > window.from)) continue;
    both(unit, (a) => {
      a.sites++;
      if (site.kind === 'station') a.stations++;
      else a.clusters++;
    });
    const v = village ? villageAccs.get(village.key) : undefined;
    if (v) {
      v.sites++;
      if (site.kind === 'cluster') v.clusters++;
    }
    const h = input.conditions.get(site.siteId) ?? { transitions: [] };
    const shares = conditionShares(h.transitions, window, h.initial ?? 'unverified');
    const add = (u: UptimeFigures) => {
      u.siteMs += shares.totalMs;
      u.audibleMs += shares.ms.operational + shares.ms.degraded;
      for (const c of SITE_CONDITIONS) u.byCondition[c] += shares.ms[c];
    };
    both(unit, (a) => add(a.uptime));
    if (v) {
      add(v.uptime);
      if (site.kind === 'cluster') v.spans.push(...operationalSpans(h, window));
    }
  }

  // Verified coverage: village-time with at least one operational cluster.
  const villageRows = new Map<string, VillageRow[]>();
  for (const village of villages) {
    const v = villageAccs.get(village.key)!;
    const c: CoverageFigures = { villages: 1, villagesWithoutCluster: v.clusters === 0 ? 1 : 0, villageMs: to - from, coveredMs: coveredMs(v.spans), share: null };
    c.share = ratio(c.coveredMs, c.villageMs);
    const unit = placeOf(village.id)!.unit;
    both(unit, (a) => {
      a.coverage.villages += c.villages;
      a.coverage.villagesWithoutCluster += c.villagesWithoutCluster;
      a.coverage.villageMs += c.villageMs;
      a.coverage.coveredMs += c.coveredMs;
    });
    const rows = villageRows.get(unit) ?? [];
    rows.push({ area: ref(village), sites: v.sites, clusters: v.clusters, uptime: { ...v.uptime, share: ratio(v.uptime.audibleMs, v.uptime.siteMs) }, coverage: c });
    villageRows.set(unit, rows);
  }

  // Hours on air: per commune, each programme counts once, for as long as its longest play there;
  // by language, each programme's version in a language once, for its longest play there (and so by own language or fallback).
  const onAir = new Map<string, { unit: string; kind: AirtimeKind; ms: number }>();
  const inLanguage = new Map<string, { unit: string; lang: string; ms: number }>();
  const byUse = new Map<string, { unit: string; lang: string; use: LanguageUse; ms: number }>();
  const longest = <T extends { ms: number }>(m: Map<string, T>, k: string, v: T) => {
    const prev = m.get(k);
    if (!prev) m.set(k, v);
    else prev.ms = Math.max(prev.ms, v.ms);
  };
  type SiteAt = NonNullable<ReturnType<typeof sites.get>>;
  /** One site's play of a programme: its whole time, and each language's, heard where the site stands (own language or fallback). */
  const play = (s: SiteAt, occurrence: string, kind: AirtimeKind, parts: ReadonlyArray<{ lang: string; ms: number }>, ms: number, siteLanguages: readonly string[]) => {
    longest(onAir, `${s.unit}\n${occurrence}`, { unit: s.unit, kind, ms });
    for (const p of parts) {
      if (!(p.ms > 0)) continue;
      const use: LanguageUse = siteLanguages.includes(p.lang) ? 'own' : 'fallback';
      longest(inLanguage, `${s.unit}\n${occurrence}\n${p.lang}`, { unit: s.unit, lang: p.lang, ms: p.ms });
      longest(byUse, `${s.unit}\n${occurrence}\n${p.lang}\n${use}`, { unit: s.unit, lang: p.lang, use, ms: p.ms });
      both(s.unit, (a) => {
        let places = a.languagePlaces.get(p.lang);
        if (!places) a.languagePlaces.set(p.lang, (places = { own: new Set(), fallback: new Set() }));
        places[use].add(s.place);
      });
    }
  };

  // Bulletins: the as-run lines, by the accounting's own status.
  const skipReasons = new Set<string>();
  for (const l of input.asRun) {
    const s = sites.get(l.siteId);
    if (!s || !inPeriod(l.scheduledAt)) continue;
    const item = input.items.get(l.itemId);
    // An alert's file copy is accounted with its alert, from the delivery rows.
    if (item?.kind === 'alert') continue;
    const planned = l.priority !== '';
    both(s.unit, (a) => {
      if (!planned) {
        a.bulletins.unplanned++;
        return;
      }
      a.bulletins.planned++;
      a.bulletins.byStatus[l.status]++;
      if (l.status === 'skipped') {
        const reason = l.reason ?? UNSPECIFIED_REASON;
        skipReasons.add(reason);
        a.bulletins.skippedByReason[reason] = (a.bulletins.skippedByReason[reason] ?? 0) + 1;
      }
    });
    const ms = lineAirtimeMs(l);
    // The languages the site was planned with (when the bulletin has versions), else its place's now.
    const heardWith = l.languages && l.languages.site.length > 0 ? l.languages.site : s.languages;
    if (ms > 0) play(s, `b\n${l.entryId}`, 'bulletin', lineLanguageAirtime(l, item?.lang ?? 'und'), ms, heardWith);
  }

  for (const p of input.live) {
    const s = sites.get(p.siteId);
    if (!s || !inPeriod(p.startedAt) || !(p.playedMs > 0)) continue;
    play(s, `l\n${p.streamId}`, liveKind(p), [{ lang: p.lang, ms: p.playedMs }], p.playedMs, s.languages);
  }

  // Alerts: delivery rows judged by delivery-status.ts.
  const alertRows: AlertRow[] = [];
  for (const { alert, lang, deliveries } of input.alerts) {
    if (!inPeriod(alert.revisedAt)) continue;
    const row: AlertRow = {
      id: alert.id,
      title: alert.title,
      issuedAt: alert.revisedAt,
      test: alert.test,
      priority: alert.priority,
      lang,
      communes: 0,
      targeted: 0,
      sounded: 0,
      message: 0,
      heard: 0,
      firstSoundAfterMs: null,
      allMessageAfterMs: null,
    };
    const units = new Set<string>();
    let lastMessage = 0;
    for (const d of deliveries) {
      const s = sites.get(d.siteId);
      if (!s) continue;
      units.add(s.unit);
      const played = playedOf(d);
      const heard = played === 'message' && heardVerdict(d) === 'heard';
      row.targeted++;
      if (played !== 'nothing') row.sounded++;
      if (played === 'message') {
        row.message++;
        lastMessage = Math.max(lastMessage, d.messageAt! - alert.revisedAt);
      }
      if (heard) row.heard++;
      if (d.firstSoundAt !== null) row.firstSoundAfterMs = Math.min(row.firstSoundAfterMs ?? Number.POSITIVE_INFINITY, Math.max(0, d.firstSoundAt - alert.revisedAt));
      both(s.unit, (a) => {
        a.alertIds.add(alert.id);
        a.alerts.deliveries++;
        if (played !== 'nothing') a.alerts.sounded++;
        if (played === 'message') a.alerts.message++;
        if (heard) a.alerts.heard++;
      });
      const end = d.completedAt ?? d.failedAt ?? alert.endedAt;
      if (d.firstSoundAt !== null && end !== null && end > d.firstSoundAt) {
        const ms = end - d.firstSoundAt;
        play(s, `a\n${alert.id}`, 'alert', [{ lang, ms }], ms, s.languages);
      }
    }
    if (row.targeted === 0) continue;
    row.communes = [...units].filter((u) => u !== OUTSIDE).length;
    row.allMessageAfterMs = row.message === row.targeted ? Math.max(0, lastMessage) : null;
    alertRows.push(row);
  }
  alertRows.sort((a, b) => a.issuedAt - b.issuedAt || a.id.localeCompare(b.id));

  for (const o of onAir.values()) {
    both(o.unit, (a) => {
      a.airtime.totalMs += o.ms;
      a.airtime.byKind[o.kind] += o.ms;
    });
  }
  const languages = new Set<string>();
  for (const o of inLanguage.values()) {
    languages.add(o.lang);
    both(o.unit, (a) => {
      a.airtime.byLanguage[o.lang] = (a.airtime.byLanguage[o.lang] ?? 0) + o.ms;
    });
  }
  for (const o of byUse.values()) {
    both(o.unit, (a) => {
      const u = (a.airtime.languageUse[o.lang] ??= zeroLanguage());
      if (o.use === 'own') u.ownMs += o.ms;
      else u.fallbackMs += o.ms;
    });
  }

  // Faults that began in the period; a repair time once repaired (by the episode's own source: a work order or its alarm).
  const faultKinds = new Set<string>();
  const faultRows: FaultRow[] = [];
  for (const f of input.faults) {
    const s = sites.get(f.siteId);
    if (!s || !inPeriod(f.startedAt)) continue;
    const repairMs = f.endedAt === null ? null : Math.max(0, f.endedAt - f.startedAt);
    const acknowledgedAt = f.acknowledgedAt ?? null;
    const ackMs = acknowledgedAt === null ? null : Math.max(0, acknowledgedAt - f.startedAt);
    const repairSource = f.repairSource ?? 'alarm';
    faultKinds.add(f.kind);
    both(s.unit, (a) => {
      addFault(a.faults.total, repairMs, ackMs, repairSource);
      addFault((a.faults.byKind[f.kind] ??= zeroFault()), repairMs, ackMs, repairSource);
    });
    const commune = s.unit === OUTSIDE ? null : (communeByKey.get(s.unit) ?? null);
    faultRows.push({
      siteId: f.siteId,
      siteName: s.site.name,
      commune: commune ? ref(commune) : null,
      village: s.village ? ref(s.village) : null,
      kind: f.kind,
      startedAt: f.startedAt,
      endedAt: f.endedAt,
      repairMs,
      repairSource,
      acknowledgedAt,
      ackMs,
    });
  }
  faultRows.sort((a, b) => a.startedAt - b.startedAt || a.siteId.localeCompare(b.siteId));

  const districtOf = (c: AreaNode): AreaRef | null => {
    for (let a = c.parentId === null ? undefined : byId.get(c.parentId); a; a = a.parentId === null ? undefined : byId.get(a.parentId)) {
      if (a.level === 'district') return ref(a);
    }
    return null;
  };

  const order = (xs: Iterable<string>) => [...xs].sort((a, b) => a.localeCompare(b));
  return {
    period: input.period,
    root: ref(root),
    generatedAt: input.generatedAt,
    totals: finish(total),
    communes: communes.map((c) => ({ area: ref(c), district: districtOf(c), figures: finish(accs.get(c.key)!), villages: villageRows.get(c.key) ?? [] })),
    outside: outsideUsed ? finish(outside) : null,
    alerts: alertRows,
    faults: faultRows,
    // Vietnamese first, then the others by tag.
    languages: [...languages].sort((a, b) => (a === 'vi' ? -1 : b === 'vi' ? 1 : a.localeCompare(b))),
    skipReasons: order(skipReasons),
    faultKinds: order(faultKinds),
  };
}

/** ms as hours, for the renderers. */
export const hoursOf = (ms: number) => ms / 3_600_000;
