/**
 * A child process of the live-broadcast bench: many listening sites as raw
 * MQTT 3.1.1 clients (logged in as real sites, subscribed to the province's
 * audio and control channels), apart from the bench process so their cost
 * does not delay the full agents there. Asked over IPC ({cmd: 'count'}) it
 * answers the TCP bytes and audio messages each has received so far.
 *
 * Why not mqtt.js: at 3,000 sites the broker fans out ~50,000 messages/s,
 * and 3,000 mqtt.js clients parsing them took ~80 % of a core in this one
 * process — as much as the server's fan-out — on a 2-core machine that also
 * runs the server and the full agents, so the figures at 3,000 measured the
 * load generator. A listener only has to keep its session and count what
 * arrives: this one frames packets by the MQTT fixed header (type and
 * remaining length) and looks at one byte of each PUBLISH payload.
 *
 *   node --import tsx tests/bench/lib/live-listeners.ts MQTT_URL SITES_JSON AREA_KEY
 */
import fs from 'node:fs';
import net from 'node:net';
import { areaAudioTopic, areaControlTopic } from '../../../protocol/index.ts';
import { connectPacket, subscribePacket } from '../../helpers/mqtt-bytes.ts';

const [url, file, areaKey] = process.argv.slice(2) as [string, string, string];
const sites = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ id: string; secret: string }>;
const { hostname, port } = new URL(url);
const KEEPALIVE_S = 60;

interface Listener {
  socket: net.Socket;
  frames: number;
}

/** Connect, log in, subscribe; then count PUBLISHes whose payload is a binary audio frame ('L' 'A'). */
function listen(site: { id: string; secret: string }): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const l: Listener = { socket, frames: 0 };
    let pending: Buffer = Buffer.alloc(0);
    let state: 'connack' | 'suback' | 'open' = 'connack';
    const fail = (e: Error) => {
      socket.destroy();
      reject(new Error(`${site.id}: ${e.message}`));
    };
    socket.once('error', fail);
    socket.once('connect', () => socket.write(connectPacket({ clientId: site.id, username: site.id, password: site.secret, keepaliveS: KEEPALIVE_S })));
    socket.on('data', (chunk: Buffer) => {
      const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      for (;;) {
        if (buf.length - at < 2) break;
        let len = 0;
        let mul = 1;
        let i = at + 1;
        let complete = false;
        for (; i < buf.length && i < at + 5; i++) {
          len += (buf[i]! & 0x7f) * mul;
          mul *= 128;
          if ((buf[i]! & 0x80) === 0) {
            complete = true;
            i++;
            break;
          }
        }
        if (!complete || buf.length - i < len) break;
        const type = buf[at]! >> 4;
        if (type === 3) {
          const topicLen = buf.readUInt16BE(i);
          const qos = (buf[at]! >> 1) & 3;
          const payloadAt = i + 2 + topicLen + (qos > 0 ? 2 : 0);
          if (payloadAt < i + len && buf[payloadAt] === 0x4c) l.frames++;
        } else if (type === 2 && state === 'connack') {
          if (buf[i + 1] !== 0) return fail(new Error(`CONNACK refused (code ${buf[i + 1]})`));
          state = 'suback';
          // Every topic at QoS 0: a late audio frame is useless, as for the agents.
          socket.write(
            subscribePacket(
              1,
              [areaAudioTopic(areaKey), areaControlTopic(areaKey)].map((topic) => ({ topic, qos: 0 as const })),
            ),
          );
        } else if (type === 9 && state === 'suback') {
          state = 'open';
          socket.off('error', fail);
          socket.on('error', () => {});
          resolve(l);
        }
        at = i + len;
      }
      pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    });
    socket.setTimeout(30_000, () => state !== 'open' && fail(new Error('no CONNACK/SUBACK within 30 s')));
  });
}

const listeners: Listener[] = [];
for (let i = 0; i < sites.length; i += 100) listeners.push(...(await Promise.all(sites.slice(i, i + 100).map(listen))));
for (const l of listeners) l.socket.setTimeout(0);
// PINGREQ within the keepalive, so the broker keeps every session while the stream runs.
setInterval(
  () => {
    for (const l of listeners) if (!l.socket.destroyed) l.socket.write(Buffer.of(0xc0, 0));
  },
  (KEEPALIVE_S * 1000) / 2,
).unref();
console.log(`listening ${listeners.length}`);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'count') {
    process.send?.({ bytes: listeners.map((l) => l.socket.bytesRead), frames: listeners.map((l) => l.frames) });
  }
});
process.on('disconnect', () => process.exit(0));
