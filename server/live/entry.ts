/**
 * A stream as the live service holds it in memory while it plays and for a
 * while after (model.ts keepEnded): what was asked for, what went on the
 * wire, what the sites report, how its delay moved, how it ended. Shared by
 * the service (its lifecycle), adaptive-delay.ts and site-reports.ts.
 */
import type { AudioStreamStart } from '../../protocol/index.ts';
import type { LiveDelayView } from './delay-budget.ts';
import type { LiveStream, LiveStreamStats, PcmSource } from './live-stream.ts';
import type { LiveStartInput } from './model.ts';
import type { OnAir } from './publisher.ts';
import type { SkewTracker } from './skew.ts';
import { publicUrl, type LiveEndReason, type NewLiveStream } from './store.ts';
import { totals, type LiveStreamView, type SiteReport } from './views.ts';

export interface Entry {
  id: number;
  stream: LiveStream;
  input: LiveStartInput;
  /** The keys of input.areas, computed once: every frame goes to each. */
  areaKeys: string[];
  start: AudioStreamStart;
  startedAt: number;
  endedAt: number | null;
  endReason: LiveEndReason | null;
  endDetail: string | null;
  endedBy: string | null;
  reports: Map<string, SiteReport>;
  skew: SkewTracker;
  finalStats: LiveStreamStats | null;
  /** Sites whose report changed since the last write to the store. */
  dirty: Set<string>;
  ceilingMs: number;
  initialDelayMs: number;
  raises: LiveDelayView['raises'];
  lastRaiseAt: number;
  /** Where its audio comes from, once attached (a relay's tells whether it is reconnecting). */
  source?: PcmSource;
  /** Each reporting site's latest transit on this stream. */
  links: Map<string, { transitP50Ms: number; transitP99Ms: number; samples: number; behind: boolean }>;
}

export const onAir = (e: Entry): OnAir => ({ id: e.id, start: e.start, priority: e.input.priority, areaKeys: e.areaKeys });

/** What readers see of a stream in memory (views.ts recordView: the same shape from the record). */
export function liveView(e: Entry, adaptive: LiveDelayView): LiveStreamView {
  const src = e.input.source;
  return {
    id: e.id,
    state: e.endedAt === null ? 'live' : 'ended',
    source: {
      kind: src.kind,
      label: e.start.source.label ?? null,
      ...(src.kind === 'relay' ? { url: publicUrl(src.url) } : {}),
      ...(src.kind === 'media' ? { mediaId: src.mediaId } : {}),
      ...(src.kind === 'browser' ? { format: src.format } : {}),
    },
    areas: e.start.areas,
    priority: e.start.priority,
    whenPreempted: e.start.whenPreempted ?? 'resume',
    delayMs: e.start.delayMs,
    codec: e.start.codec,
    startedAt: e.startedAt,
    startAt: e.start.startAt,
    startedBy: e.input.actor.username,
    endedAt: e.endedAt,
    endReason: e.endReason,
    endDetail: e.endDetail,
    endedBy: e.endedBy,
    server: e.finalStats ?? e.stream.stats(),
    sites: totals(e.reports.values()),
    skew: e.skew.summary(),
    adaptive,
    ...(e.source?.relayStatus ? { relay: e.source.relayStatus() } : {}),
  };
}
/** What the record keeps of a stream as it goes on air. */
export function newRecord(e: Entry): NewLiveStream {
  const src = e.input.source;
  return {
    id: e.id,
    source: {
      kind: src.kind,
      label: e.start.source.label ?? null,
      ref: src.kind === 'relay' ? publicUrl(src.url) : src.kind === 'media' ? src.mediaId : null,
      format: src.kind === 'browser' ? src.format : null,
    },
    priority: e.start.priority,
    whenPreempted: e.start.whenPreempted ?? 'resume',
    areas: e.start.areas,
    areaIds: e.input.areas.map((a) => a.id),
    delayMs: e.start.delayMs,
    codec: e.start.codec,
    startAt: e.start.startAt,
    createdBy: e.input.actor.id,
    createdByName: e.input.actor.username,
    startedAt: e.startedAt,
  };
}
