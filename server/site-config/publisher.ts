/**
 * Publishes each site's configuration retained on `sites/{siteId}/config`
 * (QoS 1) and tells the fleet which revision the site should report holding.
 *
 * - `refresh(siteId)`: the site changed in the registry or came online: its
 *   configuration is recomputed and published if it is not the one this
 *   process last published for it.
 * - `refreshAll()`: the same for every site (the periodic pass catches what
 *   no event announces, e.g. an area moved in the tree), and the retained
 *   configuration of a retired site cleared.
 * - `republishAll()`: every site's, whether or not it changed: at start (the
 *   embedded broker's retained messages do not survive a restart) and when
 *   an external broker lost its retained messages.
 *
 * Operations run one at a time, in the order asked: a refresh cannot
 * interleave with a pass over every site and publish an older revision last.
 */
import { decodeSiteConfig, encodeJson, siteTopic } from '../../protocol/index.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { Site } from '../registry/sites.ts';
import type { ExpectedSiteConfig } from '../coverage/model.ts';
import type { SiteConfigStore } from './store.ts';
import { nextRevision, siteConfigContent, siteConfigHash, siteConfigMessage } from './revision.ts';

export interface SiteConfigPublisherDeps {
  /** Registered sites that are not retired. */
  sites: () => Promise<Site[]>;
  site: (id: string) => Promise<Site | undefined>;
  areaChannelsOf: (areaId: number) => string[];
  /** The site's languages in order, when its agent takes them (protocol ALERT_VERSIONS_FEATURE); null: not sent. */
  languagesOf: (site: Site) => readonly string[] | null;
  store: SiteConfigStore;
  broker: Pick<BrokerLink, 'publish'>;
  expect: (siteId: string, expected: ExpectedSiteConfig) => void;
  /** How long after a publication a board may take to report holding it. */
  graceMs: number;
  now: () => number;
  log: Logger;
}

/** Publishes at once, at most this many in flight: a province's 1,650 sites at start without one long await each. */
const BATCH = 100;

export class SiteConfigPublisher {
  /** What this process last published, per site: the broker holds it retained. */
  private readonly published = new Map<string, { revision: number; hash: string }>();
  private chain: Promise<unknown> = Promise.resolve();
  readonly stats = { published: 0, cleared: 0, invalid: 0 };

  constructor(private readonly d: SiteConfigPublisherDeps) {}

  refresh(siteId: string, why: string): Promise<void> {
    return this.serial(async () => {
      const s = await this.d.site(siteId);
      if (s && s.retiredAt === null) await this.publishSite(s, false, why);
    });
  }

  refreshAll(why: string): Promise<void> {
    return this.serial(() => this.publishAll(false, why));
  }

  republishAll(why: string): Promise<void> {
    return this.serial(() => this.publishAll(true, why));
  }

  /** Resolves once everything asked so far has run. */
  idle(): Promise<void> {
    return this.serial(async () => {});
  }

  /** The revision this process last published for a site (for tests and diagnostics). */
  publishedFor(siteId: string): { revision: number; hash: string } | undefined {
    return this.published.get(siteId);
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async publishAll(force: boolean, why: string): Promise<void> {
    const sites = await this.d.sites();
    const active = new Set(sites.map((s) => s.id));
    for (let i = 0; i < sites.length; i += BATCH) {
      await Promise.all(sites.slice(i, i + BATCH).map((s) => this.publishSite(s, force, why)));
    }
    // A retired site's configuration leaves the broker (an empty retained payload clears the topic).
    for (const id of [...this.published.keys()]) {
      if (active.has(id)) continue;
      await this.d.broker.publish(siteTopic(id, 'config'), Buffer.alloc(0), { qos: 1, retain: true });
      this.published.delete(id);
      this.stats.cleared++;
    }
  }

  private async publishSite(site: Site, force: boolean, why: string): Promise<void> {
    const content = siteConfigContent({
      areaChannels: this.d.areaChannelsOf(site.areaId),
      profile: site.profile,
      expectedDevices: site.expectedDevices,
      monitorMic: site.monitorMic,
      languages: this.d.languagesOf(site),
    });
    const now = this.d.now();
    const stored = await this.d.store.get(site.id);
    const rev = nextRevision(stored, siteConfigHash(content), now);
    const last = this.published.get(site.id);
    if (!force && last && last.revision === rev.revision && last.hash === rev.hash) return;
    const message = siteConfigMessage(site.id, rev, content);
    const checked = decodeSiteConfig.check(message);
    if (!checked.ok) {
      // E.g. a site whose area left the tree (no channels): never tell a board to listen to nothing.
      this.stats.invalid++;
      this.d.log.error({ siteId: site.id, reason: checked.error.reason }, 'site configuration not published: it does not satisfy the contract');
      return;
    }
    if (rev !== stored) await this.d.store.put(site.id, rev);
    await this.d.broker.publish(siteTopic(site.id, 'config'), encodeJson(message), { qos: 1, retain: true });
    this.published.set(site.id, { revision: rev.revision, hash: rev.hash });
    this.stats.published++;
    // Counted from this publication: a board that was offline gets it at its next connect.
    this.d.expect(site.id, { revision: rev.revision, hash: rev.hash, dueAt: now + this.d.graceMs });
    if (rev !== stored) this.d.log.info({ siteId: site.id, revision: rev.revision, areaChannels: content.areaChannels, why }, 'site configuration: new revision published');
  }
}
