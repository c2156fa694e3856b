/**
 * The boundary for everything sites send: decode, check, count and drop what
 * is bad, pass what is good to the fleet state. A malformed message from a
 * device is counted (per reason and per site), logged with the site id, and
 * dropped; it never throws into the broker and never touches stored data.
 *
 * Clock requests pass the same checks but go to the clock sink (the
 * responder), not the fleet state: they are frequent and say nothing about
 * the site's health, so they neither mark it seen nor reach SQLite.
 *
 * Receipts, alert statuses and command results are acknowledged to their site
 * (event-acks.ts) only once applied, i.e. committed: the sink returns the
 * promise of the stores' commits, and the ack waits for it. A store failure
 * (a full disk, a database that does not answer) is not acknowledged, so the
 * site keeps the event and sends it again; an event the server refuses for
 * good (an unknown alert) is acknowledged as refused so the site stops
 * sending it. An event that fails to decode is not acknowledged at all: it may
 * come from a newer agent, and a server upgrade will take it.
 */
import { decodeClockRequest, decodeEvent, decodeState, decodeTelemetry, eventAckKey, type DecodeErrorCode, type Decoded } from '../../protocol/index.ts';
import type { ClockRequest, SiteEventMessage, SiteStateMessage, TelemetryMessage } from '../../protocol/index.ts';
import type { Logger, SiteMessage } from './broker.ts';
import { logSafe } from '../log-safe.ts';
import type { EventAcker } from './event-acks.ts';
import { isStoreFailure } from '../store/failure.ts';

export type RejectCode = DecodeErrorCode | 'site_mismatch' | 'unknown_site' | 'not_accepted' | 'store_failed';

export interface IngestSink {
  isKnownSite(siteId: string): boolean;
  applyState(siteId: string, m: SiteStateMessage, retained: boolean): void;
  applyTelemetry(siteId: string, m: TelemetryMessage): void;
  /** Applied at once; a promise when the event is being stored, resolved once committed. */
  applyEvent(siteId: string, m: SiteEventMessage): void | Promise<void>;
}

/** Where valid clock requests go (server/fleet/clock-responder.ts). */
export interface ClockSink {
  /** The server clock, read as a request arrives (t1), before it is decoded. */
  stamp(): number;
  answer(siteId: string, request: ClockRequest, t1: number): void;
}

export interface IngestStats {
  accepted: number;
  /** Accepted messages per channel (state, telemetry, event, clock). */
  acceptedByChannel: Partial<Record<SiteMessage['channel'], number>>;
  rejected: number;
  rejectedByCode: Partial<Record<RejectCode, number>>;
  /** Sites with the most rejected messages, for a technician to look at. */
  rejectedBySite: Array<{ siteId: string; count: number; lastReason: string; lastAt: number }>;
}

const MAX_TRACKED_SITES = 10_000;

export interface IngestOptions {
  /** Answers clock requests; without it they are dropped. */
  clock?: ClockSink;
  /** Acknowledges stored events to their site; without it nothing is acknowledged. */
  acks?: EventAcker;
  /** An event the store failed on (a full disk, a lost database): told here, as every other failed write is (health, the disk's reserve). */
  onStoreFailure?: (err: unknown) => void;
}

export class SiteMessageIngest {
  private accepted = 0;
  private readonly byChannel = new Map<SiteMessage['channel'], number>();
  private rejected = 0;
  private readonly byCode = new Map<RejectCode, number>();
  private readonly bySite = new Map<string, { count: number; lastReason: string; lastAt: number }>();

  constructor(
    private readonly sink: IngestSink,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly opts: IngestOptions = {},
  ) {}

  handle(m: SiteMessage): void {
    const t1 = m.channel === 'clock' && this.opts.clock ? this.opts.clock.stamp() : 0;
    if (!this.sink.isKnownSite(m.siteId)) {
      // Possible with an external broker or a stale retained message after a site was retired.
      return this.reject(m, 'unknown_site', `site ${m.siteId} is not registered or is retired`);
    }
    switch (m.channel) {
      case 'state':
        return this.accept(m, decodeState.decode(m.payload), (v) => this.sink.applyState(m.siteId, v, m.retain));
      case 'telemetry':
        return this.accept(m, decodeTelemetry.decode(m.payload), (v) => this.sink.applyTelemetry(m.siteId, v));
      case 'event': {
        const d = decodeEvent.decode(m.payload);
        const key = d.ok && d.value.siteId === m.siteId ? eventAckKey(d.value) : undefined;
        return this.accept(m, d, (v) => this.sink.applyEvent(m.siteId, v), key);
      }
      case 'clock': {
        const clock = this.opts.clock;
        return this.accept(m, decodeClockRequest.decode(m.payload), (v) => clock?.answer(m.siteId, v, t1));
      }
      case 'cmd':
      case 'time':
      case 'playlist':
      case 'ack':
      case 'config':
      case 'update':
        // The ACL stops sites publishing here; with an external broker, ignore our own downlink.
        return;
      default: {
        const never: never = m.channel;
        return never;
      }
    }
  }

  stats(limit = 20): IngestStats {
    return {
      accepted: this.accepted,
      acceptedByChannel: Object.fromEntries(this.byChannel),
      rejected: this.rejected,
      rejectedByCode: Object.fromEntries(this.byCode),
      rejectedBySite: [...this.bySite.entries()]
        .map(([siteId, s]) => ({ siteId, ...s }))
        .sort((a, b) => b.count - a.count)
        .slice(0, limit),
    };
  }

  /** `ackKey`: the event is acknowledged to its site once applied (protocol/event-ack.ts). */
  private accept<T extends { siteId: string }>(m: SiteMessage, d: Decoded<T>, apply: (v: T) => void | Promise<void>, ackKey?: string): void {
    if (!d.ok) return this.reject(m, d.error.code, d.error.reason);
    if (d.value.siteId !== m.siteId) {
      return this.reject(m, 'site_mismatch', `payload says site ${d.value.siteId} but arrived on site ${m.siteId}'s topic`);
    }
    let stored: void | Promise<void>;
    try {
      stored = apply(d.value);
    } catch (err) {
      return this.notApplied(m, err, ackKey);
    }
    // Applied to memory now; acknowledged once its stores committed (a promise), or at once when nothing stores it.
    if (stored instanceof Promise) {
      stored.then(
        () => this.applied(m, ackKey),
        (err: unknown) => this.notApplied(m, err, ackKey),
      );
      return;
    }
    this.applied(m, ackKey);
  }

  private applied(m: SiteMessage, ackKey: string | undefined): void {
    this.accepted++;
    this.byChannel.set(m.channel, (this.byChannel.get(m.channel) ?? 0) + 1);
    if (ackKey) this.opts.acks?.stored(m.siteId, ackKey);
  }

  private notApplied(m: SiteMessage, err: unknown, ackKey: string | undefined): void {
    if (isStoreFailure(err)) {
      this.opts.onStoreFailure?.(err);
      // Not stored, so not acknowledged: the site keeps it and sends it again later.
      return this.reject(m, 'store_failed', `not stored, the site will send it again: ${(err as Error).message}`, 'error');
    }
    // A message that passes the schema but breaks an invariant (or a bug of ours): count, log, go on.
    if (ackKey) this.opts.acks?.refused(m.siteId, { key: ackKey, code: 'not_accepted', reason: (err as Error).message });
    return this.reject(m, 'not_accepted', (err as Error).message);
  }

  private reject(m: SiteMessage, code: RejectCode, reason: string, level: 'warn' | 'error' = 'warn'): void {
    this.rejected++;
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    const s = this.bySite.get(m.siteId);
    if (s) {
      s.count++;
      s.lastReason = reason;
      s.lastAt = this.now();
    } else if (this.bySite.size < MAX_TRACKED_SITES) {
      this.bySite.set(m.siteId, { count: 1, lastReason: reason, lastAt: this.now() });
    }
    // The reason can quote the payload (a JSON parse error, a schema path): cut and escaped for the log.
    this.log[level]({ siteId: m.siteId, channel: m.channel, code, bytes: m.payload.length }, `dropped message: ${logSafe(reason, 300)}`);
  }
}
