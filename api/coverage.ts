/** Verified coverage over HTTP (server/coverage/routes.ts; computed by server/coverage/). */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable, Reason, SiteCondition } from './common.ts';

/**
 * Every reason code a site's condition may carry (server/coverage/site-condition.ts):
 * the console words each from its params (web/src/site-words.ts), and a unit
 * test fails on a code it cannot word in both languages.
 */
export const SITE_REASON_CODES = [
  'offline',
  'cannot_play',
  'amplifier_fault',
  'amplifier_hot',
  'no_working_line',
  'line_open',
  'line_short',
  'battery_critical',
  'on_battery',
  'weak_signal',
  'device_unreachable',
  'sound_check_failed',
  'monitor_mic_unavailable',
  'sound_not_verified',
  'config_stale',
] as const;
export type SiteReasonCode = (typeof SITE_REASON_CODES)[number];

export const AreaLevel = Type.Union([Type.Literal('province'), Type.Literal('district'), Type.Literal('commune'), Type.Literal('village')]);

const CountsAndVillages = {
  sites: Type.Integer(),
  operational: Type.Integer(),
  degraded: Type.Integer(),
  faulty: Type.Integer(),
  offline: Type.Integer(),
  unverified: Type.Integer(),
  villages: Type.Integer({ description: 'village-level areas in the subtree' }),
  villagesCovered: Type.Integer({ description: 'villages with at least one operational cluster: they can hear an announcement now' }),
  villagesFailing: Type.Integer({ description: 'villages with clusters of which none is operational' }),
  villagesWithoutCluster: Type.Integer(),
};

export const AreaCoverage = Type.Object({
  ...CountsAndVillages,
  area: Type.Object({ key: Type.String(), code: Type.String(), version: Type.String(), name: Type.String(), level: AreaLevel }),
  operationalShare: Nullable(Type.Number({ description: 'operational / sites, 0..1' })),
  villageShare: Nullable(Type.Number({ description: 'villagesCovered / villages, 0..1' })),
});
export type AreaCoverage = Static<typeof AreaCoverage>;

export const FailingSite = Type.Object({ siteId: Type.String(), condition: SiteCondition, reasons: Type.Array(Reason), name: Type.String(), areaKey: Type.String() });

/** GET /api/coverage: lists cut to `limit` (worst first), their full lengths in the …Total fields. */
export const CoverageReport = Type.Object({
  ...AreaCoverage.properties,
  at: EpochMs,
  children: Type.Array(AreaCoverage),
  failing: Type.Array(FailingSite),
  failingTotal: Type.Integer(),
  unverifiedSites: Type.Array(Type.Object({ siteId: Type.String(), name: Type.String(), areaKey: Type.String() })),
  unverifiedTotal: Type.Integer(),
  uncoveredVillages: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), reason: Type.Union([Type.Literal('no_cluster'), Type.Literal('no_operational_cluster')]) })),
  uncoveredVillagesTotal: Type.Integer(),
});
export type CoverageReport = Static<typeof CoverageReport>;

export const CoverageHistoryPoint = Type.Object({
  at: EpochMs,
  sites: Type.Integer(),
  operational: Type.Integer(),
  degraded: Type.Integer(),
  faulty: Type.Integer(),
  offline: Type.Integer(),
  unverified: Type.Integer(),
  villages: Type.Integer(),
  villagesCovered: Type.Integer(),
});
export type CoverageHistoryPoint = Static<typeof CoverageHistoryPoint>;
export const CoverageHistory = Type.Object({ area: Type.String(), points: Type.Array(CoverageHistoryPoint) });
