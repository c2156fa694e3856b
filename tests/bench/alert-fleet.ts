/**
 * The alert-fleet scenario (tests/integration/alert-fleet.test.ts) timed at
 * several fleet sizes side by side, default the test's 24 and 500 sites: the
 * test checks that every site does what it must at a size any machine
 * holds; here the same steps are timed, so what 500 sites cost is a figure
 * beside the small fleet's instead of a deadline a busy machine misses.
 *
 * As in the test, the server (embedded broker, SQLite, ffmpeg) and the
 * fleet's real agents (playout engine on the simulated amplifiers, media
 * cache over HTTP) share this one process: the figures include the agents'
 * own cost, which at 500 sites is most of the process's CPU. Per size, in
 * ms after the call (each a stage the test waits for):
 *
 *   alert: every online site confirmed playing, every one completed (3 sites
 *          down during the call), then the 3 back and confirmed playing;
 *   CAP:   an IPAWS message with embedded MP3 reported played (past the
 *          signal) at every site;
 *   cancel: a long alert playing at every site, then stopped at every site
 *          after the cancel.
 *
 * A stage that does not finish within its bound is NaN, and the note says
 * how many sites it reached. LOANET_BENCH_ALERT_FLEET_SIZES=24,500 sets the
 * sizes; --quick runs 10 sites.
 */
import fs from 'node:fs';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { which } from '../../server/media/tools.ts';
import { bindCapSender, capNowFor } from '../helpers/cap.ts';
import { uploadTone } from '../helpers/media.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const COMMUNE = '02683'; // Xã Bát Xát, as in the test
const MESSAGE_S = 2;
const DOWN = 3;

interface Stage {
  ms: number;
  reached: number;
  of: number;
}

/** Poll `count` until it reaches `of`; ms from `from`, or NaN with how far it got when `boundMs` passed. */
async function stage(from: number, of: number, boundMs: number, count: () => Promise<number>): Promise<Stage> {
  let reached = 0;
  for (;;) {
    reached = await count();
    if (reached >= of) return { ms: Date.now() - from, reached, of };
    if (Date.now() - from > boundMs) return { ms: NaN, reached, of };
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function delivery(t: TestServer, alertId: string): Promise<{ confirmedPlaying: number; completed: number; stopped: number }> {
  return (await t.api('GET', `/api/alerts/${alertId}?limit=1`)).body.delivery.counts;
}

async function alertTo(t: TestServer, body: Record<string, unknown>): Promise<{ id: string; at: number }> {
  const at = Date.now();
  const r = await t.api('POST', '/api/alerts', { areas: [COMMUNE], validForMinutes: 10, ...body });
  if (r.status !== 201) throw new Error(`alert refused: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.id as string, at };
}

async function oneSize(n: number, boundMs: number, log: (line: string) => void): Promise<BenchResult> {
  const dir = tempDir('loanet-bench-alert-fleet-');
  let t: TestServer | undefined;
  let fleet: FleetRunner | undefined;
  try {
    t = await startTestServer({ LOANET_LOG_LEVEL: 'warn' });
    const s = t;
    await importLaoCai2025(s);
    const mediaId = await uploadTone(s, dir, { title: 'Cảnh báo lũ quét (đo)', seconds: MESSAGE_S, hz: 880 });
    const startedAt = Date.now();
    fleet = await startPlayoutFleet(s, { sites: n, area: COMMUNE, dir, connectTimeoutMs: Math.max(60_000, boundMs) });
    const f = fleet;
    const startS = (Date.now() - startedAt) / 1000;
    log(`${n} sites connected in ${startS.toFixed(1)} s`);
    const ids = f.ids();
    const down = ids.slice(0, DOWN);

    // The alert with some sites down, then those sites back within its validity.
    for (const id of down) await f.kill(id);
    const a = await alertTo(s, { message: { mediaId }, attention: 'chime', repeats: 1, title: 'Lũ quét: sơ tán ngay' });
    const confirmed = await stage(a.at, n - DOWN, boundMs, async () => (await delivery(s, a.id)).confirmedPlaying);
    const completed = await stage(a.at, n - DOWN, boundMs, async () => (await delivery(s, a.id)).completed);
    const backAt = Date.now();
    for (const id of down) await f.restore(id);
    const returned = await stage(backAt, n, boundMs, async () => (await delivery(s, a.id)).confirmedPlaying);
    log(`${n} sites: alert confirmed ${confirmed.ms} ms, completed ${completed.ms} ms, returning ${returned.ms} ms`);

    // An IPAWS message with embedded MP3: every site asked whether it played the message (past the signal).
    const xml = capNowFor('ipaws-5e6dd964023f1930ef638846.xml', COMMUNE);
    await bindCapSender(s, /<sender>([^<]+)<\/sender>/.exec(xml)![1]!, ['admin']);
    const capAt = Date.now();
    const cap = await s.api('POST', '/api/alerts/cap', xml, { contentType: 'application/cap+xml' });
    if (cap.status !== 201) throw new Error(`CAP refused: ${cap.status} ${JSON.stringify(cap.body)}`);
    const capPlayed = await stage(capAt, n, boundMs, async () => {
      const rep = (await s.api('GET', `/api/alerts/${cap.body.id}/report?format=json`)).body as { sites: Array<{ repeat: number | null }> };
      return rep.sites.filter((x) => (x.repeat ?? 0) >= 1).length;
    });
    await s.api('POST', `/api/alerts/${cap.body.id}/cancel`);
    await stage(Date.now(), n, boundMs, async () => {
      const c = await delivery(s, cap.body.id);
      return c.stopped + c.completed;
    });
    log(`${n} sites: CAP message played ${capPlayed.ms} ms`);

    // A long alert, then its cancel.
    const long = await alertTo(s, { message: { mediaId }, attention: 'siren', repeats: 10 });
    const playing = await stage(long.at, n, boundMs, async () => (await delivery(s, long.id)).confirmedPlaying);
    const cancelAt = Date.now();
    await s.api('POST', `/api/alerts/${long.id}/cancel`);
    const stopped = await stage(cancelAt, n, boundMs, async () => (await delivery(s, long.id)).stopped);
    log(`${n} sites: long alert playing ${playing.ms} ms, stopped ${stopped.ms} ms after the cancel`);

    const stages = {
      alertConfirmed: confirmed,
      alertCompleted: completed,
      returningConfirmed: returned,
      capMessagePlayed: capPlayed,
      longAlertPlaying: playing,
      cancelStopped: stopped,
    };
    const missed = Object.entries(stages).filter(([, v]) => Number.isNaN(v.ms));
    return {
      scenario: 'alert-fleet/every-site',
      params: { sites: n },
      figures: { fleetStartS: startS, ...Object.fromEntries(Object.entries(stages).map(([k, v]) => [`${k}Ms`, v.ms])) },
      ...(missed.length ? { note: `${n} sites: not within ${boundMs / 1000} s: ${missed.map(([k, v]) => `${k} (${v.reached} of ${v.of})`).join(', ')}` } : {}),
    };
  } catch (e) {
    return { scenario: 'alert-fleet/every-site', params: { sites: n }, figures: {}, note: `did not complete at ${n} sites: ${(e as Error).message.slice(0, 300)}` };
  } finally {
    await fleet?.stop().catch(() => undefined);
    await t?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runAlertFleetBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  if (!which('ffmpeg')) return [{ scenario: 'alert-fleet/every-site', params: {}, figures: {}, note: 'skipped: needs ffmpeg' }];
  const sizes = quick ? [10] : (process.env.LOANET_BENCH_ALERT_FLEET_SIZES ?? '24,500').split(',').map(Number);
  const results: BenchResult[] = [];
  // A bound on each stage, long enough that a busy machine gives a figure rather than a gap.
  for (const n of sizes) results.push(await oneSize(n, quick ? 60_000 : 300_000, log));
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await runAlertFleetBench({ quick: process.argv.includes('--quick') }));
}
