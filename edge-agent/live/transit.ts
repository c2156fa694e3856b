/**
 * How this site's link carries one live stream: the transit of each message
 * (from the moment the server could send it to its arrival here) and how many
 * packets came too late to play. Pure: the receiver passes times in.
 *
 * Transit is measured against the stream's own timeline, so it needs no extra
 * field on the wire: the server sends a message as soon as its last packet is
 * captured, and a packet's play-at is its capture time + the stream's delay,
 * so the message could leave at `playAt − delay + packets × duration`. Its
 * arrival on the server clock (this site's estimate) minus that is the link's
 * transit plus the server's pacing (≤ 10 ms). The estimate's error is the
 * clock's (a few ms on a settled link, up to its reported uncertainty).
 *
 * The server sizes a stream's delay by the p99 of this transit at its sites
 * (server/live/delay-budget.ts); the site itself says it is `behind` when
 * more than BEHIND_LATE_RATIO of the packets of its recent messages were past
 * due on arrival — a fact, whatever the estimate says.
 */

/** Share of recent packets that arrived late beyond which a site says it cannot keep up. */
export const BEHIND_LATE_RATIO = 0.02;

export interface TransitSummary {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  /** Packets past due on arrival over packets received, in the window. */
  lateRatio: number;
}

/** When a message could leave the server, server clock ms: its play-at − the delay + its packets' duration. */
export function messageSendTimeMs(m: { playAtUs: number; packets: number; packetDurationUs: number }, delayMs: number): number {
  return m.playAtUs / 1000 - delayMs + (m.packets * m.packetDurationUs) / 1000;
}

export class TransitWindow {
  private readonly transit: number[] = [];
  private readonly packets: number[] = [];
  private readonly late: number[] = [];
  private packetSum = 0;
  private lateSum = 0;

  /** `size`: messages remembered (default 500, 30 s of 3 × 20 ms messages); `minSamples` before a summary (default 10). */
  constructor(
    private readonly size = 500,
    private readonly minSamples = 10,
  ) {}

  /** One message: its transit, its packets, how many of them were past due on arrival. */
  add(transitMs: number, packets: number, latePackets: number): void {
    if (!Number.isFinite(transitMs)) return;
    this.transit.push(transitMs);
    this.packets.push(packets);
    this.late.push(latePackets);
    this.packetSum += packets;
    this.lateSum += latePackets;
    if (this.transit.length > this.size) {
      this.transit.shift();
      this.packetSum -= this.packets.shift()!;
      this.lateSum -= this.late.shift()!;
    }
  }

  /**
   * Forget which packets were late (keep the transits): after the stream's
   * delay was raised, lateness measured under the old delay no longer says
   * anything about keeping up.
   */
  clearLate(): void {
    this.late.fill(0);
    this.lateSum = 0;
  }

  get samples(): number {
    return this.transit.length;
  }

  summary(): TransitSummary | null {
    const n = this.transit.length;
    if (n < this.minSamples) return null;
    const sorted = [...this.transit].sort((a, b) => a - b);
    // Nearest rank: at least p % of the samples are at or below the value.
    const q = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
    return {
      p50Ms: round1(q(0.5)),
      p99Ms: round1(q(0.99)),
      maxMs: round1(sorted[n - 1]!),
      samples: n,
      lateRatio: this.packetSum > 0 ? this.lateSum / this.packetSum : 0,
    };
  }

  /** More than BEHIND_LATE_RATIO of the recent packets came late. */
  behind(): boolean {
    return this.transit.length >= this.minSamples && this.packetSum > 0 && this.lateSum / this.packetSum > BEHIND_LATE_RATIO;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
