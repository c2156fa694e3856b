/**
 * The periodic report's nouns (pure types, no logic): what buildReport
 * (report-model.ts) takes, plain data the report service reads from the
 * stores, and the figures it gives, which the renderers (xlsx.ts, pdf.ts)
 * print. docs/reports.md says what each figure means.
 */
import type { AudioSourceKind, PlaylistEntryKind } from '../../protocol/index.ts';
import type { Alert, Delivery } from '../alerts/model.ts';
import type { AsRunLine, AsRunStatus } from '../asrun/accounting.ts';
import type { SiteCondition } from '../coverage/model.ts';
import type { ConditionTransition } from '../coverage/uptime.ts';
import type { AreaLevel, AreaNode, SiteKind } from '../registry/model.ts';
import type { ReportPeriod } from './period.ts';

/** What was on air, for hours on air by kind (thời lượng phát theo loại). */
export const AIRTIME_KINDS = ['bulletin', 'relay_national', 'relay_provincial', 'relay_other', 'live', 'alert'] as const;
export type AirtimeKind = (typeof AIRTIME_KINDS)[number];

/**
 * How a language's audio reached a place (a village, or the commune for its
 * station): `own`, in a language the place speaks (its area's languages);
 * `fallback`, in a language it does not list, played because the programme
 * had no version in its languages (or its agent could play one version only):
 * a H'Mông village that heard the Vietnamese version.
 */
export const LANGUAGE_USES = ['own', 'fallback'] as const;
export type LanguageUse = (typeof LANGUAGE_USES)[number];

/** A skipped line without a reason (an older agent's receipt). */
export const UNSPECIFIED_REASON = 'unspecified';

// ------------------------------------------------------------------ inputs --

export interface ReportSite {
  siteId: string;
  name: string;
  kind: SiteKind;
  /** The area the site is registered in: a village for a cluster, the commune for its station. */
  areaId: number;
  /** Registered at (the site counts from then); absent: before the period. */
  createdAt?: number | null;
  /** Retired at (the site counts until then); absent: still in use. */
  retiredAt?: number | null;
}

/** A broadcast item as the report needs it: an as-run line's kind (a bulletin, or an alert's file copy) and its language (BCP 47). */
export interface ReportItem {
  kind: PlaylistEntryKind;
  lang: string;
}

/** A relay's source: the caller knows which configured source is national or provincial radio; the live feature records only a URL and a label. */
export type RelayOrigin = 'national' | 'provincial' | 'other';

/** One live stream as one site played it. */
export interface LivePlay {
  streamId: number;
  siteId: string;
  source: AudioSourceKind;
  /** For a relay: whose radio it carried; null for other sources. */
  relayOrigin: RelayOrigin | null;
  lang: string;
  startedAt: number;
  /** Audio the site played (its stream report's played packets × packet length). */
  playedMs: number;
}

export interface AlertInput {
  alert: Pick<Alert, 'id' | 'title' | 'revisedAt' | 'test' | 'priority' | 'endedAt'>;
  /** The message's language (BCP 47). */
  lang: string;
  deliveries: readonly Delivery[];
}

/**
 * What a fault's end (its time to repair) is read from:
 * - `work_order`: the fault has a work order (server/maintenance); it is
 *   repaired when a verified sound check closed the order (verifiedAt),
 *   and open while the order is not closed, whatever the alarm says: the
 *   village waited for sound until then, as the maintenance log counts it;
 * - `alarm`: no work order (or only cancelled ones); repaired when its alarm
 *   cleared, by the condition clearing or by hand.
 */
export const REPAIR_SOURCES = ['work_order', 'alarm'] as const;
export type RepairSource = (typeof REPAIR_SOURCES)[number];

/**
 * One fault at one site, from when it was noticed until it was repaired
 * (null: still open). A plain input: the report service reads them from
 * the technicians' alarms and their work orders (sources.ts); `kind` is an
 * alarm kind (server/alarms/model.ts), or a site reason code in hand-made inputs.
 */
export interface FaultEpisode {
  siteId: string;
  kind: string;
  startedAt: number;
  endedAt: number | null;
  /** When a person acknowledged it (the alarm's acknowledgement); absent or null: nobody did. */
  acknowledgedAt?: number | null;
  /** Where `endedAt` comes from; absent: the alarm (hand-made inputs). */
  repairSource?: RepairSource;
}

/** A site's condition over time (uptime.ts): transitions sorted by `at`, including the last one before the period. */
export interface SiteHistory {
  initial?: SiteCondition;
  transitions: readonly ConditionTransition[];
}

export interface ReportInputs {
  period: ReportPeriod;
  /** The area reported on: the province (one row per commune), or a district or a commune. */
  rootKey: string;
  areas: readonly AreaNode[];
  sites: readonly ReportSite[];
  /** As-run lines (accounting.ts); those scheduled outside the period are left out. */
  asRun: readonly AsRunLine[];
  items: ReadonlyMap<string, ReportItem>;
  live: readonly LivePlay[];
  alerts: readonly AlertInput[];
  conditions: ReadonlyMap<string, SiteHistory>;
  faults: readonly FaultEpisode[];
  generatedAt: number;
}

// ----------------------------------------------------------------- figures --

export interface AreaRef {
  key: string;
  code: string;
  name: string;
  level: AreaLevel;
}

export interface BulletinFigures {
  /** Lines the server planned (every status). */
  planned: number;
  byStatus: Record<AsRunStatus, number>;
  /** Skipped lines by reason code (UNSPECIFIED_REASON when none was given). */
  skippedByReason: Record<string, number>;
  /** Receipts for entries the server has no record of sending (played, but not planned here). */
  unplanned: number;
}

/** One language's hours, split by how it reached the places that heard it (LanguageUse). */
export interface LanguageAirtime {
  /** Heard in a language the place speaks: each programme once, its longest such play in the commune. */
  ownMs: number;
  /** Played in place of a version in the place's languages: each programme once, its longest such play in the commune. */
  fallbackMs: number;
  /** Places (villages; the commune for its station) that heard it at least once in the period as their own language. */
  placesOwn: number;
  /** Places that heard it at least once in place of their own. */
  placesFallback: number;
}

export interface AirtimeFigures {
  totalMs: number;
  byKind: Record<AirtimeKind, number>;
  /**
   * By BCP 47 language tag, from the parts (language versions) each site
   * played: each programme's version in a language counts once per commune,
   * for its longest play there. Σ languages = total when every place of a
   * commune heard the same versions; more when villages heard different
   * versions side by side (a H'Mông and a Dao village at the same time).
   */
  byLanguage: Record<string, number>;
  /** The same hours by how they reached the places (own language or fallback); a language in byLanguage is here too. */
  languageUse: Record<string, LanguageAirtime>;
}

export interface UptimeFigures {
  /** Site-time in the period (each site from its registration to its retirement). */
  siteMs: number;
  /** Of which operational or degraded: the site could be heard. */
  audibleMs: number;
  byCondition: Record<SiteCondition, number>;
  /** audibleMs / siteMs; null without sites. */
  share: number | null;
}

export interface CoverageFigures {
  villages: number;
  villagesWithoutCluster: number;
  /** Village-time in the period. */
  villageMs: number;
  /** Of which the village had at least one operational cluster (sound verified). */
  coveredMs: number;
  share: number | null;
}

export interface FaultFigures {
  count: number;
  repaired: number;
  open: number;
  /** Sum of the repaired faults' times to repair. */
  repairMs: number;
  longestRepairMs: number | null;
  /** repairMs / repaired; null when none was repaired. */
  meanRepairMs: number | null;
  /** Of the repaired, those timed to their work order's verified close (the others to their alarm's clearing). */
  repairedByWorkOrder: number;
  /** Faults a person acknowledged, and the sum of their times from start to acknowledgement. */
  acknowledged: number;
  ackMs: number;
  /** ackMs / acknowledged; null when none was. */
  meanAckMs: number | null;
}

export interface AlertFigures {
  /** Alerts that reached at least one site here (an alert over several communes counts in each). */
  alerts: number;
  /** Sites targeted, summed over alerts. */
  deliveries: number;
  /** Made any sound (the attention signal at least). */
  sounded: number;
  /** Played the message itself. */
  message: number;
  /** The monitoring microphone heard the message. */
  heard: number;
}

export interface UnitFigures {
  sites: number;
  stations: number;
  clusters: number;
  bulletins: BulletinFigures;
  airtime: AirtimeFigures;
  uptime: UptimeFigures;
  coverage: CoverageFigures;
  faults: { total: FaultFigures; byKind: Record<string, FaultFigures> };
  alerts: AlertFigures;
}

export interface VillageRow {
  area: AreaRef;
  sites: number;
  clusters: number;
  uptime: UptimeFigures;
  coverage: CoverageFigures;
}

export interface CommuneRow {
  area: AreaRef;
  /** The district above it (the 2020 three-level structure), else null. */
  district: AreaRef | null;
  figures: UnitFigures;
  villages: VillageRow[];
}

export interface AlertRow {
  id: string;
  title: string;
  issuedAt: number;
  test: boolean;
  priority: string;
  lang: string;
  communes: number;
  targeted: number;
  sounded: number;
  message: number;
  heard: number;
  /** From the issue to the first sound anywhere here. */
  firstSoundAfterMs: number | null;
  /** From the issue until every targeted site here had played the message; null: some never did. */
  allMessageAfterMs: number | null;
}

export interface FaultRow {
  siteId: string;
  siteName: string;
  commune: AreaRef | null;
  village: AreaRef | null;
  kind: string;
  startedAt: number;
  endedAt: number | null;
  repairMs: number | null;
  /** Where its end is read from (a work order, else its alarm). */
  repairSource: RepairSource;
  acknowledgedAt: number | null;
  /** From its start to a person's acknowledgement; null: nobody acknowledged it. */
  ackMs: number | null;
}

export interface Report {
  period: ReportPeriod;
  root: AreaRef;
  generatedAt: number;
  totals: UnitFigures;
  communes: CommuneRow[];
  /** Sites in the area but above commune level (a district's or the province's own station); null when none. */
  outside: UnitFigures | null;
  alerts: AlertRow[];
  faults: FaultRow[];
  /** Every language, skip reason and fault kind that appears, in a stable order, for the renderers' columns. */
  languages: string[];
  skipReasons: string[];
  faultKinds: string[];
}
