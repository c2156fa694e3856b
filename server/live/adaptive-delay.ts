/**
 * How long a live stream's delay is, and how it moves while it plays: a new
 * stream starts at what the slowest targeted site's last measured link
 * needs (not below the floor, not above the ceiling), and is raised while it
 * plays when a site's measure asks for more (delay-budget.ts decides; this
 * module remembers the links and applies the raise to a stream in memory).
 */
import type { Logger } from '../fleet/broker.ts';
import { chooseLiveDelay, siteNeededDelayMs, type DelayChoice, type LiveDelayView } from './delay-budget.ts';
import type { Entry } from './entry.ts';
import type { LiveArea, LiveConfig } from './model.ts';
import type { LiveDelayPreview } from './views.ts';

/** A raise smaller than this is not worth the pause it cuts into a live voice. */
const RAISE_MIN_MS = 100;
/** At most one raise per stream this often: each waits for the sites' next measures. */
const RAISE_EVERY_MS = 3000;
/** A site's measured link counts for the next stream's delay this long. */
const LINK_MEMORY_MS = 7 * 24 * 3600_000;

export interface AdaptiveDelayDeps {
  cfg: Pick<LiveConfig, 'delayMs' | 'maxDelayMs' | 'packetsPerMessage' | 'outputMs'>;
  log: Logger;
  now(): number;
  /** Ids of a site's area and its ancestors: only the targeted sites' links count for a stream's delay. */
  areaPathOfSite?: (siteId: string) => readonly number[] | undefined;
  /** Tell the sites a stream's new start (its raised delayMs) before its capture origin moves. */
  announce(e: Entry): void;
}

export class AdaptiveDelay {
  /** Each site's latest measured link (any stream): what the next stream to it starts with. */
  private readonly siteLinks = new Map<string, { transitP99Ms: number; at: number }>();

  constructor(private readonly deps: AdaptiveDelayDeps) {}

  budget(packetsPerMessage: number): { packetsPerMessage: number; frameMs: number; outputMs: number } {
    return { packetsPerMessage, frameMs: 20, outputMs: this.deps.cfg.outputMs };
  }

  /** A new stream's delay: the requested or configured one, raised for the targeted sites' measured links, within the ceiling. */
  choose(areas: readonly LiveArea[], o: { delayMs?: number; maxDelayMs?: number }, packetsPerMessage: number): DelayChoice {
    const cfg = this.deps.cfg;
    const floorMs = o.delayMs ?? cfg.delayMs;
    // A delay asked for without a ceiling is that delay: whoever names one (a test, a wired fleet) means it.
    const ceilingMs = o.maxDelayMs ?? (o.delayMs !== undefined ? o.delayMs : cfg.maxDelayMs);
    const ids = areas.map((a) => a.id);
    const now = this.deps.now();
    const links: Array<{ siteId: string; transitP99Ms: number }> = [];
    for (const [siteId, l] of this.siteLinks) {
      if (now - l.at > LINK_MEMORY_MS) continue;
      const path = this.deps.areaPathOfSite?.(siteId);
      if (this.deps.areaPathOfSite && !(path && ids.some((id) => path.includes(id)))) continue;
      links.push({ siteId, transitP99Ms: l.transitP99Ms });
    }
    // Beyond the protocol's 10 s, a stream cannot be announced.
    return chooseLiveDelay({ floorMs, ceilingMs: Math.min(10_000, ceilingMs), links, budget: this.budget(packetsPerMessage) });
  }

  /** What a stream to these (outermost) areas would start with; see LiveService.previewDelay. */
  preview(areas: readonly LiveArea[], o: { delayMs?: number; maxDelayMs?: number; packetsPerMessage?: number }): LiveDelayPreview {
    const c = this.choose(areas, o, o.packetsPerMessage ?? this.deps.cfg.packetsPerMessage);
    return {
      delayMs: c.delayMs,
      ceilingMs: c.ceilingMs,
      adaptive: c.ceilingMs > c.delayMs,
      sites: c.sites.slice(0, 50),
      measured: c.sites.length,
      beyondCeiling: c.sites.filter((s) => !s.withinCeiling).length,
    };
  }

  /** A site measured its link on stream `e`: remembered for the next stream, and perhaps a raise of this one. Answers whether it raised. */
  measured(e: Entry, siteId: string, transit: { p50Ms: number; p99Ms: number; samples: number }, behind: boolean): boolean {
    e.links.set(siteId, { transitP50Ms: transit.p50Ms, transitP99Ms: transit.p99Ms, samples: transit.samples, behind });
    this.siteLinks.set(siteId, { transitP99Ms: transit.p99Ms, at: this.deps.now() });
    return this.adapt(e, siteId);
  }

  /**
   * A site's measure asks for more delay than the stream has: raise it (to
   * what the slowest site within the ceiling needs), tell the sites first
   * (the start, again, with the new delayMs: on the audio channel it comes
   * before the frames sent further ahead), then move the stream's capture
   * origin back (live-stream.ts raiseDelay).
   */
  private adapt(e: Entry, siteId: string): boolean {
    const current = e.stream.currentDelayMs;
    if (e.endedAt !== null || e.ceilingMs <= current) return false;
    const now = this.deps.now();
    if (now - e.lastRaiseAt < RAISE_EVERY_MS) return false;
    // Only a site that needs more can raise it: the others' needs are weighed only then (3,000 sites report every 5 s).
    const mine = e.links.get(siteId);
    if (!mine || siteNeededDelayMs(mine.transitP99Ms, this.budget(e.start.codec.packetsPerMessage)) <= current) return false;
    const links = [...e.links].map(([siteId, l]) => ({ siteId, transitP99Ms: l.transitP99Ms }));
    const c = chooseLiveDelay({ floorMs: current, ceilingMs: e.ceilingMs, links, budget: this.budget(e.start.codec.packetsPerMessage) });
    if (c.delayMs - current < RAISE_MIN_MS && !(c.delayMs > current && c.delayMs === e.ceilingMs)) return false;
    e.lastRaiseAt = now;
    e.start = { ...e.start, delayMs: c.delayMs, at: now };
    this.deps.announce(e);
    const to = e.stream.raiseDelay(c.delayMs);
    e.raises.push({ at: now, fromMs: current, toMs: to });
    if (e.raises.length > 20) e.raises.shift();
    this.deps.log.warn({ streamId: e.id, fromMs: current, toMs: to, slowest: c.sites[0]?.siteId }, 'live stream delay raised for a slow link');
    return true;
  }

  /** The stream's delay as readers see it: start, ceiling, raises, and the sites it leaves behind. */
  view(e: Entry): LiveDelayView {
    const budget = this.budget(e.start.codec.packetsPerMessage);
    const behind: LiveDelayView['behind'] = [];
    for (const [siteId, l] of e.links) {
      const neededMs = siteNeededDelayMs(l.transitP99Ms, budget);
      if (neededMs > e.ceilingMs) behind.push({ siteId, neededMs, reason: 'beyond_ceiling' });
      else if (l.behind && e.endedAt === null) behind.push({ siteId, neededMs, reason: 'late_packets' });
    }
    return { initialMs: e.initialDelayMs, ceilingMs: e.ceilingMs, raises: [...e.raises], behind: behind.sort((a, b) => (b.neededMs ?? 0) - (a.neededMs ?? 0)).slice(0, 100) };
  }
}
