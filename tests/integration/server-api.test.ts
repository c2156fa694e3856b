import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { importLaoCai2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import { StartupError } from '../../server/errors.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';
import { serversOnPostgres } from '../helpers/suite-database.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
});
afterAll(async () => t?.stop());

describe('HTTP API', () => {
  it('answers health to anyone with up or not only, and to a signed-in caller with versions and broker/store status', async () => {
    const anon = await t.api('GET', '/api/health', undefined, { token: null });
    expect(anon.status).toBe(200);
    // What runs where (versions, clients, refusals, disk) is not for whoever asks: an attacker learns nothing but "up".
    expect(Object.keys(anon.body).sort()).toEqual(['more', 'status']);
    expect(anon.body.status).toBe('ok');
    // A bad token is taken as none, not refused: a probe with a stale token still learns whether the server is up.
    const stale = await t.api('GET', '/api/health', undefined, { token: 'lnt_not-a-real-token-at-all-xxxxxxx' });
    expect(stale.status).toBe(200);
    expect(stale.body).not.toHaveProperty('versions');
    const r = await t.api('GET', '/api/health');
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
    expect(r.body.versions.protocol).toBe(1);
    expect(r.body.broker).toMatchObject({ kind: 'embedded', up: true });
    expect(r.body.store).toMatchObject({ kind: serversOnPostgres() ? 'postgres' : 'sqlite', up: true, schemaVersion: MIGRATIONS[MIGRATIONS.length - 1]!.version });
  });

  it('refuses every other route without a token, and with a bad token', async () => {
    for (const url of ['/api/areas', '/api/sites', '/api/coverage', '/api/fleet/messages', '/api/audit']) {
      expect((await t.api('GET', url, undefined, { token: null })).status, url).toBe(401);
      expect((await t.api('GET', url, undefined, { token: 'lnt_not-a-real-token-at-all-xxxxxxx' })).status, url).toBe(401);
    }
    expect((await t.api('POST', '/api/sites', { name: 'x', kind: 'station', area: '02683' }, { token: null })).status).toBe(401);
  });

  it('logs in with username and password and refuses a wrong password', async () => {
    const bad = await t.api('POST', '/api/auth/login', { username: 'admin', password: 'wrong-password' }, { token: null });
    expect(bad.status).toBe(401);
    const me = await t.api('GET', '/api/auth/me');
    expect(me.body).toMatchObject({ username: 'admin', role: 'admin' });
  });

  it('issues API tokens for scripts that work as bearer tokens', async () => {
    const r = await t.api('POST', '/api/auth/tokens', { name: 'nightly export' });
    expect(r.status).toBe(201);
    const me = await t.api('GET', '/api/auth/me', undefined, { token: r.body.token });
    expect(me.body).toMatchObject({ username: 'admin', tokenKind: 'api' });
  });

  it('imported the real Lào Cai 2025 list: one province, 99 communes, names with diacritics', async () => {
    const r = await t.api('GET', '/api/areas?version=2025&level=commune');
    expect(r.body.areas).toHaveLength(99);
    const laoCai = await t.api('GET', '/api/areas/2025.02647');
    expect(laoCai.body).toMatchObject({ name: 'Phường Lào Cai', level: 'commune', parent: '2025.15' });
    // importing again changes nothing
    const again = await t.api(
      'POST',
      '/api/areas/import?version=2025',
      fs.readFileSync(path.resolve(import.meta.dirname, '../../server/registry/vn-admin/lao-cai-2025.csv'), 'utf8'),
      { contentType: 'text/csv' },
    );
    expect(again.body).toMatchObject({ created: 0, updated: 0, unchanged: 100 });
  });

  it('keeps the 2020 and 2025 structures apart although codes were reused', async () => {
    await t.api('POST', '/api/areas/import?version=2020', fs.readFileSync(path.resolve(import.meta.dirname, '../../server/registry/vn-admin/lao-cai-2020.csv'), 'utf8'), {
      contentType: 'text/csv',
    });
    const old = await t.api('GET', '/api/areas/2020.02647');
    const now = await t.api('GET', '/api/areas/2025.02647');
    expect(old.body.name).toBe('Phường Kim Tân');
    expect(old.body.parent).toBe('2020.080');
    expect(now.body.name).toBe('Phường Lào Cai');
  });

  it('creates villages under a commune, refuses a village under a village, retires only empty areas', async () => {
    const v = await t.api('POST', '/api/areas', { code: '02683-01', name: 'Thôn Pho', level: 'village', kind: 'thôn', parent: '02683' });
    expect(v.status).toBe(201);
    const bad = await t.api('POST', '/api/areas', { code: '02683-99', name: 'X', level: 'village', parent: '2025.02683-01' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/village cannot be inside a village/);
    const busy = await t.api('DELETE', '/api/areas/02683');
    expect(busy.status).toBe(409);
    const retire = await t.api('DELETE', '/api/areas/02683-01');
    expect(retire.status).toBe(200);
    expect(retire.body.retiredAt).toBeGreaterThan(0);
  });

  it('answers 400 naming the field for bad input, and stores nothing', async () => {
    const before = (await t.api('GET', '/api/sites')).body.total;
    const cases: Array<[unknown, RegExp]> = [
      [{ kind: 'station', area: '02683' }, /name/],
      [{ name: 'Đài', kind: 'tower', area: '02683' }, /kind/],
      [{ name: 'Đài', kind: 'station', area: '02683', lat: 123 }, /lat/],
      [{ name: 'Đài', kind: 'station', area: '02683', colour: 'red' }, /colour/],
      [{ name: 'Đài', kind: 'station', area: '02683', id: 'Bad Id!' }, /id/],
      [{ name: 5, kind: 'station', area: '02683' }, /name/],
    ];
    for (const [body, field] of cases) {
      const r = await t.api('POST', '/api/sites', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.field ?? r.body.message, JSON.stringify(body)).toMatch(field);
    }
    const malformed = await t.api('POST', '/api/sites', '{"name": ', { contentType: 'application/json' });
    expect(malformed.status).toBe(400);
    const unknownArea = await t.api('POST', '/api/sites', { name: 'Đài', kind: 'station', area: '99999' });
    expect(unknownArea.status).toBe(404);
    const badCsv = await t.api('POST', '/api/areas/import?version=2025', 'a,b\n1,2\n', { contentType: 'text/csv' });
    expect(badCsv.status).toBe(400);
    expect(badCsv.body.message).toMatch(/unrecognised header/);
    expect((await t.api('GET', '/api/sites')).body.total).toBe(before);
  });

  it('registers a site with a credential shown once and stored only as a scrypt hash', async () => {
    const r = await t.api('POST', '/api/sites', { name: 'Đài truyền thanh xã Bát Xát', kind: 'station', area: '02683' });
    expect(r.status).toBe(201);
    const { secret, siteId } = r.body.credential;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const get = await t.api('GET', `/api/sites/${siteId}`);
    expect(JSON.stringify(get.body)).not.toContain(secret);
    const row = await t.server.ctx.store.db.selectFrom('site_credentials').select('secret_hash').where('site_id', '=', siteId).executeTakeFirstOrThrow();
    expect(row.secret_hash).toMatch(/^scrypt\$/);
    expect(row.secret_hash).not.toContain(secret);
  });

  it('serves the OpenAPI description at /docs', async () => {
    const r = await t.api('GET', '/docs/json', undefined, { token: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(Object.keys(r.body.paths)).toEqual(expect.arrayContaining(['/api/health', '/api/coverage', '/api/sites', '/api/auth/login']));
  });

  it('records every change in the audit log', async () => {
    const r = await t.api('GET', '/api/audit?action=site.create');
    expect(r.body.entries.length).toBeGreaterThan(0);
    expect(r.body.entries[0]).toMatchObject({ username: 'admin', action: 'site.create' });
  });
});

describe('start-up errors', () => {
  it('names the variable for an invalid value', () => {
    expect(() => loadConfig({ LOANET_HTTP_PORT: 'eighty' })).toThrow(/LOANET_HTTP_PORT="eighty" is not a whole number; set LOANET_HTTP_PORT/);
    expect(() => loadConfig({ LOANET_MQTT_PORT: '70000' })).toThrow(/set LOANET_MQTT_PORT to a number from 0 to 65535/);
    expect(() => loadConfig({ LOANET_SOUND_CHECK_QUIET_HOURS: 'night' })).toThrow(/LOANET_SOUND_CHECK_QUIET_HOURS/);
  });

  it('stops with one line when the MQTT port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const config = loadConfig({
      LOANET_DATA_DIR: tempDir(),
      LOANET_MQTT_PORT: String(port),
      LOANET_MQTT_HOST: '127.0.0.1',
      LOANET_HTTP_PORT: '0',
      LOANET_ADMIN_PASSWORD: 'river-bend-4417',
    });
    await expect(startServer(config)).rejects.toThrow(new StartupError('LOANET_MQTT_PORT_IN_USE', `MQTT port ${port} is in use; set LOANET_MQTT_PORT to a free port`));
    const http = loadConfig({
      LOANET_DATA_DIR: tempDir(),
      LOANET_MQTT_PORT: '0',
      LOANET_HTTP_PORT: String(port),
      LOANET_HTTP_HOST: '127.0.0.1',
      LOANET_ADMIN_PASSWORD: 'river-bend-4417',
    });
    await expect(startServer(http)).rejects.toThrow(/HTTP port \d+ is in use; set LOANET_HTTP_PORT/);
    blocker.close();
  });

  it('stops with one line when the data folder is not writable', async () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    const config = loadConfig({ LOANET_DATA_DIR: path.join(file, 'sub'), LOANET_MQTT_PORT: '0', LOANET_HTTP_PORT: '0' });
    await expect(startServer(config)).rejects.toThrow(/data folder .*set LOANET_DATA_DIR/);
  });
});
