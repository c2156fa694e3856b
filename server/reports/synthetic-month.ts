/**
 * A synthetic month of a province, as plain report inputs: the province's
 * real communes (the registry's area CSV), a few villages each, a station per
 * commune and clusters per village, two bulletins a day, relays of national
 * and provincial radio, live broadcasts, alerts, outages and faults, drawn
 * from a seeded random source so a run repeats exactly.
 *
 * The bulletins go through the real as-run accounting (accountAsRun over
 * sent entries and receipts), so the report is checked against the same
 * as-run log an operator reads. Used by the report tests and for trying the
 * renderers. The run through the real playout path (server, MQTT, agents'
 * playout, receipts) is tests/month/month-asrun.month.ts (npm run test:month).
 */
import { accountAsRun, type ReceiptInput, type SentEntryInput, type SiteInfo } from '../asrun/accounting.ts';
import { type Delivery, pendingDelivery } from '../alerts/model.ts';
import type { ConditionTransition } from '../coverage/uptime.ts';
import type { AreaDraft } from '../registry/area-import.ts';
import type { AreaNode } from '../registry/model.ts';
import { occurrenceId } from '../schedule/model.ts';
import { wallTimeToEpoch } from '../time/zone.ts';
import type { ReportPeriod } from './period.ts';
import type { AlertInput, FaultEpisode, LivePlay, ReportInputs, ReportItem, ReportSite, SiteHistory } from './model.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const VILLAGE_NAMES = ['Nậm Cang', 'Sín Chải', 'Tả Phìn', 'Lùng Khấu Nhin', 'Bản Mế', 'Cốc Ly', 'Làng Mới', 'Phìn Hồ', 'Nà Lốc', 'Khe Lếch'] as const;

export interface SyntheticMonthOptions {
  /** The area CSV's drafts (parseAreaCsv of server/registry/vn-admin/lao-cai-2025.csv). */
  drafts: readonly AreaDraft[];
  period: ReportPeriod;
  /** Uniform in [0, 1): a seeded generator, so a run repeats. */
  random: () => number;
  version?: string;
}

export interface SyntheticMonth {
  inputs: ReportInputs;
  /** The as-run accounting's own summary of the lines: what the report must agree with. */
  asRunSummary: ReturnType<typeof accountAsRun>['summary'];
}

export function syntheticMonth(opts: SyntheticMonthOptions): SyntheticMonth {
  const { period, random } = opts;
  const version = opts.version ?? '2025';
  const zone = period.zone;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const chance = (p: number) => random() < p;

  // Areas: the CSV's province and communes, then 3–5 villages per commune.
  const areas: AreaNode[] = [];
  const idOf = new Map<string, number>();
  for (const d of opts.drafts) {
    const id = areas.length + 1;
    idOf.set(d.code, id);
    areas.push({ id, key: `${version}.${d.code}`, code: d.code, version, name: d.name, level: d.level, parentId: d.parentCode === null ? null : idOf.get(d.parentCode)! });
  }
  const province = areas.find((a) => a.level === 'province');
  if (!province) throw new RangeError('the area drafts have no province');
  const communes = areas.filter((a) => a.level === 'commune');
  const sites: ReportSite[] = [];
  const siteInfo = new Map<string, SiteInfo>();
  for (const c of communes) {
    const station = `st-${c.code}`;
    sites.push({ siteId: station, name: `Đài ${c.name}`, kind: 'station', areaId: c.id });
    siteInfo.set(station, { name: `Đài ${c.name}`, areaKey: c.key, areaName: c.name });
    const count = 3 + Math.floor(random() * 3);
    for (let v = 0; v < count; v++) {
      const code = `${c.code}${String(v + 1).padStart(2, '0')}`;
      const village: AreaNode = {
        id: areas.length + 1,
        key: `${version}.${code}`,
        code,
        version,
        name: `Thôn ${VILLAGE_NAMES[(v + Number(c.code)) % VILLAGE_NAMES.length]}`,
        level: 'village',
        parentId: c.id,
      };
      areas.push(village);
      // About one village in twenty has no cluster yet.
      const clusters = chance(0.05) ? 0 : 1 + (chance(0.4) ? 1 : 0);
      for (let k = 0; k < clusters; k++) {
        const siteId = `cl-${code}-${k + 1}`;
        const name = `Cụm loa ${village.name} ${k + 1}`;
        sites.push({ siteId, name, kind: 'cluster', areaId: village.id });
        siteInfo.set(siteId, { name, areaKey: village.key, areaName: village.name });
      }
    }
  }

  // Conditions: operational, with outages (offline) and amplifier faults, each also a fault episode.
  const conditions = new Map<string, SiteHistory>();
  const faults: FaultEpisode[] = [];
  const days = Math.round((period.to - period.from) / (24 * HOUR));
  for (const s of sites) {
    const transitions: ConditionTransition[] = [{ at: period.from - HOUR, condition: 'operational' }];
    const episodes = chance(0.5) ? 1 + Math.floor(random() * 3) : 0;
    let at = period.from;
    for (let e = 0; e < episodes; e++) {
      const start = at + Math.floor(random() * ((period.to - at) / (episodes - e + 1)));
      const kind = pick(['offline', 'offline', 'amplifier_fault', 'line_open', 'on_battery'] as const);
      const length = Math.floor((10 * MIN + random() * 30 * HOUR) / 1000) * 1000;
      // Some faults are still open when the month ends.
      const end = start + length < period.to && !chance(0.05) ? start + length : null;
      transitions.push({ at: start, condition: kind === 'offline' ? 'offline' : kind === 'on_battery' ? 'degraded' : 'faulty' });
      // A technician acknowledges a fault that lasts, a fifth of the way to its repair (no draw: the sequence stays as it was).
      const acknowledgedAt = end === null ? start + 2 * HOUR : end - start > HOUR ? start + Math.floor((end - start) / 5) : null;
      faults.push({ siteId: s.siteId, kind, startedAt: start, endedAt: end, acknowledgedAt });
      if (end === null) break;
      transitions.push({ at: end, condition: 'operational' });
      at = end + HOUR;
      if (at >= period.to) break;
    }
    conditions.set(s.siteId, { transitions });
  }
  const conditionAt = (siteId: string, t: number) => {
    let c = 'unverified';
    for (const x of conditions.get(siteId)!.transitions) if (x.at <= t) c = x.condition;
    return c;
  };

  // Bulletins at 06:00 and 17:00 to every site, through the as-run accounting.
  const items = new Map<string, ReportItem>([
    ['bt-sang', { kind: 'bulletin', lang: 'vi' }],
    ['bt-chieu', { kind: 'bulletin', lang: 'vi' }],
  ]);
  const titles: Record<string, string> = { 'bt-sang': 'Bản tin buổi sáng', 'bt-chieu': 'Bản tin buổi chiều' };
  const sent: SentEntryInput[] = [];
  const receipts: ReceiptInput[] = [];
  const firstDay = new Date(period.from + 7 * HOUR);
  for (let d = 0; d < days; d++) {
    const date = new Date(Date.UTC(firstDay.getUTCFullYear(), firstDay.getUTCMonth(), firstDay.getUTCDate() + d));
    for (const [itemId, hour, durationMs] of [
      ['bt-sang', 6, 15 * MIN],
      ['bt-chieu', 17, 20 * MIN],
    ] as const) {
      const at = wallTimeToEpoch({ year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour, minute: 0, second: 0 }, zone);
      const entryId = occurrenceId(itemId, at);
      for (const s of sites) {
        const skipped = chance(0.01);
        sent.push({
          siteId: s.siteId,
          entryId,
          itemId,
          scheduledAt: at,
          startAt: at,
          durationMs,
          priority: 'normal',
          plan: skipped ? 'skipped' : 'play',
          skipReason: skipped ? 'higher_priority' : null,
        });
        if (skipped || conditionAt(s.siteId, at) === 'offline') continue;
        const r = random();
        const base = { siteId: s.siteId, entryId, itemId, scheduledAt: at, detail: null, clockSynced: true, clockErrorMs: 0, receivedAt: at + durationMs + MIN };
        if (r < 0.9) {
          const err = Math.floor(random() * 80);
          receipts.push({ ...base, outcome: 'played', startedAt: at + err, endedAt: at + err + durationMs, startErrorMs: err, frames: durationMs / 20, reason: null });
        } else if (r < 0.94) {
          const err = 2000 + Math.floor(random() * 60_000);
          receipts.push({ ...base, outcome: 'late', startedAt: at + err, endedAt: at + err + durationMs, startErrorMs: err, frames: durationMs / 20, reason: null });
        } else if (r < 0.97) {
          receipts.push({
            ...base,
            outcome: 'skipped',
            startedAt: null,
            endedAt: null,
            startErrorMs: null,
            frames: null,
            reason: pick(['no_media', 'amp_fault', 'device_off', 'expired']),
          });
        } else if (r < 0.985) {
          const cut = Math.floor(random() * durationMs);
          receipts.push({ ...base, outcome: 'partial', startedAt: at, endedAt: at + cut, startErrorMs: 0, frames: Math.floor(cut / 20), reason: 'preempted' });
        } else if (r < 0.99) {
          receipts.push({ ...base, outcome: 'unknown', startedAt: null, endedAt: null, startErrorMs: null, frames: null, reason: 'state_lost' });
        }
        // The rest send no receipt.
      }
    }
  }
  const now = period.to + 24 * HOUR;
  const account = accountAsRun({
    sent,
    receipts,
    sites: siteInfo,
    titleOf: (id) => titles[id] ?? id,
    siteNow: (id) => ({ condition: conditionAt(id, now), reason: null }),
    now,
  });

  // Relays: national radio daily 19:00–20:00, provincial radio on Sundays 11:00–11:30; live from a few stations.
  const live: LivePlay[] = [];
  let streamId = 1;
  for (let d = 0; d < days; d++) {
    const day = period.from + d * 24 * HOUR;
    const streams: Array<{ at: number; ms: number; source: LivePlay['source']; relayOrigin: LivePlay['relayOrigin']; lang: string; to: readonly ReportSite[] }> = [
      { at: day + 19 * HOUR, ms: HOUR, source: 'relay', relayOrigin: 'national', lang: 'vi', to: sites },
    ];
    if (d % 7 === 6) streams.push({ at: day + 11 * HOUR, ms: 30 * MIN, source: 'relay', relayOrigin: 'provincial', lang: 'vi', to: sites });
    const c = pick(communes);
    streams.push({
      at: day + 8 * HOUR,
      ms: 10 * MIN + Math.floor(random() * 20) * MIN,
      source: 'browser',
      relayOrigin: null,
      // Stations already speak to their villages in H'Mông by hand: one live broadcast in three.
      lang: d % 3 === 0 ? 'hmn' : 'vi',
      to: sites.filter((s) => areas[s.areaId - 1]!.id === c.id || areas[s.areaId - 1]!.parentId === c.id),
    });
    for (const st of streams) {
      const id = streamId++;
      for (const s of st.to) {
        if (conditionAt(s.siteId, st.at) === 'offline') continue;
        // A site that joined late or dropped out played less.
        const playedMs = chance(0.95) ? st.ms : Math.floor(random() * st.ms);
        live.push({ streamId: id, siteId: s.siteId, source: st.source, relayOrigin: st.relayOrigin, lang: st.lang, startedAt: st.at, playedMs });
      }
    }
  }

  // Alerts: three this month, each to the communes of one former district or a random few.
  const alerts: AlertInput[] = [];
  for (let n = 0; n < 3; n++) {
    const issuedAt = period.from + Math.floor(((n + 0.5) / 3) * (period.to - period.from));
    const targetCommunes = new Set(communes.filter(() => chance(0.25)).map((c) => c.id));
    const deliveries: Delivery[] = [];
    for (const s of sites) {
      const a = areas[s.areaId - 1]!;
      if (!targetCommunes.has(a.id) && !(a.parentId !== null && targetCommunes.has(a.parentId))) continue;
      const d = pendingDelivery(`al-${n + 1}`, s.siteId, 1);
      if (conditionAt(s.siteId, issuedAt) !== 'offline') {
        const first = issuedAt + 400 + Math.floor(random() * 3000);
        const message = first + 8000;
        const attentionOnly = chance(0.03);
        Object.assign(d, {
          status: attentionOnly ? 'failed' : 'completed',
          receivedAt: first - 200,
          firstSoundAt: first,
          messageAt: attentionOnly ? null : message,
          completedAt: attentionOnly ? null : message + 3 * 45_000,
          failedAt: attentionOnly ? first + 8000 : null,
          reason: attentionOnly ? 'no_media' : null,
          repeat: attentionOnly ? 0 : 3,
          messageRepeats: attentionOnly ? null : 3,
          levelDb: s.kind === 'cluster' ? -20 - Math.floor(random() * 30) : null,
          levelThresholdDb: s.kind === 'cluster' ? -40 : null,
        } satisfies Partial<Delivery>);
      }
      deliveries.push(d);
    }
    alerts.push({
      alert: {
        id: `al-${n + 1}`,
        title: pick(['Cảnh báo lũ quét, sạt lở đất', 'Cảnh báo mưa đá, dông lốc', 'Cảnh báo rét đậm, rét hại']),
        revisedAt: issuedAt,
        test: n === 2,
        priority: 'emergency',
        endedAt: issuedAt + 2 * HOUR,
      },
      lang: 'vi',
      deliveries,
    });
  }

  return {
    inputs: {
      period,
      rootKey: province.key,
      areas,
      sites,
      asRun: account.lines,
      items,
      live,
      alerts,
      conditions,
      faults,
      generatedAt: now,
    },
    asRunSummary: account.summary,
  };
}
