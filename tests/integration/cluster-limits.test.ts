/**
 * Two servers on one PostgreSQL database, as behind a load balancer: what
 * used to be per server is shared.
 *
 * - The guessing limits (server/auth/guess-store.ts): a guesser alternating
 *   between the servers meets the per-address login limit and the
 *   per-address enrolment limit as on one server; parallel wrong passwords
 *   spread over both are tested no more often than the per-(user, address)
 *   limit, and the account is still open from another address.
 * - Work order changes (server/maintenance: the store's feed, the service's
 *   mirror): a change made on one server reaches a console whose event stream
 *   the other answers, exactly once; the server that made it tells its own
 *   consoles once too.
 *
 * Both servers in this process, each with its own embedded broker (no site
 * connects here), on one data folder as a deployment shares it; the proxy in
 * front is trusted so each test guesses from an address of its own
 * (X-Forwarded-For).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStream, type EventStream } from '../helpers/event-stream.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { testDatabaseUrl } from '../helpers/store.ts';
import { createTestDatabase } from '../helpers/suite-database.ts';

const canRun = haveTools({
  name: 'PostgreSQL for two servers on one database',
  install: 'apt-get install postgresql, then set LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
  present: () => testDatabaseUrl() !== undefined || 'LOANET_TEST_DATABASE_URL is not set',
});

const PER_ADDRESS = 6;
const PER_USER_ADDRESS = 5;
const ENROL_PER_ADDRESS = 4;

let dir: string;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let a: TestServer;
let b: TestServer;
const streams: EventStream[] = [];

interface Answer {
  status: number;
  body: { error?: string; limit?: string; max?: number };
  server: 'A' | 'B';
}

async function post(t: TestServer, url: string, body: unknown, from: string): Promise<Answer> {
  const r = await fetch(`${t.baseUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Answer['body'], server: t === a ? 'A' : 'B' };
}

const login = (t: TestServer, username: string, password: string, from: string) => post(t, '/api/auth/login', { username, password }, from);

describe.skipIf(!canRun)('two servers on one PostgreSQL database share the guessing limits and the work order changes', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-cluster-limits-');
    database = await createTestDatabase(testDatabaseUrl()!, 'limits');
    const env = {
      LOANET_DATABASE_URL: database.url,
      LOANET_TRUST_PROXY: 'loopback',
      LOANET_LOGIN_FAILURES_ADDRESS: String(PER_ADDRESS),
      LOANET_LOGIN_FAILURES_USER_ADDRESS: String(PER_USER_ADDRESS),
      LOANET_ENROL_FAILURES_ADDRESS: String(ENROL_PER_ADDRESS),
      LOANET_LEASE_TTL_MS: '3000',
    };
    a = await startTestServer(env, dir);
    await importLaoCai2025(a);
    b = await startTestServer(env, dir);
  }, 240_000);

  afterAll(async () => {
    for (const s of streams) s.close();
    await b?.stop().catch(() => undefined);
    await a?.stop().catch(() => undefined);
    await database?.drop().catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('one address guessing many accounts, alternating between the servers, is stopped at the per-address limit on both', async () => {
    const from = '198.51.100.1';
    const answers: Answer[] = [];
    for (let i = 0; i < PER_ADDRESS + 2; i++) answers.push(await login(i % 2 === 0 ? a : b, `user${i}`, 'sai-mat-khau-1234', from));
    expect(answers.slice(0, PER_ADDRESS).map((x) => x.status)).toEqual(Array(PER_ADDRESS).fill(401));
    for (const x of answers.slice(PER_ADDRESS))
      expect([x.server, x.status, x.body]).toEqual([x.server, 429, expect.objectContaining({ error: 'LOANET_RATE_LIMITED', limit: 'address', max: PER_ADDRESS })]);
  });

  it('parallel wrong passwords through both servers are tested no more often than the per-(user, address) limit; the account stays open elsewhere', async () => {
    const from = '198.51.100.2';
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(i % 2 === 0 ? a : b, 'admin', `sai-mat-khau-${i}`, from)));
    const tested = answers.filter((x) => x.status === 401);
    const refused = answers.filter((x) => x.status === 429);
    expect(tested).toHaveLength(PER_USER_ADDRESS);
    expect(refused).toHaveLength(30 - PER_USER_ADDRESS);
    expect(new Set(refused.map((x) => x.server))).toEqual(new Set(['A', 'B']));
    for (const x of refused) expect(x.body).toMatchObject({ error: 'LOANET_RATE_LIMITED', limit: 'user_address', max: PER_USER_ADDRESS });
    // The right password from that address waits as well, on either server; from another address it signs in.
    expect((await login(b, 'admin', ADMIN_PASSWORD, from)).status).toBe(429);
    expect((await login(a, 'admin', ADMIN_PASSWORD, from)).status).toBe(429);
    expect((await login(b, 'admin', ADMIN_PASSWORD, '198.51.100.3')).status).toBe(200);
  });

  it('enrolment codes guessed alternately through both servers meet the per-address limit on both', async () => {
    const from = '198.51.100.4';
    const answers: Answer[] = [];
    for (let i = 0; i < ENROL_PER_ADDRESS + 2; i++) answers.push(await post(i % 2 === 0 ? b : a, '/api/enrol', { code: `ABCD-EF${String(i).padStart(2, '0')}` }, from));
    expect(answers.slice(0, ENROL_PER_ADDRESS).map((x) => [x.status, x.body.error])).toEqual(Array(ENROL_PER_ADDRESS).fill([403, 'LOANET_ENROL_REFUSED']));
    for (const x of answers.slice(ENROL_PER_ADDRESS))
      expect([x.server, x.status, x.body]).toEqual([x.server, 429, expect.objectContaining({ error: 'LOANET_RATE_LIMITED', limit: 'address', max: ENROL_PER_ADDRESS })]);
  });

  it("a work order change made on one server reaches the other server's consoles exactly once, and its own once", async () => {
    const site = await a.api<{ site: { id: string } }>('POST', '/api/sites', { name: 'Cụm loa thôn Trung Hồ', kind: 'cluster', area: '02683' });
    expect(site.status).toBe(201);
    const siteId = site.body.site.id;
    // B's fleet knows the site once its registry watch read A's write; the order is made on A all the same.
    const onA = await openEventStream(a, a.token);
    const onB = await openEventStream(b, b.token);
    streams.push(onA, onB);

    const made = await a.api<{ id: number }>('POST', '/api/work-orders', { siteId, notes: 'bảo dưỡng định kỳ' });
    expect(made.status).toBe(201);
    const id = made.body.id;
    expect(await onB.next('work_order', (e) => e.orderId === id && e.action === 'create')).toMatchObject({ siteId, state: 'open', by: 'admin' });
    // A change made on B after it: A hears it from the feed, B at once; each stream then has the creation behind it.
    const recorded = await b.api('POST', `/api/work-orders/${id}/record`, { notes: 'đã kiểm tra loa' });
    expect(recorded.status).toBe(200);
    await onA.next('work_order', (e) => e.orderId === id && e.action === 'record');
    await onB.next('work_order', (e) => e.orderId === id && e.action === 'record');
    // And one more from A, so that B's view of the record from its own feed reads (it must skip it) has passed too.
    expect((await a.api('POST', `/api/work-orders/${id}/cancel`, { note: 'trùng lặp' })).status).toBe(200);
    await onB.next('work_order', (e) => e.orderId === id && e.action === 'cancel');
    await onA.next('work_order', (e) => e.orderId === id && e.action === 'cancel');
    await b.server.ctx.maintenance.mirror();
    await a.server.ctx.maintenance.mirror();
    const told = (s: EventStream) =>
      s.events.filter((e) => e.event === 'work_order' && e.data.orderId === id).map((e) => (e.event === 'work_order' ? `${e.data.action} ${e.data.state}` : ''));
    expect(told(onA)).toEqual(['create open', 'record open', 'cancel cancelled']);
    expect(told(onB)).toEqual(['create open', 'record open', 'cancel cancelled']);
  }, 120_000);
});
