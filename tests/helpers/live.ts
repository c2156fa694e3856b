/**
 * Test helpers for live streams: a site's-eye view of an area's audio and
 * control channels over a real MQTT connection (what an agent would hear),
 * Opus decoding of what arrived, and PCM test signals.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import opus from '@discordjs/opus';
import {
  areaAudioTopic,
  areaControlTopic,
  decodeAudioControl,
  decodeAudioFrame,
  parseTopic,
  siteTopic,
  streamMatches,
  type AudioControlMessage,
  type AudioFrame,
} from '../../protocol/index.ts';
import { waitFor } from './wait.ts';

export interface Heard {
  /** In arrival order; `at` is the local arrival time (Date.now). */
  frames: Array<{ frame: AudioFrame; at: number; bytes: number; topic: string }>;
  /** Control messages from the control channels and JSON (retained start) from the audio channels. */
  control: Array<{ msg: AudioControlMessage; at: number; topic: string; retained: boolean; channel: 'audio' | 'control' }>;
  /** Empty retained payloads (a cleared slot). */
  cleared: string[];
  rejected: string[];
  client: MqttClient;
  close(): Promise<void>;
}

/** Publishes a retained message as the server does (its broker link's publish). */
export type RetainedPublisher = (topic: string, payload: Buffer) => Promise<void>;

/**
 * Connect as a site and listen to the audio and control channels of `areaKeys`.
 *
 * With `fence`, it returns only once everything retained on those channels has
 * arrived: the broker (aedes, Mosquitto) sends a SUBSCRIBE's retained
 * messages in the order of its filters, so a retained message the server puts
 * on the site's own time topic, subscribed last, comes after them all. A
 * retained start not heard then was not there.
 */
export async function listenAsSite(mqttUrl: string, cred: { siteId: string; secret: string }, areaKeys: readonly string[], fence?: RetainedPublisher): Promise<Heard> {
  const client = connect(mqttUrl, { clientId: cred.siteId, username: cred.siteId, password: cred.secret, protocolVersion: 4, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  let closing: Promise<void> | undefined;
  const heard: Heard = { frames: [], control: [], cleared: [], rejected: [], client, close: () => (closing ??= client.endAsync().then(() => undefined)) };
  const fenceTopic = siteTopic(cred.siteId, 'time');
  let fenced = false;
  client.on('message', (topic, payload, packet) => {
    if (topic === fenceTopic) return void (fenced ||= payload.length > 0);
    const at = Date.now();
    const channel = parseTopic(topic)?.kind === 'area-audio' ? 'audio' : 'control';
    if (payload.length === 0) return void heard.cleared.push(topic);
    if (payload[0] === 0x7b) {
      const d = decodeAudioControl.decode(payload);
      if (d.ok) heard.control.push({ msg: d.value, at, topic, retained: packet.retain, channel });
      else heard.rejected.push(d.error.reason);
      return;
    }
    const f = decodeAudioFrame(payload, Date.now() * 1000);
    if (!f.ok) {
      heard.rejected.push(f.reason);
      return;
    }
    // Frames carry the low 16 bits of the stream id: put back the whole id of a start heard for it, as an agent does.
    const start = heard.control.find((c) => 'streamId' in c.msg && c.msg.type === 'stream_start' && streamMatches(f.frame.streamId, c.msg.streamId));
    const streamId = start && 'streamId' in start.msg ? start.msg.streamId : f.frame.streamId;
    heard.frames.push({ frame: { ...f.frame, streamId }, at, bytes: payload.length, topic });
  });
  const topics = areaKeys.flatMap((k) => [areaAudioTopic(k), areaControlTopic(k)]);
  if (fence) await fence(fenceTopic, Buffer.from('fence'));
  const granted = await client.subscribeAsync(fence ? [...topics, fenceTopic] : topics, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
  if (fence) {
    await waitFor('the retained fence after the retained messages', () => fenced, 30_000);
    await fence(fenceTopic, Buffer.alloc(0));
  }
  return heard;
}

/** Decode the Opus packets of these frames in order (one decoder, as a site would) into PCM s16 samples. */
export function decodeFrames(frames: readonly AudioFrame[]): Int16Array {
  const dec = new opus.OpusEncoder(48000, 1);
  const parts: Buffer[] = [];
  for (const f of frames) for (const p of f.packets) parts.push(dec.decode(Buffer.from(p)));
  const all = Buffer.concat(parts);
  return new Int16Array(all.buffer, all.byteOffset, all.length / 2);
}

export function rms(samples: Int16Array, from = 0, to = samples.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += samples[i]! * samples[i]!;
  return to > from ? Math.sqrt(s / (to - from)) : 0;
}

/** The strongest frequency among `candidates` (Goertzel), for telling a 440 Hz tone from a 1 kHz one. */
export function dominantOf(samples: Int16Array, candidates: readonly number[], rate = 48000): number {
  let best = candidates[0]!;
  let bestP = -1;
  for (const hz of candidates) {
    const w = (2 * Math.PI * hz) / rate;
    const c = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < samples.length; i++) {
      const s0 = samples[i]! + c * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const p = s1 * s1 + s2 * s2 - c * s1 * s2;
    if (p > bestP) {
      bestP = p;
      best = hz;
    }
  }
  return best;
}

/** `ms` of a sine as PCM s16le 48 kHz mono, phase-continuous from sample `offset`. */
export function sinePcm(hz: number, ms: number, offset = 0, amplitude = 8000): Buffer {
  const n = (48000 * ms) / 1000;
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * (offset + i)) / 48000)), i * 2);
  return b;
}

/**
 * A radio station for relay tests: GET /{name} serves the file `dir/{name}`
 * as a never-ending stream (the file again and again, as fast as the client
 * reads), 404 for a file that is not there. `base` is its http://host:port.
 *
 * With `gapMs`, it waits that long after each copy of the file, as a real
 * station sends about as fast as it plays: a source far ahead of real time
 * fills the relay's pipes, so its connection sits unread for longer than the
 * relay's idle limit (10 s) and the relay ends it — which a test that keeps a
 * stream on air for a minute on a loaded machine must not run into.
 */
export async function startRadio(dir: string, o: { gapMs?: number } = {}): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    // The query is the client's (a token, say): the file is named by the path alone.
    const file = path.join(dir, path.basename(new URL(req.url ?? '/', 'http://radio').pathname));
    if (!fs.existsSync(file)) return void res.writeHead(404).end();
    const mp3 = fs.readFileSync(file);
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    let stop = false;
    res.on('close', () => (stop = true));
    const more = () => {
      if (o.gapMs !== undefined) {
        // One copy, then a pause (a source's pace, not a wait for anything).
        if (stop) return;
        res.write(mp3);
        return void setTimeout(more, o.gapMs).unref();
      }
      while (!stop && res.write(mp3));
      if (!stop) res.once('drain', more);
    };
    more();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A radio station the test can take off the air and bring back on the same
 * port, as a real station's server restarts: `down()` closes the listener and
 * cuts every connection (the relay's body ends), `up()` listens again. While
 * up, GET /live.mp3 streams `mp3` again and again, one copy every `gapMs`
 * (about real time for a copy of that length); any other path is 404.
 */
export async function startKillableRadio(
  mp3: Buffer,
  o: { gapMs: number },
): Promise<{ url: string; requests(): number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (new URL(req.url ?? '/', 'http://radio').pathname !== '/live.mp3') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    let stop = false;
    res.on('close', () => (stop = true));
    const more = () => {
      if (stop) return;
      res.write(mp3);
      setTimeout(more, o.gapMs).unref();
    };
    more();
  });
  let port = 0;
  let listening = false;
  const up = async () => {
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        r();
      });
    });
    port = (server.address() as AddressInfo).port;
    listening = true;
  };
  const down = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections();
    await closed;
  };
  await up();
  return { url: `http://127.0.0.1:${port}/live.mp3`, requests: () => requests, down, up, close: down };
}
