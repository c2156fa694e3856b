/**
 * Time from the API call that starts an alert to the first sound at each
 * site, read from the simulated amplifiers' own record of what they played
 * and when (firmware-sim/amplifier-record.ts), at several fleet sizes:
 *
 *   all online       every site connected and idle, the alert to the province;
 *   5% reconnecting  5% of the agents were down and start again at the very
 *                    moment of the call (a flood of CONNECTs, credential
 *                    checks and retained deliveries), measured apart for the
 *                    95% that were online (they must not be delayed) and for
 *                    the returning 5%.
 *
 * Each size runs twice, on the embedded broker (aedes) and on a Mosquitto
 * started here (the server in LOANET_MQTT_URL mode, the sites' passwords and
 * ACL from the server), and prints the ratio mosquitto / embedded.
 *
 * The server is a child process (its own CPU); the fleet runs in this
 * process (the amplifiers' records must be read here), each site with the
 * real agent, playout engine on the simulated amplifier, and media cache over
 * HTTP. Figures per size: p50/p99/100% of the sites' first sound after the
 * call, and the part of it that is delivery (the agent's `received`, from the
 * server's delivery rows) — the rest is the amplifier's warm-up (profiles:
 * 1.5–3 s, the engine switches the amplifier on and waits it out before
 * sound) and the sink's buffer. A site whose amplifier was still on would
 * sound within a frame or two of receipt.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { findMediaTools } from '../../server/media/tools.ts';
import { execFileSync } from 'node:child_process';
import { BROKERS, eachBroker, HAVE_MOSQUITTO, MOSQUITTO, prepareProvince, startStack, type Stack } from './lib/stack.ts';
import { CpuWindow, sleep, waitFor } from './lib/proc.ts';
import { compareBrokers, type BenchResult } from './lib/result.ts';

const pct = (sorted: readonly number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);

async function uploadMessage(stack: Stack, dir: string): Promise<string> {
  const found = findMediaTools({});
  if (!('tools' in found)) throw new Error(`ffmpeg needed: ${found.missing}`);
  const wav = path.join(dir, 'canh-bao.wav');
  execFileSync(found.tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=880:duration=1', '-ac', '1', wav]);
  const fd = new FormData();
  fd.append('title', 'Cảnh báo (đo thời gian)');
  fd.append('file', new Blob([fs.readFileSync(wav)], { type: 'audio/wav' }), 'canh-bao.wav');
  const res = await fetch(`${stack.baseUrl}/api/media`, { method: 'POST', headers: { authorization: `Bearer ${stack.token}` }, body: fd });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

interface Measured {
  /** ms after the call, per site that sounded, sorted. */
  sound: number[];
  /** ms after the call at which each site reported received (site clock estimate), sorted. */
  received: number[];
  missing: string[];
}

/** First heard frame after `calledAt` on each site's amplifier, in ms after the call. */
function firstSounds(fleet: FleetRunner, ids: readonly string[], calledAt: number): { by: Map<string, number>; missing: string[] } {
  const offset = Date.now() - monotonicEpochMs();
  const local = calledAt - offset;
  const by = new Map<string, number>();
  const missing: string[] = [];
  for (const id of ids) {
    const runs = fleet
      .site(id)
      .device.playedAudio()
      .runs.filter((r) => r.firstHeardAt !== null && r.lastHeardAt! >= local);
    const first = runs.map((r) => (r.firstHeardAt! >= local ? r.firstHeardAt! : null)).find((x) => x !== null);
    if (first === undefined || first === null) missing.push(id);
    else by.set(id, first - local);
  }
  return { by, missing };
}

async function alertOnce(
  stack: Stack,
  fleet: FleetRunner,
  mediaId: string,
  measureIds: readonly string[],
  before?: () => Promise<void>,
): Promise<{ alertId: string; calledAt: number; m: Measured }> {
  const calledAt = Date.now();
  const [res] = await Promise.all([
    fetch(`${stack.baseUrl}/api/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ areas: ['15'], message: { mediaId }, attention: 'chime', repeats: 1, validForMinutes: 10, title: 'Đo thời gian cảnh báo' }),
    }),
    before?.(),
  ]);
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`alert refused: ${res.status} ${JSON.stringify(body)}`);
  await waitFor('every measured site sounded', () => firstSounds(fleet, measureIds, calledAt).missing.length === 0, 120_000, 200).catch(() => undefined);
  const { by, missing } = firstSounds(fleet, measureIds, calledAt);
  const rows = await stack.api.get<{ sites: Array<{ siteId: string; receivedAt: number | null }> }>(`/api/alerts/${body.id}/report?format=json`);
  const want = new Set(measureIds);
  const received = rows.sites.filter((s) => want.has(s.siteId) && s.receivedAt !== null).map((s) => Math.max(0, s.receivedAt! - calledAt));
  return { alertId: body.id, calledAt, m: { sound: [...by.values()].sort((a, b) => a - b), received: received.sort((a, b) => a - b), missing } };
}

function figuresOf(m: Measured, n: number): Record<string, number> {
  return {
    sitesMeasured: n,
    sounded: m.sound.length,
    firstSoundP50Ms: pct(m.sound, 50),
    firstSoundP99Ms: pct(m.sound, 99),
    firstSound100Ms: m.missing.length === 0 ? pct(m.sound, 100) : NaN,
    receivedP50Ms: pct(m.received, 50),
    receivedP99Ms: pct(m.received, 99),
    received100Ms: m.received.length === n ? pct(m.received, 100) : NaN,
  };
}

export async function runAlertDeliveryBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const sizes = quick ? [20] : (process.env.LOANET_BENCH_ALERT_SIZES ?? '500,1000,3000').split(',').map(Number);
  const province = await prepareProvince(Math.max(...sizes), log);
  const results: BenchResult[] = [];
  const brokers = BROKERS.filter((b) => b === 'embedded' || HAVE_MOSQUITTO);
  if (!HAVE_MOSQUITTO)
    results.push({ scenario: 'alert/time-to-sound', broker: 'mosquitto', params: {}, figures: {}, note: `skipped: ${MOSQUITTO} not installed (apt-get install mosquitto)` });
  // --quick: both brokers side by side (a smoke run); the full run one after the other.
  for (const n of sizes)
    await eachBroker(brokers, quick, async (broker) => {
      const stack = await startStack(province, broker, { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-bench-alert-'));
      let fleet: FleetRunner | undefined;
      try {
        const mediaId = await uploadMessage(stack, dir);
        fleet = new FleetRunner({
          api: new LoanetClient(stack.baseUrl, stack.token),
          mqtt: { host: '127.0.0.1', port: stack.mqtt.port },
          sites: n,
          heartbeatS: 30,
          credentialsFile: stack.credentialsFile,
          startRate: 500,
          playout: {
            sink: 'device',
            tailMs: 1000,
            mediaCache: ({ id, secret }) =>
              new FileMediaCache({
                dir: path.join(dir, 'caches', id),
                limitBytes: 5 * 1024 * 1024,
                httpUrl: stack.baseUrl,
                siteId: id,
                secret,
                retry: { baseMs: 200, capMs: 2000 },
              }),
          },
        });
        const f = fleet;
        await f.start();
        // On a loaded 2-core machine a few thousand agents in one process may not all be up in time:
        // measure over the sites online at the call (the "online sites"), and say how many.
        await waitFor(`${n} agents connected`, () => f.stats().connected === n, Math.max(120_000, n * 100), 500).catch(() => undefined);
        await sleep(quick ? 500 : 5000);
        const ids = f.ids().filter((id) => f.site(id).agent.stats.connected);
        if (ids.length < n) log(`alert-delivery: only ${ids.length} of ${n} agents connected; measuring those`);

        // The server's CPU just before the call, over as long: what it was still doing anyway (the fleet's arrival).
        const quiet = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid });
        quiet.start();
        await sleep(quick ? 1000 : 3000);
        const q = quiet.stop();
        const cpu = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid });
        cpu.start();
        const a = await alertOnce(stack, f, mediaId, ids);
        const w = cpu.stop();
        log(
          `alert-delivery [${broker}]: ${n} sites online: first sound p50 ${pct(a.m.sound, 50)} ms, p99 ${pct(a.m.sound, 99)} ms, 100% ${pct(a.m.sound, 100)} ms (${a.m.missing.length} silent)`,
        );
        results.push({
          scenario: 'alert/time-to-sound',
          broker,
          params: { sites: n },
          figures: {
            ...figuresOf(a.m, ids.length),
            online: ids.length,
            serverCpuPct: w.pct.server!,
            brokerCpuPct: w.pct.broker ?? 0,
            serverCpuPctBeforeCall: q.pct.server!,
            windowS: w.seconds,
          },
          ...(a.m.missing.length ? { note: `${a.m.missing.length} sites did not sound within 120 s` } : {}),
        });
        await stack.api.post(`/api/alerts/${a.alertId}/cancel`);
        await sleep(quick ? 2000 : 4000); // amplifiers off again (tail), the retained slot cleared

        // 5% of the agents were down and come back at the moment of the call.
        const back = ids.filter((_, i) => i % 20 === 7);
        const stayed = ids.filter((id) => !back.includes(id));
        for (const id of back) await f.kill(id);
        await sleep(quick ? 1000 : 3000);
        const b = await alertOnce(stack, f, mediaId, ids, async () => {
          await Promise.all(back.map((id) => f.restore(id)));
        });
        const stayedM = firstSounds(f, stayed, b.calledAt);
        const backM = firstSounds(f, back, b.calledAt);
        const rows = await stack.api.get<{ sites: Array<{ siteId: string; receivedAt: number | null }> }>(`/api/alerts/${b.alertId}/report?format=json`);
        const recv = (set: readonly string[]) =>
          rows.sites
            .filter((s) => set.includes(s.siteId) && s.receivedAt !== null)
            .map((s) => Math.max(0, s.receivedAt! - b.calledAt))
            .sort((x, y) => x - y);
        const stayedMeasured: Measured = { sound: [...stayedM.by.values()].sort((x, y) => x - y), received: recv(stayed), missing: stayedM.missing };
        const backMeasured: Measured = { sound: [...backM.by.values()].sort((x, y) => x - y), received: recv(back), missing: backM.missing };
        log(`alert-delivery [${broker}]: ${n} sites, ${back.length} reconnecting: online p99 ${pct(stayedMeasured.sound, 99)} ms, returning p99 ${pct(backMeasured.sound, 99)} ms`);
        results.push({
          scenario: 'alert/time-to-sound-5pct-reconnecting/online',
          broker,
          params: { sites: n, reconnecting: back.length },
          figures: figuresOf(stayedMeasured, stayed.length),
          note: 'the 95% that stayed online while 5% reconnected at the moment of the call',
        });
        results.push({
          scenario: 'alert/time-to-sound-5pct-reconnecting/returning',
          broker,
          params: { sites: n, reconnecting: back.length },
          figures: figuresOf(backMeasured, back.length),
          note: 'the 5% whose agents started again at the moment of the call (the retained alert_start)',
        });
        await stack.api.post(`/api/alerts/${b.alertId}/cancel`);
      } catch (e) {
        log(`alert-delivery [${broker}]: ${n} sites failed: ${(e as Error).message}`);
        log(`server output (last lines):\n${stack.server.tail().slice(-3000)}`);
        results.push({
          scenario: 'alert/time-to-sound',
          broker,
          params: { sites: n },
          figures: {},
          note: `did not complete at ${n} sites on this machine: ${(e as Error).message.slice(0, 200)}`,
        });
      } finally {
        await fleet?.stop().catch(() => undefined);
        await stack.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  // Side by side per size: the same fleet, the same alert, on aedes and on Mosquitto.
  const ratios: BenchResult[] = [];
  for (const n of sizes) {
    for (const scenario of ['alert/time-to-sound', 'alert/time-to-sound-5pct-reconnecting/online', 'alert/time-to-sound-5pct-reconnecting/returning']) {
      const r = compareBrokers(results, scenario, (x) => x.params.sites === n);
      if (r) ratios.push(r);
    }
  }
  return [...results, ...ratios];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const { printTable } = await import('./lib/result.ts');
  const { removeTempDirs } = await import('./lib/stack.ts');
  try {
    printTable(await runAlertDeliveryBench({ quick }));
  } finally {
    removeTempDirs();
  }
}
