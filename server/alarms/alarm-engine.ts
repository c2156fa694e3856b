/**
 * The alarms' reducer: one input (with its time) → the effects to carry out,
 * on a state the engine owns. No clock (every input carries its time), no
 * I/O, no ids from chance (they come from a counter in the state). The
 * service (to come) feeds it the fleet's verdicts (FleetState's
 * verdictChanged, and every site's verdict once after a start), the updates
 * service's failed sites, people's acknowledgements and clears, and a tick
 * when `nextDueAt()` says time alone changes something; it persists the
 * effects (alarms and incidents by id, history rows appended), pushes them
 * to the console and hands `notification_due` to the notification rules.
 *
 * Each step costs what it changes, not the size of the fleet: a broker
 * restart takes 30,000 sites offline within a minute, one verdict each, and
 * a step that copied or scanned the state would make that quadratic
 * (minutes of event loop). So the state is mutated in place, and what would
 * need a scan is indexed: when each alarm is next due (due-queue.ts), and
 * the open alarms and incidents that may group, by alarm kind and commune.
 * Alarm and incident objects are never mutated (every transition makes a new
 * one), so an effect handed out stays what it said. A refused action changes
 * nothing.
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
import { DueQueue } from './due-queue.ts';
import { type DampingPolicy, dueAction, isHeld, nextDueAt as alarmDueAt, type SiteLiveness } from './flap-damping.ts';
import { childChanged, communeOf, type Incident, type IncidentPolicy, placeAlarm } from './incidents.ts';
import type { AlarmAreaSummary } from './area-summary.ts';
import {
  ALARM_KINDS,
  type Alarm,
  type AlarmError,
  type AlarmHistoryEvent,
  type AlarmKind,
  type AlarmSeverity,
  type AlarmSite,
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

/** What the engine holds; the engine's `state` is a read-only view of its own, live (not a copy). */
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
  effects: AlarmEffect[];
  /** A person's action that was refused (nothing changed then). */
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

const KIND_SLOTS = ALARM_KINDS.length;
const KIND_NUMBER = Object.fromEntries(ALARM_KINDS.map((k, i) => [k, i])) as Record<AlarmKind, number>;

/** A site with no verdict since the start: its restored alarms wait. */
const UNKNOWN: SiteLiveness = { state: 'unknown' };

/** Keep an area summary in step with the engine's effects. */
export function applyToSummary(summary: AlarmAreaSummary, effects: readonly AlarmEffect[]): void {
  for (const e of effects) {
    if (e.type === 'alarm_dropped') summary.remove(e.alarm.id);
    else if (e.type === 'alarm_pending' || e.type === 'alarm_raised' || e.type === 'alarm_updated' || e.type === 'alarm_cleared') summary.upsert(e.alarm);
  }
}

export class AlarmEngine {
  private readonly open = new Map<string, Alarm>();
  private readonly keyOfId = new Map<string, string>();
  private readonly incidents = new Map<string, Incident>();
  private readonly sites = new Map<string, SiteEntry>();
  private seq: number;
  private readonly view: AlarmEngineState;

  private readonly due = new DueQueue();
  /** Open alarms of kinds that group into incidents, by bucket (kind and commune, see bucket()); and the bucket each is in. */
  private readonly groupable = new Map<number, Set<string>>();
  private readonly bucketOfKey = new Map<string, number>();
  /** Open incidents by bucket. */
  private readonly incidentsOfBucket = new Map<number, Set<string>>();
  /** Each site's open alarms by kind: a verdict looks up its site's few, not a key per kind built and hashed. */
  private readonly ofSite = new Map<string, Map<AlarmKind, Alarm>>();

  // What the step in progress did.
  private at = 0;
  private effects: AlarmEffect[] = [];
  private readonly touched = new Set<string>();

  /** Takes `state` over (an empty one, or restoreAlarmState's): the engine mutates it from now on. */
  constructor(
    private ctx: AlarmEngineContext,
    state: AlarmEngineState = emptyAlarmState(),
  ) {
    for (const [k, a] of state.open) this.open.set(k, a);
    for (const [id, k] of state.keyOfId) this.keyOfId.set(id, k);
    for (const [id, i] of state.incidents) this.incidents.set(id, i);
    for (const [id, s] of state.sites) this.sites.set(id, s);
    this.seq = state.seq;
    const self = this;
    this.view = {
      open: this.open,
      keyOfId: this.keyOfId,
      incidents: this.incidents,
      sites: this.sites,
      get seq() {
        return self.seq;
      },
    };
    this.reindex();
  }

  /** The engine's state, read-only and live: it changes with every step. */
  get state(): AlarmEngineState {
    return this.view;
  }

  /** The area tree or a policy changed: the indexes that depend on them are rebuilt (O(open alarms)). */
  setContext(ctx: AlarmEngineContext): void {
    this.ctx = ctx;
    this.reindex();
  }

  /** The earliest time at which a tick changes something, or null: the service sets its one timer to it. */
  nextDueAt(): number | null {
    return this.due.peek();
  }

  /** The one reducer. */
  step(input: AlarmInput): StepResult {
    this.at = input.at;
    this.effects = [];
    this.touched.clear();
    switch (input.type) {
      case 'verdict': {
        const prev = this.sites.get(input.site.siteId);
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
        this.sites.set(input.site.siteId, { site: input.site, verdict: input.verdict, external: prev?.external ?? [], liveness });
        this.reconcile(input.site.siteId);
        break;
      }
      case 'external_faults': {
        const prev = this.sites.get(input.site.siteId);
        this.sites.set(input.site.siteId, { site: input.site, verdict: prev?.verdict ?? null, external: input.faults, liveness: prev?.liveness ?? UNKNOWN });
        this.reconcile(input.site.siteId);
        break;
      }
      case 'acknowledge': {
        const a = this.byId(input.alarmId);
        if (!a) return { effects: [], rejected: { code: 'ALARM_NOT_FOUND', alarmId: input.alarmId } };
        const r = acknowledge(a, input.at, input.by, input.note);
        if (!r.ok) return { effects: [], rejected: r.error };
        this.commit(a, r.value);
        break;
      }
      case 'clear': {
        const a = this.byId(input.alarmId);
        if (!a) return { effects: [], rejected: { code: 'ALARM_NOT_FOUND', alarmId: input.alarmId } };
        const seen = a.active && !isHeld(a, this.liveness(a.siteId));
        const r = clearByHand(a, input.at, input.by, input.note, seen);
        if (!r.ok) return { effects: [], rejected: r.error };
        this.commit(a, r.value);
        break;
      }
      case 'site_removed': {
        for (const a0 of this.alarmsOfSite(input.siteId)) {
          const a = this.open.get(a0.key)!;
          if (a.state === 'pending') this.drop(a);
          else this.commit(a, clearAutomatically(a, input.at, 'site_removed'));
        }
        this.sites.delete(input.siteId);
        break;
      }
      case 'tick':
        // Only the alarms due by now, earliest first; read afresh: showing one alarm can put others into its new incident.
        for (const key of this.due.takeDue(input.at)) {
          this.touched.add(key);
          const a = this.open.get(key);
          if (a) this.runDue(a);
        }
        break;
      default: {
        const never: never = input;
        throw new Error(`unknown alarm input ${(never as { type: string }).type}`);
      }
    }
    for (const key of this.touched) {
      const a = this.open.get(key);
      this.due.set(key, a ? alarmDueAt(a, this.liveness(a.siteId), this.ctx.damping) : null);
    }
    this.touched.clear();
    const effects = this.effects;
    this.effects = [];
    return { effects, rejected: null };
  }

  // ------------------------------------------------------------ indexes ----

  private reindex(): void {
    this.groupable.clear();
    this.bucketOfKey.clear();
    this.incidentsOfBucket.clear();
    this.ofSite.clear();
    for (const a of this.open.values()) {
      this.index(a);
      this.siteIndex(a);
      this.due.set(a.key, alarmDueAt(a, this.liveness(a.siteId), this.ctx.damping));
    }
    for (const i of this.incidents.values()) this.indexIncident(i);
  }

  /** Kind and commune as one number (a small integer is the cheapest map key), or null: a kind that does not group, an area in no commune. */
  private bucket(kind: AlarmKind, areaId: number): number | null {
    if (!this.ctx.incidents.kinds[kind]) return null;
    const c = communeOf(areaId, this.ctx.index);
    return c === null ? null : c * KIND_SLOTS + KIND_NUMBER[kind];
  }

  private index(a: Alarm): void {
    const b = this.bucket(a.kind, a.areaId);
    const was = this.bucketOfKey.get(a.key);
    if (was === b) return;
    if (was !== undefined) this.unindex(a.key);
    if (b === null) return;
    let set = this.groupable.get(b);
    if (!set) this.groupable.set(b, (set = new Set()));
    set.add(a.key);
    this.bucketOfKey.set(a.key, b);
  }

  private unindex(key: string): void {
    const b = this.bucketOfKey.get(key);
    if (b === undefined) return;
    const set = this.groupable.get(b)!;
    set.delete(key);
    if (set.size === 0) this.groupable.delete(b);
    this.bucketOfKey.delete(key);
  }

  private indexIncident(i: Incident): void {
    const b = i.areaId * KIND_SLOTS + KIND_NUMBER[i.alarmKind];
    let set = this.incidentsOfBucket.get(b);
    if (!set) this.incidentsOfBucket.set(b, (set = new Set()));
    set.add(i.id);
  }

  private unindexIncident(i: Incident): void {
    const b = i.areaId * KIND_SLOTS + KIND_NUMBER[i.alarmKind];
    const set = this.incidentsOfBucket.get(b);
    if (!set) return;
    set.delete(i.id);
    if (set.size === 0) this.incidentsOfBucket.delete(b);
  }

  private siteIndex(a: Alarm): void {
    let m = this.ofSite.get(a.siteId);
    if (!m) this.ofSite.set(a.siteId, (m = new Map()));
    m.set(a.kind, a);
  }

  private putAlarm(a: Alarm): void {
    this.open.set(a.key, a);
    this.keyOfId.set(a.id, a.key);
    this.index(a);
    this.siteIndex(a);
    this.touched.add(a.key);
  }

  private removeAlarm(a: Alarm): void {
    this.open.delete(a.key);
    this.keyOfId.delete(a.id);
    this.unindex(a.key);
    const m = this.ofSite.get(a.siteId);
    if (m?.delete(a.kind) && m.size === 0) this.ofSite.delete(a.siteId);
    this.touched.add(a.key);
  }

  private putIncident(i: Incident): void {
    if (!this.incidents.has(i.id)) this.indexIncident(i);
    this.incidents.set(i.id, i);
  }

  private removeIncident(i: Incident): void {
    this.incidents.delete(i.id);
    this.unindexIncident(i);
  }

  // ---------------------------------------------------------- transitions ----

  private byId(id: string): Alarm | undefined {
    const key = this.keyOfId.get(id);
    return key === undefined ? undefined : this.open.get(key);
  }

  private liveness(siteId: string): SiteLiveness {
    return this.sites.get(siteId)?.liveness ?? UNKNOWN;
  }

  /** In ALARM_KINDS order, so that what a step does never depends on the order alarms were opened in. */
  private alarmsOfSite(siteId: string): Alarm[] {
    const m = this.ofSite.get(siteId);
    if (!m) return [];
    const out: Alarm[] = [];
    for (const k of ALARM_KINDS) {
      const a = m.get(k);
      if (a) out.push(a);
    }
    return out;
  }

  /** Bring a site's alarms in line with its verdict and external faults. */
  private reconcile(siteId: string): void {
    const entry = this.sites.get(siteId)!;
    const verdict = entry.verdict ?? { siteId, condition: 'unverified' as const, reasons: [] };
    const wanted = wantedAlarms(entry.site.kind, verdict, entry.external);
    if (wanted.size === 0 && !this.ofSite.has(siteId)) return;
    for (const kind of ALARM_KINDS) {
      // Without a verdict yet, the verdict-fed alarms are unknown, not absent.
      if (entry.verdict === null && !EXTERNAL_ALARM_KINDS.has(kind)) continue;
      // Read afresh: a step may have opened or closed an alarm of this site.
      const a = this.ofSite.get(siteId)?.get(kind);
      const w = wanted.get(kind);
      if (a) {
        // The site's liveness may have changed: its alarms' due times with it.
        this.touched.add(a.key);
        this.follow(a, entry, w);
      } else if (w) this.detect(entry, w);
    }
  }

  /** Run what time has made due for this alarm now. */
  private runDue(a: Alarm): void {
    const action = dueAction(a, this.liveness(a.siteId), this.at, this.ctx.damping);
    if (action === 'surface') {
      const r = surface(a, this.at);
      if (r.ok) this.commit(a, r.value);
    } else if (action === 'clear') this.commit(a, clearAutomatically(a, this.at, 'condition_cleared'));
    else if (action === 'drop') this.drop(a);
  }

  private drop(a: Alarm): void {
    this.removeAlarm(a);
    this.effects.push({ type: 'alarm_dropped', alarm: a });
  }

  /**
   * Record a transition of `prev`: the alarm in the state (or out of it when
   * cleared), its effect, its history, its incident; a raised alarm finds
   * its incident and is due for notification.
   */
  private commit(prev: Alarm, t: Transition, severityRaised = false): void {
    let next = t.alarm;
    const raisedNow = prev.state === 'pending' && next.state === 'raised';
    if (raisedNow) next = this.place(next);
    if (next.state === 'cleared') this.removeAlarm(next);
    else this.putAlarm(next);
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
    this.putAlarm(a);
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

  /**
   * A just-raised alarm joins or opens an incident when it groups; the other
   * alarms of a new incident get its id. Only the alarms and incidents of
   * its kind and commune are looked at (placeAlarm filters on both anyway).
   */
  private place(a: Alarm): Alarm {
    const b = this.bucket(a.kind, a.areaId);
    if (b === null) return a;
    const p = placeAlarm(a, this.at, present(this.groupable.get(b), this.open), present(this.incidentsOfBucket.get(b), this.incidents), this.ctx.index, this.ctx.incidents, () =>
      this.nextId('in'),
    );
    if (!p) return a;
    this.putIncident(p.incident);
    this.effects.push({ type: p.type === 'opened' ? 'incident_opened' : 'incident_updated', incident: p.incident });
    let self = a;
    for (const m of p.alarms) {
      if (m.id === a.id) {
        self = m;
        continue;
      }
      this.putAlarm(m);
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
      this.removeIncident(next);
      this.effects.push({ type: 'incident_resolved', incident: next });
    } else {
      this.putIncident(next);
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

/** The values of `map` under `keys` (none when there are no keys). */
function* present<V>(keys: Iterable<string> | undefined, map: ReadonlyMap<string, V>): Generator<V> {
  if (!keys) return;
  for (const k of keys) {
    const v = map.get(k);
    if (v !== undefined) yield v;
  }
}
