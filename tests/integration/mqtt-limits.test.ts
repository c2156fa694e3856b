/**
 * The embedded broker's resource limits, tried as an attacker would: raw TCP
 * sockets (node:net) speaking MQTT 3.1.1 by hand, so a test can declare a
 * 250 MB packet and send only its header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../server/config.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import type { EmbeddedBroker } from '../../server/fleet/broker.ts';
import { SITE_PACKET_LIMITS } from '../../server/fleet/packet-limit.ts';
import { connectPacket as connectBytes, publishPacket, str, subscribePacket, varint } from '../helpers/mqtt-bytes.ts';
import { encodeJson, siteTopic, PROTOCOL_VERSION, MAX_JSON_PAYLOAD_BYTES } from '../../protocol/index.ts';
import { ADMIN_PASSWORD, LAO_CAI_2025, tempDir, waitFor } from '../helpers/server.ts';
import fs from 'node:fs';
import { freePort, type RunningMosquitto, startMosquitto, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { MOSQUITTO_MAX_PACKET_SIZE } from '../../server/fleet/mosquitto-files.ts';
import { MAX_PLAYLIST_BYTES } from '../../protocol/index.ts';
import { haveTools } from '../helpers/require-tool.ts';

const MAX_PER_ADDRESS = 6;
const BURST = 40;

let server: RunningServer;
let base = '';
let token = '';
let mqttPort = 0;
const logLines: Array<Record<string, unknown> & { msg?: string }> = [];
const rawLog: string[] = [];
const sockets: net.Socket[] = [];

async function api<T = any>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': typeof body === 'string' ? 'text/csv' : 'application/json' } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

// ---------------------------------------------------------------- MQTT 3.1.1 by hand (tests/helpers/mqtt-bytes.ts) ----

const connectPacket = (clientId: string, username: string, password: string) => connectBytes({ clientId, username, password });

/** A PUBLISH of exactly `total` bytes, fixed header included (the Remaining Length takes 1–4 bytes). */
function sizedPublish(topic: string, total: number, o: { qos: 0 | 1; retain?: boolean; id?: number }): Buffer {
  const bare = publishPacket(topic, Buffer.alloc(0), o).length;
  for (let extra = 0; extra < 4; extra++) {
    const p = publishPacket(topic, Buffer.alloc(total - bare - extra, 0x20), o);
    if (p.length === total) return p;
  }
  throw new Error(`no PUBLISH of exactly ${total} bytes`);
}

/** A raw socket that records what the server sends and when it closes. */
interface Raw {
  socket: net.Socket;
  received: Buffer[];
  closed: Promise<void>;
  isClosed: () => boolean;
  bytes: () => Buffer;
}

function open(port = mqttPort): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    const received: Buffer[] = [];
    let closed = false;
    const closedP = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received, closed: closedP, isClosed: () => closed, bytes: () => Buffer.concat(received) }));
    socket.once('error', reject);
  });
}

/** Resolves when the server closed the socket; fails after `ms` (a bound on a hang, not a wait). */
async function closedWithin(r: Raw, ms = 5000): Promise<void> {
  await Promise.race([r.closed, new Promise((_, rej) => setTimeout(() => rej(new Error(`the server did not close the socket within ${ms} ms`)), ms))]);
}

/** A site logged in over a raw socket (CONNACK return code 0 received). */
async function loggedIn(siteId: string, secret: string): Promise<Raw> {
  const r = await open();
  r.socket.write(connectPacket(siteId, siteId, secret));
  await waitFor('CONNACK', () => r.bytes().length >= 4 || r.isClosed(), 5000, 10);
  expect([...r.bytes().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);
  r.received.length = 0;
  return r;
}

/** PUBACK for packet id `id` among what the server sent. */
const hasPuback = (r: Raw, id: number) => r.bytes().includes(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));

let site: { siteId: string; secret: string };

async function refusals(): Promise<Record<string, number>> {
  const h = await api('GET', '/api/health');
  expect(h.status).toBe(200);
  return h.body.broker.refusals;
}

beforeAll(async () => {
  const dataDir = tempDir();
  const config = loadConfig({
    LOANET_HTTP_PORT: '0',
    LOANET_MQTT_PORT: '0',
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_DATA_DIR: dataDir,
    LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOANET_SOUND_CHECK_INTERVAL_H: '0',
    LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: String(MAX_PER_ADDRESS),
    LOANET_MQTT_CONNECT_BURST: String(BURST),
    LOANET_MQTT_CONNECT_RATE: '1',
  });
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        rawLog.push(line);
        logLines.push(JSON.parse(line));
      }
      cb();
    },
  });
  server = await startServer(config, { logger: pino({ level: 'info', base: undefined }, dest) });
  base = `http://127.0.0.1:${server.httpPort}`;
  mqttPort = server.mqttPort;
  token = (await api<{ token: string }>('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token;
  expect((await api('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'))).status).toBe(200);
  const r = await api('POST', '/api/sites', { name: 'Cụm loa thôn Pho', kind: 'cluster', area: '02683' });
  expect(r.status).toBe(201);
  site = r.body.credential;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await server?.stop();
});

describe('MQTT packet size before login', () => {
  it('closes a connection whose CONNECT declares 250 MB as soon as the fixed header arrives, without waiting for the body', async () => {
    const before = await refusals();
    const r = await open();
    // Only the 5-byte fixed header and a few body bytes: the server must not wait for the other 250 MB.
    r.socket.write(Buffer.concat([Buffer.from([0x10]), varint(250 * 1024 * 1024), str('MQTT'), Buffer.from([4, 0xc2, 0, 60])]));
    await closedWithin(r); // without the guard aedes waits for the body until its 15 s connect timeout
    expect(r.bytes().length).toBe(0); // no CONNACK: the packet was never parsed
    const after = await refusals();
    expect(after.packetTooLargeBeforeAuth).toBe(before.packetTooLargeBeforeAuth! + 1);
    const line = logLines.find((l) => l.msg?.includes('mqtt connection closed: CONNECT of 262144005 bytes exceeds the limit of 4096 bytes before login'));
    expect(line).toMatchObject({ packet: 'CONNECT', bytes: 262144005, limit: 4096, address: '127.0.0.1' });
  });

  it('closes a CONNECT carrying a 60 KB username at its header, and nothing of the username reaches the log', async () => {
    const r = await open();
    const username = `${'u'.repeat(61_440)}`;
    r.socket.write(connectPacket('x', username, 'secret'));
    await closedWithin(r);
    expect(r.bytes().length).toBe(0);
    expect(rawLog.some((l) => l.includes('uuuuuuuuuuuuuuuuuuuu'))).toBe(false);
    expect(Math.max(...rawLog.map((l) => l.length))).toBeLessThan(2000);
  });

  it('logs a refused CONNECT username within the size limit cut and escaped', async () => {
    const r = await open();
    const username = `evil\n{"level":60}${'v'.repeat(3000)}`;
    r.socket.write(connectPacket('x', username, 'secret'));
    await closedWithin(r);
    expect([...r.bytes().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x04]); // CONNACK: bad username or password
    const line = logLines.find((l) => l.msg === 'mqtt connect refused: username must equal the client id (the site id)' && String(l.username).startsWith('evil'));
    expect(line).toBeDefined();
    expect(line!.username).toBe(`evil\\n{"level":60}${'v'.repeat(80 - 18)}…(${username.length} chars)`);
    expect(Math.max(...rawLog.map((l) => l.length))).toBeLessThan(2000);
  });
});

describe('MQTT packet size after login', () => {
  const stateTopic = () => siteTopic(site.siteId, 'state');
  const state = (s: 'online' | 'offline') => encodeJson({ v: PROTOCOL_VERSION, siteId: site.siteId, state: s, at: Date.now() });

  it('refuses a 60 MB retained state from its header (connection closed, nothing retained, the earlier retained state kept)', async () => {
    const r = await loggedIn(site.siteId, site.secret);
    r.socket.write(publishPacket(stateTopic(), state('online'), { qos: 1, retain: true, id: 1 }));
    await waitFor('PUBACK of the legitimate state', () => hasPuback(r, 1), 5000, 10);
    const kept = await (server.ctx.broker as EmbeddedBroker).retained(stateTopic());
    expect(JSON.parse(kept!.toString()).state).toBe('online');
    const before = await refusals();
    // The fixed header says 60 MB; send the topic and 64 KB of it, never the rest.
    const header = Buffer.concat([Buffer.from([0x33]), varint(60 * 1024 * 1024), str(stateTopic()), Buffer.from([0, 2])]);
    r.socket.write(Buffer.concat([header, Buffer.alloc(64 * 1024, 0x20)]));
    await closedWithin(r);
    expect(hasPuback(r, 2)).toBe(false);
    expect((await refusals()).packetTooLargeAfterAuth).toBe(before.packetTooLargeAfterAuth! + 1);
    expect((await (server.ctx.broker as EmbeddedBroker).retained(stateTopic()))!.equals(kept!)).toBe(true);
    const line = logLines.find((l) => String(l.msg).includes(`PUBLISH of ${60 * 1024 * 1024 + 5} bytes on ${stateTopic()} exceeds the limit of 4096 bytes for a site`));
    expect(line).toMatchObject({ siteId: site.siteId, topic: stateTopic(), limit: 4096 });
  });

  it('refuses a retained state one byte over its limit, and accepts one at the limit', async () => {
    const limit = SITE_PACKET_LIMITS.publish.state;
    const sized = (total: number, id: number) => sizedPublish(stateTopic(), total, { qos: 1, retain: true, id });
    const atLimit = sized(limit, 3);
    expect(atLimit.length).toBe(limit);
    const r = await loggedIn(site.siteId, site.secret);
    r.socket.write(atLimit);
    // Accepted by the broker (PUBACK); the ingest drops it as not JSON, which is its own business.
    await waitFor('PUBACK of a state at the limit', () => hasPuback(r, 3), 5000, 10);
    const heldAtLimit = await (server.ctx.broker as EmbeddedBroker).retained(stateTopic());
    // 4096 = 3 (type, 2-byte Remaining Length) + 2 + topic + 2 (packet id) + payload
    expect(heldAtLimit!.equals(Buffer.alloc(limit - 3 - 2 - Buffer.byteLength(stateTopic()) - 2, 0x20))).toBe(true);
    // Put the legitimate state back, then one byte over.
    r.socket.write(publishPacket(stateTopic(), state('online'), { qos: 1, retain: true, id: 4 }));
    await waitFor('PUBACK', () => hasPuback(r, 4), 5000, 10);
    const over = sized(limit + 1, 5);
    expect(over.length).toBe(limit + 1);
    r.socket.write(over);
    await closedWithin(r);
    expect(hasPuback(r, 5)).toBe(false);
    expect(JSON.parse((await (server.ctx.broker as EmbeddedBroker).retained(stateTopic()))!.toString()).state).toBe('online');
  });

  it('passes a maximal legitimate heartbeat, and a telemetry packet of the whole 32 KiB limit reaches the ingest (which drops it as over 16 KiB of JSON)', async () => {
    const r = await loggedIn(site.siteId, site.secret);
    const telemetry = {
      v: PROTOCOL_VERSION,
      siteId: site.siteId,
      at: Date.now(),
      seq: 1,
      intervalS: 30,
      uptimeS: 10,
      versions: { agent: 'a'.repeat(40), protocol: PROTOCOL_VERSION, firmware: 'f'.repeat(40) },
      link: { type: '4g', signalDbm: -80, operator: 'o'.repeat(40) },
      power: { source: 'mains', mainsOk: true, batteryPct: 100 },
      amplifier: { on: true, volume: 70, fault: 'none', temperatureC: 40 },
      lines: Array.from({ length: 64 }, (_, i) => ({ id: i + 1, status: 'ok', impedanceOhm: 8.25, nominalOhm: 8 })),
      temperatureC: 35,
      clockOffsetMs: 0,
      devices: Array.from({ length: 32 }, (_, i) => ({ id: `d${i}`.padEnd(64, 'd'), kind: 'k'.repeat(32), reachable: true, firmware: 'f'.repeat(40), error: 'e'.repeat(150) })),
      monitorMic: true,
      lastSoundCheck: null,
    };
    const payload = encodeJson(telemetry);
    expect(payload.length).toBeGreaterThan(14_000);
    expect(payload.length).toBeLessThanOrEqual(MAX_JSON_PAYLOAD_BYTES);
    const acceptedBefore = server.ctx.ingest.stats().acceptedByChannel.telemetry ?? 0;
    r.socket.write(publishPacket(siteTopic(site.siteId, 'telemetry'), payload, { qos: 1, id: 7 }));
    await waitFor('PUBACK of the heartbeat', () => hasPuback(r, 7), 5000, 10);
    await waitFor('the heartbeat accepted', () => (server.ctx.ingest.stats().acceptedByChannel.telemetry ?? 0) > acceptedBefore, 5000, 10);

    const tooLargeBefore = server.ctx.ingest.stats().rejectedByCode.too_large ?? 0;
    const full = sizedPublish(siteTopic(site.siteId, 'telemetry'), SITE_PACKET_LIMITS.publish.telemetry, { qos: 1, id: 8 });
    expect(full.length).toBe(SITE_PACKET_LIMITS.publish.telemetry);
    r.socket.write(full);
    await waitFor('PUBACK of the 32 KiB packet', () => hasPuback(r, 8), 5000, 10);
    await waitFor('dropped by the ingest as too large', () => (server.ctx.ingest.stats().rejectedByCode.too_large ?? 0) > tooLargeBefore, 5000, 10);
    expect(r.isClosed()).toBe(false);
    r.socket.destroy();
  });
});

describe('untrusted strings in the log', () => {
  it('a denied subscription logs its topic cut and escaped; a 64 KB topic closes the connection and is not logged at all', async () => {
    const r = await loggedIn(site.siteId, site.secret);
    const topic = `loanet/v1/sites/other/cmd\u001b[2J${'t'.repeat(3500)}`;
    r.socket.write(subscribePacket(11, [{ topic, qos: 1 }]));
    await waitFor('SUBACK refusing it', () => r.bytes().includes(Buffer.from([0x90, 0x03, 0, 11, 0x80])), 5000, 10);
    const line = logLines.find((l) => String(l.msg).startsWith('subscribe denied') && String(l.topic).startsWith('loanet/v1/sites/other/cmd'));
    expect(line!.topic).toBe(`loanet/v1/sites/other/cmd\\x1b[2J${'t'.repeat(200 - 32)}…(${topic.length} chars)`);
    expect(String(line!.msg).length).toBeLessThan(600);
    const huge = 'h'.repeat(64 * 1024 - 1);
    r.socket.write(subscribePacket(12, [{ topic: huge, qos: 1 }]));
    await closedWithin(r);
    expect(rawLog.some((l) => l.includes('hhhhhhhhhhhhhhhhhhhh'))).toBe(false);
  });

  it('a dropped message whose decode error quotes a 10 KB key is logged cut', async () => {
    const r = await loggedIn(site.siteId, site.secret);
    const key = 'k'.repeat(10_000);
    const before = server.ctx.ingest.stats().rejected;
    r.socket.write(
      publishPacket(
        siteTopic(site.siteId, 'event'),
        Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, siteId: site.siteId, at: 1, type: 'fault', device: 'amp', fault: 'x', [key]: 1 })),
        { qos: 1, id: 21 },
      ),
    );
    await waitFor('dropped', () => server.ctx.ingest.stats().rejected > before, 5000, 10);
    const line = logLines.filter((l) => String(l.msg).startsWith('dropped message')).at(-1)!;
    expect(line.code).toBe('schema');
    expect(String(line.msg).length).toBeLessThan(400);
    expect(rawLog.some((l) => l.includes('k'.repeat(400)))).toBe(false);
    r.socket.destroy();
  });
});

describe('MQTT connections per address', () => {
  it(`admits ${MAX_PER_ADDRESS} open connections from one address and closes the next at once; one more is admitted when one closes`, async () => {
    const broker = server.ctx.broker as EmbeddedBroker;
    await waitFor("earlier tests' connections closed on the server side", () => broker.openConnectionsFrom('127.0.0.1') === 0, 5000, 10);
    const before = await refusals();
    const held: Raw[] = [];
    for (let i = 0; i < MAX_PER_ADDRESS; i++) held.push(await open());
    // A seventh: refused at accept, closed without an answer even to a CONNECT.
    const extra = await open();
    extra.socket.write(connectPacket('x', 'x', 'wrong'));
    await closedWithin(extra);
    expect(extra.bytes().length).toBe(0);
    expect((await refusals()).connectionsPerAddress).toBe(before.connectionsPerAddress! + 1);
    // The held ones were admitted: each answers a CONNECT (refused credentials, but answered).
    const first = held.shift()!;
    first.socket.write(connectPacket('x', 'x', 'wrong'));
    await closedWithin(first);
    expect([...first.bytes().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x04]);
    // Its place is free again.
    const again = await open();
    again.socket.write(connectPacket('y', 'y', 'wrong'));
    await closedWithin(again);
    expect([...again.bytes().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x04]);
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
  });

  it('throttles a connect storm from one address beyond its bucket, and counts it', async () => {
    const before = await refusals();
    // More CONNECTs than the bucket holds, a few at a time (under the open-connection cap).
    const outcomes: Array<'answered' | 'refused'> = [];
    for (let i = 0; i < BURST + 10; i += 3) {
      const batch = await Promise.all([0, 1, 2].map(() => open()));
      for (const r of batch) r.socket.write(connectPacket('x', 'x', 'wrong'));
      for (const r of batch) {
        await closedWithin(r);
        outcomes.push(r.bytes().length > 0 ? 'answered' : 'refused');
      }
    }
    const refused = outcomes.filter((o) => o === 'refused').length;
    expect(refused).toBeGreaterThan(0);
    const after = await refusals();
    expect(after.connectRate! - before.connectRate!).toBe(refused);
    expect(after.connectionsPerAddress).toBe(before.connectionsPerAddress);
    expect(logLines.some((l) => String(l.msg).startsWith('mqtt connection refused: 127.0.0.1 connects faster than 1/s after a burst of 40'))).toBe(true);
  });

  it('GET /api/health declares every refusal counter', async () => {
    const r = await refusals();
    expect(Object.keys(r).sort()).toEqual(
      [
        'aclDeniedPublishes',
        'aclDeniedSubscribes',
        'authFailures',
        'connectRate',
        'connectionsPerAddress',
        'malformedPackets',
        'packetTooLargeAfterAuth',
        'packetTooLargeBeforeAuth',
      ].sort(),
    );
    expect(r.authFailures).toBeGreaterThanOrEqual(3);
  });
});

describe.skipIf(!haveTools('mosquitto'))('the generated Mosquitto limits (a real Mosquitto with the test bootstrap config)', () => {
  let mosquitto: RunningMosquitto | undefined;
  let port = 0;
  const user = 'loanet_server';
  const password = 'mosquitto-limits-test-password';

  beforeAll(async () => {
    const dir = tempDir('loanet-mosq-limits-');
    port = await freePort();
    const conf = writeMosquittoBootstrap(dir, { port, serverUser: user, serverPassword: password, maxQueuedMessages: 1000 });
    expect(fs.readFileSync(conf, 'utf8')).toContain(`max_packet_size ${MOSQUITTO_MAX_PACKET_SIZE}`);
    mosquitto = await startMosquitto(dir, { port });
  });
  afterAll(async () => {
    await mosquitto?.stop();
  });

  async function loggedInMosquitto(): Promise<Raw> {
    const r = await open(port);
    r.socket.write(connectPacket(user, user, password));
    await waitFor('CONNACK', () => r.bytes().length >= 4 || r.isClosed(), 5000, 10);
    expect([...r.bytes().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);
    r.received.length = 0;
    return r;
  }

  it('takes the largest playlist the server publishes', async () => {
    const r = await loggedInMosquitto();
    r.socket.write(publishPacket('loanet/v1/sites/sim-02683-v01/playlist', Buffer.alloc(MAX_PLAYLIST_BYTES, 0x20), { qos: 1, retain: false, id: 9 }));
    await waitFor('PUBACK of a 512 KiB playlist', () => hasPuback(r, 9), 10_000, 10);
    r.socket.destroy();
  });

  it('closes a connection whose packet declares more than max_packet_size, before and after login, from the header alone', async () => {
    const before = await open(port);
    before.socket.write(Buffer.concat([Buffer.from([0x10]), varint(250 * 1024 * 1024), str('MQTT')]));
    await closedWithin(before);
    expect(before.bytes().length).toBe(0);
    const after = await loggedInMosquitto();
    after.socket.write(Buffer.concat([Buffer.from([0x33]), varint(60 * 1024 * 1024), str(siteTopic('sim-02683-v01', 'state')), Buffer.from([0, 1])]));
    await closedWithin(after);
    expect(hasPuback(after, 1)).toBe(false);
  });
});
