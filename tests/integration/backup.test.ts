/**
 * `npm run backup`: an online copy of the SQLite store taken while the server
 * runs, sites heartbeat and bulletins are being scheduled. The copy must be
 * whole (PRAGMA integrity_check), private, and a server started on it must
 * have what was stored before the backup began (docs/operations.md, "Backup
 * and restore": stop, put the file in place, start).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteTopic } from '../../protocol/index.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { stopAllProcesses, tsNode } from '../helpers/process.ts';
import { serverDatabaseUrl, serversOnPostgres, sqliteOnly } from '../helpers/suite-database.ts';

const run = promisify(execFile);

const canRun = haveTools('ffmpeg');
const H = 3_600_000;

let t: TestServer;
let restored: TestServer | undefined;
let mediaId = '';
const sites: Array<{ siteId: string; secret: string }> = [];
const clients: MqttClient[] = [];
const dir = tempDir('loanet-backup-');

const beat = (siteId: string, seq: number) => JSON.stringify(healthyTelemetry(siteId, seq));

const item = (title: string) => ({ title, mediaId, targets: { areas: ['02683'] }, start: { at: Date.now() + 2 * H } });

beforeAll(async () => {
  if (!canRun) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin sáng', seconds: 2 });
  for (const name of ['Cụm loa thôn Bản Vược', 'Cụm loa thôn Tân Bảo']) {
    const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area: '02683', monitorMic: false });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const s = r.body.credential as { siteId: string; secret: string };
    sites.push(s);
    clients.push(await mqtt.connectAsync(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0 }));
  }
}, 120_000);

afterAll(async () => {
  await stopAllProcesses();
  for (const c of clients) await c.endAsync().catch(() => undefined);
  await restored?.stop();
  await t?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(
  !canRun || sqliteOnly('SQLite online backup (scripts/backup.ts copies loanet.db); a PostgreSQL store is backed up with pg_dump, not built yet (docs/operations.md)'),
)('online backup of the SQLite store', () => {
  it('taken while sites heartbeat and bulletins are scheduled, is whole, private, and a server started on it has the data', async () => {
    const before = await t.api('POST', '/api/schedule/items', item('Bản tin trước khi sao lưu'));
    expect(before.status, JSON.stringify(before.body)).toBe(201);
    // Sites' statuses are written every second: wait for one write, so the backup has them too.
    await clients[0]!.publishAsync(siteTopic(sites[0]!.siteId, 'telemetry'), beat(sites[0]!.siteId, 0), { qos: 1 });
    await waitFor('the site status written', () =>
      t.server.ctx.store.sqlite!.prepare('SELECT 1 AS x FROM site_status WHERE site_id = ? AND telemetry IS NOT NULL').get(sites[0]!.siteId),
    );

    const out = path.join(dir, 'loanet-backup.db');
    const backup = tsNode('scripts/backup.ts', '--out', out, '--data', t.dataDir);
    let done = false;
    // The server keeps writing while the backup runs: heartbeats (statuses, batched every second) and new bulletins.
    const busy = (async () => {
      let seq = 1;
      let n = 0;
      while (!done) {
        for (const [i, s] of sites.entries()) await clients[i]!.publishAsync(siteTopic(s.siteId, 'telemetry'), beat(s.siteId, seq), { qos: 1 });
        const r = await t.api('POST', '/api/schedule/items', item(`Bản tin trong lúc sao lưu ${n++}`));
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        seq++;
      }
      return n;
    })();
    const exit = await backup.exited;
    done = true;
    const during = await busy;
    expect(exit.code, backup.text()).toBe(0);
    expect(backup.text()).toMatch(/integrity ok/);
    expect(during).toBeGreaterThan(0);

    // Private (it holds password, token and site-secret hashes), one file (no WAL beside it), whole.
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const db = new Database(out, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      const ids = (db.prepare('SELECT id FROM sites').all() as Array<{ id: string }>).map((r) => r.id).sort();
      expect(ids).toEqual(sites.map((s) => s.siteId).sort());
    } finally {
      db.close();
    }
    // A backup never overwrites.
    const again = tsNode('scripts/backup.ts', '--out', out, '--data', t.dataDir);
    expect((await again.exited).code).toBe(1);
    expect(again.text()).toMatch(/exists; give a new file name/);

    // Restore: a data folder with the backup as its loanet.db, a server started on it.
    const restoreDir = tempDir('loanet-restored-');
    fs.copyFileSync(out, path.join(restoreDir, 'loanet.db'));
    restored = await startTestServer({}, restoreDir);
    const listed = await restored.api('GET', '/api/sites');
    expect(listed.status).toBe(200);
    expect((listed.body.sites ?? listed.body).map((s: { id: string }) => s.id).sort()).toEqual(sites.map((s) => s.siteId).sort());
    const items = await restored.api('GET', '/api/schedule/items?area=02683');
    expect(items.status, JSON.stringify(items.body)).toBe(200);
    expect(items.body.items.map((i: { title: string }) => i.title)).toContain('Bản tin trước khi sao lưu');
    const status = await restored.api('GET', `/api/sites/${sites[0]!.siteId}`);
    expect(status.body.status?.telemetry?.siteId).toBe(sites[0]!.siteId);
  }, 120_000);
});

/**
 * The PostgreSQL store's backup (docs/operations.md: pg_dump, not a script of loanet's): a custom-format
 * pg_dump taken while the server writes is one snapshot, and a server started on a new database it was
 * restored into (pg_restore --no-owner) has what was stored before the dump began.
 */
describe.skipIf(!canRun || !serversOnPostgres())('pg_dump of the PostgreSQL store', () => {
  it('taken while sites heartbeat and bulletins are scheduled, restores into a database a server starts on with the data', async () => {
    const url = serverDatabaseUrl(t.dataDir)!;
    const before = await t.api('POST', '/api/schedule/items', item('Bản tin trước pg_dump'));
    expect(before.status, JSON.stringify(before.body)).toBe(201);
    await clients[0]!.publishAsync(siteTopic(sites[0]!.siteId, 'telemetry'), beat(sites[0]!.siteId, 0), { qos: 1 });
    await waitFor('the site status written', () =>
      t.server.ctx.store.db.selectFrom('site_status').select('site_id').where('site_id', '=', sites[0]!.siteId).where('telemetry', 'is not', null).executeTakeFirst(),
    );

    const out = path.join(dir, 'loanet.pgdump');
    let done = false;
    const busy = (async () => {
      let seq = 1;
      let n = 0;
      while (!done) {
        for (const [i, s] of sites.entries()) await clients[i]!.publishAsync(siteTopic(s.siteId, 'telemetry'), beat(s.siteId, seq), { qos: 1 });
        const r = await t.api('POST', '/api/schedule/items', item(`Bản tin trong lúc pg_dump ${n++}`));
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        seq++;
      }
      return n;
    })();
    try {
      await run('pg_dump', ['--format=custom', '--file', out, '--dbname', url]);
    } finally {
      done = true;
    }
    await busy;
    expect(fs.statSync(out).size).toBeGreaterThan(0);

    // Restore: a new data folder, its (empty) database filled by pg_restore, a server started on both.
    const restoreDir = tempDir('loanet-pg-restored-');
    await run('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', serverDatabaseUrl(restoreDir)!, out]);
    restored = await startTestServer({}, restoreDir);
    const listed = await restored.api('GET', '/api/sites');
    expect(listed.status).toBe(200);
    expect((listed.body.sites ?? listed.body).map((s: { id: string }) => s.id).sort()).toEqual(sites.map((s) => s.siteId).sort());
    const items = await restored.api('GET', '/api/schedule/items?area=02683');
    expect(items.status, JSON.stringify(items.body)).toBe(200);
    expect(items.body.items.map((i: { title: string }) => i.title)).toContain('Bản tin trước pg_dump');
    const status = await restored.api('GET', `/api/sites/${sites[0]!.siteId}`);
    expect(status.body.status?.telemetry?.siteId).toBe(sites[0]!.siteId);
  }, 120_000);
});
