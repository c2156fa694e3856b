/**
 * Alerts on the wire: alert_start and alert_cancel on the area control
 * channels, the retained slot of each channel kept holding the alert
 * retainedPlan() chooses (so a site that connects while an alert is valid
 * gets it from the broker), and the re-announcement of an older valid alert
 * to a site that comes online while a newer one holds its channel's slot.
 *
 * Language versions go on a channel only while every targeted site on it
 * that is online takes them (protocol ALERT_VERSIONS_FEATURE; `versionsOn`):
 * an older agent refuses an alert_start with a field it does not know, and
 * must still hear the Vietnamese message. When a site without the feature
 * comes online under a channel whose copy had versions, that channel's copy
 * goes again without them (retained where the alert holds the slot).
 */
import { areaControlTopic, encodeJson, MAX_ALERT_VERSIONS, type AlertCancel, type AlertCancelReason, type AlertStart, type AlertVersion } from '../../protocol/index.ts';
import type { CoverageService } from '../coverage/service.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { Alert, Delivery } from './model.ts';
import { retainedPlan, slotChanges, type RetainedPlan, type SlotCandidate } from './retained.ts';

/** An alert held in memory with its delivery rows by site. */
export interface LiveAlertView {
  alert: Alert;
  rows: ReadonlyMap<string, Delivery>;
}

/** The versions ready to go to the sites, as the wire has them. */
export function readyVersions(a: Alert): AlertVersion[] {
  return (a.versions ?? []).flatMap((v) => (v.state === 'ready' && v.media ? [{ language: v.language, media: v.media }] : [])).slice(0, MAX_ALERT_VERSIONS);
}

/** The alert_start message of an alert's current revision; `withVersions` false: the copy for agents that do not take versions. */
export function alertStartMessage(a: Alert, withVersions = true): AlertStart {
  const versions = withVersions && a.media ? readyVersions(a) : [];
  return {
    v: 1,
    type: 'alert_start',
    alertId: a.id,
    revision: a.revision,
    test: a.test,
    ...(a.priority !== 'emergency' ? { priority: a.priority } : {}),
    areas: a.areas,
    ...(a.sites ? { sites: a.sites } : {}),
    ...(a.media ? { media: a.media } : { messageState: a.messageState === 'failed' ? 'failed' : 'preparing' }),
    ...(versions.length > 0 ? { versions } : {}),
    attention: a.attention,
    repeats: a.repeats,
    ...(a.volume !== null ? { volume: a.volume } : {}),
    validUntil: a.validUntil,
    title: a.title.slice(0, 200),
    at: a.revisedAt,
  };
}

/**
 * What a site that came online must be told again: each valid alert it has
 * not confirmed (pending or received), on the first of the site's channels
 * the alert is on — unless the alert holds that channel's retained slot,
 * which the broker delivers on its own.
 *
 * `resendRetained`: the site's agent does not take language versions, so a
 * retained copy that had them was refused; an alert with versions ready that
 * holds the slot is owed again too (its channel's copy goes without them).
 * `channelKeys` is asked at most once, and only when needed (most sites owe
 * nothing).
 */
export function announcementsOwed(
  siteId: string,
  alerts: Iterable<LiveAlertView>,
  channelKeys: () => readonly string[],
  plan: RetainedPlan,
  resendRetained = false,
): Array<{ alertId: string; channel: string }> {
  const out: Array<{ alertId: string; channel: string }> = [];
  let keys: readonly string[] | undefined;
  for (const l of alerts) {
    if (l.alert.state !== 'active') continue;
    const row = l.rows.get(siteId);
    if (!row || (row.status !== 'pending' && row.status !== 'received')) continue;
    keys ??= channelKeys();
    const ch = keys.find((k) => l.alert.areas.includes(k));
    if (!ch) continue;
    const h = plan.get(ch);
    const holdsSlot = h?.id === l.alert.id && h.revision === l.alert.revision;
    if (!holdsSlot || (resendRetained && readyVersions(l.alert).length > 0)) out.push({ alertId: l.alert.id, channel: ch });
  }
  return out;
}

/** Re-announcements to sites coming online are batched over this window: a flood of reconnects must not cost one publish each. */
const NUDGE_BATCH_MS = 500;

export interface AlertPublisherDeps {
  broker: BrokerLink;
  log: Logger;
  now: () => number;
  coverage: Pick<CoverageService, 'channelKeysOfArea'>;
  fleet: Pick<FleetState, 'observation'>;
  /** The alerts held in memory (the valid ones, and those recently ended). */
  alerts: () => Iterable<LiveAlertView>;
  /** An alert held in memory. */
  liveAlert: (id: string) => Alert | undefined;
  /** Whether every online targeted site on this channel takes language versions; absent: all do. */
  versionsOn?: (a: Alert, channel: string) => boolean;
  /** Whether a site's agent takes language versions; absent: all do. */
  takesVersions?: (siteId: string) => boolean;
}

export class AlertPublisher {
  /** The retained slots as last published. */
  private plan: RetainedPlan = new Map();
  /** Alerts to re-announce on a channel, for sites that came online while another alert held its retained slot. */
  private readonly nudges = new Map<string, Set<string>>();
  private nudgeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: AlertPublisherDeps) {}

  stop(): void {
    clearTimeout(this.nudgeTimer);
  }

  /** The alert_start of `a` as channel `ch` gets it: with its versions only where every online site there takes them. */
  private payloadFor(a: Alert, ch: string, cache?: Map<boolean, Buffer>): Buffer {
    const withVersions = readyVersions(a).length > 0 && (this.d.versionsOn?.(a, ch) ?? true);
    let b = cache?.get(withVersions);
    if (!b) {
      b = encodeJson(alertStartMessage(a, withVersions));
      cache?.set(withVersions, b);
    }
    return b;
  }

  /** Publish an alert on its channels at once (retained where it holds the slot), then settle the other slots. */
  async announce(a: Alert, channels: readonly string[]): Promise<void> {
    const next = retainedPlan(this.slotCandidates());
    const payloads = new Map<boolean, Buffer>();
    await Promise.all(
      channels.map((ch) => {
        const h = next.get(ch);
        const retain = h?.id === a.id && h.revision === a.revision;
        return this.publish(areaControlTopic(ch), this.payloadFor(a, ch, payloads), retain);
      }),
    );
    // The slots this alert took are already published; the rest of the change is applied as usual.
    for (const ch of channels) {
      const h = next.get(ch);
      if (h?.id === a.id && h.revision === a.revision) this.plan.set(ch, h);
    }
    await this.applyPlan(next);
  }

  async cancel(alertId: string, channels: readonly string[], reason: AlertCancelReason): Promise<void> {
    const m: AlertCancel = { v: 1, type: 'alert_cancel', alertId, reason, at: this.d.now() };
    const payload = encodeJson(m);
    await Promise.all(channels.map((ch) => this.publish(areaControlTopic(ch), payload, false)));
  }

  /** Bring the retained slots in line with the valid alerts, publishing only what changed. */
  settleSlots(): Promise<void> {
    return this.applyPlan();
  }

  /**
   * Publish every slot's holder again, as if the broker retained nothing (after
   * a restart of the server or of an external broker), same revision, which a
   * site that already handled it ignores (edge-agent/alerts/decide.ts).
   */
  republishSlots(): Promise<void> {
    this.plan = new Map();
    return this.applyPlan();
  }

  /**
   * A site came online. The retained slots of its channels give it the
   * newest valid alert; an older one still valid and not confirmed there is
   * announced again (not retained) on its channel — batched.
   */
  siteOnline(siteId: string): void {
    const site = this.d.fleet.observation(siteId);
    if (!site) return;
    const refusesVersions = this.d.takesVersions !== undefined && !this.d.takesVersions(siteId);
    const owed = announcementsOwed(siteId, this.d.alerts(), () => this.d.coverage.channelKeysOfArea(site.areaId), this.plan, refusesVersions);
    for (const { alertId, channel } of owed) {
      let set = this.nudges.get(alertId);
      if (!set) this.nudges.set(alertId, (set = new Set()));
      set.add(channel);
    }
    if (this.nudges.size > 0 && !this.nudgeTimer) {
      this.nudgeTimer = setTimeout(() => {
        this.nudgeTimer = undefined;
        const batch = [...this.nudges];
        this.nudges.clear();
        for (const [id, chs] of batch) {
          const a = this.d.liveAlert(id);
          if (a?.state !== 'active') continue;
          for (const ch of chs) {
            // Retained when the alert holds the channel's slot: its copy there changed (versions left out).
            const h = this.plan.get(ch);
            void this.publish(areaControlTopic(ch), this.payloadFor(a, ch), h?.id === a.id && h.revision === a.revision);
          }
        }
      }, NUDGE_BATCH_MS);
      this.nudgeTimer.unref();
    }
  }

  private slotCandidates(): SlotCandidate[] {
    const out: SlotCandidate[] = [];
    for (const l of this.d.alerts())
      if (l.alert.state === 'active') out.push({ id: l.alert.id, revision: l.alert.revision, revisedAt: l.alert.revisedAt, channels: l.alert.areas });
    return out;
  }

  private async applyPlan(next = retainedPlan(this.slotCandidates())): Promise<void> {
    const changes = slotChanges(this.plan, next);
    this.plan = next;
    await Promise.all(
      changes.map((c) => {
        const holder = c.holder ? this.d.liveAlert(c.holder.id) : undefined;
        // An empty retained payload clears the slot [MQTT-3.3.1-10]; receivers ignore empty payloads.
        return this.publish(areaControlTopic(c.channel), holder ? this.payloadFor(holder, c.channel) : Buffer.alloc(0), true);
      }),
    );
  }

  private async publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    try {
      await this.d.broker.publish(topic, payload, { qos: 1, retain });
    } catch (err) {
      this.d.log.error({ topic, err }, 'alert publish failed');
    }
  }
}
