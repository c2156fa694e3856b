/**
 * The server configures each site: its configuration (protocol/site-config.ts:
 * area channels, device profile, the languages its area speaks) retained on the
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
import { ALERT_VERSIONS_FEATURE } from '../../protocol/index.ts';
import { effectiveLanguages } from '../registry/area-languages.ts';

/** The pass over every site that catches changes no event announces (an area re-parented in the tree). */
export const SITE_CONFIG_PASS_MS = 60_000;
/** Area changes within this long are one pass over the sites. */
const AREAS_CHANGED_DELAY_MS = 200;

export function siteConfigFeature(
  ctx: Pick<ServerContext, 'store' | 'sites' | 'coverage' | 'fleet' | 'broker' | 'config' | 'now' | 'log' | 'disk' | 'cluster'>,
): Feature & { publisher: SiteConfigPublisher } {
  const publisher = new SiteConfigPublisher({
    sites: () => ctx.sites.list(),
    site: (id) => ctx.sites.get(id),
    areaChannelsOf: (areaId) => ctx.coverage.channelKeysOfArea(areaId),
    // Only to an agent that reads them (an older one refuses the whole configuration for an unknown field), and only
    // when they say more than the default: a Vietnamese-only site's configuration stays as it was, revision and all.
    languagesOf: (site) => {
      if (!ctx.fleet.features(site.id).includes(ALERT_VERSIONS_FEATURE)) return null;
      const l = effectiveLanguages(site.areaId, ctx.coverage.areaIndex().byId).languages;
      return l.length === 1 && l[0] === 'vi' ? null : l;
    },
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
  let unlistenAreas: (() => void) | undefined;
  let areasTimer: NodeJS.Timeout | undefined;
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
      // An area's languages (or place in the tree) changed: the sites below it hear of it now, not at the next pass.
      // Coalesced: an import that changes many areas is one pass.
      unlistenAreas = ctx.coverage.onAreasChanged(() => {
        if (stopped || areasTimer) return;
        areasTimer = setTimeout(() => {
          areasTimer = undefined;
          if (!stopped) void publisher.refreshAll('areas changed').catch(failed('publishing after an area change'));
        }, AREAS_CHANGED_DELAY_MS);
        areasTimer.unref();
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
      unlistenAreas?.();
      clearTimeout(areasTimer);
      jobs.stop();
      await publisher.idle().catch(() => {});
    },
  };
}
