/**
 * The data that coverage is computed from, and what it answers (the
 * registry's nouns, areas and site kinds, are in registry/model.ts). Pure types:
 * the fleet module fills SiteObservation from what agents report; the
 * functions in site-condition.ts and coverage.ts turn them into verdicts.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';
import type { AreaLevel, SiteKind } from '../registry/model.ts';
import type { SiteReasonCode } from '../../api/coverage.ts';

/** Worst last: the order used to sort failing sites and to pick a headline. */
export type SiteCondition = 'operational' | 'degraded' | 'faulty' | 'offline' | 'unverified';
export const SITE_CONDITIONS: readonly SiteCondition[] = ['operational', 'degraded', 'faulty', 'offline', 'unverified'];

export interface SoundCheckRecord {
  at: number;
  ok: boolean;
  levelDb: number | null;
}

/** Everything the server knows about one site, from its registration and its reports. */
export interface SiteObservation {
  siteId: string;
  name: string;
  kind: SiteKind;
  areaId: number;
  /** First message ever received from the site; null = never heard from (unverified). */
  firstSeenAt: number | null;
  /** Last message of any kind received (server clock). */
  lastSeenAt: number | null;
  /** From the retained state topic: false after a clean shutdown or the broker's last will. */
  connected: boolean;
  /** When the site last went from online to offline (server clock), if it is offline. */
  disconnectedAt: number | null;
  /** Reported heartbeat interval; the site is offline after two missed. */
  intervalS: number | null;
  telemetry: TelemetryMessage | null;
  /** Last successful sound verification by the monitoring microphone. */
  lastSoundVerifiedAt: number | null;
  lastSoundCheck: SoundCheckRecord | null;
  /** Whether the registry says this site should have a monitoring microphone. */
  expectsMonitorMic: boolean;
  /**
   * The site configuration the server delivers (server/site-config/) and the
   * time from which a board that does not report holding it is stale. Absent:
   * none delivered (yet), nothing to compare.
   */
  expectedConfig?: ExpectedSiteConfig;
}

/** The newest configuration revision of a site, and when not holding it starts to count against the site. */
export interface ExpectedSiteConfig {
  revision: number;
  hash: string;
  /** Published at + the grace period (server clock). */
  dueAt: number;
}

/** A site condition's reason code (api/coverage.ts lists them; the console words each). */
export type ReasonCode = SiteReasonCode;

export interface Reason {
  /** Stable code, e.g. 'offline', 'line_open', 'on_battery', 'sound_not_verified', 'cannot_play'. */
  code: ReasonCode;
  /** Parameters the console words the reason with, in the user's language. */
  params: Record<string, string | number | null>;
  /** English sentence for API clients and logs, times in Asia/Ho_Chi_Minh, e.g. "offline since 14:02"; the console never shows it. */
  message: string;
  /** Which condition this reason alone would cause. */
  severity: 'degraded' | 'faulty' | 'offline';
}

export interface SiteVerdict {
  siteId: string;
  condition: SiteCondition;
  reasons: Reason[];
}

export interface CoveragePolicy {
  /** Missed heartbeats before a silent site counts as offline (2). */
  missedHeartbeats: number;
  /** Interval assumed for a site that never reported one (seconds). */
  defaultIntervalS: number;
  /** A cluster with a monitoring mic whose last verified sound is older counts as degraded (7 days). */
  soundMaxAgeMs: number;
  /** On battery below this share counts as faulty (about to go dark), above as degraded. */
  criticalBatteryPct: number;
  /** Signal weaker than this (dBm) counts as degraded. */
  weakSignalDbm: number;
  /** IANA zone for the times in messages. */
  timeZone: string;
}

export const DEFAULT_COVERAGE_POLICY: CoveragePolicy = {
  missedHeartbeats: 2,
  defaultIntervalS: 30,
  soundMaxAgeMs: 7 * 24 * 3600 * 1000,
  criticalBatteryPct: 15,
  weakSignalDbm: -110,
  timeZone: 'Asia/Ho_Chi_Minh',
};

export interface ConditionCounts {
  sites: number;
  operational: number;
  degraded: number;
  faulty: number;
  offline: number;
  unverified: number;
}

export interface VillageFigures {
  /** Village-level areas in the subtree. */
  villages: number;
  /** Villages with at least one operational cluster: these can hear an announcement now. */
  villagesCovered: number;
  /** Villages with clusters of which none is operational. */
  villagesFailing: number;
  /** Villages with no cluster registered at all. */
  villagesWithoutCluster: number;
}

export interface AreaCoverage extends ConditionCounts, VillageFigures {
  area: { key: string; code: string; version: string; name: string; level: AreaLevel };
  /** operational / sites, 0..1 (null when there are no sites). */
  operationalShare: number | null;
  /** villagesCovered / villages, 0..1 (null when there are no villages). */
  villageShare: number | null;
}

export interface CoverageReport extends AreaCoverage {
  at: number;
  children: AreaCoverage[];
  /** Sites that are not operational, worst first, each with its reasons. Unverified sites are listed apart. */
  failing: Array<SiteVerdict & { name: string; areaKey: string }>;
  unverifiedSites: Array<{ siteId: string; name: string; areaKey: string }>;
  /** Villages in the subtree that cannot hear an announcement now. */
  uncoveredVillages: Array<{ key: string; name: string; reason: 'no_cluster' | 'no_operational_cluster' }>;
}
