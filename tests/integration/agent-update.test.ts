/**
 * The agent's A/B update in real processes (edge-agent/update/): the agent
 * runs as `edge-agent/main.ts --config FILE` under a supervisor that starts
 * it again whenever it exits (as systemd does), against a real server and
 * broker; the release comes from a node:http server in the test (the server's
 * release routes are another part), signed by a key the test made and the
 * board trusts.
 *
 * - a trial version whose program throws as it loads is abandoned after 3
 *   starts; the committed version runs and reports `rolled_back` crash_loop;
 * - an order for a newer build of the agent: fetched, installed in slot a,
 *   switched to, health-checked (connected, heartbeat, configuration, sound
 *   heard by the simulated monitoring microphone) and committed;
 * - the same with a sound check that cannot pass: rolled back, the old
 *   version runs and reports why;
 * - a release whose signature does not verify: refused before a byte of its
 *   files is fetched, nothing installed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { writeBootState } from '../../edge-agent/update/slots.ts';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { PROTOCOL_VERSION, siteTopic, type TelemetryMessage, type UpdateOrder, type UpdateReport } from '../../protocol/index.ts';
import { buildAgent } from '../../scripts/build.ts';
import { makeAgentSite, type AgentSite } from '../helpers/agent-site.ts';
import { agentCli, stopAllProcesses, stopProcess, type Exit, type Proc } from '../helpers/process.ts';
import { ReleaseServer, makeRelease, makeSigningKey, type TestRelease } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const FACTORY = readAgentVersion();
const NEW = '99.0.0';
const key = makeSigningKey();
let t: TestServer;
let dir: string;
let releases: ReleaseServer;
let releaseUrl: string;
let bundle: TestRelease;
const telemetry = new Map<string, TelemetryMessage[]>();
const updateEvents = new Map<string, UpdateReport[]>();

/** Starts the agent again whenever it exits, as systemd's Restart=always does; counts the starts. */
class Supervisor {
  starts = 0;
  readonly exits: Exit[] = [];
  readonly output: string[] = [];
  private proc: Proc | undefined;
  private stopped = false;
  constructor(private readonly config: string) {}
  start(): void {
    if (this.stopped) return;
    this.starts++;
    const p = agentCli('--config', this.config);
    this.proc = p;
    void p.exited.then((e) => {
      this.exits.push(e);
      this.output.push(`--- start ${this.starts} exited ${e.code ?? e.signal}`, ...p.lines);
      this.start();
    });
  }
  log(): string {
    return [...this.output, ...(this.proc?.lines ?? [])].join('\n');
  }
  /** SIGKILL the running agent (a power cut); the supervisor starts it again. */
  async kill(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  dir = tempDir('loanet-agent-update-');
  t.server.ctx.broker.onSiteMessage((m) => {
    if (m.channel === 'telemetry') {
      const list = telemetry.get(m.siteId) ?? [];
      list.push(JSON.parse(m.payload.toString()) as TelemetryMessage);
      telemetry.set(m.siteId, list);
    }
    if (m.channel === 'event') {
      const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
      if (e.type === 'update_status' && e.update) updateEvents.set(m.siteId, [...(updateEvents.get(m.siteId) ?? []), e.update]);
    }
  });
  releases = new ReleaseServer();
  releaseUrl = await releases.listen();
  // A newer build of this same agent: the release a board switches to.
  const out = path.join(dir, 'bundle');
  await buildAgent(out, { version: NEW });
  const files: Record<string, Buffer> = {};
  for (const name of fs.readdirSync(out)) files[name] = fs.readFileSync(path.join(out, name));
  bundle = makeRelease({ id: 'agent-99-0-0', version: NEW, key, arch: boardArch() ?? 'amd64', files });
  releases.add(bundle);
  fs.mkdirSync(path.join(dir, 'keys'));
  fs.writeFileSync(path.join(dir, 'keys', 'release.pem'), key.publicPem);
}, 120_000);

afterEach(async () => {
  await stopAllProcesses();
});

afterAll(async () => {
  await releases?.close();
  await t?.stop();
});

/** A site whose agent trusts the test's key and fetches releases from the test's release server. */
async function site(name: string, seed: number, extra: Record<string, unknown> = {}): Promise<AgentSite> {
  const s = await makeAgentSite(t, dir, { name, area: '02683', seed });
  const cfg = JSON.parse(fs.readFileSync(s.config, 'utf8')) as Record<string, unknown>;
  cfg.server = { ...(cfg.server as object), httpUrl: releaseUrl };
  cfg.releaseKeysDir = path.join(dir, 'keys');
  Object.assign(cfg, extra);
  fs.writeFileSync(s.config, JSON.stringify(cfg));
  return s;
}

function order(s: AgentSite, r: TestRelease, o: Partial<UpdateOrder> = {}): UpdateOrder {
  return {
    v: PROTOCOL_VERSION,
    siteId: s.id,
    at: Date.now(),
    rolloutId: `roll-${s.id}`,
    action: 'install',
    component: 'agent',
    releaseId: r.id,
    version: r.manifest.version,
    manifestSha256: r.manifestSha256,
    budgetBytes: r.total * 3 + 100_000,
    healthTimeoutS: 60,
    ...o,
  };
}

async function publishOrder(o: UpdateOrder): Promise<void> {
  await t.server.ctx.broker.publish(siteTopic(o.siteId, 'update'), Buffer.from(JSON.stringify(o)), { qos: 1, retain: true });
}

/** The newest heartbeat whose update report satisfies `pred`. */
function heartbeat(siteId: string, pred: (m: TelemetryMessage) => boolean): TelemetryMessage | undefined {
  return [...(telemetry.get(siteId) ?? [])].reverse().find(pred);
}

describe('agent A/B update, real processes', () => {
  it('abandons a trial version that crashes at start after 3 starts; the committed version runs and reports crash_loop', async () => {
    const s = await site('Cụm loa thử sập', 1701);
    // The board switched to 99.0.0 in slot b: the old version wrote the trial, its report, and restarted.
    const crashing = makeRelease({ id: 'agent-99-0-0-crash', version: NEW, key, files: { 'main.mjs': "throw new Error('this release crashes as it loads');\n" } });
    const slot = path.join(s.stateDir, 'slots', 'b');
    fs.mkdirSync(slot, { recursive: true });
    fs.writeFileSync(path.join(slot, 'main.mjs'), crashing.files.get('main.mjs')!);
    fs.writeFileSync(
      path.join(slot, 'release.json'),
      JSON.stringify({ format: 1, version: NEW, releaseId: crashing.id, manifest: crashing.manifestBytes.toString('base64'), signatures: crashing.signatures }),
    );
    await writeBootState(s.stateDir, {
      format: 1,
      committed: { slot: 'factory', version: FACTORY },
      trial: { slot: 'b', version: NEW, rolloutId: 'roll-crash', releaseId: crashing.id, fromVersion: FACTORY, tries: 0, since: Date.now() },
    });
    const { writeJsonAtomic } = await import('../../edge-agent/state-file.ts');
    await writeJsonAtomic(path.join(s.stateDir, 'update.json'), {
      report: { rolloutId: 'roll-crash', component: 'agent', releaseId: crashing.id, version: NEW, state: 'testing', fromVersion: FACTORY, since: Date.now() },
    });
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      const hb = await waitFor('a heartbeat reporting the rollback after a crash loop', () => heartbeat(s.id, (m) => m.update?.state === 'rolled_back'), 120_000);
      expect(hb.update).toMatchObject({ state: 'rolled_back', reason: 'crash_loop', version: NEW, fromVersion: FACTORY, rolloutId: 'roll-crash' });
      expect(hb.versions.agent).toBe(FACTORY);
      expect(sup.starts).toBe(4);
      expect(sup.exits.slice(0, 3).map((e) => e.code)).toEqual([1, 1, 1]);
      expect(sup.log()).toContain('this release crashes as it loads');
      const boot = JSON.parse(fs.readFileSync(path.join(s.stateDir, 'boot.json'), 'utf8').split('\n')[1]!) as Record<string, unknown>;
      expect(boot.trial).toBeUndefined();
      expect(boot.committed).toEqual({ slot: 'factory', version: FACTORY });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 180_000);

  it('fetches, installs, switches to and commits a newer agent after its health check', async () => {
    const s = await site('Cụm loa cập nhật', 1702);
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      await publishOrder(order(s, bundle));
      const hb = await waitFor('a heartbeat of the new version, committed', () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'updated'), 180_000);
      expect(hb.update).toMatchObject({ version: NEW, fromVersion: FACTORY, releaseId: bundle.id });
      const states = (updateEvents.get(s.id) ?? []).map((u) => u.state);
      for (const st of ['downloading', 'downloaded', 'verified', 'installing', 'testing', 'updated']) expect(states).toContain(st);
      const boot = JSON.parse(fs.readFileSync(path.join(s.stateDir, 'boot.json'), 'utf8').split('\n')[1]!) as Record<string, unknown>;
      expect(boot.committed).toEqual({ slot: 'a', version: NEW });
      expect(boot.trial).toBeUndefined();
      expect(fs.existsSync(path.join(s.stateDir, 'slots', 'a.partial'))).toBe(false);
      // One switch: the old version's exit, then the new one runs on.
      expect(sup.starts).toBe(2);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 300_000);

  it('resumes a download after the agent is killed mid-file, fetching again only what was not synced, then commits', async () => {
    const s = await site('Cụm loa mất điện', 1705);
    const largest = [...bundle.files].sort((x, y) => y[1].length - x[1].length)[0]!;
    const MiB = 1024 * 1024;
    expect(largest[1].length).toBeGreaterThan(MiB + 200_000);
    releases.faults.stall = { path: largest[0], after: MiB + 100_000 };
    const sentBefore = releases.sent.get(largest[0]) ?? 0;
    const rangesBefore = releases.ranges.length;
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      await publishOrder(order(s, bundle, { rolloutId: `roll-kill-${s.id}` }));
      const partial = path.join(s.stateDir, 'slots', 'a.partial', largest[0]);
      await waitFor('the first MiB synced to disk', () => fs.existsSync(`${partial}.synced`) && Number(fs.readFileSync(`${partial}.synced`, 'utf8')) >= MiB, 60_000);
      // The power goes: SIGKILL; the supervisor starts it again, and the retained order resumes the download.
      await sup.kill();
      const synced = Number(fs.readFileSync(`${partial}.synced`, 'utf8'));
      const hb = await waitFor('a heartbeat of the new version, committed', () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'updated'), 180_000);
      expect(hb.update?.rolloutId).toBe(`roll-kill-${s.id}`);
      expect(releases.ranges.slice(rangesBefore)).toContain(`bytes=${synced}-`);
      // What was synced was not fetched again: only the bytes after it, which the killed process had not made durable.
      expect((releases.sent.get(largest[0]) ?? 0) - sentBefore).toBe(largest[1].length + (MiB + 100_000 - synced));
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 300_000);

  it('killed during its health check, the trial starts again (its second of 3 starts) and commits', async () => {
    const s = await site('Cụm loa mất điện khi thử', 1707);
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      await publishOrder(order(s, bundle, { rolloutId: `roll-trial-kill-${s.id}` }));
      await waitFor('the new version on trial', () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'testing'), 120_000);
      const killedAt = sup.starts;
      await sup.kill();
      const hb = await waitFor('a heartbeat of the new version, committed', () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'updated'), 180_000);
      expect(hb.update?.rolloutId).toBe(`roll-trial-kill-${s.id}`);
      expect(sup.starts).toBe(killedAt + 1);
      expect(sup.log()).toContain('start 2 of 3');
      const boot = JSON.parse(fs.readFileSync(path.join(s.stateDir, 'boot.json'), 'utf8').split('\n')[1]!) as Record<string, unknown>;
      expect(boot.committed).toEqual({ slot: 'a', version: NEW });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 300_000);

  it('cancels a download on a cancel order and keeps nothing of it', async () => {
    const s = await site('Cụm loa hủy', 1706);
    const largest = [...bundle.files].sort((x, y) => y[1].length - x[1].length)[0]!;
    releases.faults.stall = { path: largest[0], after: 200_000 };
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      const o = order(s, bundle, { rolloutId: `roll-cancel-${s.id}` });
      await publishOrder(o);
      await waitFor('the download under way', () => heartbeat(s.id, (m) => m.update?.state === 'downloading'), 60_000);
      await waitFor('bytes on disk', () => fs.existsSync(path.join(s.stateDir, 'slots', 'a.partial')), 60_000);
      await publishOrder({ ...o, action: 'cancel', at: Date.now() });
      const hb = await waitFor('a heartbeat reporting the cancellation', () => heartbeat(s.id, (m) => m.update?.state === 'cancelled'), 60_000);
      expect(hb.versions.agent).toBe(FACTORY);
      expect(fs.existsSync(path.join(s.stateDir, 'slots', 'a.partial'))).toBe(false);
      expect(fs.existsSync(path.join(s.stateDir, 'slots', 'a'))).toBe(false);
      expect(sup.starts).toBe(1);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      releases.faults.stall = undefined;
      await sup.stop();
    }
  }, 120_000);

  it("takes the release from the server's own release routes (uploaded signed, fetched with the site's credential) and commits it", async () => {
    // The server trusts the same key for uploads (its release-keys folder, read at each use).
    fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'test-key.pem'), key.publicPem);
    // The same signed bundle, stored by the server under the id it gives it.
    const real = bundle;
    const created = await t.api('POST', '/api/releases', { manifest: real.manifestBytes.toString('base64'), signatures: real.signatures });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    for (const [file, body] of real.files) {
      const res = await fetch(`${t.baseUrl}/api/releases/${id}/files/${file}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
        body,
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    const s = await site('Cụm loa máy chủ', 1708);
    const cfg = JSON.parse(fs.readFileSync(s.config, 'utf8')) as { server: Record<string, unknown> };
    cfg.server.httpUrl = t.baseUrl;
    fs.writeFileSync(s.config, JSON.stringify(cfg));
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      await publishOrder(order(s, { ...real, id }, { rolloutId: `roll-server-${s.id}` }));
      const hb = await waitFor(
        'a heartbeat of the new version, committed',
        () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'updated' && m.update.releaseId === id),
        180_000,
      );
      expect(hb.update).toMatchObject({ releaseId: id, fromVersion: FACTORY, version: NEW });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 300_000);

  it('rolls back a version whose sound check fails; the old version runs and says why', async () => {
    // No monitoring microphone level can reach 0 dBFS: the trial's sound check fails.
    const s = await site('Cụm loa hoàn tác', 1703, { soundCheckThresholdDb: 0 });
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      await publishOrder(order(s, bundle));
      const hb = await waitFor(
        'a heartbeat of the old version reporting the rollback',
        () => heartbeat(s.id, (m) => m.versions.agent === FACTORY && m.update?.state === 'rolled_back'),
        180_000,
      );
      expect(hb.update).toMatchObject({ reason: 'sound_check_failed', version: NEW, fromVersion: FACTORY });
      expect((telemetry.get(s.id) ?? []).some((m) => m.versions.agent === NEW && m.update?.state === 'testing')).toBe(true);
      const boot = JSON.parse(fs.readFileSync(path.join(s.stateDir, 'boot.json'), 'utf8').split('\n')[1]!) as Record<string, unknown>;
      expect(boot.committed).toEqual({ slot: 'factory', version: FACTORY });
      expect(boot.trial).toBeUndefined();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 300_000);

  it('refuses a release whose signature does not verify before fetching a file, and installs nothing', async () => {
    const s = await site('Cụm loa chữ ký sai', 1704);
    const other = makeSigningKey();
    const forged = makeRelease({ id: 'agent-99-0-1-forged', version: '99.0.1', key: other, files: { 'main.mjs': 'export {};\n' } });
    // Signed by a key the board does not trust, under the trusted key's id.
    forged.signatures = [{ keyId: key.keyId, sig: forged.signatures[0]!.sig }];
    releases.add(forged);
    const sup = new Supervisor(s.config);
    sup.start();
    try {
      await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
      const before = releases.sent.get('main.mjs') ?? 0;
      await publishOrder(order(s, forged));
      const hb = await waitFor('a heartbeat reporting the refusal', () => heartbeat(s.id, (m) => m.update?.state === 'failed'), 60_000);
      expect(hb.update).toMatchObject({ reason: 'bad_signature', version: '99.0.1' });
      expect(releases.sent.get('main.mjs') ?? 0).toBe(before);
      expect(fs.existsSync(path.join(s.stateDir, 'slots'))).toBe(false);
      expect(sup.starts).toBe(1);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${sup.log()}`);
    } finally {
      await sup.stop();
    }
  }, 120_000);
});
