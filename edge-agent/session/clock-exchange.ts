/**
 * The agent's side of the clock exchange (protocol/audio-control.ts;
 * docs/protocol.md, "Clocks"): it sends `{id, t0}` on `clock` when the link
 * comes up and then when `ClockSync.nextRequestInMs()` says (a burst of a few
 * 250 ms apart, then every 30 s), uses the answers on `time`, and holds
 * non-urgent playlist entries until the clock is verified.
 *
 * t0 and t3 come from the agent's sync time base: `clock.now()` when a clock
 * is injected (tests, simulations), else the monotonic epoch
 * (`monotonicEpochMs`), so an NTP step of the board's wall clock mid-run
 * cannot corrupt a sample (a step inside one exchange would otherwise be
 * read as network delay or offset). The offset is "server clock − that time base".
 */
import { PROTOCOL_VERSION, decodeClockResponse, type ClockRequest } from '../../protocol/index.ts';
import { ClockSync, type ClockEstimate, type ClockState } from '../playout/clock-sync.ts';
import { clip, type AgentLogger } from '../agent-log.ts';
import type { SiteLink } from './site-link.ts';

/**
 * Clock exchange pacing: a burst at start (ClockSync asks every 250 ms until
 * it has 5 samples), then one request per 30 s — 100 requests/s for 3,000
 * agents — or every 5 s while the estimate's bound is wider than 5 ms (a
 * burst taken while the board or the link was busy; live streams play off
 * by up to that bound). Without answers (a server that predates the
 * exchange, or a link losing them) the agent falls back to the steady
 * interval after a few tries.
 */
const CLOCK_SYNC_OPTIONS = { windowSize: 32, burstSamples: 5, burstIntervalMs: 250, intervalMs: 30_000, targetUncertaintyMs: 5, refineIntervalMs: 5000 } as const;
const CLOCK_MAX_UNANSWERED_BURST = 8;
const CLOCK_MAX_PENDING = 4;
/**
 * An agent whose clock is not verified (just started: a board without a
 * battery-backed clock boots with whatever time it has) holds non-urgent
 * playlist entries this long while its link is up or coming up, so a bulletin
 * plays on the server's time rather than the board's; alerts are never held,
 * and with the link down it plays at once on its own clock (the receipt says
 * "clock not verified"). 20 s covers a 4G attach and the first exchange.
 */
const CLOCK_HOLD_MS = 20_000;
/** How long a receipt waits for the clock check made when its programme ended (a lost answer must not hold it). */
const CLOCK_CONFIRM_MS = 3000;
/** A clock check asked for within this long of the previous request is not sent again. */
const CLOCK_CHECK_MIN_GAP_MS = 1000;

export interface ClockExchangeOptions {
  siteId: string;
  link: SiteLink;
  /** The sync time base (t0, t3). */
  syncNow: () => number;
  log: AgentLogger;
}

export class ClockExchange {
  readonly stats = { clockRequests: 0, clockSamples: 0 };
  private readonly sync = new ClockSync(CLOCK_SYNC_OPTIONS);
  private timer: NodeJS.Timeout | undefined;
  private lastId = 0;
  private unanswered = 0;
  /** Requests in flight (at most CLOCK_MAX_PENDING): an answer slower than the request interval still counts. */
  private pending: Array<{ id: number; t0: number }> = [];
  /** Until then (sync time base), non-urgent entries wait for a verified clock (see CLOCK_HOLD_MS); 0: no hold. */
  private holdUntil = 0;
  private lastRequestAt = -Infinity;
  /** Receipts waiting for an answer to a request sent at or after `fromId`. */
  private waiters: Array<{ fromId: number; resolve: () => void }> = [];

  constructor(private readonly o: ClockExchangeOptions) {}

  estimate(): ClockEstimate | null {
    return this.sync.estimate();
  }

  state(): ClockState {
    return this.sync.state();
  }

  /** Until the first clock answer (or the link is found down), bulletins wait for the server's time. */
  holdForServerTime(): void {
    this.holdUntil = this.o.syncNow() + CLOCK_HOLD_MS;
  }

  /** Link up: an unverified clock holds bulletins again while the first answers come. */
  linkUp(): void {
    if (!this.sync.synced) this.holdForServerTime();
  }

  /** Link down (or stopping): no requests, no hold (what is due plays on the board's own clock, said so in its receipt), nobody waits. */
  linkDown(): void {
    this.stop();
    this.holdUntil = 0;
    this.releaseWaiters();
  }

  /** The `time` subscription was granted: start the exchange. */
  start(): void {
    this.stop();
    this.unanswered = 0;
    this.pending = [];
    this.sendRequest();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  releaseWaiters(): void {
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /**
   * Whether the playlist may start non-urgent entries now: yes once the clock
   * is verified, or when the hold is over (link down, or no answer in
   * CLOCK_HOLD_MS); the entries wait meanwhile (see CLOCK_HOLD_MS).
   */
  gate(): 'ok' | 'hold' {
    return this.sync.synced || this.o.syncNow() >= this.holdUntil ? 'ok' : 'hold';
  }

  /** Ask the server's time now (before a bulletin starts): a stepped server clock is then caught before the play, not after it. */
  check(): void {
    if (!this.o.link.connected || this.o.link.stopped || !this.timer) return;
    if (this.o.syncNow() - this.lastRequestAt < CLOCK_CHECK_MIN_GAP_MS) return;
    this.sendRequest();
  }

  /**
   * Resolves once a clock answer to a request sent from now on was used (the
   * clock a receipt's times are checked against), at once with the link down,
   * and after CLOCK_CONFIRM_MS at the latest.
   */
  confirm(): Promise<void> {
    if (!this.o.link.connected || this.o.link.stopped || !this.timer) return Promise.resolve();
    const fromId = (this.lastId + 1) >>> 0;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), CLOCK_CONFIRM_MS);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter = { fromId, resolve: done };
      this.waiters.push(waiter);
      if (this.o.syncNow() - this.lastRequestAt >= CLOCK_CHECK_MIN_GAP_MS / 4) this.sendRequest();
      else waiter.fromId = this.lastId; // one just went out: its answer will do
    });
  }

  private sendRequest(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const link = this.o.link;
    if (!link.connected || link.stopped) return;
    this.lastRequestAt = this.o.syncNow();
    this.lastId = (this.lastId + 1) >>> 0;
    const request: ClockRequest = { v: PROTOCOL_VERSION, siteId: this.o.siteId, id: this.lastId, t0: this.o.syncNow() };
    if (link.publish('clock', request, { qos: 0, offline: 'drop' }).status !== 'sent') return;
    this.pending.push({ id: request.id, t0: request.t0 });
    if (this.pending.length > CLOCK_MAX_PENDING) this.pending.shift();
    this.unanswered++;
    this.stats.clockRequests++;
    // Unanswered for a while: stop bursting (an old server, or answers being lost), keep asking slowly.
    const delay = this.unanswered > CLOCK_MAX_UNANSWERED_BURST ? CLOCK_SYNC_OPTIONS.intervalMs : this.sync.nextRequestInMs();
    this.timer = setTimeout(() => this.sendRequest(), delay);
    this.timer.unref();
  }

  /** An answer on `time`. */
  onResponse(payload: Buffer): void {
    const t3 = this.o.syncNow();
    const decoded = decodeClockResponse.decode(payload);
    if (!decoded.ok) {
      this.o.log.debug?.(`dropped an invalid clock answer: ${clip(decoded.error.reason, 200)}`);
      return;
    }
    const r = decoded.value;
    const i = this.pending.findIndex((p) => p.id === r.id && p.t0 === r.t0);
    if (r.siteId !== this.o.siteId || i < 0) return; // not ours, a duplicate, or older than the requests we remember
    this.pending.splice(i, 1);
    this.unanswered = 0;
    const added = this.sync.add({ t0: r.t0, t1: r.t1, t2: r.t2, t3 });
    if (added.accepted) {
      this.stats.clockSamples++;
      if (added.step) this.o.log.warn(`clock step: offset to the server clock is now ${added.offsetMs.toFixed(1)} ms`);
      const waiting = this.waiters;
      this.waiters = waiting.filter((w) => r.id < w.fromId);
      for (const w of waiting) if (r.id >= w.fromId) w.resolve();
    } else if (added.reason === 'step_pending') {
      // The server's clock may have stepped: settle it now, not a steady interval from now.
      this.o.log.debug?.(`clock: ${added.detail}`);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.sendRequest(), this.sync.nextRequestInMs());
      this.timer.unref();
    }
  }
}
