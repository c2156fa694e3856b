/**
 * Who is told, end to end through the real alarms: a real server (embedded
 * broker over TCP, the suite's store), a site of commune A that reports an
 * amplifier fault over MQTT as its agent does, the alarm raised by the
 * alarms service, and commune A's technician told on their console's event
 * stream (the bell) — commune B's technician not. Acknowledging the alarm
 * over HTTP stops the escalation: the province admin is never told.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, siteTopic } from '../../protocol/index.ts';
import { openEventStream } from '../helpers/event-stream.ts';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường
const PASSWORD = 'mat-khau-du-dai-123';

async function userToken(t: TestServer, username: string, role: string, area?: string): Promise<string> {
  const r = await t.api('POST', '/api/users', { username, password: PASSWORD, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password: PASSWORD }, { token: null })).body.token as string;
}

describe('an alarm raised by a site tells its commune technician', () => {
  let t: TestServer;
  let client: MqttClient | undefined;

  beforeAll(async () => {
    t = await startTestServer();
    await importLaoCai2025(t);
  }, 60_000);
  afterAll(async () => {
    await client?.endAsync().catch(() => undefined);
    await t?.stop();
  });

  it('amplifier fault in commune A: the technician of A is told on the stream, B is not; acknowledged, nobody more', async () => {
    const techA = await userToken(t, 'ky-thuat-xa-a', 'technician', COMMUNE_A);
    const techB = await userToken(t, 'ky-thuat-xa-b', 'technician', COMMUNE_B);
    await t.server.ctx.notifications.service.refreshRecipients();
    const rule = await t.api('POST', '/api/notification-rules', {
      area: null,
      minSeverity: 'major',
      kinds: null,
      delayS: 0,
      // The province is told after an hour without acknowledgement: the test acknowledges first.
      escalateAfterS: 3600,
      steps: [
        { roles: ['technician'], userIds: [] },
        { roles: ['admin'], userIds: [] },
      ],
      enabled: true,
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);

    const site = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vền', kind: 'cluster', area: COMMUNE_A, monitorMic: false });
    expect(site.status, JSON.stringify(site.body)).toBe(201);
    const { siteId, secret } = site.body.credential as { siteId: string; secret: string };
    const streamA = await openEventStream(t, techA);
    const streamB = await openEventStream(t, techB);
    try {
      const at = Date.now();
      const state = (s: 'online' | 'offline') => JSON.stringify({ v: PROTOCOL_VERSION, siteId, state: s, at });
      client = await mqtt.connectAsync(t.mqttUrl, {
        clientId: siteId,
        username: siteId,
        password: secret,
        protocolVersion: 4,
        reconnectPeriod: 0,
        will: { topic: siteTopic(siteId, 'state'), payload: Buffer.from(state('offline')), qos: 1, retain: true },
      });
      await client.publishAsync(siteTopic(siteId, 'state'), state('online'), { qos: 1, retain: true });
      await client.publishAsync(siteTopic(siteId, 'telemetry'), JSON.stringify(healthyTelemetry(siteId, 1)), { qos: 1 });
      await client.publishAsync(
        siteTopic(siteId, 'telemetry'),
        JSON.stringify(healthyTelemetry(siteId, 2, { amplifier: { on: true, volume: 70, fault: 'overload', temperatureC: 40 } })),
        { qos: 1 },
      );
      const told = await streamA.next('notification', (n) => n.siteId === siteId, 20_000);
      expect(told).toMatchObject({ siteId, siteName: 'Cụm loa thôn Bản Vền', kind: 'amplifier_fault', severity: 'major', cause: 'raised' });
      // Not B: the one batch (one transaction) that told A would have told B too.
      const list = await t.inject('GET', '/api/notifications', undefined, { token: techB });
      expect(list.body).toEqual({ unread: 0, notifications: [] });

      const ack = await t.api('POST', `/api/alarms/${told.alarmId}/acknowledge`, { note: 'đang đến' }, { token: techA });
      expect(ack.status, JSON.stringify(ack.body)).toBe(200);
      await waitFor('the escalation stopped', () =>
        t.server.ctx.notifications.store.tracks().then((ts) => ts.find((x) => x.alarm.alarmId === told.alarmId)?.acknowledged || undefined),
      );
      expect(streamB.events.filter((e) => e.event === 'notification')).toEqual([]);
      // Who was told, as anyone who may see the alarm reads it; commune B's technician may not.
      const who = await t.inject('GET', `/api/notifications/alarm/${told.alarmId}`, undefined, { token: techA });
      expect(who.status, who.text).toBe(200);
      expect(who.body.told).toMatchObject([{ username: 'ky-thuat-xa-a', cause: 'raised', step: 0, push: { state: 'none', attempts: 0 } }]);
      expect((await t.inject('GET', `/api/notifications/alarm/${told.alarmId}`, undefined, { token: techB })).status).toBe(404);
      const adminList = await t.inject('GET', '/api/notifications');
      expect(adminList.body.unread).toBe(0);
    } finally {
      streamA.close();
      streamB.close();
    }
  });
});
