/**
 * Failover timed (issue 18 item 3: "the other instance takes over within
 * 10 s"): two servers on one PostgreSQL database and one Mosquitto, 300
 * simulated sites that play (tests/helpers/cluster.ts, as the failover test
 * runs them), server A (its own process) holding every lease.
 *
 *   baseline: an alert posted to B with both servers up: ms until the first
 *             site confirms playing, and until every online site does (as
 *             the API tells, polled); beside them the server's own time to
 *             first sound (first and last site, from the sites' play-at
 *             times against the alert's issue);
 *   failover: A killed with SIGKILL, the same alert posted to B right after
 *             the kill: ms until B holds every lease (takeover), and the
 *             alert's first / 100 % confirmed playing, counted from the kill.
 *
 * Side by side in one run, on one fleet: the difference is the failover,
 * not the machine. The lease TTL is the default (6 s) unless
 * LOANET_BENCH_FAILOVER_TTL_MS says otherwise; LOANET_BENCH_FAILOVER_SITES
 * sets the size (300); --quick runs 20 sites. The server in this process
 * shares its CPU with the fleet's agents, as in the alert-fleet bench.
 */
import fs from 'node:fs';
import { LEASE_NAMES } from '../../server/cluster/lease-policy.ts';
import { which } from '../../server/media/tools.ts';
import { type Cluster, startCluster } from '../helpers/cluster.ts';
import { uploadTone } from '../helpers/media.ts';
import { tempDir } from '../helpers/server.ts';
import { CI_DATABASE_URL } from '../helpers/store.ts';
import { HAVE_MOSQUITTO } from '../helpers/mosquitto.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const SCENARIO = 'failover/kill-holder';

/** ms from `from` until `done()`, or NaN once `boundMs` passed. */
async function until(from: number, boundMs: number, done: () => boolean | Promise<boolean>, everyMs = 100): Promise<number> {
  for (;;) {
    if (await done()) return performance.now() - from;
    if (performance.now() - from > boundMs) return NaN;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface AlertTimes {
  firstConfirmedMs: number;
  allConfirmedMs: number;
  /** The server's own figures (sites' play-at times against the alert's issue): first and last site's first sound. */
  firstSoundMs: number;
  lastFirstSoundMs: number;
}

/** Post an alert to B and time its delivery from `from` (performance.now()). */
async function alertTimes(c: Cluster, mediaId: string, from: number, boundMs: number): Promise<AlertTimes & { id: string }> {
  const r = await c.b.api('POST', '/api/alerts', { areas: [COMMUNE], message: { mediaId }, attention: 'chime', repeats: 1, validForMinutes: 10, title: 'Lũ quét (đo chuyển máy)' });
  if (r.status !== 201) throw new Error(`alert refused: ${r.status} ${JSON.stringify(r.body)}`);
  const id = r.body.id as string;
  let last: { counts: { confirmedPlaying: number; targeted: number }; timeToFirstSound: { firstMs: number; lastMs: number } | null } | undefined;
  const poll = async () => (last = (await c.b.api('GET', `/api/alerts/${id}?limit=1`)).body.delivery);
  const online = c.fleet.ids().length;
  const firstConfirmedMs = await until(from, boundMs, async () => (await poll())!.counts.confirmedPlaying > 0);
  const allConfirmedMs = await until(from, boundMs, async () => (await poll())!.counts.confirmedPlaying >= online);
  return { id, firstConfirmedMs, allConfirmedMs, firstSoundMs: last?.timeToFirstSound?.firstMs ?? NaN, lastFirstSoundMs: last?.timeToFirstSound?.lastMs ?? NaN };
}

export async function runFailoverBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  if (!which('ffmpeg') || !HAVE_MOSQUITTO) return [{ scenario: SCENARIO, params: {}, figures: {}, note: 'skipped: needs ffmpeg and mosquitto' }];
  const sites = quick ? 20 : Number(process.env.LOANET_BENCH_FAILOVER_SITES ?? 300);
  const ttlMs = Number(process.env.LOANET_BENCH_FAILOVER_TTL_MS ?? 6000);
  const boundMs = quick ? 60_000 : 300_000;
  const media = tempDir('loanet-bench-failover-');
  let mediaId = '';
  const startedAt = Date.now();
  const c = await startCluster({
    postgresUrl: process.env.LOANET_TEST_DATABASE_URL || CI_DATABASE_URL,
    sites,
    area: COMMUNE,
    leaseTtlMs: ttlMs,
    env: { LOANET_LOG_LEVEL: 'warn' },
    log,
    beforeFleet: async (cl) => {
      mediaId = await uploadTone(cl.b, media, { title: 'Cảnh báo (đo chuyển máy)', seconds: 2, hz: 880 });
    },
  });
  try {
    log(`${sites} sites up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    const heard = await until(performance.now(), boundMs, () => c.fleet.ids().every((id) => c.b.server.ctx.fleet.isOnline(id)), 200);
    if (Number.isNaN(heard)) throw new Error('B never heard every site');
    const holds = await until(
      performance.now(),
      60_000,
      async () => (await (await fetch(`${c.a.base}/metrics`)).text()).match(/^loanet_lease_held\{lease="[^"]+"\} 1$/gm)?.length === LEASE_NAMES.length,
      200,
    );
    if (Number.isNaN(holds)) throw new Error('A never held every lease');

    // An unmeasured alert first, so both measured ones meet warm media caches (the first would fetch the message at 300 sites).
    const idle = () => until(performance.now(), boundMs, () => c.fleet.ids().every((id) => !c.fleet.site(id).agent.playout!.engine.onAir), 200);
    const warm = await alertTimes(c, mediaId, performance.now(), boundMs);
    await c.b.api('POST', `/api/alerts/${warm.id}/cancel`);
    await idle();
    const base = await alertTimes(c, mediaId, performance.now(), boundMs);
    log(`baseline: first confirmed ${base.firstConfirmedMs.toFixed(0)} ms, all ${base.allConfirmedMs.toFixed(0)} ms`);
    await c.b.api('POST', `/api/alerts/${base.id}/cancel`);
    // The sites idle again before the kill: the baseline alert's end is not part of the failover figure.
    await idle();

    const killedAt = performance.now();
    await c.killA();
    const killMs = performance.now() - killedAt;
    const afterKill = alertTimes(c, mediaId, killedAt, boundMs);
    const takeoverMs = await until(killedAt, 60_000, () => c.b.server.ctx.cluster.keeper.owned().length === LEASE_NAMES.length, 20);
    const over = await afterKill;
    log(`failover: takeover ${takeoverMs.toFixed(0)} ms, first confirmed ${over.firstConfirmedMs.toFixed(0)} ms, all ${over.allConfirmedMs.toFixed(0)} ms after the kill`);
    const figures = (t: AlertTimes) => ({
      firstConfirmedMs: t.firstConfirmedMs,
      allConfirmedMs: t.allConfirmedMs,
      firstSoundMs: t.firstSoundMs,
      lastFirstSoundMs: t.lastFirstSoundMs,
    });
    return [
      { scenario: SCENARIO, broker: 'mosquitto', params: { sites, leaseTtlMs: ttlMs, run: 'baseline (no failover)' }, figures: { ...figures(base) } },
      {
        scenario: SCENARIO,
        broker: 'mosquitto',
        params: { sites, leaseTtlMs: ttlMs, run: 'kill -9 of the holder' },
        figures: { takeoverMs, ...figures(over) },
        note: `times from the kill (the process gone ${killMs.toFixed(0)} ms after it); the alert posted to B right after it`,
      },
    ];
  } finally {
    await c.stop();
    fs.rmSync(media, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await runFailoverBench({ quick: process.argv.includes('--quick') }));
}
