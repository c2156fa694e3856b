/**
 * Alerts, their CAP messages and their deliveries in SQLite (migrations 5, 6, 12, 16).
 * Statements are prepared once: a province-wide alert brings a few thousand
 * status reports within seconds, each one row write, and a CAP message reads
 * and updates the state of those it references.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { AlertMedia, AlertPriority, AttentionSignal, AlertFailureReason } from '../../protocol/index.ts';
import type { KnownAlert } from './cap/lifecycle.ts';
import type { CapKey, LatLon } from './cap/model.ts';
import type { Alert, AlertMessageSource, AlertState, Delivery, DeliveryStatus, MessageState } from './model.ts';
import { pendingDelivery } from './model.ts';

interface AlertRow {
  id: string;
  revision: number;
  state: AlertState;
  test: number;
  priority: AlertPriority;
  origin: 'api' | 'cap';
  title: string;
  target_areas: string;
  areas: string;
  sites: string | null;
  polygon: string | null;
  media: string;
  message: string;
  attention: AttentionSignal | null;
  repeats: number;
  volume: number | null;
  valid_until: number;
  created_by: number | null;
  created_by_name: string | null;
  created_at: number;
  revised_at: number;
  ended_at: number | null;
  ended_by_name: string | null;
  cap_sender: string | null;
  cap_identifier: string | null;
  cap_sent: string | null;
}

interface DeliveryRow {
  alert_id: string;
  site_id: string;
  revision: number;
  status: DeliveryStatus;
  received_at: number | null;
  first_sound_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  reason: AlertFailureReason | null;
  detail: string | null;
  repeat: number | null;
  message_at: number | null;
  message_repeats: number | null;
  level_db: number | null;
  level_threshold_db: number | null;
  reported_at: number | null;
}

interface CapRow {
  sender: string;
  identifier: string;
  sent: string;
  status: string;
  msg_type: string;
  content_hash: string;
  state: KnownAlert['state'];
  alert_id: string | null;
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
    priority: r.priority,
    origin: r.origin,
    title: r.title,
    targetAreas: JSON.parse(r.target_areas) as string[],
    areas: JSON.parse(r.areas) as string[],
    sites: r.sites ? (JSON.parse(r.sites) as string[]) : null,
    polygon: r.polygon ? (JSON.parse(r.polygon) as LatLon[]) : null,
    media: JSON.parse(r.media) as AlertMedia | null,
    ...messageOf(r.message),
    attention: r.attention,
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
    reason: r.reason,
    detail: r.detail,
    repeat: r.repeat,
    messageAt: r.message_at,
    messageRepeats: r.message_repeats,
    levelDb: r.level_db,
    levelThresholdDb: r.level_threshold_db,
    reportedAt: r.reported_at,
  };
}

function alertParams(a: Alert) {
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

function deliveryParams(d: Delivery) {
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
    reported_at: d.reportedAt,
  };
}

const ALERT_COLUMNS =
  'id, revision, state, test, priority, origin, title, target_areas, areas, sites, polygon, media, message, attention, repeats, volume, valid_until, created_by, created_by_name, created_at, revised_at, ended_at, ended_by_name, cap_sender, cap_identifier, cap_sent';
const DELIVERY_COLUMNS =
  'alert_id, site_id, revision, status, received_at, first_sound_at, completed_at, failed_at, reason, detail, repeat, message_at, message_repeats, level_db, level_threshold_db, reported_at';
const named = (cols: string) =>
  cols
    .split(', ')
    .map((c) => `@${c}`)
    .join(', ');

export class AlertStore {
  private readonly upsertAlert: Statement;
  private readonly upsertDelivery: Statement;
  private readonly selectDeliveries: Statement<[string]>;
  private readonly deleteDeliveries: Statement<[string]>;
  private readonly selectAlert: Statement<[string]>;
  private readonly selectCap: Statement<[string, string]>;
  private readonly insertCap: Statement;
  private readonly updateCapState: Statement<[string, string, string]>;
  private readonly updateCapStateOfAlert: Statement<[string, string]>;
  private readonly selectCapOfAlert: Statement<[string]>;

  constructor(private readonly db: Db) {
    this.upsertAlert = db.prepare(
      `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES (${named(ALERT_COLUMNS)})
       ON CONFLICT(id) DO UPDATE SET ${ALERT_COLUMNS.split(', ')
         .filter((c) => c !== 'id')
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}`,
    );
    this.upsertDelivery = db.prepare(
      `INSERT INTO alert_deliveries (${DELIVERY_COLUMNS}) VALUES (${named(DELIVERY_COLUMNS)})
       ON CONFLICT(alert_id, site_id) DO UPDATE SET ${DELIVERY_COLUMNS.split(', ')
         .filter((c) => c !== 'alert_id' && c !== 'site_id')
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}`,
    );
    this.selectDeliveries = db.prepare<[string]>('SELECT * FROM alert_deliveries WHERE alert_id = ? ORDER BY site_id');
    this.deleteDeliveries = db.prepare<[string]>('DELETE FROM alert_deliveries WHERE alert_id = ?');
    this.selectAlert = db.prepare<[string]>('SELECT * FROM alerts WHERE id = ?');
    this.selectCap = db.prepare<[string, string]>('SELECT * FROM cap_messages WHERE sender = ? AND identifier = ?');
    this.insertCap = db.prepare(
      `INSERT INTO cap_messages (sender, identifier, sent, status, msg_type, content_hash, state, alert_id, received_at, received_by, xml)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateCapState = db.prepare<[string, string, string]>('UPDATE cap_messages SET state = ? WHERE sender = ? AND identifier = ?');
    this.updateCapStateOfAlert = db.prepare<[string, string]>("UPDATE cap_messages SET state = ? WHERE alert_id = ? AND state = 'active'");
    this.selectCapOfAlert = db.prepare<[string]>('SELECT sender, identifier FROM cap_messages WHERE alert_id = ?');
  }

  saveAlert(a: Alert): void {
    this.upsertAlert.run(alertParams(a));
  }

  /** A new alert (or a new revision) with every targeted site pending, in one transaction. */
  saveAlertWithTargets(a: Alert, siteIds: readonly string[]): Delivery[] {
    const rows = siteIds.map((s) => pendingDelivery(a.id, s, a.revision));
    this.db.transaction(() => {
      this.saveAlert(a);
      this.deleteDeliveries.run(a.id);
      for (const d of rows) this.upsertDelivery.run(deliveryParams(d));
    })();
    return rows;
  }

  get(id: string): Alert | undefined {
    const r = this.selectAlert.get(id) as AlertRow | undefined;
    return r ? toAlert(r) : undefined;
  }

  active(): Alert[] {
    return (this.db.prepare("SELECT * FROM alerts WHERE state = 'active' ORDER BY revised_at").all() as AlertRow[]).map(toAlert);
  }

  list(f: { state?: AlertState; limit?: number } = {}): Alert[] {
    const rows = f.state
      ? this.db.prepare('SELECT * FROM alerts WHERE state = ? ORDER BY created_at DESC LIMIT ?').all(f.state, f.limit ?? 100)
      : this.db.prepare('SELECT * FROM alerts ORDER BY created_at DESC LIMIT ?').all(f.limit ?? 100);
    return (rows as AlertRow[]).map(toAlert);
  }

  deliveries(alertId: string): Delivery[] {
    return (this.selectDeliveries.all(alertId) as DeliveryRow[]).map(toDelivery);
  }

  saveDelivery(d: Delivery): void {
    this.upsertDelivery.run(deliveryParams(d));
  }

  saveDeliveries(rows: readonly Delivery[]): void {
    if (rows.length === 0) return;
    this.db.transaction(() => {
      for (const d of rows) this.upsertDelivery.run(deliveryParams(d));
    })();
  }

  // ------------------------------------------------------------------ CAP ----

  capMessage(key: CapKey): CapMessageRecord | undefined {
    const r = this.selectCap.get(key.sender, key.identifier) as (CapRow & { xml: string; received_by: string | null }) | undefined;
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
  knownCap(key: CapKey): KnownAlert | undefined {
    const r = this.capMessage(key);
    return r ? { key: r.key, sent: r.sent, contentHash: r.contentHash, state: r.state, isActual: r.status === 'Actual' } : undefined;
  }

  saveCap(m: CapMessageRecord, receivedAt: number): void {
    this.insertCap.run(m.key.sender, m.key.identifier, m.sent, m.status, m.msgType, m.contentHash, m.state, m.alertId, receivedAt, m.receivedBy, m.xml);
  }

  setCapState(key: CapKey, state: KnownAlert['state']): void {
    this.updateCapState.run(state, key.sender, key.identifier);
  }

  /** When an alert ends, the CAP messages that made it end with it. */
  setCapStateOfAlert(alertId: string, state: KnownAlert['state']): void {
    this.updateCapStateOfAlert.run(state, alertId);
  }

  /** The active CAP messages behind an alert (what a CAP Update or Cancel references). */
  capOfAlert(alertId: string): CapKey[] {
    return (this.selectCapOfAlert.all(alertId) as Array<{ sender: string; identifier: string }>).map((r) => ({ sender: r.sender, identifier: r.identifier }));
  }
}
