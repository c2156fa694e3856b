/**
 * A full disk, for real: the server's data folder is a tmpfs of a few MB
 * mounted by the test, filled with a file until the kernel answers ENOSPC.
 * What must hold (docs/reliability.md, "A full disk"):
 * - logins, emergency alerts (with their spoken message) and receipts keep
 *   working, on the reserve the server gives up when the disk fills;
 * - uploads and other changes are refused at once with 507 naming the disk,
 *   an upload leaves no partial file, nothing stored before is lost;
 * - /api/health says so, and when space returns the reserve is written back
 *   and everything is accepted again;
 * - without a reserve, a write that fails with ENOSPC / SQLITE_FULL answers
 *   507 LOANET_DISK_FULL (not 500) and never hangs, and a receipt the store
 *   could not take is not acknowledged to its site, which sends it again:
 *   a real agent that played a bulletin while the disk was full keeps its
 *   receipt until the server, once space returns, stores and acknowledges it.
 * Needs root for mount (CI runs as root here); elsewhere it is skipped loudly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlertControl, eventAckKey, siteTopic, type AlertStart } from '../../protocol/index.ts';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { type Cluster, fillDisk, freeOf, HANG_MS, listen, MB, mountTmpfs, receipt, report, TMPFS, timed, unmount } from '../helpers/full-disk.ts';
import { libraryFiles, makeInputs, postMultipart, uploadFile } from '../helpers/media.ts';
import { RESERVE_FILE } from '../../server/store/disk-space.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { sqliteOnly } from '../helpers/suite-database.ts';

// The store's writes fail on the data folder's full tmpfs only when the store is that folder's SQLite file: a
// PostgreSQL store keeps its files on the database server's disk, so receipts would be stored and acknowledged.
const onSqlite = !sqliteOnly(
  "the data folder on a full tmpfs: SQLite_FULL from loanet.db and its WAL; a PostgreSQL store writes to the database server's own disk, filled in postgres-disk-full.test.ts",
);
const run = onSqlite && haveTools('ffmpeg', 'espeak-ng', TMPFS);

/** The store's WAL emptied, as after a checkpoint: the next write needs new blocks, so a full disk cannot hide behind reused WAL pages. */
const truncateWal = (t: TestServer) => t.server.ctx.store.sqlite!.pragma('wal_checkpoint(TRUNCATE)');

const starts = (got: Array<{ text: string }>): AlertStart[] =>
  got.flatMap((m) => {
    if (m.text === '') return [];
    const d = decodeAlertControl.decode(m.text);
    return d.ok && d.value.type === 'alert_start' ? [d.value] : [];
  });

describe.skipIf(!run)('a full disk with the reserve (tmpfs of 32 MB, reserve 4 MB)', () => {
  let dir: string;
  let t: TestServer;
  let site: { siteId: string; secret: string };
  let cluster: Cluster;
  let inputs: (name: string) => string;
  let mediaId: string;

  beforeAll(async () => {
    const m = mountTmpfs(32);
    if (!('dir' in m)) throw new Error(m.why);
    dir = m.dir;
    t = await startTestServer({ LOANET_DISK_RESERVE_MB: '4', LOANET_DISK_LOW_MB: '8', LOANET_DISK_CRITICAL_MB: '2', LOANET_DISK_CHECK_MS: '200' }, path.join(dir, 'data'));
    await importLaoCai2025(t);
    const s = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vược', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    site = s.body.credential;
    cluster = await listen(t, site, ['2025.02683', '2025.15']);
    inputs = makeInputs(tempDir('loanet-disk-inputs-'));
    const up = await uploadFile(t, inputs('sine.wav'), { title: 'Bản tin trước khi đầy đĩa' });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    mediaId = up.body.id;
  }, 120_000);

  afterAll(async () => {
    await cluster?.client.endAsync().catch(() => undefined);
    await t?.stop().catch(() => undefined);
    if (dir) unmount(dir);
  });

  it('with room, the reserve is written and health says ok', async () => {
    const h = await waitFor('the reserve written', async () => {
      const r = await t.api('GET', '/api/health');
      return r.body.disk?.reserve.heldBytes === 4 * MB ? r.body : undefined;
    });
    expect(h.status).toBe('ok');
    expect(h.disk).toMatchObject({ state: 'ok', refusing: [], reserve: { bytes: 4 * MB, heldBytes: 4 * MB, inUse: false }, lowBytes: 8 * MB, criticalBytes: 2 * MB });
    expect(fs.statSync(path.join(t.dataDir, RESERVE_FILE)).size).toBe(4 * MB);
  });

  it('filled to the last block: login, an alert with its spoken message and receipts still work; uploads and changes get 507 at once; health says so', async () => {
    truncateWal(t);
    fillDisk(path.join(dir, 'fill'));
    expect(freeOf(dir)).toBeLessThan(64 * 1024);

    // Receipts sent right now, before any periodic measurement: each is stored (the reserve is given up first).
    const at = Date.now();
    const receipts = Array.from({ length: 20 }, (_, i) => receipt(site.siteId, i, at));
    await report(cluster, site.siteId, receipts);
    const stored = await waitFor('20 receipts stored', async () => {
      const l = await t.server.ctx.asRun.list({ siteIds: [site.siteId], from: at - 120_000, to: at + 60_000 });
      return l.length === 20 ? l : undefined;
    });
    expect(stored.every((r) => r.outcome === 'played')).toBe(true);
    // ...and acknowledged to the site, which may then forget them.
    await waitFor('20 receipts acknowledged', () => receipts.every((r) => cluster.acked.has(eventAckKey(r)!)));

    const login = await t.api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, { token: null });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const token = login.body.token as string;
    expect((await t.api('GET', '/api/auth/me', undefined, { token })).status).toBe(200);

    const alert = await t.api(
      'POST',
      '/api/alerts',
      { areas: ['02683'], message: { text: 'Cảnh báo lũ quét. Người dân ven suối sơ tán ngay.' }, attention: 'siren', volume: 90, validForMinutes: 30 },
      { token },
    );
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    const id: string = alert.body.id;
    // The cluster gets the alert, and then its spoken message, made on the reserve.
    const withMessage = await waitFor('alert_start with its message at the cluster', () => starts(cluster.got).find((m) => m.alertId === id && m.media), 60_000);
    expect(withMessage.media!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await t.api('GET', `/api/alerts/${id}`, undefined, { token })).body.alert).toMatchObject({ messageState: 'ready' });

    // An upload: 507 naming the disk, before a byte is written; nothing left in the temp folder.
    const before = libraryFiles(t.dataDir);
    const up = await uploadFile(t, inputs('sine.wav'), { title: 'Bản tin khi đầy đĩa' }, { token });
    expect(up.status, JSON.stringify(up.body)).toBe(507);
    expect(up.body).toMatchObject({ error: 'LOANET_DISK_LOW', field: 'disk' });
    expect(up.body.message).toMatch(/uploads and text to speech.*disk of the data folder \(LOANET_DATA_DIR\) is full.*free space on that disk/);
    expect(libraryFiles(t.dataDir).tmp).toEqual([]);
    expect(libraryFiles(t.dataDir).stored).toEqual(before.stored);
    const tts = await t.api('POST', '/api/media/tts', { text: 'Thông báo lịch tiêm chủng.', title: 'TTS khi đầy đĩa' }, { token });
    expect(tts.status).toBe(507);

    // A schedule item: 507 at once, never a hang.
    const sched = await timed(() =>
      t.api('POST', '/api/schedule/items', { title: 'Bản tin sáng', mediaId, targets: { areas: ['02683'] }, start: { at: Date.now() + 3_600_000 } }, { token }),
    );
    expect(sched.r.status, JSON.stringify(sched.r.body)).toBe(507);
    expect(sched.r.body).toMatchObject({ error: 'LOANET_DISK_LOW' });
    expect(sched.r.body.message).toMatch(/changes other than logins, alerts and live broadcasts/);
    console.log(`[disk-full] schedule item refused (disk low) in ${sched.ms.toFixed(0)} ms`);
    expect(sched.ms).toBeLessThan(HANG_MS);
    // A dry run writes nothing: still answered.
    expect(
      (await t.api('POST', '/api/schedule/check', { title: 'Bản tin sáng', mediaId, targets: { areas: ['02683'] }, start: { at: Date.now() + 3_600_000 } }, { token })).status,
    ).toBe(200);

    const h = (await t.api('GET', '/api/health')).body;
    expect(h.status).toBe('degraded');
    expect(h.disk).toMatchObject({ state: 'reserve', refusing: ['media', 'history', 'change'], reserve: { bytes: 4 * MB, heldBytes: 0, inUse: true } });
    expect(fs.existsSync(path.join(t.dataDir, RESERVE_FILE))).toBe(false);
  }, 120_000);

  it('when space returns the reserve is written back and uploads are accepted; nothing stored before was lost (after a restart too)', async () => {
    fs.rmSync(path.join(dir, 'fill'));
    const h = await waitFor('the disk ok with its reserve again', async () => {
      const r = await t.api('GET', '/api/health');
      return r.body.disk.state === 'ok' && r.body.disk.reserve.heldBytes === 4 * MB ? r.body : undefined;
    });
    expect(h.status).toBe('ok');
    const up = await uploadFile(t, inputs('sine.mp3'), { title: 'Bản tin sau khi dọn đĩa' });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect((await t.api('POST', '/api/schedule/items', { title: 'Bản tin sáng', mediaId, targets: { areas: ['02683'] }, start: { at: Date.now() + 3_600_000 } })).status).toBe(201);

    await t.restart();
    expect((await t.api('GET', `/api/media/${mediaId}`)).body).toMatchObject({ status: 'ready' });
    expect((await t.api('GET', `/api/media/${up.body.id}`)).body).toMatchObject({ status: 'ready' });
    const now = Date.now();
    expect(await t.server.ctx.asRun.list({ siteIds: [site.siteId], from: now - 600_000, to: now + 60_000 })).toHaveLength(20);
    const alerts = await t.api('GET', '/api/alerts?state=active');
    expect(alerts.body.alerts).toHaveLength(1);
  }, 120_000);
});

describe.skipIf(!run)('a full disk without a reserve (LOANET_DISK_RESERVE_MB=0): a write that fails answers 507, never 500, never hangs', () => {
  let dir: string;
  let t: TestServer;
  let inputs: (name: string) => string;
  let site: { siteId: string; secret: string };
  let cluster: Cluster;

  beforeAll(async () => {
    const m = mountTmpfs(24);
    if (!('dir' in m)) throw new Error(m.why);
    dir = m.dir;
    t = await startTestServer({ LOANET_DISK_RESERVE_MB: '0', LOANET_DISK_LOW_MB: '1', LOANET_DISK_CRITICAL_MB: '0', LOANET_DISK_CHECK_MS: '200' }, path.join(dir, 'data'));
    await importLaoCai2025(t);
    const s = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vược', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    site = s.body.credential;
    cluster = await listen(t, site, ['2025.02683']);
    inputs = makeInputs(tempDir('loanet-disk-inputs-'));
  }, 120_000);

  afterAll(async () => {
    await cluster?.client.endAsync().catch(() => undefined);
    await t?.stop().catch(() => undefined);
    if (dir) unmount(dir);
  });

  it('an upload larger than the space left: 507 LOANET_DISK_FULL, no partial file, the library unchanged', async () => {
    truncateWal(t);
    fillDisk(path.join(dir, 'fill'), 3 * MB);
    const free = freeOf(dir);
    expect(free).toBeGreaterThan(2 * MB);
    // Admitted (over LOANET_DISK_LOW_MB), then the disk runs out while it streams in.
    const big = Buffer.concat([fs.readFileSync(inputs('sine.wav')), Buffer.alloc(free + 2 * MB, 1)]);
    const up = await postMultipart(t, '/api/media', { title: 'Bản tin quá lớn' }, { data: big, name: 'lon.wav', type: 'audio/wav' });
    expect(up.status, JSON.stringify(up.body)).toBe(507);
    expect(up.body).toMatchObject({ error: 'LOANET_DISK_FULL', field: 'disk' });
    expect(up.body.message).toMatch(/not saved: the disk of the data folder \(LOANET_DATA_DIR\) is full; nothing stored before was lost/);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: [], tmp: [] });
    expect((await t.api('GET', '/api/health')).body.disk.lastFullAt).toEqual(expect.any(Number));
  }, 60_000);

  it('on a disk full to the last block: a change answers 507 LOANET_DISK_FULL at once; receipts are not acknowledged, and are stored and acknowledged when sent again after space returns; the store intact', async () => {
    fillDisk(path.join(dir, 'fill'));
    const r = await timed(() => t.api('POST', '/api/sites', { name: 'Cụm loa thôn Cốc Mỳ', kind: 'cluster', area: '02683', lat: 22.53, lon: 103.86 }));
    expect(r.r.status, JSON.stringify(r.r.body)).toBe(507);
    expect(r.r.body).toMatchObject({ error: 'LOANET_DISK_FULL' });
    console.log(`[disk-full] site creation refused (disk full) in ${r.ms.toFixed(0)} ms`);
    expect(r.ms).toBeLessThan(HANG_MS);
    const h = (await t.api('GET', '/api/health')).body;
    expect(h.status).toBe('degraded');
    expect(h.disk.refusing).toContain('media');

    // Receipts the store cannot take are not acknowledged: the site keeps them.
    const at = Date.now();
    const receipts = Array.from({ length: 10 }, (_, i) => receipt(site.siteId, i, at));
    const failedBefore = t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0;
    await report(cluster, site.siteId, receipts);
    await waitFor('10 receipts refused by the full store', () => (t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0) - failedBefore === 10);
    // Not acknowledged. An ack would have come before the refusal of a status for an alert nobody knows, sent after them.
    const unknown = {
      v: 1 as const,
      siteId: site.siteId,
      type: 'alert_status' as const,
      alertId: 'alr-00000000000000ff',
      revision: 1,
      status: 'received' as const,
      at: Date.now(),
    };
    await cluster.client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(unknown), { qos: 1 });
    await waitFor("the unknown alert's status refused", () => cluster.refused.has(eventAckKey(unknown)!));
    expect(receipts.filter((r) => cluster.acked.has(eventAckKey(r)!))).toEqual([]);
    expect(await t.server.ctx.asRun.list({ siteIds: [site.siteId], from: at - 120_000, to: at + 60_000 })).toEqual([]);

    fs.rmSync(path.join(dir, 'fill'));
    await waitFor('the disk ok again', async () => (await t.api('GET', '/api/health')).body.disk.state === 'ok');
    const again = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Cốc Mỳ', kind: 'cluster', area: '02683', lat: 22.53, lon: 103.86 });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    // The site sends what was not acknowledged again: stored and acknowledged now, each once.
    await report(cluster, site.siteId, receipts);
    await waitFor('10 receipts acknowledged after space returned', () => receipts.every((r) => cluster.acked.has(eventAckKey(r)!)));
    expect(await t.server.ctx.asRun.list({ siteIds: [site.siteId], from: at - 120_000, to: at + 60_000 })).toHaveLength(10);
    expect(t.server.ctx.store.sqlite!.pragma('integrity_check', { simple: true })).toBe('ok');
  }, 60_000);
});

describe.skipIf(!run)('a real agent plays a bulletin while the disk is full, with no reserve: its receipt is kept until space returns, then stored and acknowledged', () => {
  let dir: string;
  let t: TestServer;
  let fleet: FleetRunner;
  let agentDir: string;
  let mediaId: string;

  beforeAll(async () => {
    const m = mountTmpfs(32);
    if (!('dir' in m)) throw new Error(m.why);
    dir = m.dir;
    t = await startTestServer({ LOANET_DISK_RESERVE_MB: '0', LOANET_DISK_LOW_MB: '1', LOANET_DISK_CRITICAL_MB: '0', LOANET_DISK_CHECK_MS: '200' }, path.join(dir, 'data'));
    await importLaoCai2025(t);
    agentDir = tempDir('loanet-disk-agent-');
    const up = await uploadFile(t, makeInputs(agentDir)('sine.wav'), { title: 'Bản tin phát khi đầy đĩa' });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    mediaId = up.body.id;
    // The board has its own disk: the agent's journal and cache are not on the server's tmpfs.
    // Its ack timeout 5 s instead of 30 (then a back-off from 1 s): the same resend, sooner.
    fleet = await startPlayoutFleet(t, {
      sites: 1,
      area: '02683',
      dir: agentDir,
      connectTimeoutMs: 30_000,
      journalResend: { ackTimeoutMs: 5000, retry: { baseMs: 1000, capMs: 5000 } },
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    await t?.stop().catch(() => undefined);
    if (dir) unmount(dir);
    if (agentDir) fs.rmSync(agentDir, { recursive: true, force: true });
  });

  it('not acknowledged while the store is full; stored once and acknowledged when the agent sends it again', async () => {
    const siteId = fleet.ids()[0]!;
    const agent = fleet.site(siteId).agent;
    const at = Date.now() + 15_000;
    const created = await t.api('POST', '/api/schedule/items', { title: 'Bản tin khi đầy đĩa', mediaId, targets: { areas: ['02683'] }, start: { at } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await t.api('POST', `/api/schedule/items/${created.body.id}/approve`)).status).toBe(200);
    const entryId = `${created.body.id}@${at}`;
    await waitFor(
      'the playlist held with its media cached',
      () => {
        const r = agent.playout?.executor.report();
        return r !== undefined && r.missing === 0 && agent.playout!.executor.heldEntries().some((e) => e.id === entryId);
      },
      30_000,
      100,
    );

    truncateWal(t);
    fillDisk(path.join(dir, 'fill'));
    const failedBefore = t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0;
    await waitFor('the agent to play it and write its receipt', () => agent.playout!.journal.has(entryId), at - Date.now() + 20_000, 100);
    await waitFor('the receipt refused by the full store', () => (t.server.ctx.ingest.stats().rejectedByCode.store_failed ?? 0) > failedBefore, 20_000, 50);
    expect(await t.server.ctx.asRun.list({ siteIds: [siteId], from: at - 1, to: at + 1 })).toEqual([]);
    expect(agent.journalStats?.unsent).toBeGreaterThanOrEqual(1);

    fs.rmSync(path.join(dir, 'fill'));
    // No nudge: the agent sends what was not acknowledged again on its own (after its ack timeout).
    const stored = await waitFor(
      'the receipt stored after space returned',
      async () => (await t.server.ctx.asRun.list({ siteIds: [siteId], from: at - 1, to: at + 1 }))[0],
      120_000,
      200,
    );
    expect(stored).toMatchObject({ entryId, outcome: 'played' });
    await waitFor('acknowledged: the agent forgets nothing, owes nothing', () => agent.journalStats?.unsent === 0, 30_000, 100);
    expect(await t.server.ctx.asRun.list({ siteIds: [siteId], from: at - 1, to: at + 1 })).toHaveLength(1);
  }, 240_000);
});
