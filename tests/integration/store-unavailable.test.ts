/**
 * A request the database cannot answer now is told to come back: 503
 * LOANET_UNAVAILABLE (reason store) with Retry-After, not 500 "internal
 * error", and the server answers again as soon as the database does.
 *
 * Real parts: the server on the machine's PostgreSQL (a database of its own),
 * a second connection of the test's that locks the table the request reads,
 * and pg_terminate_backend on the server's connection waiting on that lock:
 * a connection lost under a request, as a database restart or a failover
 * does it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/require-tool.ts';
import { testDatabaseUrl } from '../helpers/store.ts';
import { createTestDatabase } from '../helpers/suite-database.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const base = testDatabaseUrl();
const canRun = haveTools({
  name: 'PostgreSQL for a server whose database stops answering',
  install: 'apt-get install postgresql, then set LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
  present: () => base !== undefined || 'LOANET_TEST_DATABASE_URL is not set',
});

let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let url = '';
let t: TestServer;

beforeAll(async () => {
  if (!canRun) return;
  database = await createTestDatabase(base!, 'unavail');
  url = database.url;
  t = await startTestServer({ LOANET_DATABASE_URL: url });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await database?.drop();
});

describe.skipIf(!canRun)('a database that cannot answer now', () => {
  it('is answered 503 with Retry-After naming the database, and the next request is served again', async () => {
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
      const answer = fetch(`${t.baseUrl}/api/audit?limit=5`, { headers: { authorization: `Bearer ${t.token}` } });
      // The server's connection waits on the lock (every other connection to this database is the server's; its query text may
      // still be the previous one while it waits in the parse step): lose it under the request.
      const waiting = await waitFor(
        "the server's read waiting on the lock",
        async () => {
          const r = await locker.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
          );
          return r.rows.length > 0 ? r.rows.map((x) => x.pid) : undefined;
        },
        30_000,
        50,
      );
      for (const pid of waiting) await locker.query('SELECT pg_terminate_backend($1)', [pid]);
      const res = await answer;
      const body = (await res.json()) as { error: string; params: { reason: string }; message: string };
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(body).toMatchObject({ error: 'LOANET_UNAVAILABLE', params: { reason: 'store' } });
      expect(body.message).toContain('the database could not answer');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    // The pool opens another connection: served again, and the server stayed up.
    const again = await t.api('GET', '/api/audit?limit=5');
    expect(again.status).toBe(200);
    expect(Array.isArray(again.body.entries)).toBe(true);
  });
});
