/**
 * What the fleet runner itself costs per simulated site: `npm run sim` (one
 * process: per site a simulated device, the real edge agent and a real MQTT
 * connection) as a child process against a server on the embedded broker;
 * its resident memory once every site is connected and heard, and its CPU
 * over a window of whole heartbeat periods, at two fleet sizes. The marginal
 * figures (between the two sizes) are the cost of one more site without the
 * process's fixed overhead (Node, tsx, modules).
 *
 * The broker does not change what the runner does, so this runs on the
 * embedded broker only; heartbeat-ingest.ts also reports the runner's cost
 * at 3,000 sites on both brokers.
 */
import { acceptedCount, prepareProvince, startFleetRunner, startStack, waitForHeard } from './lib/stack.ts';
import { CpuWindow, rssMiB, sleep, stopProcess } from './lib/proc.ts';
import type { BenchResult } from './lib/result.ts';

export async function runFleetRunnerCostBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const sizes = quick ? [10, 30] : [500, 3000];
  const heartbeatS = quick ? 1 : 30;
  const windowS = quick ? 1.5 : 30;
  const settleS = quick ? 0.2 : 10;
  const province = await prepareProvince(Math.max(...sizes), log);
  const stack = await startStack(province, 'embedded');
  const results: BenchResult[] = [];
  try {
    let heard = 0;
    for (const n of sizes) {
      const base = await acceptedCount(stack.api);
      const fleet = startFleetRunner(stack, n, heartbeatS);
      try {
        heard = Math.max(heard, n);
        const rampS = await waitForHeard(stack, fleet, heard, Math.max(60_000, n * 100), base.heartbeats);
        await sleep(settleS * 1000);
        const rss = rssMiB(fleet.pid);
        const win = new CpuWindow({ fleet: fleet.pid, server: stack.server.pid });
        win.start();
        await sleep(windowS * 1000);
        const w = win.stop();
        const rssEnd = rssMiB(fleet.pid);
        log(`fleet-runner-cost: ${n} sites: rss ${rss.toFixed(0)} → ${rssEnd.toFixed(0)} MiB, cpu ${w.pct.fleet!.toFixed(1)}% of one core`);
        results.push({
          scenario: 'fleet-runner/cost',
          broker: 'embedded',
          params: { sites: n, heartbeatS, windowS: Math.round(w.seconds) },
          figures: {
            rssMiB: rss,
            rssEndMiB: rssEnd,
            rssKiBPerSite: (rss * 1024) / n,
            cpuPct: w.pct.fleet!,
            cpuPctPer1000Sites: (w.pct.fleet! / n) * 1000,
            rampS,
            serverCpuPct: w.pct.server!,
          },
        });
      } finally {
        await stopProcess(fleet, 30_000);
      }
    }
  } finally {
    await stack.stop();
  }
  const [a, b] = results;
  if (a && b) {
    const dn = (b.params.sites as number) - (a.params.sites as number);
    results.push({
      scenario: 'fleet-runner/marginal',
      broker: 'embedded',
      params: { from: a.params.sites!, to: b.params.sites!, heartbeatS },
      figures: {
        rssKiBPerSite: ((b.figures.rssMiB! - a.figures.rssMiB!) * 1024) / dn,
        cpuPctPer1000Sites: ((b.figures.cpuPct! - a.figures.cpuPct!) / dn) * 1000,
        fixedRssMiB: a.figures.rssMiB! - ((b.figures.rssMiB! - a.figures.rssMiB!) / dn) * (a.params.sites as number),
      },
      note: "one more site, without the process's fixed overhead (fixedRssMiB: the intercept)",
    });
  }
  return results;
}
