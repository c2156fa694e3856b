/**
 * Incidents: many alarms with one cause shown as one thing. A commune whose
 * link is cut takes its station and its villages' clusters offline together;
 * a grid outage puts them all on battery together. The technician has one
 * thing to fix, and should see one incident with its children, not a page
 * of alarms. Pure: the alarms and the area tree in, the incident out.
 *
 * Grouping: an alarm of a kind that has a shared cause (offline: a cut;
 * power: an outage) groups with the alarms of the same kind of sites under the
 * same commune (the nearest area of level 'commune' at or above the site's
 * area: the commune's station stands in the commune, its clusters in its
 * villages) when they were raised within `windowMs` of each other:
 *
 *  - an open incident of that commune and kind whose last child joined
 *    within the window takes the new alarm as a child (a sliding window: a
 *    cut detected site by site keeps joining);
 *  - else, when the new alarm and the open, ungrouped alarms of the commune
 *    and kind raised within the window are at least `minMembers`, they open
 *    an incident together.
 *
 * The root of an incident is the commune station's alarm when it is a child:
 * the console shows the station with its villages below it.
 *
 * Severity: the worst of its children's, one level worse when at least
 * `escalateAtMembers` sites are in it (three villages silent at once is a
 * commune-scale failure, which is what critical means; see alarm-rules.ts).
 * An incident is resolved when every child is cleared; a child's clear is
 * the alarm's own (hold-down and all), so a flapping cut stays one incident.
 */
import type { AreaIndex } from '../coverage/coverage.ts';
import type { SiteKind } from '../registry/model.ts';
import { type Alarm, type AlarmKind, type AlarmSeverity, isVisible, oneLevelUp, worseSeverity } from './model.ts';

export type IncidentKind = 'cut' | 'power_outage';

export interface IncidentPolicy {
  /** Alarms of one commune raised within this of each other group (sliding, from the last child that joined). */
  windowMs: number;
  /** Fewest alarms that make an incident (one alone is just an alarm). */
  minMembers: number;
  /** From this many children the incident is one level worse than its worst child. */
  escalateAtMembers: number;
  /** The alarm kinds that group, and the incident kind they make. */
  kinds: Partial<Record<AlarmKind, IncidentKind>>;
}

/**
 * windowMs 3 min: sites cut at the same moment are seen offline at different
 * times. The broker's last will is seen within 1.5 keep-alives; a silent site
 * after two missed heartbeats (60 s) plus up to one interval of phase
 * (30 s), plus the fleet's sweep. Three minutes covers that spread twice over
 * while two unrelated faults of one commune rarely fall within it.
 */
export const DEFAULT_INCIDENT_POLICY: IncidentPolicy = {
  windowMs: 3 * 60_000,
  minMembers: 2,
  escalateAtMembers: 3,
  kinds: { site_offline: 'cut', power: 'power_outage' },
};

export interface IncidentMember {
  alarmId: string;
  siteId: string;
  siteKind: SiteKind;
  severity: AlarmSeverity;
  joinedAt: number;
  cleared: boolean;
}

export interface Incident {
  id: string;
  kind: IncidentKind;
  alarmKind: AlarmKind;
  /** The commune (area id) the children stand in. */
  areaId: number;
  /** The commune station's alarm, when it is a child. */
  rootAlarmId: string | null;
  state: 'open' | 'resolved';
  openedAt: number;
  lastJoinedAt: number;
  resolvedAt: number | null;
  severity: AlarmSeverity;
  /** In the order they joined. */
  members: IncidentMember[];
  counts: { members: number; active: number; stations: number; clusters: number };
}

/**
 * Per area tree (an AreaIndex never changes; a new tree is a new index), each
 * area's commune once found: every alarm raised of a grouping kind asks,
 * 30,000 times in a minute when a broker restarts.
 */
const communes = new WeakMap<AreaIndex, Map<number, number | null>>();

/** The commune an area lies in (itself if it is one), or null: an area outside the index, or above communes. */
export function communeOf(areaId: number, index: AreaIndex): number | null {
  let known = communes.get(index);
  if (!known) communes.set(index, (known = new Map()));
  let c = known.get(areaId);
  if (c === undefined) {
    c = findCommune(areaId, index);
    known.set(areaId, c);
  }
  return c;
}

function findCommune(areaId: number, index: AreaIndex): number | null {
  const node = index.byId.get(areaId);
  if (!node || index.tin(areaId) === undefined) return null;
  if (node.level === 'commune') return node.id;
  return index.ancestors(areaId).find((a) => a.level === 'commune')?.id ?? null;
}

const memberOf = (a: Alarm, at: number): IncidentMember => ({
  alarmId: a.id,
  siteId: a.siteId,
  siteKind: a.siteKind,
  severity: a.severity,
  joinedAt: at,
  cleared: a.state === 'cleared',
});

/** The incident with its derived fields (severity, counts, root, state) recomputed from its members. */
function settle(incident: Incident, at: number, policy: IncidentPolicy): Incident {
  const members = incident.members;
  let severity: AlarmSeverity = 'warning';
  let active = 0;
  let stations = 0;
  for (const m of members) {
    severity = worseSeverity(severity, m.severity);
    if (!m.cleared) active++;
    if (m.siteKind === 'station') stations++;
  }
  if (members.length >= policy.escalateAtMembers) severity = oneLevelUp(severity);
  const root = members.find((m) => m.siteKind === 'station')?.alarmId ?? null;
  const resolved = active === 0;
  return {
    ...incident,
    severity,
    rootAlarmId: root,
    counts: { members: members.length, active, stations, clusters: members.length - stations },
    state: resolved ? 'resolved' : 'open',
    resolvedAt: resolved ? (incident.resolvedAt ?? at) : null,
  };
}

export type Placement =
  /** `alarm` joined `incident`. */
  | { type: 'joined'; incident: Incident; alarms: Alarm[] }
  /** `alarms` (the new one among them) opened `incident`. */
  | { type: 'opened'; incident: Incident; alarms: Alarm[] };

/**
 * Where an alarm that was just raised goes: into an open incident, into a new
 * one with the alarms it groups with, or nowhere (null). The alarms returned
 * carry their new incidentId.
 */
export function placeAlarm(
  alarm: Alarm,
  at: number,
  openAlarms: Iterable<Alarm>,
  openIncidents: Iterable<Incident>,
  index: AreaIndex,
  policy: IncidentPolicy,
  newId: () => string,
): Placement | null {
  const kind = policy.kinds[alarm.kind];
  if (!kind || alarm.incidentId !== null || !isVisible(alarm)) return null;
  const commune = communeOf(alarm.areaId, index);
  if (commune === null) return null;

  for (const inc of openIncidents) {
    if (inc.state !== 'open' || inc.alarmKind !== alarm.kind || inc.areaId !== commune || at - inc.lastJoinedAt > policy.windowMs) continue;
    const joined = { ...alarm, incidentId: inc.id };
    const incident = settle({ ...inc, lastJoinedAt: at, members: [...inc.members, memberOf(joined, at)] }, at, policy);
    return { type: 'joined', incident, alarms: [joined] };
  }

  const group: Alarm[] = [alarm];
  for (const other of openAlarms) {
    if (other.id === alarm.id || other.kind !== alarm.kind || other.incidentId !== null || !isVisible(other) || !other.active) continue;
    if (other.raisedAt === null || at - other.raisedAt > policy.windowMs) continue;
    if (communeOf(other.areaId, index) !== commune) continue;
    group.push(other);
  }
  if (group.length < policy.minMembers) return null;
  // Oldest first: the order the cut was seen in.
  group.sort((a, b) => (a.raisedAt ?? at) - (b.raisedAt ?? at) || (a.id < b.id ? -1 : 1));
  const id = newId();
  const alarms = group.map((a) => ({ ...a, incidentId: id }));
  const incident = settle(
    {
      id,
      kind,
      alarmKind: alarm.kind,
      areaId: commune,
      rootAlarmId: null,
      state: 'open',
      openedAt: at,
      lastJoinedAt: at,
      resolvedAt: null,
      severity: alarm.severity,
      members: alarms.map((a) => memberOf(a, at)),
      counts: { members: 0, active: 0, stations: 0, clusters: 0 },
    },
    at,
    policy,
  );
  return { type: 'opened', incident, alarms };
}

/** A child alarm changed (severity, cleared): the incident as it now stands; resolved when no child is left open. Unchanged (same object) when nothing it shows moved. */
export function childChanged(incident: Incident, alarm: Alarm, at: number, policy: IncidentPolicy): Incident {
  const i = incident.members.findIndex((m) => m.alarmId === alarm.id);
  if (i < 0) return incident;
  const m = incident.members[i]!;
  const cleared = alarm.state === 'cleared';
  if (m.severity === alarm.severity && m.cleared === cleared) return incident;
  const members = incident.members.slice();
  members[i] = { ...m, severity: alarm.severity, cleared };
  return settle({ ...incident, members }, at, policy);
}
