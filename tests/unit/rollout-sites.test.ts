/**
 * The rollout's per-site decisions (server/updates/rollout.ts, activity.ts,
 * versions.ts): which targeted sites a release leaves out and why, where a
 * site's report moves it, when silence fails it, a resume that accepts the
 * failures that stopped its wave, what a site plays, and the fleet's
 * version counts.
 */
import { describe, expect, it } from 'vitest';
import { eligibility, silentTooLong, siteAfterReport, stepRollout, type ReleaseTarget, type RolloutSpec, type SiteNow, type TargetFacts } from '../../server/updates/rollout.ts';
import { siteActivity } from '../../server/updates/activity.ts';
import { versionDistribution } from '../../server/updates/versions.ts';

const agent: ReleaseTarget = { component: 'agent', version: '1.3.0' };
const firmware: ReleaseTarget = { component: 'device-firmware', version: '2.1.0', hardware: 'controller', profiles: ['village-cluster-4g'] };
const site = (over: Partial<TargetFacts> = {}): TargetFacts => ({
  siteId: 'lc-0001',
  retired: false,
  profile: 'village-cluster-4g',
  agentVersion: '1.2.0',
  devices: [{ id: 'controller', kind: 'controller', firmware: '2.0.0' }],
  otherRollout: null,
  ...over,
});

describe('eligibility', () => {
  it('takes a site behind the release, from the version its heartbeat reports', () => {
    expect(eligibility(agent, site())).toEqual({ included: true, fromVersion: '1.2.0' });
    expect(eligibility(agent, site({ agentVersion: null }))).toEqual({ included: true, fromVersion: null });
  });

  it('leaves out, with the reason, a retired site, one in another rollout, one already there, one of another profile', () => {
    expect(eligibility(agent, site({ retired: true }))).toMatchObject({ included: false, why: 'retired' });
    expect(eligibility(agent, site({ otherRollout: 'ro-1' }))).toMatchObject({ included: false, why: 'in_other_rollout', detail: expect.stringContaining('ro-1') });
    expect(eligibility(agent, site({ agentVersion: '1.3.0' }))).toMatchObject({ included: false, why: 'already_on_version' });
    expect(eligibility(firmware, site({ profile: 'commune-station' }))).toMatchObject({ included: false, why: 'wrong_profile' });
    expect(eligibility(firmware, site({ profile: null }))).toMatchObject({ included: false, why: 'wrong_profile' });
  });

  it('device firmware: only the devices of its hardware not yet on it; none of them, or all there, leaves the site out', () => {
    const devices = [
      { id: 'amp-a', kind: 'controller', firmware: '2.0.0' },
      { id: 'amp-b', kind: 'controller', firmware: '2.1.0' },
      { id: 'modem', kind: 'modem', firmware: '9.9.9' },
    ];
    expect(eligibility(firmware, site({ devices }))).toEqual({ included: true, fromVersion: '2.0.0', devices: ['amp-a'] });
    expect(eligibility(firmware, site({ devices: devices.slice(2) }))).toMatchObject({ included: false, why: 'no_matching_device' });
    expect(eligibility(firmware, site({ devices: devices.slice(1) }))).toMatchObject({ included: false, why: 'already_on_version' });
  });

  it('device firmware: matched on the hardware id each device says, not on its kind', () => {
    const amp1: ReleaseTarget = { component: 'device-firmware', version: '2.1.0', hardware: 'loanet-amp-1' };
    const devices = [
      { id: 'amp-a', kind: 'controller', hardware: 'loanet-amp-1', firmware: '2.0.0' },
      { id: 'amp-b', kind: 'controller', hardware: 'loanet-amp-2', firmware: '2.0.0' },
    ];
    expect(eligibility(amp1, site({ devices }))).toEqual({ included: true, fromVersion: '2.0.0', devices: ['amp-a'] });
    // Two sites behind the same driver (same kind), different hardware: told apart.
    expect(eligibility(amp1, site({ devices: devices.slice(1) }))).toMatchObject({ included: false, why: 'no_matching_device', detail: expect.stringContaining('loanet-amp-1') });
    // A device whose kind happens to equal the release's hardware but which says other hardware is not taken.
    expect(eligibility(firmware, site({ devices: [{ id: 'c', kind: 'controller', hardware: 'loanet-amp-1', firmware: '2.0.0' }] }))).toMatchObject({
      included: false,
      why: 'no_matching_device',
    });
  });

  it('device firmware: a device that says no hardware (older firmware, or known from the registry only) is matched on its kind', () => {
    expect(eligibility(firmware, site({ devices: [{ id: 'c', kind: 'controller', hardware: null, firmware: '2.0.0' }] }))).toEqual({
      included: true,
      fromVersion: '2.0.0',
      devices: ['c'],
    });
    expect(eligibility(firmware, site({ devices: [{ id: 'c', kind: 'controller', firmware: null }] }))).toEqual({ included: true, fromVersion: null, devices: ['c'] });
    const amp1: ReleaseTarget = { component: 'device-firmware', version: '2.1.0', hardware: 'loanet-amp-1' };
    expect(eligibility(amp1, site({ devices: [{ id: 'c', kind: 'controller', firmware: '2.0.0' }] }))).toMatchObject({ included: false, why: 'no_matching_device' });
  });
});

describe('siteAfterReport', () => {
  const installing = { state: 'installing' as const, reason: null };
  it('updated, failed and rolled back are final; progress changes nothing', () => {
    expect(siteAfterReport(installing, { state: 'downloading' }, 'running')).toBeNull();
    expect(siteAfterReport(installing, { state: 'updated' }, 'running')).toEqual({ state: 'updated', reason: null, final: true });
    expect(siteAfterReport(installing, { state: 'rolled_back', reason: 'sound_check_failed' }, 'running')).toEqual({ state: 'failed', reason: 'sound_check_failed', final: true });
    expect(siteAfterReport(installing, { state: 'failed', reason: 'hash_mismatch' }, 'paused')).toEqual({ state: 'failed', reason: 'hash_mismatch', final: true });
  });

  it('a cancelled site waits again only while the rollout runs', () => {
    expect(siteAfterReport(installing, { state: 'cancelled' }, 'running')).toEqual({ state: 'waiting', reason: null, final: true });
    expect(siteAfterReport(installing, { state: 'cancelled' }, 'aborted')).toEqual({ state: 'failed', reason: 'cancelled', final: true });
  });

  it('a site failed for silence comes back with its next report; a finished or waiting one ignores stale ones', () => {
    const silent = { state: 'failed' as const, reason: 'no_report' };
    expect(siteAfterReport(silent, { state: 'testing' }, 'running')).toEqual({ state: 'installing', reason: null, final: false });
    expect(siteAfterReport(silent, { state: 'updated' }, 'running')).toMatchObject({ state: 'updated' });
    expect(siteAfterReport(silent, { state: 'cancelled' }, 'running')).toEqual({ state: 'failed', reason: 'no_report', final: true });
    expect(siteAfterReport({ state: 'failed', reason: 'crash_loop' }, { state: 'downloading' }, 'running')).toBeNull();
    expect(siteAfterReport({ state: 'waiting', reason: null }, { state: 'failed', reason: 'disk_full' }, 'running')).toBeNull();
    expect(siteAfterReport({ state: 'updated', reason: null }, { state: 'updated' }, 'running')).toBeNull();
  });
});

describe('silentTooLong', () => {
  it('counts from the last move of the report, else from the start, and only for an installing site', () => {
    expect(silentTooLong({ state: 'installing', changedAt: null, startedAt: 1000 }, 1000 + 59_999, 60_000)).toBe(false);
    expect(silentTooLong({ state: 'installing', changedAt: null, startedAt: 1000 }, 1000 + 60_000, 60_000)).toBe(true);
    expect(silentTooLong({ state: 'installing', changedAt: 50_000, startedAt: 1000 }, 61_000, 60_000)).toBe(false);
    expect(silentTooLong({ state: 'waiting', changedAt: null, startedAt: 0 }, 1e9, 60_000)).toBe(false);
  });

  it('does not fail a site heard waiting for what it plays to end, however long that lasts; one that goes quiet while waiting fails', () => {
    const waiting = { state: 'installing' as const, changedAt: 1000, startedAt: 0, reportState: 'waiting_idle' };
    // A three-hour live stream: the same waiting_idle report in every heartbeat, the last one a moment ago.
    expect(silentTooLong({ ...waiting, heardAt: 3 * 3600_000 }, 3 * 3600_000 + 5000, 60_000)).toBe(false);
    expect(silentTooLong({ ...waiting, heardAt: 3 * 3600_000 }, 3 * 3600_000 + 60_000, 60_000)).toBe(true);
    // Heard only before the move: counts from the move.
    expect(silentTooLong({ ...waiting, heardAt: 500 }, 61_000, 60_000)).toBe(true);
    // Another state heard again and again is still silent: it does not move.
    expect(silentTooLong({ ...waiting, reportState: 'downloading', heardAt: 3 * 3600_000 }, 3 * 3600_000 + 5000, 60_000)).toBe(true);
  });
});

describe('a resumed wave', () => {
  const spec: RolloutSpec = {
    id: 'r',
    waves: [{ name: 'all', percent: 100 }],
    successThreshold: 0.9,
    errorThreshold: 0.2,
    minFinished: 2,
    onError: 'pause',
    maxInFlight: 10,
    broadcastMarginMs: 0,
  };
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const states: Record<string, SiteNow['state']> = { a: 'failed', b: 'failed', c: 'updated', d: 'waiting', e: 'waiting', f: 'waiting' };
  const sites = new Map(ids.map((id) => [id, { siteId: id, state: states[id]!, online: true, playing: false, nextBroadcastAt: null } satisfies SiteNow]));

  it('stops at the threshold, and after a resume counts only the sites that finished since', () => {
    expect(stepRollout(spec, [ids], { status: 'running', wave: 0 }, sites, 0).status).toBe('paused');
    const resumed = stepRollout(spec, [ids], { status: 'running', wave: 0, acknowledged: { wave: 0, failed: 2, finished: 3 } }, sites, 0);
    expect(resumed.status).toBe('running');
    expect(resumed.start).toEqual(['d', 'e', 'f']);
    // The failures accepted belong to that wave only.
    expect(stepRollout(spec, [ids], { status: 'running', wave: 0, acknowledged: { wave: 1, failed: 2, finished: 3 } }, sites, 0).status).toBe('paused');
  });
});

describe('siteActivity', () => {
  const sites = [
    { id: 'x', channels: ['2025.0268301', '2025.02683', '2025.10'] },
    { id: 'y', channels: ['2025.02680', '2025.10'] },
  ];
  const none = { alerts: [], live: [], entries: [], reportedPlaying: new Set<string>() };
  it('an alert or a live stream on a channel the site hears, a bulletin playing or one the site reports: playing', () => {
    expect(siteActivity(sites, none, 0).get('x')).toEqual({ playing: false, nextBroadcastAt: null });
    expect(siteActivity(sites, { ...none, alerts: [{ areas: ['2025.02683'], sites: null }] }, 0).get('x')?.playing).toBe(true);
    expect(siteActivity(sites, { ...none, alerts: [{ areas: ['2025.02683'], sites: null }] }, 0).get('y')?.playing).toBe(false);
    expect(siteActivity(sites, { ...none, alerts: [{ areas: ['2025.10'], sites: ['y'] }] }, 0).get('x')?.playing).toBe(false);
    expect(siteActivity(sites, { ...none, live: [{ areas: ['2025.10'] }] }, 0).get('y')?.playing).toBe(true);
    expect(siteActivity(sites, { ...none, reportedPlaying: new Set(['y']) }, 0).get('y')?.playing).toBe(true);
  });

  it("a bulletin: playing inside its slot, else the next one's start", () => {
    const entries = [
      { siteId: 'x', startAt: 1000, durationMs: 500 },
      { siteId: 'x', startAt: 5000, durationMs: 500 },
      { siteId: 'x', startAt: 3000, durationMs: 500 },
    ];
    expect(siteActivity(sites, { ...none, entries }, 1200).get('x')).toEqual({ playing: true, nextBroadcastAt: 3000 });
    expect(siteActivity(sites, { ...none, entries }, 1500).get('x')).toEqual({ playing: false, nextBroadcastAt: 3000 });
    expect(siteActivity(sites, { ...none, entries }, 6000).get('x')).toEqual({ playing: false, nextBroadcastAt: null });
  });
});

describe('versionDistribution', () => {
  it('counts each agent version and each kind’s firmware per group and in all; never heard is unknown', () => {
    const d = versionDistribution(
      [
        { group: 'a', agent: '1.2.0', devices: [{ kind: 'controller', firmware: '2.0.0' }] },
        { group: 'a', agent: '1.3.0', devices: [{ kind: 'controller', firmware: '2.1.0' }] },
        { group: 'b', agent: null, devices: [{ kind: 'controller', firmware: null }] },
      ],
      ['a', 'b', 'c'],
    );
    expect(d.total).toEqual({ sites: 3, agent: { '1.2.0': 1, '1.3.0': 1, unknown: 1 }, firmware: { controller: { '2.0.0': 1, '2.1.0': 1, unknown: 1 } } });
    expect(d.groups.map((g) => [g.group, g.sites])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 0],
    ]);
  });
});
