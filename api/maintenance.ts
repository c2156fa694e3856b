/**
 * The maintenance log over HTTP (server/maintenance/routes.ts) and on the
 * console's event stream: work orders made from alarms or sites, their
 * audited transitions, and time to acknowledge / to repair per commune and
 * fault kind. States and actions are codes the console words.
 */
import { type Static, Type } from '@sinclair/typebox';
import { AlarmKind } from './alarms.ts';
import { EpochMs, Nullable } from './common.ts';

const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** Mirrors server/maintenance/model.ts WORK_ORDER_STATES. */
export const WORK_ORDER_STATE_VALUES = ['open', 'assigned', 'visit_planned', 'resolved', 'closed', 'cancelled'] as const;
export const WorkOrderState = Lit(WORK_ORDER_STATE_VALUES);
export const WorkOrderAction = Lit(['create', 'assign', 'plan_visit', 'record', 'resolve', 'close', 'cancel'] as const);

const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

export const PartUsed = Type.Object(
  {
    part: Type.String({ minLength: 1, maxLength: 200, description: 'what was used, free text (a fuse, metres of speaker cable, a battery)' }),
    quantity: Type.Number({ exclusiveMinimum: 0, maximum: 100_000 }),
  },
  { additionalProperties: false },
);

export const WorkOrderRecord = Type.Object({
  id: Type.Integer(),
  source: Lit(['alarm', 'planned'] as const),
  alarmId: Nullable(Type.String()),
  faultKind: Nullable(AlarmKind),
  siteId: Type.String(),
  siteName: Nullable(Type.String()),
  areaKey: Nullable(Type.String({ description: "the site's area when the order was made" })),
  state: WorkOrderState,
  assignee: Nullable(Type.Object({ userId: Type.Integer(), username: Type.String() })),
  visitPlannedFor: Nullable(EpochMs),
  parts: Type.Array(PartUsed),
  notes: Nullable(Type.String()),
  resolution: Nullable(Type.String()),
  createdAt: EpochMs,
  createdBy: Type.String(),
  updatedAt: EpochMs,
  resolvedAt: Nullable(EpochMs),
  resolvedBy: Nullable(Type.String()),
  verifiedAt: Nullable(Type.Integer({ description: 'the verified sound check, heard after the resolution, that closed it (epoch ms)' })),
  closedAt: Nullable(EpochMs),
  cancelledAt: Nullable(EpochMs),
  awaitingVerification: Type.Boolean({ description: 'resolved, and the site not yet verified operational by a sound check heard since' }),
});
export type WorkOrderRecord = Static<typeof WorkOrderRecord>;

export const WorkOrderEventRecord = Type.Object({
  at: EpochMs,
  by: Type.String({ description: "a username, or 'verification' for the automatic close" }),
  action: WorkOrderAction,
  from: Nullable(WorkOrderState),
  to: WorkOrderState,
  detail: Type.Record(Type.String(), Type.Unknown()),
});

export const WorkOrderDetail = Type.Object({ order: WorkOrderRecord, events: Type.Array(WorkOrderEventRecord) });

export const WorkOrderList = Type.Object({ orders: Type.Array(WorkOrderRecord), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });

export const WorkOrderListQuery = Type.Object(
  {
    area: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'area code or key: its whole subtree (default: your area, or the whole network)' })),
    state: Type.Optional(
      Type.String({
        maxLength: 120,
        pattern: '^(active|open|assigned|visit_planned|resolved|closed|cancelled)(,(active|open|assigned|visit_planned|resolved|closed|cancelled))*$',
        description: 'comma-separated; active = open,assigned,visit_planned,resolved (default: every state)',
      }),
    ),
    site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    alarm: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    mine: Type.Optional(Type.Boolean({ description: 'only the orders assigned to you (a technician’s queue)' })),
    assignee: Type.Optional(Type.Integer({ minimum: 1, description: 'only the orders assigned to this user (by id)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
  },
  { additionalProperties: false },
);
export type WorkOrderListQuery = Static<typeof WorkOrderListQuery>;

export const WorkOrderParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const CreateWorkOrderRequest = Type.Union([
  Type.Object({ alarmId: Type.String({ minLength: 1, maxLength: 40, pattern: '^al-[0-9]+$' }), notes: Type.Optional(Text(2000)) }, { additionalProperties: false }),
  Type.Object(
    { siteId: Type.String({ minLength: 1, maxLength: 64, description: 'planned maintenance of a site' }), notes: Type.Optional(Text(2000)) },
    { additionalProperties: false },
  ),
]);
export const AssignRequest = Type.Object(
  { userId: Type.Integer({ minimum: 1, description: 'a technician, operator or admin whose area covers the site' }) },
  { additionalProperties: false },
);
/** The people an order may be given to: enabled, allowed to act on sites, their area covering the order's site. */
export const WorkOrderAssignees = Type.Object({
  users: Type.Array(
    Type.Object({
      userId: Type.Integer(),
      username: Type.String(),
      role: Type.String(),
      areaKey: Nullable(Type.String({ description: "the root of the user's scope; null: the whole network" })),
      areaName: Nullable(Type.String()),
    }),
  ),
});
export const PlanVisitRequest = Type.Object({ on: EpochMs }, { additionalProperties: false });
export const RecordRequest = Type.Object(
  { parts: Type.Optional(Type.Array(PartUsed, { maxItems: 100 })), notes: Type.Optional(Nullable(Type.String({ maxLength: 4000 }))) },
  { additionalProperties: false, minProperties: 1 },
);
export const ResolveRequest = Type.Object({ resolution: Type.String({ maxLength: 4000, description: 'what was done (required)' }) }, { additionalProperties: false });
export const CancelRequest = Type.Object({ note: Type.String({ maxLength: 2000, description: 'why (required)' }) }, { additionalProperties: false });
export const SoundCheckRequested = Type.Object({ commandId: Type.String(), siteId: Type.String() });

export const RepairTimesQuery = Type.Object(
  {
    area: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'area code or key (default: your area, or the whole network)' })),
    from: Type.Integer({ minimum: 0, description: 'alarms raised at or after (epoch ms)' }),
    to: Type.Integer({ minimum: 0, description: 'alarms raised before (epoch ms)' }),
  },
  { additionalProperties: false },
);

const DurationStats = Nullable(Type.Object({ count: Type.Integer(), meanMs: Type.Integer(), medianMs: Type.Integer(), maxMs: Type.Integer() }));
export const RepairTimes = Type.Object({
  from: EpochMs,
  to: EpochMs,
  rows: Type.Array(
    Type.Object({
      communeKey: Nullable(Type.String()),
      kind: AlarmKind,
      alarms: Type.Integer(),
      acknowledge: DurationStats,
      repair: { ...DurationStats, description: 'from the alarm shown to the verified sound check that closed its work order' },
      unrepaired: Type.Integer(),
    }),
  ),
});

/** On the console's event stream: a work order of a site in the reader's area was made or changed. */
export const WorkOrderStreamEvent = Type.Object({
  orderId: Type.Integer(),
  siteId: Type.String(),
  alarmId: Nullable(Type.String()),
  action: WorkOrderAction,
  state: WorkOrderState,
  assignee: Nullable(Type.String()),
  by: Type.String(),
  at: EpochMs,
});
export type WorkOrderStreamEvent = Static<typeof WorkOrderStreamEvent>;
