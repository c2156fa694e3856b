/**
 * The data folder deleted under a running server (by hand, by a cleanup
 * script, by a restore over a live install). SQLite would go on writing into
 * the unlinked database file, and everything acknowledged from then on would
 * be gone at the next start. The server must notice, say so loudly, refuse
 * changes with a reason, and stop acknowledging site events, so the sites
 * keep them in their journals.
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEventAck, eventAckKey, siteTopic, type AsRunEvent } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
import { sqliteOnly } from '../helpers/suite-database.ts';
import { receipt as diskReceipt } from '../helpers/full-disk.ts';

let t: TestServer;
let client: MqttClient;
let site: { siteId: string; secret: string };
const acked = new Set<string>();
let clockReplies = 0;
const logged: string[] = [];

const receipt = (i: number): AsRunEvent => diskReceipt(site.siteId, i, Date.now(), 'gone');

const why = 'the SQLite file deleted under the server (DiskSpace.storeGone watches loanet.db); a PostgreSQL store lives outside the data folder';

beforeAll(async () => {
  if (sqliteOnly(why)) return;
  t = await startTestServer({ LOANET_DISK_CHECK_MS: '200' });
  const log = t.server.ctx.log;
  // What the operator reads in the server's log.
  const error = log.error.bind(log);
  log.error = (obj: object | string, msg?: string) => {
    logged.push(typeof obj === 'string' ? obj : (msg ?? ''));
    error(obj, msg);
  };
  await importLaoCai2025(t);
  const s = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vược', kind: 'cluster', area: '02683' });
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  site = s.body.credential;
  client = await mqtt.connectAsync(t.mqttUrl, { clientId: site.siteId, username: site.siteId, password: site.secret, protocolVersion: 4, reconnectPeriod: 0 });
  client.on('message', (topic, payload) => {
    if (topic === siteTopic(site.siteId, 'time')) clockReplies++;
    const d = decodeEventAck.decode(payload);
    if (topic === siteTopic(site.siteId, 'ack') && d.ok) for (const k of d.value.stored) acked.add(k);
  });
  await client.subscribeAsync([siteTopic(site.siteId, 'ack'), siteTopic(site.siteId, 'time')], { qos: 1 });
}, 120_000);

afterAll(async () => {
  await client?.endAsync().catch(() => undefined);
  await t?.stop().catch(() => undefined);
});

describe.skipIf(sqliteOnly(why))('the data folder deleted under a running server', () => {
  it('is noticed, said loudly, changes are refused with the reason, and site events are no longer acknowledged', async () => {
    const before = receipt(1);
    await client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(before), { qos: 1 });
    await waitFor('the receipt acknowledged while the store is there', () => acked.has(eventAckKey(before)!));
    expect((await t.api('GET', '/api/health')).body.store).toMatchObject({ up: true });

    fs.rmSync(t.dataDir, { recursive: true, force: true });

    const health = await waitFor('health to say the store is gone', async () => {
      const h = await t.api('GET', '/api/health');
      return h.body.store.up === false ? h.body : undefined;
    });
    expect(health.status).toBe('degraded');
    expect(health.store.problem).toContain('loanet.db');
    expect(logged.some((l) => /was deleted or replaced while loanet runs: nothing more is stored.*Stop loanet and restore the data folder/.test(l))).toBe(true);

    // A change is refused with the reason, and a login (a write that never waits for disk space) too.
    const change = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Cốc Mỳ', kind: 'cluster', area: '02683' });
    expect(change.status).toBe(503);
    expect(change.body).toMatchObject({ error: 'LOANET_STORE_GONE', params: { file: expect.stringContaining('loanet.db') } });
    expect((await t.api('POST', '/api/auth/login', { username: 'admin', password: 'x'.repeat(12) }, { token: null })).body.error).toBe('LOANET_STORE_GONE');

    // A receipt now is not taken: the ingest never counts it, so it is never acknowledged. The clock
    // request sent after it is answered, proof that the server handled the receipt first.
    const counted = async () => (await t.api('GET', '/api/fleet/messages')).body.ingest.acceptedByChannel.event ?? 0;
    const events = await counted();
    const after = receipt(2);
    const replies = clockReplies;
    await client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(after), { qos: 1 });
    await client.publishAsync(siteTopic(site.siteId, 'clock'), JSON.stringify({ v: 1, siteId: site.siteId, id: 7, t0: Date.now() }), { qos: 0 });
    await waitFor('the clock reply after the receipt', () => clockReplies > replies);
    expect(await counted()).toBe(events);
    expect(acked.has(eventAckKey(after)!)).toBe(false);
  });
});
