/**
 * One-time enrolment codes over the store (server/enrolment/service.ts with
 * the real site registry), the same on SQLite and on PostgreSQL: a code is
 * traded once for the site's credential, a newer code replaces it, an old or
 * unknown one is refused with its reason; and of two boards trading one code
 * at the same instant exactly one gets a credential, in either dialect (on
 * PostgreSQL the two transactions really run at once, on two connections).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit.ts';
import { EnrolLimiter } from '../../server/enrolment/limiter.ts';
import { GuessStore } from '../../server/auth/guess-store.ts';
import { EnrolmentService } from '../../server/enrolment/service.ts';
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository } from '../../server/registry/sites.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const HOUR = 3_600_000;
const ADMIN = { id: 1, username: 'admin' };

describe.each(storeDialects())('enrolment codes on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  let sites: SiteRepository;
  let audit: AuditLog;
  let service: EnrolmentService;
  let siteId: string;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1_764_979_200_000;
    const now = () => clock;
    const areas = new AreaRepository(store.db, now);
    await areas.load();
    await areas.create({ version: '2025', code: '15', name: 'Tỉnh Lào Cai', level: 'province' });
    const area = await areas.create({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', parentKey: '2025.15' });
    sites = new SiteRepository(store.db, areas, () => '2025', now);
    siteId = (await sites.create({ name: 'Cụm loa thôn Trung Hồ', kind: 'cluster', areaKey: area.key })).site.id;
    audit = new AuditLog(store.db, now);
    service = new EnrolmentService({
      db: store.db,
      sites,
      audit,
      now,
      key: Buffer.alloc(32, 7),
      ttlMs: 24 * HOUR,
      limiter: new EnrolLimiter(new GuessStore(store.db, store.dialect)),
    });
  });
  afterEach(() => store.close());

  const liveCredentials = async () =>
    (
      await store.db
        .selectFrom('site_credentials')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('site_id', '=', siteId)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow()
    ).n;

  it('trades a code once for a credential that works, and says so on the site', async () => {
    const made = await service.create(siteId, ADMIN);
    expect(made).toMatchObject({ siteId, createdAt: clock, expiresAt: clock + 24 * HOUR });
    expect(made.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(await service.status(siteId)).toEqual({
      pending: { createdAt: clock, createdBy: 'admin', expiresAt: clock + 24 * HOUR },
      lastEnrolledAt: null,
      lastEnrolledFrom: null,
    });
    clock += 60_000;
    // Typed in lower case and without the dash: the same code.
    const r = await service.enrol(made.code.toLowerCase().replace('-', ''), '192.0.2.10');
    expect(r).toMatchObject({ ok: true, siteId });
    expect(await sites.verifyCredential(siteId, (r as { secret: string }).secret)).toBe(true);
    expect(Number(await liveCredentials())).toBe(1);
    expect(await service.status(siteId)).toEqual({ pending: null, lastEnrolledAt: clock, lastEnrolledFrom: '192.0.2.10' });
    expect(await service.enrol(made.code, '192.0.2.11')).toEqual({ ok: false, kind: 'refused', reason: 'used', siteId });
    expect((await audit.list()).map((e) => e.action)).toEqual(['site.enrol.refused', 'site.enrol', 'site.enrolment.create']);
  });

  it('refuses a code replaced by a newer one, an expired one and an unknown one, each with its reason', async () => {
    const first = await service.create(siteId, ADMIN);
    clock += 1000;
    const second = await service.create(siteId, ADMIN);
    expect(await service.enrol(first.code, '192.0.2.20')).toEqual({ ok: false, kind: 'refused', reason: 'replaced', siteId });
    expect(await service.enrol('AAAA-AAAA', '192.0.2.20')).toEqual({ ok: false, kind: 'refused', reason: 'unknown', siteId: null });
    expect(await service.enrol('not a code', '192.0.2.20')).toEqual({ ok: false, kind: 'refused', reason: 'unknown', siteId: null });
    clock += 24 * HOUR;
    expect(await service.enrol(second.code, '192.0.2.20')).toEqual({ ok: false, kind: 'refused', reason: 'expired', siteId });
    expect((await service.status(siteId)).pending).toBeNull();
  });

  it('of two codes made for one site at the same instant, only one works: the other is replaced', async () => {
    for (let round = 0; round < 3; round++) {
      const made = await Promise.all([service.create(siteId, ADMIN), service.create(siteId, ADMIN)]);
      const pending = await store.db
        .selectFrom('enrolment_codes')
        .select('id')
        .where('site_id', '=', siteId)
        .where('used_at', 'is', null)
        .where('replaced_at', 'is', null)
        .execute();
      expect(pending, `round ${round}`).toHaveLength(1);
      const results = [await service.enrol(made[0].code, `192.0.2.${60 + round}`), await service.enrol(made[1].code, `192.0.2.${70 + round}`)];
      expect(
        results.filter((r) => r.ok),
        `round ${round}`,
      ).toHaveLength(1);
      expect(
        results.find((r) => !r.ok),
        `round ${round}`,
      ).toEqual({ ok: false, kind: 'refused', reason: 'replaced', siteId });
    }
  });

  it('refuses a retired site: no code is made for it, and a code made before its retirement no longer works', async () => {
    const made = await service.create(siteId, ADMIN);
    await sites.retire(siteId);
    expect(await service.enrol(made.code, '192.0.2.30')).toEqual({ ok: false, kind: 'refused', reason: 'site_retired', siteId });
    await expect(service.create(siteId, ADMIN)).rejects.toMatchObject({ code: 'LOANET_RETIRED' });
  });

  it('of two boards trading one code at the same instant, exactly one gets a credential', async () => {
    for (let round = 0; round < 4; round++) {
      const { code } = await service.create(siteId, ADMIN);
      const results = await Promise.all([service.enrol(code, `192.0.2.${40 + 2 * round}`), service.enrol(code, `192.0.2.${41 + 2 * round}`)]);
      const won = results.filter((r) => r.ok);
      expect(won, `round ${round}`).toHaveLength(1);
      expect(
        results.find((r) => !r.ok),
        `round ${round}`,
      ).toEqual({ ok: false, kind: 'refused', reason: 'used', siteId });
      // The winner's secret is the site's one credential: the loser's rotation was rolled back with its spend.
      expect(await sites.verifyCredential(siteId, (won[0] as { secret: string }).secret)).toBe(true);
      expect(Number(await liveCredentials()), `round ${round}`).toBe(1);
      const used = await store.db.selectFrom('enrolment_codes').select('used_from').where('site_id', '=', siteId).where('used_at', 'is not', null).execute();
      expect(used, `round ${round}`).toHaveLength(round + 1);
    }
  });
});
