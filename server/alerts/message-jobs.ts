/**
 * Alert messages whose audio is still being made. An alert starts at once
 * with its attention signal; when its message audio is made (or fails), the
 * service publishes the same revision again, now complete. A job the alert no
 * longer needs (ended, or an Update gave it another message) is abandoned,
 * which frees the audio lane.
 */
import type { Logger } from '../fleet/broker.ts';
import type { MessageOutcome, PreparedMessage } from './message.ts';

export interface AlertMessageJobsDeps {
  log: Logger;
  /** The message audio `mediaId` of an alert was made, or could not be. */
  settled: (alertId: string, mediaId: string, r: MessageOutcome) => Promise<void>;
}

export class AlertMessageJobs {
  /** Alerts whose message audio is still being made, and when it settles (tests and shutdown wait on these). */
  private readonly preparing = new Map<string, Promise<void>>();
  /** How to stop making an alert's message, by alert id: called when the alert ends or an Update replaces the message. */
  private readonly abandons = new Map<string, { mediaId: string; abandon: () => void }>();

  constructor(private readonly d: AlertMessageJobsDeps) {}

  /** The alert no longer needs the message being made for it (unless it is `keep`): stop the job, free the lane. */
  abandon(alertId: string, keep?: string): void {
    const a = this.abandons.get(alertId);
    if (!a || a.mediaId === keep) return;
    this.abandons.delete(alertId);
    a.abandon();
  }

  /** The alert's message is now `message`: abandon the job of any other, and follow this one while it is being made. */
  follow(alertId: string, message: PreparedMessage): void {
    this.abandon(alertId, message.source.mediaId);
    if (message.state !== 'preparing' || !message.done) return;
    const mediaId = message.source.mediaId;
    if (message.abandon) this.abandons.set(alertId, { mediaId, abandon: message.abandon });
    const p = message.done
      .then((r) => this.d.settled(alertId, mediaId, r))
      .catch((err: unknown) => this.d.log.error({ err, alertId }, 'publishing the alert message failed'))
      .finally(() => {
        if (this.preparing.get(mediaId) === p) this.preparing.delete(mediaId);
        if (this.abandons.get(alertId)?.mediaId === mediaId) this.abandons.delete(alertId);
      });
    this.preparing.set(mediaId, p);
  }

  /** Resolves once no alert message is being made (messages already published). */
  async settledAll(): Promise<void> {
    while (this.preparing.size > 0) await Promise.allSettled([...this.preparing.values()]);
  }
}
