/**
 * The live view of every site: what it last reported, and its verdict
 * (operational, degraded, faulty, offline, unverified, with reasons).
 *
 * Kept in memory for speed (a heartbeat must not cost a disk write), and
 * written to SQLite in batches (site_status) so a restart loses nothing
 * but the last second. Every change of verdict is recorded as an event in
 * site_events, which is the history that uptime and coverage over time are
 * computed from.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { SiteEventMessage, SiteStateMessage, TelemetryMessage } from '../../protocol/index.ts';
import type { CoveragePolicy, ExpectedSiteConfig, SiteCondition, SiteObservation, SiteVerdict, SoundCheckRecord } from '../coverage/model.ts';
import { classifySite } from '../coverage/site-condition.ts';
import type { Site } from '../registry/sites.ts';
import type { IngestSink } from './ingest.ts';

export interface ConditionChange {
  siteId: string;
  at: number;
  from: SiteCondition | null;
  to: SiteCondition;
  verdict: SiteVerdict;
}

/** A site's verdict as classified now, when its condition or any of its reasons (code or parameter) differs from the last one. */
export interface VerdictChange {
  siteId: string;
  at: number;
  /** Null when the site is classified for the first time since it was registered or loaded without a stored verdict. */
  previous: SiteVerdict | null;
  verdict: SiteVerdict;
}

export interface FleetListeners {
  /** A site's condition changed (also fired once per site when it is first classified). */
  conditionChanged?(change: ConditionChange): void;
  /**
   * A site's verdict changed: its condition, or its reasons within the same
   * condition (a degraded site gaining a second reason, a line that went from
   * open to short, a battery percentage). Fired after conditionChanged when
   * both apply. Alarms follow every reason, not only the condition.
   */
  verdictChanged?(change: VerdictChange): void;
  /** A site just came online (connected state or a message after being offline): time to send it what waits. */
  siteOnline?(siteId: string): void;
  /** An event from a site (command results among them). */
  siteEvent?(siteId: string, event: SiteEventMessage): void;
  /** A site was registered or changed in the registry (moved to another area, its profile, ...). */
  siteChanged?(siteId: string): void;
  /** A site left the fleet (retired). */
  siteRemoved?(siteId: string): void;
}

interface StatusRow {
  site_id: string;
  first_seen_at: number | null;
  last_seen_at: number | null;
  connected: number;
  disconnected_at: number | null;
  interval_s: number | null;
  telemetry: string | null;
  last_sound_verified_at: number | null;
  last_sound_check: string | null;
  condition: SiteCondition | null;
  reasons: string | null;
  condition_since: number | null;
}

interface Entry {
  obs: SiteObservation;
  verdict: SiteVerdict | null;
  since: number | null;
  /** Agent-clock time of the last "online" applied, to ignore a stale last will after a reconnect. */
  lastOnlineAt: number;
}

export class FleetState implements IngestSink {
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private readonly listeners: FleetListeners[] = [];

  /** Prepared once: an event is inserted on every connect, disconnect, fault and condition change. */
  private readonly insertEvent: Statement<[string, number, string, string | null, string]>;

  constructor(
    private readonly db: Db,
    private readonly policy: CoveragePolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.insertEvent = db.prepare<[string, number, string, string | null, string]>('INSERT INTO site_events (site_id, at, type, condition, detail) VALUES (?, ?, ?, ?, ?)');
  }

  /** Returns the unsubscribe: a listener that lives shorter than the fleet (a route plugin, a test) takes itself out. */
  listen(l: FleetListeners): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Load registered sites and their last known status from the store. */
  load(sites: Site[]): void {
    const rows = new Map((this.db.prepare('SELECT * FROM site_status').all() as StatusRow[]).map((r) => [r.site_id, r]));
    for (const s of sites) {
      const r = rows.get(s.id);
      const obs = this.blank(s);
      let verdict: SiteVerdict | null = null;
      if (r) {
        obs.firstSeenAt = r.first_seen_at;
        obs.lastSeenAt = r.last_seen_at;
        obs.connected = r.connected === 1;
        obs.disconnectedAt = r.disconnected_at;
        obs.intervalS = r.interval_s;
        obs.telemetry = r.telemetry ? (JSON.parse(r.telemetry) as TelemetryMessage) : null;
        obs.lastSoundVerifiedAt = r.last_sound_verified_at;
        obs.lastSoundCheck = r.last_sound_check ? (JSON.parse(r.last_sound_check) as SoundCheckRecord) : null;
        if (r.condition) verdict = { siteId: s.id, condition: r.condition, reasons: r.reasons ? JSON.parse(r.reasons) : [] };
      }
      this.entries.set(s.id, { obs, verdict, since: r?.condition_since ?? null, lastOnlineAt: 0 });
    }
  }

  /** A site was registered or changed in the registry. */
  upsertSite(s: Site): void {
    const e = this.entries.get(s.id);
    if (!e) {
      this.entries.set(s.id, { obs: this.blank(s), verdict: null, since: null, lastOnlineAt: 0 });
      this.evaluate(s.id);
      for (const l of this.listeners) l.siteChanged?.(s.id);
      return;
    }
    e.obs.name = s.name;
    e.obs.kind = s.kind;
    e.obs.areaId = s.areaId;
    e.obs.expectsMonitorMic = s.monitorMic;
    this.evaluate(s.id);
    for (const l of this.listeners) l.siteChanged?.(s.id);
  }

  /** The site configuration the server now delivers to the site (server/site-config/): one it does not report holding by `dueAt` counts against it. */
  expectConfig(siteId: string, expected: ExpectedSiteConfig): void {
    const e = this.entries.get(siteId);
    if (!e) return;
    e.obs.expectedConfig = expected;
    this.evaluate(siteId);
  }

  removeSite(siteId: string): void {
    if (!this.entries.delete(siteId)) return;
    this.dirty.delete(siteId);
    for (const l of this.listeners) l.siteRemoved?.(siteId);
  }

  isKnownSite(siteId: string): boolean {
    return this.entries.has(siteId);
  }

  observation(siteId: string): SiteObservation | undefined {
    return this.entries.get(siteId)?.obs;
  }

  observations(): SiteObservation[] {
    return [...this.entries.values()].map((e) => e.obs);
  }

  verdict(siteId: string): (SiteVerdict & { since: number | null }) | undefined {
    const e = this.entries.get(siteId);
    return e?.verdict ? { ...e.verdict, since: e.since } : undefined;
  }

  /** Fresh verdict for a site at `now` (coverage queries use this, not the cached one). */
  classify(siteId: string, at = this.now()): SiteVerdict | undefined {
    const e = this.entries.get(siteId);
    return e ? classifySite(e.obs, at, this.policy) : undefined;
  }

  isOnline(siteId: string): boolean {
    const e = this.entries.get(siteId);
    return !!e && e.verdict !== null && e.verdict.condition !== 'offline' && e.verdict.condition !== 'unverified';
  }

  applyState(siteId: string, m: SiteStateMessage, _retained: boolean): void {
    const e = this.entries.get(siteId)!;
    // A last will of an older connection can arrive after the new connection's
    // "online" (client-id takeover). Both are stamped by the same agent clock at
    // connect time, so an offline older than the last online is stale. Only
    // offline messages are checked: an online always applies, so a board whose
    // clock went backwards after a reboot is never locked out.
    if (m.state === 'offline' && m.at < e.lastOnlineAt) return;
    if (m.state === 'online') e.lastOnlineAt = m.at;
    const t = this.now();
    this.seen(e, t);
    if (m.state === 'online') {
      e.obs.connected = true;
      e.obs.disconnectedAt = null;
    } else {
      e.obs.connected = false;
      e.obs.disconnectedAt = t;
    }
    this.recordEvent(siteId, t, m.state === 'online' ? 'connected' : 'disconnected', null, { reason: m.reason ?? null, agentVersion: m.agentVersion ?? null });
    this.evaluate(siteId);
    // Every new connection may have missed commands (e.g. after a server restart,
    // when the stored verdict still says online), so each "online" flushes.
    if (m.state === 'online') this.emitOnline(siteId);
  }

  applyTelemetry(siteId: string, m: TelemetryMessage): void {
    const e = this.entries.get(siteId)!;
    const t = this.now();
    const wasOnline = this.isOnline(siteId);
    this.seen(e, t);
    // A heartbeat proves the connection is up even if we missed the online state.
    e.obs.connected = true;
    e.obs.disconnectedAt = null;
    e.obs.intervalS = m.intervalS;
    e.obs.telemetry = m;
    if (m.lastSoundCheck) {
      // The agent dates its check on its own clock; move it onto ours by the
      // heartbeat's own skew (arrival minus stamp), never into the future.
      const at = Math.min(t, m.lastSoundCheck.at + (t - m.at));
      this.noteSoundCheck(e, { ...m.lastSoundCheck, at });
    }
    this.evaluate(siteId);
    if (!wasOnline) this.emitOnline(siteId);
  }

  applyEvent(siteId: string, m: SiteEventMessage): void {
    const e = this.entries.get(siteId)!;
    const t = this.now();
    this.seen(e, t);
    switch (m.type) {
      case 'sound_check':
        // The server's clock, not the agent's, dates the verification.
        this.noteSoundCheck(e, { at: t, ok: m.ok, levelDb: m.levelDb });
        this.recordEvent(siteId, t, 'sound_check', null, { ok: m.ok, levelDb: m.levelDb, thresholdDb: m.thresholdDb, trigger: m.trigger });
        break;
      case 'fault':
      case 'fault_cleared':
        this.recordEvent(siteId, t, m.type, null, { device: m.device, fault: m.fault, detail: m.detail ?? null });
        break;
      case 'cmd_result':
      case 'as_run':
      case 'alert_status':
      case 'stream_stats':
      case 'update_status':
        // Listeners own these: the command queue, the as-run log, alert delivery, live statistics, rollouts.
        break;
      default: {
        const never: never = m;
        return never;
      }
    }
    this.evaluate(siteId);
    for (const l of this.listeners) l.siteEvent?.(siteId, m);
  }

  /** Re-evaluate every site: catches sites that went silent without closing their connection. */
  sweep(): ConditionChange[] {
    const changes: ConditionChange[] = [];
    for (const id of this.entries.keys()) {
      const c = this.evaluate(id);
      if (c) changes.push(c);
    }
    return changes;
  }

  /** Write changed sites to the store in one transaction. */
  flush(): number {
    if (this.dirty.size === 0) return 0;
    const stmt = this.db.prepare(
      `INSERT INTO site_status (site_id, first_seen_at, last_seen_at, connected, disconnected_at, interval_s, telemetry,
         last_sound_verified_at, last_sound_check, condition, reasons, condition_since, updated_at)
       VALUES (@site_id, @first_seen_at, @last_seen_at, @connected, @disconnected_at, @interval_s, @telemetry,
         @last_sound_verified_at, @last_sound_check, @condition, @reasons, @condition_since, @updated_at)
       ON CONFLICT(site_id) DO UPDATE SET first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at,
         connected = excluded.connected, disconnected_at = excluded.disconnected_at, interval_s = excluded.interval_s,
         telemetry = excluded.telemetry, last_sound_verified_at = excluded.last_sound_verified_at,
         last_sound_check = excluded.last_sound_check, condition = excluded.condition, reasons = excluded.reasons,
         condition_since = excluded.condition_since, updated_at = excluded.updated_at`,
    );
    const ids = [...this.dirty];
    this.dirty.clear();
    const t = this.now();
    this.db.transaction(() => {
      for (const id of ids) {
        const e = this.entries.get(id);
        if (!e) continue;
        const o = e.obs;
        stmt.run({
          site_id: id,
          first_seen_at: o.firstSeenAt,
          last_seen_at: o.lastSeenAt,
          connected: o.connected ? 1 : 0,
          disconnected_at: o.disconnectedAt,
          interval_s: o.intervalS,
          telemetry: o.telemetry ? JSON.stringify(o.telemetry) : null,
          last_sound_verified_at: o.lastSoundVerifiedAt,
          last_sound_check: o.lastSoundCheck ? JSON.stringify(o.lastSoundCheck) : null,
          condition: e.verdict?.condition ?? null,
          reasons: e.verdict ? JSON.stringify(e.verdict.reasons) : null,
          condition_since: e.since,
          updated_at: t,
        });
      }
    })();
    return ids.length;
  }

  private blank(s: Site): SiteObservation {
    return {
      siteId: s.id,
      name: s.name,
      kind: s.kind,
      areaId: s.areaId,
      firstSeenAt: null,
      lastSeenAt: null,
      connected: false,
      disconnectedAt: null,
      intervalS: null,
      telemetry: null,
      lastSoundVerifiedAt: null,
      lastSoundCheck: null,
      expectsMonitorMic: s.monitorMic,
    };
  }

  private seen(e: Entry, t: number): void {
    if (e.obs.firstSeenAt === null) e.obs.firstSeenAt = t;
    e.obs.lastSeenAt = t;
    this.dirty.add(e.obs.siteId);
  }

  private noteSoundCheck(e: Entry, c: SoundCheckRecord): void {
    const prev = e.obs.lastSoundCheck;
    if (prev && prev.at >= c.at) return;
    e.obs.lastSoundCheck = c;
    if (c.ok) e.obs.lastSoundVerifiedAt = Math.max(e.obs.lastSoundVerifiedAt ?? 0, c.at);
  }

  private evaluate(siteId: string): ConditionChange | undefined {
    const e = this.entries.get(siteId);
    if (!e) return undefined;
    const t = this.now();
    const v = classifySite(e.obs, t, this.policy);
    const prev = e.verdict;
    const sameReasons =
      prev !== null &&
      prev.reasons.length === v.reasons.length &&
      prev.reasons.every((r, i) => r.code === v.reasons[i]!.code && JSON.stringify(r.params) === JSON.stringify(v.reasons[i]!.params));
    e.verdict = v;
    if (prev && prev.condition === v.condition && sameReasons) return undefined;
    this.dirty.add(siteId);
    if (prev && prev.condition === v.condition) {
      // Reasons changed, condition did not: no transition to record, but the verdict's listeners hear it.
      this.emitVerdict(siteId, t, prev, v);
      return undefined;
    }
    e.since = t;
    const change: ConditionChange = { siteId, at: t, from: prev?.condition ?? null, to: v.condition, verdict: v };
    this.recordEvent(siteId, t, 'condition', v.condition, { from: change.from, reasons: v.reasons.map((r) => ({ code: r.code, message: r.message, params: r.params })) });
    for (const l of this.listeners) l.conditionChanged?.(change);
    this.emitVerdict(siteId, t, prev, v);
    return change;
  }

  private emitVerdict(siteId: string, at: number, previous: SiteVerdict | null, verdict: SiteVerdict): void {
    const change: VerdictChange = { siteId, at, previous, verdict };
    for (const l of this.listeners) l.verdictChanged?.(change);
  }

  private emitOnline(siteId: string): void {
    for (const l of this.listeners) l.siteOnline?.(siteId);
  }

  private recordEvent(siteId: string, at: number, type: string, condition: SiteCondition | null, detail: object): void {
    this.insertEvent.run(siteId, at, type, condition, JSON.stringify(detail));
  }
}
