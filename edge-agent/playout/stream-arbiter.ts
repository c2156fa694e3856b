/**
 * Which live stream a site plays when several want its loudspeakers. Pure:
 * the shell calls start/stop as stream control messages arrive and applies
 * the returned changes (switch the sink to another jitter buffer, power the
 * amplifier, report). Priorities follow Circular 39/2020/TT-BTTTT as
 * protocol/audio-control.ts names them: normal < priority < emergency.
 *
 * Rules:
 * - A higher priority pre-empts a lower one at once.
 * - The pre-empted stream is suspended and resumes when the higher one ends,
 *   or ends on the spot, as its `whenPreempted` says (the stream start
 *   message's field; the arbiter's default otherwise). A live voice cut off
 *   mid-sentence is better ended; a relayed radio programme resumes.
 * - One stream per priority level: the first holds it, a second of the same
 *   priority is refused with a reason (two operators talking over each other
 *   is never what either wants; the second is told who is on air).
 * - A stream that starts below the one playing waits suspended if it would
 *   resume, and is refused if it would end when pre-empted.
 */
import { AUDIO_PRIORITIES, type AudioPriority } from '../../protocol/audio-control.ts';

export type WhenPreempted = 'resume' | 'end';

export interface StreamClaim {
  streamId: number;
  priority: AudioPriority;
  whenPreempted?: WhenPreempted;
}

export type StreamState = 'playing' | 'suspended';

export interface ArbitratedStream {
  streamId: number;
  priority: AudioPriority;
  whenPreempted: WhenPreempted;
  state: StreamState;
}

/** One transition for the shell to apply, in order. */
export type ArbiterChange =
  | { streamId: number; to: 'playing'; why: 'started' | 'resumed' }
  | { streamId: number; to: 'suspended'; why: 'preempted' | 'waiting'; by: number }
  | { streamId: number; to: 'ended'; why: 'stopped' | 'preempted'; by?: number };

export type ArbiterRefusal = {
  code: 'same_priority_busy' | 'lower_priority' | 'already_active';
  reason: string;
  /** The stream in the way. */
  holder: number;
};

export type StartResult = { ok: true; state: StreamState; changes: ArbiterChange[] } | ({ ok: false } & ArbiterRefusal);

export interface StreamArbiterOptions {
  /** For claims that do not say (default 'resume'). */
  whenPreempted?: WhenPreempted;
}

const rank = (p: AudioPriority) => AUDIO_PRIORITIES.indexOf(p);

export class StreamArbiter {
  private readonly defaultWhenPreempted: WhenPreempted;
  /** Active streams, highest priority first; at most one per priority. */
  private active: ArbitratedStream[] = [];

  constructor(options: StreamArbiterOptions = {}) {
    this.defaultWhenPreempted = options.whenPreempted ?? 'resume';
  }

  /** The stream on the loudspeakers, or null. */
  get playing(): ArbitratedStream | null {
    const top = this.active[0];
    return top ? { ...top } : null;
  }

  /** Every active stream, the playing one first, then the suspended ones in the order they would resume. */
  get streams(): ArbitratedStream[] {
    return this.active.map((s) => ({ ...s }));
  }

  start(claim: StreamClaim): StartResult {
    const whenPreempted = claim.whenPreempted ?? this.defaultWhenPreempted;
    const existing = this.active.find((s) => s.streamId === claim.streamId);
    if (existing) {
      return { ok: false, code: 'already_active', reason: `stream ${claim.streamId} is already ${existing.state}`, holder: claim.streamId };
    }
    const same = this.active.find((s) => s.priority === claim.priority);
    if (same) {
      return {
        ok: false,
        code: 'same_priority_busy',
        reason: `stream ${same.streamId} of the same priority (${claim.priority}) is ${same.state === 'playing' ? 'on air' : 'waiting'} here; the first one keeps the site`,
        holder: same.streamId,
      };
    }
    const top = this.active[0];
    const stream: ArbitratedStream = { streamId: claim.streamId, priority: claim.priority, whenPreempted, state: 'playing' };
    if (top && rank(top.priority) > rank(claim.priority)) {
      if (whenPreempted === 'end') {
        return {
          ok: false,
          code: 'lower_priority',
          reason: `stream ${top.streamId} of ${top.priority} priority is on air and this ${claim.priority} stream would end rather than wait`,
          holder: top.streamId,
        };
      }
      stream.state = 'suspended';
      this.insert(stream);
      return { ok: true, state: 'suspended', changes: [{ streamId: stream.streamId, to: 'suspended', why: 'waiting', by: top.streamId }] };
    }
    const changes: ArbiterChange[] = [];
    if (top) {
      if (top.whenPreempted === 'end') {
        this.active.shift();
        changes.push({ streamId: top.streamId, to: 'ended', why: 'preempted', by: stream.streamId });
      } else {
        top.state = 'suspended';
        changes.push({ streamId: top.streamId, to: 'suspended', why: 'preempted', by: stream.streamId });
      }
    }
    this.insert(stream);
    changes.push({ streamId: stream.streamId, to: 'playing', why: 'started' });
    return { ok: true, state: 'playing', changes };
  }

  /** The stream ended (stop message, end of stream, source lost). Unknown ids change nothing. */
  stop(streamId: number): ArbiterChange[] {
    const i = this.active.findIndex((s) => s.streamId === streamId);
    if (i < 0) return [];
    const [gone] = this.active.splice(i, 1);
    const changes: ArbiterChange[] = [{ streamId, to: 'ended', why: 'stopped' }];
    const next = this.active[0];
    if (gone!.state === 'playing' && next) {
      next.state = 'playing';
      changes.push({ streamId: next.streamId, to: 'playing', why: 'resumed' });
    }
    return changes;
  }

  private insert(s: ArbitratedStream): void {
    this.active.push(s);
    this.active.sort((a, b) => rank(b.priority) - rank(a.priority));
  }
}
