/**
 * The command-line path end to end, as a technician runs it: a real server,
 * `firmware-sim/device-main.ts` serving a simulated device on TCP, and
 * `edge-agent/main.ts --config FILE` reading a JSON config from disk — each
 * its own OS process, talking over real sockets.
 *
 * The agent runs from its bundle, as a board runs it, and the device as
 * `node --import tsx FILE`, which is what `npx tsx FILE` ends up running:
 * node is the process itself, where npx and the tsx launcher are parent
 * processes that do not pass SIGTERM/SIGKILL on (killing them orphans the
 * real process), and the signals are what this test is about. One
 * bad-config case runs the sources through `npx tsx` (`npm run agent`) to
 * show the exit code survives the wrapper.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { agentCli, deviceCli, ROOT, startProcess, stopAllProcesses, stopProcess, type Proc } from '../helpers/process.ts';
import type { TelemetryMessage } from '../../protocol/index.ts';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const SITE = 'lc-cli-cluster-01';
const PROFILE = 'village-cluster-4g';

// --------------------------------------------------------------- fixture ----

let t: TestServer;
let dir: string;
let device: Proc;
let secret: string;

interface SiteView {
  status: { connected: boolean; telemetry: TelemetryMessage | null } | null;
}
interface SiteEvent {
  at: number;
  type: string;
  detail: { reason?: string | null } | null;
}
const site = async () => (await t.api<SiteView>('GET', `/api/sites/${SITE}`)).body;
const telemetry = async () => (await site()).status?.telemetry ?? null;
const disconnects = async (from: number) => (await t.api<{ events: SiteEvent[] }>('GET', `/api/sites/${SITE}/events?type=disconnected&from=${from}`)).body.events;

function writeConfig(name: string, config: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

let devicePort = 0;
const agentConfig = (over: Record<string, unknown> = {}) => ({
  siteId: SITE,
  server: { mqttUrl: t.mqttUrl },
  credential: { secret },
  heartbeatIntervalS: 1,
  keepaliveS: 5,
  reconnect: { baseMs: 100, capMs: 1000, refusedCapMs: 1000 },
  devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
  ...over,
});

beforeAll(async () => {
  dir = tempDir('loanet-agent-cli-');
  t = await startTestServer();
  await importLaoCai2025(t);
  const created = await t.api<{ credential: { secret: string } }>('POST', '/api/sites', {
    id: SITE,
    name: 'Cụm loa thôn (CLI test)',
    kind: 'cluster',
    area: '02680',
    profile: PROFILE,
    monitorMic: true,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  secret = created.body.credential.secret;

  // Mains already lost when it boots: telemetry must show the device's state, not defaults.
  device = deviceCli('--profile', PROFILE, '--port', '0', '--fault', 'mains_lost');
  devicePort = Number((await device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  expect(devicePort).toBeGreaterThan(0);
});

afterAll(async () => {
  await stopAllProcesses();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ----------------------------------------------------------------- tests ----

describe('npm run agent -- --config FILE, against npm run device', () => {
  let agent: Proc;

  it('brings the site online with telemetry from the device, and device faults injected on stdin reach the server', async () => {
    agent = agentCli('--config', writeConfig('agent.json', agentConfig()));
    await agent.waitForLine(new RegExp(`loanet agent ${VERSION.replace(/\./g, '\\.')}: site ${SITE}`));

    const tm = await waitFor(
      'site connected with device telemetry',
      async () => {
        const s = await site();
        return s.status?.connected && s.status.telemetry?.lines.length ? s.status.telemetry : undefined;
      },
      15_000,
      100,
    );
    expect(tm.lines.map((l) => [l.id, l.status, l.nominalOhm])).toEqual([
      [1, 'ok', 167],
      [2, 'ok', 200],
    ]);
    expect(tm.versions).toMatchObject({ agent: VERSION, firmware: 'loanet-fw 1.4.0' });
    expect(tm.link.type).toBe('4g');
    expect(tm.power).toMatchObject({ source: 'battery', mainsOk: false });

    device.child.stdin!.write('inject line_open 2\n');
    await device.waitForLine(/^out: ok inject line_open 2$/);
    await waitFor('line 2 open at the server', async () => (await telemetry())?.lines.find((l) => l.id === 2)?.status === 'open', 5_000, 100);
    device.child.stdin!.write('clear line_open 2\n');
    await waitFor('line 2 ok again', async () => (await telemetry())?.lines.find((l) => l.id === 2)?.status === 'ok', 5_000, 100);
  });

  it('runs a set_volume command sent through the API on the device', async () => {
    const r = await t.api('POST', `/api/sites/${SITE}/commands`, { type: 'set_volume', params: { level: 42 }, waitMs: 5000 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', type: 'set_volume', result: { volume: 42 } });
    await waitFor('volume 42 in telemetry', async () => (await telemetry())?.amplifier?.volume === 42, 5_000, 100);
  });

  it('on SIGTERM says offline with reason shutdown and exits 0', async () => {
    const from = Date.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    const events = await waitFor('a disconnected event', () => disconnects(from).then((e) => (e.length ? e : undefined)), 5_000, 100);
    expect(events.map((e) => e.detail?.reason)).toEqual(['shutdown']);
    expect((await site()).status?.connected).toBe(false);
  });

  // KNOWN BUG, so marked `fails`: the server drops an offline older than the
  // last online (server/fleet/fleet-state.ts applyState, "both are stamped at
  // connect time"), but the agent stamps its will at CONNECT and its online at
  // CONNACK, a few ms later — so every last will is discarded as stale and a
  // killed agent is only noticed by the heartbeat deadline. Fix: the agent
  // stamps "online" with its will's time (edge-agent/agent.ts). When this test
  // starts passing, vitest reports it: drop `.fails`.
  it('restarted and then SIGKILLed, is declared offline by its last will', async () => {
    const from = Date.now();
    agent = agentCli('--config', path.join(dir, 'agent.json'));
    await waitFor('connected again', async () => (await site()).status?.connected, 15_000, 100);
    agent.child.kill('SIGKILL');
    expect((await agent.exited).signal).toBe('SIGKILL');
    const events = await waitFor('a last-will disconnect', () => disconnects(from).then((e) => (e.length ? e : undefined)), 4_000, 100);
    expect(events.map((e) => e.detail?.reason)).toEqual(['last-will']);
    expect((await site()).status?.connected).toBe(false);
  });

  it('with a wrong secret logs a clear refusal and keeps retrying instead of exiting', async () => {
    const from = Date.now();
    const wrong = agentCli('--config', writeConfig('wrong-secret.json', agentConfig({ credential: { secret: 'not-the-site-secret' } })));
    try {
      await wrong.waitForLine(/broker refused the connection: .*check credential for site lc-cli-cluster-01/);
      // refusedCapMs 1000: a refused agent waits 0.5-1 s between tries; three refusals show it is still at it.
      await waitFor('three refusals', () => wrong.lines.filter((l) => l.includes('broker refused the connection')).length >= 3, 6_000, 100);
      expect(wrong.running()).toBe(true);
      const connects = (await t.api<{ events: SiteEvent[] }>('GET', `/api/sites/${SITE}/events?type=connected&from=${from}`)).body.events;
      expect(connects).toEqual([]);
    } finally {
      await stopProcess(wrong);
    }
  });

  it('with a bad config file exits 2 with one line naming the file and field', async () => {
    const badPort = writeConfig('bad-port.json', agentConfig({ devices: { driver: 'sim', host: '127.0.0.1', port: 'seven' } }));
    const { devices: _devices, ...noDevicesConfig } = agentConfig();
    const noDevices = writeConfig('no-devices.json', noDevicesConfig);
    const notJson = writeConfig('not-json.json', '{ "siteId": ');
    // One through npx, as the docs run it, to show the exit code survives the wrappers.
    const runs = [
      { p: startProcess('npx', ['tsx', 'edge-agent/main.ts', '--config', badPort]), file: badPort, field: /: devices\.port: Expected integer$/ },
      { p: agentCli('--config', noDevices), file: noDevices, field: /: devices: missing; the agent needs a device driver/ },
      { p: agentCli('--config', notJson), file: notJson, field: /: not valid JSON/ },
      { p: agentCli(), file: '', field: /no config file given; usage: npm run agent -- --config FILE$/ },
    ];
    for (const { p, file, field } of runs) {
      expect(await p.exited).toEqual({ code: 2, signal: null });
      const out = p.lines.filter((l) => l.trim() !== 'err:' && l.trim() !== 'out:');
      expect(out, out.join('\n')).toHaveLength(1);
      expect(out[0]!.startsWith(`err: loanet agent: ${file ? `bad config ${file}` : ''}`), out[0]).toBe(true);
      expect(out[0]).toMatch(field);
    }
  });
});
