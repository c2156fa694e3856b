/**
 * The alert delivery view tells what each site actually played, when some
 * sites cannot download the alert's audio. A real server (HTTP, embedded
 * broker over TCP, SQLite, ffmpeg for the message) and 30 real agents of the
 * fleet runner, each with its own media cache over HTTP: 10 of them fetch
 * through something broken — 5 through a proxy that answers every request
 * 503, 5 through a proxy that cuts every transfer before its first byte (a
 * 4G link dropping). Their siren is made on the board and sounds; their
 * message never comes.
 *
 * What the official's view (GET /api/alerts/{id}, the console's tracker;
 * and the report) must say, while the alert runs and after:
 * - those 10 sites are never "confirmed playing" and never "heard" — not even
 *   the ones whose microphone heard the siren — at any moment;
 * - they are "attention only", each with the reason: no_media and what the
 *   fetch got (HTTP 503, the cut), reported seconds after the siren, not at
 *   the 120 s download timeout, and their amplifier is switched off then;
 * - the 20 others played the message and are confirmed playing; those with
 *   a microphone are heard.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.ts';
import { uploadTone } from '../helpers/media.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { wordReason } from '../../api/words/reasons.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 30;
const MESSAGE_S = 2;
/** The agents' own limit for an audio download still going: the faulty sites must be told well before it. */
const MEDIA_TIMEOUT_MS = 120_000;

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let mediaId: string;
let cutter: FaultyProxy;
let refuser: http.Server;
let refuserUrl: string;
const refused: string[] = [];
const cut: string[] = [];

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-alert-truth-');
  t = await startTestServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Cảnh báo lũ quét (thử)', seconds: MESSAGE_S, hz: 880 });
  // A middlebox that refuses every download, and one that cuts every transfer before its first byte.
  refuser = http.createServer((req, res) => {
    req.resume();
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('service unavailable');
  });
  await new Promise<void>((res) => refuser.listen(0, '127.0.0.1', res));
  refuserUrl = `http://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
  cutter = await startFaultyProxy(t.baseUrl);
  cutter.script = Array.from({ length: 10_000 }, () => ({ kind: 'cut' as const, afterBytes: 0 }));
  let n = 0;
  fleet = await startPlayoutFleet(t, {
    sites: SITES,
    area: COMMUNE,
    dir,
    httpUrlFor: (id) => {
      const k = n++ % 3;
      if (k === 1) return refused.length < 5 ? (refused.push(id), refuserUrl) : t.baseUrl;
      if (k === 2) return cut.length < 5 ? (cut.push(id), cutter.url) : t.baseUrl;
      return t.baseUrl;
    },
  });
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
  await cutter?.close();
  await new Promise<void>((res) => (refuser ? refuser.close(() => res()) : res()));
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Counts {
  targeted: number;
  started: number;
  confirmedPlaying: number;
  attentionOnly: number;
  unreached: number;
  heard: number;
  notHeard: number;
  completed: number;
}
interface Listed {
  siteId: string;
  status: string;
  reasons: Array<{ code: string; params: Record<string, string | number | null>; message: string }>;
}
interface ReportSite {
  siteId: string;
  played: string;
  heard: boolean | null;
  levelDb: number | null;
  messageRepeats: number | null;
  failedAt: number | null;
  reasons: Listed['reasons'];
}

describe.skipIf(!canRun)(`an alert to ${SITES} sites, 10 of which cannot download its audio`, () => {
  it('the view shows the 10 as attention only with the reason, never as playing or heard, and the 20 others as heard', async () => {
    const faulty = [...refused, ...cut];
    expect(refused).toHaveLength(5);
    expect(cut).toHaveLength(5);
    const good = fleet.ids().filter((id) => !faulty.includes(id));
    const withMic = (ids: string[]) => ids.filter((id) => fleet.site(id).device.profile.monitorMic);
    // The siren must reach some faulty sites' microphones, or "never heard" would prove nothing.
    expect(withMic(faulty).length).toBeGreaterThan(0);
    expect(withMic(good).length).toBeGreaterThan(0);
    const amp = new Map<string, Array<{ on: boolean; at: number }>>();
    for (const id of faulty) {
      const list: Array<{ on: boolean; at: number }> = [];
      amp.set(id, list);
      fleet.site(id).agent.playout!.engine.on((e) => void (e.type === 'amplifier' && list.push({ on: e.on, at: Date.now() })));
    }

    const calledAt = Date.now();
    const r = await t.api('POST', '/api/alerts', { areas: [COMMUNE], message: { mediaId }, attention: 'siren', repeats: 1, validForMinutes: 10, title: 'Lũ quét: sơ tán ngay' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const alertId: string = r.body.id;

    // Watch the view the whole time: at no moment is a faulty site confirmed playing or heard.
    const claims: string[] = [];
    const look = async () => {
      const st = (await t.api('GET', `/api/alerts/${alertId}?limit=1000`)).body.delivery as { counts: Counts; attentionOnly: Listed[] };
      const rep = (await t.api('GET', `/api/alerts/${alertId}/report?format=json`)).body.sites as ReportSite[];
      const c = st.counts;
      if (c.confirmedPlaying > good.length) claims.push(`confirmed playing ${c.confirmedPlaying} > ${good.length} sites that can have played the message`);
      if (c.heard > withMic(good).length) claims.push(`heard ${c.heard} > ${withMic(good).length}`);
      if (!(c.heard <= c.confirmedPlaying && c.confirmedPlaying <= c.started && c.started <= c.targeted)) claims.push(`counts out of order: ${JSON.stringify(c)}`);
      for (const s of rep) if (faulty.includes(s.siteId) && (s.played === 'message' || s.heard === true)) claims.push(`${s.siteId}: played ${s.played}, heard ${s.heard}`);
      return { st, rep };
    };
    const done = await waitFor(
      'every site told: the good ones heard or playing the message, the faulty ones attention only after they failed',
      async () => {
        const v = await look();
        const c = v.st.counts;
        const failed = v.rep.filter((s) => faulty.includes(s.siteId) && s.failedAt !== null).length;
        const goodDone = v.rep.filter((s) => good.includes(s.siteId) && s.played === 'message' && s.messageRepeats === 1).length;
        // The counts and the report are two reads: wait until the counts, read first, say it too.
        const settled = c.confirmedPlaying === good.length && c.completed === good.length && c.heard === withMic(good).length;
        return settled && failed === faulty.length && goodDone === good.length ? v : undefined;
      },
      90_000,
      250,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; the view claimed meanwhile: ${[...new Set(claims)].slice(0, 8).join(' | ')}`);
    });
    expect(claims).toEqual([]);

    const c = done.st.counts;
    expect(c).toMatchObject({ targeted: SITES, started: SITES, confirmedPlaying: good.length, attentionOnly: faulty.length, unreached: 0, completed: good.length });
    expect(c.heard).toBe(withMic(good).length);

    // Each faulty site: attention only, because it could not get the message audio, and what the fetch got.
    const listed = new Map(done.st.attentionOnly.map((u) => [u.siteId, u]));
    expect([...listed.keys()].sort()).toEqual([...faulty].sort());
    for (const id of faulty) {
      const u = listed.get(id)!;
      expect(u.status, id).toBe('failed');
      expect(u.reasons.map((x) => x.code).slice(0, 2), id).toEqual(['attention_only', 'alert_no_media']);
      expect(wordReason('vi', u.reasons[0]!, Date.now()), id).toBe('chỉ phát tín hiệu báo động, không phát được bản tin cảnh báo');
      expect(wordReason('vi', u.reasons[1]!, Date.now()), id).toMatch(/^không tải được âm thanh bản tin cảnh báo/);
      if (refused.includes(id)) expect(u.reasons[1]!.message, id).toContain('HTTP 503');
      else expect(u.reasons[1]!.message, id).toMatch(/interrupted at byte 0/);
    }
    // The report says the same per site: the siren only, not heard — even where the microphone heard the siren.
    const bySite = new Map(done.rep.map((s) => [s.siteId, s]));
    for (const id of faulty) {
      const s = bySite.get(id)!;
      expect(s, id).toMatchObject({ played: 'attention', heard: false, messageRepeats: 0 });
      expect(s.reasons.length, id).toBeGreaterThan(0);
      if (fleet.site(id).device.profile.monitorMic) expect(s.levelDb, id).not.toBeNull();
    }
    for (const id of good) {
      const s = bySite.get(id)!;
      expect(s.played, id).toBe('message');
      expect(s.heard, id).toBe(fleet.site(id).device.profile.monitorMic ? true : null);
    }

    // They said so once their fetch failed, well before the agents' 120 s download timeout, and released
    // the amplifier then instead of holding it on in silence.
    for (const id of faulty) {
      const s = bySite.get(id)!;
      expect(s.failedAt! - calledAt, id).toBeLessThan(MEDIA_TIMEOUT_MS / 2);
      const a = amp.get(id)!;
      expect(
        a.some((x) => x.on),
        id,
      ).toBe(true);
      await waitFor(`${id}: amplifier off`, () => a.at(-1)?.on === false, 20_000, 50);
      expect(a.at(-1)!.at - calledAt, id).toBeLessThan(MEDIA_TIMEOUT_MS / 2);
      expect(fleet.site(id).agent.playout!.engine.onAir, id).toBeNull();
    }
    // The cut sites really tried over the broken link (the proxy saw their requests).
    expect(cutter.requests.length).toBeGreaterThanOrEqual(cut.length);
  }, 240_000);
});
