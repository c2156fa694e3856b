/**
 * The live view of every site: what it last reported, and its verdict
 * (operational, degraded, faulty, offline, unverified, with reasons).
 *
 * Kept in memory for speed (a heartbeat must not cost a disk write): the
 * memory is what every read answers from, and the store only follows it.
 * Every change of verdict is recorded as an event in site_events, which is
 * the history that uptime and coverage over time are computed from.
 *
 * Written behind by fleet-writer.ts: a restart loses nothing but the last
 * second, and with several servers only one writes. None of
 * this is acknowledged to a site: what is (receipts, alert statuses,
 * command results) is stored by the listeners of applyEvent, whose promises
 * it returns (ingest.ts acknowledges after them).
 */
import type { Insertable, Kysely } from 'kysely';
import type { Database, SiteStatusTable } from '../store/schema.ts';
import { FleetWriter, type FleetWriterOptions, type FleetWriteStats } from './fleet-writer.ts';
import type { SiteEventMessage, SiteStateMessage, TelemetryMessage } from '../../protocol/index.ts';
import type { CoveragePolicy, ExpectedSiteConfig, SiteCondition, SiteObservation, SiteVerdict, SoundCheckRecord } from '../coverage/model.ts';
import { classifySite, mayHaveWorsened } from '../coverage/site-condition.ts';
import type { Site } from '../registry/sites.ts';
import { isStoreFailure } from '../store/failure.ts';
import type { IngestSink } from './ingest.ts';

export { MAX_PENDING_EVENTS } from './fleet-writer.ts';
export type { FleetWriteStats };
export type FleetStateOptions = FleetWriterOptions;

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
  /**
   * An event from a site (command results among them). A listener that
   * stores it returns the promise of its commit (anything else it returns is
   * ignored): the event is acknowledged to
   * the site (event-acks.ts) only once every such promise has resolved, and
   * not at all when one rejects.
   */
  siteEvent?(siteId: string, event: SiteEventMessage): unknown;
  /** A site was registered or changed in the registry (moved to another area, its profile, ...). */
  siteChanged?(siteId: string): void;
  /** A site left the fleet (retired). */
  siteRemoved?(siteId: string): void;
}

interface Entry {
  obs: SiteObservation;
  verdict: SiteVerdict | null;
  since: number | null;
  /** Agent-clock time of the last "online" applied, to ignore a stale last will after a reconnect. */
  lastOnlineAt: number;
  /** What the agent's last "online" state declared it takes (protocol SiteStateMessage.features); absent: nothing yet. */
  features?: readonly string[];
  /** The verdict was classified by this process (not only read back from the store at load). */
  classified?: true;
}

export class FleetState implements IngestSink {
  private readonly entries = new Map<string, Entry>();
  /** What the memory derives, written behind it. */
  private readonly store: FleetWriter;
  private readonly listeners: FleetListeners[] = [];
  /** Raised whenever a site's declared features change: playlist distribution looks at it to send what the site can now take. */
  private featureChanges = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: CoveragePolicy,
    private readonly now: () => number = Date.now,
    opts: FleetStateOptions = {},
  ) {
    this.store = new FleetWriter(db, now, (ids, at) => this.statusRows(ids, at), opts);
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
  async load(sites: readonly Site[]): Promise<void> {
    const rows = new Map((await this.db.selectFrom('site_status').selectAll().execute()).map((r) => [r.site_id, r]));
    const declared = await this.lastDeclaredFeatures();
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
        // The column holds what this class wrote: a SiteCondition.
        if (r.condition) verdict = { siteId: s.id, condition: r.condition as SiteCondition, reasons: r.reasons ? JSON.parse(r.reasons) : [] };
      }
      const features = declared.get(s.id);
      this.entries.set(s.id, { obs, verdict, since: r?.condition_since ?? null, lastOnlineAt: 0, ...(features ? { features } : {}) });
    }
  }

  /**
   * What each site's agent declared in its last "online" state before this
   * server started, from the connections recorded in site_events. Without it
   * the first playlists after a restart would go out before any agent said
   * what it takes: a village speaking [hmn, vi] would be sent the Vietnamese
   * version alone (no parts) until its agent reconnected (embedded broker)
   * or its retained state arrived (external broker), and swapped back a few
   * seconds later, under a bulletin about to start. An agent that changed
   * while the server was down says so at its next connection, as ever.
   * One query; per site a walk back along site_events(site_id, at) to its
   * last connection, usually a few rows.
   */
  private async lastDeclaredFeatures(): Promise<Map<string, readonly string[]>> {
    const rows = await this.db
      .selectFrom('sites as s')
      .select((eb) => [
        's.id as siteId',
        eb.selectFrom('site_events as e').select('e.detail').whereRef('e.site_id', '=', 's.id').where('e.type', '=', 'connected').orderBy('e.at', 'desc').limit(1).as('detail'),
      ])
      .execute();
    const out = new Map<string, readonly string[]>();
    for (const r of rows) {
      if (!r.detail) continue;
      try {
        const f = (JSON.parse(r.detail) as { features?: unknown }).features;
        // An agent that declared nothing takes nothing extra: known, and empty.
        out.set(r.siteId, Array.isArray(f) ? [...new Set(f.filter((x): x is string => typeof x === 'string'))].sort() : []);
      } catch {
        // A damaged row says nothing: the agent's next "online" does.
      }
    }
    return out;
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
    this.store.forget(siteId);
    for (const l of this.listeners) l.siteRemoved?.(siteId);
  }

  isKnownSite(siteId: string): boolean {
    return this.entries.has(siteId);
  }

  /**
   * What a site's agent declared it takes in its last "online" state (e.g.
   * 'playlist_parts'), as last recorded before this server started until
   * the agent says it again; empty for an agent that declares nothing, or
   * that never connected.
   */
  features(siteId: string): readonly string[] {
    return this.entries.get(siteId)?.features ?? [];
  }

  /** Changes whenever some site's features change. */
  featuresGeneration(): number {
    return this.featureChanges;
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
      const features = [...new Set(m.features ?? [])].sort();
      if ((e.features ?? []).join(',') !== features.join(',')) {
        e.features = features;
        this.featureChanges++;
      }
    } else {
      e.obs.connected = false;
      e.obs.disconnectedAt = t;
    }
    this.store.record(siteId, t, m.state === 'online' ? 'connected' : 'disconnected', null, {
      reason: m.reason ?? null,
      agentVersion: m.agentVersion ?? null,
      ...(m.features ? { features: m.features } : {}),
    });
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

  /**
   * Applies the event to memory at once; the promise (when a listener stores
   * the event) resolves once every listener's store committed it, and rejects
   * with the first store failure, else the first error, once all settled.
   */
  applyEvent(siteId: string, m: SiteEventMessage): void | Promise<void> {
    const e = this.entries.get(siteId)!;
    const t = this.now();
    this.seen(e, t);
    switch (m.type) {
      case 'sound_check':
        // The server's clock, not the agent's, dates the verification.
        this.noteSoundCheck(e, { at: t, ok: m.ok, levelDb: m.levelDb });
        this.store.record(siteId, t, 'sound_check', null, { ok: m.ok, levelDb: m.levelDb, thresholdDb: m.thresholdDb, trigger: m.trigger });
        break;
      case 'fault':
      case 'fault_cleared':
        this.store.record(siteId, t, m.type, null, { device: m.device, fault: m.fault, detail: m.detail ?? null });
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
    const stores: Array<Promise<unknown>> = [];
    try {
      for (const l of this.listeners) {
        const r = l.siteEvent?.(siteId, m);
        if (r instanceof Promise) stores.push(r);
      }
    } catch (err) {
      // A listener refused the event outright: the stores already started still finish, their failures logged there.
      for (const p of stores) p.catch(() => undefined);
      throw err;
    }
    if (stores.length === 0) return;
    return allStored(stores);
  }

  /**
   * Re-evaluate the sites time may have changed: catches sites that went
   * silent without closing their connection, and an operational site whose
   * sound proof or delivered configuration fell due. Every other input
   * re-evaluates its site when it arrives, so a site that time cannot have
   * made worse (mayHaveWorsened) is skipped: at 3,000 sites beating every
   * 30 s, reclassifying all of them every second was a seventh of the
   * server's busy time in a profile. What time adds to a site that is already degraded or
   * faulty (its sound proof ageing, a configuration falling due) is a second
   * reason, not a new condition: its next heartbeat brings it, within one
   * interval. A verdict only read back from the store at load is classified
   * once, whatever it says.
   */
  sweep(): ConditionChange[] {
    const changes: ConditionChange[] = [];
    const t = this.now();
    for (const [id, e] of this.entries) {
      if (e.classified && e.verdict && !mayHaveWorsened(e.obs, e.verdict.condition, t, this.policy)) continue;
      const c = this.evaluate(id);
      if (c) changes.push(c);
    }
    return changes;
  }

  /**
   * Write every changed site's status, and the events still waiting, in one
   * transaction each, after the writes already queued. Resolves with the
   * number of sites written once committed; rejects when the write failed
   * (what it held waits for the next). Calls while one is queued share it.
   */
  flush(): Promise<number> {
    return this.store.flush();
  }

  /** Resolves once every write queued so far has settled (failed or not): a test or a stop waits here. */
  settled(): Promise<void> {
    return this.store.settled();
  }

  stats(): FleetWriteStats {
    return this.store.stats();
  }

  /** Status rows of these sites from memory as it is now: a later change is written with them or by the next write, never overtaken by an older one. */
  private statusRows(ids: string[], at: number): Array<Insertable<SiteStatusTable>> {
    const rows: Array<Insertable<SiteStatusTable>> = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      const o = e.obs;
      rows.push({
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
        updated_at: at,
      });
    }
    return rows;
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
    this.store.changed(e.obs.siteId);
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
    e.classified = true;
    const prev = e.verdict;
    const sameReasons =
      prev !== null &&
      prev.reasons.length === v.reasons.length &&
      prev.reasons.every((r, i) => r.code === v.reasons[i]!.code && JSON.stringify(r.params) === JSON.stringify(v.reasons[i]!.params));
    e.verdict = v;
    if (prev && prev.condition === v.condition && sameReasons) return undefined;
    this.store.changed(siteId);
    if (prev && prev.condition === v.condition) {
      // Reasons changed, condition did not: no transition to record, but the verdict's listeners hear it.
      this.emitVerdict(siteId, t, prev, v);
      return undefined;
    }
    e.since = t;
    const change: ConditionChange = { siteId, at: t, from: prev?.condition ?? null, to: v.condition, verdict: v };
    this.store.record(siteId, t, 'condition', v.condition, { from: change.from, reasons: v.reasons.map((r) => ({ code: r.code, message: r.message, params: r.params })) });
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
}

/** Waits for every store of an event; rejects with the first store failure (so the event is sent again), else the first error. */
async function allStored(stores: Array<Promise<unknown>>): Promise<void> {
  const settled = await Promise.allSettled(stores);
  const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 0) return;
  throw errors.find(isStoreFailure) ?? errors[0];
}
