/**
 * On-time accuracy of scheduled playout (issue 3, "measure and report"): one
 * bulletin scheduled through the API to the whole province, played by 500
 * simulated sites (`--quick`: 50) — real agents in this process (fleet
 * runner: media cache over HTTP with each site's credential, libopus, the
 * playout engine, the simulated amplifier over the device protocol), the
 * server a child process, once on its embedded broker (aedes) and once on a
 * Mosquitto started here (LOANET_MQTT_URL mode), with the ratio printed.
 *
 * Start error per site = when the site's simulated amplifier heard the first
 * frame (its record, on the agent's time base) converted to server time, minus
 * the scheduled start. Agents and server share this machine's clock, so the
 * conversion is exact here (Date.now − the agents' monotonic epoch) and the
 * figure is what a listener at the horn with a server-synchronised watch
 * would measure: clock-sync error + scheduling error. Also: the receipts' outcomes, and the
 * body bytes each site's cache fetched for the bulletin against the file's size.
 *
 * Everything runs on one 2-core machine with the server, so the event loop
 * of 500 agents in one process is the main source of error: a figure for
 * "how much headroom", not for one Pi (which runs one agent).
 *
 *   npx tsx tests/bench/playout-accuracy.ts [--quick]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { findMediaTools } from '../../server/media/tools.ts';
import { BROKERS, eachBroker, HAVE_MOSQUITTO, MOSQUITTO, prepareProvince, removeTempDirs, startStack, type BrokerKind, type Province } from './lib/stack.ts';
import { percentile, sleep, stopAll, waitFor } from './lib/proc.ts';
import { compareBrokers, printTable, type BenchResult } from './lib/result.ts';

const BULLETIN_S = 5;
/** --quick: a shorter bulletin, fewer sites, a shorter lead, both brokers side by side (a smoke run). */
const QUICK_BULLETIN_S = 2;
const PROVINCE = '15'; // Tỉnh Lào Cai

export async function runPlayoutAccuracyBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const sites = quick ? 20 : 500;
  const found = findMediaTools({});
  if (!('tools' in found)) throw new Error('ffmpeg/ffprobe not found (apt-get install ffmpeg)');
  const province = await prepareProvince(sites, log);
  const results: BenchResult[] = [];
  if (!HAVE_MOSQUITTO)
    results.push({ scenario: 'playout/on-time', broker: 'mosquitto', params: {}, figures: {}, note: `skipped: ${MOSQUITTO} not installed (apt-get install mosquitto)` });
  const brokers = BROKERS.filter((b) => b === 'embedded' || HAVE_MOSQUITTO);
  results.push(...(await eachBroker(brokers, quick, (broker) => onTime(province, broker, sites, quick, found.tools.ffmpeg.path, log))));
  const ratio = compareBrokers(results, 'playout/on-time');
  return ratio ? [...results, ratio] : results;
}

async function onTime(province: Province, broker: BrokerKind, sites: number, quick: boolean, ffmpeg: string, log: (line: string) => void): Promise<BenchResult> {
  const stack = await startStack(province, broker, { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0', LOANET_SCHEDULE_RECOMPUTE_S: '10' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-bench-playout-'));
  const bulletinS = quick ? QUICK_BULLETIN_S : BULLETIN_S;
  const caches = new Map<string, FileMediaCache>();
  let fleet: FleetRunner | undefined;
  try {
    // The bulletin: what the media library makes of a WAV (Ogg Opus, 24 kbit/s).
    const wav = path.join(dir, 'ban-tin.wav');
    execFileSync(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${bulletinS}`, '-ac', '1', wav]);
    const form = new FormData();
    form.set('title', 'Bản tin đo độ đúng giờ');
    form.set('file', new Blob([fs.readFileSync(wav)], { type: 'audio/wav' }), 'ban-tin.wav');
    const up = await fetch(`${stack.baseUrl}/api/media`, { method: 'POST', headers: { authorization: `Bearer ${stack.token}` }, body: form });
    const media = (await up.json()) as { id: string };
    if (up.status !== 201) throw new Error(`media upload answered ${up.status}: ${JSON.stringify(media)}`);

    fleet = new FleetRunner({
      api: stack.api,
      mqtt: stack.mqtt,
      sites,
      heartbeatS: 30,
      credentialsFile: stack.credentialsFile,
      log,
      playout: {
        stateRoot: path.join(dir, 'sites'),
        tailMs: 1000,
        mediaCache: ({ id, secret, stateDir }) => {
          const c = new FileMediaCache({ dir: path.join(stateDir ?? path.join(dir, id), 'media-cache'), limitBytes: 64 * 1024 * 1024, httpUrl: stack.baseUrl, siteId: id, secret });
          caches.set(id, c);
          return c;
        },
      },
    });
    await fleet.start();
    await waitFor('every agent connected', () => fleet!.stats().connected === sites, Math.max(60_000, sites * 200), 200);
    await sleep(quick ? 1000 : 3000); // clock exchanges settle (a burst at connect)

    const at = Date.now() + (quick ? 5000 : 45_000);
    const created = await stack.api.post<{ id: string }>('/api/schedule/items', {
      title: 'Bản tin đo độ đúng giờ',
      mediaId: media.id,
      targets: { areas: [PROVINCE] },
      start: { at },
    });
    const t0 = Date.now();
    await stack.api.post(`/api/schedule/items/${created.id}/approve`);
    const ids = fleet.ids();
    const ready = () =>
      ids.filter((id) => {
        const p = fleet!.site(id).agent.playout;
        return p !== undefined && p.executor.report().missing === 0 && p.executor.heldEntries().some((e) => e.itemId === created.id);
      }).length;
    await waitFor('every site to hold the playlist with its media', () => ready() === sites || Date.now() > at - 3000, at - Date.now(), 200).catch(() => undefined);
    const readyS = (Date.now() - t0) / 1000;
    const readyAtStart = ready();
    log(`playout-accuracy [${broker}]: ${readyAtStart}/${sites} sites ready ${readyS.toFixed(1)} s after approval; start at +${((at - Date.now()) / 1000).toFixed(1)} s`);

    const entryId = `${created.id}@${at}`;
    await waitFor(
      'every receipt',
      () => ids.every((id) => fleet!.site(id).agent.playout?.journal.has(entryId)),
      at - Date.now() + bulletinS * 1000 + 30_000,
      quick ? 100 : 250,
    ).catch(() => undefined);

    const offset = Date.now() - monotonicEpochMs();
    const errors: number[] = [];
    const outcomes: Record<string, number> = {};
    let fetched = 0;
    let underruns = 0;
    // What each agent itself reported: its start error against its own estimate of server time, and that estimate's bound.
    // True error ≈ reported: the agent started late; true ≫ reported: its clock estimate was off.
    const reportedErrors: number[] = [];
    const uncertainties: number[] = [];
    for (const id of ids) {
      const site = fleet.site(id);
      const local = at - offset;
      const runs = site.device.playedAudio().runs.filter((r) => r.firstHeardAt !== null && Math.abs(r.firstHeardAt - local) < 10_000);
      const first = runs.sort((a, b) => a.firstHeardAt! - b.firstHeardAt!)[0];
      if (first) errors.push(first.firstHeardAt! + offset - at);
      const receipt = site.agent.playout?.journal.get(entryId);
      const outcome = receipt?.outcome ?? 'none';
      if (receipt?.startErrorMs !== undefined) reportedErrors.push(receipt.startErrorMs);
      if (receipt?.clockUncertaintyMs !== undefined) uncertainties.push(receipt.clockUncertaintyMs);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      fetched += caches.get(id)?.report().counters.bytesFetched ?? 0;
      underruns += site.agent.playout?.engine.sinkStats().underruns ?? 0;
    }
    const abs = errors.map(Math.abs);
    const opusBytes =
      ids
        .map(
          (id) =>
            fleet!
              .site(id)
              .agent.playout?.executor.heldEntries()
              .find((e) => e.itemId === created.id)?.bytes ?? 0,
        )
        .find((b) => b > 0) ?? 0;
    const figures: Record<string, number> = {
      sitesReady: readyAtStart,
      readyAfterApprovalS: readyS,
      sitesHeard: errors.length,
      startErrorP50Ms: percentile(errors, 50),
      startErrorAbsP50Ms: percentile(abs, 50),
      startErrorAbsP99Ms: percentile(abs, 99),
      startErrorAbsMaxMs: abs.length ? Math.max(...abs) : NaN,
      sitesOver100Ms: abs.filter((e) => e > 100).length,
      agentReportedStartErrorP50Ms: percentile(reportedErrors, 50),
      agentReportedStartErrorP99Ms: percentile(reportedErrors, 99),
      clockUncertaintyMaxMs: uncertainties.length ? Math.max(...uncertainties) : NaN,
      // Frames that reached the amplifier after their play-at (the record dates them at play-at): transport lateness the start error does not show.
      sinkUnderruns: underruns,
      receiptsPlayed: outcomes.played ?? 0,
      receiptsLate: outcomes.late ?? 0,
      receiptsOther: sites - (outcomes.played ?? 0) - (outcomes.late ?? 0),
      // Body bytes the caches received (HTTP headers not counted; media-fetch.ts measures the wire).
      fileBytes: opusBytes,
      fetchedBytesPerSite: fetched / sites,
      fetchedOverFile: opusBytes > 0 ? fetched / sites / opusBytes : NaN,
    };
    log(`playout-accuracy [${broker}]: outcomes ${JSON.stringify(outcomes)}`);
    return {
      scenario: 'playout/on-time',
      broker,
      params: { sites, bulletinS, agentsInOneProcess: true },
      figures,
      note: 'start error = first frame heard on the simulated amplifier (server time) − scheduled start; all agents share one process and the machine with the server',
    };
  } finally {
    await fleet?.stop();
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  runPlayoutAccuracyBench({ quick })
    .then((r) => printTable(r))
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(async () => {
      await stopAll();
      removeTempDirs();
    });
}
