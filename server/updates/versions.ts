/**
 * The fleet's version distribution: per area, how many sites run each agent
 * version and, per device kind, each firmware version, from the latest
 * heartbeats. Pure: the sites' facts in, the counts out. A site never heard
 * (or a device that never said its firmware) counts as `unknown`, so the
 * counts always add up to the sites there are.
 */

export const UNKNOWN_VERSION = 'unknown';

export interface SiteVersions {
  /** The area the site counts under (a child of the area asked for, or that area itself). */
  group: string;
  /** Its agent's version as its latest heartbeat said; null when never heard. */
  agent: string | null;
  /** Its devices: from the heartbeat with their firmware, else the expected ones (firmware null). */
  devices: ReadonlyArray<{ kind: string; firmware: string | null }>;
}

export interface VersionCounts {
  sites: number;
  /** Agent version → sites. */
  agent: Record<string, number>;
  /** Device kind → firmware version → devices. */
  firmware: Record<string, Record<string, number>>;
}

const empty = (): VersionCounts => ({ sites: 0, agent: {}, firmware: {} });

function add(c: VersionCounts, s: SiteVersions): void {
  c.sites++;
  const a = s.agent ?? UNKNOWN_VERSION;
  c.agent[a] = (c.agent[a] ?? 0) + 1;
  for (const d of s.devices) {
    const kind = (c.firmware[d.kind] ??= {});
    const v = d.firmware ?? UNKNOWN_VERSION;
    kind[v] = (kind[v] ?? 0) + 1;
  }
}

/** Counts per group (in the order groups first appear in `groups`, then any other) and in all. */
export function versionDistribution(sites: readonly SiteVersions[], groups: readonly string[] = []): { total: VersionCounts; groups: Array<{ group: string } & VersionCounts> } {
  const total = empty();
  const by = new Map<string, VersionCounts>(groups.map((g) => [g, empty()]));
  for (const s of sites) {
    add(total, s);
    let c = by.get(s.group);
    if (!c) by.set(s.group, (c = empty()));
    add(c, s);
  }
  return { total, groups: [...by].map(([group, c]) => ({ group, ...c })) };
}
