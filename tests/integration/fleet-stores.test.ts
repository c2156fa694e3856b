/**
 * The fleet's stores, the same on SQLite and on PostgreSQL: the as-run log
 * keeps one receipt per (site, entry) however many copies arrive together;
 * a command's status only moves forward, whatever order its result, its
 * expiry and its send come in; FleetState's statuses and events, written
 * behind its memory, read back after a restart in the order they happened,
 * and survive a store that refuses writes for a while; coverage history
 * snapshots read back per area.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type AsRunEvent, type CommandResultEvent } from '../../protocol/index.ts';
import { AsRunLog } from '../../server/asrun/log.ts';
import { DEFAULT_COVERAGE_POLICY } from '../../server/coverage/model.ts';
import { CoverageService } from '../../server/coverage/service.ts';
import type { BrokerLink } from '../../server/fleet/broker.ts';
import { type CommandRecord, CommandService } from '../../server/fleet/commands.ts';
import { FleetState, MAX_PENDING_EVENTS } from '../../server/fleet/fleet-state.ts';
import { SiteHistory } from '../../server/fleet/site-history.ts';
import type { Area } from '../../server/registry/areas.ts';
import type { Site } from '../../server/registry/sites.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = Date.UTC(2026, 11, 5, 2, 0);
const quiet = { info() {}, warn() {}, error() {} };

describe.each(storeDialects())('the fleet stores on %s', (dialect) => {
  let store: TestStore;
  let now: number;
  let areas: Area[];
  let sites: Site[];

  beforeEach(async () => {
    store = await openTestStore(dialect);
    now = T0;
    // Lào Cai, the commune of Bát Xát, one of its villages: a station in the commune, a cluster in the village.
    const area = async (code: string, name: string, level: Area['level'], parentId: number | null): Promise<Area> => {
      const { id } = await store.db
        .insertInto('areas')
        .values({ version: '2025', code, name, level, kind: null, parent_id: parentId, lat: null, lon: null, source: null, created_at: T0, updated_at: T0, retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      return {
        id,
        key: `2025.${code}`,
        code,
        version: '2025',
        name,
        level,
        parentId,
        kind: null,
        lat: null,
        lon: null,
        parentKey: null,
        source: null,
        createdAt: T0,
        updatedAt: T0,
        retiredAt: null,
      };
    };
    const province = await area('15', 'Lào Cai', 'province', null);
    const commune = await area('02647', 'Bát Xát', 'commune', province.id);
    const village = await area('0264701', 'Na Pên', 'village', commune.id);
    areas = [province, commune, village];
    const site = (id: string, name: string, kind: Site['kind'], a: Area): Site => ({
      id,
      name,
      kind,
      areaId: a.id,
      areaKey: a.key,
      lat: null,
      lon: null,
      profile: null,
      expectedDevices: [],
      monitorMic: false,
      createdAt: T0,
      updatedAt: T0,
      retiredAt: null,
    });
    sites = [site('st-batxat', 'Đài truyền thanh xã Bát Xát', 'station', commune), site('cl-napen', 'Cụm loa thôn Na Pên', 'cluster', village)];
    await store.db
      .insertInto('sites')
      .values(
        sites.map((s) => ({ id: s.id, name: s.name, kind: s.kind, area_id: s.areaId, lat: null, lon: null, profile: null, created_at: T0, updated_at: T0, retired_at: null })),
      )
      .execute();
  });
  afterEach(() => store.close());

  const heartbeat = (fleet: FleetState, siteId: string, seq: number) => {
    now += 30_000;
    fleet.applyTelemetry(siteId, { ...healthyTelemetry(siteId, seq), at: now });
  };

  describe('AsRunLog', () => {
    const receipt = (entryId: string, over: Partial<AsRunEvent> = {}): AsRunEvent => ({
      v: PROTOCOL_VERSION,
      siteId: 'cl-napen',
      at: T0 + 60_000,
      type: 'as_run',
      entryId,
      kind: 'bulletin',
      itemId: 'item-1',
      mediaId: 'media-1',
      scheduledAt: T0,
      outcome: 'played',
      startedAt: T0 + 5,
      endedAt: T0 + 60_000,
      frames: 3000,
      clockSynced: true,
      ...over,
    });

    it('stores a receipt once, however many copies arrive, and knows which one was new', async () => {
      const log = new AsRunLog(store.db, () => now);
      expect(await log.record('cl-napen', receipt('e1@1'))).toBe(true);
      now += 1000;
      expect(await log.record('cl-napen', receipt('e1@1', { outcome: 'late' }))).toBe(false);
      // Five copies at once (a retry storm after a reconnect): exactly one is new.
      const copies = await Promise.all(Array.from({ length: 5 }, () => log.record('cl-napen', receipt('e2@1'))));
      expect(copies.filter(Boolean)).toHaveLength(1);
      expect(log.stats()).toEqual({ stored: 2, duplicates: 5 });
      const listed = await log.list({ siteIds: ['cl-napen'], from: T0, to: T0 + 1 });
      expect(listed.map((r) => [r.entryId, r.outcome, r.receivedAt])).toEqual([
        ['e1@1', 'played', T0],
        ['e2@1', 'played', T0 + 1000],
      ]);
      expect(listed[0]).toMatchObject({ clockSynced: true, frames: 3000, startedAt: T0 + 5, reason: null, clockErrorMs: null });
    });

    it('lists by scheduled time then site, within the period and the item asked for', async () => {
      const log = new AsRunLog(store.db, () => now);
      await log.record('st-batxat', receipt('a@1', { siteId: 'st-batxat', scheduledAt: T0 + 10 }));
      await log.record('cl-napen', receipt('b@1', { scheduledAt: T0 + 10, clockSynced: undefined }));
      await log.record('cl-napen', receipt('c@1', { scheduledAt: T0, itemId: 'item-2', outcome: 'skipped', reason: 'preempted' }));
      await log.record('cl-napen', receipt('d@1', { scheduledAt: T0 + 20 }));
      const keys = (rs: Awaited<ReturnType<AsRunLog['list']>>) => rs.map((r) => `${r.siteId}/${r.entryId}`);
      expect(keys(await log.list({ siteIds: ['st-batxat', 'cl-napen'], from: T0, to: T0 + 20 }))).toEqual(['cl-napen/c@1', 'cl-napen/b@1', 'st-batxat/a@1']);
      expect(keys(await log.list({ siteIds: ['cl-napen'], from: T0, to: T0 + 100, itemId: 'item-2' }))).toEqual(['cl-napen/c@1']);
      expect(await log.list({ siteIds: [], from: T0, to: T0 + 100 })).toEqual([]);
      const [b] = await log.list({ siteIds: ['cl-napen'], from: T0 + 10, to: T0 + 11 });
      expect(b!.clockSynced).toBeNull();
    });
  });

  describe('CommandService', () => {
    let published: string[];
    let online: boolean;
    let commands: CommandService;
    let finished: CommandRecord[];
    const broker = { publish: async (topic: string) => void published.push(topic) } as unknown as BrokerLink;
    const result = (cmdId: string, ok: boolean, siteId = 'cl-napen'): CommandResultEvent => ({
      v: PROTOCOL_VERSION,
      siteId,
      at: now,
      type: 'cmd_result',
      cmdId,
      cmdType: 'set_volume',
      ok,
      ...(ok ? { result: { volume: 40 } } : { error: { code: 'device', message: 'amplifier did not answer' } }),
    });

    beforeEach(() => {
      published = [];
      online = false;
      finished = [];
      commands = new CommandService(
        store.db,
        broker,
        () => online,
        quiet,
        () => now,
      );
      commands.onFinished((c) => finished.push(c));
    });

    it('queues for an offline site, sends when it is back, and the first answer wins', async () => {
      const c = await commands.issue('cl-napen', 'set_volume', { level: 40 }, 600, 'ky-thuat');
      expect(c).toMatchObject({ status: 'queued', sentAt: null, createdBy: 'ky-thuat', params: { level: 40 } });
      expect(published).toEqual([]);
      expect((await commands.pendingFor('cl-napen')).map((x) => x.id)).toEqual([c.id]);
      online = true;
      now += 1000;
      await commands.flush('cl-napen');
      expect(published).toEqual(['loanet/v1/sites/cl-napen/cmd']);
      expect(await commands.get(c.id)).toMatchObject({ status: 'sent', sentAt: T0 + 1000 });
      const waiting = commands.waitFor(c.id, 60_000);
      now += 1000;
      await commands.complete('cl-napen', result(c.id, true));
      expect(await waiting).toMatchObject({ status: 'succeeded', completedAt: T0 + 2000, result: { volume: 40 } });
      // A repeat, or a late contrary answer, changes nothing and tells no one again.
      await commands.complete('cl-napen', result(c.id, false));
      expect(await commands.get(c.id)).toMatchObject({ status: 'succeeded', error: null });
      expect(finished.map((f) => f.status)).toEqual(['succeeded']);
      expect(await commands.pendingFor('cl-napen')).toEqual([]);
    });

    it('two contrary answers arriving together: exactly one is stored and told', async () => {
      online = true;
      const c = await commands.issue('cl-napen', 'set_volume', { level: 40 }, 600, null);
      await Promise.all([commands.complete('cl-napen', result(c.id, false)), commands.complete('cl-napen', result(c.id, true))]);
      expect(finished).toHaveLength(1);
      expect((await commands.get(c.id))!.status).toBe(finished[0]!.status);
    });

    it('expires what the site did not answer in time; a result after that is the truth, a later one is not', async () => {
      const c = await commands.issue('cl-napen', 'set_volume', { level: 40 }, 60, null);
      const keep = await commands.issue('st-batxat', 'set_volume', { level: 50 }, 600, null);
      now += 61_000;
      // Past its time to live it is no longer pending, even before it is marked.
      expect(await commands.pendingFor('cl-napen')).toEqual([]);
      expect(await Promise.all([commands.expire(), commands.expire()])).toEqual([1, 1]);
      expect(await commands.get(c.id)).toMatchObject({ status: 'expired', completedAt: T0 + 61_000, error: { code: 'expired' } });
      expect((await commands.get(keep.id))!.status).toBe('queued');
      expect(await commands.expire()).toBe(0);
      // The agent ran it after all (it de-duplicates by id) and says so: its answer is stored.
      await commands.complete('cl-napen', result(c.id, true));
      await commands.complete('cl-napen', result(c.id, false));
      expect((await commands.get(c.id))!.status).toBe('succeeded');
      expect(finished.map((f) => [f.id, f.status])).toEqual([
        [c.id, 'expired'],
        [c.id, 'succeeded'],
      ]);
    });

    it("ignores a result from another site or for an unknown command, and lists a site's newest first", async () => {
      const a = await commands.issue('cl-napen', 'set_volume', { level: 40 }, 600, null);
      now += 1;
      const b = await commands.issue('cl-napen', 'set_volume', { level: 60 }, 600, null);
      await commands.complete('st-batxat', result(a.id, true, 'st-batxat'));
      await commands.complete('cl-napen', result('c-none-such-00', true));
      expect((await commands.get(a.id))!.status).toBe('queued');
      expect((await commands.list('cl-napen')).map((x) => x.id)).toEqual([b.id, a.id]);
      expect(await commands.waitFor(a.id, 0)).toMatchObject({ status: 'queued' });
      await expect(commands.waitFor('c-none-such-00', 10)).rejects.toMatchObject({ statusCode: 404 });
    });
  });

  describe('FleetState and SiteHistory', () => {
    it("a restart reads back each site's status; its events read back in the order they happened", async () => {
      const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
      await fleet.load(sites);
      for (const s of sites) fleet.upsertSite(s);
      heartbeat(fleet, 'cl-napen', 1);
      heartbeat(fleet, 'st-batxat', 1);
      now += 1000;
      fleet.applyState('cl-napen', { v: PROTOCOL_VERSION, siteId: 'cl-napen', at: now, state: 'offline', reason: 'link lost' }, false);
      const offlineAt = now;
      expect(await fleet.flush()).toBe(2);
      await fleet.settled();
      expect(fleet.stats()).toMatchObject({ statusRows: 2, failures: 0, pendingEvents: 0 });

      const again = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
      await again.load(sites);
      for (const id of ['cl-napen', 'st-batxat']) {
        expect(again.observation(id)).toEqual(fleet.observation(id));
        expect(again.verdict(id)).toEqual(fleet.verdict(id));
      }
      expect(again.verdict('cl-napen')).toMatchObject({ condition: 'offline', since: offlineAt });

      const history = new SiteHistory(store.db);
      const events = await history.events('cl-napen', {});
      // Newest first: condition offline, disconnected, condition operational, condition unverified.
      expect(events.map((e) => [e.type, e.condition])).toEqual([
        ['condition', 'offline'],
        ['disconnected', null],
        ['condition', 'operational'],
        ['condition', 'unverified'],
      ]);
      expect(events[1]!.detail).toMatchObject({ reason: 'link lost' });
      expect((await history.events('cl-napen', { type: 'condition', limit: 1 })).map((e) => e.condition)).toEqual(['offline']);
      const { before, transitions } = await history.conditions('cl-napen', T0 + 1, now + 1);
      expect(before).toBe('unverified');
      expect(transitions).toEqual([
        { at: T0 + 30_000, condition: 'operational' },
        { at: offlineAt, condition: 'offline' },
      ]);
      expect(await history.conditions('cl-napen', T0 - 1, T0)).toEqual({ before: undefined, transitions: [] });
    });

    it('with two servers only the writer stores what the fleet derives; a standby that takes over writes every status and the events the last writer had not stored, none twice', async () => {
      const writes = { a: true, b: false };
      const a = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now, { writer: { mayWrite: () => writes.a, keepMs: 60_000 } });
      // The standby's clock runs a little ahead: it dates the same changes later than the writer did.
      const b = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now + 700, { writer: { mayWrite: () => writes.b, keepMs: 60_000 } });
      const both = async (hear: (f: FleetState) => void) => {
        for (const f of [a, b]) hear(f);
        for (const f of [a, b]) {
          await f.flush();
          await f.settled();
        }
      };
      const stored = async () =>
        (await store.db.selectFrom('site_events').select(['site_id', 'type', 'condition', 'detail']).orderBy('id').execute()).filter((e) => e.site_id === 'cl-napen');
      for (const f of [a, b]) {
        await f.load(sites);
        for (const s of sites) f.upsertSite(s);
      }
      // Both servers hear the same site: it comes up, then heartbeats.
      now += 30_000;
      await both((f) => f.applyTelemetry('cl-napen', { ...healthyTelemetry('cl-napen', 1), at: now }));
      const beforeDeath = await stored();
      expect(beforeDeath.map((e) => [e.type, e.condition])).toEqual([
        ['condition', 'unverified'],
        ['condition', 'operational'],
      ]);
      expect(b.stats()).toMatchObject({ statusRows: 0, eventRows: 0 });

      // The writer dies: what it heard from now on is never stored by it. A fault is heard meanwhile.
      writes.a = false;
      now += 1000;
      await both((f) => void f.applyEvent('cl-napen', { v: PROTOCOL_VERSION, siteId: 'cl-napen', at: now, type: 'fault', device: 'amp', fault: 'overheat' }));
      expect(await stored()).toEqual(beforeDeath);

      // The standby takes over: the fault is written once, the events the dead writer stored are not written again,
      // and every site's status is written from its memory.
      writes.b = true;
      now += 1000;
      await both((f) => f.applyState('cl-napen', { v: PROTOCOL_VERSION, siteId: 'cl-napen', at: now, state: 'offline', reason: 'link lost' }, false));
      const after = await stored();
      expect(after.slice(0, beforeDeath.length)).toEqual(beforeDeath);
      expect(after.slice(beforeDeath.length).map((e) => [e.type, e.condition])).toEqual([
        ['fault', null],
        ['disconnected', null],
        ['condition', 'offline'],
      ]);
      const status = await store.db.selectFrom('site_status').select(['site_id', 'condition', 'connected']).where('site_id', '=', 'cl-napen').executeTakeFirstOrThrow();
      expect(status).toMatchObject({ condition: 'offline', connected: 0 });
      expect(b.stats().statusRows).toBeGreaterThanOrEqual(sites.length);
    });

    it('a store that refuses writes for a while loses nothing: counted, told, kept in order and written when it works again', async () => {
      const failures: unknown[] = [];
      const errors: string[] = [];
      const log = { ...quiet, error: (_o: object | string, msg?: string) => void errors.push(msg ?? '') };
      const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now, { log, onWriteFailure: (e) => failures.push(e) });
      await fleet.load(sites);
      fleet.upsertSite(sites[1]!);
      await fleet.flush();
      // The store refuses every new row (as a full disk would), on both tables.
      await refuseWrites(store, true);
      heartbeat(fleet, 'cl-napen', 1);
      // Not awaited: its commit waits for a store that refuses writes; what this checks is what the fleet keeps meanwhile.
      void fleet.applyEvent('cl-napen', { v: PROTOCOL_VERSION, siteId: 'cl-napen', at: now, type: 'fault', device: 'amp', fault: 'overheat' });
      heartbeat(fleet, 'cl-napen', 2);
      await expect(fleet.flush()).rejects.toThrow();
      await fleet.settled();
      const failing = fleet.stats();
      expect(failing.failures).toBeGreaterThanOrEqual(2);
      expect(failing.pendingEvents).toBeGreaterThanOrEqual(2);
      expect(failing.lastError).not.toBeNull();
      expect(failures.length).toBe(failing.failures);
      // Logged once for the spell, not once per retry.
      await expect(fleet.flush()).rejects.toThrow();
      expect(errors).toHaveLength(1);
      // Memory went on: reads answer from it.
      expect(fleet.observation('cl-napen')!.telemetry!.seq).toBe(2);

      await refuseWrites(store, false);
      expect(await fleet.flush()).toBe(1);
      await fleet.settled();
      expect(fleet.stats()).toMatchObject({ pendingEvents: 0, eventsDropped: 0 });
      const events = await new SiteHistory(store.db).events('cl-napen', {});
      expect(events.map((e) => [e.type, e.condition])).toEqual([
        ['fault', null],
        ['condition', 'operational'],
        ['condition', 'unverified'],
      ]);
      expect(events[0]!.detail).toMatchObject({ device: 'amp', fault: 'overheat' });
      const again = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
      await again.load(sites);
      expect(again.observation('cl-napen')!.telemetry!.seq).toBe(2);
    });

    it('keeps at most MAX_PENDING_EVENTS while the store refuses them, dropping the oldest and counting them', async () => {
      const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
      await fleet.load(sites);
      fleet.upsertSite(sites[1]!);
      // Heard and operational: the faults below change no verdict, so they are the only events.
      heartbeat(fleet, 'cl-napen', 1);
      await fleet.flush();
      await refuseWrites(store, true);
      const fault = (i: number) => ({ v: PROTOCOL_VERSION, siteId: 'cl-napen', at: now, type: 'fault' as const, device: 'amp', fault: 'overheat' as const, detail: `#${i}` });
      for (let i = 0; i < MAX_PENDING_EVENTS + 10; i++) void fleet.applyEvent('cl-napen', fault(i));
      await fleet.settled();
      expect(fleet.stats()).toMatchObject({ pendingEvents: MAX_PENDING_EVENTS, eventsDropped: 10 });
      await refuseWrites(store, false);
      await fleet.flush();
      const rows = await store.db.selectFrom('site_events').select(['detail']).where('type', '=', 'fault').orderBy('id').execute();
      expect(rows).toHaveLength(MAX_PENDING_EVENTS);
      expect(JSON.parse(rows[0]!.detail!).detail).toBe('#10');
      expect(JSON.parse(rows.at(-1)!.detail!).detail).toBe(`#${MAX_PENDING_EVENTS + 9}`);
    }, 120_000);
  });

  describe('CoverageService history', () => {
    it('stores one row per area of commune level or higher per snapshot, read back per area in time order', async () => {
      const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
      await fleet.load(sites);
      const coverage = new CoverageService(store.db, { active: () => areas }, fleet, DEFAULT_COVERAGE_POLICY, '2025', () => now);
      expect(await coverage.snapshot()).toBe(2);
      heartbeat(fleet, 'cl-napen', 1);
      const second = now;
      expect(await coverage.snapshot()).toBe(2);
      // The same instant again (a frozen clock): the later snapshot stands.
      expect(await coverage.snapshot()).toBe(2);
      const { area, points } = await coverage.history('15', T0, now + 1);
      expect(area).toBe('2025.15');
      expect(points.map((p) => [p.at, p.sites, p.operational, p.unverified, p.villages, p.villagesCovered])).toEqual([
        [T0, 2, 0, 2, 1, 0],
        [second, 2, 1, 1, 1, 1],
      ]);
      expect((await coverage.history('02647', second, second + 1)).points).toHaveLength(1);
      expect((await coverage.history('15', second + 1, second + 2)).points).toEqual([]);
    });
  });
});

/** Makes the store refuse (or take again) every new site status and event, as a full disk would. */
async function refuseWrites(store: TestStore, refuse: boolean): Promise<void> {
  if (store.dialect === 'sqlite') {
    for (const table of ['site_events', 'site_status']) {
      if (refuse) {
        await sql`CREATE TRIGGER ${sql.raw(`refuse_${table}_insert`)} BEFORE INSERT ON ${sql.table(table)} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`.execute(
          store.db,
        );
        await sql`CREATE TRIGGER ${sql.raw(`refuse_${table}_update`)} BEFORE UPDATE ON ${sql.table(table)} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`.execute(
          store.db,
        );
      } else {
        await sql`DROP TRIGGER ${sql.raw(`refuse_${table}_insert`)}`.execute(store.db);
        await sql`DROP TRIGGER ${sql.raw(`refuse_${table}_update`)}`.execute(store.db);
      }
    }
    return;
  }
  if (refuse) {
    await sql`CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`.execute(
      store.db,
    );
    for (const table of ['site_events', 'site_status'])
      await sql`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION refuse_write()`.execute(store.db);
  } else {
    await sql`DROP FUNCTION refuse_write() CASCADE`.execute(store.db);
  }
}
