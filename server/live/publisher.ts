/**
 * What the live service puts on the wire, and the one retained slot of each
 * area's audio channel. A stream's `stream_start` goes QoS 1 on the area
 * control channels (never retained there: that channel's retained slot
 * belongs to alerts) and retained on the audio channels, where the slot
 * holds the highest priority stream on air (the newest among equals), so a
 * site that subscribes late learns of it from the broker; the start is
 * re-announced (QoS 0, control) every `announceMs` for sites already
 * subscribed. Frames go QoS 0 on the audio channels: a frame lost on our own
 * link is one the sites conceal. `stream_stop` goes QoS 1 on the control
 * channels, and the slot passes to the next stream or is cleared.
 */
import { AUDIO_PRIORITIES } from '../../protocol/audio-control.ts';
import { areaAudioTopic, areaControlTopic, encodeJson, type AudioPriority, type AudioStreamStart, type AudioStreamStop } from '../../protocol/index.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';

/** A stream as the wire sees it. */
export interface OnAir {
  id: number;
  /** The current start message (a raised delay replaces it). */
  start: AudioStreamStart;
  priority: AudioPriority;
  areaKeys: readonly string[];
}

export interface LivePublisherDeps {
  broker: BrokerLink;
  log: Logger;
  now(): number;
  /** The streams on air now. */
  onAir(): Iterable<OnAir>;
}

type Retry = { retries?: number; retryMs?: number };

const rank = (p: AudioPriority) => AUDIO_PRIORITIES.indexOf(p);

export class LivePublisher {
  /** Area key → the stream whose start the area's audio channel retains. */
  private readonly retained = new Map<string, number>();

  constructor(private readonly d: LivePublisherDeps) {}

  /** A new stream, or a stream whose start changed: control channels, and the audio slot where it ranks highest. */
  sendStart(e: OnAir): void {
    const payload = encodeJson(e.start);
    for (const key of e.areaKeys) {
      this.pub(areaControlTopic(key), payload, 1, false);
      const holder = this.find(this.retained.get(key));
      if (!holder || rank(e.priority) >= rank(holder.priority)) {
        this.retained.set(key, e.id);
        this.pub(areaAudioTopic(key), payload, 1, true);
      }
    }
  }

  /** A stream ended: its stop on every control channel, and each slot it held passed on or cleared. */
  sendStop(e: OnAir, stop: AudioStreamStop): void {
    const payload = encodeJson(stop);
    for (const key of e.areaKeys) {
      this.pub(areaControlTopic(key), payload, 1, false);
      if (this.retained.get(key) === e.id) this.retainBest(key);
    }
  }

  /**
   * At start-up, for a stream the record still had on air: its stop, and its
   * retained start cleared unless a stream of this run holds the slot.
   * Resolves when the broker took every message (a few tries each).
   */
  async stopLeftOver(areaKeys: readonly string[], stop: AudioStreamStop, retry: Retry): Promise<void> {
    const payload = encodeJson(stop);
    const sends: Array<Promise<void>> = [];
    for (const key of areaKeys) {
      sends.push(this.pubReliably(areaControlTopic(key), payload, false, retry));
      if (!this.retained.has(key)) sends.push(this.pubReliably(areaAudioTopic(key), Buffer.alloc(0), true, retry));
    }
    await Promise.all(sends);
  }

  /**
   * After the broker lost its retained messages (an external broker that
   * crashed): each area's retained start again, from the stream that holds
   * the slot. The periodic announce is not retained, so without this a site
   * subscribing between two announces would wait for the next one.
   */
  async republishRetained(): Promise<void> {
    const sends: Array<Promise<void>> = [];
    for (const [key, id] of this.retained) {
      const e = this.find(id);
      if (e) sends.push(this.pubReliably(areaAudioTopic(key), encodeJson({ ...e.start, at: this.d.now() }), true, { retries: 2 }));
    }
    await Promise.all(sends);
  }

  /** Every stream's start again, QoS 0, not retained: a site that missed it (or lost its state) joins within one period. */
  announce(): void {
    for (const e of this.d.onAir()) {
      const payload = encodeJson({ ...e.start, at: this.d.now() });
      for (const key of e.areaKeys) this.pub(areaControlTopic(key), payload, 0, false);
    }
  }

  publishFrame(areaKeys: readonly string[], message: Buffer): void {
    for (const key of areaKeys) this.pub(areaAudioTopic(key), message, 0, false);
  }

  private find(id: number | undefined): OnAir | undefined {
    if (id === undefined) return undefined;
    for (const e of this.d.onAir()) if (e.id === id) return e;
    return undefined;
  }

  /** Retain the highest priority live stream on this area (newest first among equals), or clear the slot. */
  private retainBest(key: string): void {
    let best: OnAir | undefined;
    for (const o of this.d.onAir()) {
      if (!o.areaKeys.includes(key)) continue;
      if (!best || rank(o.priority) >= rank(best.priority)) best = o;
    }
    if (best) {
      this.retained.set(key, best.id);
      this.pub(areaAudioTopic(key), encodeJson({ ...best.start, at: this.d.now() }), 1, true);
    } else {
      this.retained.delete(key);
      this.pub(areaAudioTopic(key), Buffer.alloc(0), 1, true);
    }
  }

  /** Publish QoS 1 until the broker takes it (a few tries: the link may come up just after the start). */
  private async pubReliably(topic: string, payload: Buffer, retain: boolean, o: Retry): Promise<void> {
    const tries = (o.retries ?? 10) + 1;
    for (let i = 0; i < tries; i++) {
      try {
        return await this.d.broker.publish(topic, payload, { qos: 1, retain });
      } catch (err) {
        if (i === tries - 1) {
          this.d.log.error({ topic, err: (err as Error).message }, 'live control message not published after retries (stream_stop or retained start)');
          return;
        }
        await new Promise((r) => setTimeout(r, o.retryMs ?? 1000).unref());
      }
    }
  }

  private pub(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): void {
    this.d.broker.publish(topic, payload, { qos, retain }).catch((err: unknown) => {
      // A frame lost on our own link is a frame the sites conceal; control is re-announced.
      if (qos === 1) this.d.log.warn({ topic, err: (err as Error).message }, 'live publish failed');
    });
  }
}
