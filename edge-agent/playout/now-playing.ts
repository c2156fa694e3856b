/**
 * What the site plays now, for its heartbeat (telemetry.playing): the
 * programme on air as the engine's events tell it, named the way the server
 * knows it (a bulletin by its playlist entry, an alert by its alert id, a
 * live stream by its stream id), and since when on the server clock.
 * `nowPlayingAfter` is the pure fold over engine events; `NowPlaying` listens
 * to an engine and says when the answer changed, so a heartbeat can go at
 * once instead of up to an interval later.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';
import type { EngineEvent, ProgrammeKind } from './programme.ts';

export type Playing = NonNullable<TelemetryMessage['playing']>;

export interface NowPlayingState {
  /** The engine's programme id on air, or null. */
  onAir: string | null;
  playing: Playing | null;
  /** Kinds of programmes that started, for a later 'resumed' (which carries no kind). */
  kinds: ReadonlyMap<string, ProgrammeKind>;
}

export const initialNowPlaying = (): NowPlayingState => ({ onAir: null, playing: null, kinds: new Map() });

const ENTRY_AT = '@';
const ALERT_PREFIX = 'alert:';
const LIVE_PREFIX = 'live:';

/**
 * The protocol's name for a programme: a live stream `live:<streamId>` is its stream id; a live alert
 * `alert:<alertId>:<revision>` and the file copy of an alert (playlist entry `<alertId>@<start>`) are the
 * alert id; a bulletin is its playlist entry id (`<itemId>@<start>`, which the server's receipts use too).
 * A tone (a sound check) is not a programme the console names: null.
 */
export function playingOf(kind: ProgrammeKind, programmeId: string, at: number): Playing | null {
  // Engine times are fractional ms (frame slots on the server clock); the protocol's epoch ms are integers.
  const since = Math.round(at);
  switch (kind) {
    case 'live':
      return { kind, id: programmeId.startsWith(LIVE_PREFIX) ? programmeId.slice(LIVE_PREFIX.length) : programmeId, since };
    case 'alert': {
      if (programmeId.startsWith(ALERT_PREFIX)) {
        const rest = programmeId.slice(ALERT_PREFIX.length);
        const cut = rest.lastIndexOf(':');
        return { kind, id: cut > 0 ? rest.slice(0, cut) : rest, since };
      }
      const at = programmeId.lastIndexOf(ENTRY_AT);
      return { kind, id: at > 0 ? programmeId.slice(0, at) : programmeId, since };
    }
    case 'bulletin':
      return { kind, id: programmeId, since };
    case 'tone':
      return null;
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** The state after one engine event. Amplifier events change nothing. */
export function nowPlayingAfter(s: NowPlayingState, e: EngineEvent): NowPlayingState {
  switch (e.type) {
    case 'started': {
      const kinds = new Map(s.kinds).set(e.id, e.kind);
      return { onAir: e.id, playing: playingOf(e.kind, e.id, e.at), kinds };
    }
    case 'resumed': {
      const kind = s.kinds.get(e.id);
      return { ...s, onAir: e.id, playing: kind ? playingOf(kind, e.id, e.at) : null };
    }
    case 'preempted':
      // The one taking over says 'started' (or 'resumed') itself; until then nothing of this one is heard.
      return s.onAir === e.id ? { ...s, onAir: null, playing: null } : s;
    case 'ended':
    case 'failed': {
      const kinds = new Map(s.kinds);
      kinds.delete(e.id);
      return s.onAir === e.id ? { onAir: null, playing: null, kinds } : { ...s, kinds };
    }
    case 'amplifier':
      return s;
    default: {
      const never: never = e;
      return never;
    }
  }
}

const samePlaying = (a: Playing | null, b: Playing | null): boolean => a === b || (a !== null && b !== null && a.kind === b.kind && a.id === b.id && a.since === b.since);

/** Follows an engine (anything with `on`), calls `changed` when what plays changed. */
export class NowPlaying {
  private state = initialNowPlaying();
  private readonly off: () => void;

  constructor(engine: { on(listener: (e: EngineEvent) => void): () => void }, changed: (before: Playing | null, after: Playing | null) => void) {
    this.off = engine.on((e) => {
      const before = this.state.playing;
      this.state = nowPlayingAfter(this.state, e);
      if (!samePlaying(before, this.state.playing)) changed(before, this.state.playing);
    });
  }

  report(): Playing | null {
    return this.state.playing;
  }

  close(): void {
    this.off();
  }
}

/** What plays on `engine` now, for a heartbeat; `changed` is called (from the engine's events) when it changes. */
export function followPlaying(
  engine: { on(listener: (e: EngineEvent) => void): () => void },
  changed: (before: Playing | null, after: Playing | null) => void,
): () => Playing | null {
  const tracker = new NowPlaying(engine, changed);
  return () => tracker.report();
}
