/**
 * A child process of the live-broadcast bench: many listening sites as raw
 * MQTT clients (logged in as real sites, subscribed to the province's audio
 * and control channels), apart from the bench process so their cost does not
 * delay the full agents there. Asked over IPC ({cmd: 'count'}) it answers the
 * TCP bytes and audio messages each has received so far.
 *
 *   node --import tsx tests/bench/lib/live-listeners.ts MQTT_URL SITES_JSON AREA_KEY
 */
import fs from 'node:fs';
import type net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { areaAudioTopic, areaControlTopic } from '../../../protocol/index.ts';

const [url, file, areaKey] = process.argv.slice(2) as [string, string, string];
const sites = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ id: string; secret: string }>;
const clients: Array<{ client: MqttClient; frames: number }> = [];

for (let i = 0; i < sites.length; i += 100) {
  const batch = await Promise.all(
    sites.slice(i, i + 100).map(async (s) => {
      const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: s.id, username: s.id, password: s.secret, clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: 30_000 });
      await client.subscribeAsync([areaAudioTopic(areaKey), areaControlTopic(areaKey)], { qos: 0 });
      const c = { client, frames: 0 };
      client.on('message', (_t, payload) => {
        if (payload[0] === 0x4c) c.frames++;
      });
      return c;
    }),
  );
  clients.push(...batch);
}
console.log(`listening ${clients.length}`);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'count') {
    process.send?.({ bytes: clients.map((c) => (c.client.stream as unknown as net.Socket).bytesRead ?? 0), frames: clients.map((c) => c.frames) });
  }
});
process.on('disconnect', () => process.exit(0));
