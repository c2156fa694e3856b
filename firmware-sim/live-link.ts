/**
 * A simulated 4G link in front of a site's live-stream receiver: every live
 * audio message reaches the receiver through `link`, which may deliver it
 * later or never (the fleet runner's delay, jitter and loss). Plugged into
 * the agent through PlayoutSetup.createLiveReceiver, so the agent itself has
 * no simulation-only path.
 */
import { LiveReceiver, type LiveReceiverOptions } from '../edge-agent/live/receiver.ts';

/** Decides when (and whether) one message is delivered: call `deliver` then, or never. */
export type LiveAudioLink = (deliver: () => void) => void;

class LiveReceiverBehindLink extends LiveReceiver {
  constructor(
    options: LiveReceiverOptions,
    private readonly simulatedLink: LiveAudioLink | undefined,
  ) {
    super(options);
  }

  override onAudio(payload: Uint8Array): void {
    if (this.simulatedLink) this.simulatedLink(() => super.onAudio(payload));
    else super.onAudio(payload);
  }
}

/**
 * The receiver factory for PlayoutSetup.createLiveReceiver: live audio passes through `link` first (none: straight
 * in), and statistics every `statsIntervalMs` when given.
 */
export function liveReceiverBehind(link: LiveAudioLink | undefined, statsIntervalMs?: number): (options: LiveReceiverOptions) => LiveReceiver {
  return (options) => new LiveReceiverBehindLink(statsIntervalMs === undefined ? options : { ...options, statsIntervalMs }, link);
}
