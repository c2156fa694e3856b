/**
 * Leases on a real store, both dialects: several servers on one database (or,
 * by mistake, one SQLite data folder) do each kind of work on exactly one of
 * them; another takes over when the holder releases it or dies (a real
 * process killed with SIGKILL); a holder that lost its lease without knowing
 * cannot write under it; and on PostgreSQL a database that stops answering
 * makes the holder step down before its expiry, after which the other server
 * takes over.
 */
import { sql } from 'kysely';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseKeeper } from '../../server/cluster/lease-keeper.ts';
import { DEFAULT_LEASE_TIMINGS, LEASE_NAMES, type LeaseName, type LeaseTimings } from '../../server/cluster/lease-policy.ts';
import { instanceId, LeaseFenceError, LeaseStore } from '../../server/cluster/lease-store.ts';
import { LeasedWork } from '../../server/cluster/leased-work.ts';
import type { Logger } from '../../server/fleet/broker.ts';
import { openPostgresStore, openStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { ROOT, stopAllProcesses, stopProcess, tsNode } from '../helpers/process.ts';
import { openTestStore, storeDialects, testDatabaseUrl, type TestStore } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

/** Shorter than the defaults so a takeover after a death takes seconds, with a wide margin (a holder rides out 1.7 s stalls) for a loaded machine. */
const TIMINGS: LeaseTimings = { ttlMs: 4_000, renewEveryMs: 800, acquireEveryMs: 800, retryMs: 200, safetyMs: 1_500, roundTimeoutMs: 1_500, maxHungRounds: 2 };

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** A store round-counter wrapper: how many rounds a keeper has had answered. */
function counted(store: LeaseStore): LeaseStore & { rounds: number } {
  const c = Object.create(store) as LeaseStore & { rounds: number };
  c.rounds = 0;
  c.acquireOrRenew = async (names, ttl) => {
    const r = await store.acquireOrRenew(names, ttl);
    c.rounds++;
    return r;
  };
  return c;
}

/** Another server's connection to the same store: the same SQLite data folder, or the same PostgreSQL schema. */
async function sibling(main: TestStore, url?: string): Promise<Store> {
  if (main.dialect === 'sqlite') return openStore({ dataDir: main.where, databaseUrl: null });
  return openPostgresStore(url ?? testDatabaseUrl()!, { max: 3, searchPath: main.where });
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await stopAllProcesses();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function keeperOn(store: Store, names: readonly LeaseName[] = LEASE_NAMES, timings = TIMINGS) {
  const leases = counted(new LeaseStore(store.db, store.dialect, instanceId()));
  const keeper = new LeaseKeeper({ store: leases, names, log: quiet, timings });
  cleanups.push(() => keeper.stop());
  return { keeper, leases };
}

const ownsAll = (k: LeaseKeeper) => LEASE_NAMES.every((n) => k.owns(n));

const DIALECTS = storeDialects();

describe.each(DIALECTS)('leases on %s', (dialect: StoreDialect) => {
  async function twoServers(): Promise<[TestStore, Store]> {
    const a = await openTestStore(dialect);
    const b = await sibling(a);
    // b first: a's close drops the schema or the folder under it.
    cleanups.push(() => a.close());
    cleanups.push(() => b.close());
    return [a, b];
  }

  it('exactly one of two servers owns each lease; after a clean stop the other takes them all at its next try, and the work moves with them', async () => {
    const [sa, sb] = await twoServers();
    // The production timings: the handover here is by release, so the TTL costs no waiting, and a busy machine's stalls stay far inside it.
    const a = keeperOn(sa, LEASE_NAMES, DEFAULT_LEASE_TIMINGS);
    const b = keeperOn(sb, LEASE_NAMES, DEFAULT_LEASE_TIMINGS);
    const running = { a: false, b: false };
    let both = 0;
    const work = (me: 'a' | 'b', other: 'a' | 'b') => ({
      start: () => {
        if (running[other]) both++;
        running[me] = true;
      },
      stop: () => {
        running[me] = false;
      },
    });
    const wa = new LeasedWork(a.keeper, 'playlists', work('a', 'b'), quiet);
    const wb = new LeasedWork(b.keeper, 'playlists', work('b', 'a'), quiet);
    await wa.start();
    await wb.start();
    a.keeper.start();
    await waitFor('server A to own every lease', () => ownsAll(a.keeper), 30_000);
    b.keeper.start();
    // Several of B's rounds answered (refused) while A renews.
    const after = b.leases.rounds;
    await waitFor("three of server B's rounds", () => b.leases.rounds >= after + 3, 30_000);
    for (const n of LEASE_NAMES) expect([n, a.keeper.owns(n), b.keeper.owns(n)]).toEqual([n, true, false]);
    expect(running).toEqual({ a: true, b: false });

    const tokensBefore = new Map((await a.leases.list()).map((l) => [l.name, l.token]));
    const roundsAtStop = b.leases.rounds;
    await a.keeper.stop();
    expect(running.a).toBe(false);
    // Released: no holder, expired, so the next try takes it without waiting for the TTL.
    for (const l of await a.leases.list()) expect([l.name, l.holder, l.expiresAt]).toEqual([l.name, '', 0]);
    await waitFor('server B to own every lease', () => ownsAll(b.keeper), 30_000);
    expect(b.leases.rounds - roundsAtStop).toBeLessThanOrEqual(2);
    for (const l of await b.leases.list()) expect([l.name, l.holder, l.token]).toEqual([l.name, b.leases.holder, tokensBefore.get(l.name)! + 1]);
    await waitFor('the work to run on B', () => running.b, 10_000);
    expect(running.a).toBe(false);
    expect(both).toBe(0);
  }, 120_000);

  it('a holder killed with SIGKILL: the other server takes every lease once the expiry passes', async () => {
    const [sa, sb] = await twoServers();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-lease-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'holder.mts');
    const imp = (p: string) => JSON.stringify(path.join(ROOT, p));
    fs.writeFileSync(
      script,
      `
      import { openPostgresStore, openStore } from ${imp('server/store/database.ts')};
      import { LeaseStore, instanceId } from ${imp('server/cluster/lease-store.ts')};
      import { LeaseKeeper } from ${imp('server/cluster/lease-keeper.ts')};
      import { LEASE_NAMES } from ${imp('server/cluster/lease-policy.ts')};
      const [dialect, where, url, timings] = process.argv.slice(2);
      const store = dialect === 'sqlite' ? await openStore({ dataDir: where, databaseUrl: null }) : await openPostgresStore(url, { max: 2, searchPath: where });
      const log = { info() {}, warn() {}, error(o, m) { console.error(m, o); } };
      const keeper = new LeaseKeeper({ store: new LeaseStore(store.db, store.dialect, instanceId()), names: LEASE_NAMES, log, timings: JSON.parse(timings) });
      keeper.listen((e) => console.log(e.kind + ' ' + e.name + ' ' + e.token));
      keeper.start();
      setInterval(() => {}, 60_000);
      `,
    );
    const child = tsNode(script, dialect, sa.where, testDatabaseUrl() ?? '', JSON.stringify(TIMINGS));
    for (const n of LEASE_NAMES) await child.waitForLine(new RegExp(`^out: acquired ${n} \\d+$`), 60_000);
    const b = keeperOn(sb);
    b.keeper.start();
    await waitFor("two of server B's rounds", () => b.leases.rounds >= 2, 30_000);
    expect(LEASE_NAMES.filter((n) => b.keeper.owns(n))).toEqual([]);
    const held = await b.leases.list();

    const killedAt = performance.now();
    await stopProcess(child, 'SIGKILL');
    await waitFor('server B to own every lease after the holder died', () => ownsAll(b.keeper), 30_000, 20);
    const tookMs = performance.now() - killedAt;
    console.log(`${dialect}: leases taken over ${Math.round(tookMs)} ms after SIGKILL (TTL ${TIMINGS.ttlMs} ms, tries every ${TIMINGS.acquireEveryMs} ms)`);
    for (const l of await b.leases.list()) {
      const before = held.find((h) => h.name === l.name)!;
      expect([l.name, l.holder, l.token]).toEqual([l.name, b.leases.holder, before.token + 1]);
      // Taken only once the dead holder's expiry had passed, on the database's clock.
      expect(l.acquiredAt).toBeGreaterThan(before.expiresAt);
    }
  }, 120_000);

  it('fencing: a holder that lost its lease without knowing cannot write under it, and writes nothing', async () => {
    const [sa, sb] = await twoServers();
    const a = new LeaseStore(sa.db, sa.dialect, instanceId());
    const b = new LeaseStore(sb.db, sb.dialect, instanceId());
    const old = (await a.acquireOrRenew(['alerts'], 200)).get('alerts');
    expect(old).toBe(1);
    // A pauses past its TTL (a stalled process); B takes the lease.
    const token = await waitFor('server B to take the expired lease', async () => (await b.acquireOrRenew(['alerts'], 60_000)).get('alerts'), 30_000, 20);
    expect(token).toBe(2);

    const write = (store: Store, leases: LeaseStore, t: number, what: string) =>
      store.db.transaction().execute(async (trx) => {
        await leases.fenced(trx, { name: 'alerts', token: t });
        await trx.insertInto('audit_log').values({ at: Date.now(), user_id: null, username: null, action: what, target: null, detail: null }).execute();
      });
    await expect(write(sa, a, old!, 'stale holder')).rejects.toBeInstanceOf(LeaseFenceError);
    // Not even with the new token: it is B's.
    await expect(write(sa, a, token, 'stale holder, new token')).rejects.toBeInstanceOf(LeaseFenceError);
    await write(sb, b, token, 'holder');
    const rows = await sb.db.selectFrom('audit_log').select('action').execute();
    expect(rows.map((r) => r.action)).toEqual(['holder']);
    // A can no longer renew it either: refused, not granted.
    expect((await a.acquireOrRenew(['alerts'], 200)).has('alerts')).toBe(false);
  }, 60_000);
});

// PostgreSQL only: SQLite is one machine's file, and a lock held on it blocks its one process whole.
describe.skipIf(!DIALECTS.includes('postgres'))('leases on postgres: a takeover against a write in progress, an unreachable database', () => {
  it('a takeover waits for the holder’s fenced write in progress to commit, and the write is kept', async () => {
    const main = await openTestStore('postgres');
    cleanups.push(() => main.close());
    const sb = await sibling(main);
    cleanups.push(() => sb.close());
    const a = new LeaseStore(main.db, main.dialect, instanceId());
    const b = new LeaseStore(sb.db, sb.dialect, instanceId());
    const token = (await a.acquireOrRenew(['alerts'], 1_500)).get('alerts')!;
    let commit!: () => void;
    const committing = new Promise<void>((r) => (commit = r));
    let checked!: () => void;
    let holderPid = 0;
    const fenceChecked = new Promise<void>((r) => (checked = r));
    const write = main.db.transaction().execute(async (trx) => {
      await a.fenced(trx, { name: 'alerts', token });
      holderPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]!.pid;
      checked();
      await trx.insertInto('audit_log').values({ at: Date.now(), user_id: null, username: null, action: 'held write', target: null, detail: null }).execute();
      await committing;
    });
    await fenceChecked;
    // A's lease expires on the database's clock while its write is still open.
    await waitFor(
      "A's expiry to pass",
      async () =>
        (await sql<{ gone: boolean }>`SELECT expires_at < (floor(extract(epoch from clock_timestamp()) * 1000))::bigint AS gone FROM leases`.execute(sb.db)).rows[0]?.gone,
      30_000,
    );
    const takeover = b.acquireOrRenew(['alerts'], 60_000);
    await waitFor(
      "B's takeover to wait on the row A's write holds",
      async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${holderPid}::int = ANY(pg_blocking_pids(pid))`.execute(sb.db)).rows[0]!.n > 0,
      30_000,
    );
    commit();
    await write;
    expect((await takeover).get('alerts')).toBe(token + 1);
    expect((await sb.db.selectFrom('audit_log').select('action').execute()).map((r) => r.action)).toEqual(['held write']);
  }, 60_000);

  it('a database that stops answering the holder: it steps down before its expiry, and the other server takes over only after that', async () => {
    const main = await openTestStore('postgres');
    cleanups.push(() => main.close());
    const target = new URL(testDatabaseUrl()!);
    const proxy = await startPausableProxy(Number(target.port || 5432), target.hostname);
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const sa = await sibling(main, viaProxy.toString());
    const sb = await sibling(main);
    cleanups.push(() => sb.close());
    // Before the proxy closes: its hung connections answer once resumed, and the pool can end.
    cleanups.push(async () => {
      proxy.resume();
      await sa.close();
    });
    const a = keeperOn(sa, ['alerts']);
    const b = keeperOn(sb, ['alerts']);
    // First of all at the end: A's stop waits for its hung rounds and releases through the proxy.
    cleanups.push(async () => proxy.resume());
    const seen: string[] = [];
    let lostCheck: Promise<{ expiresAt: number; dbNow: number }> | undefined;
    a.keeper.listen((e) => {
      seen.push(`a ${e.kind}${e.kind === 'lost' ? ` ${e.reason}` : ''}`);
      if (e.kind === 'lost') {
        // What the database says right after A stepped down (a query that starts later can only see a later now).
        lostCheck = sql<{
          expires_at: number;
          now: number;
        }>`SELECT expires_at, (floor(extract(epoch from clock_timestamp()) * 1000))::bigint AS now FROM leases WHERE name = 'alerts'`
          .execute(sb.db)
          .then((r) => ({ expiresAt: r.rows[0]!.expires_at, dbNow: r.rows[0]!.now }));
      }
    });
    b.keeper.listen((e) => {
      seen.push(`b ${e.kind}`);
      if (e.kind === 'acquired') seen.push(`a owns when b acquires: ${a.keeper.owns('alerts')}`);
    });
    a.keeper.start();
    await waitFor('server A to own the alerts lease', () => a.keeper.owns('alerts'), 30_000);
    b.keeper.start();
    await waitFor("two of server B's rounds", () => b.leases.rounds >= 2, 30_000);
    expect(b.keeper.owns('alerts')).toBe(false);

    proxy.pause();
    await waitFor('server A to step down', () => !a.keeper.owns('alerts'), 30_000, 20);
    await waitFor('server B to take over', () => b.keeper.owns('alerts'), 30_000);
    const atLoss = await lostCheck!;
    expect(atLoss.dbNow).toBeLessThan(atLoss.expiresAt);
    expect(seen).toEqual(['a acquired', 'a lost expired', 'b acquired', 'a owns when b acquires: false']);
  }, 120_000);
});

/** A TCP relay to PostgreSQL that can stop forwarding without closing anything: the database, as the client sees it, stops answering. */
async function startPausableProxy(port: number, host: string) {
  let paused = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const forward = (from: net.Socket, to: net.Socket) =>
    from.on('data', (d: Buffer) => {
      const send = () => {
        if (!to.destroyed) to.write(d);
      };
      if (paused) held.push(send);
      else send();
    });
  const server = net.createServer((client) => {
    const up = net.connect(port, host);
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        up.destroy();
      });
    }
    forward(client, up);
    forward(up, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const send of held.splice(0)) send();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
