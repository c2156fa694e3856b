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
    private readonly simulatedLink: LiveAudioLink,
  ) {
    super(options);
  }

  override onAudio(payload: Uint8Array): void {
    this.simulatedLink(() => super.onAudio(payload));
  }
}

/** The receiver factory for PlayoutSetup.createLiveReceiver: live audio passes through `link` first. */
export function liveReceiverBehind(link: LiveAudioLink): (options: LiveReceiverOptions) => LiveReceiver {
  return (options) => new LiveReceiverBehindLink(options, link);
}
