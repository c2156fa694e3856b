/**
 * One edge agent as it runs on a board: `node --import tsx edge-agent/main.ts
 * --config FILE` (what `npm run agent` runs), talking to a simulated device
 * over TCP (`npm run device`, firmware-sim/device-main.ts) and to a server
 * on the embedded broker. Resident memory and CPU while idle (heartbeats
 * every 30 s, nothing else) over a window.
 *
 * "While playing a 24 kbps stream" is not measurable yet: the agent has no
 * audio path (edge-agent/playout is being built); the result says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { prepareProvince, startStack, waitForHeard } from './lib/stack.ts';
import { CpuWindow, rssMiB, sleep, startTsx, stopProcess, type Tracked } from './lib/proc.ts';
import type { BenchResult } from './lib/result.ts';

/** VmRSS of the process alone, without children (tsx's esbuild service, if any). */
function ownRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function runEdgeAgentFootprintBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const heartbeatS = 30;
  const settleS = quick ? 1 : 10;
  const windowS = quick ? 3 : 60;
  const province = await prepareProvince(1, log);
  const site = province.sites[0]!;
  const stack = await startStack(province, 'embedded');
  let device: Tracked | undefined;
  let agent: Tracked | undefined;
  try {
    device = startTsx('device', 'firmware-sim/device-main.ts', ['--profile', 'commune-station', '--port', '0', '--host', '127.0.0.1'], {});
    const m = await device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/, 30_000);
    const configFile = path.join(stack.dir, 'agent.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        siteId: site.id,
        server: { mqttUrl: stack.mqtt.url },
        credential: { secret: site.secret },
        heartbeatIntervalS: heartbeatS,
        link: { type: 'ethernet' },
        devices: { driver: 'sim', host: '127.0.0.1', port: Number(m[1]) },
      }),
      { mode: 0o600 },
    );
    agent = startTsx('edge-agent', 'edge-agent/main.ts', ['--config', configFile], {});
    await agent.waitForLine(/loanet agent .*site /, 30_000);
    await waitForHeard(stack, agent, 1, 30_000);
    await sleep(settleS * 1000);
    const rssStart = ownRssMiB(agent.pid);
    const win = new CpuWindow({ agent: agent.pid, device: device.pid });
    win.start();
    await sleep(windowS * 1000);
    const w = win.stop();
    log(`edge-agent-footprint: rss ${ownRssMiB(agent.pid).toFixed(0)} MiB, cpu ${w.pct.agent!.toFixed(2)}% of one core`);
    return [
      {
        scenario: 'edge-agent/idle',
        broker: 'embedded',
        params: { heartbeatS, windowS: Math.round(w.seconds), profile: 'commune-station', device: 'sim over TCP' },
        figures: {
          rssMiB: ownRssMiB(agent.pid),
          rssStartMiB: rssStart,
          rssTreeMiB: rssMiB(agent.pid),
          cpuPct: w.pct.agent!,
          cpuMsPerS: w.pct.agent! * 10,
        },
        note: 'node --import tsx (TypeScript compiled at start-up, as npm run agent does); CPU % of one core of this machine, not of a Pi',
      },
      {
        scenario: 'edge-agent/playing-24kbps',
        params: {},
        figures: {},
        note: 'not measurable yet: the agent has no audio path (no frames, no playout); to be added when edge-agent/playout lands',
      },
    ];
  } finally {
    await stopProcess(agent);
    await stopProcess(device);
    await stack.stop();
  }
}
