/**
 * The server side of the NTP-style clock exchange (docs/protocol.md, "Clocks",
 * "Clock exchange over MQTT"): each valid request on sites/{siteId}/clock is answered at once
 * on sites/{siteId}/time with t1 (request received) and t2 (answer sent), both
 * on the server clock.
 *
 * The ingest boundary (ingest.ts) decodes the request, checks its siteId
 * against the topic and stamps t1 before decoding; this only answers. Clock
 * traffic is frequent (3,000 agents × 1 request per 30 s) and carries nothing
 * about the site's health, so it neither counts as "seen" for liveness nor
 * touches SQLite.
 *
 * The server clock is the wall clock (`Date.now()`, NTP-disciplined on the
 * server; play-at times are stamped with it too) refined to sub-ms with the
 * monotonic `performance.now()`: `serverClockMs()` follows the monotonic clock
 * from an anchor and re-anchors whenever it leaves [Date.now(), Date.now() + 1),
 * so it never differs from the wall clock by more than Date.now()'s own
 * truncation (< 1 ms), and follows a stepped or slewed wall clock.
 */
import { PROTOCOL_VERSION, encodeJson, siteTopic, type ClockRequest, type ClockResponse } from '../../protocol/index.ts';
import type { Logger } from './broker.ts';
import type { ClockSink } from './ingest.ts';

let anchor = performance.timeOrigin;

/** Server clock, ms since the Unix epoch with a sub-ms fraction (see the header). */
export function serverClockMs(): number {
  const perf = performance.now();
  const wall = Date.now();
  const t = anchor + perf;
  if (t >= wall && t < wall + 1) return t;
  anchor = wall + 0.5 - perf;
  return wall + 0.5;
}

export interface ClockPublisher {
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>;
}

export class ClockResponder implements ClockSink {
  /** Answers sent, and answers the broker refused (link down). */
  answered = 0;
  failed = 0;

  constructor(
    private readonly broker: ClockPublisher,
    private readonly log: Logger,
    private readonly now: () => number = serverClockMs,
  ) {}

  /** The server clock now: the ingest stamps t1 with it as a request arrives. */
  stamp(): number {
    return this.now();
  }

  /** Answer one decoded request; `t1` is when it arrived (server clock, stamped before decoding). */
  answer(siteId: string, request: ClockRequest, t1: number): void {
    // t2 ≥ t1 even if the clock was re-anchored (or stepped back) in between: the agent refuses t2 < t1.
    const t2 = Math.max(t1, this.now());
    const response: ClockResponse = { v: PROTOCOL_VERSION, siteId, id: request.id, t0: request.t0, t1, t2 };
    this.broker.publish(siteTopic(siteId, 'time'), encodeJson(response), { qos: 0 }).then(
      () => {
        this.answered++;
      },
      (err: unknown) => {
        // Stale answers are useless: the agent simply asks again.
        this.failed++;
        if (this.failed % 1000 === 1) this.log.warn({ siteId, err: (err as Error).message, failed: this.failed }, 'clock answer not sent');
      },
    );
  }
}
