/**
 * What a site plays now, as its site page shows it: the agent's word in its
 * latest heartbeat (telemetry.playing), named with what the server knows of it
 * (a bulletin's item title, an alert's title, a live stream's source label).
 * A site that is not connected plays nothing the server can vouch for: null.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';

export type AgentPlaying = NonNullable<TelemetryMessage['playing']>;

export interface SitePlaying {
  kind: AgentPlaying['kind'];
  /** The playlist entry (bulletin), alert id, or live stream id, as the agent said it. */
  id: string;
  /** The broadcast item of a bulletin, parsed from its entry id (`<itemId>@<scheduledAt>`); null for alerts and live streams. */
  itemId: string | null;
  /** Server clock as the agent estimates it. */
  since: number;
  /** What the server calls it; null when it knows no name (an item or stream it no longer has). */
  title: string | null;
  /** A live stream's source kind (microphone, relay, file), when the server still has the stream. */
  source: string | null;
}

export interface PlayingNames {
  itemTitle(itemId: string): string | undefined;
  alertTitle(alertId: string): string | undefined;
  live(streamId: number): { label: string | null; kind: string } | undefined;
}

/** The item id of a playlist entry id `<itemId>@<scheduledAt>`. */
export function itemIdOfEntry(entryId: string): string {
  const at = entryId.lastIndexOf('@');
  return at > 0 ? entryId.slice(0, at) : entryId;
}

export function sitePlaying(connected: boolean, playing: AgentPlaying | null | undefined, names: PlayingNames): SitePlaying | null {
  if (!connected || !playing) return null;
  switch (playing.kind) {
    case 'bulletin': {
      const itemId = itemIdOfEntry(playing.id);
      return { kind: 'bulletin', id: playing.id, itemId, since: playing.since, title: names.itemTitle(itemId) ?? null, source: null };
    }
    case 'alert':
      return { kind: 'alert', id: playing.id, itemId: null, since: playing.since, title: names.alertTitle(playing.id) ?? null, source: null };
    case 'live': {
      const n = Number(playing.id);
      const stream = Number.isSafeInteger(n) && n >= 0 ? names.live(n) : undefined;
      return { kind: 'live', id: playing.id, itemId: null, since: playing.since, title: stream?.label ?? null, source: stream?.kind ?? null };
    }
    default: {
      const never: never = playing.kind;
      return never;
    }
  }
}
