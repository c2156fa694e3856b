/**
 * Versioned schema migrations. Append only: a released migration is never
 * edited; a change is a new entry. Each runs in a transaction and is recorded
 * in schema_migrations, so a half-applied migration cannot exist.
 *
 * Long by design: the schema's whole history in one ordered list, read top
 * to bottom, where a reviewer sees every step a store on a board or a server
 * still has to take. It grows by one entry per schema change and holds no
 * logic.
 */
import { POSTGRES_BASELINE_VERSION } from './postgres-baseline.ts';

/**
 * A migration up to POSTGRES_BASELINE_VERSION is SQLite's alone: a PostgreSQL
 * store starts from the baseline that equals all of them
 * (postgres-baseline.ts). Every later one carries both dialects' SQL, which
 * this type insists on: a version above the baseline without `postgres` does
 * not compile.
 */
export type Migration = BaselineMigration | DualMigration;

interface MigrationBase {
  name: string;
  /** SQLite. */
  sql: string;
}

/** 1..POSTGRES_BASELINE_VERSION (20); widen it only together with the baseline. */
type BaselineVersion = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16 | 17 | 18 | 19 | 20;

export interface BaselineMigration extends MigrationBase {
  version: BaselineVersion;
  postgres?: undefined;
}

export interface DualMigration extends MigrationBase {
  version: number;
  /** The same change for PostgreSQL, with the baseline's types: BIGINT for SQLite INTEGER except 0/1 flags, DOUBLE PRECISION, TEXT, BYTEA. */
  postgres: string;
}

// The literal union above must end at the baseline's version.
const _baselineEnds: BaselineVersion = POSTGRES_BASELINE_VERSION;
void _baselineEnds;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'areas, sites, credentials, users, status, events, commands, coverage history, audit',
    sql: `
CREATE TABLE areas (
  id          INTEGER PRIMARY KEY,
  version     TEXT NOT NULL,               -- structure version: codes were reused in the 2025 reform
  code        TEXT NOT NULL,               -- official administrative code (mã đơn vị hành chính), or a local code for villages
  name        TEXT NOT NULL,
  level       TEXT NOT NULL CHECK (level IN ('province','district','commune','village')),
  kind        TEXT,                        -- 'xã', 'phường', 'thị trấn', 'huyện', 'thôn', …
  parent_id   INTEGER REFERENCES areas(id),
  lat         REAL,
  lon         REAL,
  source      TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  retired_at  INTEGER,
  UNIQUE (version, code)
);
CREATE INDEX areas_parent ON areas(parent_id);

CREATE TABLE sites (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('station','cluster')),
  area_id          INTEGER NOT NULL REFERENCES areas(id),
  lat              REAL,
  lon              REAL,
  profile          TEXT,
  expected_devices TEXT NOT NULL DEFAULT '[]',
  monitor_mic      INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  retired_at       INTEGER
);
CREATE INDEX sites_area ON sites(area_id);

CREATE TABLE site_credentials (
  id          INTEGER PRIMARY KEY,
  site_id     TEXT NOT NULL REFERENCES sites(id),
  secret_hash TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX site_credentials_site ON site_credentials(site_id);

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('admin','operator','technician','emergency','viewer')),
  area_id       INTEGER REFERENCES areas(id),
  created_at    INTEGER NOT NULL,
  disabled_at   INTEGER
);

CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  token_hash   TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL CHECK (kind IN ('session','api')),
  name         TEXT,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  last_used_at INTEGER,
  revoked_at   INTEGER
);

CREATE TABLE site_status (
  site_id                TEXT PRIMARY KEY REFERENCES sites(id),
  first_seen_at          INTEGER,
  last_seen_at           INTEGER,
  connected              INTEGER NOT NULL DEFAULT 0,
  disconnected_at        INTEGER,
  interval_s             INTEGER,
  telemetry              TEXT,
  last_sound_verified_at INTEGER,
  last_sound_check       TEXT,
  condition              TEXT,
  reasons                TEXT,
  condition_since        INTEGER,
  updated_at             INTEGER NOT NULL
);

CREATE TABLE site_events (
  id        INTEGER PRIMARY KEY,
  site_id   TEXT NOT NULL,
  at        INTEGER NOT NULL,
  type      TEXT NOT NULL,       -- 'condition', 'fault', 'fault_cleared', 'sound_check', 'connected', 'disconnected' (command results live in commands)
  condition TEXT,
  detail    TEXT
);
CREATE INDEX site_events_site_at ON site_events(site_id, at);
CREATE INDEX site_events_at ON site_events(at);

CREATE TABLE commands (
  id           TEXT PRIMARY KEY,
  site_id      TEXT NOT NULL REFERENCES sites(id),
  type         TEXT NOT NULL,
  params       TEXT NOT NULL,
  created_by   TEXT,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('queued','sent','succeeded','failed','expired')),
  sent_at      INTEGER,
  completed_at INTEGER,
  result       TEXT,
  error        TEXT
);
CREATE INDEX commands_site_status ON commands(site_id, status);

CREATE TABLE coverage_history (
  at              INTEGER NOT NULL,
  area_id         INTEGER NOT NULL,
  sites           INTEGER NOT NULL,
  operational     INTEGER NOT NULL,
  degraded        INTEGER NOT NULL,
  faulty          INTEGER NOT NULL,
  offline         INTEGER NOT NULL,
  unverified      INTEGER NOT NULL,
  villages        INTEGER NOT NULL,
  villages_covered INTEGER NOT NULL,
  PRIMARY KEY (area_id, at)
);

CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  user_id  INTEGER,
  username TEXT,
  action   TEXT NOT NULL,
  target   TEXT,
  detail   TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
`,
  },
  {
    version: 2,
    name: 'Mosquitto password hash of each site credential, for an external broker',
    // Written when a credential is issued or rotated, the only time the plain
    // secret is known: `$7$` PBKDF2-SHA512 as mosquitto_passwd writes it.
    // Credentials issued before this migration have none (NULL): rotate them.
    sql: `
ALTER TABLE site_credentials ADD COLUMN mosquitto_hash TEXT;
`,
  },
  {
    version: 3,
    name: 'media library: uploaded and synthesised audio, stored as Ogg Opus by SHA-256',
    // A row is written only once its Opus file is complete in media/<sha256>.opus;
    // uploads being processed, and refused ones, live in memory only.
    sql: `
CREATE TABLE media (
  id              TEXT PRIMARY KEY,
  title           TEXT NOT NULL,
  lang            TEXT NOT NULL,             -- BCP 47: vi, hmn, ium, tyz, …
  tags            TEXT NOT NULL DEFAULT '[]',
  origin          TEXT NOT NULL CHECK (origin IN ('upload','tts')),
  original_name   TEXT,
  source          TEXT NOT NULL,             -- JSON: format, codec, sample rate, channels, bytes of what was given
  transcript      TEXT,                      -- the text, for synthesised items
  tts             TEXT,                      -- JSON: engine, voice, rate
  sha256          TEXT NOT NULL,
  bytes           INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  codec           TEXT NOT NULL,
  sample_rate     INTEGER NOT NULL,
  channels        INTEGER NOT NULL,
  bitrate_kbps    INTEGER NOT NULL,
  target_lufs     REAL NOT NULL,
  input_lufs      REAL NOT NULL,             -- EBU R128 measured once at ingest (48 kHz mono)
  input_tp        REAL NOT NULL,
  input_lra       REAL NOT NULL,
  input_thresh    REAL NOT NULL,
  gain_db         REAL NOT NULL,
  output_lufs     REAL NOT NULL,             -- measured on the stored file
  output_tp       REAL NOT NULL,
  created_by      INTEGER REFERENCES users(id),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  retired_at      INTEGER
);
CREATE INDEX media_sha256 ON media(sha256);
CREATE INDEX media_created ON media(created_at);
`,
  },
  {
    version: 4,
    name: 'schedule: broadcast items, what was sent to each site, and the as-run log',
    // broadcast_items: one row per item (server/schedule/items-store.ts). Times are
    // epoch ms; the recurrence's wall times are text in the item's zone.
    // first_at/last_at bound the item's possible starts (last_at NULL = open-ended)
    // so a period query need not expand every recurrence.
    // broadcast_item_areas: the area of every target (area targets and the areas of
    // targeted sites), so "items that play in this commune" is an indexed lookup.
    // playlist_entries: every occurrence the server put in a site's playlist (or
    // skipped there by priority arbitration): what the as-run log must account for.
    // An entry withdrawn before it was due (item cancelled) gets withdrawn_at.
    // as_run: one receipt per (site, entry), the first received wins (the agent
    // re-sends after reconnects).
    sql: `
CREATE TABLE broadcast_items (
  id              TEXT PRIMARY KEY,
  title           TEXT NOT NULL,
  media_id        TEXT NOT NULL,
  duration_ms     INTEGER NOT NULL,
  target_areas    TEXT NOT NULL DEFAULT '[]',   -- JSON: area keys {version}.{code}
  target_sites    TEXT NOT NULL DEFAULT '[]',   -- JSON: site ids
  start_at        INTEGER,                      -- one-off start, or NULL with a recurrence
  dtstart         TEXT,                         -- recurrence: local wall time of the first occurrence
  rrule           TEXT,
  exdates         TEXT,                         -- JSON: local wall times
  zone            TEXT,
  priority        TEXT NOT NULL CHECK (priority IN ('normal','priority','emergency')),
  valid_from      INTEGER,
  valid_until     INTEGER,
  queue           INTEGER NOT NULL DEFAULT 0,
  note            TEXT,
  status          TEXT NOT NULL CHECK (status IN ('draft','approved','cancelled')),
  first_at        INTEGER NOT NULL,
  last_at         INTEGER,
  created_by      TEXT NOT NULL,
  created_by_id   INTEGER,
  created_at      INTEGER NOT NULL,
  updated_by      TEXT NOT NULL,
  updated_by_id   INTEGER,
  updated_at      INTEGER NOT NULL,
  approved_by     TEXT,
  approved_by_id  INTEGER,
  approved_at     INTEGER,
  cancelled_by    TEXT,
  cancelled_by_id INTEGER,
  cancelled_at    INTEGER,
  cancel_reason   TEXT
);
CREATE INDEX broadcast_items_status ON broadcast_items(status, first_at);
CREATE INDEX broadcast_items_period ON broadcast_items(first_at, last_at);
CREATE INDEX broadcast_items_media ON broadcast_items(media_id);

CREATE TABLE broadcast_item_areas (
  item_id TEXT NOT NULL REFERENCES broadcast_items(id),
  area_id INTEGER NOT NULL,
  PRIMARY KEY (item_id, area_id)
);
CREATE INDEX broadcast_item_areas_area ON broadcast_item_areas(area_id);

CREATE TABLE playlist_entries (
  site_id       TEXT NOT NULL,
  entry_id      TEXT NOT NULL,               -- occurrence id: item @ scheduled start
  item_id       TEXT NOT NULL,
  media_id      TEXT NOT NULL,
  scheduled_at  INTEGER NOT NULL,
  start_at      INTEGER NOT NULL,            -- after any queue shift
  duration_ms   INTEGER NOT NULL,
  priority      TEXT NOT NULL,
  plan          TEXT NOT NULL CHECK (plan IN ('play','skipped')),
  skip_reason   TEXT,                        -- higher_priority, same_priority, queue_no_room
  blocked_by    TEXT,
  first_sent_at INTEGER NOT NULL,
  sent_at       INTEGER NOT NULL,
  version       TEXT,                        -- playlist version it was last sent in
  withdrawn_at  INTEGER,
  PRIMARY KEY (site_id, entry_id)
);
CREATE INDEX playlist_entries_scheduled ON playlist_entries(scheduled_at);
CREATE INDEX playlist_entries_item ON playlist_entries(item_id);

CREATE TABLE as_run (
  site_id              TEXT NOT NULL,
  entry_id             TEXT NOT NULL,
  kind                 TEXT NOT NULL,
  item_id              TEXT NOT NULL,
  media_id             TEXT NOT NULL,
  scheduled_at         INTEGER NOT NULL,
  outcome              TEXT NOT NULL CHECK (outcome IN ('played','late','partial','skipped')),
  started_at           INTEGER,
  ended_at             INTEGER,
  start_error_ms       REAL,
  frames               INTEGER,
  reason               TEXT,
  detail               TEXT,
  playlist_version     TEXT,
  clock_uncertainty_ms REAL,
  at                   INTEGER NOT NULL,     -- when the agent wrote it (server clock as it estimated)
  received_at          INTEGER NOT NULL,     -- when the server first received it
  PRIMARY KEY (site_id, entry_id)
);
CREATE INDEX as_run_scheduled ON as_run(scheduled_at);
CREATE INDEX as_run_item ON as_run(item_id);
`,
  },
  {
    version: 5,
    name: 'emergency alerts: alerts, their CAP messages and per-site delivery',
    // One row per alert (its current revision); cap_messages keeps every CAP
    // message received, keyed (sender, identifier) for de-duplication and
    // Update/Cancel by reference; alert_deliveries holds one row per targeted
    // site, created when the alert starts, so the sites not yet confirmed are
    // known after a restart.
    sql: `
CREATE TABLE alerts (
  id              TEXT PRIMARY KEY,          -- alr-<16 hex>
  revision        INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('active','cancelled','expired')),
  test            INTEGER NOT NULL,          -- CAP Test/Exercise: never Actual
  origin          TEXT NOT NULL CHECK (origin IN ('api','cap')),
  title           TEXT NOT NULL,
  target_areas    TEXT NOT NULL,             -- JSON: area keys as given
  areas           TEXT NOT NULL,             -- JSON: area keys published on (minimal cover)
  sites           TEXT,                      -- JSON: site ids of a drawn area; NULL = every site of areas
  polygon         TEXT,                      -- JSON: the drawn polygon, [[lat,lon],...]
  media           TEXT NOT NULL,             -- JSON: {mediaId, sha256, bytes, durationMs}
  message         TEXT NOT NULL,             -- JSON: how the message was given (media, upload, text)
  attention       TEXT,                      -- siren | chime | NULL
  repeats         INTEGER NOT NULL,
  volume          INTEGER,
  valid_until     INTEGER NOT NULL,
  created_by      INTEGER REFERENCES users(id),
  created_by_name TEXT,
  created_at      INTEGER NOT NULL,
  revised_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  ended_by_name   TEXT,
  cap_sender      TEXT,
  cap_identifier  TEXT,
  cap_sent        TEXT
);
CREATE INDEX alerts_state ON alerts(state);

CREATE TABLE cap_messages (
  sender       TEXT NOT NULL,
  identifier   TEXT NOT NULL,
  sent         TEXT NOT NULL,
  status       TEXT NOT NULL,
  msg_type     TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('active','superseded','cancelled','expired')),
  alert_id     TEXT REFERENCES alerts(id),
  received_at  INTEGER NOT NULL,
  received_by  TEXT,
  xml          TEXT NOT NULL,
  PRIMARY KEY (sender, identifier)
);
CREATE INDEX cap_messages_alert ON cap_messages(alert_id);

CREATE TABLE alert_deliveries (
  alert_id        TEXT NOT NULL REFERENCES alerts(id),
  site_id         TEXT NOT NULL,
  revision        INTEGER NOT NULL,          -- the revision the status refers to
  status          TEXT NOT NULL CHECK (status IN ('pending','received','playing','completed','failed','stopped')),
  received_at     INTEGER,                   -- site times: server clock as the agent estimates it
  first_sound_at  INTEGER,
  completed_at    INTEGER,
  failed_at       INTEGER,
  reason          TEXT,
  detail          TEXT,
  repeat          INTEGER,
  level_db        REAL,
  reported_at     INTEGER,                   -- server clock, last status received
  PRIMARY KEY (alert_id, site_id)
);
`,
  },
  {
    version: 6,
    name: 'alert deliveries: the sound-check threshold a site judged its microphone level by',
    // A level below the site's own threshold means the alert played but was
    // not heard (line open, amplifier silent); the threshold is per site, so
    // it is kept beside the level rather than assumed by the server.
    sql: `
ALTER TABLE alert_deliveries ADD COLUMN level_threshold_db REAL;
`,
  },
  {
    version: 7,
    name: 'live streams: who broadcast what, where, when and how it ended, and what each site reported',
    // live_streams: one row per live stream (server/live/store.ts), written when it
    // starts and when it ends; a row still without ended_at after a restart was on
    // air when the server went down, and is closed as server_restart at the next
    // start. source_ref is the media id or the relay URL without credentials, query
    // or fragment (never a secret). server_stats and skew are JSON, refreshed while
    // on air (at most every second) and final at the end.
    // live_stream_areas: the id of every target area, so "streams that reached this
    // commune" is an indexed lookup.
    // live_stream_sites: the latest stream_stats of each site for each stream
    // (counters are cumulative at the site), upserted in batches.
    sql: `
CREATE TABLE live_streams (
  id              INTEGER PRIMARY KEY,           -- the stream id on the wire (u32)
  source_kind     TEXT NOT NULL CHECK (source_kind IN ('browser','relay','media')),
  source_label    TEXT,
  source_ref      TEXT,                          -- media id, or the relay URL without credentials
  source_format   TEXT,                          -- browser: pcm | webm
  priority        TEXT NOT NULL,
  when_preempted  TEXT NOT NULL CHECK (when_preempted IN ('resume','end')),
  areas           TEXT NOT NULL,                 -- JSON: target area keys
  delay_ms        INTEGER NOT NULL,
  codec           TEXT NOT NULL,                 -- JSON: the stream_start codec
  start_at        INTEGER NOT NULL,              -- play-at of the first frame
  created_by      INTEGER REFERENCES users(id),
  created_by_name TEXT NOT NULL,
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  end_reason      TEXT,                          -- ended, operator, source_lost, error, server_shutdown, server_restart, …
  end_detail      TEXT,
  ended_by        INTEGER REFERENCES users(id),
  ended_by_name   TEXT,
  server_stats    TEXT,                          -- JSON: the server's pacing counters
  skew            TEXT,                          -- JSON: play-time skew summary between sites
  updated_at      INTEGER NOT NULL
);
CREATE INDEX live_streams_started ON live_streams(started_at);
CREATE INDEX live_streams_open ON live_streams(ended_at) WHERE ended_at IS NULL;

CREATE TABLE live_stream_areas (
  stream_id INTEGER NOT NULL REFERENCES live_streams(id),
  area_id   INTEGER NOT NULL,
  PRIMARY KEY (stream_id, area_id)
);
CREATE INDEX live_stream_areas_area ON live_stream_areas(area_id);

CREATE TABLE live_stream_sites (
  stream_id            INTEGER NOT NULL REFERENCES live_streams(id),
  site_id              TEXT NOT NULL,
  received             INTEGER NOT NULL,
  late                 INTEGER NOT NULL,
  lost                 INTEGER NOT NULL,
  concealed            INTEGER NOT NULL,
  fec_recovered        INTEGER NOT NULL,
  played               INTEGER NOT NULL,
  buffer_level_ms      REAL NOT NULL,
  marks                INTEGER NOT NULL,      -- marked messages this site reported a play time for
  clock_uncertainty_ms REAL,
  final                INTEGER NOT NULL,
  at                   INTEGER NOT NULL,      -- the report's time (agent clock)
  received_at          INTEGER NOT NULL,      -- server clock, last report received
  PRIMARY KEY (stream_id, site_id)
);
`,
  },
  {
    version: 8,
    name: 'SHA-256 digest of each site credential, so verifying a site costs no scrypt after a restart',
    // A site secret is 256 random bits (newSecret), so a SHA-256 digest of it is
    // as unguessable as the secret itself — the same reasoning as API tokens —
    // and checking it costs microseconds. scrypt made every site's first HTTP
    // request after a server start cost milliseconds of CPU: with an external
    // broker (which checks MQTT passwords itself) that was 3,000 scrypt runs
    // when an alert sent every site to fetch its audio. Written at issue and
    // rotation; credentials issued before this migration get it the first time
    // their scrypt check succeeds.
    sql: `
ALTER TABLE site_credentials ADD COLUMN secret_digest TEXT;
`,
  },
  {
    version: 9,
    name: 'why a live stream ended at each site (its final stream_stats report)',
    // ended, stopped, preempted, silent, not_played, amp_fault, …: which
    // villages heard a broadcast to its end, and why the others did not.
    sql: `
ALTER TABLE live_stream_sites ADD COLUMN end_reason TEXT;
ALTER TABLE live_stream_sites ADD COLUMN end_detail TEXT;
`,
  },
  {
    version: 10,
    name: 'CAP senders: which accounts may post CAP messages under which sender, and where',
    // A CAP message's <sender> is only a claim; cap_senders registers a sender
    // with the area its messages may reach (NULL: the whole network) and
    // cap_sender_accounts the users (any of their credentials, token_id NULL)
    // or single API tokens of a user allowed to post under it. Nothing is
    // filled in on upgrade: senders seen before stay unregistered until an
    // admin binds them (GET /api/alerts/cap/senders lists them with who
    // posted them), and only a network-wide admin may post under an
    // unregistered sender meanwhile (server/alerts/cap-senders.ts).
    sql: `
CREATE TABLE cap_senders (
  id         INTEGER PRIMARY KEY,
  sender     TEXT NOT NULL UNIQUE,
  area_id    INTEGER REFERENCES areas(id),
  note       TEXT,
  created_at INTEGER NOT NULL,
  created_by INTEGER REFERENCES users(id),
  updated_at INTEGER NOT NULL
);

CREATE TABLE cap_sender_accounts (
  id         INTEGER PRIMARY KEY,
  sender_id  INTEGER NOT NULL REFERENCES cap_senders(id) ON DELETE CASCADE,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  token_id   INTEGER REFERENCES api_tokens(id),
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX cap_sender_accounts_unique ON cap_sender_accounts(sender_id, user_id, COALESCE(token_id, 0));
CREATE INDEX cap_sender_accounts_user ON cap_sender_accounts(user_id);
`,
  },
  {
    version: 11,
    name: 'every API token expires: tokens made without an expiry get one 90 days after the upgrade',
    // API tokens used to be made without an expiry and lived until revoked. Now
    // each has one (LOANET_API_TOKEN_DAYS by default, at most
    // LOANET_API_TOKEN_MAX_DAYS). Tokens already out there get 90 days from the
    // upgrade, not from their creation, so a script that has used one for a
    // year is not cut off the moment the server is upgraded; its owner sees the
    // date in the console and makes a new token before then. The index serves
    // revoking a user's tokens (password change, reset, disable).
    sql: `
UPDATE api_tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000
  WHERE expires_at IS NULL AND revoked_at IS NULL;
CREATE INDEX api_tokens_user ON api_tokens(user_id, kind);
`,
  },
  {
    version: 12,
    name: 'alert deliveries: whether the message itself played at a site, and how many repeats of it',
    // The attention signal is made on the board and sounds even when the
    // message audio cannot be fetched; only the message counts as the alert
    // heard. Rows stored before this have neither column: their `repeat`
    // (0 = signal, N >= 1 = message) is what the site said then.
    sql: `
ALTER TABLE alert_deliveries ADD COLUMN message_at INTEGER;
ALTER TABLE alert_deliveries ADD COLUMN message_repeats INTEGER;
UPDATE alert_deliveries SET message_at = COALESCE(first_sound_at, reported_at) WHERE repeat >= 1;
`,
  },
  {
    version: 13,
    name: "as-run receipts may say 'unknown': the agent lost its record of an entry",
    // An agent whose receipt journal was wiped or damaged cannot say whether
    // an entry played while the journal's records were lost; it says
    // `unknown` (reason state_lost) instead of guessing. SQLite cannot change
    // a CHECK in place: the table is rebuilt with the same columns and rows.
    sql: `
CREATE TABLE as_run_v13 (
  site_id              TEXT NOT NULL,
  entry_id             TEXT NOT NULL,
  kind                 TEXT NOT NULL,
  item_id              TEXT NOT NULL,
  media_id             TEXT NOT NULL,
  scheduled_at         INTEGER NOT NULL,
  outcome              TEXT NOT NULL CHECK (outcome IN ('played','late','partial','skipped','unknown')),
  started_at           INTEGER,
  ended_at             INTEGER,
  start_error_ms       REAL,
  frames               INTEGER,
  reason               TEXT,
  detail               TEXT,
  playlist_version     TEXT,
  clock_uncertainty_ms REAL,
  at                   INTEGER NOT NULL,
  received_at          INTEGER NOT NULL,
  PRIMARY KEY (site_id, entry_id)
);
INSERT INTO as_run_v13 (site_id, entry_id, kind, item_id, media_id, scheduled_at, outcome, started_at, ended_at, start_error_ms, frames, reason, detail, playlist_version, clock_uncertainty_ms, at, received_at)
  SELECT site_id, entry_id, kind, item_id, media_id, scheduled_at, outcome, started_at, ended_at, start_error_ms, frames, reason, detail, playlist_version, clock_uncertainty_ms, at, received_at FROM as_run;
DROP TABLE as_run;
ALTER TABLE as_run_v13 RENAME TO as_run;
CREATE INDEX as_run_scheduled ON as_run(scheduled_at);
CREATE INDEX as_run_item ON as_run(item_id);
`,
  },
  {
    version: 14,
    name: 'as-run receipts say the clock they were played under',
    // clock_synced: the agent's clock was verified when the entry started (0/1;
    // NULL from agents that predate it). clock_error_ms: how far that clock was
    // from the best one the agent knew when it wrote the receipt (positive: it
    // ran ahead, the entry played early); the receipt's times are on the best.
    sql: `
ALTER TABLE as_run ADD COLUMN clock_synced INTEGER;
ALTER TABLE as_run ADD COLUMN clock_error_ms REAL;
`,
  },
  {
    version: 15,
    name: 'a live stream keeps its adaptive delay with its record',
    // JSON: the delay it started with, its ceiling, every raise and the sites
    // whose link needed more than the ceiling, written when the stream ends,
    // so a past stream reads the same after a restart as before it.
    sql: `
ALTER TABLE live_streams ADD COLUMN adaptive TEXT;
`,
  },
  {
    version: 16,
    name: "an alert's rank: emergency (every alert until now) or priority (an advisory)",
    sql: `
ALTER TABLE alerts ADD COLUMN priority TEXT NOT NULL DEFAULT 'emergency' CHECK (priority IN ('emergency', 'priority'));
`,
  },
  {
    version: 17,
    name: "media items say what they were made for: a bulletin, or an alert's audio (kept out of the bulletin library)",
    // Until now alert audio was told apart only by its `alert` tag, which
    // operators can edit. Existing rows are recognised by that tag, which
    // every alert-made item got, or by an alert whose message was made for
    // it (uploaded, spoken or CAP audio; an alert that used a library item
    // chose a bulletin, which stays one).
    sql: `
ALTER TABLE media ADD COLUMN purpose TEXT NOT NULL DEFAULT 'bulletin' CHECK (purpose IN ('bulletin', 'alert'));
UPDATE media SET purpose = 'alert'
 WHERE EXISTS (SELECT 1 FROM json_each(media.tags) WHERE value = 'alert')
    OR id IN (SELECT json_extract(message, '$.mediaId') FROM alerts WHERE json_extract(message, '$.kind') IN ('upload', 'tts', 'cap_audio'));
CREATE INDEX media_purpose ON media(purpose, created_at);
`,
  },
  {
    version: 18,
    name: 'one-time enrolment codes of sites',
    // A code is never stored: code_digest is its HMAC-SHA-256 under the data
    // folder's enrolment key (server/enrolment/key.ts), so the table alone
    // does not let anyone try the 2^40 codes offline. A code is spent once
    // (used_at), or replaced by a newer one for the same site.
    sql: `
CREATE TABLE enrolment_codes (
  id          INTEGER PRIMARY KEY,
  site_id     TEXT NOT NULL REFERENCES sites(id),
  code_digest TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  created_by  TEXT,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER,
  used_from   TEXT,
  replaced_at INTEGER
);
CREATE INDEX enrolment_codes_site ON enrolment_codes(site_id);
`,
  },
  {
    version: 19,
    name: 'the configuration revision delivered to each site',
    // One row per site: the newest revision and the content's hash. Kept so
    // that the revision only ever counts up, across restarts, and a board that
    // holds revision n is never told n again for other content.
    sql: `
CREATE TABLE site_configs (
  site_id   TEXT PRIMARY KEY REFERENCES sites(id),
  revision  INTEGER NOT NULL CHECK (revision >= 1),
  hash      TEXT NOT NULL,
  made_at   INTEGER NOT NULL
);
`,
  },
  {
    version: 20,
    name: 'signed releases and their files; rollouts and each targeted site',
    // A release is kept as the exact manifest bytes its signatures cover (the
    // server cannot re-serialise it without breaking them); its files live in
    // the data folder (releases/{id}/…) and a row says when each arrived whole
    // and matched its size and SHA-256. A rollout keeps its spec and targets
    // as JSON (what was asked, replayable), and one row per targeted site with
    // its wave and where it stands; the audit log has every transition.
    sql: `
CREATE TABLE releases (
  id              TEXT PRIMARY KEY,
  component       TEXT NOT NULL CHECK (component IN ('agent','device-firmware')),
  version         TEXT NOT NULL,
  manifest        BLOB NOT NULL,
  manifest_sha256 TEXT NOT NULL UNIQUE,
  signatures      TEXT NOT NULL,
  total_bytes     INTEGER NOT NULL,
  uploaded_by     INTEGER REFERENCES users(id),
  created_at      INTEGER NOT NULL,
  complete_at     INTEGER,
  retired_at      INTEGER
);
CREATE INDEX releases_component ON releases(component, version);

CREATE TABLE release_files (
  release_id  TEXT NOT NULL REFERENCES releases(id),
  path        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  received_at INTEGER,
  PRIMARY KEY (release_id, path)
);

CREATE TABLE rollouts (
  id          TEXT PRIMARY KEY,
  release_id  TEXT NOT NULL REFERENCES releases(id),
  spec        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('running','paused','aborted','completed')),
  wave        INTEGER NOT NULL DEFAULT 0,
  reason      TEXT,
  created_by  INTEGER REFERENCES users(id),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

CREATE TABLE rollout_sites (
  rollout_id   TEXT NOT NULL REFERENCES rollouts(id),
  site_id      TEXT NOT NULL REFERENCES sites(id),
  wave         INTEGER,
  state        TEXT NOT NULL CHECK (state IN ('waiting','installing','updated','failed')),
  report       TEXT,
  from_version TEXT,
  reason       TEXT,
  started_at   INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (rollout_id, site_id)
);
CREATE INDEX rollout_sites_site ON rollout_sites(site_id);
`,
  },
  {
    version: 23,
    name: 'leases: work that must happen once, done by one server at a time',
    // server/cluster/lease-store.ts: one row per kind of work. The holder
    // renews expires_at (the database's clock, ms) before it passes; another
    // server takes the row only once it has, and the token then counts up, so
    // a write fenced by (holder, token) from a holder that lost the row
    // without knowing is refused. A released row keeps its token, with no
    // holder ('') and expires_at 0.
    sql: `
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  token       INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL
);
`,
    postgres: `
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  token       BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL
);
`,
  },
  {
    version: 24,
    name: "technicians' alarms, their history and incidents",
    // server/alarms/store.ts writes the engine's effects here and restores its
    // state from the open rows at start. One open alarm per key (site/kind):
    // the partial unique index holds the engine's invariant in the store too.
    // Reasons, incident members and counts are JSON the store parses; `n` is
    // the number in the id (al-N, in-N), so the next id after a restart is
    // one MAX away.
    sql: `
CREATE TABLE alarms (
  id             TEXT PRIMARY KEY,
  n              INTEGER NOT NULL,
  key            TEXT NOT NULL,
  site_id        TEXT NOT NULL,
  site_kind      TEXT NOT NULL,
  area_id        INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  severity       TEXT NOT NULL CHECK (severity IN ('critical','major','minor','warning')),
  reasons        TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('pending','raised','acknowledged','cleared')),
  detected_at    INTEGER NOT NULL,
  raised_at      INTEGER,
  updated_at     INTEGER NOT NULL,
  count          INTEGER NOT NULL,
  active         INTEGER NOT NULL,
  inactive_since INTEGER,
  ack_at         INTEGER,
  ack_by         TEXT,
  ack_note       TEXT,
  cleared_at     INTEGER,
  clear_cause    TEXT CHECK (clear_cause IN ('condition_cleared','manual','site_removed')),
  cleared_by     TEXT,
  clear_note     TEXT,
  incident_id    TEXT
);
CREATE UNIQUE INDEX alarms_open_key ON alarms(key) WHERE state <> 'cleared';
CREATE INDEX alarms_site ON alarms(site_id, detected_at);

CREATE TABLE alarm_history (
  id       INTEGER PRIMARY KEY,
  alarm_id TEXT NOT NULL REFERENCES alarms(id),
  at       INTEGER NOT NULL,
  type     TEXT NOT NULL CHECK (type IN ('raised','acknowledged','severity_changed','reasons_changed','cleared')),
  count    INTEGER NOT NULL,
  detail   TEXT NOT NULL
);
CREATE INDEX alarm_history_alarm ON alarm_history(alarm_id, at);

CREATE TABLE incidents (
  id             TEXT PRIMARY KEY,
  n              INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  alarm_kind     TEXT NOT NULL,
  area_id        INTEGER NOT NULL,
  root_alarm_id  TEXT,
  state          TEXT NOT NULL CHECK (state IN ('open','resolved')),
  severity       TEXT NOT NULL,
  opened_at      INTEGER NOT NULL,
  last_joined_at INTEGER NOT NULL,
  resolved_at    INTEGER,
  members        TEXT NOT NULL,
  counts         TEXT NOT NULL
);
CREATE INDEX incidents_open ON incidents(state) WHERE state = 'open';
`,
    postgres: `
CREATE TABLE alarms (
  id             TEXT PRIMARY KEY,
  n              BIGINT NOT NULL,
  key            TEXT NOT NULL,
  site_id        TEXT NOT NULL,
  site_kind      TEXT NOT NULL,
  area_id        BIGINT NOT NULL,
  kind           TEXT NOT NULL,
  severity       TEXT NOT NULL CHECK (severity IN ('critical','major','minor','warning')),
  reasons        TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('pending','raised','acknowledged','cleared')),
  detected_at    BIGINT NOT NULL,
  raised_at      BIGINT,
  updated_at     BIGINT NOT NULL,
  count          BIGINT NOT NULL,
  active         INTEGER NOT NULL,
  inactive_since BIGINT,
  ack_at         BIGINT,
  ack_by         TEXT,
  ack_note       TEXT,
  cleared_at     BIGINT,
  clear_cause    TEXT CHECK (clear_cause IN ('condition_cleared','manual','site_removed')),
  cleared_by     TEXT,
  clear_note     TEXT,
  incident_id    TEXT
);
CREATE UNIQUE INDEX alarms_open_key ON alarms(key) WHERE state <> 'cleared';
CREATE INDEX alarms_site ON alarms(site_id, detected_at);

CREATE TABLE alarm_history (
  id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  alarm_id TEXT NOT NULL REFERENCES alarms(id),
  at       BIGINT NOT NULL,
  type     TEXT NOT NULL CHECK (type IN ('raised','acknowledged','severity_changed','reasons_changed','cleared')),
  count    BIGINT NOT NULL,
  detail   TEXT NOT NULL
);
CREATE INDEX alarm_history_alarm ON alarm_history(alarm_id, at);

CREATE TABLE incidents (
  id             TEXT PRIMARY KEY,
  n              BIGINT NOT NULL,
  kind           TEXT NOT NULL,
  alarm_kind     TEXT NOT NULL,
  area_id        BIGINT NOT NULL,
  root_alarm_id  TEXT,
  state          TEXT NOT NULL CHECK (state IN ('open','resolved')),
  severity       TEXT NOT NULL,
  opened_at      BIGINT NOT NULL,
  last_joined_at BIGINT NOT NULL,
  resolved_at    BIGINT,
  members        TEXT NOT NULL,
  counts         TEXT NOT NULL
);
CREATE INDEX incidents_open ON incidents(state) WHERE state = 'open';
`,
  },
  {
    version: 25,
    name: 'the webhook outbox: messages to external receivers, kept until delivered',
    // server/outbox/store.ts. A message is enqueued in the transaction of
    // what it tells (an alarm and its notification are stored together or
    // not at all) and kept until its receiver takes it or it fails for good.
    // `seq` counts per destination from outbox_sequences (one upserted row
    // per destination, so two transactions never take the same number and
    // the count survives purging delivered rows); a destination's messages go
    // out one at a time in seq order, so its head is the pending row with the
    // lowest seq (outbox_pending). claimed_by/claimed_until: which server is
    // delivering it, until when; a crashed server's claim lapses.
    sql: `
CREATE TABLE outbox_messages (
  id              TEXT PRIMARY KEY,
  destination     TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  event_type      TEXT NOT NULL,
  payload         TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  claimed_by      TEXT,
  claimed_until   INTEGER,
  last_status     INTEGER,
  last_error      TEXT,
  finished_at     INTEGER,
  UNIQUE (destination, seq)
);
CREATE INDEX outbox_pending ON outbox_messages(destination, seq) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox_messages(state, finished_at);

CREATE TABLE outbox_sequences (
  destination TEXT PRIMARY KEY,
  last_seq    INTEGER NOT NULL
);
`,
    postgres: `
CREATE TABLE outbox_messages (
  id              TEXT PRIMARY KEY,
  destination     TEXT NOT NULL,
  seq             BIGINT NOT NULL,
  event_type      TEXT NOT NULL,
  payload         TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),
  attempts        BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  claimed_by      TEXT,
  claimed_until   BIGINT,
  last_status     BIGINT,
  last_error      TEXT,
  finished_at     BIGINT,
  UNIQUE (destination, seq)
);
CREATE INDEX outbox_pending ON outbox_messages(destination, seq) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox_messages(state, finished_at);

CREATE TABLE outbox_sequences (
  destination TEXT PRIMARY KEY,
  last_seq    BIGINT NOT NULL
);
`,
  },
  {
    version: 26,
    name: "people's comments on technicians' alarms",
    // server/alarms/store.ts. A comment is a person's words on an alarm, open
    // or cleared, not a lifecycle transition: its own table, so alarm_history
    // keeps only what the engine decided (its CHECK lists those types).
    sql: `
CREATE TABLE alarm_comments (
  id       INTEGER PRIMARY KEY,
  alarm_id TEXT NOT NULL REFERENCES alarms(id),
  at       INTEGER NOT NULL,
  by_user  TEXT NOT NULL,
  note     TEXT NOT NULL
);
CREATE INDEX alarm_comments_alarm ON alarm_comments(alarm_id, at);
`,
    postgres: `
CREATE TABLE alarm_comments (
  id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  alarm_id TEXT NOT NULL REFERENCES alarms(id),
  at       BIGINT NOT NULL,
  by_user  TEXT NOT NULL,
  note     TEXT NOT NULL
);
CREATE INDEX alarm_comments_alarm ON alarm_comments(alarm_id, at);
`,
  },
  {
    version: 27,
    name: 'notification rules, notifications (bell, Web Push), their pending delays, push subscriptions',
    // server/notifications/store.ts. A rule's kinds and steps are JSON (the
    // store validates them). A notification is one person told of one alarm:
    // the console bell reads it (read_at), Web Push delivers it (push_state,
    // retried from push_next_at); what webhooks get is in the outbox.
    // notification_tracks keeps each open alarm's delays and escalations
    // (server/notifications/model.ts AlarmTrack as JSON), so a restart tells
    // nobody early, nobody twice and forgets nobody.
    sql: `
CREATE TABLE notification_rules (
  id                INTEGER PRIMARY KEY,
  area_id           INTEGER,
  min_severity      TEXT NOT NULL CHECK (min_severity IN ('critical','major','minor','warning')),
  kinds             TEXT,
  delay_ms          INTEGER NOT NULL,
  escalate_after_ms INTEGER,
  steps             TEXT NOT NULL,
  enabled           INTEGER NOT NULL DEFAULT 1,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);

CREATE TABLE notifications (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL,
  alarm_id      TEXT NOT NULL,
  site_id       TEXT NOT NULL,
  area_id       INTEGER NOT NULL,
  kind          TEXT NOT NULL,
  severity      TEXT NOT NULL,
  cause         TEXT NOT NULL CHECK (cause IN ('raised','severity_raised','escalated')),
  rule_id       INTEGER,
  step          INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  read_at       INTEGER,
  push_state    TEXT NOT NULL CHECK (push_state IN ('none','pending','delivered','failed')),
  push_attempts INTEGER NOT NULL DEFAULT 0,
  push_next_at  INTEGER,
  push_error    TEXT,
  pushed_at     INTEGER
);
CREATE INDEX notifications_user ON notifications(user_id, id);
CREATE INDEX notifications_unread ON notifications(user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_push ON notifications(push_next_at) WHERE push_state = 'pending';

CREATE TABLE notification_tracks (
  alarm_id   TEXT PRIMARY KEY,
  track      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE push_subscriptions (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL,
  endpoint   TEXT NOT NULL UNIQUE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
`,
    postgres: `
CREATE TABLE notification_rules (
  id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  area_id           BIGINT,
  min_severity      TEXT NOT NULL CHECK (min_severity IN ('critical','major','minor','warning')),
  kinds             TEXT,
  delay_ms          BIGINT NOT NULL,
  escalate_after_ms BIGINT,
  steps             TEXT NOT NULL,
  enabled           INTEGER NOT NULL DEFAULT 1,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL
);

CREATE TABLE notifications (
  id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  user_id       BIGINT NOT NULL,
  alarm_id      TEXT NOT NULL,
  site_id       TEXT NOT NULL,
  area_id       BIGINT NOT NULL,
  kind          TEXT NOT NULL,
  severity      TEXT NOT NULL,
  cause         TEXT NOT NULL CHECK (cause IN ('raised','severity_raised','escalated')),
  rule_id       BIGINT,
  step          BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  read_at       BIGINT,
  push_state    TEXT NOT NULL CHECK (push_state IN ('none','pending','delivered','failed')),
  push_attempts BIGINT NOT NULL DEFAULT 0,
  push_next_at  BIGINT,
  push_error    TEXT,
  pushed_at     BIGINT
);
CREATE INDEX notifications_user ON notifications(user_id, id);
CREATE INDEX notifications_unread ON notifications(user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_push ON notifications(push_next_at) WHERE push_state = 'pending';

CREATE TABLE notification_tracks (
  alarm_id   TEXT PRIMARY KEY,
  track      TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE push_subscriptions (
  id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  user_id    BIGINT NOT NULL,
  endpoint   TEXT NOT NULL UNIQUE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
`,
  },
  {
    version: 28,
    name: 'registry changes: what each server must re-read after another changed a site or an area',
    // server/cluster/registry-watch.ts. One row per changed site or area, the
    // newest generation of its change (upserted, so the table stays as large
    // as the registry, not its history), plus the counter row ('counter', '')
    // whose gen every registry write raises in its own transaction: that row's
    // lock orders the writers' commits, so a watcher that has read generation
    // n has seen every change below it (a sequence would hand out numbers in
    // one order and commit them in another).
    sql: `
CREATE TABLE registry_changes (
  kind TEXT NOT NULL CHECK (kind IN ('counter','site','area')),
  ref  TEXT NOT NULL,
  gen  INTEGER NOT NULL,
  PRIMARY KEY (kind, ref)
);
CREATE INDEX registry_changes_gen ON registry_changes(gen);
INSERT INTO registry_changes (kind, ref, gen) VALUES ('counter', '', 0);
`,
    postgres: `
CREATE TABLE registry_changes (
  kind TEXT NOT NULL CHECK (kind IN ('counter','site','area')),
  ref  TEXT NOT NULL,
  gen  BIGINT NOT NULL,
  PRIMARY KEY (kind, ref)
);
CREATE INDEX registry_changes_gen ON registry_changes(gen);
INSERT INTO registry_changes (kind, ref, gen) VALUES ('counter', '', 0);
`,
  },
  {
    version: 29,
    name: "alarm actions: a person's acknowledge or clear made on a server that does not run the alarms, for the one that does",
    // server/alarms/service.ts. With several servers only the holder of the
    // 'alarms' lease runs the engine; another server's acknowledge or clear is
    // a row here that the holder takes, decides through its engine and answers
    // (result: 'ok' or the refusal's code), and the asking server then deletes.
    sql: `
CREATE TABLE alarm_actions (
  id         INTEGER PRIMARY KEY,
  alarm_id   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('acknowledge','clear')),
  at         INTEGER NOT NULL,
  by_user    TEXT NOT NULL,
  note       TEXT,
  result     TEXT,
  decided_at INTEGER
);
CREATE INDEX alarm_actions_open ON alarm_actions(id) WHERE result IS NULL;
`,
    postgres: `
CREATE TABLE alarm_actions (
  id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  alarm_id   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('acknowledge','clear')),
  at         BIGINT NOT NULL,
  by_user    TEXT NOT NULL,
  note       TEXT,
  result     TEXT,
  decided_at BIGINT
);
CREATE INDEX alarm_actions_open ON alarm_actions(id) WHERE result IS NULL;
`,
  },
  {
    version: 30,
    name: 'the maintenance log: work orders made from alarms or planned, and their audited transitions',
    // server/maintenance/store.ts. A work order is updated in place, every
    // transition appended to work_order_events (who, when, from, to) in the
    // same transaction. One active order per alarm (a partial unique index:
    // a second one may follow a cancelled or closed order). The automatic
    // close is a conditional UPDATE ... WHERE state = 'resolved': two servers
    // hearing the same sound check close it once.
    sql: `
CREATE TABLE work_orders (
  id                INTEGER PRIMARY KEY,
  source            TEXT NOT NULL CHECK (source IN ('alarm','planned')),
  alarm_id          TEXT,
  fault_kind        TEXT,
  site_id           TEXT NOT NULL,
  area_id           INTEGER NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('open','assigned','visit_planned','resolved','closed','cancelled')),
  assignee_id       INTEGER,
  assignee          TEXT,
  visit_planned_for INTEGER,
  parts             TEXT NOT NULL DEFAULT '[]',
  notes             TEXT,
  resolution        TEXT,
  created_at        INTEGER NOT NULL,
  created_by        TEXT NOT NULL,
  updated_at        INTEGER NOT NULL,
  resolved_at       INTEGER,
  resolved_by       TEXT,
  verified_at       INTEGER,
  closed_at         INTEGER,
  cancelled_at      INTEGER
);
CREATE UNIQUE INDEX work_orders_alarm_active ON work_orders(alarm_id) WHERE state IN ('open','assigned','visit_planned','resolved');
CREATE INDEX work_orders_area ON work_orders(area_id, state);
CREATE INDEX work_orders_site ON work_orders(site_id, state);

CREATE TABLE work_order_events (
  id         INTEGER PRIMARY KEY,
  order_id   INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  by_user    TEXT NOT NULL,
  action     TEXT NOT NULL,
  from_state TEXT,
  to_state   TEXT NOT NULL,
  detail     TEXT NOT NULL
);
CREATE INDEX work_order_events_order ON work_order_events(order_id, id);
`,
    postgres: `
CREATE TABLE work_orders (
  id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  source            TEXT NOT NULL CHECK (source IN ('alarm','planned')),
  alarm_id          TEXT,
  fault_kind        TEXT,
  site_id           TEXT NOT NULL,
  area_id           BIGINT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('open','assigned','visit_planned','resolved','closed','cancelled')),
  assignee_id       BIGINT,
  assignee          TEXT,
  visit_planned_for BIGINT,
  parts             TEXT NOT NULL DEFAULT '[]',
  notes             TEXT,
  resolution        TEXT,
  created_at        BIGINT NOT NULL,
  created_by        TEXT NOT NULL,
  updated_at        BIGINT NOT NULL,
  resolved_at       BIGINT,
  resolved_by       TEXT,
  verified_at       BIGINT,
  closed_at         BIGINT,
  cancelled_at      BIGINT
);
CREATE UNIQUE INDEX work_orders_alarm_active ON work_orders(alarm_id) WHERE state IN ('open','assigned','visit_planned','resolved');
CREATE INDEX work_orders_area ON work_orders(area_id, state);
CREATE INDEX work_orders_site ON work_orders(site_id, state);

CREATE TABLE work_order_events (
  id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  order_id   BIGINT NOT NULL,
  at         BIGINT NOT NULL,
  by_user    TEXT NOT NULL,
  action     TEXT NOT NULL,
  from_state TEXT,
  to_state   TEXT NOT NULL,
  detail     TEXT NOT NULL
);
CREATE INDEX work_order_events_order ON work_order_events(order_id, id);
`,
  },
  {
    version: 31,
    name: 'live streams: which server runs each, until when, and a stop asked through another server',
    // server/live/store.ts. With several servers a stream runs in the process
    // that holds its source (a browser's socket, a relay's ffmpeg): it renews
    // owner_until (the database's clock, ms) while on air; a stream whose
    // owner stopped renewing is closed by the live lease's holder; a stop that
    // reaches another server is written here for the owner to carry out.
    sql: `
ALTER TABLE live_streams ADD COLUMN owner TEXT;
ALTER TABLE live_streams ADD COLUMN owner_until INTEGER;
ALTER TABLE live_streams ADD COLUMN stop_requested_at INTEGER;
ALTER TABLE live_streams ADD COLUMN stop_requested_by INTEGER;
ALTER TABLE live_streams ADD COLUMN stop_requested_name TEXT;
CREATE INDEX live_streams_open_owner ON live_streams(owner) WHERE ended_at IS NULL;
`,
    postgres: `
ALTER TABLE live_streams ADD COLUMN owner TEXT;
ALTER TABLE live_streams ADD COLUMN owner_until BIGINT;
ALTER TABLE live_streams ADD COLUMN stop_requested_at BIGINT;
ALTER TABLE live_streams ADD COLUMN stop_requested_by BIGINT;
ALTER TABLE live_streams ADD COLUMN stop_requested_name TEXT;
CREATE INDEX live_streams_open_owner ON live_streams(owner) WHERE ended_at IS NULL;
`,
  },
  {
    version: 32,
    name: 'languages: what each area speaks, the language versions of a bulletin, what each site was planned to hear and what each part played',
    // Decree 49/2024/NĐ-CP: grassroots information in ethnic-minority languages.
    // areas.languages: the area's own ordered list of BCP 47 tags (JSON), NULL
    // when it inherits its parent's (server/registry/area-languages.ts).
    // broadcast_items.language: the default version's language (its media's),
    // set when the item has other versions; longest_ms: the longest any site
    // plays it (every version back to back), so period queries keep it while
    // some site may still be playing it; NULL: duration_ms.
    // broadcast_item_versions: the other versions, one per language, in order.
    // playlist_entries.languages: what a site was planned to hear (JSON: the
    // site's languages, those played, those with no version, a fallback and
    // why), so the as-run can say it. as_run.parts: a receipt's parts (JSON).
    sql: `
ALTER TABLE areas ADD COLUMN languages TEXT;
ALTER TABLE broadcast_items ADD COLUMN language TEXT;
ALTER TABLE broadcast_items ADD COLUMN longest_ms INTEGER;
CREATE TABLE broadcast_item_versions (
  item_id     TEXT NOT NULL REFERENCES broadcast_items(id),
  language    TEXT NOT NULL,
  position    INTEGER NOT NULL,
  media_id    TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (item_id, language)
);
CREATE INDEX broadcast_item_versions_media ON broadcast_item_versions(media_id);
ALTER TABLE playlist_entries ADD COLUMN languages TEXT;
ALTER TABLE as_run ADD COLUMN parts TEXT;
`,
    postgres: `
ALTER TABLE areas ADD COLUMN languages TEXT;
ALTER TABLE broadcast_items ADD COLUMN language TEXT;
ALTER TABLE broadcast_items ADD COLUMN longest_ms BIGINT;
CREATE TABLE broadcast_item_versions (
  item_id     TEXT NOT NULL REFERENCES broadcast_items(id),
  language    TEXT NOT NULL,
  position    BIGINT NOT NULL,
  media_id    TEXT NOT NULL,
  duration_ms BIGINT NOT NULL,
  PRIMARY KEY (item_id, language)
);
CREATE INDEX broadcast_item_versions_media ON broadcast_item_versions(media_id);
ALTER TABLE playlist_entries ADD COLUMN languages TEXT;
ALTER TABLE as_run ADD COLUMN parts TEXT;
`,
  },
  {
    version: 33,
    name: 'rollout sites by when they finished: the alarms read the update attempts finished since their last look',
    // server/alarms/update-faults.ts: the alarms' holder looks every few
    // seconds for attempts finished since its last look (a failed one raises
    // update_failed, a later success clears it); without the index each look
    // would scan every rollout's every site.
    sql: `
CREATE INDEX rollout_sites_finished ON rollout_sites(finished_at) WHERE finished_at IS NOT NULL;
`,
    postgres: `
CREATE INDEX rollout_sites_finished ON rollout_sites(finished_at) WHERE finished_at IS NOT NULL;
`,
  },
  {
    version: 34,
    name: 'notification rules: quiet hours of their own',
    // server/notifications/policy.ts. JSON {startMinute, endMinute} in
    // Asia/Ho_Chi_Minh wall time (start = end: none, the rule wakes people at
    // any hour); NULL: the province's quiet hours (22:00-06:00).
    sql: `
ALTER TABLE notification_rules ADD COLUMN quiet_hours TEXT;
`,
    postgres: `
ALTER TABLE notification_rules ADD COLUMN quiet_hours TEXT;
`,
  },
  {
    version: 35,
    name: "what several servers share: the guessing limits' counts, and the work order changes every server tells its consoles",
    // server/auth/guess-store.ts: one row per reserved password or enrolment
    // code guess (kind), kept as a failure or deleted when given back; a
    // login row counts against its address, its username (NULL once an
    // admin unlocked it) and, while pair = 1, the (username, address) pair
    // (cleared when that user signs in from there). Rows past the window
    // are swept. login_known_addresses: where each user signed in (30 days).
    // server/maintenance/store.ts: work_order_feed, every stored change of a
    // work order (JSON: the order as it then was, and its event) numbered by
    // change_feeds' row, which each writer raises in its own transaction:
    // that row's lock orders the writers' commits, so a server that has read
    // seq n has seen every change below it; the writer tells its own
    // consoles, the others read the feed. Only the newest rows are kept.
    sql: `
CREATE TABLE guess_attempts (
  id       INTEGER PRIMARY KEY,
  kind     TEXT NOT NULL CHECK (kind IN ('login','enrol')),
  address  TEXT NOT NULL,
  username TEXT,
  pair     INTEGER NOT NULL DEFAULT 0,
  at       INTEGER NOT NULL
);
CREATE INDEX guess_attempts_address ON guess_attempts(kind, address, at);
CREATE INDEX guess_attempts_username ON guess_attempts(kind, username, at) WHERE username IS NOT NULL;
CREATE INDEX guess_attempts_at ON guess_attempts(kind, at);

CREATE TABLE login_known_addresses (
  username TEXT NOT NULL,
  address  TEXT NOT NULL,
  at       INTEGER NOT NULL,
  PRIMARY KEY (username, address)
);
CREATE INDEX login_known_addresses_at ON login_known_addresses(at);

CREATE TABLE change_feeds (
  name TEXT PRIMARY KEY,
  seq  INTEGER NOT NULL
);
INSERT INTO change_feeds (name, seq) VALUES ('work_orders', 0);

CREATE TABLE work_order_feed (
  seq    INTEGER PRIMARY KEY,
  writer TEXT NOT NULL,
  change TEXT NOT NULL
);
`,
    postgres: `
CREATE TABLE guess_attempts (
  id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  kind     TEXT NOT NULL CHECK (kind IN ('login','enrol')),
  address  TEXT NOT NULL,
  username TEXT,
  pair     INTEGER NOT NULL DEFAULT 0,
  at       BIGINT NOT NULL
);
CREATE INDEX guess_attempts_address ON guess_attempts(kind, address, at);
CREATE INDEX guess_attempts_username ON guess_attempts(kind, username, at) WHERE username IS NOT NULL;
CREATE INDEX guess_attempts_at ON guess_attempts(kind, at);

CREATE TABLE login_known_addresses (
  username TEXT NOT NULL,
  address  TEXT NOT NULL,
  at       BIGINT NOT NULL,
  PRIMARY KEY (username, address)
);
CREATE INDEX login_known_addresses_at ON login_known_addresses(at);

CREATE TABLE change_feeds (
  name TEXT PRIMARY KEY,
  seq  BIGINT NOT NULL
);
INSERT INTO change_feeds (name, seq) VALUES ('work_orders', 0);

CREATE TABLE work_order_feed (
  seq    BIGINT PRIMARY KEY,
  writer TEXT NOT NULL,
  change TEXT NOT NULL
);
`,
  },
  {
    version: 36,
    name: "an alert's message in other languages, and which of them each site played",
    // Decree 49/2024/NĐ-CP. alerts.versions: JSON, the language versions of
    // the current revision in the order given (each: language, its media or
    // why it has none), NULL: none. alert_deliveries.languages_played and
    // languages_missed: JSON lists of tags as the site reported them
    // (protocol alert_status), NULL: not reported.
    sql: `
ALTER TABLE alerts ADD COLUMN versions TEXT;
ALTER TABLE alert_deliveries ADD COLUMN languages_played TEXT;
ALTER TABLE alert_deliveries ADD COLUMN languages_missed TEXT;
`,
    postgres: `
ALTER TABLE alerts ADD COLUMN versions TEXT;
ALTER TABLE alert_deliveries ADD COLUMN languages_played TEXT;
ALTER TABLE alert_deliveries ADD COLUMN languages_missed TEXT;
`,
  },
];
