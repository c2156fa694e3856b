/**
 * The built agent (`npm run build`, scripts/build.ts): one JavaScript bundle
 * run by plain `node`, no TypeScript loader, as a board's package runs it.
 * Built into a folder of the test's own, started with the flags a board's
 * service uses, beside a simulated device, against a real server: it reports
 * the version fixed into it at build time, loads loanet's libopus binding
 * through the same relative path as the sources (FEC, not the fallback), and
 * its site's heartbeat reaches the server; SIGTERM stops it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS, buildAgent } from '../../scripts/build.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function run(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

let dir: string;
let t: TestServer;
let device: Proc | undefined;
let agent: Proc | undefined;
let bundle: string;

describe('the built agent', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-agent-build-');
    bundle = (await buildAgent(path.join(dir, 'agent'))).file;
    t = await startTestServer();
    await importLaoCai2025(t);
  }, 120_000);

  afterAll(async () => {
    for (const p of [agent, device]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is plain JavaScript: no TypeScript loader is needed or named in it', () => {
    const text = fs.readFileSync(bundle, 'utf8');
    expect(text).not.toMatch(/from ["']tsx/);
    expect(text).toContain(JSON.stringify(VERSION));
  });

  it('runs on plain node, reports its built version and FEC, is heard by the server, and stops on SIGTERM', async () => {
    const site = await t.api('POST', '/api/sites', { name: 'Cụm loa thử bản dựng', kind: 'cluster', area: '02683' });
    expect(site.status, JSON.stringify(site.body)).toBe(201);
    const { siteId, secret } = site.body.credential as { siteId: string; secret: string };
    const { areaChannels } = (await t.api('GET', `/api/sites/${siteId}`)).body as { areaChannels: string[] };

    device = run(process.execPath, ['--import', 'tsx', 'firmware-sim/device-main.ts', '--profile', 'commune-station', '--port', '0', '--host', '127.0.0.1']);
    const port = await waitFor('the simulated device listening', () => /listening on 127\.0\.0\.1:(\d+)/.exec(device!.out())?.[1], 60_000);
    const config = path.join(dir, 'agent.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        siteId,
        server: { mqttUrl: t.mqttUrl, httpUrl: t.baseUrl },
        credential: { secret },
        heartbeatIntervalS: 30,
        areaChannels,
        link: { type: 'ethernet' },
        stateDir: path.join(dir, 'state'),
        devices: { driver: 'sim', host: '127.0.0.1', port: Number(port) },
        audio: { sink: 'null' },
      }),
      { mode: 0o600 },
    );

    agent = run(process.execPath, [...AGENT_NODE_FLAGS, bundle, '--config', config]);
    // Its last start-up line says how lost live packets are handled.
    await waitFor('the agent started', () => /lost live packets/.test(agent!.out()) || agent!.child.exitCode !== null, 30_000);
    expect(agent.out()).toContain(`loanet agent ${VERSION}: site ${siteId}`);
    // The native binding was found from the bundle's folder, as from the sources'.
    expect(agent.out()).toMatch(/libopus .*, lost live packets rebuilt from in-band FEC/);
    await waitFor(
      'the site heard',
      async () => ((await t.api('GET', `/api/sites/${siteId}`)).body as { status: { lastSeenAt: number | null } }).status.lastSeenAt !== null,
      30_000,
      100,
    );

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  }, 120_000);
});
