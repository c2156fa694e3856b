/**
 * The database server's own disk full, for real: a PostgreSQL of this test's
 * own (tests/helpers/private-postgres.ts) keeps its files on a tmpfs the test
 * mounts and fills with a file until the kernel answers ENOSPC. The server's
 * data folder is elsewhere, with its reserve. What must hold
 * (docs/reliability.md, "A full disk"):
 * - a change answers 507 LOANET_DATABASE_DISK_FULL at once, naming the
 *   database server's disk, not the data folder's, whose reserve is kept;
 *   nothing of the change is stored, nothing stored before is lost;
 * - every receipt the server acknowledged is stored, and one the database
 *   could not take is not acknowledged; sent again once space returns, each
 *   is stored and acknowledged, once;
 * - health says degraded, naming the database server's disk;
 * - the server stays up, and once space returns the same change is accepted,
 *   without restarting the server or the database.
 * Needs root (mount, and the database's binaries run as "postgres"); CI runs
 * as root. The store under test is this PostgreSQL in both passes of the suite.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventAckKey } from '../../protocol/index.ts';
import { type Cluster, fillDisk, HANG_MS, listen, mountTmpfs, receipt, report, TMPFS, timed, unmount } from '../helpers/full-disk.ts';
import { postgresBin, type PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { importLaoCai2025, LAO_CAI_2025, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const run = haveTools(TMPFS, {
  name: 'PostgreSQL binaries (initdb, pg_ctl) for a database on a disk the test fills',
  install: 'apt-get install postgresql',
  present: () => postgresBin() !== undefined || 'no /usr/lib/postgresql/*/bin/initdb',
});

/** Room for initdb's files, one 16 MB WAL segment after another, and the province's areas. */
const TMPFS_MB = 192;
const RECEIPTS = 300;

describe.skipIf(!run)("the database server's disk full (a private PostgreSQL on a tmpfs the test fills)", () => {
  let dir: string;
  let db: PrivatePostgres;
  let sql: pg.Client;
  let t: TestServer;
  let site: { siteId: string; secret: string };
  let cluster: Cluster;

  beforeAll(async () => {
    const m = mountTmpfs(TMPFS_MB);
    if (!('dir' in m)) throw new Error(`cannot mount a tmpfs: ${m.why}`);
    dir = m.dir;
    fs.chmodSync(dir, 0o755); // the database runs as "postgres"
    db = await startPrivatePostgres({ under: dir });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // The data folder keeps a reserve of its own: the database's full disk must not make the server give it up.
    t = await startTestServer({ LOANET_DATABASE_URL: db.url, LOANET_DISK_RESERVE_MB: '1' });
    await importLaoCai2025(t);
    const s = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vược', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    site = s.body.credential;
    cluster = await listen(t, site, []);
  }, 120_000);

  afterAll(async () => {
    await cluster?.client.endAsync().catch(() => undefined);
    await t?.stop();
    await sql?.end().catch(() => undefined);
    await db?.destroy();
    if (dir) unmount(dir);
  });

  const count = async (table: 'areas' | 'as_run', where = 'true') => Number((await sql.query(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)).rows[0].n);

  it('a change answers 507 naming the database server’s disk; receipts are acknowledged only when stored; once space returns everything is accepted, without a restart', async () => {
    const areasBefore = await count('areas');
    // A fresh WAL segment, and the old ones recycled: the writes below find their WAL room already made, so what
    // fails is a table or an index that must grow (53100), not a new WAL file (which PostgreSQL meets with a PANIC).
    await sql.query('SELECT pg_switch_wal()');
    await sql.query('CHECKPOINT');
    const fill = path.join(dir, 'fill');
    fillDisk(fill);

    // The province's areas again under another structure version: one transaction of ~180 new rows, which cannot fit.
    const csv = fs.readFileSync(LAO_CAI_2025, 'utf8');
    const refused = await timed(() => t.api('POST', '/api/areas/import?version=2099', csv, { contentType: 'text/csv' }));
    expect(refused.r.status, JSON.stringify(refused.r.body)).toBe(507);
    expect(refused.r.body).toMatchObject({ error: 'LOANET_DATABASE_DISK_FULL', field: 'database' });
    expect(refused.r.body.message).toMatch(/database server's disk is full/);
    console.log(`[postgres-disk-full] area import refused (the database's disk full) in ${refused.ms.toFixed(0)} ms`);
    expect(refused.ms).toBeLessThan(HANG_MS);
    expect(await count('areas')).toBe(areasBefore);
    // Health names the database server's disk (reads still work there, so the store is up). The data folder's disk
    // is not the full one: its reserve is kept, and it is not said to be full.
    const health = await t.api('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.store).toMatchObject({ kind: 'postgres', up: true, diskFullAt: expect.any(Number) });
    expect(health.body.store.problem).toMatch(/database server's disk is full/);
    expect(health.body.disk).toMatchObject({ state: 'ok', lastFullAt: null, reserve: { inUse: false } });

    // Receipts: what is acknowledged is stored; what the full database refused is not acknowledged.
    const at = Date.now();
    const receipts = Array.from({ length: RECEIPTS }, (_, i) => receipt(site.siteId, i, at));
    const keys = receipts.map((r) => eventAckKey(r)!);
    const failedBefore = t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0;
    const failed = () => (t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0) - failedBefore;
    await report(cluster, site.siteId, receipts);
    await waitFor('every receipt stored and acknowledged, or refused by the full database', () => keys.filter((k) => cluster.acked.has(k)).length + failed() === RECEIPTS);
    const ackedWhileFull = keys.filter((k) => cluster.acked.has(k));
    console.log(`[postgres-disk-full] on the full disk: ${ackedWhileFull.length} of ${RECEIPTS} receipts stored and acknowledged, ${failed()} refused and not acknowledged`);
    expect(failed(), `${ackedWhileFull.length} of ${RECEIPTS} acknowledged on a full disk`).toBeGreaterThan(0);
    const stored = await t.server.ctx.asRun.list({ siteIds: [site.siteId], from: at - 120_000, to: at + RECEIPTS * 1000 });
    expect(stored.map((r) => r.entryId).sort()).toEqual(
      receipts
        .filter((r) => cluster.acked.has(eventAckKey(r)!))
        .map((r) => r.entryId)
        .sort(),
    );
    expect(cluster.refused.size).toBe(0);

    // Space returns: no restart of the server or the database.
    fs.rmSync(fill);
    await report(cluster, site.siteId, receipts);
    await waitFor('every receipt acknowledged once space returned', () => keys.every((k) => cluster.acked.has(k)));
    expect(await count('as_run', `site_id = '${site.siteId}'`)).toBe(RECEIPTS);
    const again = await t.api('POST', '/api/areas/import?version=2099', csv, { contentType: 'text/csv' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.created).toBe(areasBefore);
    expect(await count('areas')).toBe(2 * areasBefore);
    expect((await t.api('GET', '/api/health')).body.store).toMatchObject({ kind: 'postgres', up: true });
  }, 120_000);
});
