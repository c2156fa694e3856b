/**
 * Technicians' alarms over HTTP (server/alarms/routes.ts) and on the
 * console's event stream: request and response shapes. The server sends
 * codes with parameters (kinds, severities, states, reasons); the console
 * words them (api/words/alarm-words.ts, reasons.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';

const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** Mirrors server/alarms/model.ts (a unit test keeps them equal). */
export const ALARM_SEVERITY_VALUES = ['critical', 'major', 'minor', 'warning'] as const;
export const ALARM_KIND_VALUES = [
  'site_offline',
  'no_audio_output',
  'amplifier_fault',
  'amplifier_hot',
  'speaker_line',
  'power',
  'weak_signal',
  'device_unreachable',
  'sound_check_failed',
  'monitor_mic',
  'sound_not_verified',
  'config_not_applied',
  'update_failed',
] as const;
/** Shown states (pending alarms are never shown). */
export const ALARM_STATE_VALUES = ['raised', 'acknowledged', 'cleared'] as const;

export const AlarmSeverity = Lit(ALARM_SEVERITY_VALUES);
export const AlarmKind = Lit(ALARM_KIND_VALUES);
export const AlarmStateSchema = Lit(['pending', 'raised', 'acknowledged', 'cleared'] as const);

export const AlarmReason = Type.Object({
  code: Type.String({ description: "a site reason code (api/coverage reasons: 'line_open', 'on_battery', …) or 'update_failed'" }),
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()])),
});

export const AlarmRecord = Type.Object({
  id: Type.String(),
  siteId: Type.String(),
  siteName: Nullable(Type.String()),
  siteKind: Type.String(),
  areaKey: Nullable(Type.String({ description: "the site's area when the alarm last changed (null: an area no longer in the tree)" })),
  kind: AlarmKind,
  severity: AlarmSeverity,
  reasons: Type.Array(AlarmReason),
  state: AlarmStateSchema,
  detectedAt: EpochMs,
  raisedAt: Nullable(EpochMs),
  updatedAt: EpochMs,
  count: Type.Integer({ description: 'occurrences: 1, plus one for every return of the fault within the hold-down (a flapping site)' }),
  active: Type.Boolean({ description: 'whether the fault is present in what the server last saw' }),
  acknowledged: Nullable(Type.Object({ at: EpochMs, by: Type.String(), note: Nullable(Type.String()) })),
  cleared: Nullable(Type.Object({ at: EpochMs, cause: Lit(['condition_cleared', 'manual', 'site_removed'] as const), by: Nullable(Type.String()), note: Nullable(Type.String()) })),
  incidentId: Nullable(Type.String()),
});
export type AlarmRecord = Static<typeof AlarmRecord>;

const CommaList = (what: string) => Type.String({ maxLength: 400, pattern: '^[a-z_]+(,[a-z_]+)*$', description: `comma-separated ${what}` });

export const AlarmListQuery = Type.Object(
  {
    area: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'area code or key: its whole subtree (default: your area, or the whole network)' })),
    commune: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'a commune code or key (narrows `area`)' })),
    severity: Type.Optional(CommaList('severities')),
    state: Type.Optional(
      Type.String({
        maxLength: 100,
        pattern: '^(open|raised|acknowledged|cleared)(,(open|raised|acknowledged|cleared))*$',
        description: 'comma-separated; open = raised,acknowledged (default: open)',
      }),
    ),
    kind: Type.Optional(CommaList('alarm kinds')),
    site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(Type.Integer({ minimum: 0, description: 'raised at or after (epoch ms)' })),
    to: Type.Optional(Type.Integer({ minimum: 0, description: 'raised before (epoch ms)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
  },
  { additionalProperties: false },
);
export type AlarmListQuery = Static<typeof AlarmListQuery>;

export const AlarmList = Type.Object({ alarms: Type.Array(AlarmRecord), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });

export const AlarmParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 40, pattern: '^al-[0-9]+$' }) });

const HistoryRow = Type.Object({
  type: Lit(['raised', 'acknowledged', 'severity_changed', 'reasons_changed', 'cleared'] as const),
  at: EpochMs,
  count: Type.Integer(),
  detail: Type.Record(Type.String(), Type.Unknown(), { description: "the row's own fields: severity and reasons, who and note, from/to, cause" }),
});

export const AlarmComment = Type.Object({ at: EpochMs, by: Type.String(), note: Type.String() });

export const IncidentRecord = Type.Object({
  id: Type.String(),
  kind: Lit(['cut', 'power_outage'] as const),
  alarmKind: AlarmKind,
  areaKey: Nullable(Type.String({ description: 'the commune the children stand in' })),
  rootAlarmId: Nullable(Type.String({ description: "the commune station's alarm, when it is a child" })),
  state: Lit(['open', 'resolved'] as const),
  severity: AlarmSeverity,
  openedAt: EpochMs,
  resolvedAt: Nullable(EpochMs),
  members: Type.Array(Type.Object({ alarmId: Type.String(), siteId: Type.String(), siteKind: Type.String(), severity: AlarmSeverity, joinedAt: EpochMs, cleared: Type.Boolean() })),
  counts: Type.Object({ members: Type.Integer(), active: Type.Integer(), stations: Type.Integer(), clusters: Type.Integer() }),
});

export const AlarmDetail = Type.Object({
  alarm: AlarmRecord,
  history: Type.Array(HistoryRow),
  comments: Type.Array(AlarmComment),
  incident: Nullable(IncidentRecord),
});

const Note = Type.String({ minLength: 1, maxLength: 2000 });
export const AcknowledgeRequest = Type.Union([Type.Object({ note: Type.Optional(Note) }, { additionalProperties: false }), Type.Null()]);
export const ClearRequest = Type.Object({ note: Type.String({ maxLength: 2000, description: 'why it is over (required)' }) }, { additionalProperties: false });
export const CommentRequest = Type.Object({ note: Note }, { additionalProperties: false });

export const AlarmSummaryQuery = Type.Object(
  {
    area: Type.Optional(Type.String({ minLength: 2, maxLength: 50 })),
    depth: Type.Optional(Type.Integer({ minimum: 0, maximum: 4, default: 1, description: 'levels of children below the area' })),
  },
  { additionalProperties: false },
);

const SeverityCounts = Type.Object({ raised: Type.Integer(), acknowledged: Type.Integer() });
/** One area's open alarms in its whole subtree. */
export const AlarmSummaryNode = Type.Object({
  area: Type.Object({ key: Type.String(), code: Type.String(), name: Type.String(), level: Type.String() }),
  parentKey: Nullable(Type.String()),
  total: Type.Integer(),
  raised: Type.Integer(),
  acknowledged: Type.Integer(),
  bySeverity: Type.Object({ critical: SeverityCounts, major: SeverityCounts, minor: SeverityCounts, warning: SeverityCounts }),
  worst: Nullable(AlarmSeverity),
});
/** The tree flat, parents before their children (preorder): the asked area first, then `depth` levels below it. */
export const AlarmSummary = Type.Object({ areas: Type.Array(AlarmSummaryNode) });

/** On the console's event stream: an alarm shown, changed (acknowledged, count, severity, reasons, incident) or cleared. */
export const AlarmStreamEvent = Type.Object({
  kind: Lit(['raised', 'changed', 'cleared'] as const),
  alarmId: Type.String(),
  siteId: Type.String(),
  alarmKind: AlarmKind,
  severity: AlarmSeverity,
  state: AlarmStateSchema,
  count: Type.Integer(),
  incidentId: Nullable(Type.String()),
  at: EpochMs,
});
export type AlarmStreamEvent = Static<typeof AlarmStreamEvent>;
