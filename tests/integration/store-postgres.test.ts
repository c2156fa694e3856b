/**
 * PostgreSQL as the store: what differs from SQLite and must hold all the
 * same — BIGINT times read back as numbers, several servers migrating one
 * database at once, a database newer than the code, a connection refused
 * without its password in the message, and a whole server on PostgreSQL:
 * a live stream on air, reported on, ended, and read back after a restart.
 */
import { sql } from 'kysely';
import pg from 'pg';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { StartupError } from '../../server/errors.ts';
import { openPostgresStore } from '../../server/store/database.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';
import { parseInt8 } from '../../server/store/postgres.ts';
import { POSTGRES_BASELINE_VERSION } from '../../server/store/postgres-baseline.ts';
import { admin, openTestStore, storeDialects, testDatabaseUrl } from '../helpers/store.ts';
import { importLaoCai2025, startTestServer, waitFor } from '../helpers/server.ts';
import { listenAsSite } from '../helpers/live.ts';
import { encodeJson, PROTOCOL_VERSION, siteTopic, type StreamStatsEvent } from '../../protocol/index.ts';

async function startupErrorOf(p: Promise<unknown>): Promise<StartupError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StartupError) return e;
    throw e;
  }
  throw new Error('expected a StartupError, but it started');
}

describe('BIGINT read as a number', () => {
  it('up to 2^53 exactly, and beyond it an error rather than a rounded number', () => {
    expect(parseInt8('1764979200000')).toBe(1764979200000);
    expect(parseInt8(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseInt8('-42')).toBe(-42);
    expect(() => parseInt8('9007199254740993')).toThrow(/2\^53/);
  });
});

describe('LOANET_DATABASE_URL', () => {
  it('must be a postgres:// URL, and a wrong one is not repeated (it may hold a password)', () => {
    expect(loadConfig({}).databaseUrl).toBeNull();
    expect(loadConfig({ LOANET_DATABASE_URL: 'postgres://u:pw@db:5432/loanet' }).databaseUrl).toBe('postgres://u:pw@db:5432/loanet');
    expect(loadConfig({ LOANET_DATABASE_URL: 'postgresql://db/loanet' }).databaseUrl).toBe('postgresql://db/loanet');
    for (const bad of ['mysql://u:hunter2hunter2@db/x', 'hunter2hunter2', 'postgres://']) {
      let err: unknown;
      try {
        loadConfig({ LOANET_DATABASE_URL: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StartupError);
      expect((err as StartupError).code).toBe('LOANET_CONFIG_INVALID');
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('a database that cannot be reached stops the start, naming it without its password', async () => {
    // Port 1 on this machine: nothing listens, the connection is refused at once.
    const e = await startupErrorOf(openPostgresStore('postgres://loanet:s3cret-pass@127.0.0.1:1/loanet', { max: 1 }));
    expect(e.code).toBe('LOANET_STORE_OPEN_FAILED');
    expect(e.message).toContain('127.0.0.1:1');
    expect(e.message).toContain('***');
    expect(e.message).not.toContain('s3cret-pass');
  });
});

describe.skipIf(!storeDialects().includes('postgres'))('PostgreSQL store', () => {
  const url = testDatabaseUrl()!;

  it('keeps epoch-ms times and ids as numbers', async () => {
    const store = await openTestStore('postgres');
    try {
      const at = 1_764_979_200_123;
      await store.db.insertInto('audit_log').values({ at, user_id: 7, username: 'a', action: 'x', target: null, detail: null }).execute();
      const row = await store.db.selectFrom('audit_log').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ at, user_id: 7 });
      expect(typeof row.id).toBe('number');
      const { n } = await store.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(n).toBe(1);
      await expect(sql`SELECT 9007199254740993::bigint AS v`.execute(store.db)).rejects.toThrow(/2\^53/);
      // The migration lifted the statement timeout for itself only: the pool's connections keep theirs.
      const shown = await Promise.all([1, 2, 3, 4].map(() => sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(store.db)));
      for (const r of shown) expect(r.rows[0]!.statement_timeout).toBe('30s');
    } finally {
      await store.close();
    }
  });

  it('several servers starting at once on one new database: one migrates, the others wait and find it done', async () => {
    const store = await openTestStore('postgres');
    try {
      // A new, empty schema for the race: the test store's tables and history dropped.
      await admin(url, `DROP SCHEMA ${store.where} CASCADE; CREATE SCHEMA ${store.where}`);
      const servers = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore(url, { max: 2, searchPath: store.where })));
      try {
        const rows = await store.db.selectFrom('schema_migrations').select(['version']).orderBy('version').execute();
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
        for (const s of servers) expect(await s.schemaVersion()).toBe(Math.max(POSTGRES_BASELINE_VERSION, ...MIGRATIONS.map((m) => m.version)));
      } finally {
        await Promise.all(servers.map((s) => s.close()));
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a database migrated by a newer loanet', async () => {
    const store = await openTestStore('postgres');
    try {
      await store.db.insertInto('schema_migrations').values({ version: 9999, name: 'from the future', applied_at: 0 }).execute();
      const e = await startupErrorOf(openPostgresStore(url, { max: 1, searchPath: store.where }));
      expect(e.code).toBe('LOANET_STORE_TOO_NEW');
    } finally {
      await store.close();
    }
  });

  it('a connection lost under a statement is closed, not handed to the next one: the statement right after it is served', async () => {
    // One connection in the pool, so a lost one put back would be the very one the next statement gets.
    const schema = await openTestStore('postgres');
    const store = await openPostgresStore(url, { max: 1, searchPath: schema.where });
    const locker = new pg.Client({ connectionString: url, options: `-c search_path=${schema.where}` });
    try {
      const before = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(store.db)).rows[0]!.pid;
      // The pool's statement waits on a lock the test holds, until its connection is terminated: no time involved.
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
      // The next statement goes out as soon as the lost one has failed, before the socket's end is read: as the next request of a busy server does.
      const next = sql`SELECT count(*) FROM audit_log`.execute(store.db).then(
        () => {
          throw new Error('the statement was answered, though its connection was terminated');
        },
        () => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(store.db),
      );
      await waitFor('the statement on the pool connection waiting on the lock', async () => {
        const r = await locker.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [before]);
        return r.rows[0]!.n === 1 || undefined;
      });
      await locker.query('SELECT pg_terminate_backend($1)', [before]);
      await locker.query('ROLLBACK');
      const after = await next;
      expect(after.rows[0]!.pid).not.toBe(before);
    } finally {
      await locker.end().catch(() => undefined);
      await store.close();
      await schema.close();
    }
  });

  it('a whole server runs on PostgreSQL: a live stream goes on air, a site reports, it ends, and after a restart its record and reports are read back', async () => {
    const store = await openTestStore('postgres');
    const sep = url.includes('?') ? '&' : '?';
    const t = await startTestServer({ LOANET_DATABASE_URL: `${url}${sep}options=${encodeURIComponent(`-c search_path=${store.where}`)}` });
    const sockets: WebSocket[] = [];
    try {
      const health = await t.api('GET', '/api/health');
      expect(health.body.store).toMatchObject({ kind: 'postgres', up: true, schemaVersion: await store.schemaVersion() });
      await importLaoCai2025(t);
      const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Tả Phìn', kind: 'cluster', area: '2025.02683' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const cred = r.body.credential as { siteId: string; secret: string };

      // A live voice from the console's WebSocket (the server fills what it does not send with silence).
      const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}/api/live/voice?areas=02683`, { headers: { authorization: `Bearer ${t.token}` } });
      sockets.push(ws);
      const msgs: Array<{ type: string; stream?: { id: number } }> = [];
      ws.on('message', (d, binary) => !binary && msgs.push(JSON.parse(d.toString())));
      ws.on('error', () => {});
      const id = (await waitFor('the stream started', () => msgs.find((m) => m.type === 'started'))).stream!.id;

      const site = await listenAsSite(t.mqttUrl, cred, ['2025.02683']);
      const ev: StreamStatsEvent = {
        v: PROTOCOL_VERSION,
        siteId: cred.siteId,
        at: Date.now(),
        type: 'stream_stats',
        streamId: id,
        received: 100,
        late: 1,
        lost: 5,
        concealed: 3,
        fecRecovered: 2,
        played: 295,
        bufferLevelMs: 180,
        marks: [],
        clockUncertaintyMs: 2,
        final: true,
      };
      await site.client.publishAsync(siteTopic(cred.siteId, 'event'), encodeJson(ev), { qos: 1 });
      await site.close();
      await waitFor('the report taken', async () => (await t.api('GET', `/api/live/streams/${id}`)).body.siteReports?.length === 1);
      const stop = await t.api('POST', `/api/live/streams/${id}/stop`);
      expect(stop.status, JSON.stringify(stop.body)).toBe(200);
      expect(stop.body).toMatchObject({ state: 'ended', endReason: 'operator' });

      // A new process on the same database: the stream is known only from the record.
      await t.restart();
      const past = await t.api('GET', `/api/live/streams/${id}`);
      expect(past.status, JSON.stringify(past.body)).toBe(200);
      expect(past.body).toMatchObject({ id, state: 'ended', endReason: 'operator', endedBy: 'admin', areas: ['2025.02683'] });
      expect(past.body.siteReports).toEqual([expect.objectContaining({ siteId: cred.siteId, received: 100, played: 295, final: true })]);
      expect((await t.api('GET', '/api/live/streams')).body.streams.map((s: { id: number }) => s.id)).toEqual([id]);
      const audited = await store.db.selectFrom('audit_log').select('action').where('target', '=', String(id)).orderBy('id').execute();
      expect(audited.map((a) => a.action)).toEqual(['live.start', 'live.stop']);
    } finally {
      for (const ws of sockets) ws.terminate();
      await t.stop();
      await store.close();
    }
  });
});
