/**
 * The composition root of the server: builds the stores and services, wires
 * them into features (feature.ts: each with its routes, listeners, timers and
 * a start()/stop()), registers their routes in one HTTP app and starts them in
 * order. It holds no decisions of its own. `main.ts` only reads configuration
 * and calls this.
 */
import type { ServerConfig } from './config.ts';
import { openStore } from './store/database.ts';
import { secureDataDir } from './store/data-dir.ts';
import { DiskSpace } from './store/disk-space.ts';
import { AreaRepository } from './registry/areas.ts';
import { SiteRepository } from './registry/sites.ts';
import { UserRepository } from './auth/users.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { GuessStore } from './auth/guess-store.ts';
import { defaultPasswordPolicy } from './auth/password-policy.ts';
import { AuditLog } from './audit.ts';
import { FleetState } from './fleet/fleet-state.ts';
import { SiteMessageIngest } from './fleet/ingest.ts';
import { SiteHistory } from './fleet/site-history.ts';
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
import { PLAYLIST_PARTS_FEATURE, PROTOCOL_VERSION } from '../protocol/index.ts';
import { SERVER_VERSION } from './files.ts';
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import { startFeatures, type Feature } from './feature.ts';
import { storeFeature } from './store/feature.ts';
import { fleetFeature, siteEventAcksFeature } from './fleet/feature.ts';
import { mediaFeature } from './media/feature.ts';
import { liveFeature } from './live/feature.ts';
import { httpFeature } from './http/feature.ts';
import { alertsFeature } from './alerts/feature.ts';
import { scheduleFeature } from './schedule/feature.ts';
import { asRunFeature } from './asrun/feature.ts';
import { coverageFeature } from './coverage/feature.ts';
import { siteConfigFeature } from './site-config/feature.ts';
import { rolloutService, rolloutsFeature } from './updates/feature.ts';
import { openReleaseStore, releasesFeature } from './releases/feature.ts';
import { authFeature } from './auth/feature.ts';
import { healthRoutes } from './health/routes.ts';
import { areaRoutes } from './registry/area-routes.ts';
import { siteRoutes } from './registry/site-routes.ts';
import { enrolmentRoutes } from './enrolment/routes.ts';
import { streamRoutes } from './console/stream-routes.ts';
import { consoleRoutes } from './console/routes.ts';
import { metricsFeature } from './metrics/feature.ts';
import { alarmService, alarmsFeature } from './alarms/feature.ts';
import { notifications, notificationsFeature } from './notifications/feature.ts';
import { maintenanceFeature, maintenanceService } from './maintenance/feature.ts';
import { Cluster, clusterFeature } from './cluster/cluster.ts';
import { leaseTimingsFor } from './cluster/lease-policy.ts';
import { openOutbox, outboxFeature } from './outbox/feature.ts';
import { reportsFeature } from './reports/feature.ts';
import { RegistryWatch, registryWatchFeature } from './cluster/registry-watch.ts';
import { currentRegistryGeneration } from './registry/changes.ts';

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

/** The server's log when it is a full pino-like logger (main.ts's): Fastify can then write a request's own lines into it, with their reqId. */
function fastifyLogger(log: Logger): FastifyBaseLogger | undefined {
  const l = log as Partial<Record<'debug' | 'fatal' | 'trace' | 'child', unknown>>;
  return ['debug', 'fatal', 'trace', 'child'].every((m) => typeof l[m as keyof typeof l] === 'function') ? (log as unknown as FastifyBaseLogger) : undefined;
}

export async function startServer(config: ServerConfig, opts: ServerOptions = {}): Promise<RunningServer> {
  const now = opts.now ?? Date.now;
  const log = opts.logger ?? SILENT;
  logOffThreadFailuresTo(log);
  // Before anything is written: the data folder and all in it private to this user (store/data-dir.ts).
  for (const dir of new Set([config.dataDir, config.sharedDir])) {
    const tightened = secureDataDir(dir);
    if (tightened.length > 0) {
      log.warn({ dataDir: dir, changed: tightened.length, first: tightened.slice(0, 20) }, 'data folder: permissions tightened to owner only (folders 700, files 600)');
    }
  }
  const store = await openStore(config, { log });
  const disk = new DiskSpace(config.dataDir, config.disk, log, now);
  const policy: CoveragePolicy = {
    ...DEFAULT_COVERAGE_POLICY,
    defaultIntervalS: config.heartbeatIntervalS,
    soundMaxAgeMs: config.soundMaxAgeH * 3600 * 1000,
  };

  const areas = new AreaRepository(store.db, now);
  const sites = new SiteRepository(store.db, areas, () => config.areaVersion, now, mosquittoPasswordHash);
  // Read into memory before anything asks: the coverage index (areas) and the synchronous lookups of a site's name and place.
  // The registry's generation first: what other servers change from then on reaches this one (cluster/registry-watch.ts).
  const registrySince = await currentRegistryGeneration(store.db);
  await areas.load();
  await sites.load();
  const users = new UserRepository(store.db, now, defaultPasswordPolicy(config.passwordMinLength));
  const audit = new AuditLog(store.db, now, log);
  // A failed write of statuses or events is logged and counted by the fleet, and tells the disk (a full disk gives up its reserve).
  // With several servers, one does the work that must happen once, the fleet's writes among it.
  const cluster = new Cluster(store, log, leaseTimingsFor(config.leaseTtlMs));
  const fleet = new FleetState(store.db, policy, now, {
    log,
    onWriteFailure: (err) => disk.noteWriteFailure(err),
    writer: { mayWrite: () => cluster.owns('fleet-sweep'), keepMs: 10 * config.leaseTtlMs },
  });
  await fleet.load(await sites.list());
  const coverage = new CoverageService(store.db, areas, fleet, policy, config.areaVersion, now);
  // On PostgreSQL other servers may share the store: what they change in the registry is applied here.
  const registryWatch = store.dialect === 'postgres' ? new RegistryWatch({ db: store.db, areas, sites, fleet, coverage, log, since: registrySince, now }) : undefined;

  const authority: SiteAuthority = {
    verifyCredential: (id, secret) => sites.verifyCredential(id, secret),
    areaKeysOf: (id) => {
      const o = fleet.observation(id);
      return o ? coverage.channelKeysOfArea(o.areaId) : undefined;
    },
  };
  const external = config.mqttUrl ? new ExternalBroker({ url: config.mqttUrl, username: config.mqttUsername, password: config.mqttPassword ?? '' }, log) : undefined;
  const broker: EmbeddedBroker | ExternalBroker =
    external ?? new EmbeddedBroker({ port: config.mqttPort, host: config.mqttHost, connections: config.mqttConnections }, authority, log);
  // Clock requests are answered on the real server clock, not `now` (which tests may freeze).
  // Receipts, alert statuses and command results are acknowledged to the site once stored, not on the broker's PUBACK.
  // ... and made durable (the WAL synced once per batch, off the event loop), so a power cut cannot take what a site was told is stored.
  const acks = new EventAcker(broker, log, now, store.durable);
  const ingest = new SiteMessageIngest(fleet, log, now, {
    clock: new ClockResponder(broker, log),
    acks,
    onStoreFailure: (err) => disk.noteWriteFailure(err),
  });
  broker.onSiteMessage((m) => {
    // Receipts, alert statuses and command results cannot wait: a disk that filled gives up its reserve before they are stored.
    if (m.channel === 'event') {
      try {
        disk.beforeEssentialWrite();
      } catch {
        // The database file is gone (store/disk-space.ts says so in the log): not stored, so not acknowledged; the site keeps it in its journal.
        return;
      }
    }
    ingest.handle(m);
  });
  const commands = new CommandService(store.db, broker, (id) => fleet.isOnline(id), log, now);
  // Live frames are paced on the real server clock, not `now` (which tests may freeze).
  const live = new LiveService({
    broker,
    audit,
    log,
    now: Date.now,
    config: config.live,
    store: new LiveStreamStore(store.db, Date.now, { dialect: store.dialect, owner: cluster.instance, ttlMs: config.leaseTtlMs }),
    // SQLite: no other server shares the store, so what the record has on air at start is this server's last run's.
    soleServer: store.dialect === 'sqlite',
    ownerTickMs: Math.floor(config.leaseTtlMs / 3),
    areaPath: (id) => coverage.areaPath(id),
    areaPathOfSite: (id) => {
      const o = fleet.observation(id);
      return o ? coverage.areaPath(o.areaId) : undefined;
    },
  });

  // Emergency alerts: published on the area control channels, delivery from alert_status events.
  const alertStore = new AlertStore(store.db);
  const alertService = new AlertService({ store: alertStore, broker, fleet, coverage, sites, audit, log, now, timeZone: policy.timeZone, capSender: 'loanet' });
  const alertMessages = new AlertMessages(() => ctx.media);
  const alertCap = new CapIngest(alertService, alertStore, alertMessages, {
    now,
    areaVersion: config.areaVersion,
    timeZone: policy.timeZone,
    priorityTable: config.capPriorityTable,
  });

  // Decided and hashed now (nothing written), so the write after the listeners costs no time.
  const adminPlan = await users.prepareAdmin(config.adminPassword);

  // Schedule: items and approval, playlist distribution, as-run receipts.
  const library = new MediaLibrary(store.db, config.sharedDir, config.media, audit, now, log);
  const scheduleItems = new BroadcastItemStore(store.db);
  const sentEntries = new SentEntryStore(store.db);
  const asRun = new AsRunLog(store.db, now);
  const registrySites = () => sites.list({ includeRetired: true });
  const distribution = new PlaylistDistributor({
    db: store.db,
    items: scheduleItems,
    sent: sentEntries,
    directory: async () =>
      new SiteDirectory(
        coverage.areaIndex(),
        (await sites.placements()).map((s) => ({
          siteId: s.id,
          areaId: s.areaId,
          retired: s.retired,
          canPlayParts: fleet.features(s.id).includes(PLAYLIST_PARTS_FEATURE),
        })),
      ),
    featuresGeneration: () => fleet.featuresGeneration(),
    media: async (id) => {
      const m = await library.item(id);
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

  const ctx: ServerContext = {
    config,
    store,
    areas,
    sites,
    users,
    // Counted in the store: every server on one database draws on the same limits.
    loginLimits: new LoginLimiter(new GuessStore(store.db, store.dialect), config.login),
    audit,
    fleet,
    siteHistory: new SiteHistory(store.db),
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
    releases: openReleaseStore(config, store.db, log, now),
    // Reads releases through the context: the store is made just above, in this same object.
    rollouts: rolloutService({
      db: store.db,
      sites,
      coverage,
      fleet,
      broker,
      audit,
      alerts: alertService,
      live,
      sent: sentEntries,
      releases: { get: (id) => ctx.releases.get(id) },
      now,
      log,
    }),
    outbox: openOutbox(store, config.outboxDestinations, log),
    cluster,
    // Built here, started by its feature: reads the fleet and coverage through the context made in this same object.
    alarms: alarmService({ store, fleet, coverage, config, log, disk, now }),
    // The outbox is read when an event is enqueued: it is made in this same object.
    notifications: notifications({ store, config, coverage, users, fleet, log, now, outbox: () => ctx.outbox }),
    // Reads the alarms through the context made in this same object.
    maintenance: maintenanceService({ store, fleet, commands, users, coverage, log, disk, now, alarms: () => ctx.alarms }),
    disk,
    versions: { loanet: SERVER_VERSION, protocol: PROTOCOL_VERSION, schema: await store.schemaVersion(), node: process.versions.node },
    startedAt: now(),
    now,
    log,
  };

  // Started in this order and stopped in reverse (feature.ts); their routes are registered in the same order,
  // the console's last, since it answers every path no API route took.
  const auth = authFeature(ctx, adminPlan);
  const routeOnly = (name: string, ...routes: FastifyPluginAsync[]): Feature => ({ name, routes });
  const beforeListening: Feature[] = [
    storeFeature(store, disk),
    // Right after the store: the first lease round is answered before the features start, and the leases are released after all stopped.
    clusterFeature(cluster),
    // Right after the store: stopped after every feature that may enqueue while stopping, before the store closes.
    outboxFeature(ctx.outbox, log),
    fleetFeature({ ...ctx, external }),
    registryWatchFeature(registryWatch, log, config.databaseUrl),
    mediaFeature(ctx),
    // Streams the last run went down under: closed as server_restart, their sites told to stop, before anyone can start one.
    liveFeature(ctx),
    // Before the alarms: it hears every alarm event, those of the alarms' own start too.
    notificationsFeature(ctx),
    // After the fleet (every site's verdict loaded, its listeners live), before listening: a request never meets alarms not yet restored.
    alarmsFeature(ctx),
    // After the alarms (orders are made from them) and the fleet (its verdicts and sound checks close resolved orders).
    maintenanceFeature(ctx),
    routeOnly('health', healthRoutes(ctx)),
    routeOnly('registry', areaRoutes(ctx), siteRoutes(ctx)),
    routeOnly('enrolment', enrolmentRoutes(ctx)),
  ];
  const afterListening: Feature[] = [
    alertsFeature(ctx),
    asRunFeature(ctx),
    // Every store of site events now listens (alert statuses and receipts since the lines above; command results in
    // the fleet's): from here on, applied means stored. A receipt acknowledged before its store listened would be lost.
    siteEventAcksFeature(acks),
    scheduleFeature(ctx),
    coverageFeature({ ...ctx, policy }),
    siteConfigFeature(ctx),
    releasesFeature(ctx),
    rolloutsFeature(ctx),
    reportsFeature(ctx),
    auth,
    routeOnly('console', streamRoutes(ctx), consoleRoutes()),
    // Last to start, first to stop: /readyz is ready only in between.
    metricsFeature({ ...ctx, policy }),
  ];
  // httpLogger false (main.ts): no access line per request, but a request's own lines (a 500's error) go to the server's log with their reqId.
  const loggerInstance = opts.httpLogger === false ? fastifyLogger(log) : undefined;
  const app = await buildApp(
    ctx,
    [...beforeListening, ...afterListening].flatMap((f) => f.routes ?? []),
    loggerInstance ? { loggerInstance } : { logger: opts.httpLogger ?? false },
  );
  const http = httpFeature(app, config);
  const stop = await startFeatures([...beforeListening, http, ...afterListening], log);

  return {
    ctx,
    app,
    httpPort: http.port(),
    mqttPort: broker.port ?? config.mqttPort,
    generatedAdminPassword: auth.generatedAdminPassword(),
    stop,
  };
}
