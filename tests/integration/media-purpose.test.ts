/**
 * Alert audio is kept apart from the bulletin library: what an alert makes
 * (its text to speech, an uploaded recording) is stored with purpose `alert`,
 * never listed with the bulletins operators schedule from (nor among the jobs
 * processing), still reached by id from its alert; and a store made before
 * the purpose existed has its alert audio recognised when it is migrated.
 * Real server, SQLite, ffmpeg and espeak-ng.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { download, makeInputs, postMultipart } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { migrate, openDatabase } from '../../server/store/db.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';

const run = haveTools('ffmpeg', 'espeak-ng');

describe('media purpose: the migration', () => {
  it('recognises alert audio made before purposes existed: tagged alert, or made for an alert message; a library item an alert used stays a bulletin', () => {
    const dir = tempDir('loanet-media-purpose-db-');
    const v = MIGRATIONS.find((m) => m.sql.includes('ADD COLUMN purpose'))!.version;
    const db = openDatabase(
      dir,
      MIGRATIONS.filter((m) => m.version < v),
    );
    const media = db.prepare(
      `INSERT INTO media (id, title, lang, tags, origin, source, sha256, bytes, duration_ms, codec, sample_rate, channels, bitrate_kbps,
         target_lufs, input_lufs, input_tp, input_lra, input_thresh, gain_db, output_lufs, output_tp, created_at, updated_at)
       VALUES (?, ?, 'vi', ?, ?, '{}', ?, 1, 1000, 'opus', 48000, 1, 24, -16, -20, -3, 1, -30, 4, -16, -2, 1, 1)`,
    );
    media.run('med-bulletin', 'Bản tin sáng', '[]', 'upload', 'a'.repeat(64));
    media.run('med-tagged', 'Cảnh báo lũ', '["alert"]', 'tts', 'b'.repeat(64));
    media.run('med-cap', 'Flood Warning', '[]', 'upload', 'c'.repeat(64));
    media.run('med-chosen', 'Bản tin dùng cho cảnh báo', '["alert-ready"]', 'upload', 'd'.repeat(64));
    const alert = db.prepare(
      `INSERT INTO alerts (id, revision, state, test, origin, title, target_areas, areas, media, message, repeats, valid_until, created_at, revised_at)
       VALUES (?, 1, 'expired', 0, ?, 't', '[]', '[]', 'null', ?, 2, 1, 1, 1)`,
    );
    alert.run('alr-1', 'cap', JSON.stringify({ kind: 'cap_audio', mediaId: 'med-cap', mimeType: 'audio/mpeg' }));
    alert.run('alr-2', 'api', JSON.stringify({ kind: 'media', mediaId: 'med-chosen' }));
    migrate(db, MIGRATIONS);
    const purposes = Object.fromEntries((db.prepare('SELECT id, purpose FROM media ORDER BY id').all() as Array<{ id: string; purpose: string }>).map((r) => [r.id, r.purpose]));
    expect(purposes).toEqual({ 'med-bulletin': 'bulletin', 'med-tagged': 'alert', 'med-cap': 'alert', 'med-chosen': 'bulletin' });
    expect(() => db.prepare("UPDATE media SET purpose = 'jingle' WHERE id = 'med-bulletin'").run()).toThrow(/CHECK/);
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!run)('media purpose: alert audio never in the library list', () => {
  let t: TestServer;
  let input: (name: string) => string;
  let operator: string;

  beforeAll(async () => {
    t = await startTestServer();
    await importLaoCai2025(t);
    input = makeInputs(tempDir('loanet-media-purpose-in-'));
    expect((await t.api('POST', '/api/sites', { name: 'Cụm loa thôn 1', kind: 'cluster', area: '02683', lat: 22.6, lon: 103.8 })).status).toBe(201);
    expect((await t.api('POST', '/api/users', { username: 'op-batxat', password: 'password-of-op-batxat', role: 'operator', area: '02683' })).status).toBe(201);
    operator = (await t.api('POST', '/api/auth/login', { username: 'op-batxat', password: 'password-of-op-batxat' }, { token: null })).body.token;
  }, 120_000);
  afterAll(async () => t?.stop());

  it('an alert spoken by TTS and one from an uploaded recording are kept out of the list; the bulletin stays; the alert reaches its audio', async () => {
    const bulletin = await t.api('POST', '/api/media/tts', { title: 'Bản tin tiêm phòng', text: 'Sáng mai trạm y tế xã tiêm phòng cho trẻ em.' });
    expect(bulletin.status, JSON.stringify(bulletin.body)).toBe(201);
    expect(bulletin.body.purpose).toBe('bulletin');

    const spoken = await t.api('POST', '/api/alerts', {
      areas: ['02683'],
      title: 'Lũ quét',
      message: { text: 'Cảnh báo lũ quét, người dân di chuyển đến nơi an toàn.' },
      test: true,
    });
    expect(spoken.status, JSON.stringify(spoken.body)).toBe(201);
    // While its audio is being made, the job is not among the bulletins' processing jobs either.
    const during = (await t.api('GET', '/api/media')).body;
    expect(during.processing.map((j: { id: string }) => j.id)).not.toContain(spoken.body.alert.message.mediaId);
    const ready = await waitFor(
      'the alert audio made',
      async () => {
        const a = (await t.api('GET', `/api/alerts/${spoken.body.id}`)).body.alert;
        return a.messageState === 'ready' ? a : undefined;
      },
      90_000,
      100,
    );
    const recorded = await postMultipart(
      t,
      '/api/alerts/upload',
      { alert: JSON.stringify({ areas: ['02683'], title: 'Ghi âm cảnh báo', test: true }) },
      { data: fs.readFileSync(input('sine.mp3')), name: 'canh-bao.mp3' },
    );
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(201);
    const alertMedia = [ready.media.mediaId as string, recorded.body.alert.media.mediaId as string];

    for (const token of [t.token, operator]) {
      const list = (await t.api('GET', '/api/media?limit=1000', undefined, { token })).body;
      const ids = list.items.map((m: { id: string }) => m.id);
      expect(ids).toContain(bulletin.body.id);
      for (const id of alertMedia) expect(ids).not.toContain(id);
      expect(list.items.every((m: { purpose: string }) => m.purpose === 'bulletin')).toBe(true);
      expect(list.total).toBe(ids.length);
      // Not even when searched for by its words.
      expect((await t.api('GET', `/api/media?q=${encodeURIComponent('lũ quét')}`, undefined, { token })).body.items).toEqual([]);
    }
    // Asked for, the alert audio is listed apart.
    const alerts = (await t.api('GET', '/api/media?purpose=alert')).body;
    expect(alerts.items.map((m: { id: string }) => m.id).sort()).toEqual([...alertMedia].sort());
    expect(alerts.items.every((m: { purpose: string; tags: string[] }) => m.purpose === 'alert')).toBe(true);
    // The alert still reaches its audio by id, item and file.
    for (const id of alertMedia) {
      expect((await t.api('GET', `/api/media/${id}`)).body).toMatchObject({ id, status: 'ready', purpose: 'alert' });
      const file = await download(t, `/api/media/${id}/audio`);
      expect(file.status).toBe(200);
      expect(file.data.subarray(0, 4).toString('latin1')).toBe('OggS');
    }
    // It stays with its alert's record: not edited (its tags say who may see it), not retired (sites may still fetch it).
    for (const [method, body] of [
      ['PATCH', { tags: [] }],
      ['DELETE', undefined],
    ] as const) {
      const r = await t.api(method, `/api/media/${alertMedia[0]}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.message).toContain('is the audio of an alert');
    }
    expect((await t.api('GET', `/api/media/${alertMedia[0]}`)).body).toMatchObject({ tags: ['alert'], retiredAt: null });
    for (const id of [spoken.body.id, recorded.body.id]) await t.api('POST', `/api/alerts/${id}/cancel`);
  }, 180_000);
});
