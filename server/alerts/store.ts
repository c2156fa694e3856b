/**
 * Alerts, their CAP messages and their deliveries (migrations 5, 6, 12, 16),
 * on either dialect. A province-wide alert brings a few thousand status
 * reports within seconds, each one conditional row update; a new alert's
 * pending rows go in a few multi-row inserts, not one statement per site.
 *
 * Writes that two requests (or two servers) could race are conditional: an
 * alert ends only while active, a revision replaces only the one it was made
 * from, a message settles only on its revision, and a delivery's status only
 * moves forward in the store itself (deliveryMayBecome), whatever order the
 * writes reach it in.
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AlertMedia, AlertPriority, AttentionSignal, AlertFailureReason } from '../../protocol/index.ts';
import type { AlertDeliveriesTable, AlertsTable, CapMessagesTable, Database } from '../store/schema.ts';
import type { KnownAlert } from './cap/lifecycle.ts';
import type { CapKey, LatLon } from './cap/model.ts';
import { hasEnded } from './delivery-status.ts';
import type { Alert, AlertMessageSource, AlertState, AlertVersionRecord, Delivery, DeliveryStatus, MessageState } from './model.ts';
import { pendingDelivery } from './model.ts';

type AlertRow = Selectable<AlertsTable>;
type DeliveryRow = Selectable<AlertDeliveriesTable>;
type CapRow = Selectable<CapMessagesTable>;

/** Rows per multi-row INSERT: 19 columns each, well under either dialect's limit on bound parameters. */
const INSERT_CHUNK = 500;

const STATUS_RANK: Record<DeliveryStatus, number> = { pending: 0, received: 1, playing: 2, completed: 3, failed: 3, stopped: 3 };
const STATUSES = Object.keys(STATUS_RANK) as DeliveryStatus[];

/**
 * The stored statuses a row may move from to hold `next` (delivery-status.ts:
 * statuses only move forward, an ended one never changes): `next` itself, or
 * any lower one that has not ended.
 */
export function deliveryMayBecome(next: DeliveryStatus): DeliveryStatus[] {
  return STATUSES.filter((s) => s === next || (!hasEnded(s) && STATUS_RANK[s] < STATUS_RANK[next]));
}
export interface CapMessageRecord {
  key: CapKey;
  sent: string;
  status: string;
  msgType: string;
  contentHash: string;
  state: KnownAlert['state'];
  alertId: string | null;
  xml: string;
  receivedBy: string | null;
}

function toAlert(r: AlertRow): Alert {
  return {
    id: r.id,
    revision: r.revision,
    state: r.state,
    test: r.test === 1,
    priority: r.priority as AlertPriority,
    origin: r.origin,
    title: r.title,
    targetAreas: JSON.parse(r.target_areas) as string[],
    areas: JSON.parse(r.areas) as string[],
    sites: r.sites ? (JSON.parse(r.sites) as string[]) : null,
    polygon: r.polygon ? (JSON.parse(r.polygon) as LatLon[]) : null,
    media: JSON.parse(r.media) as AlertMedia | null,
    ...messageOf(r.message),
    ...(r.versions ? { versions: JSON.parse(r.versions) as AlertVersionRecord[] } : {}),
    attention: r.attention as AttentionSignal | null,
    repeats: r.repeats,
    volume: r.volume,
    validUntil: r.valid_until,
    createdBy: r.created_by,
    createdByName: r.created_by_name,
    createdAt: r.created_at,
    revisedAt: r.revised_at,
    endedAt: r.ended_at,
    endedByName: r.ended_by_name,
    cap: r.cap_sender && r.cap_identifier && r.cap_sent ? { sender: r.cap_sender, identifier: r.cap_identifier, sent: r.cap_sent } : null,
  };
}

function messageOf(json: string): Pick<Alert, 'message' | 'messageState' | 'messageReason'> {
  const { state, reason, ...message } = JSON.parse(json) as AlertMessageSource & { state?: MessageState; reason?: string };
  return { message: message as AlertMessageSource, messageState: state ?? 'ready', messageReason: reason ?? null };
}

function toDelivery(r: DeliveryRow): Delivery {
  return {
    alertId: r.alert_id,
    siteId: r.site_id,
    revision: r.revision,
    status: r.status,
    receivedAt: r.received_at,
    firstSoundAt: r.first_sound_at,
    completedAt: r.completed_at,
    failedAt: r.failed_at,
    reason: r.reason as AlertFailureReason | null,
    detail: r.detail,
    repeat: r.repeat,
    messageAt: r.message_at,
    messageRepeats: r.message_repeats,
    levelDb: r.level_db,
    levelThresholdDb: r.level_threshold_db,
    languagesPlayed: r.languages_played ? (JSON.parse(r.languages_played) as string[]) : null,
    languagesMissed: r.languages_missed ? (JSON.parse(r.languages_missed) as string[]) : null,
    reportedAt: r.reported_at,
  };
}

function alertParams(a: Alert): Insertable<AlertsTable> & Pick<AlertRow, 'id'> {
  return {
    id: a.id,
    revision: a.revision,
    state: a.state,
    test: a.test ? 1 : 0,
    priority: a.priority,
    origin: a.origin,
    title: a.title,
    target_areas: JSON.stringify(a.targetAreas),
    areas: JSON.stringify(a.areas),
    sites: a.sites ? JSON.stringify(a.sites) : null,
    polygon: a.polygon ? JSON.stringify(a.polygon) : null,
    media: JSON.stringify(a.media),
    // The message's state travels inside its JSON column (absent: ready), so alerts stored before it existed read as they were.
    message: JSON.stringify({ ...a.message, ...(a.messageState !== 'ready' ? { state: a.messageState } : {}), ...(a.messageReason !== null ? { reason: a.messageReason } : {}) }),
    versions: a.versions && a.versions.length > 0 ? JSON.stringify(a.versions) : null,
    attention: a.attention,
    repeats: a.repeats,
    volume: a.volume,
    valid_until: a.validUntil,
    created_by: a.createdBy,
    created_by_name: a.createdByName,
    created_at: a.createdAt,
    revised_at: a.revisedAt,
    ended_at: a.endedAt,
    ended_by_name: a.endedByName,
    cap_sender: a.cap?.sender ?? null,
    cap_identifier: a.cap?.identifier ?? null,
    cap_sent: a.cap?.sent ?? null,
  };
}

function deliveryParams(d: Delivery): Insertable<AlertDeliveriesTable> {
  return {
    alert_id: d.alertId,
    site_id: d.siteId,
    revision: d.revision,
    status: d.status,
    received_at: d.receivedAt,
    first_sound_at: d.firstSoundAt,
    completed_at: d.completedAt,
    failed_at: d.failedAt,
    reason: d.reason,
    detail: d.detail,
    repeat: d.repeat,
    message_at: d.messageAt,
    message_repeats: d.messageRepeats,
    level_db: d.levelDb,
    level_threshold_db: d.levelThresholdDb,
    languages_played: d.languagesPlayed ? JSON.stringify(d.languagesPlayed) : null,
    languages_missed: d.languagesMissed ? JSON.stringify(d.languagesMissed) : null,
    reported_at: d.reportedAt,
  };
}

/** The columns an Update rewrites: everything but who made the alert and when, and how it ended. */
function revisedColumns(a: Alert) {
  const { id: _id, created_by: _by, created_by_name: _name, created_at: _at, ended_at: _e, ended_by_name: _eb, ...rest } = alertParams(a);
  return rest;
}

/** The message's columns: its media, its JSON (where its state travels) and its language versions. */
function messageColumns(a: Alert) {
  const p = alertParams(a);
  return { media: p.media, message: p.message, versions: p.versions };
}

export class AlertStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** A new alert with every targeted site pending, in one transaction. */
  async insertAlertWithTargets(a: Alert, siteIds: readonly string[]): Promise<Delivery[]> {
    const rows = siteIds.map((s) => pendingDelivery(a.id, s, a.revision));
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('alerts').values(alertParams(a)).execute();
      for (let i = 0; i < rows.length; i += INSERT_CHUNK)
        await trx
          .insertInto('alert_deliveries')
          .values(rows.slice(i, i + INSERT_CHUNK).map(deliveryParams))
          .execute();
    });
    return rows;
  }

  /**
   * A new revision of an active alert, every targeted site pending again, in
   * one transaction; only over the revision it was made from (undefined when
   * that is no longer the stored one, or the alert ended meanwhile: nothing
   * is written).
   */
  async reviseAlertWithTargets(next: Alert, fromRevision: number, siteIds: readonly string[]): Promise<Delivery[] | undefined> {
    const rows = siteIds.map((s) => pendingDelivery(next.id, s, next.revision));
    const done = await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('alerts')
        .set(revisedColumns(next))
        .where('id', '=', next.id)
        .where('revision', '=', fromRevision)
        .where('state', '=', 'active')
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) return false;
      await trx.deleteFrom('alert_deliveries').where('alert_id', '=', next.id).execute();
      for (let i = 0; i < rows.length; i += INSERT_CHUNK)
        await trx
          .insertInto('alert_deliveries')
          .values(rows.slice(i, i + INSERT_CHUNK).map(deliveryParams))
          .execute();
      return true;
    });
    return done ? rows : undefined;
  }

  /** The alert's message (media, state, reason) and its language versions as `a` has them, while its revision is still `a`'s and it is active; answers whether it was written. */
  async setMessage(a: Alert): Promise<boolean> {
    const r = await this.db.updateTable('alerts').set(messageColumns(a)).where('id', '=', a.id).where('revision', '=', a.revision).where('state', '=', 'active').executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /**
   * Ends an active alert (cancelled or expired) and the CAP messages that made
   * it, in one transaction. False when it was no longer active: another
   * request (or server) ended it first, and nothing is written.
   */
  async end(id: string, state: 'cancelled' | 'expired', endedAt: number, endedByName: string | null): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('alerts')
        .set({ state, ended_at: endedAt, ...(endedByName !== null ? { ended_by_name: endedByName } : {}) })
        .where('id', '=', id)
        .where('state', '=', 'active')
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) return false;
      await trx.updateTable('cap_messages').set({ state }).where('alert_id', '=', id).where('state', '=', 'active').execute();
      return true;
    });
  }

  async get(id: string): Promise<Alert | undefined> {
    const r = await this.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toAlert(r) : undefined;
  }

  async active(): Promise<Alert[]> {
    return (await this.db.selectFrom('alerts').selectAll().where('state', '=', 'active').orderBy('revised_at').execute()).map(toAlert);
  }

  async list(f: { state?: AlertState; limit?: number } = {}): Promise<Alert[]> {
    let q = this.db.selectFrom('alerts').selectAll();
    if (f.state) q = q.where('state', '=', f.state);
    return (
      await q
        .orderBy('created_at', 'desc')
        .limit(f.limit ?? 100)
        .execute()
    ).map(toAlert);
  }

  async deliveries(alertId: string): Promise<Delivery[]> {
    return (await this.db.selectFrom('alert_deliveries').selectAll().where('alert_id', '=', alertId).orderBy('site_id').execute()).map(toDelivery);
  }

  async delivery(alertId: string, siteId: string): Promise<Delivery | undefined> {
    const r = await this.db.selectFrom('alert_deliveries').selectAll().where('alert_id', '=', alertId).where('site_id', '=', siteId).executeTakeFirst();
    return r ? toDelivery(r) : undefined;
  }

  /**
   * A site's delivery row after a status report, written only over a row of
   * the same revision whose status may become the new one
   * (deliveryMayBecome): a report applied late, or an Update that reset the
   * row meanwhile, never takes the stored row back. Answers whether it was
   * written; when not, the stored row stands (read it again).
   */
  async saveDelivery(d: Delivery): Promise<boolean> {
    const { alert_id: _a, site_id: _s, ...cols } = deliveryParams(d);
    const r = await this.db
      .updateTable('alert_deliveries')
      .set(cols)
      .where('alert_id', '=', d.alertId)
      .where('site_id', '=', d.siteId)
      .where('revision', '=', d.revision)
      .where('status', 'in', deliveryMayBecome(d.status))
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  // ------------------------------------------------------------------ CAP ----

  async capMessage(key: CapKey): Promise<CapMessageRecord | undefined> {
    const r: CapRow | undefined = await this.db.selectFrom('cap_messages').selectAll().where('sender', '=', key.sender).where('identifier', '=', key.identifier).executeTakeFirst();
    return r
      ? {
          key: { sender: r.sender, identifier: r.identifier },
          sent: r.sent,
          status: r.status,
          msgType: r.msg_type,
          contentHash: r.content_hash,
          state: r.state,
          alertId: r.alert_id,
          xml: r.xml,
          receivedBy: r.received_by,
        }
      : undefined;
  }

  /** What the CAP lifecycle needs to know about a message already received. */
  async knownCap(key: CapKey): Promise<KnownAlert | undefined> {
    const r = await this.capMessage(key);
    return r ? { key: r.key, sent: r.sent, contentHash: r.contentHash, state: r.state, isActual: r.status === 'Actual' } : undefined;
  }

  async saveCap(m: CapMessageRecord, receivedAt: number): Promise<void> {
    await this.db
      .insertInto('cap_messages')
      .values({
        sender: m.key.sender,
        identifier: m.key.identifier,
        sent: m.sent,
        status: m.status,
        msg_type: m.msgType,
        content_hash: m.contentHash,
        state: m.state,
        alert_id: m.alertId,
        received_at: receivedAt,
        received_by: m.receivedBy,
        xml: m.xml,
      })
      .execute();
  }

  async setCapState(key: CapKey, state: KnownAlert['state']): Promise<void> {
    await this.db.updateTable('cap_messages').set({ state }).where('sender', '=', key.sender).where('identifier', '=', key.identifier).execute();
  }

  /** The active CAP messages behind an alert (what a CAP Update or Cancel references). */
  async capOfAlert(alertId: string): Promise<CapKey[]> {
    const rows = await this.db.selectFrom('cap_messages').select(['sender', 'identifier']).where('alert_id', '=', alertId).execute();
    return rows.map((r) => ({ sender: r.sender, identifier: r.identifier }));
  }
}
