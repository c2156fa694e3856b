/**
 * As-run receipts survive the agent being killed (issue 3): a real agent
 * process (`node --import tsx edge-agent/main.ts --config FILE`) plays a
 * scheduled bulletin while its link to the broker is down, writes the
 * receipt to its journal, is SIGKILLed before the link comes back, and is
 * started again: the receipt reaches the server once — not lost, not
 * counted twice. A second agent is SIGKILLed WHILE it plays: after the
 * restart it does not play the bulletin again, and its receipt says partial.
 *
 * Real parts: server (HTTP, embedded broker on TCP, SQLite), schedule API,
 * media library (ffmpeg), the agent's media cache over HTTP with the site
 * credential, libopus, the simulated amplifier over the device protocol on
 * TCP (in this process, so its record can be read), and a TCP relay in front
 * of the broker that the test switches off and on (the agent's "4G link").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer } from '../../firmware-sim/device-server.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg, missingTools, uploadFile } from '../helpers/media.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const missing = missingTools(false);
const COMMUNE = '02683';
const BULLETIN_S = 2;
const FRAMES = (BULLETIN_S * 1000) / 20;

/** A TCP relay to the broker that can lose its carrier: `down()` drops every connection and refuses new ones. */
class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: number) {}
  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((res) => server.listen(this.port, '127.0.0.1', () => res()));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }
}

interface Agent {
  child: ChildProcess;
  output: string[];
  exited: Promise<unknown>;
}

const agents = new Set<Agent>();
function startAgent(config: string): Agent {
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/main.ts', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  const output: string[] = [];
  child.stdout!.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  const a: Agent = { child, output, exited: new Promise((res) => child.on('exit', res)) };
  agents.add(a);
  void a.exited.then(() => agents.delete(a));
  return a;
}
async function sigkill(a: Agent): Promise<void> {
  a.child.kill('SIGKILL');
  await a.exited;
}

let t: TestServer;
let dir: string;
let mediaId: string;
/** A longer one for the kill mid-play, so the kill lands inside it however slow the machine. */
let longMediaId: string;
const LONG_S = 8;

interface Site {
  id: string;
  device: SimDevice;
  deviceServer: DeviceServer;
  relay: Relay;
  config: string;
  stateDir: string;
}

async function makeSite(name: string): Promise<Site> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area: COMMUNE, profile: 'village-cluster-4g' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const { siteId: id, secret } = r.body.credential as { siteId: string; secret: string };
  const base = await loadProfile('village-cluster-4g');
  const device = new SimDevice({ ...base, amplifier: { ...base.amplifier, warmupMs: 300 } }, { seed: 11 });
  const deviceServer = new DeviceServer(device, { tickIntervalMs: 0 });
  const devicePort = await deviceServer.listen(0, '127.0.0.1');
  const relay = new Relay(t.server.mqttPort);
  await relay.up();
  const stateDir = path.join(dir, id);
  const config = path.join(dir, `${id}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      siteId: id,
      server: { mqttUrl: `mqtt://127.0.0.1:${relay.port}`, httpUrl: t.baseUrl },
      credential: { secret },
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 100, capMs: 1000 },
      devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
      stateDir,
      audio: { sink: 'device', bufferMs: 200 },
    }),
  );
  return { id, device, deviceServer, relay, config, stateDir };
}

async function schedule(title: string, at: number, siteId: string, media = mediaId): Promise<string> {
  const created = await t.api('POST', '/api/schedule/items', { title, mediaId: media, targets: { sites: [siteId] }, start: { at } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return created.body.id as string;
}

/** The agent reports (telemetry.playlist) holding the desired playlist with nothing missing. */
async function holdsPlaylist(siteId: string): Promise<void> {
  await waitFor(
    `${siteId} to hold its playlist with the media cached`,
    async () => {
      const r = await t.api('GET', `/api/sites/${siteId}/playlist`);
      const held = r.body.held as { version: string | null; missing: number } | null;
      return r.body.desired && held && held.version === r.body.desired.version && held.missing === 0 && r.body.desired.entries.length > 0;
    },
    30_000,
    200,
  );
}

const journalHas = (s: Site, entryId: string, kind: 'r' | 'p') => {
  try {
    return fs.readFileSync(path.join(s.stateDir, 'asrun.journal'), 'utf8').split('\n').some((l) => l.includes(`"${kind}":`) && l.includes(entryId));
  } catch {
    return false;
  }
};

const receiptsAt = (siteId: string, at: number) => t.server.ctx.asRun.list({ siteIds: [siteId], from: at - 60_000, to: at + 60_000 });

beforeAll(async () => {
  if (missing.length) return;
  dir = tempDir('loanet-receipts-kill-');
  t = await startTestServer();
  await importLaoCai2025(t);
  const wav = path.join(dir, 'ban-tin.wav');
  ffmpeg('-f', 'lavfi', '-i', `sine=frequency=440:duration=${BULLETIN_S}`, '-ac', '1', wav);
  const up = await uploadFile(t, wav, { title: 'Bản tin thử' });
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  mediaId = up.body.id;
  const longWav = path.join(dir, 'ban-tin-dai.wav');
  ffmpeg('-f', 'lavfi', '-i', `sine=frequency=330:duration=${LONG_S}`, '-ac', '1', longWav);
  const long = await uploadFile(t, longWav, { title: 'Bản tin dài' });
  expect(long.status, JSON.stringify(long.body)).toBe(201);
  longMediaId = long.body.id;
}, 60_000);

afterAll(async () => {
  await Promise.all([...agents].map((a) => sigkill(a)));
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing.length > 0)('receipts when the agent is SIGKILLed', () => {
  it('killed after playing offline and before the link returns: the receipt reaches the server once after the restart', async () => {
    const s = await makeSite('Cụm loa thôn (kill sau khi phát)');
    let agent = startAgent(s.config);
    await waitFor('agent online', async () => (await t.api('GET', `/api/sites/${s.id}`)).body.status?.connected === true, 20_000, 100);
    const at = Date.now() + 12_000;
    const itemId = await schedule('Bản tin phát khi mất sóng', at, s.id);
    const entryId = `${itemId}@${at}`;
    await holdsPlaylist(s.id);

    await s.relay.down(); // the link is gone before the start
    await waitFor('the receipt written to the journal', () => journalHas(s, entryId, 'r'), at - Date.now() + BULLETIN_S * 1000 + 15_000, 100);
    const heard = s.device.playedAudio().runs.filter((r) => r.heardFrames > 0);
    expect(heard.map((r) => r.heardFrames)).toEqual([FRAMES]); // it played, whole, from the cache
    expect(receiptsAt(s.id, at)).toEqual([]); // and the server has not heard of it

    await sigkill(agent);
    await s.relay.up();
    agent = startAgent(s.config);
    const receipts = await waitFor('the back-filled receipt at the server', () => (receiptsAt(s.id, at).length ? receiptsAt(s.id, at) : undefined), 30_000, 100);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ entryId, outcome: 'played', frames: FRAMES });
    const line = (await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${s.id}`)).body.lines;
    expect(line).toEqual([expect.objectContaining({ entryId, status: 'played', source: 'agent' })]);

    // Later reconnects and restarts change nothing: the journal knows the server stored it.
    await waitFor('the acknowledged mark in the journal', () => fs.readFileSync(path.join(s.stateDir, 'asrun.journal'), 'utf8').includes(`{"s":"r/${entryId}"}`), 10_000, 100);
    await sigkill(agent);
    agent = startAgent(s.config);
    await waitFor('agent online again', async () => (await t.api('GET', `/api/sites/${s.id}`)).body.status?.connected === true, 20_000, 100);
    expect(receiptsAt(s.id, at)).toHaveLength(1);
    expect(s.device.playedAudio().runs.filter((r) => r.heardFrames > 0).map((r) => r.heardFrames)).toEqual([FRAMES]);
    await sigkill(agent);
  });

  it('killed while playing: after the restart the bulletin is not played a second time, and the receipt says partial', async () => {
    const s = await makeSite('Cụm loa thôn (kill khi đang phát)');
    let agent = startAgent(s.config);
    await waitFor('agent online', async () => (await t.api('GET', `/api/sites/${s.id}`)).body.status?.connected === true, 20_000, 100);
    const at = Date.now() + 12_000;
    const itemId = await schedule('Bản tin bị ngắt giữa chừng', at, s.id, longMediaId);
    const entryId = `${itemId}@${at}`;
    await holdsPlaylist(s.id);
    await s.relay.down();
    await waitFor('the started mark in the journal', () => journalHas(s, entryId, 'p'), at - Date.now() + 10_000, 20);
    await sigkill(agent);
    const heardBefore = s.device.playedAudio().totals.heardFrames;
    expect(heardBefore).toBeLessThan((LONG_S * 1000) / 20);

    await s.relay.up();
    agent = startAgent(s.config);
    const receipts = await waitFor('the receipt at the server', () => (receiptsAt(s.id, at).length ? receiptsAt(s.id, at) : undefined), 30_000, 100);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ entryId, outcome: 'partial', reason: 'error' });
    // Still inside the bulletin's window, yet nothing more came out of the speakers for it.
    await new Promise((r) => setTimeout(r, Math.max(0, at + LONG_S * 1000 - Date.now()) + 500));
    expect(s.device.playedAudio().totals.heardFrames).toBe(heardBefore);
    await sigkill(agent);
  });
});
