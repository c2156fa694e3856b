/**
 * What operations watch: GET /metrics in the Prometheus text format, /livez
 * and /readyz, and the request id, against a real server with real MQTT
 * sites. The exposition is read by a strict parser here (every sample under
 * a declared family, counters ending in _total, histograms cumulative), so a
 * malformed line fails the test, not a Prometheus in production.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_NAMES } from '../../server/cluster/lease-policy.ts';
import { siteTopic, type AlertStatusEvent } from '../../protocol/index.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { serverDatabaseUrl } from '../helpers/suite-database.ts';

const BAT_XAT = '02683';
const CAM_DUONG = '02671';

interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Parsed {
  types: Map<string, string>;
  samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;

/** The text format 0.0.4, strictly: throws naming the first line that is not. */
function parseExposition(text: string): Parsed {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: ParsedSample[] = [];
  expect(text.endsWith('\n'), 'the body ends with a newline').toBe(true);
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const m = new RegExp(`^# HELP (${NAME}) .+$`).exec(line);
      if (!m) throw new Error(`bad HELP, ${where}`);
      helps.add(m[1]!);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
      if (!m) throw new Error(`bad TYPE, ${where}`);
      if (types.has(m[1]!)) throw new Error(`TYPE twice, ${where}`);
      if (!helps.has(m[1]!)) throw new Error(`TYPE without HELP before it, ${where}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line, ${where}`);
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample, ${where}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest.length > 0) {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`bad labels, ${where}`);
      if (l[1]! in labels) throw new Error(`label twice, ${where}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (m[3] !== 'NaN' && Number.isNaN(value)) throw new Error(`bad value, ${where}`);
    const name = m[1]!;
    const family = [...types.keys()].find(
      (f) => name === f || (['histogram', 'summary'].includes(types.get(f)!) && /^_(bucket|sum|count)$/.test(name.slice(f.length)) && name.startsWith(f)),
    );
    if (!family) throw new Error(`sample of no declared family, ${where}`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

const value = (p: Parsed, name: string, labels: Record<string, string> = {}) =>
  p.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

let t: TestServer;
const sites: Array<{ siteId: string; secret: string; area: string }> = [];
const clients: MqttClient[] = [];

async function scrape(): Promise<{ text: string; parsed: Parsed }> {
  const res = await fetch(`${t.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  return { text, parsed: parseExposition(text) };
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  for (const [name, area] of [
    ['Cụm loa thôn Bản Vược', BAT_XAT],
    ['Cụm loa thôn Tân Bảo', BAT_XAT],
    ['Cụm loa thôn Cốc Mỳ', BAT_XAT],
    ['Cụm loa tổ 5 Cam Đường', CAM_DUONG],
  ] as const) {
    const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, monitorMic: false });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    sites.push({ ...(r.body.credential as { siteId: string; secret: string }), area });
  }
  // Two sites of Bát Xát and the one of Cam Đường heartbeat; the third of Bát Xát stays unverified.
  for (const s of [sites[0]!, sites[1]!, sites[3]!]) {
    const c = await mqtt.connectAsync(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(c);
    await c.publishAsync(siteTopic(s.siteId, 'telemetry'), JSON.stringify(healthyTelemetry(s.siteId, 0)), { qos: 1 });
  }
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync().catch(() => undefined);
  await t?.stop();
});

describe('GET /metrics', () => {
  it('is the Prometheus text format: every family loanet_-prefixed, with HELP and TYPE, counters in _total, histograms cumulative, build info', async () => {
    const { parsed } = await scrape();
    expect(parsed.types.size).toBeGreaterThan(20);
    for (const [name, type] of parsed.types) {
      expect(name).toMatch(/^loanet_/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
    expect(parsed.samples.find((s) => s.name === 'loanet_build_info')?.labels).toMatchObject({ version: t.server.ctx.versions.loanet });
    for (const [name, type] of parsed.types) {
      if (type !== 'histogram') continue;
      const series = new Map<string, ParsedSample[]>();
      for (const s of parsed.samples.filter((x) => x.name === `${name}_bucket`)) {
        const { le: _le, ...rest } = s.labels;
        const key = JSON.stringify(rest);
        series.set(key, [...(series.get(key) ?? []), s]);
      }
      expect(series.size, `${name} has buckets`).toBeGreaterThan(0);
      for (const [key, buckets] of series) {
        const values = buckets.map((b) => b.value);
        expect(values, `${name} ${key} cumulative`).toEqual([...values].sort((a, b) => a - b));
        expect(buckets.at(-1)!.labels.le).toBe('+Inf');
        expect(value(parsed, `${name}_count`, JSON.parse(key))).toBe(buckets.at(-1)!.value);
      }
    }
    for (const name of [
      'loanet_sites',
      'loanet_site_messages_total',
      'loanet_site_messages_rejected_total',
      'loanet_broker_connections',
      'loanet_broker_refusals_total',
      'loanet_alert_first_sound_seconds',
      'loanet_live_streams',
      'loanet_media_jobs',
      'loanet_playlist_sites',
      'loanet_playlist_last_refresh_duration_seconds',
      'loanet_event_loop_delay_seconds',
      'loanet_store_probe_duration_seconds',
    ]) {
      expect(parsed.types.has(name), name).toBe(true);
    }
    // A lone server holds every lease: it does all the work that must happen once.
    for (const lease of LEASE_NAMES) expect(value(parsed, 'loanet_lease_held', { lease }), lease).toBe(1);
  });

  it('names no site: no site id anywhere in the body, labels from bounded sets', async () => {
    const { text, parsed } = await scrape();
    for (const s of sites) expect(text).not.toContain(s.siteId);
    const labelNames = new Set(parsed.samples.flatMap((s) => Object.keys(s.labels)));
    expect([...labelNames].sort()).toEqual(expect.arrayContaining(['area', 'condition', 'level']));
    for (const l of labelNames)
      expect([
        'area',
        'version',
        'level',
        'condition',
        'state',
        'reason',
        'channel',
        'kind',
        'lane',
        'status',
        'origin',
        'test',
        'outcome',
        'result',
        'le',
        'quantile',
        'protocol',
        'schema',
        'node',
        'lease',
      ]).toContain(l);
  });

  it('counts heartbeats and rejected messages as they happen', async () => {
    const before = (await scrape()).parsed;
    const beats0 = value(before, 'loanet_site_messages_total', { channel: 'telemetry' });
    const rejected0 = value(before, 'loanet_site_messages_rejected_total');
    const s = sites[0]!;
    for (let i = 1; i <= 3; i++) await clients[0]!.publishAsync(siteTopic(s.siteId, 'telemetry'), JSON.stringify(healthyTelemetry(s.siteId, i)), { qos: 1 });
    await clients[0]!.publishAsync(siteTopic(s.siteId, 'telemetry'), '{"not": "a heartbeat"', { qos: 1 });
    const after = await waitFor('the heartbeats and the rejection counted', async () => {
      const p = (await scrape()).parsed;
      return value(p, 'loanet_site_messages_total', { channel: 'telemetry' }) >= beats0 + 3 && value(p, 'loanet_site_messages_rejected_total') >= rejected0 + 1 ? p : undefined;
    });
    expect(value(after, 'loanet_site_messages_total', { channel: 'telemetry' })).toBe(beats0 + 3);
    expect(value(after, 'loanet_site_messages_rejected_total')).toBe(rejected0 + 1);
    expect(value(after, 'loanet_broker_connections')).toBe(3);
    // The heartbeats changed the site's status: the fleet writes it behind its memory, and says so once written.
    const rows0 = value(before, 'loanet_fleet_store_rows_total', { kind: 'status' });
    const written = await waitFor('the status rows written', async () => {
      const p = (await scrape()).parsed;
      return value(p, 'loanet_fleet_store_rows_total', { kind: 'status' }) > rows0 ? p : undefined;
    });
    expect(value(written, 'loanet_fleet_store_writes_total', { kind: 'status' })).toBeGreaterThan(0);
    expect(value(written, 'loanet_fleet_store_write_failures_total')).toBe(0);
    expect(value(written, 'loanet_fleet_store_dropped_events_total')).toBe(0);
    expect(value(written, 'loanet_fleet_store_pending_events')).toBeGreaterThanOrEqual(0);
  });

  it("counts the alarms' writes: a site that cannot play raises an alarm, and its effects are committed", async () => {
    const before = (await scrape()).parsed;
    const effects0 = value(before, 'loanet_alarm_store_effects_total');
    const s = sites[3]!;
    await clients[2]!.publishAsync(siteTopic(s.siteId, 'telemetry'), JSON.stringify(healthyTelemetry(s.siteId, 10, { canPlay: false })), { qos: 1 });
    const after = await waitFor('the alarm written', async () => {
      const p = (await scrape()).parsed;
      return value(p, 'loanet_alarm_store_effects_total') > effects0 ? p : undefined;
    });
    expect(value(after, 'loanet_alarm_store_writes_total')).toBeGreaterThan(0);
    expect(value(after, 'loanet_alarm_store_write_failures_total')).toBe(0);
    expect(value(after, 'loanet_alarm_store_dropped_effects_total')).toBe(0);
    expect(value(after, 'loanet_alarm_store_pending_effects')).toBeGreaterThanOrEqual(0);
    const listed = (await t.api('GET', '/api/alarms?kind=no_audio_output')).body as { alarms: { siteId: string }[] };
    expect(listed.alarms.map((a) => a.siteId)).toContain(s.siteId);
    // Playing again: the rest of this file sees the site as it was.
    await clients[2]!.publishAsync(siteTopic(s.siteId, 'telemetry'), JSON.stringify(healthyTelemetry(s.siteId, 11)), { qos: 1 });
  });

  it('counts sites by condition per commune and province as GET /api/coverage does', async () => {
    for (const area of [BAT_XAT, CAM_DUONG, undefined]) {
      // Read both until they agree on one instant's verdicts (a sweep may fall between the two reads).
      await waitFor(`metrics and coverage of ${area ?? 'the province'} to agree`, async () => {
        const cov = (await t.api('GET', `/api/coverage?limit=0${area ? `&area=${area}` : ''}`)).body;
        const p = (await scrape()).parsed;
        const code = cov.area.code as string;
        const counts = ['operational', 'degraded', 'faulty', 'offline', 'unverified'].map((c) => [c, value(p, 'loanet_sites', { area: code, condition: c })]);
        return JSON.stringify(counts) === JSON.stringify(counts.map(([c]) => [c, cov[c as string]])) ? true : undefined;
      });
    }
    const p = (await scrape()).parsed;
    expect(value(p, 'loanet_sites', { area: BAT_XAT })).toBe(3);
    expect(value(p, 'loanet_sites', { area: BAT_XAT, condition: 'unverified' })).toBe(1);
    expect(value(p, 'loanet_sites', { area: CAM_DUONG })).toBe(1);
    expect(p.samples.find((s) => s.name === 'loanet_sites' && s.labels.area === BAT_XAT)?.labels.level).toBe('commune');
  });

  it('is served to this machine only, unless a token is set', async () => {
    const far = await t.server.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9' });
    expect(far.statusCode).toBe(403);
    expect(far.body).not.toContain('loanet_');
    const near = await t.server.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' });
    expect(near.statusCode).toBe(200);
  });

  it('a TLS proxy on this machine that LOANET_TRUST_PROXY does not name does not make the internet local', async () => {
    for (const headers of [{ 'x-forwarded-for': '203.0.113.9' }, { forwarded: 'for=203.0.113.9;proto=https' }, { 'x-real-ip': '203.0.113.9' }]) {
      const proxied = await t.server.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1', headers });
      expect(proxied.statusCode, JSON.stringify(headers)).toBe(403);
      expect(proxied.body).toMatch(/LOANET_TRUST_PROXY/);
      expect(proxied.body).not.toContain('loanet_');
    }
  });
});

describe.skipIf(!haveTools('ffmpeg'))('alert dispatch in /metrics', () => {
  it('counts an alert started and in force, its deliveries by status, and the time to first sound a site reports', async () => {
    const dir = tempDir('loanet-metrics-alert-');
    const mediaId = await uploadTone(t, dir, { title: 'Còi thử', seconds: 2 });
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await t.api('POST', '/api/alerts', { areas: [BAT_XAT], message: { mediaId }, attention: null, repeats: 1, validForMinutes: 30, title: 'Lũ quét' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const alert = r.body.alert as { id: string; createdAt: number };
    const s = sites[0]!;
    // The site's first sound 3 s after the alert started: in the le="5" bucket, not le="2".
    const ev: AlertStatusEvent = {
      v: 1,
      siteId: s.siteId,
      type: 'alert_status',
      alertId: alert.id,
      revision: 1,
      status: 'playing',
      repeat: 0,
      firstSoundAt: alert.createdAt + 3000,
      at: alert.createdAt + 3000,
    };
    await clients[0]!.publishAsync(siteTopic(s.siteId, 'event'), JSON.stringify(ev), { qos: 1 });
    const p = await waitFor('the first sound counted', async () => {
      const x = (await scrape()).parsed;
      return value(x, 'loanet_alert_first_sound_seconds_count', { test: 'false' }) === 1 ? x : undefined;
    });
    expect(value(p, 'loanet_alert_first_sound_seconds_bucket', { test: 'false', le: '2' })).toBe(0);
    expect(value(p, 'loanet_alert_first_sound_seconds_bucket', { test: 'false', le: '5' })).toBe(1);
    expect(value(p, 'loanet_alert_first_sound_seconds_sum', { test: 'false' })).toBe(3);
    expect(value(p, 'loanet_alerts_started_total', { origin: 'api', test: 'false' })).toBe(1);
    expect(value(p, 'loanet_alerts_active')).toBe(1);
    expect(value(p, 'loanet_alert_deliveries', { status: 'playing' })).toBe(1);
    expect(value(p, 'loanet_alert_deliveries')).toBe(3);
    expect((await t.api('POST', `/api/alerts/${alert.id}/cancel`)).status).toBe(200);
    const after = (await scrape()).parsed;
    expect(value(after, 'loanet_alerts_active')).toBe(0);
    expect(value(after, 'loanet_alert_first_sound_seconds_count', { test: 'false' })).toBe(1);
  }, 60_000);
});

describe('request ids', () => {
  it('every answer names its request id; a safe one sent is kept, anything else replaced', async () => {
    const mine = await fetch(`${t.baseUrl}/api/health`, { headers: { 'x-request-id': 'lb-7f3a.42' } });
    expect(mine.headers.get('x-request-id')).toBe('lb-7f3a.42');
    const unsafe = await fetch(`${t.baseUrl}/api/health`, { headers: { 'x-request-id': 'a"b c' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
    const refused = await fetch(`${t.baseUrl}/api/sites`);
    expect(refused.status).toBe(401);
    const id = refused.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect((await fetch(`${t.baseUrl}/api/sites`)).headers.get('x-request-id')).not.toBe(id);
  });
});

describe('request ids in the server log', () => {
  it("what a request logs goes to the server's log (as main.ts sets it up: no access lines) with the request's id", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const dataDir = tempDir('loanet-metrics-log-');
    const config = loadConfig({
      LOANET_HTTP_PORT: '0',
      LOANET_MQTT_PORT: '0',
      LOANET_HTTP_HOST: '127.0.0.1',
      LOANET_MQTT_HOST: '127.0.0.1',
      LOANET_DATA_DIR: dataDir,
      LOANET_ADMIN_PASSWORD: 'test-admin-password',
      LOANET_SOUND_CHECK_INTERVAL_H: '0',
      LOANET_DISK_RESERVE_MB: '0',
      LOANET_BROKER_HOOK_SECRET: 'hook-secret-for-the-test',
    });
    const s = await startServer(config, { logger: pino({ level: 'info', base: undefined }, sink), httpLogger: false });
    try {
      // An EMQX authorization hook denied: the route logs a warning through the request's logger.
      const res = await s.app.inject({
        method: 'POST',
        url: '/api/broker/emqx/authz',
        headers: { 'x-loanet-hook-secret': 'hook-secret-for-the-test', 'x-request-id': 'emqx-req-77' },
        payload: { username: 'no-such-site', topic: 'loanet/v1/sites/x/state', action: 'publish' },
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toBe('emqx-req-77');
      const denied = await waitFor('the denial in the log', () => lines.find((l) => String(l.msg).startsWith('broker hook denied')));
      expect(denied.reqId).toBe('emqx-req-77');
      // No access line per request: 3,000 sites fetching media would drown the log.
      expect(lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
    } finally {
      await s.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

/**
 * The store taken from under a running server, and a function that gives it back. SQLite: its file moved away.
 * PostgreSQL (test:postgres): the folder's database refuses new connections and the server's are ended.
 */
function takeStoreAway(dataDir: string): () => void {
  const url = serverDatabaseUrl(dataDir);
  if (!url) {
    fs.renameSync(path.join(dataDir, 'loanet.db'), path.join(dataDir, 'loanet.db.moved'));
    return () => fs.renameSync(path.join(dataDir, 'loanet.db.moved'), path.join(dataDir, 'loanet.db'));
  }
  const name = new URL(url).pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const psql = (sql: string) => execFileSync('psql', ['--no-psqlrc', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', admin.toString(), '-c', sql], { encoding: 'utf8' });
  psql(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
  psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
  return () => psql(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
}

describe('/livez and /readyz', () => {
  it('both answer 200 on a running server, in plain words', async () => {
    const live = await fetch(`${t.baseUrl}/livez`);
    expect([live.status, await live.text()]).toEqual([200, 'ok\n']);
    const ready = await fetch(`${t.baseUrl}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ok\n']);
  });

  it('readyz says 503 "store" when the database is gone while livez stays 200; during a stop it says shutting_down', async () => {
    const s = await startTestServer();
    try {
      expect((await s.server.app.inject({ url: '/readyz' })).statusCode).toBe(200);
      const restore = takeStoreAway(s.dataDir);
      const ready = await s.server.app.inject({ url: '/readyz' });
      expect([ready.statusCode, ready.body]).toEqual([503, 'not ready: store\n']);
      expect((await s.server.app.inject({ url: '/livez' })).statusCode).toBe(200);
      const metrics = parseExposition((await s.server.app.inject({ url: '/metrics', remoteAddress: '127.0.0.1' })).body);
      expect(value(metrics, 'loanet_store_up')).toBe(0);
      expect(value(metrics, 'loanet_ready')).toBe(0);
      restore();

      const stopping = s.server.stop();
      const during = await s.server.app.inject({ url: '/readyz' });
      expect(during.statusCode).toBe(503);
      expect(during.body).toContain('shutting_down');
      await stopping;
    } finally {
      await s.stop().catch(() => undefined);
    }
  }, 60_000);
});
