/**
 * What each targeted site plays now and when it next must: the rollout
 * starts nothing at a site that plays (an alert, a live stream, a bulletin)
 * nor shortly before its next scheduled broadcast. Pure: what the server
 * knows (active alerts and their areas, live streams on air, the playlist
 * entries it sent each site, what the sites say they play) in, per site
 * `playing` and `nextBroadcastAt` out.
 */

export interface ActivityInputs {
  /** Active alerts: the area keys they are published on, and the sites of a drawn area (null: every site of those areas). */
  alerts: ReadonlyArray<{ areas: readonly string[]; sites: readonly string[] | null }>;
  /** Live streams on air: the area keys they target. */
  live: ReadonlyArray<{ areas: readonly string[] }>;
  /** Playlist entries the server sent (play, not withdrawn), around now. */
  entries: ReadonlyArray<{ siteId: string; startAt: number; durationMs: number }>;
  /** Sites whose latest heartbeat says they play something now. */
  reportedPlaying: ReadonlySet<string>;
}

export interface SiteActivity {
  playing: boolean;
  nextBroadcastAt: number | null;
}

/** `sites`: each site with the area keys it listens on (its area and every ancestor). */
export function siteActivity(sites: ReadonlyArray<{ id: string; channels: readonly string[] }>, inputs: ActivityInputs, now: number): Map<string, SiteActivity> {
  const out = new Map<string, SiteActivity>();
  const reaches = (areas: readonly string[], channels: readonly string[]) => areas.some((a) => channels.includes(a));
  for (const s of sites) {
    const alert = inputs.alerts.some((a) => (a.sites ? a.sites.includes(s.id) : reaches(a.areas, s.channels)));
    const live = inputs.live.some((l) => reaches(l.areas, s.channels));
    out.set(s.id, { playing: alert || live || inputs.reportedPlaying.has(s.id), nextBroadcastAt: null });
  }
  for (const e of inputs.entries) {
    const a = out.get(e.siteId);
    if (!a) continue;
    if (e.startAt <= now && now < e.startAt + e.durationMs) a.playing = true;
    else if (e.startAt >= now && (a.nextBroadcastAt === null || e.startAt < a.nextBroadcastAt)) a.nextBroadcastAt = e.startAt;
  }
  return out;
}
