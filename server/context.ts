/**
 * Everything the HTTP routes and background jobs need, built once by the
 * composition root (main.ts / server.ts) and passed down explicitly.
 */
import type { ServerConfig } from './config.ts';
import type { Store } from './store/database.ts';
import type { AreaRepository } from './registry/areas.ts';
import type { SiteRepository } from './registry/sites.ts';
import type { UserRepository } from './auth/users.ts';
import type { LoginLimiter } from './auth/login-limiter.ts';
import type { AuditLog } from './audit.ts';
import type { LiveService } from './live/service.ts';
import type { FleetState } from './fleet/fleet-state.ts';
import type { SiteMessageIngest } from './fleet/ingest.ts';
import type { SiteHistory } from './fleet/site-history.ts';
import type { CommandService } from './fleet/commands.ts';
import type { BrokerLink, SiteAuthority } from './fleet/broker.ts';
import type { CoverageService } from './coverage/service.ts';
import type { MediaLibrary } from './media/library.ts';
import type { TtsEngine } from './media/tts/engine.ts';
import type { AlertService } from './alerts/service.ts';
import type { CapIngest } from './alerts/cap-ingest.ts';
import type { AlertMessages } from './alerts/message.ts';
import type { ScheduleService } from './schedule/service.ts';
import type { PlaylistDistributor } from './schedule/distribution.ts';
import type { SentEntryStore } from './schedule/sent-entries.ts';
import type { AsRunLog } from './asrun/log.ts';
import type { Logger } from './fleet/broker.ts';
import type { DiskSpace } from './store/disk-space.ts';
import type { RolloutService } from './updates/service.ts';
import type { ReleaseStore } from './releases/store.ts';
import type { AlarmService } from './alarms/service.ts';
import type { Notifications } from './notifications/feature.ts';
import type { MaintenanceService } from './maintenance/service.ts';
import type { Cluster } from './cluster/cluster.ts';
import type { Outbox } from './outbox/outbox.ts';

export interface Versions {
  loanet: string;
  protocol: number;
  schema: number;
  node: string;
}

export interface ServerContext {
  config: ServerConfig;
  /** The store, SQLite or PostgreSQL: every store queries `store.db` (Kysely). */
  store: Store;
  areas: AreaRepository;
  sites: SiteRepository;
  users: UserRepository;
  /** Password guessing limits, shared by login and password change; counted in the store, so every server on one database draws on the same budget. */
  loginLimits: LoginLimiter;
  audit: AuditLog;
  fleet: FleetState;
  /** What FleetState wrote of each site's connects, faults, sound checks and condition changes, read back. */
  siteHistory: SiteHistory;
  ingest: SiteMessageIngest;
  commands: CommandService;
  /** Live streams: sources, pacing, frames on the area audio channels, site statistics. */
  live: LiveService;
  broker: BrokerLink;
  /** How sites are authenticated and authorized: the embedded broker's hooks and the EMQX HTTP hooks share it. */
  siteAuthority: SiteAuthority;
  coverage: CoverageService;
  /** The media library (uploads, Opus store) and the text-to-speech engine. */
  media: { library: MediaLibrary; tts: TtsEngine };
  /** Broadcast items and approval, per-site playlist distribution, and what was sent to each site. */
  schedule: { service: ScheduleService; distribution: PlaylistDistributor; sent: SentEntryStore };
  /** The as-run receipts (nhật ký phát thanh). */
  asRun: AsRunLog;
  /** Emergency alerts: lifecycle and delivery, CAP ingest, the alert audio made through the media library. */
  alerts: { service: AlertService; cap: CapIngest; messages: AlertMessages };
  /** Signed releases: their manifests, signatures and files (server/releases; the rollouts use its ReleaseLookup side: get). */
  releases: ReleaseStore;
  /** Rollouts of releases to the fleet in waves (server/updates): dry run, create, pause, resume, abort, the sites' reports. */
  rollouts: RolloutService;
  /** Events to systems outside loanet (webhooks, Telegram): `enqueue(type, data, trx?)`, documented at the top of outbox/outbox.ts. */
  outbox: Outbox;
  /** This server among others on one database: which of the work that must happen once runs here now (cluster/cluster.ts). */
  cluster: Cluster;
  /** Technicians' alarms: raised from the fleet's verdicts, acknowledged and cleared by people (server/alarms; a notifier subscribes with onAlarmEvent). */
  alarms: AlarmService;
  /** Who is told of alarms: the rules, people's notifications (the bell, Web Push) and their subscriptions (server/notifications). */
  notifications: Notifications;
  /** The maintenance log: work orders from alarms or sites, closed when a sound check verifies the site (server/maintenance; the stream listens with onChange). */
  maintenance: MaintenanceService;
  /** The data folder's free space and reserve: what is refused (507) as the disk fills (store/disk-space.ts). */
  disk: DiskSpace;
  versions: Versions;
  startedAt: number;
  now(): number;
  /** The server's log (what main.ts prints): details kept from the people a route answers, such as why a relay failed. */
  log: Logger;
}
