/**
 * The alarms' reducer: (the previous state, one input) → the new state and
 * the effects to carry out. Pure: no clock (every input carries its time),
 * no I/O, no ids from chance (they come from a counter in the state). The
 * service (to come) feeds it the fleet's verdicts, the updates service's
 * failed sites, people's acknowledgements and clears, and a tick when
 * `nextDueAt` says time alone changes something; it persists the effects
 * (alarms and incidents by id, history rows appended), pushes them to the
 * console and hands `notification_due` to the notification rules.
 *
 * The pieces it ties: alarm-rules.ts (verdict → wanted alarms),
 * alarm-lifecycle.ts (one alarm's transitions), flap-damping.ts (when time
 * shows, clears or drops an alarm), incidents.ts (grouping). The area
 * summary (area-summary.ts) follows the effects: `applyToSummary`.
 *
 * Invariants: at most one open alarm per key (the open alarms are kept by
 * key); an alarm leaves the state when cleared or dropped, an incident when
 * resolved; a site's verdict-fed alarms are not touched by anything but its
 * verdict (an alarm restored from the store waits for its site's first
 * verdict after a restart).
 */
import type { SiteVerdict } from '../coverage/model.ts';
import type { AreaIndex } from '../coverage/coverage.ts';
import { type WantedAlarm, wantedAlarms } from './alarm-rules.ts';
import { acknowledge, clearAutomatically, clearByHand, faultAbsent, faultPresent, followSite, openAlarm, surface, type Transition } from './alarm-lifecycle.ts';
import { type DampingPolicy, dueAction, isHeld, nextDueAt as alarmDueAt, type SiteLiveness } from './flap-damping.ts';
import { childChanged, type Incident, type IncidentPolicy, placeAlarm } from './incidents.ts';
import type { AlarmAreaSummary } from './area-summary.ts';
import {
  ALARM_KINDS,
  type Alarm,
  type AlarmError,
  type AlarmHistoryEvent,
  type AlarmKind,
  type AlarmSeverity,
  type AlarmSite,
  alarmKey,
  EXTERNAL_ALARM_KINDS,
  type ExternalFault,
} from './model.ts';

export interface AlarmEngineContext {
  index: AreaIndex;
  damping: DampingPolicy;
  incidents: IncidentPolicy;
}

/** What the engine remembers of a site. */
export interface SiteEntry {
  site: AlarmSite;
  /** The last verdict; null until the first one (then the verdict-fed alarms are left as they are). */
  verdict: SiteVerdict | null;
  external: readonly ExternalFault[];
  liveness: SiteLiveness;
}

export interface AlarmEngineState {
  /** Open alarms (pending, raised, acknowledged) by key. */
  readonly open: ReadonlyMap<string, Alarm>;
  readonly keyOfId: ReadonlyMap<string, string>;
  /** Open incidents by id. */
  readonly incidents: ReadonlyMap<string, Incident>;
  readonly sites: ReadonlyMap<string, SiteEntry>;
  /** The last number used in an id. */
  readonly seq: number;
}

export type AlarmInput =
  /** The fleet's verdict of a site (every change of it; the first after a start too). */
  | { type: 'verdict'; at: number; site: AlarmSite; verdict: SiteVerdict }
  /** The faults of a site the verdict does not carry, all of them (an empty list: none any more). */
  | { type: 'external_faults'; at: number; site: AlarmSite; faults: ExternalFault[] }
  | { type: 'acknowledge'; at: number; alarmId: string; by: string; note?: string | null }
  | { type: 'clear'; at: number; alarmId: string; by: string; note: string }
  | { type: 'site_removed'; at: number; siteId: string }
  | { type: 'tick'; at: number };

export type NotificationCause = 'raised' | 'severity_raised';

export type AlarmEffect =
  /** A fault seen, not yet shown: keep it (a restart keeps counting its delay), show it nowhere. */
  | { type: 'alarm_pending'; alarm: Alarm }
  /** A pending alarm whose fault went away before it showed: forget it. */
  | { type: 'alarm_dropped'; alarm: Alarm }
  | { type: 'alarm_raised'; alarm: Alarm }
  | { type: 'alarm_updated'; alarm: Alarm }
  | { type: 'alarm_cleared'; alarm: Alarm }
  | { type: 'history'; event: AlarmHistoryEvent }
  | { type: 'incident_opened'; incident: Incident }
  | { type: 'incident_updated'; incident: Incident }
  | { type: 'incident_resolved'; incident: Incident }
  /** The notification rules decide who is told, and when (their delay counts from now). */
  | {
      type: 'notification_due';
      alarmId: string;
      siteId: string;
      areaId: number;
      kind: AlarmKind;
      severity: AlarmSeverity;
      incidentId: string | null;
      cause: NotificationCause;
      at: number;
    };

export interface StepResult {
  state: AlarmEngineState;
  effects: AlarmEffect[];
  /** A person's action that was refused (the state is unchanged then). */
  rejected: AlarmError | null;
}

export function emptyAlarmState(): AlarmEngineState {
  return { open: new Map(), keyOfId: new Map(), incidents: new Map(), sites: new Map(), seq: 0 };
}

/** The state after a restart, from the stored open alarms and incidents and the highest id number used. */
export function restoreAlarmState(open: Iterable<Alarm>, incidents: Iterable<Incident>, seq: number): AlarmEngineState {
  const o = new Map<string, Alarm>();
  const k = new Map<string, string>();
  for (const a of open) {
    if (a.state === 'cleared') continue;
    o.set(a.key, a);
    k.set(a.id, a.key);
  }
  const inc = new Map<string, Incident>();
  for (const i of incidents) if (i.state === 'open') inc.set(i.id, i);
  return { open: o, keyOfId: k, incidents: inc, sites: new Map(), seq };
}

/** A site with no verdict since the start: its restored alarms wait. */
const UNKNOWN: SiteLiveness = { state: 'unknown' };

/** The earliest time at which a tick changes something, or null: the service sets its one timer to it. */
export function nextDueAt(state: AlarmEngineState, ctx: AlarmEngineContext): number | null {
  let next: number | null = null;
  for (const a of state.open.values()) {
    const t = alarmDueAt(a, state.sites.get(a.siteId)?.liveness ?? UNKNOWN, ctx.damping);
    if (t !== null && (next === null || t < next)) next = t;
  }
  return next;
}

/** Keep an area summary in step with the engine's effects. */
export function applyToSummary(summary: AlarmAreaSummary, effects: readonly AlarmEffect[]): void {
  for (const e of effects) {
    if (e.type === 'alarm_dropped') summary.remove(e.alarm.id);
    else if (e.type === 'alarm_pending' || e.type === 'alarm_raised' || e.type === 'alarm_updated' || e.type === 'alarm_cleared') summary.upsert(e.alarm);
  }
}

/** The one reducer. */
export function step(state: AlarmEngineState, input: AlarmInput, ctx: AlarmEngineContext): StepResult {
  const d = new Draft(state, ctx, input.at);
  switch (input.type) {
    case 'verdict': {
      const prev = d.sites.get(input.site.siteId);
      const offline = input.verdict.condition === 'offline';
      // Back from offline: online since now. First seen online (also after a restart): since a time not known.
      const was = prev?.liveness;
      const liveness: SiteLiveness = offline
        ? { state: 'offline' }
        : was?.state === 'offline'
          ? { state: 'online', since: input.at }
          : was?.state === 'online'
            ? was
            : { state: 'online', since: null };
      d.sites.set(input.site.siteId, { site: input.site, verdict: input.verdict, external: prev?.external ?? [], liveness });
      d.reconcile(input.site.siteId);
      break;
    }
    case 'external_faults': {
      const prev = d.sites.get(input.site.siteId);
      d.sites.set(input.site.siteId, { site: input.site, verdict: prev?.verdict ?? null, external: input.faults, liveness: prev?.liveness ?? UNKNOWN });
      d.reconcile(input.site.siteId);
      break;
    }
    case 'acknowledge': {
      const a = d.byId(input.alarmId);
      if (!a) return { state, effects: [], rejected: { code: 'ALARM_NOT_FOUND', alarmId: input.alarmId } };
      const r = acknowledge(a, input.at, input.by, input.note);
      if (!r.ok) return { state, effects: [], rejected: r.error };
      d.commit(a, r.value);
      break;
    }
    case 'clear': {
      const a = d.byId(input.alarmId);
      if (!a) return { state, effects: [], rejected: { code: 'ALARM_NOT_FOUND', alarmId: input.alarmId } };
      const seen = a.active && !isHeld(a, d.liveness(a.siteId));
      const r = clearByHand(a, input.at, input.by, input.note, seen);
      if (!r.ok) return { state, effects: [], rejected: r.error };
      d.commit(a, r.value);
      break;
    }
    case 'site_removed': {
      for (const a0 of d.alarmsOfSite(input.siteId)) {
        const a = d.open.get(a0.key)!;
        if (a.state === 'pending') d.drop(a);
        else d.commit(a, clearAutomatically(a, input.at, 'site_removed'));
      }
      d.sites.delete(input.siteId);
      break;
    }
    case 'tick':
      // By key, read afresh: showing one alarm can put others into its new incident.
      for (const key of [...d.open.keys()]) {
        const a = d.open.get(key);
        if (a) d.runDue(a);
      }
      break;
    default: {
      const never: never = input;
      throw new Error(`unknown alarm input ${(never as { type: string }).type}`);
    }
  }
  return { state: d.finish(), effects: d.effects, rejected: null };
}

// ---------------------------------------------------------------- draft ----

/** A map copied on its first write, so a step that changes nothing copies nothing. */
class CowMap<K, V> {
  private own: Map<K, V> | null = null;
  constructor(private base: ReadonlyMap<K, V>) {}
  get(k: K): V | undefined {
    return (this.own ?? this.base).get(k);
  }
  set(k: K, v: V): void {
    this.write().set(k, v);
  }
  delete(k: K): void {
    if ((this.own ?? this.base).has(k)) this.write().delete(k);
  }
  values(): IterableIterator<V> {
    return (this.own ?? this.base).values();
  }
  keys(): IterableIterator<K> {
    return (this.own ?? this.base).keys();
  }
  result(): ReadonlyMap<K, V> {
    return this.own ?? this.base;
  }
  private write(): Map<K, V> {
    if (!this.own) this.own = new Map(this.base);
    return this.own;
  }
}

class Draft {
  readonly open: CowMap<string, Alarm>;
  readonly keyOfId: CowMap<string, string>;
  readonly incidents: CowMap<string, Incident>;
  readonly sites: CowMap<string, SiteEntry>;
  readonly effects: AlarmEffect[] = [];
  private seq: number;

  constructor(
    state: AlarmEngineState,
    private readonly ctx: AlarmEngineContext,
    private readonly at: number,
  ) {
    this.open = new CowMap(state.open);
    this.keyOfId = new CowMap(state.keyOfId);
    this.incidents = new CowMap(state.incidents);
    this.sites = new CowMap(state.sites);
    this.seq = state.seq;
  }

  finish(): AlarmEngineState {
    return { open: this.open.result(), keyOfId: this.keyOfId.result(), incidents: this.incidents.result(), sites: this.sites.result(), seq: this.seq };
  }

  byId(id: string): Alarm | undefined {
    const key = this.keyOfId.get(id);
    return key === undefined ? undefined : this.open.get(key);
  }

  liveness(siteId: string): SiteLiveness {
    return this.sites.get(siteId)?.liveness ?? UNKNOWN;
  }

  alarmsOfSite(siteId: string): Alarm[] {
    const out: Alarm[] = [];
    for (const k of ALARM_KINDS) {
      const a = this.open.get(alarmKey(siteId, k));
      if (a) out.push(a);
    }
    return out;
  }

  /** Bring a site's alarms in line with its verdict and external faults. */
  reconcile(siteId: string): void {
    const entry = this.sites.get(siteId)!;
    const verdict = entry.verdict ?? { siteId, condition: 'unverified' as const, reasons: [] };
    const wanted = wantedAlarms(entry.site.kind, verdict, entry.external);
    for (const kind of ALARM_KINDS) {
      // Without a verdict yet, the verdict-fed alarms are unknown, not absent.
      if (entry.verdict === null && !EXTERNAL_ALARM_KINDS.has(kind)) continue;
      const key = alarmKey(siteId, kind);
      const a = this.open.get(key);
      const w = wanted.get(kind);
      if (a) this.follow(a, entry, w);
      else if (w) this.detect(entry, w);
    }
  }

  /** Run what time has made due for this alarm now. */
  runDue(a: Alarm): void {
    const action = dueAction(a, this.liveness(a.siteId), this.at, this.ctx.damping);
    if (action === 'surface') {
      const r = surface(a, this.at);
      if (r.ok) this.commit(a, r.value);
    } else if (action === 'clear') this.commit(a, clearAutomatically(a, this.at, 'condition_cleared'));
    else if (action === 'drop') this.drop(a);
  }

  drop(a: Alarm): void {
    this.open.delete(a.key);
    this.keyOfId.delete(a.id);
    this.effects.push({ type: 'alarm_dropped', alarm: a });
  }

  /**
   * Record a transition of `prev`: the alarm in the state (or out of it when
   * cleared), its effect, its history, its incident; a raised alarm finds
   * its incident and is due for notification.
   */
  commit(prev: Alarm, t: Transition, severityRaised = false): void {
    let next = t.alarm;
    const raisedNow = prev.state === 'pending' && next.state === 'raised';
    if (raisedNow) next = this.place(next);
    if (next.state === 'cleared') {
      this.open.delete(next.key);
      this.keyOfId.delete(next.id);
    } else {
      this.open.set(next.key, next);
      this.keyOfId.set(next.id, next.key);
    }
    if (next !== prev) {
      const type = next.state === 'pending' ? 'alarm_pending' : raisedNow ? 'alarm_raised' : next.state === 'cleared' ? 'alarm_cleared' : 'alarm_updated';
      this.effects.push({ type, alarm: next });
    }
    for (const event of t.history) this.effects.push({ type: 'history', event });
    if (raisedNow) this.notify(next, 'raised');
    else if (severityRaised) this.notify(next, 'severity_raised');
    if (next.incidentId !== null && !raisedNow) this.childChanged(next);
  }

  private detect(entry: SiteEntry, w: WantedAlarm): void {
    const a = openAlarm(this.nextId('al'), entry.site, w, this.at);
    this.open.set(a.key, a);
    this.keyOfId.set(a.id, a.key);
    const before = this.effects.length;
    this.runDue(a);
    // Shown at once (no pending delay): the raise says it all. Else it waits, and is kept as pending.
    if (this.effects.length === before) this.effects.push({ type: 'alarm_pending', alarm: a });
  }

  private follow(a0: Alarm, entry: SiteEntry, w: WantedAlarm | undefined): void {
    const a = followSite(a0, entry.site);
    let t: Transition = { alarm: a, history: [] };
    let severityRaised = false;
    if (w) {
      const p = faultPresent(a, this.at, w);
      t = p;
      severityRaised = p.severityRaised;
    } else if (!isHeld(a, entry.liveness)) {
      t = { alarm: faultAbsent(a, this.at), history: [] };
    }
    this.commit(a0, t, severityRaised);
    // The return of a pending alarm's fault may be what shows it; a hold-down may already be over (a zero hold-down).
    const now = this.open.get(a0.key);
    if (now) this.runDue(now);
  }

  /** A just-raised alarm joins or opens an incident when it groups; the other alarms of a new incident get its id. */
  private place(a: Alarm): Alarm {
    const p = placeAlarm(a, this.at, this.open.values(), this.incidents.values(), this.ctx.index, this.ctx.incidents, () => this.nextId('in'));
    if (!p) return a;
    this.incidents.set(p.incident.id, p.incident);
    this.effects.push({ type: p.type === 'opened' ? 'incident_opened' : 'incident_updated', incident: p.incident });
    let self = a;
    for (const m of p.alarms) {
      if (m.id === a.id) {
        self = m;
        continue;
      }
      this.open.set(m.key, m);
      this.effects.push({ type: 'alarm_updated', alarm: m });
    }
    return self;
  }

  private childChanged(a: Alarm): void {
    const inc = this.incidents.get(a.incidentId!);
    if (!inc) return;
    const next = childChanged(inc, a, this.at, this.ctx.incidents);
    if (next === inc) return;
    if (next.state === 'resolved') {
      this.incidents.delete(next.id);
      this.effects.push({ type: 'incident_resolved', incident: next });
    } else {
      this.incidents.set(next.id, next);
      this.effects.push({ type: 'incident_updated', incident: next });
    }
  }

  private notify(a: Alarm, cause: NotificationCause): void {
    this.effects.push({
      type: 'notification_due',
      alarmId: a.id,
      siteId: a.siteId,
      areaId: a.areaId,
      kind: a.kind,
      severity: a.severity,
      incidentId: a.incidentId,
      cause,
      at: this.at,
    });
  }

  private nextId(prefix: 'al' | 'in'): string {
    this.seq += 1;
    return `${prefix}-${this.seq}`;
  }
}
