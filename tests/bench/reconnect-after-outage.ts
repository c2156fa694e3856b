/**
 * Time-to-all-back after a server outage of 1, 5 and 30 minutes, with the
 * agent's old back-off (cap 5 min) and the current one (cap 30 s), side by
 * side in one run on the same server.
 *
 * A real 30-minute outage is too long for a bench, so the outage itself is
 * the pure model: each site's back-off (common/backoff.ts, its own
 * seeded random stream) is run over the outage with `returnModel`, every try
 * while the server is away failing at once (the server's host refuses the
 * TCP connection). That gives when each site's first try after the return
 * comes. The return is then real: a server child process on its embedded
 * broker (lib/stack.ts; with an external broker the agents stay connected to
 * it while the server is down, so the broker's own restart is the outage
 * that matters, and it is the same replay), and one real MQTT client per
 * site, with its credential, connecting at the model's time after "the
 * return" (the start of the replay), subscribing to its cmd and playlist
 * topics and publishing its online state, as the agent does. A try that
 * fails goes on with the same back-off. A site is back at its SUBACK: from
 * then on an alert published to it reaches it.
 *
 * Figures per (back-off, outage): p50 / p95 / max seconds from the return
 * to back, the server's connection rate (CONNACKs per second: the busiest
 * second and the mean over the return), the server process's CPU over the
 * return, the tries each site made during the outage (model), failed tries
 * after the return; then old / new ratios. An unmeasured first round
 * connects every site once, so both back-offs meet a warm server. The per-address MQTT limits are
 * lifted (every client is on 127.0.0.1; a real province's sites have their
 * own addresses), so the rate measured is what the back-off asks of the
 * server. `--quick`: 41 sites, a 1 min outage, times scaled to 1/20, no
 * warm-up (a smoke run: its figures show the path works, not its cost).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { siteTopic, type SiteStateMessage } from '../../protocol/index.ts';
import { Backoff, returnModel } from '../../common/backoff.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';
import { prepareProvince, startStack, type Stack } from './lib/stack.ts';
import { CpuWindow, percentile, waitFor } from './lib/proc.ts';
import type { BenchResult } from './lib/result.ts';

const MODELS = [
  { name: 'old: cap 5 min', capMs: 300_000 },
  { name: 'new: cap 30 s', capMs: 30_000 },
] as const;

interface Replay {
  backS: number[];
  failedTries: number;
  triesDuringOutage: number;
  peakPerS: number;
  meanPerS: number;
  serverCpuPct: number;
  notBack: number;
}

export async function runReconnectAfterOutageBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const sites = quick ? 41 : Number(process.env.LOANET_BENCH_RECONNECT_SITES ?? 3000);
  const outagesMin = quick ? [1] : [1, 5, 30];
  const scale = quick ? 0.05 : 1;
  const province = await prepareProvince(sites, log);
  const stack = await startStack(province, 'embedded');
  const results: BenchResult[] = [];
  try {
    // A first round that is not measured: a freshly started server is slower at its first few thousand
    // connections (the first replay's early half came back ~10 s later than the model said, the later
    // ones on time), and both back-offs must meet the same server.
    if (!quick) {
      const warm = await replay(stack, province.sites.slice(0, sites), 0, 3000, scale, 1, log);
      log(`warm-up: ${sites - warm.notBack} sites connected once, p95 ${percentile(warm.backS, 95).toFixed(1)} s`);
    }
    for (const outageMin of outagesMin) {
      const pair: Record<string, Replay> = {};
      for (const [mi, model] of MODELS.entries()) {
        const r = await replay(stack, province.sites.slice(0, sites), outageMin * 60_000, model.capMs, scale, 1000 * outageMin + mi, log);
        pair[model.name] = r;
        log(
          `${model.name}, ${outageMin} min outage: p50 ${percentile(r.backS, 50).toFixed(1)} s, p95 ${percentile(r.backS, 95).toFixed(1)} s, max ${Math.max(...r.backS).toFixed(1)} s, peak ${r.peakPerS}/s, server cpu ${r.serverCpuPct.toFixed(0)} %`,
        );
        results.push({
          scenario: 'reconnect-after-outage',
          broker: 'embedded',
          params: { backoff: model.name, outageMin, sites, ...(scale !== 1 ? { timeScale: scale } : {}) },
          figures: {
            p50BackS: percentile(r.backS, 50),
            p95BackS: percentile(r.backS, 95),
            maxBackS: Math.max(...r.backS),
            peakConnectsPerS: r.peakPerS,
            serverCpuPct: r.serverCpuPct,
            // The smoke run's two rows print as one table only with few columns (lib/result.ts turns wide ones).
            ...(quick ? {} : { notBack: r.notBack, meanConnectsPerS: r.meanPerS, triesDuringOutagePerSite: r.triesDuringOutage / sites, failedTriesAfterReturn: r.failedTries }),
          },
        });
      }
      const o = pair[MODELS[0].name]!;
      const n = pair[MODELS[1].name]!;
      results.push({
        scenario: 'reconnect-after-outage/ratio old÷new',
        broker: 'embedded',
        params: { outageMin, sites },
        figures: {
          p50: percentile(o.backS, 50) / percentile(n.backS, 50),
          p95: percentile(o.backS, 95) / percentile(n.backS, 95),
          max: Math.max(...o.backS) / Math.max(...n.backS),
          peakConnectsPerS: o.peakPerS / n.peakPerS,
          triesDuringOutage: o.triesDuringOutage / n.triesDuringOutage,
        },
      });
    }
  } finally {
    await stack.stop();
  }
  return results;
}

/** One return: every site connects when its back-off says, until all are back (or a deadline that only bounds a hang). */
async function replay(
  stack: Stack,
  sites: ReadonlyArray<{ id: string; secret: string }>,
  outageMs: number,
  capMs: number,
  scale: number,
  seed: number,
  log: (s: string) => void,
): Promise<Replay> {
  const random = mulberry32(seed);
  const plans = sites.map((s) => {
    const backoff = new Backoff({ capMs, random });
    return { site: s, backoff, ...returnModel(backoff, outageMs) };
  });
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const backAt: number[] = [];
  const connackAt: number[] = [];
  let failedTries = 0;
  const cpu = new CpuWindow({ server: stack.server.pid });
  const t0 = performance.now();
  cpu.start();
  const tryNow = (p: (typeof plans)[number]) => {
    const c = mqtt.connect(stack.mqtt.url, {
      protocolVersion: 4,
      clientId: p.site.id,
      username: p.site.id,
      password: p.site.secret,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      keepalive: 60,
    });
    clients.push(c);
    let connected = false;
    c.on('error', () => {});
    c.once('connect', () => {
      connected = true;
      connackAt.push(performance.now() - t0);
      c.subscribe([siteTopic(p.site.id, 'cmd'), siteTopic(p.site.id, 'playlist')], { qos: 1 }, (err) => {
        if (err) return;
        backAt.push((performance.now() - t0) / 1000);
        const state: SiteStateMessage = { v: 1, siteId: p.site.id, state: 'online', at: Date.now() };
        c.publish(siteTopic(p.site.id, 'state'), JSON.stringify(state), { qos: 1, retain: true });
      });
    });
    c.once('close', () => {
      if (connected) return;
      failedTries++;
      timers.push(setTimeout(() => tryNow(p), p.backoff.next() * scale));
    });
  };
  for (const p of plans) timers.push(setTimeout(() => tryNow(p), p.firstTryAfterMs * scale));
  const deadlineMs = (capMs + 120_000) * scale;
  await waitFor(`all ${sites.length} sites back`, () => backAt.length >= sites.length || performance.now() - t0 > deadlineMs, deadlineMs + 10_000, 100);
  const w = cpu.stop();
  const notBack = sites.length - backAt.length;
  if (notBack > 0) log(`${notBack} sites not back within ${(deadlineMs / 1000).toFixed(0)} s`);
  // The server's connection rate: CONNACKs per second of the return.
  const perS = new Map<number, number>();
  for (const t of connackAt) perS.set(Math.floor(t / 1000), (perS.get(Math.floor(t / 1000)) ?? 0) + 1);
  const spanS = Math.max(1, Math.ceil(Math.max(0, ...connackAt) / 1000));
  for (const t of timers) clearTimeout(t);
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  // The next replay starts with every site away: wait until the broker has seen them go.
  await waitFor('the broker has no client left', async () => (await stack.api.get<{ broker: { clients: number } }>('/api/health')).broker.clients === 0, 60_000, 200).catch(() =>
    log('the broker still counts clients after the replay'),
  );
  return {
    backS: backAt.map((s) => s / scale),
    failedTries,
    triesDuringOutage: plans.reduce((a, p) => a + p.triesDuringOutage, 0),
    peakPerS: Math.max(0, ...perS.values()),
    meanPerS: connackAt.length / spanS,
    serverCpuPct: w.pct.server ?? NaN,
    notBack,
  };
}
