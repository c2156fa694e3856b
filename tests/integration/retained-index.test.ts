/**
 * The embedded broker's retained-message index (server/fleet/retained-index.ts)
 * on a real aedes over TCP with real MQTT clients: an exact-topic SUBSCRIBE
 * gets the same retained messages as aedes-persistence's scan would give
 * (latest payload, cleared ones gone), and a wildcard SUBSCRIBE falls back to
 * the scan. Both brokers, indexed and plain, answer the same.
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { withRetainedIndex, type RetainedStore } from '../../server/fleet/retained-index.ts';
import { waitFor } from '../helpers/server.ts';

const memory = createRequire(import.meta.url)('aedes-persistence') as () => RetainedStore;
const TOPICS = 2000;
/**
 * A retained message subscribed to last: the broker streams a SUBSCRIBE's
 * retained messages in the order of its topic filters (the index and
 * aedes-persistence's scan both do), so once the fence is here every retained
 * message of the filters before it has been delivered, and one not received
 * was not sent.
 */
const FENCE = 'loanet/v1/test/fence';

interface Running {
  url: string;
  close(): Promise<void>;
  index?: ReturnType<typeof withRetainedIndex>;
}

async function broker(indexed: boolean): Promise<Running> {
  const persistence = indexed ? withRetainedIndex(memory()) : memory();
  const aedes = await Aedes.createBroker({ persistence });
  const server = net.createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(indexed ? { index: persistence as ReturnType<typeof withRetainedIndex> } : {}),
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}

/** The retained messages a fresh client gets for subscribing to `topics`: all of them, up to the fence. */
async function retainedFor(url: string, topics: string[]): Promise<Map<string, string>> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const got = new Map<string, string>();
  let fenced = false;
  c.on('message', (topic, payload, packet) => {
    if (!packet.retain) return;
    if (topic === FENCE) fenced = true;
    else got.set(topic, payload.toString());
  });
  await c.subscribeAsync([...topics, FENCE], { qos: 1 });
  await waitFor('the fence after the retained messages', () => fenced, 30_000);
  await c.endAsync();
  return got;
}

const brokers: Running[] = [];

beforeAll(async () => {
  for (const indexed of [true, false]) {
    const b = await broker(indexed);
    brokers.push(b);
    const pub = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    for (let i = 0; i < TOPICS; i++) await pub.publishAsync(`loanet/v1/sites/s-${i}/playlist`, `v1 of ${i}`, { qos: 1, retain: true });
    await pub.publishAsync('loanet/v1/sites/s-7/playlist', 'v2 of 7', { qos: 1, retain: true }); // replaced
    await pub.publishAsync('loanet/v1/sites/s-8/playlist', '', { qos: 1, retain: true }); // cleared
    await pub.publishAsync('loanet/v1/areas/2025.15/control', 'alert', { qos: 1, retain: true });
    await pub.publishAsync(FENCE, 'fence', { qos: 1, retain: true });
    await pub.endAsync();
  }
}, 60_000);
afterAll(async () => {
  for (const b of brokers) await b.close();
});

describe('retained index on the embedded broker', () => {
  it('answers exact-topic subscribes as the scan does: latest payload, cleared gone, absent nothing', async () => {
    const topics = [
      'loanet/v1/sites/s-1999/playlist',
      'loanet/v1/sites/s-7/playlist',
      'loanet/v1/sites/s-8/playlist',
      'loanet/v1/sites/nobody/playlist',
      'loanet/v1/areas/2025.15/control',
    ];
    const [indexed, plain] = [await retainedFor(brokers[0]!.url, topics), await retainedFor(brokers[1]!.url, topics)];
    expect([...indexed.entries()].sort()).toEqual([
      ['loanet/v1/areas/2025.15/control', 'alert'],
      ['loanet/v1/sites/s-1999/playlist', 'v1 of 1999'],
      ['loanet/v1/sites/s-7/playlist', 'v2 of 7'],
    ]);
    expect([...indexed.entries()].sort()).toEqual([...plain.entries()].sort());
    expect(brokers[0]!.index!.retainedIndexSize()).toBe(TOPICS - 1 + 2); // s-8 cleared, the area control and the fence added
  });

  it('falls back to the scan for a wildcard subscribe, with the same answer', async () => {
    const before = brokers[0]!.index!.retainedIndexFallbacks();
    const [indexed, plain] = [await retainedFor(brokers[0]!.url, ['loanet/v1/sites/+/playlist']), await retainedFor(brokers[1]!.url, ['loanet/v1/sites/+/playlist'])];
    expect(indexed.size).toBe(TOPICS - 1);
    expect(indexed.get('loanet/v1/sites/s-7/playlist')).toBe('v2 of 7');
    expect([...indexed.entries()].sort()).toEqual([...plain.entries()].sort());
    expect(brokers[0]!.index!.retainedIndexFallbacks()).toBe(before + 1);
  });
});
