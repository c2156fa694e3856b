/**
 * Server configuration: read once from LOANET_* environment variables,
 * validated, and passed down. Nothing deeper reads process.env.
 * Every variable is listed in README.md's configuration table.
 */
import { StartupError } from './errors.ts';
import { capPriorityTableFrom } from './alerts/cap/priority-config.ts';
import type { PriorityTable } from './alerts/cap/priority.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './http/limits.ts';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './fleet/connection-limit.ts';
import { isValidSiteId } from '../protocol/index.ts';
import { DEFAULT_LOGIN_LIMITS, type LoginLimits } from './auth/login-limiter.ts';
import { checkPassword, commonPasswords, DEFAULT_PASSWORD_MIN_LENGTH, PASSWORD_MIN_LENGTH_FLOOR } from './auth/password-policy.ts';
import net from 'node:net';
import path from 'node:path';
import {
  DEFAULT_LIVE_ANNOUNCE_MS,
  DEFAULT_LIVE_JITTER_MS,
  DEFAULT_LIVE_MAX_DELAY_MS,
  DEFAULT_LIVE_OUTPUT_MS,
  DEFAULT_LIVE_PACKETS,
  LIVE_PACING_MS,
  liveDelayMs,
} from './live/delay-budget.ts';
import { parseRelayAllow, type RelayAllow } from './live/relay-destination.ts';
import { checkDiskLimits, type DiskLimits } from './store/disk-policy.ts';
import { DEFAULT_ENROL_LIMITS, type EnrolLimits } from './enrolment/limiter.ts';
import { type Destination, parseDestinations } from './outbox/destination.ts';
import { parseRelayPrefixes, type RelayOrigins } from './reports/relay-origin.ts';

export interface ServerConfig {
  httpPort: number;
  httpHost: string;
  mqttPort: number;
  mqttHost: string;
  /** Embedded broker: open connections and connect rate per client address, checked at the TCP accept (server/fleet/connection-limit.ts). */
  mqttConnections: ConnectionLimits;
  /**
   * An external MQTT 3.1.1 broker (Mosquitto, EMQX) to use instead of the
   * embedded one, e.g. mqtt://127.0.0.1:1884; null = embedded broker.
   */
  mqttUrl: string | null;
  /** The server's own user on the external broker (never a valid site id, so it cannot collide with one). */
  mqttUsername: string;
  /**
   * Every loanet server's user on the external broker when several share it
   * (LOANET_MQTT_SERVER_USERS), this one's among them; each connects under its
   * own name and all share LOANET_MQTT_PASSWORD. The broker files and the
   * EMQX hooks give each of them the server's rights. Alone: [mqttUsername].
   */
  mqttServerUsers: string[];
  /** Its password; required with mqttUrl, and what the generated Mosquitto password file hashes for it. */
  mqttPassword: string | undefined;
  /** Shared secret an external broker sends in the x-loanet-hook-secret header to the EMQX hooks; unset = hooks off. */
  brokerHookSecret: string | undefined;
  dataDir: string;
  /**
   * Files every server must read (LOANET_SHARED_DIR): the media library, the
   * releases, the kept reports, the Web Push key, the release keys. Alone, the
   * data folder; several servers point it at one shared folder (NFS, a
   * replicated volume) so an agent gets an item from whichever server answers.
   */
  sharedDir: string;
  /** PostgreSQL as the store (postgres://user:password@host:5432/db); null = SQLite in dataDir (server/store/database.ts). */
  databaseUrl: string | null;
  /** Bootstraps the `admin` account on first start; when unset a random one is generated and printed once. */
  adminPassword: string | undefined;
  /** Expected heartbeat interval of agents that have not said theirs (seconds). */
  heartbeatIntervalS: number;
  /** How often the server re-evaluates liveness and coverage (milliseconds). */
  sweepIntervalMs: number;
  /** A board that does not report holding its newest site configuration this long after it was published is degraded (config_stale). */
  siteConfigGraceS: number;
  /** A cluster with a monitoring mic whose sound was last verified longer ago than this is degraded. */
  soundMaxAgeH: number;
  /** How often each mic-equipped site gets a scheduled sound check (hours; 0 = never). */
  soundCheckIntervalH: number;
  /** How often the sound-check planner runs (seconds), and how many sites it sends a check per run. */
  soundCheckPeriodS: number;
  soundCheckBatch: number;
  /** Local hours (Asia/Ho_Chi_Minh) in which no scheduled test tone is played, e.g. "21-6"; empty = none. */
  soundCheckQuietHours: { startHour: number; endHour: number } | null;
  /** Coverage history snapshot period (seconds). */
  historyIntervalS: number;
  /**
   * How long a lease on the work that must happen once outlives its holder's
   * last renewal (ms): with several servers, another takes that work over
   * within about 4/3 of it after the holder dies (server/cluster/lease-policy.ts).
   */
  leaseTtlMs: number;
  /** Default command time to live (seconds): a command for an offline site waits this long. */
  commandTtlS: number;
  /** Session token lifetime (hours). */
  sessionTtlH: number;
  /** Secure flag of the console's session cookie: auto = when the request came over HTTPS (directly or X-Forwarded-Proto from a TLS proxy). */
  cookieSecure: 'auto' | 'always' | 'never';
  /**
   * Proxies whose X-Forwarded-For (and -Proto) is believed: addresses, CIDR
   * ranges or proxy-addr's names (loopback, linklocal, uniquelocal); empty =
   * none, the client's address is the TCP peer's. Login limits count by it.
   */
  trustProxy: string[];
  /** Password guessing limits (server/auth/login-limiter.ts). */
  login: LoginLimits;
  /** Shortest password a person may choose (server/auth/password-policy.ts). */
  passwordMinLength: number;
  /** API tokens: lifetime when the creator names none, and the longest one may name (days). */
  apiTokenDays: number;
  apiTokenMaxDays: number;
  /** Structure version used when an area code is given without one. */
  areaVersion: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The media library and text to speech (server/media). */
  media: MediaConfig;
  /** Live streams (server/live): defaults a start request may override. */
  live: LiveDefaults;
  /** Scheduled bulletins: how far ahead playlists reach and how often they are recomputed (server/schedule). */
  schedule: ScheduleConfig;
  /** Technicians' alarms: flap damping and incident grouping (server/alarms/flap-damping.ts, incidents.ts say why the defaults). */
  alarms: { holdDownS: number; pendingS: number; incidentWindowS: number };
  /** HTTP timeouts and connection caps (server/http/limits.ts). */
  http: HttpLimits;
  /** The data folder's disk: the reserve file and the levels at which writes that can wait stop (server/store/disk-policy.ts). */
  disk: DiskConfig;
  /** How CAP urgency, severity and certainty become loanet priorities (LOANET_CAP_PRIORITY_TABLE; server/alerts/cap/priority.ts). */
  capPriorityTable: PriorityTable;
  /** One-time enrolment codes of boards (server/enrolment). */
  enrolment: EnrolmentConfig;
  /** The folder of PUBLIC release keys (*.pem) whose signatures an uploaded release must carry (server/releases/trust.ts); the server holds no private key. */
  releaseKeysDir: string;
  /** Bearer token a Prometheus scrape of /metrics must send; unset = /metrics answers loopback clients only (server/metrics/access.ts). */
  metricsToken: string | undefined;
  /** Where the outbox sends events (LOANET_OUTBOX_DESTINATIONS, a JSON array; server/outbox/destination.ts); empty = none. Holds secrets: never logged. */
  outboxDestinations: Destination[];
  /** Relays of national and of provincial radio, by URL prefix (LOANET_RELAY_NATIONAL, LOANET_RELAY_PROVINCIAL), for the reports' hours on air by kind. */
  relayOrigins: RelayOrigins;
  /** Months the kept monthly reports stay in the shared folder before they are removed (LOANET_REPORTS_KEEP_MONTHS; server/reports/monthly.ts). */
  reportsKeepMonths: number;
}

export interface EnrolmentConfig {
  /** How long a new code is valid (ms). */
  ttlMs: number;
  /** Refused codes allowed per client address and over all addresses in the window (server/enrolment/limiter.ts). */
  limits: EnrolLimits;
  /** The broker's URL as boards reach it, answered to an enrolled board; null = mqtt://{the host the board asked}:{the broker's port}. */
  agentMqttUrl: string | null;
}

export interface DiskConfig extends DiskLimits {
  /** How often free space is measured (ms); also measured before each write that cannot wait and after a failed one. */
  checkMs: number;
}

export interface ScheduleConfig {
  /** Each site's desired playlist covers [now, now + horizonH). */
  horizonH: number;
  /** Recompute every site's playlist this often (seconds) as the horizon slides. */
  recomputeS: number;
}

export interface MediaConfig {
  /** Largest upload accepted (bytes); bigger ones are cut off while streaming, never buffered. */
  maxBytes: number;
  /** Longest audio accepted (seconds). */
  maxDurationS: number;
  /** Opus bitrate of stored items (kbit/s): 24 is clear speech for loudspeakers at ~11 MB per hour. */
  bitrateKbps: number;
  /** Integrated loudness every item is normalised to (LUFS, EBU R128 / ITU-R BS.1770). */
  loudnessLufs: number;
  /** Explicit ffmpeg/ffprobe binaries; unset = PATH, then the @ffmpeg-installer / @ffprobe-installer packages. */
  ffmpegPath: string | undefined;
  ffprobePath: string | undefined;
  /** espeak-ng binary (a name looked up on PATH, or a path). */
  espeakPath: string;
  /** Bulletin (upload, text-to-speech) jobs that may wait for a slot; one more is refused with 503. Alerts have their own lane. */
  queueMax: number;
}

type Env = Record<string, string | undefined>;

/** Live stream defaults (server/live); a start request may override delayMs, packetsPerMessage and bitrate. */
export interface LiveDefaults {
  /** capture → play-at, ms: the delay budget's sum (server/live/delay-budget.ts) unless LOANET_LIVE_DELAY_MS sets it whole. */
  delayMs: number;
  /** The jitter buffer target inside delayMs (LOANET_LIVE_JITTER_MS, default 210). */
  jitterMs: number;
  /** The slowest site output's write-ahead allowed for (LOANET_LIVE_OUTPUT_MS, default 180). */
  outputMs: number;
  /** Ceiling of the adaptive delay for slow links (LOANET_LIVE_MAX_DELAY_MS, default 3000; at or below delayMs: fixed delay). */
  maxDelayMs: number;
  packetsPerMessage: number;
  bitrate: number;
  announceMs: number;
  /** Non-public addresses, networks and host names a relay may fetch from (LOANET_RELAY_ALLOW); public addresses always. */
  relayAllow: RelayAllow;
  /** How long a relay whose source was lost tries it again before the stream ends (LOANET_RELAY_RECONNECT_S, default 120; 0: ends at once). */
  relayReconnectS: number;
}

function liveConfig(env: Env): LiveDefaults {
  const packetsPerMessage = int(env, 'LOANET_LIVE_PACKETS', DEFAULT_LIVE_PACKETS, 1, 10);
  const jitterMs = int(env, 'LOANET_LIVE_JITTER_MS', DEFAULT_LIVE_JITTER_MS, 0, 5000);
  const outputMs = int(env, 'LOANET_LIVE_OUTPUT_MS', DEFAULT_LIVE_OUTPUT_MS, 0, 2000);
  const budget = liveDelayMs({ jitterMs, outputMs, packetsPerMessage, frameMs: 20, pacingMs: LIVE_PACING_MS });
  return {
    delayMs: int(env, 'LOANET_LIVE_DELAY_MS', budget, 100, 5000),
    jitterMs,
    outputMs,
    maxDelayMs: int(env, 'LOANET_LIVE_MAX_DELAY_MS', DEFAULT_LIVE_MAX_DELAY_MS, 0, 10_000),
    packetsPerMessage,
    bitrate: int(env, 'LOANET_LIVE_BITRATE', 24_000, 8000, 128_000),
    announceMs: int(env, 'LOANET_LIVE_ANNOUNCE_MS', DEFAULT_LIVE_ANNOUNCE_MS, 0, 60_000),
    relayAllow: relayAllow(env),
    relayReconnectS: int(env, 'LOANET_RELAY_RECONNECT_S', 120, 0, 3600),
  };
}

function relayAllow(env: Env): RelayAllow {
  const r = parseRelayAllow(env.LOANET_RELAY_ALLOW);
  if (!r.ok) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_RELAY_ALLOW="${env.LOANET_RELAY_ALLOW}" is not valid: "${r.entry}" is not an IP address, a network or a host name; set LOANET_RELAY_ALLOW to a comma-separated list, e.g. 127.0.0.1,10.20.0.0/16,radio.lan`,
    );
  }
  return r.allow;
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new StartupError('LOANET_CONFIG_INVALID', `${name}="${raw}" is not a whole number; set ${name} to a number from ${min} to ${max}`);
  }
  const n = Number(raw);
  if (n < min || n > max) {
    throw new StartupError('LOANET_CONFIG_INVALID', `${name}=${n} is out of range; set ${name} to a number from ${min} to ${max}`);
  }
  return n;
}

function oneOf<T extends string>(env: Env, name: string, dflt: T, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new StartupError('LOANET_CONFIG_INVALID', `${name}="${raw}" is not valid; set ${name} to one of: ${allowed.join(', ')}`);
  }
  return raw as T;
}

function quietHours(env: Env): ServerConfig['soundCheckQuietHours'] {
  const raw = env.LOANET_SOUND_CHECK_QUIET_HOURS;
  if (raw === undefined || raw.trim() === '') return null;
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(raw.trim());
  const start = m ? Number(m[1]) : NaN;
  const end = m ? Number(m[2]) : NaN;
  if (!m || start > 23 || end > 23) {
    throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_SOUND_CHECK_QUIET_HOURS="${raw}" is not valid; write local hours as START-END, e.g. 21-6`);
  }
  return { startHour: start, endHour: end };
}

/** Safe in Mosquitto's files (no `:`, spaces or line breaks); it must also not be a valid site id, so no site can ever share it. */
const SERVER_USERNAME = /^[A-Za-z0-9_.-]{1,64}$/;

function externalBroker(env: Env): Pick<ServerConfig, 'mqttUrl' | 'mqttUsername' | 'mqttServerUsers' | 'mqttPassword' | 'brokerHookSecret'> {
  const rawUrl = env.LOANET_MQTT_URL?.trim() || null;
  if (rawUrl) {
    let u: URL | undefined;
    try {
      u = new URL(rawUrl);
    } catch {
      u = undefined;
    }
    if (!u || !['mqtt:', 'mqtts:'].includes(u.protocol) || !u.hostname || u.username || u.password || (u.pathname !== '' && u.pathname !== '/')) {
      throw new StartupError(
        'LOANET_CONFIG_INVALID',
        `LOANET_MQTT_URL="${rawUrl}" is not valid; set LOANET_MQTT_URL to mqtt://host:port or mqtts://host:port (credentials go in LOANET_MQTT_USERNAME and LOANET_MQTT_PASSWORD)`,
      );
    }
  }
  const username = env.LOANET_MQTT_USERNAME || 'loanet_server';
  if (!SERVER_USERNAME.test(username) || isValidSiteId(username)) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_MQTT_USERNAME="${username}" is not valid; use up to 64 of A-Z a-z 0-9 _ . - with at least one _ . or capital letter (so it can never be a site id), e.g. loanet_server`,
    );
  }
  const password = env.LOANET_MQTT_PASSWORD || undefined;
  if (rawUrl && !password) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      "LOANET_MQTT_URL is set but LOANET_MQTT_PASSWORD is not; set LOANET_MQTT_PASSWORD to the password of the server's user on that broker",
    );
  }
  if (password !== undefined && (password.length < 12 || /[\r\n]/.test(password))) {
    throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_MQTT_PASSWORD is shorter than 12 characters or holds a line break; set a longer LOANET_MQTT_PASSWORD');
  }
  const hookSecret = env.LOANET_BROKER_HOOK_SECRET || undefined;
  if (hookSecret !== undefined && hookSecret.length < 16) {
    throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_BROKER_HOOK_SECRET is shorter than 16 characters; set a longer LOANET_BROKER_HOOK_SECRET');
  }
  return { mqttUrl: rawUrl, mqttUsername: username, mqttServerUsers: serverUsers(env, username), mqttPassword: password, brokerHookSecret: hookSecret };
}

function serverUsers(env: Env, own: string): string[] {
  const raw = env.LOANET_MQTT_SERVER_USERS?.trim();
  if (!raw) return [own];
  const users = [...new Set(raw.split(',').map((u) => u.trim()))];
  const bad = users.find((u) => !SERVER_USERNAME.test(u) || isValidSiteId(u));
  if (bad !== undefined) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_MQTT_SERVER_USERS names "${bad}", which is not a valid server user; list every server's LOANET_MQTT_USERNAME, comma-separated, each up to 64 of A-Z a-z 0-9 _ . - with at least one _ . or capital letter`,
    );
  }
  if (!users.includes(own)) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_MQTT_SERVER_USERS does not name this server's LOANET_MQTT_USERNAME="${own}"; list every server's user, this one's included`,
    );
  }
  return users;
}

function databaseUrl(env: Env): string | null {
  const raw = env.LOANET_DATABASE_URL?.trim() || null;
  if (raw === null) return null;
  let u: URL | undefined;
  try {
    u = new URL(raw);
  } catch {
    u = undefined;
  }
  if (!u || !['postgres:', 'postgresql:'].includes(u.protocol) || !u.hostname) {
    // The value may hold a password: it is not repeated.
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      'LOANET_DATABASE_URL is not valid; set it to postgres://user:password@host:5432/database (or unset it to use SQLite in LOANET_DATA_DIR)',
    );
  }
  return raw;
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function trustProxy(env: Env): string[] {
  const raw = env.LOANET_TRUST_PROXY?.trim() ?? '';
  if (raw === '') return [];
  return raw.split(',').map((part) => {
    const p = part.trim();
    const [ip, bits, extra] = p.split('/');
    const family = net.isIP(ip ?? '');
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!(PROXY_NAMES.includes(p) || (family !== 0 && okBits && extra === undefined))) {
      throw new StartupError(
        'LOANET_CONFIG_INVALID',
        `LOANET_TRUST_PROXY="${raw}": "${p}" is not an address, a CIDR range or one of ${PROXY_NAMES.join(', ')}; list your reverse proxy's address, e.g. 127.0.0.1`,
      );
    }
    return p;
  });
}

function loginLimits(env: Env): LoginLimits {
  const d = DEFAULT_LOGIN_LIMITS;
  return {
    perUserAddress: int(env, 'LOANET_LOGIN_FAILURES_USER_ADDRESS', d.perUserAddress, 1, 1000),
    perAddress: int(env, 'LOANET_LOGIN_FAILURES_ADDRESS', d.perAddress, 1, 1_000_000),
    perUser: int(env, 'LOANET_LOGIN_FAILURES_USER', d.perUser, 1, 1_000_000),
    windowMs: int(env, 'LOANET_LOGIN_WINDOW_MIN', d.windowMs / 60_000, 1, 24 * 60) * 60_000,
    backoffMaxMs: int(env, 'LOANET_LOGIN_BACKOFF_MAX_S', d.backoffMaxMs / 1000, 1, 86_400) * 1000,
  };
}

function apiTokenDays(env: Env): Pick<ServerConfig, 'apiTokenDays' | 'apiTokenMaxDays'> {
  const max = int(env, 'LOANET_API_TOKEN_MAX_DAYS', 365, 1, 3650);
  const days = int(env, 'LOANET_API_TOKEN_DAYS', Math.min(90, max), 1, 3650);
  if (days > max) {
    throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_API_TOKEN_DAYS=${days} is more than LOANET_API_TOKEN_MAX_DAYS=${max}; set LOANET_API_TOKEN_DAYS to at most ${max}`);
  }
  return { apiTokenDays: days, apiTokenMaxDays: max };
}

export function loadConfig(env: Env = process.env): ServerConfig {
  const passwordMinLength = int(env, 'LOANET_PASSWORD_MIN_LENGTH', DEFAULT_PASSWORD_MIN_LENGTH, PASSWORD_MIN_LENGTH_FLOOR, 64);
  const adminPassword = env.LOANET_ADMIN_PASSWORD;
  const adminRefusal = adminPassword ? checkPassword(adminPassword, 'admin', { minLength: passwordMinLength, common: commonPasswords() }) : undefined;
  if (adminRefusal) {
    throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_ADMIN_PASSWORD ${adminRefusal.message}; set another LOANET_ADMIN_PASSWORD`);
  }
  const areaVersion = env.LOANET_AREA_VERSION ?? '2025';
  if (!/^[0-9a-z]{1,16}$/.test(areaVersion)) {
    throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_AREA_VERSION="${areaVersion}" is not valid; use a structure version such as 2025`);
  }
  return {
    httpPort: int(env, 'LOANET_HTTP_PORT', 8080, 0, 65535),
    httpHost: env.LOANET_HTTP_HOST || '0.0.0.0',
    mqttPort: int(env, 'LOANET_MQTT_PORT', 1883, 0, 65535),
    mqttHost: env.LOANET_MQTT_HOST || '0.0.0.0',
    mqttConnections: {
      maxPerAddress: int(env, 'LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS', DEFAULT_CONNECTION_LIMITS.maxPerAddress, 1, 1_000_000),
      connectBurst: int(env, 'LOANET_MQTT_CONNECT_BURST', DEFAULT_CONNECTION_LIMITS.connectBurst, 1, 1_000_000),
      connectRatePerS: int(env, 'LOANET_MQTT_CONNECT_RATE', DEFAULT_CONNECTION_LIMITS.connectRatePerS, 1, 1_000_000),
    },
    ...externalBroker(env),
    dataDir: env.LOANET_DATA_DIR || './data',
    sharedDir: env.LOANET_SHARED_DIR || env.LOANET_DATA_DIR || './data',
    databaseUrl: databaseUrl(env),
    adminPassword: adminPassword === '' ? undefined : adminPassword,
    heartbeatIntervalS: int(env, 'LOANET_HEARTBEAT_S', 30, 1, 3600),
    sweepIntervalMs: int(env, 'LOANET_SWEEP_MS', 1000, 100, 60_000),
    siteConfigGraceS: int(env, 'LOANET_SITE_CONFIG_GRACE_S', 300, 0, 7 * 86_400),
    soundMaxAgeH: int(env, 'LOANET_SOUND_MAX_AGE_H', 168, 1, 24 * 365),
    soundCheckIntervalH: int(env, 'LOANET_SOUND_CHECK_INTERVAL_H', 24, 0, 24 * 365),
    soundCheckPeriodS: int(env, 'LOANET_SOUND_CHECK_PERIOD_S', 30, 1, 3600),
    soundCheckBatch: int(env, 'LOANET_SOUND_CHECK_BATCH', 20, 1, 10_000),
    soundCheckQuietHours: quietHours(env),
    historyIntervalS: int(env, 'LOANET_HISTORY_S', 300, 1, 86_400),
    leaseTtlMs: int(env, 'LOANET_LEASE_TTL_MS', 6000, 1200, 120_000),
    commandTtlS: int(env, 'LOANET_COMMAND_TTL_S', 3600, 1, 7 * 86_400),
    sessionTtlH: int(env, 'LOANET_SESSION_TTL_H', 12, 1, 24 * 90),
    cookieSecure: oneOf(env, 'LOANET_COOKIE_SECURE', 'auto', ['auto', 'always', 'never']),
    trustProxy: trustProxy(env),
    login: loginLimits(env),
    passwordMinLength,
    ...apiTokenDays(env),
    areaVersion,
    logLevel: oneOf(env, 'LOANET_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    media: mediaConfig(env),
    live: liveConfig(env),
    schedule: {
      horizonH: int(env, 'LOANET_SCHEDULE_HORIZON_H', 48, 1, 14 * 24),
      recomputeS: int(env, 'LOANET_SCHEDULE_RECOMPUTE_S', 60, 1, 3600),
    },
    alarms: {
      holdDownS: int(env, 'LOANET_ALARM_HOLD_DOWN_S', 300, 0, 86_400),
      pendingS: int(env, 'LOANET_ALARM_PENDING_S', 60, 0, 3600),
      incidentWindowS: int(env, 'LOANET_ALARM_INCIDENT_WINDOW_S', 180, 1, 3600),
    },
    http: httpLimits(env),
    disk: diskConfig(env),
    capPriorityTable: capPriorityTableFrom(env),
    enrolment: enrolmentConfig(env),
    releaseKeysDir: env.LOANET_RELEASE_KEYS || path.join(env.LOANET_SHARED_DIR || env.LOANET_DATA_DIR || './data', 'release-keys'),
    metricsToken: metricsToken(env),
    outboxDestinations: outboxDestinations(env),
    relayOrigins: { national: relayPrefixes(env, 'LOANET_RELAY_NATIONAL'), provincial: relayPrefixes(env, 'LOANET_RELAY_PROVINCIAL') },
    reportsKeepMonths: int(env, 'LOANET_REPORTS_KEEP_MONTHS', 36, 1, 1200),
  };
}

function relayPrefixes(env: Env, name: string): string[] {
  const r = parseRelayPrefixes(env[name]);
  if (!r.ok) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `${name}: "${r.entry}" is not an http(s) URL; list the relay sources' URL prefixes, comma-separated, e.g. https://radio.vov.vn/vov1`,
    );
  }
  return r.prefixes;
}

function outboxDestinations(env: Env): Destination[] {
  const raw = env.LOANET_OUTBOX_DESTINATIONS?.trim() ?? '';
  if (raw === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The value holds secrets and bot tokens: never repeated, not even its start.
    throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_OUTBOX_DESTINATIONS is not JSON; set it to a JSON array of destinations (docs/webhooks.md, "Destinations")');
  }
  const r = parseDestinations(parsed);
  if (!r.ok) throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_OUTBOX_DESTINATIONS: ${r.error}; see docs/webhooks.md, "Destinations"`);
  return r.destinations;
}

function metricsToken(env: Env): string | undefined {
  const t = env.LOANET_METRICS_TOKEN?.trim() ?? '';
  if (t === '') return undefined;
  // It goes in a header as one token, and guards figures about the whole network: no spaces, not guessable.
  if (!/^[\x21-\x7e]{16,256}$/.test(t)) {
    throw new StartupError('LOANET_CONFIG_INVALID', 'LOANET_METRICS_TOKEN must be 16 to 256 printable characters without spaces; make one with: openssl rand -hex 24');
  }
  return t;
}

function enrolmentConfig(env: Env): EnrolmentConfig {
  const d = DEFAULT_ENROL_LIMITS;
  const url = env.LOANET_AGENT_MQTT_URL?.trim() || null;
  if (url !== null && !/^(mqtt|mqtts|tcp|ssl|ws|wss):\/\/[^\s/]+/.test(url)) {
    throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_AGENT_MQTT_URL="${url}" is not a broker URL; give what boards connect to, e.g. mqtts://loanet.example.vn:8883`);
  }
  return {
    ttlMs: int(env, 'LOANET_ENROL_TTL_H', 24, 1, 24 * 30) * 3_600_000,
    limits: {
      perAddress: int(env, 'LOANET_ENROL_FAILURES_ADDRESS', d.perAddress, 1, 10_000),
      total: int(env, 'LOANET_ENROL_FAILURES_TOTAL', d.total, 1, 1_000_000),
      windowMs: int(env, 'LOANET_ENROL_WINDOW_MIN', d.windowMs / 60_000, 1, 24 * 60) * 60_000,
    },
    agentMqttUrl: url,
  };
}

function diskConfig(env: Env): DiskConfig {
  const MB = 1024 * 1024;
  const d: DiskConfig = {
    reserveBytes: int(env, 'LOANET_DISK_RESERVE_MB', 64, 0, 1_000_000) * MB,
    lowBytes: int(env, 'LOANET_DISK_LOW_MB', 512, 1, 10_000_000) * MB,
    criticalBytes: int(env, 'LOANET_DISK_CRITICAL_MB', 32, 0, 10_000_000) * MB,
    checkMs: int(env, 'LOANET_DISK_CHECK_MS', 5000, 100, 600_000),
  };
  const why = checkDiskLimits(d);
  if (why) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_DISK_CRITICAL_MB=${d.criticalBytes / MB} is not under LOANET_DISK_LOW_MB=${d.lowBytes / MB} (${why}); set LOANET_DISK_CRITICAL_MB lower`,
    );
  }
  return d;
}

function httpLimits(env: Env): HttpLimits {
  const d = DEFAULT_HTTP_LIMITS;
  return {
    headersTimeoutMs: int(env, 'LOANET_HTTP_HEADERS_TIMEOUT_S', d.headersTimeoutMs / 1000, 1, 600) * 1000,
    bodyTimeoutMs: int(env, 'LOANET_HTTP_BODY_TIMEOUT_S', d.bodyTimeoutMs / 1000, 1, 3600) * 1000,
    uploadTimeoutMs: int(env, 'LOANET_HTTP_UPLOAD_TIMEOUT_S', d.uploadTimeoutMs / 1000, 1, 86_400) * 1000,
    keepAliveTimeoutMs: int(env, 'LOANET_HTTP_KEEPALIVE_S', d.keepAliveTimeoutMs / 1000, 1, 600) * 1000,
    idleTimeoutMs: int(env, 'LOANET_HTTP_IDLE_TIMEOUT_S', d.idleTimeoutMs / 1000, 0, 86_400) * 1000,
    maxConnections: int(env, 'LOANET_HTTP_MAX_CONNECTIONS', d.maxConnections, 1, 1_000_000),
    maxConnectionsPerAddress: int(env, 'LOANET_HTTP_MAX_CONNECTIONS_PER_ADDRESS', d.maxConnectionsPerAddress, 0, 1_000_000),
    streamsPerUser: int(env, 'LOANET_STREAM_MAX_PER_USER', d.streamsPerUser, 1, 10_000),
    streamsTotal: int(env, 'LOANET_STREAM_MAX', d.streamsTotal, 1, 1_000_000),
  };
}

function mediaConfig(env: Env): MediaConfig {
  return {
    maxBytes: int(env, 'LOANET_MEDIA_MAX_MB', 200, 1, 4096) * 1024 * 1024,
    maxDurationS: int(env, 'LOANET_MEDIA_MAX_DURATION_S', 3 * 3600, 1, 24 * 3600),
    bitrateKbps: int(env, 'LOANET_MEDIA_BITRATE_KBPS', 24, 6, 256),
    // -16 LUFS, not broadcast's -23: outdoor loudspeakers play over wind, rain,
    // traffic and village noise, so speech needs a high, steady level and little
    // dynamic range; -16 is the AES streaming recommendation for devices heard in
    // noise, and every bulletin at the same loudness means operators never touch
    // the amplifier volume between items.
    loudnessLufs: int(env, 'LOANET_LOUDNESS_LUFS', -16, -40, -5),
    ffmpegPath: env.LOANET_FFMPEG || undefined,
    ffprobePath: env.LOANET_FFPROBE || undefined,
    espeakPath: env.LOANET_ESPEAK || 'espeak-ng',
    queueMax: int(env, 'LOANET_MEDIA_QUEUE_MAX', 8, 0, 1000),
  };
}
