/**
 * One edge agent as it runs on a board: `node --import tsx edge-agent/main.ts
 * --config FILE` (what `npm run agent` runs), talking to a simulated device
 * over TCP (`npm run device`, firmware-sim/device-main.ts; the agent's audio
 * sink is 'device', the default: frames go over the device link to the
 * simulated amplifier, as they would to the board's sound card) and to a
 * server on the embedded broker. Resident memory and CPU over windows of the
 * same length, in three states:
 *
 *   idle              heartbeats every 30 s, nothing else;
 *   playing live      a 24 kbit/s live stream (POST /api/live/streams, a media
 *                     item played now) to the province, which the agent's
 *                     area channels hear: MQTT audio frames, libopus decode,
 *                     jitter buffer, the device link; checked by the
 *                     stream's own site statistics (packets played);
 *   playing bulletin  a bulletin scheduled through the API, fetched into the
 *                     agent's media cache beforehand and played from it;
 *                     checked by the site's receipt (GET /api/as-run).
 *
 * Printed side by side, with each state's figure over idle's.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findMediaTools } from '../../server/media/tools.ts';
import { acceptedCount, prepareProvince, startStack, waitForHeard, type Stack } from './lib/stack.ts';
import { CpuWindow, rssMiB, sleep, startTsx, stopProcess, waitFor, type Tracked } from './lib/proc.ts';
import type { BenchResult } from './lib/result.ts';

const PROVINCE = '15'; // Tỉnh Lào Cai

/** VmRSS of the process alone, without children (tsx's esbuild service, if any). */
function ownRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Window {
  rssMiB: number;
  rssTreeMiB: number;
  cpuPct: number;
  deviceCpuPct: number;
  seconds: number;
}

async function measure(agent: Tracked, device: Tracked, windowS: number): Promise<Window> {
  const win = new CpuWindow({ agent: agent.pid, device: device.pid });
  win.start();
  // RSS sampled through the window (it moves with GC): the mean, and the tree at the end.
  const samples: number[] = [];
  const end = performance.now() + windowS * 1000;
  while (performance.now() < end) {
    samples.push(ownRssMiB(agent.pid));
    await sleep(Math.min(1000, Math.max(0, end - performance.now())));
  }
  const w = win.stop();
  return { rssMiB: samples.reduce((a, b) => a + b, 0) / samples.length, rssTreeMiB: rssMiB(agent.pid), cpuPct: w.pct.agent!, deviceCpuPct: w.pct.device!, seconds: w.seconds };
}

/** A tone as the media library keeps it (Ogg Opus, 24 kbit/s) after an upload. */
async function uploadTone(stack: Stack, dir: string, seconds: number, title: string): Promise<string> {
  const found = findMediaTools({});
  if (!('tools' in found)) throw new Error('ffmpeg/ffprobe not found (apt-get install ffmpeg)');
  const wav = path.join(dir, `${seconds}s.wav`);
  execFileSync(found.tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, '-ac', '1', wav]);
  const form = new FormData();
  form.set('title', title);
  form.set('file', new Blob([fs.readFileSync(wav)], { type: 'audio/wav' }), path.basename(wav));
  const up = await fetch(`${stack.baseUrl}/api/media`, { method: 'POST', headers: { authorization: `Bearer ${stack.token}` }, body: form });
  const media = (await up.json()) as { id: string };
  if (up.status !== 201) throw new Error(`media upload answered ${up.status}: ${JSON.stringify(media)}`);
  return media.id;
}

interface LiveView {
  state: 'live' | 'ended';
  startAt: number;
  codec: { bitrate?: number };
  sites: { sites: number; played: number; lost: number; late: number };
}

export async function runEdgeAgentFootprintBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const heartbeatS = 30;
  const settleS = quick ? 0.5 : 10;
  const windowS = quick ? 1 : 60;
  // Long enough to cover settling, the window and the wait for the first site report (every 5 s).
  const programmeS = settleS + windowS + (quick ? 9 : 20);
  // The bulletin's receipt comes when it ends: in --quick a shorter one, just covering its window.
  const bulletinS = quick ? settleS + windowS + 3 : programmeS;
  const province = await prepareProvince(1, log);
  const site = province.sites[0]!;
  // The simulated device's process starts (tsx) while the server does.
  const device: Tracked = startTsx('device', 'firmware-sim/device-main.ts', ['--profile', 'commune-station', '--port', '0', '--host', '127.0.0.1'], {});
  // Watched from the start: the line may come before the server is up.
  const devicePort = device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/, 60_000);
  devicePort.catch(() => undefined);
  let agent: Tracked | undefined;
  let started: Stack | undefined;
  try {
    const stack = (started = await startStack(province, 'embedded', { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' }));
    const [mediaId, bulletinId] = await Promise.all([
      uploadTone(stack, stack.dir, programmeS, 'Đo tài nguyên của agent'),
      bulletinS === programmeS ? undefined : uploadTone(stack, stack.dir, bulletinS, 'Đo tài nguyên của agent (bản tin)'),
    ]);
    const { areaChannels } = await stack.api.get<{ areaChannels: string[] }>(`/api/sites/${site.id}`);
    const m = await devicePort;
    const configFile = path.join(stack.dir, 'agent.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        siteId: site.id,
        server: { mqttUrl: stack.mqtt.url, httpUrl: stack.baseUrl },
        credential: { secret: site.secret },
        heartbeatIntervalS: heartbeatS,
        areaChannels,
        link: { type: 'ethernet' },
        stateDir: path.join(stack.dir, 'agent-state'),
        devices: { driver: 'sim', host: '127.0.0.1', port: Number(m[1]) },
        audio: { sink: 'device' },
      }),
      { mode: 0o600 },
    );
    const base = await acceptedCount(stack.api);
    agent = startTsx('edge-agent', 'edge-agent/main.ts', ['--config', configFile], {});
    await agent.waitForLine(/loanet agent .*site /, 30_000);
    await waitForHeard(stack, agent, 1, 30_000, base.heartbeats);
    await sleep(settleS * 1000);
    const a = agent;
    const d = device;

    const idle = await measure(a, d, windowS);
    log(`edge-agent-footprint: idle rss ${idle.rssMiB.toFixed(1)} MiB, cpu ${idle.cpuPct.toFixed(2)}%`);

    // A live stream to the province, from a media item played now (ffmpeg → Opus 24 kbit/s on the server).
    const stream = await stack.api.post<{ id: number; codec: { bitrate?: number } }>('/api/live/streams', { source: { kind: 'media', mediaId }, areas: [PROVINCE], label: 'bench footprint' });
    const view = () => stack.api.get<LiveView>(`/api/live/streams/${stream.id}`);
    await waitFor('the agent to report live packets played', async () => (await view()).sites.played > 0, 30_000, 500);
    await sleep(settleS * 1000);
    const live = await measure(a, d, windowS);
    const liveS = (Date.now() - (await view()).startAt) / 1000;
    await stack.api.post(`/api/live/streams/${stream.id}/stop`).catch(() => undefined);
    await sleep(quick ? 3000 : 8000); // amplifier tail (5 s), the agent's final stream report (--quick: the last periodic one may be what is counted)
    const after = await view();
    // 20 ms packets: what the agent reported played against what the stream had sent when stopped.
    const livePlayed = after.sites.played;
    log(`edge-agent-footprint: live rss ${live.rssMiB.toFixed(1)} MiB, cpu ${live.cpuPct.toFixed(2)}% (${livePlayed} packets played over ${liveS.toFixed(0)} s, ${after.sites.lost} lost)`);

    // A bulletin from the cache: scheduled far enough ahead for the fetch, the window inside it.
    const leadS = quick ? 4 : 15;
    const at = Date.now() + leadS * 1000;
    const item = await stack.api.post<{ id: string }>('/api/schedule/items', { title: 'Bản tin đo tài nguyên', mediaId: bulletinId ?? mediaId, targets: { areas: [PROVINCE] }, start: { at } });
    await stack.api.post(`/api/schedule/items/${item.id}/approve`);
    await sleep(Math.max(0, at - Date.now()) + (settleS + 1) * 1000);
    const bulletin = await measure(a, d, windowS);
    log(`edge-agent-footprint: bulletin rss ${bulletin.rssMiB.toFixed(1)} MiB, cpu ${bulletin.cpuPct.toFixed(2)}%`);
    // Its receipt comes when it ends.
    const receipt = await waitFor(
      'the bulletin receipt',
      async () => {
        const r = await stack.api.get<{ lines: Array<{ siteId: string; status: string }> }>(`/api/as-run?area=${PROVINCE}&item=${encodeURIComponent(item.id)}&format=json&from=${at - 60_000}&to=${at + bulletinS * 1000 + 60_000}`);
        const line = r.lines.find((l) => l.siteId === site.id);
        return line && line.status !== 'upcoming' ? line.status : undefined;
      },
      (bulletinS + 30) * 1000,
      quick ? 250 : 1000,
    ).catch((e: Error) => `none (${e.message.slice(0, 80)})`);

    const row = (state: string, w: Window, extra: Record<string, number>, note?: string): BenchResult => ({
      scenario: 'edge-agent/footprint',
      broker: 'embedded',
      params: { state, windowS: Math.round(w.seconds) },
      figures: {
        rssMiB: w.rssMiB,
        rssTreeMiB: w.rssTreeMiB,
        cpuPct: w.cpuPct,
        rssOverIdle: w.rssMiB / idle.rssMiB,
        cpuOverIdle: idle.cpuPct > 0 ? w.cpuPct / idle.cpuPct : NaN,
        deviceSimCpuPct: w.deviceCpuPct,
        ...extra,
      },
      ...(note ? { note } : {}),
    });
    const bitrate = after.codec.bitrate ?? stream.codec.bitrate ?? 24000;
    return [
      row('idle', idle, {}, 'node --import tsx (TypeScript compiled at start-up, as npm run agent does); CPU % of one core of this machine, not of a Pi; heartbeats every 30 s'),
      row('playing live', live, { bitrateKbps: bitrate / 1000, streamS: liveS, packetsPlayed: livePlayed, packetsLost: after.sites.lost }, `live stream ${stream.id} (media item played now, Opus ${bitrate / 1000} kbit/s) heard through the agent's area channels; packetsPlayed (20 ms each) over the whole stream, from the agent's own stream reports`),
      row('playing bulletin', bulletin, {}, `scheduled bulletin played from the media cache; the site's receipt: ${receipt}`),
    ];
  } finally {
    await stopProcess(agent);
    await stopProcess(device);
    await started?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const { printTable } = await import('./lib/result.ts');
  const { removeTempDirs } = await import('./lib/stack.ts');
  const { stopAll } = await import('./lib/proc.ts');
  try {
    printTable(await runEdgeAgentFootprintBench({ quick }));
  } finally {
    await stopAll();
    removeTempDirs();
  }
}
