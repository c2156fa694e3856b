/**
 * The composition root of the server: builds the store, registry, broker,
 * fleet state, coverage and HTTP app, wires them, and runs the background
 * jobs (liveness sweep, batched status writes, coverage history, scheduled
 * sound checks). `main.ts` only reads configuration and calls this.
 */
import type { ServerConfig } from './config.ts';
import { StartupError } from './errors.ts';
import { openDatabase, schemaVersion, walSync, type Db } from './store/db.ts';
import { secureDataDir } from './store/data-dir.ts';
import { DiskSpace } from './store/disk-space.ts';
import { AreaRepository } from './registry/areas.ts';
import { SiteRepository } from './registry/sites.ts';
import { UserRepository } from './auth/users.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { defaultPasswordPolicy } from './auth/password-policy.ts';
import { AuditLog } from './audit.ts';
import { FleetState } from './fleet/fleet-state.ts';
import { SiteMessageIngest } from './fleet/ingest.ts';
import { EventAcker } from './fleet/event-acks.ts';
import { ClockResponder } from './fleet/clock-responder.ts';
import { CommandService } from './fleet/commands.ts';
import { LiveService } from './live/service.ts';
import { LiveStreamStore } from './live/store.ts';
import { EmbeddedBroker, type Logger, type SiteAuthority } from './fleet/broker.ts';
import { ExternalBroker } from './fleet/external-broker.ts';
import { mosquittoPasswordHash } from './fleet/mosquitto-files.ts';
import { CoverageService } from './coverage/service.ts';
import { DEFAULT_COVERAGE_POLICY, type CoveragePolicy } from './coverage/model.ts';
import { SoundCheckScheduler } from './coverage/sound-check-scheduler.ts';
import { logOffThreadFailuresTo } from './offthread.ts';
import { MediaLibrary } from './media/library.ts';
import { EspeakEngine } from './media/tts/espeak.ts';
import { BroadcastItemStore } from './schedule/items-store.ts';
import { SentEntryStore } from './schedule/sent-entries.ts';
import { ScheduleService } from './schedule/service.ts';
import { PlaylistDistributor } from './schedule/distribution.ts';
import { SiteDirectory } from './schedule/resolve.ts';
import { AsRunLog } from './asrun/log.ts';
import { AlertStore } from './alerts/store.ts';
import { AlertService } from './alerts/service.ts';
import { AlertMessages } from './alerts/message.ts';
import { CapIngest } from './alerts/cap-ingest.ts';
import { buildApp, type App } from './http/app.ts';
import type { ServerContext } from './context.ts';
import { PROTOCOL_VERSION } from '../protocol/index.ts';
import { SERVER_VERSION } from './files.ts';


export interface RunningServer {
  ctx: ServerContext;
  app: App;
  httpPort: number;
  mqttPort: number;
  /** Set when the admin password was generated at first start: print it once. */
  generatedAdminPassword: string | undefined;
  stop(): Promise<void>;
}

export interface ServerOptions {
  logger?: Logger & { child?: unknown };
  httpLogger?: boolean | object;
  now?: () => number;
}

const SILENT: Logger = { info() {}, warn() {}, error() {} };

export async function startServer(config: ServerConfig, opts: ServerOptions = {}): Promise<RunningServer> {
  const now = opts.now ?? Date.now;
  const log = opts.logger ?? SILENT;
  logOffThreadFailuresTo(log);
  // Before anything is written: the data folder and all in it private to this user (store/data-dir.ts).
  const tightened = secureDataDir(config.dataDir);
  if (tightened.length > 0) {
    log.warn({ dataDir: config.dataDir, changed: tightened.length, first: tightened.slice(0, 20) }, 'data folder: permissions tightened to owner only (folders 700, files 600)');
  }
  const db: Db = openDatabase(config.dataDir);
  // Free space of the data folder and its reserve: what stops first as the disk fills (store/disk-policy.ts).
  const disk = new DiskSpace(config.dataDir, config.disk, log, now);
  disk.start();
  const policy: CoveragePolicy = {
    ...DEFAULT_COVERAGE_POLICY,
    defaultIntervalS: config.heartbeatIntervalS,
    soundMaxAgeMs: config.soundMaxAgeH * 3600 * 1000,
  };

  const areas = new AreaRepository(db, now);
  const sites = new SiteRepository(db, areas, () => config.areaVersion, now, mosquittoPasswordHash);
  const users = new UserRepository(db, now, defaultPasswordPolicy(config.passwordMinLength));
  const audit = new AuditLog(db, now);
  const fleet = new FleetState(db, policy, now);
  fleet.load(sites.list());
  const coverage = new CoverageService(db, areas, fleet, policy, config.areaVersion, now);

  const authority: SiteAuthority = {
    verifyCredential: (id, secret) => sites.verifyCredential(id, secret),
    areaKeysOf: (id) => {
      const o = fleet.observation(id);
      return o ? coverage.channelKeysOfArea(o.areaId) : undefined;
    },
  };
  const external = config.mqttUrl
    ? new ExternalBroker({ url: config.mqttUrl, username: config.mqttUsername, password: config.mqttPassword ?? '' }, log)
    : undefined;
  const broker: EmbeddedBroker | ExternalBroker = external ?? new EmbeddedBroker({ port: config.mqttPort, host: config.mqttHost, connections: config.mqttConnections }, authority, log);
  // Clock requests are answered on the real server clock, not `now` (which tests may freeze).
  // Receipts, alert statuses and command results are acknowledged to the site once stored, not on the broker's PUBACK.
  // ... and made durable (the WAL synced once per batch, off the event loop), so a power cut cannot take what a site was told is stored.
  const acks = new EventAcker(broker, log, now, walSync(config.dataDir));
  const ingest = new SiteMessageIngest(fleet, log, now, new ClockResponder(broker, log), acks);
  broker.onSiteMessage((m) => {
    // Receipts, alert statuses and command results cannot wait: a disk that filled gives up its reserve before they are stored.
    if (m.channel === 'event') disk.beforeEssentialWrite();
    ingest.handle(m);
  });
  const commands = new CommandService(db, broker, (id) => fleet.isOnline(id), log, now);
  // Live frames are paced on the real server clock, not `now` (which tests may freeze).
  const live = new LiveService({
    broker, audit, log, now: Date.now, config: config.live, store: new LiveStreamStore(db, Date.now),
    areaPathOfSite: (id) => {
      const o = fleet.observation(id);
      return o ? coverage.areaPath(o.areaId) : undefined;
    },
  });
  fleet.listen({ siteEvent: (id, ev) => ev.type === 'stream_stats' && live.onStats(id, ev) });
  // After a gap in the server's own link, re-send what waits for sites that stayed online meanwhile.
  external?.onReconnect(() => {
    for (const o of fleet.observations()) {
      if (fleet.isOnline(o.siteId)) commands.flush(o.siteId).catch((err: unknown) => log.error({ siteId: o.siteId, err }, 'sending waiting commands failed'));
    }
  });
  fleet.listen({
    siteOnline: (id) => {
      commands.flush(id).catch((err: unknown) => log.error({ siteId: id, err }, 'sending waiting commands failed'));
    },
    siteEvent: (id, ev) => {
      if (ev.type === 'cmd_result') commands.complete(id, ev);
    },
    conditionChanged: (c) => {
      if (c.from !== null) log.info({ siteId: c.siteId, from: c.from, to: c.to, reasons: c.verdict.reasons.map((r) => r.message) }, 'site condition changed');
    },
  });

  // Emergency alerts: published on the area control channels, delivery from alert_status events.
  const alertStore = new AlertStore(db);
  const alertService = new AlertService({ store: alertStore, broker, fleet, coverage, sites, audit, log, now, timeZone: policy.timeZone, capSender: 'loanet' });
  const alertMessages = new AlertMessages(() => ctx.media);
  const alertCap = new CapIngest(alertService, alertStore, alertMessages, { now, areaVersion: config.areaVersion, timeZone: policy.timeZone, priorityTable: config.capPriorityTable });

  // Decided and hashed now (nothing written), so the write after the listeners costs no time.
  const adminPlan = await users.prepareAdmin(config.adminPassword);

  // Schedule: items and approval, playlist distribution, as-run receipts.
  const library = new MediaLibrary(db, config.dataDir, config.media, audit, now, log);
  const scheduleItems = new BroadcastItemStore(db);
  const sentEntries = new SentEntryStore(db);
  const asRun = new AsRunLog(db, now);
  const registrySites = () => sites.list({ includeRetired: true });
  const distribution = new PlaylistDistributor({
    db,
    items: scheduleItems,
    sent: sentEntries,
    directory: () => new SiteDirectory(coverage.areaIndex(), registrySites().map((s) => ({ siteId: s.id, areaId: s.areaId, retired: s.retiredAt !== null }))),
    media: (id) => {
      const m = library.item(id);
      return m && m.retiredAt === null ? { sha256: m.sha256, bytes: m.bytes } : undefined;
    },
    broker,
    held: (id) => fleet.observation(id)?.telemetry?.playlist,
    log,
    now,
    horizonMs: config.schedule.horizonH * 3600 * 1000,
    recomputeMs: config.schedule.recomputeS * 1000,
  });
  // An external broker that crashed may come back without what was retained on it: alerts first, then live streams' starts, then every playlist (paced).
  external?.onRetainedLost(async (why) => {
    await alertService.republishRetained();
    await live.republishRetained();
    await distribution.republish(`the broker lost retained messages: ${why}`);
  });
  const schedule = new ScheduleService({
    store: scheduleItems,
    areaIndex: () => coverage.areaIndex(),
    areaVersion: config.areaVersion,
    sites: registrySites,
    media: (id) => library.get(id),
    audit,
    now,
    // A failed distribution does not undo an approval: the periodic refresh retries it.
    changed: (reason) => distribution.refresh(reason).catch((err: unknown) => log.error({ err, reason }, 'playlist distribution failed; retried periodically')),
  });
  library.addRetireGuard((id) => schedule.mediaInUse(id));
  fleet.listen({
    siteEvent: (id, ev) => {
      if (ev.type === 'as_run') asRun.record(id, ev);
    },
  });

  const ctx: ServerContext = {
    config,
    db,
    areas,
    sites,
    users,
    loginLimits: new LoginLimiter(config.login),
    audit,
    fleet,
    ingest,
    commands,
    live,
    broker,
    siteAuthority: authority,
    coverage,
    media: { library, tts: new EspeakEngine(config.media.espeakPath) },
    schedule: { service: schedule, distribution, sent: sentEntries },
    asRun,
    alerts: { service: alertService, cap: alertCap, messages: alertMessages },
    disk,
    versions: { loanet: SERVER_VERSION, protocol: PROTOCOL_VERSION, schema: schemaVersion(db), node: process.versions.node },
    startedAt: now(),
    now,
    log,
  };

  const app = await buildApp(ctx, { logger: opts.httpLogger ?? false });
  try {
    await broker.start();
  } catch (e) {
    await disk.stop();
    db.close();
    throw e;
  }
  // Streams the last run went down under: closed as server_restart, their sites told to stop (before any new one starts).
  await live.recover();
  try {
    await app.listen({ port: config.httpPort, host: config.httpHost });
  } catch (e) {
    await broker.stop();
    await disk.stop();
    db.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw code === 'EADDRINUSE'
      ? new StartupError('LOANET_HTTP_PORT_IN_USE', `HTTP port ${config.httpPort} is in use; set LOANET_HTTP_PORT to a free port`)
      : new StartupError('LOANET_HTTP_LISTEN_FAILED', `cannot listen for HTTP on ${config.httpHost}:${config.httpPort} (${code ?? (e as Error).message}); check LOANET_HTTP_HOST and LOANET_HTTP_PORT`);
  }
  const addr = app.server.address();
  const httpPort = typeof addr === 'object' && addr ? addr.port : config.httpPort;
  // Valid alerts again on their channels: the embedded broker's retained messages did not survive a restart.
  await alertService.start();
  // Every store of site events now listens (alert statuses since the line above): from here on, applied means stored.
  acks.open();
  // Every site's playlist again: the embedded broker's retained messages did not survive a restart.
  await distribution.start().catch((err: unknown) => log.error({ err }, 'first playlist distribution failed; retried periodically'));

  // Background jobs. Each is wrapped so one failure is logged, never fatal.
  const guard = (name: string, fn: () => void) => () => {
    try {
      fn();
    } catch (err) {
      // A full disk gives up its reserve at once, not at the next measurement.
      disk.noteWriteFailure(err);
      log.error({ err, job: name }, `background job ${name} failed`);
    }
  };
  const timers = [
    setInterval(guard('sweep', () => {
      fleet.sweep();
      commands.expire();
    }), config.sweepIntervalMs),
    setInterval(guard('flush', () => fleet.flush()), 1000),
    setInterval(guard('alerts', () => void alertService.tick().catch((err: unknown) => log.error({ err }, 'alert expiry failed'))), 1000),
    // History can wait: paused while the disk is low, so logins, alerts and receipts keep the room.
    setInterval(guard('history', () => !disk.refuses('history') && coverage.snapshot()), config.historyIntervalS * 1000),
  ];
  timers.forEach((t) => t.unref());
  const soundChecks = new SoundCheckScheduler({
    fleet, commands, policy, now, log, guard,
    schedule: { intervalH: config.soundCheckIntervalH, periodS: config.soundCheckPeriodS, batch: config.soundCheckBatch, quietHours: config.soundCheckQuietHours },
  });
  soundChecks.start();
  coverage.snapshot();

  // Written last, once every listener is bound: a start that fails earlier (a
  // port in use) must not leave an admin behind whose generated password nobody saw.
  const boot = users.applyAdmin(adminPlan);

  let stopped = false;
  return {
    ctx,
    app,
    httpPort,
    mqttPort: broker.port ?? config.mqttPort,
    generatedAdminPassword: boot.generatedPassword,
    async stop() {
      if (stopped) return;
      stopped = true;
      timers.forEach((t) => clearInterval(t));
      soundChecks.stop();
      alertService.stop();
      distribution.stop();
      live.close();
      await app.close();
      await ctx.media.library.close();
      await broker.stop();
      await disk.stop();
      try {
        fleet.flush();
      } catch (err) {
        // A full disk must not keep the store open: the last statuses are lost, the sites report again.
        log.error({ err }, 'last site statuses not written on stop');
      }
      db.close();
    },
  };
}
