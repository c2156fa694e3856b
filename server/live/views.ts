/**
 * What the live service shows of a stream, live or past: the view types the
 * HTTP routes answer with, and the pure functions that build them from the
 * sites' cumulative reports or from the record (server/live/store.ts), so a
 * past stream answers in the shape of a live one. Also how a stream's source
 * is named and how a relay's URL is kept out of what readers see.
 */
import type { StreamStatsEvent } from '../../protocol/index.ts';
import type { LiveSiteTotals, LiveSiteView, LiveStreamView } from '../../api/live.ts';
import type { LiveStreamStats } from './live-stream.ts';
import type { SkewSummary } from './skew.ts';
import { publicUrl, type LiveSiteRecord, type LiveStreamRecord } from './store.ts';
import type { LiveActor, LiveSourceSpec } from './model.ts';

/** Per-site counters as last reported (they are cumulative at the site): the record's row without its key. */
export type SiteReport = Omit<LiveSiteRecord, 'siteId'>;

export type { LiveSiteTotals, LiveStreamView, LiveDelayPreview, LiveSiteView } from '../../api/live.ts';

/** One stream with each site's latest report (the route adds the sites' names and the silent ones). */
export interface LiveStreamDetail extends LiveStreamView {
  siteReports: LiveSiteView[];
}

/** A stream known only from the store, in the same shape. */
export function recordView(r: LiveStreamRecord, sites: readonly LiveSiteRecord[]): LiveStreamView {
  return {
    id: r.id,
    state: r.endedAt === null ? 'live' : 'ended',
    source: {
      kind: r.source.kind,
      label: r.source.label,
      ...(r.source.kind === 'relay' && r.source.ref ? { url: r.source.ref } : {}),
      ...(r.source.kind === 'media' && r.source.ref ? { mediaId: r.source.ref } : {}),
      ...(r.source.kind === 'browser' && r.source.format ? { format: r.source.format } : {}),
    },
    areas: r.areas,
    priority: r.priority,
    whenPreempted: r.whenPreempted,
    delayMs: r.delayMs,
    codec: r.codec,
    startedAt: r.startedAt,
    startAt: r.startAt,
    startedBy: r.createdByName,
    endedAt: r.endedAt,
    endReason: r.endReason,
    endDetail: r.endDetail,
    endedBy: r.endedByName,
    server: r.serverStats ?? { ...NO_SERVER_STATS },
    sites: totals(sites),
    skew: r.skew ?? { ...NO_SKEW },
    adaptive: r.adaptive,
  };
}

const NO_SERVER_STATS: LiveStreamStats = {
  slots: 0,
  audioPackets: 0,
  silencePackets: 0,
  lateSkipped: 0,
  messages: 0,
  payloadBytes: 0,
  wireBytes: 0,
  queueMs: 0,
  droppedMs: 0,
  sourceBytes: 0,
};
const NO_SKEW: SkewSummary = { marks: 0, sites: 0, p50Ms: null, p99Ms: null, maxMs: null };

export function reportOf(ev: StreamStatsEvent, marks: number, receivedAt: number): SiteReport {
  return {
    received: ev.received,
    late: ev.late,
    lost: ev.lost,
    concealed: ev.concealed,
    fecRecovered: ev.fecRecovered,
    played: ev.played,
    bufferLevelMs: ev.bufferLevelMs,
    final: ev.final,
    at: ev.at,
    end: ev.end ? { reason: ev.end.reason, detail: ev.end.detail ?? null } : null,
    marks,
    clockUncertaintyMs: ev.clockUncertaintyMs,
    receivedAt,
  };
}

export function siteView(siteId: string, r: SiteReport): LiveSiteView {
  return { siteId, ...r };
}

type Counters = Pick<SiteReport, 'received' | 'late' | 'lost' | 'concealed' | 'fecRecovered' | 'played' | 'bufferLevelMs'>;

export function totals(reports: Iterable<Counters>): LiveSiteTotals {
  const t = { sites: 0, received: 0, late: 0, lost: 0, concealed: 0, fecRecovered: 0, played: 0 };
  let buf = 0;
  for (const r of reports) {
    t.sites++;
    t.received += r.received;
    t.late += r.late;
    t.lost += r.lost;
    t.concealed += r.concealed;
    t.fecRecovered += r.fecRecovered;
    t.played += r.played;
    buf += r.bufferLevelMs;
  }
  const due = t.played + t.lost;
  const unconcealed = Math.max(0, t.lost - t.concealed - t.fecRecovered);
  return { ...t, bufferLevelMsMean: t.sites ? Math.round(buf / t.sites) : null, unconcealedLossRatio: due > 0 ? unconcealed / due : null };
}

export function defaultLabel(s: LiveSourceSpec, actor: LiveActor): string {
  switch (s.kind) {
    case 'browser':
      return actor.username;
    case 'media':
      return s.title;
    case 'relay':
      return safeHost(s.url);
  }
}

/** `text` with `url` shown as its public form, and its password, user name and query values masked wherever else they appear. */
export function redactUrl(text: string, url: string): string {
  let out = text.split(url).join(publicUrl(url));
  try {
    const u = new URL(url);
    out = out.split(url.replace(/#.*$/, '')).join(publicUrl(url));
    const secrets = [u.password, u.password ? u.username : '', ...[...u.searchParams.values()]].flatMap((x) => [x, safeDecode(x), encodeURIComponent(x)]);
    for (const s of new Set(secrets)) if (s.length >= 3) out = out.split(s).join('***');
  } catch {
    /* not a URL: nothing more to mask */
  }
  return out.replace(/\/\/[^/\s@]+@/g, '//');
}

function safeDecode(x: string): string {
  try {
    return decodeURIComponent(x);
  } catch {
    return x;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'relay';
  }
}
