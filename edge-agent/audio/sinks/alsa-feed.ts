/**
 * When the ALSA sink hands each frame to aplay: pure, so the timing rule is
 * tested without a sound card.
 *
 * ALSA starts a stopped stream when its buffer is full (aplay's default start
 * threshold = buffer size B) and then plays what it is given back to back. If
 * frames reached aplay the moment the engine wrote them (up to B + a batch
 * ahead), the buffer would fill early and the first frame would be heard
 * early by that much. So the sink queues frames and feeds frame X only when
 * X's play-at is within `feedAheadMs` = B − one frame: the buffer then fills
 * to B exactly when the first frame is due, and afterwards every frame is
 * heard at its play-at, with B − 20 ms in hand against a stalled event loop.
 *
 * Back to back means no gaps: between real frames, and after the last one,
 * the sink feeds silence on the same schedule for as long as it is open (the
 * engine closes it when the amplifier goes off). A gap is filled exactly, so
 * the next programme is heard at its play-at; a run shorter than the buffer
 * still fills it and is heard; and the stream never runs dry and restarts at
 * an ambiguous moment. Silence goes `padDelayMs` later than a real frame
 * would (on time while the stream is still filling, so it starts when due),
 * so a real frame merely slow in coming is not pushed back behind it.
 */
export interface FeedInput {
  /** Play-at of the queued frames, in order. */
  queued: readonly number[];
  /** End (play-at + frame) of the last frame fed, real or silence; null when nothing was fed since open or flush. */
  fedEnd: number | null;
  /** Audio fed into the current stream, ms: below one buffer ALSA has not started it yet. */
  filledMs: number;
  now: number;
  feedAheadMs: number;
  padDelayMs: number;
  frameMs: number;
}

/** What to hand to aplay now, in order: `{frames: n}` = the next n queued frames, `{silence: n}` = n silent frames. */
export type FeedStep = { frames: number } | { silence: number };

export interface FeedPlan {
  steps: FeedStep[];
  /** When to look again (local clock), or null when nothing was ever fed and nothing is queued. */
  wakeAt: number | null;
  /** The state after this plan. */
  fedEnd: number | null;
  filledMs: number;
}

export function planFeed(i: FeedInput): FeedPlan {
  const horizon = i.now + i.feedAheadMs;
  const bufferMs = i.feedAheadMs + i.frameMs;
  const steps: FeedStep[] = [];
  let { fedEnd, filledMs } = i;
  const started = () => filledMs >= bufferMs;
  const delay = () => (started() ? i.padDelayMs : 0);
  const push = (step: FeedStep) => {
    const last = steps[steps.length - 1];
    if (last && 'frames' in last && 'frames' in step) last.frames += step.frames;
    else if (last && 'silence' in last && 'silence' in step) last.silence += step.silence;
    else steps.push(step);
  };
  // Only a stalled event loop lets a started stream run dry (ALSA then stops, and restarts when full): start over.
  if (started() && fedEnd !== null && fedEnd < i.now - i.frameMs) {
    fedEnd = null;
    filledMs = 0;
  }
  let n = 0;
  for (;;) {
    const next = n < i.queued.length ? i.queued[n]! : null;
    if (next !== null && next <= horizon) {
      // Fill the gap before it exactly (silence not yet sent for it), then the frame.
      if (fedEnd !== null && next - fedEnd >= i.frameMs / 2) {
        const silence = Math.round((next - fedEnd) / i.frameMs);
        push({ silence });
        filledMs += silence * i.frameMs;
      }
      push({ frames: 1 });
      fedEnd = next + i.frameMs;
      filledMs += i.frameMs;
      n++;
      continue;
    }
    // Silence for a slot no queued frame claims, when its time (plus the delay) has come.
    // (An infinite horizon — closing: feed everything queued — sends no silence after it.)
    if (fedEnd !== null && Number.isFinite(horizon) && fedEnd <= horizon - delay() && (next === null || fedEnd + i.frameMs <= next)) {
      push({ silence: 1 });
      fedEnd += i.frameMs;
      filledMs += i.frameMs;
      continue;
    }
    break;
  }
  const nextFrameAt = n < i.queued.length ? i.queued[n]! - i.feedAheadMs : null;
  const nextPadAt = fedEnd !== null ? fedEnd - i.feedAheadMs + delay() : null;
  const wakeAt = nextFrameAt === null ? nextPadAt : nextPadAt === null ? nextFrameAt : Math.min(nextFrameAt, nextPadAt);
  return { steps, wakeAt, fedEnd, filledMs };
}
