/**
 * The server configures each site (issue 16, item 4): its configuration
 * (protocol/site-config.ts: area channels, device profile) retained on the
 * site's own topic, a new revision whenever it changes, republished at start
 * and after an external broker lost its retained messages; a board that does
 * not report holding the newest is degraded (coverage reason config_stale).
 */
import type { Feature } from '../feature.ts';
import { Jobs } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { ExternalBroker } from '../fleet/external-broker.ts';
import { SiteConfigPublisher } from './publisher.ts';
import { SiteConfigStore } from './store.ts';

/** The pass over every site that catches changes no event announces (an area re-parented in the tree). */
export const SITE_CONFIG_PASS_MS = 60_000;

export function siteConfigFeature(
  ctx: Pick<ServerContext, 'store' | 'sites' | 'coverage' | 'fleet' | 'broker' | 'config' | 'now' | 'log' | 'disk' | 'cluster'>,
): Feature & { publisher: SiteConfigPublisher } {
  const publisher = new SiteConfigPublisher({
    sites: () => ctx.sites.list(),
    site: (id) => ctx.sites.get(id),
    areaChannelsOf: (areaId) => ctx.coverage.channelKeysOfArea(areaId),
    store: new SiteConfigStore(ctx.store.db),
    broker: ctx.broker,
    expect: (id, e) => ctx.fleet.expectConfig(id, e),
    graceMs: ctx.config.siteConfigGraceS * 1000,
    now: ctx.now,
    log: ctx.log,
  });
  const jobs = Jobs.of(ctx);
  const failed = (what: string) => (err: unknown) => ctx.log.error({ err }, `site configuration: ${what} failed; retried by the periodic pass`);
  let unlisten: (() => void) | undefined;
  let stopped = false;
  return {
    name: 'site-config',
    publisher,
    async start() {
      unlisten = ctx.fleet.listen({
        // Moved to another area, a new profile: the board hears of it at once (the move also reconnects it).
        siteChanged: (id) => void publisher.refresh(id, 'the site changed in the registry').catch(failed('publishing after a registry change')),
        siteOnline: (id) => void publisher.refresh(id, 'the site came online').catch(failed('publishing to a site that came online')),
      });
      const broker = ctx.broker;
      if (broker instanceof ExternalBroker) {
        broker.onRetainedLost(async (why) => {
          if (!stopped) await publisher.republishAll(`the broker lost retained messages: ${why}`);
        });
      }
      jobs.every(
        'site-config',
        SITE_CONFIG_PASS_MS,
        ctx.cluster.whileHeld('site-config', () => publisher.refreshAll('periodic pass')),
      );
      // Every site's again: the embedded broker's retained messages did not survive a restart.
      await publisher.republishAll('server start').catch(failed('the first publication'));
    },
    async stop() {
      stopped = true;
      unlisten?.();
      jobs.stop();
      await publisher.idle().catch(() => {});
    },
  };
}
