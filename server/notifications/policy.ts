/**
 * Who is told of an alarm, and when: the notification rules' reducer. Alarm
 * signals (model.ts AlarmSignal) and ticks in, effects out (tell these users,
 * announce to the outbox, keep or forget a track). No clock (every input
 * carries its time), no I/O; the service persists the effects and runs a
 * tick when `nextDueAt()` says time alone changes something.
 *
 * The decisions:
 * - Delay: a rule's first step is told `delayMs` after the alarm is shown;
 *   an alarm cleared (or acknowledged) before then tells nobody, so a 4G
 *   cluster that drops for 30 s wakes no one.
 * - Escalation: while nobody acknowledges it, the next step is told
 *   `escalateAfterMs` after the one before. A step that reaches nobody (no
 *   such user in the alarm's scope) passes to the next at once: an empty step
 *   must not hold an alarm back for another hour. A step whose people were
 *   all told already (of this alarm, or of its incident) is done, and the
 *   next waits its time as usual.
 * - Quiet hours (the rule's own, else the province's): a tell that falls in
 *   them waits for their end, unless the alarm stops an alert from being
 *   heard (model.ts stopsAlertsBeingHeard).
 * - Scope: only users whose own scope root lies on the alarm's area path
 *   (the area and its ancestors; or network-wide) are candidates, the rule
 *   `withinScope` of server/auth/scope-policy.ts applies, by construction: a
 *   technician of commune A is never a candidate for an alarm in commune B,
 *   whatever a rule names.
 * - Nobody is told twice of one alarm (several rules may name one person),
 *   nor of two alarms of one incident (a commune station cut with its
 *   villages is one page: incidents.ts groups them).
 * - The outbox is told an alarm was raised once it is `announceDelayMs` old
 *   and still open and unowned (the same damping; quiet hours do not apply
 *   to machines), then of its acknowledgement and clear, and only then.
 *
 * Cost per input is what it touches, not the size of the fleet or of the
 * rules: rules and users are indexed by area, an alarm's candidates are the
 * ones on its area path (depth ≤ 4), and due times sit in a min-heap.
 */
import { DueQueue } from '../alarms/due-queue.ts';
import { SEVERITY_RANK } from '../alarms/model.ts';
import { zoneOffsetMs } from '../time/zone.ts';
import {
  type AlarmRef,
  type AlarmSignal,
  type AlarmTrack,
  type NotificationEffect,
  type NotificationRule,
  type QuietHours,
  type Recipient,
  type RuleProgress,
  DEFAULT_QUIET_HOURS,
  stopsAlertsBeingHeard,
} from './model.ts';

/** The area tree as the rules see it. */
export interface AreaPaths {
  /** The area and its ancestors' ids (coverage's areaPath); an unknown area: just itself. */
  path(areaId: number): readonly number[];
}

export interface PolicyOptions {
  quietHours: QuietHours | null;
  /** How old an unowned alarm is when the outbox is told (default 60 s). */
  announceDelayMs: number;
}

export const DEFAULT_ANNOUNCE_DELAY_MS = 60_000;

const MINUTE = 60_000;
const DAY = 86_400_000;

/** When the quiet hours that hold `at` end, or null when `at` is outside them. */
export function quietEndsAt(at: number, q: QuietHours): number | null {
  if (q.startMinute === q.endMinute) return null;
  const offset = zoneOffsetMs(at, q.timeZone);
  const local = at + offset;
  const dayStart = Math.floor(local / DAY) * DAY;
  const minute = (local - dayStart) / MINUTE;
  const inside = q.startMinute < q.endMinute ? minute >= q.startMinute && minute < q.endMinute : minute >= q.startMinute || minute < q.endMinute;
  if (!inside) return null;
  let end = dayStart + q.endMinute * MINUTE;
  if (end <= local) end += DAY;
  // The offset at `at`: Asia/Ho_Chi_Minh has no DST; elsewhere a night that changes clocks ends an hour off, which is harmless.
  return end - offset;
}

type AreaKey = number | null;

export class NotificationPolicy {
  private readonly rulesByArea = new Map<AreaKey, NotificationRule[]>();
  private readonly rulesById = new Map<number, NotificationRule>();
  private readonly usersByArea = new Map<AreaKey, Recipient[]>();
  private readonly tracks = new Map<string, AlarmTrack>();
  /** The tracked alarms of each incident. */
  private readonly byIncident = new Map<string, Set<string>>();
  private readonly due = new DueQueue();

  constructor(
    private readonly tree: AreaPaths,
    private readonly options: PolicyOptions,
  ) {}

  /** All the rules (after a change by an admin: rare, so a rebuild). */
  setRules(rules: readonly NotificationRule[]): void {
    this.rulesByArea.clear();
    this.rulesById.clear();
    for (const r of rules) {
      this.rulesById.set(r.id, r);
      push(this.rulesByArea, r.areaId, r);
    }
  }

  /** Every enabled user (after a change of users: rare, so a rebuild). */
  setRecipients(users: readonly Recipient[]): void {
    this.usersByArea.clear();
    for (const u of [...users].sort((a, b) => a.id - b.id)) push(this.usersByArea, u.areaId, u);
  }

  /**
   * The tracks kept in the store, at start (before any signal): they replace
   * what it followed, so a server that stood by while another told people
   * takes the store's tracks back, not its own of a term ago.
   */
  restore(tracks: Iterable<AlarmTrack>): void {
    for (const t of [...this.tracks.values()]) this.forget(t);
    for (const t of tracks) this.keep(t);
  }

  /** What it remembers of an alarm (tests, the service's reads). */
  track(alarmId: string): AlarmTrack | undefined {
    return this.tracks.get(alarmId);
  }

  get openTracks(): number {
    return this.tracks.size;
  }

  /** The alarms it follows, with whether it knows them acknowledged (the service checks them against the alarms). */
  tracked(): Array<{ alarmId: string; acknowledged: boolean }> {
    return [...this.tracks.values()].map((t) => ({ alarmId: t.alarm.alarmId, acknowledged: t.acknowledged }));
  }

  /** When time alone next changes something (run `tick` then), or null. */
  nextDueAt(): number | null {
    return this.due.peek();
  }

  step(signal: AlarmSignal): NotificationEffect[] {
    switch (signal.type) {
      case 'alarm_due':
        return this.alarmDue(signal.alarm, signal.cause, signal.at);
      case 'alarm_acknowledged': {
        const t = this.tracks.get(signal.alarmId);
        if (!t || t.acknowledged) return [];
        const next: AlarmTrack = {
          ...t,
          acknowledged: true,
          // Owned: no further step, and no webhook for an alarm someone took before it was announced.
          rules: t.rules.map((r) => ({ ...r, baseAt: null, dueAt: null })),
          announceAt: null,
        };
        const out: NotificationEffect[] = [];
        if (t.announced) out.push({ type: 'announce', at: signal.at, alarm: t.alarm, event: 'alarm.acknowledged', by: signal.by, note: signal.note });
        return [...out, ...this.keep(next)];
      }
      case 'alarm_changed': {
        const t = this.tracks.get(signal.alarm.alarmId);
        if (!t || (t.alarm.incidentId === signal.alarm.incidentId && t.alarm.severity === signal.alarm.severity)) return [];
        return this.keep(this.rewake({ ...t, alarm: signal.alarm }));
      }
      case 'alarm_closed': {
        const t = this.tracks.get(signal.alarmId);
        if (!t) return [];
        this.forget(t);
        const out: NotificationEffect[] = [];
        if (t.announced) out.push({ type: 'announce', at: signal.at, alarm: t.alarm, event: 'alarm.cleared', by: signal.by, note: signal.note });
        out.push({ type: 'track_closed', alarmId: signal.alarmId });
        return out;
      }
      default: {
        const never: never = signal;
        throw new Error(`unknown alarm signal ${(never as { type: string }).type}`);
      }
    }
  }

  /** Carries out everything due at or before `now`. */
  tick(now: number): NotificationEffect[] {
    const out: NotificationEffect[] = [];
    for (const alarmId of this.due.takeDue(now)) {
      const t = this.tracks.get(alarmId);
      if (!t) continue;
      let next = t;
      if (t.announceAt !== null && t.announceAt <= now) {
        next = { ...next, announceAt: null, announced: true };
        out.push({ type: 'announce', at: now, alarm: t.alarm, event: 'alarm.raised', by: null, note: null });
      }
      const told = new Set(next.told);
      const rules = next.rules.map((r) => (r.dueAt !== null && r.dueAt <= now ? this.runRule(next, r, told, now, out) : r));
      next = { ...next, rules, told: [...told] };
      out.push(...this.keep(next));
    }
    return out;
  }

  private alarmDue(alarm: AlarmRef, cause: 'raised' | 'severity_raised', at: number): NotificationEffect[] {
    const existing = this.tracks.get(alarm.alarmId);
    if (existing) {
      if (cause !== 'severity_raised') return [];
      const known = new Set(existing.rules.map((r) => r.ruleId));
      // The rules the worse severity now matches start their own delay; those already running go on. An owned alarm tells nobody new.
      const added = existing.acknowledged ? [] : this.matching(alarm).filter((r) => !known.has(r.id));
      const next: AlarmTrack = { ...existing, alarm, rules: [...existing.rules, ...added.map((r) => this.progress(r, alarm, at, cause))] };
      return this.keep(this.rewake(next));
    }
    const track: AlarmTrack = {
      alarm,
      rules: this.matching(alarm).map((r) => this.progress(r, alarm, at, cause)),
      told: [],
      announceAt: at + this.options.announceDelayMs,
      announced: false,
      acknowledged: false,
    };
    return this.keep(track);
  }

  private progress(rule: NotificationRule, alarm: AlarmRef, at: number, cause: 'raised' | 'severity_raised'): RuleProgress {
    return { ruleId: rule.id, nextStep: 0, baseAt: at + rule.delayMs, dueAt: this.wakeAt(at + rule.delayMs, alarm, rule.id), cause };
  }

  /**
   * The due times again from the rules' own times, for an alarm whose
   * severity changed: one that now stops alerts being heard is no longer
   * held for the morning, one that no longer does waits for it.
   */
  private rewake(t: AlarmTrack): AlarmTrack {
    return { ...t, rules: t.rules.map((r) => (r.baseAt === null ? r : { ...r, dueAt: this.wakeAt(r.baseAt, t.alarm, r.ruleId) })) };
  }

  /** Tells the rule's due step (or the first later one that reaches anyone); the rule's progress after. */
  private runRule(t: AlarmTrack, r: RuleProgress, told: Set<number>, now: number, out: NotificationEffect[]): RuleProgress {
    const rule = this.rulesById.get(r.ruleId);
    // A rule deleted or disabled since: it tells nobody more.
    if (!rule?.enabled || t.acknowledged) return { ...r, baseAt: null, dueAt: null };
    const ofIncident = this.toldOfIncident(t);
    for (let step = r.nextStep; step < rule.steps.length; step++) {
      const everyone = this.candidates(rule.steps[step]!, t.alarm);
      // Nobody in scope: the next step at once. Everyone already told (of this alarm or its incident): the step is done, and waits as if it told.
      if (everyone.length === 0) continue;
      const userIds = everyone.filter((id) => !told.has(id) && !ofIncident.has(id));
      for (const id of userIds) told.add(id);
      if (userIds.length > 0) out.push({ type: 'tell', at: now, alarm: t.alarm, userIds, cause: step === 0 ? r.cause : 'escalated', ruleId: rule.id, step });
      const more = step + 1 < rule.steps.length && rule.escalateAfterMs !== null;
      const baseAt = more ? now + rule.escalateAfterMs! : null;
      return { ...r, nextStep: step + 1, baseAt, dueAt: baseAt === null ? null : this.wakeAt(baseAt, t.alarm, rule.id) };
    }
    return { ...r, nextStep: rule.steps.length, baseAt: null, dueAt: null };
  }

  /** The enabled rules that cover `alarm`: those of its area path and the network-wide ones. */
  private matching(alarm: AlarmRef): NotificationRule[] {
    const out: NotificationRule[] = [];
    for (const key of [...this.tree.path(alarm.areaId), null]) {
      for (const r of this.rulesByArea.get(key) ?? []) {
        if (!r.enabled || SEVERITY_RANK[alarm.severity] < SEVERITY_RANK[r.minSeverity]) continue;
        if (r.kinds !== null && !r.kinds.includes(alarm.kind)) continue;
        out.push(r);
      }
    }
    return out;
  }

  /** The users a step names whose scope holds the alarm's area, by id. */
  private candidates(step: { roles: readonly string[]; userIds: readonly number[] }, alarm: AlarmRef): number[] {
    const out: number[] = [];
    for (const key of [...this.tree.path(alarm.areaId), null]) {
      for (const u of this.usersByArea.get(key) ?? []) {
        if (step.roles.includes(u.role) || step.userIds.includes(u.id)) out.push(u.id);
      }
    }
    return out.sort((a, b) => a - b);
  }

  /** `at`, or the end of the quiet hours (the rule's own, else the province's) it falls in when the alarm can wait for the morning. */
  private wakeAt(at: number, alarm: AlarmRef, ruleId: number): number {
    const own = this.rulesById.get(ruleId)?.quietHours;
    const province = this.options.quietHours;
    const q = own ? { ...own, timeZone: province?.timeZone ?? DEFAULT_QUIET_HOURS.timeZone } : province;
    if (q === null || stopsAlertsBeingHeard(alarm.kind, alarm.severity)) return at;
    return quietEndsAt(at, q) ?? at;
  }

  /** Who was told of the other alarms of `t`'s incident (their count is the incident's size, a few dozen at most). */
  private toldOfIncident(t: AlarmTrack): Set<number> {
    const out = new Set<number>();
    const id = t.alarm.incidentId;
    if (id === null) return out;
    for (const alarmId of this.byIncident.get(id) ?? []) {
      if (alarmId === t.alarm.alarmId) continue;
      for (const u of this.tracks.get(alarmId)?.told ?? []) out.add(u);
    }
    return out;
  }

  private keep(t: AlarmTrack): NotificationEffect[] {
    const before = this.tracks.get(t.alarm.alarmId);
    if (before && before.alarm.incidentId !== t.alarm.incidentId) this.unindex(before);
    this.tracks.set(t.alarm.alarmId, t);
    if (t.alarm.incidentId !== null) addTo(this.byIncident, t.alarm.incidentId, t.alarm.alarmId);
    this.due.set(t.alarm.alarmId, dueOf(t));
    return [{ type: 'track_saved', track: t }];
  }

  private forget(t: AlarmTrack): void {
    this.tracks.delete(t.alarm.alarmId);
    this.unindex(t);
    this.due.set(t.alarm.alarmId, null);
  }

  private unindex(t: AlarmTrack): void {
    const id = t.alarm.incidentId;
    if (id === null) return;
    const set = this.byIncident.get(id);
    set?.delete(t.alarm.alarmId);
    if (set?.size === 0) this.byIncident.delete(id);
  }
}

/** The earliest thing a track waits for, or null. */
function dueOf(t: AlarmTrack): number | null {
  let due = t.announceAt;
  for (const r of t.rules) if (r.dueAt !== null && (due === null || r.dueAt < due)) due = r.dueAt;
  return due;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const set = m.get(k);
  if (set) set.add(v);
  else m.set(k, new Set([v]));
}
