/**
 * The release and rollout stores' contract, the same on SQLite and on
 * PostgreSQL: a release is stored once whoever races to store it (the loser
 * is told it exists, never a constraint error), its files complete it in the
 * manifest's order, a retired release takes no file; a rollout reads back as
 * created, its sites in wave order (a site outside every wave first, as
 * SQLite sorted it), and holds its sites while open.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReleaseManifest } from '../../common/release.ts';
import { type NewRelease, ReleaseExists, ReleaseRetired, ReleaseStore } from '../../server/releases/store.ts';
import { RolloutStore } from '../../server/updates/store.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function release(version: string, files: Record<string, string>): NewRelease & { bodies: Record<string, string> } {
  const manifest: ReleaseManifest = {
    format: 1,
    component: 'agent',
    version,
    target: { arch: 'arm64' },
    files: Object.entries(files).map(([p, body]) => ({ path: p, size: Buffer.byteLength(body), sha256: sha(body) })),
    createdAt: '2026-12-05T00:00:00Z',
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    id: `agent-${version.replaceAll('.', '-')}-arm64`,
    manifest,
    manifestBytes,
    manifestSha256: sha(manifestBytes),
    signatures: [],
    totalBytes: manifest.files.reduce((n, f) => n + f.size, 0),
    uploadedBy: null,
    bodies: files,
  };
}

describe.each(storeDialects())('the release and rollout stores on %s', (dialect) => {
  let store: TestStore;
  let dataDir: string;
  let releases: ReleaseStore;
  let clock: number;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-releases-'));
    clock = 1_764_979_200_000;
    releases = new ReleaseStore(
      store.db,
      dataDir,
      () => [],
      () => clock,
    );
    releases.open();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function upload(id: string, filePath: string, body: string) {
    const tmp = releases.tempPath();
    fs.writeFileSync(tmp, body);
    return releases.receive(id, filePath, tmp);
  }

  it('stores a release once: the same id or the same manifest again, even at the same moment, is ReleaseExists', async () => {
    const r = release('1.3.0', { 'z.deb': 'zzz', 'a.deb': 'aaaa' });
    const [first, second] = await Promise.allSettled([releases.create(r), releases.create(r)]);
    const won = [first, second].filter((x) => x.status === 'fulfilled');
    const lost = [first, second].filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(ReleaseExists);
    expect((lost[0]!.reason as ReleaseExists).id).toBe(r.id);
    // The same manifest under another id names the id it is stored under.
    await expect(releases.create({ ...r, id: 'other-id' })).rejects.toMatchObject({ id: r.id });
    const d = (await releases.detail(r.id))!;
    // Files in the manifest's order, none received yet.
    expect(d.files.map((f) => f.path)).toEqual(['z.deb', 'a.deb']);
    expect(d).toMatchObject({ version: '1.3.0', completeAt: null, retiredAt: null, totalBytes: 7, uploadedBy: null, verifiedKeyId: null });
    expect(d.manifestBytes.equals(r.manifestBytes)).toBe(true);
    expect(await releases.idOfManifest(r.manifestSha256)).toBe(r.id);
  });

  it('completes a release with its last file, lists it, and refuses files once it is retired', async () => {
    const r = release('1.4.0', { 'a.deb': 'aaaa', 'b.deb': 'bb' });
    await releases.create(r);
    clock += 1000;
    expect((await upload(r.id, 'a.deb', 'aaaa')).completeAt).toBeNull();
    clock += 1000;
    const done = await upload(r.id, 'b.deb', 'bb');
    expect(done.completeAt).toBe(clock);
    expect(done.files.map((f) => f.receivedAt)).toEqual([clock - 1000, clock]);
    expect(fs.readFileSync(releases.filePath(r.id, 'b.deb'), 'utf8')).toBe('bb');
    const other = release('1.5.0', { 'c.deb': 'c' });
    clock += 1000;
    await releases.create(other);
    expect((await releases.list()).map((x) => x.id)).toEqual([other.id, r.id]);
    const retired = await releases.retire(other.id);
    expect(retired.retiredAt).toBe(clock);
    expect((await releases.list()).map((x) => x.id)).toEqual([r.id]);
    expect((await releases.list({ includeRetired: true })).map((x) => x.id)).toEqual([other.id, r.id]);
    await expect(upload(other.id, 'c.deb', 'c')).rejects.toBeInstanceOf(ReleaseRetired);
    expect(fs.existsSync(path.join(dataDir, 'releases', other.id))).toBe(false);
  });

  it('keeps a rollout and its sites, in wave order, and the sites it holds while open', async () => {
    const r = release('2.0.0', { 'a.deb': 'a' });
    await releases.create(r);
    const area = await store.db
      .insertInto('areas')
      .values({
        version: '2025',
        code: '01',
        name: 'Lào Cai',
        level: 'province',
        kind: null,
        parent_id: null,
        lat: null,
        lon: null,
        source: null,
        created_at: 0,
        updated_at: 0,
        retired_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const siteIds = ['lc-0001', 'lc-0002', 'lc-0003'];
    await store.db
      .insertInto('sites')
      .values(
        siteIds.map((id) => ({ id, name: id, kind: 'station' as const, area_id: area.id, lat: null, lon: null, profile: null, created_at: 0, updated_at: 0, retired_at: null })),
      )
      .execute();
    const rollouts = new RolloutStore(store.db);
    const spec = { id: 'ro-1', waves: [{ name: 'thử', size: 1 }] } as unknown as import('../../server/updates/rollout.ts').RolloutSpec;
    const plan = { spec, releaseId: r.id, targets: { areas: [], sites: siteIds, profile: null }, budgetBytes: 1, healthTimeoutS: 60, noReportS: 600 };
    await rollouts.create({ id: 'ro-1', releaseId: r.id, plan, status: 'running', wave: 0, reason: null, createdBy: null, createdAt: clock }, [
      { siteId: 'lc-0003', wave: 0, fromVersion: '1.0.0' },
      { siteId: 'lc-0002', wave: null, fromVersion: null },
      { siteId: 'lc-0001', wave: 0, fromVersion: '1.0.0', devices: ['amp-1'] },
    ]);
    expect(await rollouts.get('ro-1')).toMatchObject({ id: 'ro-1', releaseId: r.id, status: 'running', wave: 0, reason: null, updatedAt: clock, plan });
    const sites = await rollouts.sites('ro-1');
    expect(sites.map((s) => [s.siteId, s.wave])).toEqual([
      ['lc-0002', null],
      ['lc-0001', 0],
      ['lc-0003', 0],
    ]);
    expect(sites[1]!.note).toEqual({ last: null, changedAt: null, heardAt: null, detail: null, devices: ['amp-1'] });
    expect(await rollouts.heldSites()).toEqual(new Map(siteIds.map((id) => [id, 'ro-1'])));
    await rollouts.putSite({ ...sites[1]!, state: 'installing', startedAt: clock });
    expect((await rollouts.installing()).map((s) => s.siteId)).toEqual(['lc-0001']);
    expect(await rollouts.site('ro-1', 'lc-0001')).toMatchObject({ state: 'installing', startedAt: clock });
    await rollouts.setStatus('ro-1', 'aborted', 0, { code: 'aborted_by', params: { by: 'admin', text: null } }, clock + 5);
    expect(await rollouts.get('ro-1')).toMatchObject({ status: 'aborted', reason: { code: 'aborted_by', params: { by: 'admin', text: null } }, updatedAt: clock + 5 });
    expect(await rollouts.open()).toEqual([]);
    expect((await rollouts.heldSites()).size).toBe(0);
    expect((await rollouts.list()).map((x) => x.id)).toEqual(['ro-1']);
  });
});
