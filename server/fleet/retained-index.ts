/**
 * An index of the embedded broker's retained messages by exact topic.
 *
 * Why: aedes-persistence's memory store answers every SUBSCRIBE by testing
 * EVERY retained message against the subscribed pattern (a fresh Qlobber per
 * pattern, a scan of the whole retained map). loanet keeps one retained
 * message per site (its playlist) plus alert and stream controls per area, so
 * with N sites each agent's subscribe costs O(N) and a fleet reconnecting
 * costs O(N²): at 15,000 sites the benchmark saw the embedded broker spend a
 * third of its time in that scan and only 5,290 agents get in within 4
 * minutes. Agents subscribe to exact topics only (their ACL allows nothing
 * else), so a map lookup per topic gives the same answer in O(1).
 *
 * The index is kept beside the store's own copy (the same packet objects, so
 * little memory): every storeRetained also updates it, an empty payload
 * deletes, as in the store. A subscription with any wildcard falls back to the
 * store's scan, so the answer is always what aedes-persistence would give.
 */
import { Readable } from 'node:stream';

/** The two methods of an aedes persistence this wraps (aedes calls storeRetained without a callback and awaits it). */
export interface RetainedStore {
  storeRetained(packet: RetainedPacket, cb?: (err?: Error | null) => void): unknown;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

export interface RetainedPacket {
  topic: string;
  payload: Buffer | Uint8Array | string;
  [k: string]: unknown;
}

const isPattern = (topic: string) => topic.includes('+') || topic.includes('#');

/** Patch `store` in place (aedes checks its methods' kinds, so it must stay the same object) and return it. */
export function withRetainedIndex<T extends RetainedStore>(store: T): T & { retainedIndexSize(): number; retainedIndexFallbacks(): number } {
  const byTopic = new Map<string, RetainedPacket>();
  let fallbacks = 0;
  const storeRetained = store.storeRetained.bind(store);
  const combi = store.createRetainedStreamCombi.bind(store);
  const patched = store as T & { retainedIndexSize(): number; retainedIndexFallbacks(): number };
  patched.storeRetained = (packet: RetainedPacket, cb?: (err?: Error | null) => void) => {
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return cb ? storeRetained(packet, cb) : storeRetained(packet);
  };
  patched.createRetainedStreamCombi = (patterns: string[]) => {
    if (patterns.some(isPattern)) {
      fallbacks++;
      return combi(patterns);
    }
    const found: RetainedPacket[] = [];
    for (const topic of new Set(patterns)) {
      const p = byTopic.get(topic);
      if (p) found.push(p);
    }
    return Readable.from(found);
  };
  patched.retainedIndexSize = () => byTopic.size;
  patched.retainedIndexFallbacks = () => fallbacks;
  return patched;
}
