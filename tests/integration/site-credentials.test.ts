/**
 * Site credentials over a real SQLite file: loanet checks a site's secret by
 * its SHA-256 digest (migration 8), so no scrypt runs when 3,000 sites come
 * back after a server start; credentials issued before migration 8 are
 * checked by scrypt once and then carry the digest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../server/store/db.ts';
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository } from '../../server/registry/sites.ts';
import type { Db } from '../../server/store/db.ts';

let dir: string;
let db: Db;
let sites: SiteRepository;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-cred-'));
  db = openDatabase(dir);
  const areas = new AreaRepository(db);
  areas.create({ version: '2025', code: '15', name: 'Tỉnh Lào Cai', level: 'province' });
  areas.create({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', parentKey: '2025.15' });
  sites = new SiteRepository(db, areas, () => '2025');
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const credentialRow = (siteId: string) =>
  db.prepare('SELECT id, secret_hash, secret_digest FROM site_credentials WHERE site_id = ? AND revoked_at IS NULL').get(siteId) as {
    id: number;
    secret_hash: string;
    secret_digest: string | null;
  };

describe('site credentials', () => {
  it('are checked by digest: a fresh repository (a restarted server) accepts the right secret without the scrypt hash', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 1', kind: 'cluster', areaKey: '2025.02683' });
    expect(credentialRow(site.id).secret_digest).toMatch(/^[0-9a-f]{64}$/);
    // Break the scrypt hash: if verification still used it, the right secret would now fail.
    db.prepare("UPDATE site_credentials SET secret_hash = 'scrypt$broken' WHERE site_id = ?").run(site.id);
    const restarted = new SiteRepository(db, new AreaRepository(db), () => '2025');
    expect(await restarted.verifyCredential(site.id, credential.secret)).toBe(true);
    expect(await restarted.verifyCredential(site.id, `${credential.secret}x`)).toBe(false);
    expect(await restarted.verifyCredential(site.id, '')).toBe(false);
  });

  it('a credential issued before migration 8 is checked by scrypt once, then carries its digest', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 2', kind: 'cluster', areaKey: '2025.02683' });
    db.prepare('UPDATE site_credentials SET secret_digest = NULL WHERE site_id = ?').run(site.id);
    const restarted = new SiteRepository(db, new AreaRepository(db), () => '2025');
    expect(await restarted.verifyCredential(site.id, 'wrong')).toBe(false);
    expect(credentialRow(site.id).secret_digest).toBeNull(); // a wrong secret writes nothing
    expect(await restarted.verifyCredential(site.id, credential.secret)).toBe(true);
    expect(credentialRow(site.id).secret_digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rotation and retirement end the old secret at once, also for a repository that had verified it', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 3', kind: 'cluster', areaKey: '2025.02683' });
    expect(await sites.verifyCredential(site.id, credential.secret)).toBe(true);
    const rotated = await sites.rotateCredential(site.id);
    expect(await sites.verifyCredential(site.id, credential.secret)).toBe(false);
    expect(await sites.verifyCredential(site.id, rotated.secret)).toBe(true);
    sites.retire(site.id);
    expect(await sites.verifyCredential(site.id, rotated.secret)).toBe(false);
  });

  it('are hashed off the event loop, and sites registered at the same time still get one id each (a taken id is a conflict, not a store error)', async () => {
    const made = await Promise.all([1, 2, 3].map((n) => sites.create({ name: `Cụm loa song song ${n}`, kind: 'cluster', areaKey: '2025.02683' })));
    expect(new Set(made.map((m) => m.site.id)).size).toBe(3);
    for (const m of made) expect(await sites.verifyCredential(m.site.id, m.credential.secret)).toBe(true);
    const same = await Promise.allSettled([1, 2].map(() => sites.create({ id: 'bx-twin', name: 'Trạm đôi', kind: 'station', areaKey: '2025.02683' })));
    expect(same.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((same.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ statusCode: 409 });
  });
});
