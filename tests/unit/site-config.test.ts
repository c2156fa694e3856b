/**
 * The site configuration's pure parts and the agent's copy of it (issue 16,
 * item 4): when content is a new revision, the message the contract accepts,
 * the coverage reason config_stale, the inbound route, and the agent's kept
 * file (owner-only, checked, another site's refused) in a real folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSiteConfig, decodeTelemetry, type TelemetryMessage } from '../../protocol/index.ts';
import { nextRevision, siteConfigContent, siteConfigHash, siteConfigMessage } from '../../server/site-config/revision.ts';
import { classifySite } from '../../server/coverage/site-condition.ts';
import { DEFAULT_COVERAGE_POLICY, type SiteObservation } from '../../server/coverage/model.ts';
import { HeldSiteConfig, SITE_CONFIG_FILE } from '../../edge-agent/site-config.ts';
import { inboundRoute } from '../../edge-agent/session/inbound.ts';

const NOW = Date.UTC(2026, 11, 5, 3, 0);
const facts = { areaChannels: ['2025.02683', '2025.15'], profile: 'village-cluster-4g', expectedDevices: [{ id: 'amp0', kind: 'amplifier' }], monitorMic: true };

describe('revisions', () => {
  it('the same content hashes the same whatever the key order of the input, and any change in it changes the hash', () => {
    const a = siteConfigHash(siteConfigContent(facts));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(
      siteConfigHash(
        siteConfigContent({ monitorMic: true, expectedDevices: [{ kind: 'amplifier', id: 'amp0' }], profile: 'village-cluster-4g', areaChannels: ['2025.02683', '2025.15'] }),
      ),
    ).toBe(a);
    const changed = [
      { ...facts, areaChannels: ['2025.02680', '2025.15'] },
      { ...facts, profile: null },
      { ...facts, expectedDevices: [] },
      { ...facts, monitorMic: false },
      { ...facts, areaChannels: ['2025.15', '2025.02683'] },
    ];
    for (const f of changed) expect(siteConfigHash(siteConfigContent(f)), JSON.stringify(f)).not.toBe(a);
  });

  it('counts up by one only when the content changes, and keeps the time the revision was made', () => {
    const h1 = siteConfigHash(siteConfigContent(facts));
    const h2 = siteConfigHash(siteConfigContent({ ...facts, areaChannels: ['2025.02680', '2025.15'] }));
    const r1 = nextRevision(undefined, h1, NOW);
    expect(r1).toEqual({ revision: 1, hash: h1, madeAt: NOW });
    expect(nextRevision(r1, h1, NOW + 5000)).toBe(r1);
    const r2 = nextRevision(r1, h2, NOW + 5000);
    expect(r2).toEqual({ revision: 2, hash: h2, madeAt: NOW + 5000 });
    // Back to the first content is a new revision, not revision 1 again: a board holding 2 must move.
    expect(nextRevision(r2, h1, NOW + 9000)).toEqual({ revision: 3, hash: h1, madeAt: NOW + 9000 });
  });

  it('makes a message the contract accepts, and the contract refuses one with no area channel or a bad key', () => {
    const content = siteConfigContent(facts);
    const m = siteConfigMessage('lc-cfg-01', nextRevision(undefined, siteConfigHash(content), NOW), content);
    expect(decodeSiteConfig.decode(JSON.stringify(m))).toEqual({ ok: true, value: m });
    const none = decodeSiteConfig.check({ ...m, areaChannels: [] });
    expect(none.ok).toBe(false);
    const bad = decodeSiteConfig.check({ ...m, areaChannels: ['2025.02683/#'] });
    expect(bad.ok ? 'ok' : bad.error.reason).toMatch(/areaChannels/);
  });
});

describe('coverage reason config_stale', () => {
  const want = { revision: 4, hash: 'a'.repeat(64), dueAt: NOW - 1 };
  const obs = (config: TelemetryMessage['config'] | 'absent', expectedConfig: SiteObservation['expectedConfig']): SiteObservation => ({
    siteId: 'cl-1',
    name: 'Cụm loa 1',
    kind: 'cluster',
    areaId: 1,
    firstSeenAt: NOW - 3_600_000,
    lastSeenAt: NOW - 1000,
    connected: true,
    disconnectedAt: null,
    intervalS: 30,
    telemetry: {
      v: 1,
      siteId: 'cl-1',
      at: NOW - 1000,
      seq: 3,
      intervalS: 30,
      uptimeS: 100,
      versions: { agent: '0.1.0', protocol: 1 },
      link: { type: '4g', signalDbm: -80 },
      power: { source: 'mains', mainsOk: true, batteryPct: null },
      amplifier: { on: false, volume: 70, fault: 'none', temperatureC: 30 },
      lines: [],
      temperatureC: null,
      clockOffsetMs: 0,
      devices: [],
      monitorMic: false,
      lastSoundCheck: null,
      ...(config === 'absent' ? {} : { config }),
    },
    lastSoundVerifiedAt: null,
    lastSoundCheck: null,
    expectsMonitorMic: false,
    ...(expectedConfig ? { expectedConfig } : {}),
  });

  it('is degraded with the applied and expected revisions when the board holds an older one past the grace period', () => {
    const v = classifySite(obs({ revision: 3, hash: 'b'.repeat(64) }, want), NOW, DEFAULT_COVERAGE_POLICY);
    expect(v.condition).toBe('degraded');
    expect(v.reasons).toEqual([
      {
        code: 'config_stale',
        severity: 'degraded',
        params: { applied: 3, expected: 4 },
        message: 'configuration revision 4 not applied (holds 3)',
      },
    ]);
  });

  it('counts none held (null) and an agent that predates configurations (absent) as stale', () => {
    for (const c of [null, 'absent'] as const) {
      const v = classifySite(obs(c, want), NOW, DEFAULT_COVERAGE_POLICY);
      expect(
        v.reasons.map((r) => [r.code, r.params.applied]),
        String(c),
      ).toEqual([['config_stale', null]]);
    }
  });

  it('is not stale within the grace period, when it holds the revision and hash, or when nothing is expected', () => {
    expect(classifySite(obs({ revision: 3, hash: 'b'.repeat(64) }, { ...want, dueAt: NOW + 1 }), NOW, DEFAULT_COVERAGE_POLICY).condition).toBe('operational');
    expect(classifySite(obs({ revision: 4, hash: 'a'.repeat(64) }, want), NOW, DEFAULT_COVERAGE_POLICY).condition).toBe('operational');
    expect(classifySite(obs(null, undefined), NOW, DEFAULT_COVERAGE_POLICY).condition).toBe('operational');
    // The same revision number with other content (a server whose store was replaced) is not the same configuration.
    expect(classifySite(obs({ revision: 4, hash: 'c'.repeat(64) }, want), NOW, DEFAULT_COVERAGE_POLICY).reasons.map((r) => r.code)).toEqual(['config_stale']);
  });

  it('says nothing of the configuration of an offline site: offline wins', () => {
    const v = classifySite({ ...obs(null, want), connected: false, disconnectedAt: NOW - 5000 }, NOW, DEFAULT_COVERAGE_POLICY);
    expect(v.reasons.map((r) => r.code)).toEqual(['offline']);
  });
});

describe('the agent side', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-site-config-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
  const message = (areaChannels: string[], revision: number, siteId = 'lc-cfg-01') => {
    const content = siteConfigContent({ ...facts, areaChannels });
    return siteConfigMessage(siteId, { revision, hash: siteConfigHash(content), madeAt: NOW }, content);
  };

  it("routes its own config topic to the config handler, never another site's", () => {
    expect(inboundRoute('lc-cfg-01', 'loanet/v1/sites/lc-cfg-01/config')).toBe('config');
    expect(inboundRoute('lc-cfg-01', 'loanet/v1/sites/lc-cfg-02/config')).toBeUndefined();
  });

  it('falls back to agent.json before the first delivery; the delivered channels win after, kept owner-only across a restart', async () => {
    const dir = tmp();
    const held = new HeldSiteConfig('lc-cfg-01', path.join(dir, SITE_CONFIG_FILE), log);
    await held.load();
    expect(held.report()).toBeNull();
    expect(held.areaChannels(['2025.02683', '2025.15'])).toEqual(['2025.02683', '2025.15']);

    const m = message(['2025.02680', '2025.15'], 2);
    const a = held.accept(m);
    expect(a.outcome).toBe('new');
    // Applied at once, before the write is done; reported only once kept (a heartbeat in between says the old one).
    expect(held.areaChannels(['2025.02683', '2025.15'])).toEqual(['2025.02680', '2025.15']);
    expect(held.report()).toBeNull();
    await a.kept;
    expect(held.report()).toEqual({ revision: 2, hash: m.hash });
    expect(held.accept(m).outcome).toBe('same');
    expect(fs.statSync(path.join(dir, SITE_CONFIG_FILE)).mode & 0o777).toBe(0o600);

    const again = new HeldSiteConfig('lc-cfg-01', path.join(dir, SITE_CONFIG_FILE), log);
    await again.load();
    expect(again.report()).toEqual({ revision: 2, hash: m.hash });
    expect(again.areaChannels(['2025.02683'])).toEqual(['2025.02680', '2025.15']);
  });

  it("applies whatever the server delivers, a lower revision too (a replaced server store), and refuses another site's", async () => {
    const dir = tmp();
    const held = new HeldSiteConfig('lc-cfg-01', path.join(dir, SITE_CONFIG_FILE), log);
    await held.load();
    await held.accept(message(['2025.02680', '2025.15'], 7)).kept;
    const lower = held.accept(message(['2025.02683', '2025.15'], 1));
    expect(lower.outcome).toBe('new');
    await lower.kept;
    expect(held.report()?.revision).toBe(1);
    expect(held.accept(message(['2025.02671', '2025.15'], 9, 'lc-cfg-02')).outcome).toBe('wrong_site');
    expect(held.areaChannels([])).toEqual(['2025.02683', '2025.15']);
    await held.flush();
  });

  it("ignores a kept file that is another site's or not a configuration, and says so", async () => {
    const dir = tmp();
    const file = path.join(dir, SITE_CONFIG_FILE);
    const other = new HeldSiteConfig('lc-cfg-02', file, log);
    await other.load();
    await other.accept(message(['2025.02680', '2025.15'], 3, 'lc-cfg-02')).kept;
    warnings.length = 0;
    const held = new HeldSiteConfig('lc-cfg-01', file, log);
    await held.load();
    expect(held.report()).toBeNull();
    expect(warnings.join('\n')).toMatch(/lc-cfg-02's/);
    fs.writeFileSync(file, JSON.stringify({ v: 1, siteId: 'lc-cfg-01', revision: 1 }));
    fs.rmSync(`${file}.prev`, { force: true });
    warnings.length = 0;
    const broken = new HeldSiteConfig('lc-cfg-01', file, log);
    await broken.load();
    expect(broken.report()).toBeNull();
    expect(warnings.join('\n')).toMatch(/ignoring the kept site configuration/);
  });

  it('the heartbeat carries the applied revision, or null, and a heartbeat without it is still valid', () => {
    const base = {
      v: 1,
      siteId: 'lc-cfg-01',
      at: NOW,
      seq: 0,
      intervalS: 30,
      uptimeS: 1,
      versions: { agent: '0.1.0', protocol: 1 },
      link: { type: '4g', signalDbm: null },
      power: { source: 'mains', mainsOk: true, batteryPct: null },
      amplifier: null,
      lines: [],
      temperatureC: null,
      clockOffsetMs: null,
      devices: [],
      monitorMic: false,
      lastSoundCheck: null,
    };
    expect(decodeTelemetry.check(base).ok).toBe(true);
    expect(decodeTelemetry.check({ ...base, config: null }).ok).toBe(true);
    expect(decodeTelemetry.check({ ...base, config: { revision: 2, hash: 'f'.repeat(64) } }).ok).toBe(true);
    expect(decodeTelemetry.check({ ...base, config: { revision: 0, hash: 'f'.repeat(64) } }).ok).toBe(false);
  });
});
