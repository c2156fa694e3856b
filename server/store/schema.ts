/**
 * The store's tables as Kysely sees them: every table and column of the
 * schema at its latest version (migrations.ts for SQLite, its PostgreSQL
 * baseline and twins), written once for both dialects. A store converted to
 * Kysely types its queries against this; a migration that adds or changes a
 * column changes it here too (tests/integration/store-schema.test.ts compares
 * both dialects' schemas, and the converted stores' tests read and write
 * through these types).
 *
 * Long because the schema is (46 tables): one interface per table, one
 * concept, the store's whole shape read in one place.
 *
 * Types are what a row holds in both dialects alike: epoch-ms times and
 * counts are `number` (BIGINT in PostgreSQL, read back as numbers: see
 * database.ts), flags are 0/1 `number` as SQLite keeps them, JSON is `string`
 * (the store parses it), the one binary column is a Buffer.
 * `Generated<…>`: the column has a default or is an auto-assigned id, so an
 * insert may leave it out.
 */
import type { Generated } from 'kysely';

/** 0 or 1: SQLite keeps booleans as integers, and PostgreSQL keeps them the same way so rows read alike. */
export type Flag = number;
/** Milliseconds since the epoch (UTC). */
export type EpochMs = number;
/** A JSON document as text: the store that owns the column parses and validates it. */
export type JsonText = string;

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: EpochMs;
}

export interface AreasTable {
  id: Generated<number>;
  /** Structure version: codes were reused in the 2025 reform. */
  version: string;
  code: string;
  name: string;
  level: 'province' | 'district' | 'commune' | 'village';
  kind: string | null;
  parent_id: number | null;
  lat: number | null;
  lon: number | null;
  source: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
  retired_at: EpochMs | null;
  /** Migration 32: the area's own languages (JSON array of BCP 47 tags); NULL inherits its parent's. */
  languages: JsonText | null;
}

export interface SitesTable {
  id: string;
  name: string;
  kind: 'station' | 'cluster';
  area_id: number;
  lat: number | null;
  lon: number | null;
  profile: string | null;
  expected_devices: Generated<JsonText>;
  monitor_mic: Generated<Flag>;
  created_at: EpochMs;
  updated_at: EpochMs;
  retired_at: EpochMs | null;
}

export interface SiteCredentialsTable {
  id: Generated<number>;
  site_id: string;
  secret_hash: string;
  created_at: EpochMs;
  revoked_at: EpochMs | null;
  /** Mosquitto `$7$` hash of the secret (migration 2); NULL for credentials issued before it. */
  mosquitto_hash: string | null;
  /** SHA-256 of the secret (migration 8); NULL until the first scrypt check of an older credential. */
  secret_digest: string | null;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: 'admin' | 'operator' | 'technician' | 'emergency' | 'viewer';
  area_id: number | null;
  created_at: EpochMs;
  disabled_at: EpochMs | null;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  kind: 'session' | 'api';
  name: string | null;
  created_at: EpochMs;
  expires_at: EpochMs | null;
  last_used_at: EpochMs | null;
  revoked_at: EpochMs | null;
}

export interface SiteStatusTable {
  site_id: string;
  first_seen_at: EpochMs | null;
  last_seen_at: EpochMs | null;
  connected: Generated<Flag>;
  disconnected_at: EpochMs | null;
  interval_s: number | null;
  telemetry: JsonText | null;
  last_sound_verified_at: EpochMs | null;
  last_sound_check: JsonText | null;
  condition: string | null;
  reasons: JsonText | null;
  condition_since: EpochMs | null;
  updated_at: EpochMs;
}

export interface SiteEventsTable {
  id: Generated<number>;
  site_id: string;
  at: EpochMs;
  type: string;
  condition: string | null;
  detail: JsonText | null;
}

export interface CommandsTable {
  id: string;
  site_id: string;
  type: string;
  params: JsonText;
  created_by: string | null;
  created_at: EpochMs;
  expires_at: EpochMs;
  status: 'queued' | 'sent' | 'succeeded' | 'failed' | 'expired';
  sent_at: EpochMs | null;
  completed_at: EpochMs | null;
  result: JsonText | null;
  error: string | null;
}

export interface CoverageHistoryTable {
  at: EpochMs;
  area_id: number;
  sites: number;
  operational: number;
  degraded: number;
  faulty: number;
  offline: number;
  unverified: number;
  villages: number;
  villages_covered: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: EpochMs;
  user_id: number | null;
  username: string | null;
  action: string;
  target: string | null;
  detail: JsonText | null;
}

export interface MediaTable {
  id: string;
  title: string;
  lang: string;
  tags: Generated<JsonText>;
  origin: 'upload' | 'tts';
  original_name: string | null;
  source: JsonText;
  transcript: string | null;
  tts: JsonText | null;
  sha256: string;
  bytes: number;
  duration_ms: number;
  codec: string;
  sample_rate: number;
  channels: number;
  bitrate_kbps: number;
  target_lufs: number;
  input_lufs: number;
  input_tp: number;
  input_lra: number;
  input_thresh: number;
  gain_db: number;
  output_lufs: number;
  output_tp: number;
  created_by: number | null;
  created_at: EpochMs;
  updated_at: EpochMs;
  retired_at: EpochMs | null;
  /** Migration 17. */
  purpose: Generated<'bulletin' | 'alert'>;
}

export interface BroadcastItemsTable {
  id: string;
  title: string;
  media_id: string;
  duration_ms: number;
  target_areas: Generated<JsonText>;
  target_sites: Generated<JsonText>;
  start_at: EpochMs | null;
  dtstart: string | null;
  rrule: string | null;
  exdates: JsonText | null;
  zone: string | null;
  priority: 'normal' | 'priority' | 'emergency';
  valid_from: EpochMs | null;
  valid_until: EpochMs | null;
  queue: Generated<Flag>;
  note: string | null;
  status: 'draft' | 'approved' | 'cancelled';
  first_at: EpochMs;
  last_at: EpochMs | null;
  created_by: string;
  created_by_id: number | null;
  created_at: EpochMs;
  updated_by: string;
  updated_by_id: number | null;
  updated_at: EpochMs;
  approved_by: string | null;
  approved_by_id: number | null;
  approved_at: EpochMs | null;
  cancelled_by: string | null;
  cancelled_by_id: number | null;
  cancelled_at: EpochMs | null;
  cancel_reason: string | null;
  /** Migration 32: the default version's language, when the item has other versions. */
  language: string | null;
  /** Migration 32: the longest any site plays it (all versions back to back); NULL: duration_ms. */
  longest_ms: number | null;
}

export interface BroadcastItemVersionsTable {
  item_id: string;
  language: string;
  position: number;
  media_id: string;
  duration_ms: number;
}

export interface BroadcastItemAreasTable {
  item_id: string;
  area_id: number;
}

export interface PlaylistEntriesTable {
  site_id: string;
  entry_id: string;
  item_id: string;
  media_id: string;
  scheduled_at: EpochMs;
  start_at: EpochMs;
  duration_ms: number;
  priority: string;
  plan: 'play' | 'skipped';
  skip_reason: string | null;
  blocked_by: string | null;
  first_sent_at: EpochMs;
  sent_at: EpochMs;
  version: string | null;
  withdrawn_at: EpochMs | null;
  /** Migration 32: what the site was planned to hear (JSON, server/schedule/sent-entries.ts); NULL: one version. */
  languages: JsonText | null;
}

export interface AsRunTable {
  site_id: string;
  entry_id: string;
  kind: string;
  item_id: string;
  media_id: string;
  scheduled_at: EpochMs;
  /** 'unknown' since migration 13. */
  outcome: 'played' | 'late' | 'partial' | 'skipped' | 'unknown';
  started_at: EpochMs | null;
  ended_at: EpochMs | null;
  start_error_ms: number | null;
  frames: number | null;
  reason: string | null;
  detail: JsonText | null;
  playlist_version: string | null;
  clock_uncertainty_ms: number | null;
  at: EpochMs;
  received_at: EpochMs;
  /** Migration 14: NULL from agents that predate it. */
  clock_synced: Flag | null;
  clock_error_ms: number | null;
  /** Migration 32: the receipt's parts (JSON), for an entry with language versions. */
  parts: JsonText | null;
}

export interface AlertsTable {
  id: string;
  revision: number;
  state: 'active' | 'cancelled' | 'expired';
  test: Flag;
  origin: 'api' | 'cap';
  title: string;
  target_areas: JsonText;
  areas: JsonText;
  sites: JsonText | null;
  polygon: JsonText | null;
  media: JsonText;
  message: JsonText;
  attention: string | null;
  repeats: number;
  volume: number | null;
  valid_until: EpochMs;
  created_by: number | null;
  created_by_name: string | null;
  created_at: EpochMs;
  revised_at: EpochMs;
  ended_at: EpochMs | null;
  ended_by_name: string | null;
  cap_sender: string | null;
  cap_identifier: string | null;
  cap_sent: string | null;
  /** Migration 16. */
  priority: Generated<'emergency' | 'priority'>;
  /** Migration 36: the language versions (JSON), NULL: none. */
  versions: Generated<JsonText | null>;
}

export interface CapMessagesTable {
  sender: string;
  identifier: string;
  sent: string;
  status: string;
  msg_type: string;
  content_hash: string;
  state: 'active' | 'superseded' | 'cancelled' | 'expired';
  alert_id: string | null;
  received_at: EpochMs;
  received_by: string | null;
  xml: string;
}

export interface AlertDeliveriesTable {
  alert_id: string;
  site_id: string;
  revision: number;
  status: 'pending' | 'received' | 'playing' | 'completed' | 'failed' | 'stopped';
  received_at: EpochMs | null;
  first_sound_at: EpochMs | null;
  completed_at: EpochMs | null;
  failed_at: EpochMs | null;
  reason: string | null;
  detail: JsonText | null;
  repeat: number | null;
  level_db: number | null;
  reported_at: EpochMs | null;
  /** Migration 6. */
  level_threshold_db: number | null;
  /** Migration 12. */
  message_at: EpochMs | null;
  message_repeats: number | null;
  /** Migration 36: JSON lists of language tags, NULL: not reported. */
  languages_played: Generated<JsonText | null>;
  languages_missed: Generated<JsonText | null>;
}

export interface LiveStreamsTable {
  /** The stream id on the wire (u32), given by the live service, not generated. */
  id: number;
  source_kind: 'browser' | 'relay' | 'media';
  source_label: string | null;
  source_ref: string | null;
  source_format: string | null;
  priority: string;
  when_preempted: 'resume' | 'end';
  areas: JsonText;
  delay_ms: number;
  codec: JsonText;
  start_at: EpochMs;
  created_by: number | null;
  created_by_name: string;
  started_at: EpochMs;
  ended_at: EpochMs | null;
  end_reason: string | null;
  end_detail: string | null;
  ended_by: number | null;
  ended_by_name: string | null;
  server_stats: JsonText | null;
  skew: JsonText | null;
  updated_at: EpochMs;
  /** Migration 15. */
  adaptive: JsonText | null;
  /** Migration 31: the server that runs it (cluster instance id), and until when it said so (database clock, ms). */
  owner: string | null;
  owner_until: EpochMs | null;
  /** Migration 31: a stop asked through another server, for the owner to carry out. */
  stop_requested_at: EpochMs | null;
  stop_requested_by: number | null;
  stop_requested_name: string | null;
}

export interface LiveStreamAreasTable {
  stream_id: number;
  area_id: number;
}

export interface LiveStreamSitesTable {
  stream_id: number;
  site_id: string;
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fec_recovered: number;
  played: number;
  buffer_level_ms: number;
  marks: number;
  clock_uncertainty_ms: number | null;
  final: Flag;
  at: EpochMs;
  received_at: EpochMs;
  /** Migration 9. */
  end_reason: string | null;
  end_detail: string | null;
}

export interface CapSendersTable {
  id: Generated<number>;
  sender: string;
  area_id: number | null;
  note: string | null;
  created_at: EpochMs;
  created_by: number | null;
  updated_at: EpochMs;
}

export interface CapSenderAccountsTable {
  id: Generated<number>;
  sender_id: number;
  user_id: number;
  token_id: number | null;
  created_at: EpochMs;
}

export interface EnrolmentCodesTable {
  id: Generated<number>;
  site_id: string;
  code_digest: string;
  created_at: EpochMs;
  created_by: string | null;
  expires_at: EpochMs;
  used_at: EpochMs | null;
  used_from: string | null;
  replaced_at: EpochMs | null;
}

export interface SiteConfigsTable {
  site_id: string;
  revision: number;
  hash: string;
  made_at: EpochMs;
}

export interface ReleasesTable {
  id: string;
  component: 'agent' | 'device-firmware';
  version: string;
  /** The exact manifest bytes its signatures cover (BLOB / BYTEA). */
  manifest: Buffer;
  manifest_sha256: string;
  signatures: JsonText;
  total_bytes: number;
  uploaded_by: number | null;
  created_at: EpochMs;
  complete_at: EpochMs | null;
  retired_at: EpochMs | null;
}

export interface ReleaseFilesTable {
  release_id: string;
  path: string;
  size: number;
  sha256: string;
  received_at: EpochMs | null;
}

export interface RolloutsTable {
  id: string;
  release_id: string;
  spec: JsonText;
  status: 'running' | 'paused' | 'aborted' | 'completed';
  wave: Generated<number>;
  reason: JsonText | null;
  created_by: number | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface RolloutSitesTable {
  rollout_id: string;
  site_id: string;
  wave: number | null;
  state: 'waiting' | 'installing' | 'updated' | 'failed';
  report: JsonText | null;
  from_version: string | null;
  reason: JsonText | null;
  started_at: EpochMs | null;
  finished_at: EpochMs | null;
}

/** Every table, by its name in SQL. */
// ---- migration 24: technicians' alarms (server/alarms/store.ts)

export interface AlarmsTable {
  id: string;
  n: number;
  key: string;
  site_id: string;
  site_kind: string;
  area_id: number;
  kind: string;
  severity: string;
  reasons: JsonText;
  state: string;
  detected_at: EpochMs;
  raised_at: EpochMs | null;
  updated_at: EpochMs;
  count: number;
  active: number;
  inactive_since: EpochMs | null;
  ack_at: EpochMs | null;
  ack_by: string | null;
  ack_note: string | null;
  cleared_at: EpochMs | null;
  clear_cause: string | null;
  cleared_by: string | null;
  clear_note: string | null;
  incident_id: string | null;
}

export interface AlarmHistoryTable {
  id: Generated<number>;
  alarm_id: string;
  at: EpochMs;
  type: string;
  count: number;
  detail: JsonText;
}

export interface IncidentsTable {
  id: string;
  n: number;
  kind: string;
  alarm_kind: string;
  area_id: number;
  root_alarm_id: string | null;
  state: string;
  severity: string;
  opened_at: EpochMs;
  last_joined_at: EpochMs;
  resolved_at: EpochMs | null;
  members: JsonText;
  counts: JsonText;
}

/** Migration 26: people's comments on alarms (server/alarms/store.ts). */
export interface AlarmCommentsTable {
  id: Generated<number>;
  alarm_id: string;
  at: EpochMs;
  by_user: string;
  note: string;
}

/** Migration 23: who does each kind of work that must happen once (server/cluster/lease-store.ts). */
export interface LeasesTable {
  name: string;
  /** The instance holding it (host:pid:random); '' once released. */
  holder: string;
  /** Fencing token: counts up each time the holder changes. */
  token: number;
  /** The database's clock (ms): another instance may take the lease after this. */
  expires_at: EpochMs;
  acquired_at: EpochMs;
}

/** Migration 25: messages to external receivers until delivered (server/outbox/store.ts). */
export interface OutboxMessagesTable {
  /** The idempotency key: every attempt carries it (webhook-id). */
  id: string;
  destination: string;
  /** Counts per destination from 1 (outbox_sequences), in enqueue order. */
  seq: number;
  event_type: string;
  payload: JsonText;
  created_at: EpochMs;
  state: 'pending' | 'delivered' | 'failed';
  attempts: Generated<number>;
  next_attempt_at: EpochMs;
  /** The claim of the server delivering it: a token, and when the claim lapses. */
  claimed_by: string | null;
  claimed_until: EpochMs | null;
  last_status: number | null;
  last_error: string | null;
  finished_at: EpochMs | null;
}

/** Migration 25: the last seq given per destination. */
export interface OutboxSequencesTable {
  destination: string;
  last_seq: number;
}

/** Migration 27: who is told of which alarms (server/notifications/store.ts). */
export interface NotificationRulesTable {
  id: Generated<number>;
  /** The subtree's root; null: the whole network. */
  area_id: number | null;
  min_severity: 'critical' | 'major' | 'minor' | 'warning';
  /** JSON array of alarm kinds; null: every kind. */
  kinds: JsonText | null;
  delay_ms: number;
  escalate_after_ms: number | null;
  /** JSON array of { roles, userIds }. */
  steps: JsonText;
  enabled: Generated<Flag>;
  created_at: EpochMs;
  updated_at: EpochMs;
  /** JSON { startMinute, endMinute } of the rule's own quiet hours (migration 34); null: the province's. */
  quiet_hours: JsonText | null;
}

/** Migration 27: one person told of one alarm; the bell reads it, Web Push delivers it. */
export interface NotificationsTable {
  id: Generated<number>;
  user_id: number;
  alarm_id: string;
  site_id: string;
  area_id: number;
  kind: string;
  severity: string;
  cause: 'raised' | 'severity_raised' | 'escalated';
  rule_id: number | null;
  step: number;
  created_at: EpochMs;
  read_at: EpochMs | null;
  /** none: the user has no push subscription; pending: to be sent (again) from push_next_at. */
  push_state: 'none' | 'pending' | 'delivered' | 'failed';
  push_attempts: Generated<number>;
  push_next_at: EpochMs | null;
  push_error: string | null;
  pushed_at: EpochMs | null;
}

/** Migration 27: an open alarm's pending delays and escalations (AlarmTrack as JSON). */
export interface NotificationTracksTable {
  alarm_id: string;
  track: JsonText;
  updated_at: EpochMs;
}

/** Migration 27: a browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys). */
export interface PushSubscriptionsTable {
  id: Generated<number>;
  user_id: number;
  endpoint: string;
  /** The user agent's P-256 public key, base64url (65 bytes uncompressed). */
  p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  auth: string;
  created_at: EpochMs;
}

/** Migration 28: which sites and areas changed, by generation, for the other servers (server/cluster/registry-watch.ts). */
export interface RegistryChangesTable {
  /** 'counter' is the one row whose gen every registry write raises (ref ''). */
  kind: 'counter' | 'site' | 'area';
  /** A site's id, an area's id in decimal. */
  ref: string;
  gen: number;
}

/** Migration 29: a person's action on an alarm, asked on a server that does not run the alarms (server/alarms/service.ts). */
export interface AlarmActionsTable {
  id: Generated<number>;
  alarm_id: string;
  type: 'acknowledge' | 'clear';
  at: EpochMs;
  by_user: string;
  note: string | null;
  /** Null until the holder decided: 'ok', or the refusal's AlarmErrorCode. */
  result: string | null;
  decided_at: EpochMs | null;
}

/** Migration 30: a work order of the maintenance log (server/maintenance/store.ts). */
export interface WorkOrdersTable {
  id: Generated<number>;
  source: 'alarm' | 'planned';
  alarm_id: string | null;
  fault_kind: string | null;
  site_id: string;
  area_id: number;
  state: 'open' | 'assigned' | 'visit_planned' | 'resolved' | 'closed' | 'cancelled';
  assignee_id: number | null;
  assignee: string | null;
  visit_planned_for: EpochMs | null;
  /** JSON array of { part, quantity }. */
  parts: JsonText;
  notes: string | null;
  resolution: string | null;
  created_at: EpochMs;
  created_by: string;
  updated_at: EpochMs;
  resolved_at: EpochMs | null;
  resolved_by: string | null;
  verified_at: EpochMs | null;
  closed_at: EpochMs | null;
  cancelled_at: EpochMs | null;
}

/** Migration 30: one audited transition of a work order. */
export interface WorkOrderEventsTable {
  id: Generated<number>;
  order_id: number;
  at: EpochMs;
  by_user: string;
  action: string;
  from_state: string | null;
  to_state: string;
  /** JSON object: the action's own fields. */
  detail: JsonText;
}

/** Migration 35: one reserved password or enrolment code guess (server/auth/guess-store.ts). */
export interface GuessAttemptsTable {
  id: Generated<number>;
  kind: 'login' | 'enrol';
  /** addressKey() of the client: IPv4, or an IPv6 /64. */
  address: string;
  /** The account guessed; null for enrolment, and once an admin unlocked it. */
  username: string | null;
  /** 1 while it counts against its (username, address) pair: cleared when that user signs in from there. */
  pair: number;
  at: EpochMs;
}

/** Migration 35: where each user last signed in, exempt from the per-user back-off for 30 days. */
export interface LoginKnownAddressesTable {
  username: string;
  address: string;
  at: EpochMs;
}

/** Migration 35: a change feed's counter, raised by each write in its own transaction (its lock orders the commits). */
export interface ChangeFeedsTable {
  name: 'work_orders';
  seq: number;
}

/** Migration 35: a stored work order change, for the other servers' consoles (server/maintenance/store.ts). */
export interface WorkOrderFeedTable {
  seq: number;
  /** The store that wrote it (its own server told its consoles already). */
  writer: string;
  /** JSON: { order, event } as the writer told them. */
  change: JsonText;
}

export interface Database {
  schema_migrations: SchemaMigrationsTable;
  areas: AreasTable;
  sites: SitesTable;
  site_credentials: SiteCredentialsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  site_status: SiteStatusTable;
  site_events: SiteEventsTable;
  commands: CommandsTable;
  coverage_history: CoverageHistoryTable;
  audit_log: AuditLogTable;
  media: MediaTable;
  broadcast_items: BroadcastItemsTable;
  broadcast_item_areas: BroadcastItemAreasTable;
  broadcast_item_versions: BroadcastItemVersionsTable;
  playlist_entries: PlaylistEntriesTable;
  as_run: AsRunTable;
  alerts: AlertsTable;
  cap_messages: CapMessagesTable;
  alert_deliveries: AlertDeliveriesTable;
  live_streams: LiveStreamsTable;
  live_stream_areas: LiveStreamAreasTable;
  live_stream_sites: LiveStreamSitesTable;
  cap_senders: CapSendersTable;
  cap_sender_accounts: CapSenderAccountsTable;
  enrolment_codes: EnrolmentCodesTable;
  site_configs: SiteConfigsTable;
  releases: ReleasesTable;
  release_files: ReleaseFilesTable;
  rollouts: RolloutsTable;
  rollout_sites: RolloutSitesTable;
  alarms: AlarmsTable;
  alarm_history: AlarmHistoryTable;
  alarm_comments: AlarmCommentsTable;
  incidents: IncidentsTable;
  leases: LeasesTable;
  outbox_messages: OutboxMessagesTable;
  outbox_sequences: OutboxSequencesTable;
  notification_rules: NotificationRulesTable;
  notifications: NotificationsTable;
  notification_tracks: NotificationTracksTable;
  push_subscriptions: PushSubscriptionsTable;
  registry_changes: RegistryChangesTable;
  alarm_actions: AlarmActionsTable;
  work_orders: WorkOrdersTable;
  work_order_events: WorkOrderEventsTable;
  guess_attempts: GuessAttemptsTable;
  login_known_addresses: LoginKnownAddressesTable;
  change_feeds: ChangeFeedsTable;
  work_order_feed: WorkOrderFeedTable;
}
