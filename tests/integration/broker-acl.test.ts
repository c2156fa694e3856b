import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { areaAudioTopic, encodeJson, siteTopic, PROTOCOL_VERSION } from '../../protocol/index.ts';

let t: TestServer;
let a: { siteId: string; secret: string };
let b: { siteId: string; secret: string };
const clients: MqttClient[] = [];

async function register(name: string, area: string, kind: 'station' | 'cluster' = 'cluster') {
  const r = await t.api('POST', '/api/sites', { name, kind, area });
  expect(r.status).toBe(201);
  return r.body.credential as { siteId: string; secret: string };
}

/** Connect as a site; resolves with the client or rejects with the CONNACK error. */
function connectAs(siteId: string, secret: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(t.mqttUrl, { clientId: siteId, username: siteId, password: secret, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    clients.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });
}

const state = (siteId: string, s: 'online' | 'offline') => encodeJson({ v: PROTOCOL_VERSION, siteId, state: s, at: Date.now() });

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  await t.api('POST', '/api/areas', { code: '02683-01', name: 'Thôn Pho', level: 'village', parent: '02683' });
  a = await register('Cụm loa thôn Pho', '2025.02683-01');
  b = await register('Cụm loa Cốc San', '02671');
});
afterAll(async () => {
  clients.forEach((c) => c.end(true));
  await t?.stop();
});

describe('broker authentication', () => {
  it('accepts a site with its credential', async () => {
    const c = await connectAs(a.siteId, a.secret);
    expect(c.connected).toBe(true);
    c.end(true);
  });

  it('refuses a wrong secret, a username that is not the client id, and an unknown site', async () => {
    await expect(connectAs(a.siteId, 'wrong-secret')).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connectAs(a.siteId, a.secret, { username: b.siteId })).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connectAs('no-such-site', 'x'.repeat(43))).rejects.toThrow(/Bad username or password|Not authorized/i);
    expect(t.server.ctx.broker.status().refusedConnects).toBeGreaterThanOrEqual(3);
  });

  it('refuses a rotated credential at once and accepts the new one', async () => {
    const site = await register('Cụm loa tạm', '02683');
    const c = await connectAs(site.siteId, site.secret);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const rot = await t.api('POST', `/api/sites/${site.siteId}/credential`);
    expect(rot.status).toBe(200);
    await closed; // the live connection is dropped too
    await expect(connectAs(site.siteId, site.secret)).rejects.toThrow(/Bad username or password|Not authorized/i);
    const ok = await connectAs(site.siteId, rot.body.credential.secret);
    ok.end(true);
  });

  it('refuses a retired site', async () => {
    const site = await register('Cụm loa bỏ', '02683');
    expect((await t.api('DELETE', `/api/sites/${site.siteId}`)).status).toBe(200);
    await expect(connectAs(site.siteId, site.secret)).rejects.toThrow(/Bad username or password|Not authorized/i);
  });
});

describe('broker ACL', () => {
  it('lets a site subscribe to its own commands and its area channels up to the province, nothing else', async () => {
    const c = await connectAs(a.siteId, a.secret);
    const topics = [
      siteTopic(a.siteId, 'cmd'),
      areaAudioTopic('2025.02683-01'),
      areaAudioTopic('2025.02683'),
      areaAudioTopic('2025.15'),
      siteTopic(b.siteId, 'cmd'),
      areaAudioTopic('2025.02671'),
      'loanet/v1/sites/+/cmd',
      '#',
    ];
    const granted: Array<number | string> = [];
    for (const topic of topics) {
      // mqtt.js rejects a subscription refused with return code 0x80.
      granted.push(
        await c.subscribeAsync(topic, { qos: 1 }).then(
          (g) => g[0]!.qos,
          (e: Error) => e.message,
        ),
      );
    }
    expect(granted.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(granted.slice(4)).toEqual(Array(4).fill(expect.stringMatching(/Subscribe error/)));
    expect(t.server.ctx.broker.status().deniedSubscribes).toBeGreaterThanOrEqual(4);
    c.end(true);
  });

  it("drops a publish on another site's topics and on its own cmd topic", async () => {
    const denied = t.server.ctx.broker.status().deniedPublishes;
    const c = await connectAs(a.siteId, a.secret);
    c.publish(siteTopic(b.siteId, 'state'), state(b.siteId, 'online'), { qos: 0 });
    await waitFor('publish denied', () => t.server.ctx.broker.status().deniedPublishes > denied);
    expect(t.server.ctx.fleet.observation(b.siteId)?.firstSeenAt).toBeNull();
    c.end(true);
    const c2 = await connectAs(a.siteId, a.secret);
    c2.publish(siteTopic(a.siteId, 'cmd'), Buffer.from('{}'), { qos: 0 });
    await waitFor('cmd publish denied', () => t.server.ctx.broker.status().deniedPublishes > denied + 1);
    c2.end(true);
  });

  it('accepts a publish on its own state topic', async () => {
    const denied = t.server.ctx.broker.status().deniedPublishes;
    const c = await connectAs(a.siteId, a.secret);
    await c.publishAsync(siteTopic(a.siteId, 'state'), state(a.siteId, 'online'), { qos: 1, retain: true });
    await waitFor('site seen', () => t.server.ctx.fleet.observation(a.siteId)?.connected);
    // Through to the fleet (seen, online), and nothing of it denied on the way.
    expect(t.server.ctx.fleet.observation(a.siteId)).toMatchObject({ connected: true, firstSeenAt: expect.any(Number) });
    expect(t.server.ctx.broker.status().deniedPublishes).toBe(denied);
    c.end(true);
  });
});

describe('bad messages from devices', () => {
  it('counts, logs with the site id and drops malformed JSON, wrong schema, oversized payloads, unknown versions and a spoofed site id; the server stays up', async () => {
    const c = await connectAs(a.siteId, a.secret);
    const before = t.server.ctx.ingest.stats();
    const tel = siteTopic(a.siteId, 'telemetry');
    await c.publishAsync(tel, Buffer.from('{"v":1, "siteId": '), { qos: 1 });
    await c.publishAsync(tel, encodeJson({ v: 1, siteId: a.siteId, at: 'yesterday' }), { qos: 1 });
    // Over the decoder's 16 KiB but under the broker's 32 KiB telemetry packet limit (a bigger packet closes the connection: mqtt-limits.test.ts).
    await c.publishAsync(tel, Buffer.alloc(20 * 1024, 0x20), { qos: 1 });
    await c.publishAsync(siteTopic(a.siteId, 'state'), encodeJson({ v: 99, siteId: a.siteId, state: 'online', at: Date.now() }), { qos: 1 });
    await c.publishAsync(siteTopic(a.siteId, 'state'), state(b.siteId, 'online'), { qos: 1 });
    await c.publishAsync(siteTopic(a.siteId, 'event'), Buffer.from([0xff, 0xfe, 0x00]), { qos: 1 });
    const after = await waitFor('rejections counted', () => {
      const s = t.server.ctx.ingest.stats();
      return s.rejected - before.rejected >= 6 ? s : undefined;
    });
    const delta = (code: string) => ((after.rejectedByCode as Record<string, number>)[code] ?? 0) - ((before.rejectedByCode as Record<string, number>)[code] ?? 0);
    expect(delta('bad_json')).toBe(2);
    expect(delta('schema')).toBe(1);
    expect(delta('too_large')).toBe(1);
    expect(delta('unknown_version')).toBe(1);
    expect(delta('site_mismatch')).toBe(1);
    expect(after.rejectedBySite.find((s) => s.siteId === a.siteId)?.count).toBeGreaterThanOrEqual(6);
    const api = await t.api('GET', '/api/fleet/messages');
    expect(api.body.ingest.rejectedByCode.unknown_version).toBeGreaterThanOrEqual(1);
    expect(api.body.ingest.rejectedBySite[0].lastReason).toBeTypeOf('string');
    expect((await t.api('GET', '/api/health', undefined, { token: null })).body.status).toBe('ok');
    // The site's stored state was not touched by the bad messages.
    expect(t.server.ctx.fleet.observation(a.siteId)?.connected).toBe(true);
    c.end(true);
  });
});
