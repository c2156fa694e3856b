/**
 * An alert's language versions (Decree 49/2024/NĐ-CP) through their life:
 * given at the start or an Update, or added while the alert plays, their
 * audio followed while it is made, each published when ready, abandoned when
 * the alert ends or an Update replaces them, and marked failed when the
 * server stopped while making them. The alert service composes this; the
 * decisions are the pure functions below, the class is their shell.
 *
 * Versions ride on the alert's revision: each is published when its audio is
 * ready as the same revision again, so sites playing the alert take it for
 * the repeats still to come and nothing waits for a version. They go on a
 * channel only while every online targeted site there takes them (protocol
 * ALERT_VERSIONS_FEATURE): an older agent refuses an alert_start with them.
 */
import { ALERT_VERSIONS_FEATURE } from '../../protocol/index.ts';
import type { AuditLog } from '../audit.ts';
import type { CoverageService } from '../coverage/service.ts';
import { fail } from '../errors.ts';
import type { Logger } from '../fleet/broker.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { AlertChangeFeed } from './changes.ts';
import { versionRecord, type MessageOutcome, type PreparedVersion } from './message.ts';
import { AlertMessageJobs } from './message-jobs.ts';
import type { Alert, AlertVersionRecord } from './model.ts';
import type { AlertPublisher, LiveAlertView } from './publisher.ts';
import type { AlertActor } from './scope.ts';
import type { AlertStore } from './store.ts';

// ------------------------------------------------------------ decisions ----

/** A version carried into the next revision: one still being made is not followed any more (its job is abandoned), so it fails. */
export function settledForRevision(v: AlertVersionRecord): AlertVersionRecord {
  return v.state === 'preparing' ? { ...v, state: 'failed', reason: 'the alert was updated while this version was being made; give it again' } : v;
}

/** The versions of an Update: those it gives, else the current ones as they stand (those not finished are abandoned, so failed). */
export function revisedVersions(cur: Alert, given: readonly PreparedVersion[] | undefined): AlertVersionRecord[] {
  return given ? given.map(versionRecord) : (cur.versions ?? []).map(settledForRevision);
}

/** Versions added to the alert as it stands: each replaces a version of its language, if the alert has one. */
export function withVersionsAdded(cur: Alert, versions: readonly PreparedVersion[]): { next: Alert; added: AlertVersionRecord[] } {
  const added = versions.map(versionRecord);
  const kept = (cur.versions ?? []).filter((v) => !added.some((a) => a.language === v.language));
  return { next: { ...cur, versions: [...kept, ...added] }, added };
}

/**
 * The alert once a version's audio `mediaId` settled; undefined when that
 * audio is no longer the alert's (ended, revised or given another version
 * meanwhile).
 */
export function withVersionSettled(a: Alert, language: string, mediaId: string, r: MessageOutcome): { next: Alert; done: AlertVersionRecord } | undefined {
  const cur = a.versions?.find((v) => v.language === language);
  if (a.state !== 'active' || cur?.state !== 'preparing' || cur.mediaId !== mediaId) return undefined;
  const done: AlertVersionRecord = r.ok ? { ...cur, media: r.media, state: 'ready', reason: null } : { ...cur, media: null, state: 'failed', reason: r.reason.slice(0, 500) };
  return { next: { ...a, versions: (a.versions ?? []).map((v) => (v === cur ? done : v)) }, done };
}

/** The alert after a restart, when versions were being made: their jobs died with the previous process, so the alert stands without them. */
export function stoppedByRestart(a: Alert): Alert | undefined {
  if (!a.versions?.some((v) => v.state === 'preparing')) return undefined;
  return {
    ...a,
    versions: a.versions.map((v) => (v.state === 'preparing' ? { ...v, state: 'failed' as const, reason: 'the server stopped while this version was being made' } : v)),
  };
}

/** What the audit log keeps of an alert's versions. */
export function versionsAudit(a: Alert): { versions?: Array<{ language: string; mediaId: string | null; state: string }> } {
  return a.versions && a.versions.length > 0 ? { versions: a.versions.map((v) => ({ language: v.language, mediaId: v.mediaId, state: v.state })) } : {};
}

const versionKey = (alertId: string, language: string) => `${alertId}\n${language}`;

// ---------------------------------------------------------------- shell ----

export interface AlertVersionsDeps {
  store: Pick<AlertStore, 'get' | 'setMessage'>;
  audit: Pick<AuditLog, 'record'>;
  log: Logger;
  fleet: Pick<FleetState, 'observation' | 'features'>;
  coverage: Pick<CoverageService, 'channelKeysOfArea'>;
  publisher: Pick<AlertPublisher, 'announce'>;
  changes: Pick<AlertChangeFeed, 'notify'>;
  /** The alert held in memory with its delivery rows; its `alert` is replaced there once a change is stored. */
  live: (id: string) => LiveAlertView | undefined;
  /** One change of an alert at a time: the service's own serial, so a version settling never sees another change's half. */
  serial: <T>(id: string, fn: () => Promise<T>) => Promise<T>;
}

export class AlertVersions {
  /** Versions' audio being made, keyed `{alertId}\n{language}`. */
  private readonly jobs: AlertMessageJobs;

  constructor(private readonly d: AlertVersionsDeps) {
    this.jobs = new AlertMessageJobs({
      log: d.log,
      settled: (key, mediaId, r) => {
        const [alertId = '', language = ''] = key.split('\n');
        return this.settled(alertId, language, mediaId, r);
      },
    });
  }

  /** Whether a site's agent takes language versions. */
  takenBy(siteId: string): boolean {
    return this.d.fleet.features(siteId).includes(ALERT_VERSIONS_FEATURE);
  }

  /**
   * Whether every targeted site on `channel` that is online takes language
   * versions: an older agent refuses an alert_start with them. Offline sites
   * are not waited for: one that comes back without the feature is sent the
   * copy without (publisher.ts).
   */
  takenOn(a: Alert, channel: string): boolean {
    const rows = this.d.live(a.id)?.rows;
    if (!rows) return true;
    const onChannel = new Map<number, boolean>();
    for (const siteId of rows.keys()) {
      const o = this.d.fleet.observation(siteId);
      if (!o?.connected || this.takenBy(siteId)) continue;
      let on = onChannel.get(o.areaId);
      if (on === undefined) onChannel.set(o.areaId, (on = this.d.coverage.channelKeysOfArea(o.areaId).includes(channel)));
      if (on) return false;
    }
    return true;
  }

  /** After a restart: versions that were being made are stored as failed (unless the alert changed since it was read). */
  async recover(a: Alert): Promise<Alert> {
    const next = stoppedByRestart(a);
    return next && (await this.d.store.setMessage(next)) ? next : a;
  }

  /** Follow the audio of versions being made for the alert. */
  follow(alertId: string, versions: readonly PreparedVersion[]): void {
    for (const v of versions) if ('message' in v) this.jobs.follow(versionKey(alertId, v.language), v.message);
  }

  /** An Update was stored: the jobs of the previous revision's versions serve it no more (their records were marked failed), unless given again. */
  revised(alertId: string, before: Alert, given: readonly PreparedVersion[] | undefined): void {
    for (const v of before.versions ?? []) {
      const again = given?.find((x) => x.language === v.language);
      this.jobs.abandon(versionKey(alertId, v.language), again && 'message' in again ? again.message.source.mediaId : undefined);
    }
    this.follow(alertId, given ?? []);
  }

  /** The alert ended: its versions' audio is not needed any more. */
  abandon(a: Alert): void {
    for (const v of a.versions ?? []) this.jobs.abandon(versionKey(a.id, v.language));
  }

  /**
   * Versions added to the active alert `cur` (the caller holds its serial and
   * checked the actor's scope), the same revision: stored, announced at once
   * when one is ready, the others followed.
   */
  async add(cur: Alert, versions: readonly PreparedVersion[], actor: AlertActor): Promise<Alert> {
    const { next, added } = withVersionsAdded(cur, versions);
    if (!(await this.d.store.setMessage(next))) throw fail('LOANET_ALERT_NOT_ACTIVE', { id: cur.id, state: (await this.d.store.get(cur.id))?.state ?? cur.state });
    const l = this.d.live(cur.id);
    if (l) l.alert = next;
    await this.d.audit.record(actor, 'alert.versions', cur.id, {
      revision: next.revision,
      added: added.map((v) => ({ language: v.language, mediaId: v.mediaId, state: v.state })),
    });
    if (added.some((v) => v.state === 'ready')) await this.d.publisher.announce(next, next.areas);
    this.d.changes.notify(cur.id, 'updated');
    this.follow(cur.id, versions);
    return next;
  }

  /** Resolves once no version's audio is being made (versions already published). */
  settledAll(): Promise<void> {
    return this.jobs.settledAll();
  }

  private settled(alertId: string, language: string, mediaId: string, r: MessageOutcome): Promise<void> {
    return this.d.serial(alertId, async () => {
      const l = this.d.live(alertId);
      const s = l && withVersionSettled(l.alert, language, mediaId, r);
      if (!l || !s) return;
      const { next, done } = s;
      if (!(await this.d.store.setMessage(next))) return;
      l.alert = next;
      await this.d.audit.record(null, 'alert.version', alertId, { revision: next.revision, language, mediaId, state: done.state, ...(done.reason ? { reason: done.reason } : {}) });
      if (!r.ok) this.d.log.warn({ alertId, language, mediaId, reason: r.reason }, 'alert version audio could not be made: the alert plays without it');
      // Sites that already have the message take the version for the repeats still to come; a message still being made carries it when it comes.
      if (r.ok && next.media) await this.d.publisher.announce(next, next.areas);
      this.d.changes.notify(alertId, 'updated');
    });
  }
}
