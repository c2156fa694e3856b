/**
 * Rollouts of signed releases to the fleet (docs/updates.md, "Rollouts"):
 * the service that moves them (service.ts), its routes, a periodic tick and
 * a tick on every event that may let a site start or move (a site's report,
 * a site online, an alert or a live stream changing). At start every
 * installing site's order is published again: the embedded broker's
 * retained messages do not survive a restart.
 */
import type { ServerContext } from '../context.ts';
import type { Feature } from '../feature.ts';
import { Jobs } from '../feature.ts';
import type { AlertService } from '../alerts/service.ts';
import type { LiveService } from '../live/service.ts';
import type { SentEntryStore } from '../schedule/sent-entries.ts';
import type { ReleaseLookup } from '../releases/model.ts';
import { ExternalBroker } from '../fleet/external-broker.ts';
import { siteActivity } from './activity.ts';
import { RolloutService, type RolloutServiceDeps } from './service.ts';
import { RolloutStore } from './store.ts';
import { rolloutRoutes } from './routes.ts';

/** The periodic pass: heartbeats' reports read, silent sites failed, held sites started once free. */
export const ROLLOUT_TICK_MS = 5_000;
/** Playlist entries looked at around now: one playing started at most this long ago; the next one within this long. */
const PLAYING_LOOKBACK_MS = 6 * 3600_000;
const NEXT_LOOKAHEAD_MS = 24 * 3600_000;

export interface RolloutWiring extends Pick<RolloutServiceDeps, 'sites' | 'broker' | 'audit' | 'now' | 'log' | 'releases'> {
  db: ServerContext['store']['db'];
  coverage: ServerContext['coverage'];
  fleet: ServerContext['fleet'];
  alerts: Pick<AlertService, 'list'>;
  live: Pick<LiveService, 'onAir'>;
  sent: Pick<SentEntryStore, 'list'>;
}

/** The service, built where the server context is made (it lives in ServerContext.rollouts). */
export function rolloutService(w: RolloutWiring & { releases: ReleaseLookup }): RolloutService {
  return new RolloutService({
    store: new RolloutStore(w.db),
    releases: w.releases,
    sites: w.sites,
    coverage: w.coverage,
    fleet: w.fleet,
    broker: w.broker,
    audit: w.audit,
    now: w.now,
    log: w.log,
    activity: async (sites, now) => {
      const ids = sites.map((s) => s.id);
      return siteActivity(
        sites.map((s) => ({ id: s.id, channels: w.coverage.channelKeysOfArea(s.areaId) })),
        {
          alerts: (await w.alerts.list({ state: 'active', limit: 1000 })).map((a) => ({ areas: a.areas, sites: a.sites })),
          live: w.live.onAir({ limit: 1000 }).map((s) => ({ areas: s.areas })),
          entries: (await w.sent.list({ siteIds: ids, from: now - PLAYING_LOOKBACK_MS, to: now + NEXT_LOOKAHEAD_MS }))
            .filter((e) => e.plan === 'play')
            .map((e) => ({ siteId: e.siteId, startAt: e.startAt, durationMs: e.durationMs })),
          // What the site says it plays (agents that predate it say nothing).
          reportedPlaying: new Set(ids.filter((id) => !!w.fleet.observation(id)?.telemetry?.playing)),
        },
        now,
      );
    },
  });
}

export function rolloutsFeature(ctx: Pick<ServerContext, 'rollouts' | 'fleet' | 'alerts' | 'live' | 'broker' | 'areas' | 'coverage' | 'log' | 'disk' | 'cluster'>): Feature {
  const service = ctx.rollouts;
  // The waves advance on one server; every server stores the sites' reports (each acknowledges what it stored).
  const kick = () => {
    if (ctx.cluster.owns('rollouts')) service.kick();
  };
  const jobs = Jobs.of(ctx);
  const unlisten: Array<() => void> = [];
  const failed = (what: string) => (err: unknown) => ctx.log.error({ err }, `rollouts: ${what} failed; the periodic tick retries`);
  let stopped = false;
  return {
    name: 'rollouts',
    routes: [rolloutRoutes(ctx)],
    async start() {
      unlisten.push(
        ctx.fleet.listen({
          siteEvent: (siteId, ev) => {
            if (ev.type === 'update_status') void service.onReport(siteId, ev.update).catch(failed('a site report'));
          },
          siteOnline: kick,
        }),
        // An alert or a stream that ends may free the sites it held (delivery storms are not listened to).
        ctx.alerts.service.listen((c) => {
          if (c.kind === 'cancelled' || c.kind === 'expired') kick();
        }),
        ctx.live.listen((c) => {
          if (c.kind === 'ended') kick();
        }),
      );
      const broker = ctx.broker;
      if (broker instanceof ExternalBroker) {
        broker.onRetainedLost(async (why) => {
          if (!stopped) await service.republish(`the broker lost retained messages: ${why}`);
        });
      }
      jobs.every(
        'rollouts',
        ROLLOUT_TICK_MS,
        ctx.cluster.whileHeld('rollouts', () => service.tick()),
      );
      await service.republish('server start').catch(failed('publishing the orders again'));
      kick();
    },
    async stop() {
      stopped = true;
      service.stop();
      for (const u of unlisten.splice(0)) u();
      jobs.stop();
      await service.idle().catch(() => {});
    },
  };
}
