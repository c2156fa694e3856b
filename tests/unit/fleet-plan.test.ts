import { describe, expect, it } from 'vitest';
import { planFleet, pickFaulty, type CommuneInfo } from '../../firmware-sim/fleet-plan.ts';
import { isValidSiteId } from '../../protocol/index.ts';

const communes: CommuneInfo[] = [
  { key: '2025.02683', code: '02683', name: 'Xã Bát Xát', lat: 22.52, lon: 103.85 },
  { key: '2025.02647', code: '02647', name: 'Phường Lào Cai', lat: 22.5, lon: 104.01 },
  { key: '2025.02671', code: '02671', name: 'Phường Cam Đường', lat: null, lon: null },
];

describe('fleet plan', () => {
  it('gives every commune its station before any village gets a cluster', () => {
    const plan = planFleet(communes, 3);
    expect(plan.map((s) => s.kind)).toEqual(['station', 'station', 'station']);
    expect(plan[0]).toMatchObject({ id: 'sim-02647-st', area: '2025.02647', profile: 'commune-station', name: 'Đài truyền thanh Phường Lào Cai' });
  });

  it('spreads clusters round-robin, one per simulated village, with valid site ids', () => {
    const plan = planFleet(communes, 10);
    const clusters = plan.filter((s) => s.kind === 'cluster');
    expect(clusters).toHaveLength(7);
    expect(clusters.map((c) => c.village!.code)).toEqual(['02647-01', '02671-01', '02683-01', '02647-02', '02671-02', '02683-02', '02647-03']);
    expect(clusters[0]).toMatchObject({ area: '2025.02647-01', village: { name: 'Thôn 01', parentKey: '2025.02647' } });
    expect(new Set(plan.map((s) => s.id)).size).toBe(10);
    expect(plan.every((s) => isValidSiteId(s.id))).toBe(true);
  });

  it('places villages within a few km of the commune, and repeats exactly', () => {
    const a = planFleet(communes, 30);
    const b = planFleet(communes, 30);
    expect(a).toEqual(b);
    for (const s of a.filter((x) => x.kind === 'cluster' && x.lat !== null)) {
      const c = communes.find((x) => s.area.startsWith(x.key + '-'))!;
      expect(Math.abs(s.lat! - c.lat!)).toBeLessThan(0.05);
      expect(Math.abs(s.lon! - c.lon!)).toBeLessThan(0.05);
    }
  });

  it('uses solar clusters without a monitoring mic for one in five clusters', () => {
    const plan = planFleet(communes, 23).filter((s) => s.kind === 'cluster');
    expect(plan.filter((s) => s.profile === 'village-cluster-solar')).toHaveLength(4);
  });

  it('fewer sites than communes: stations only', () => {
    expect(planFleet(communes, 2).every((s) => s.kind === 'station')).toBe(true);
    expect(planFleet(communes, 0)).toEqual([]);
  });

  it('refuses nonsense', () => {
    expect(() => planFleet(communes, -1)).toThrow(/whole number/);
    expect(() => planFleet([], 5)).toThrow(/import an area list/);
  });

  it('picks a deterministic share for fault injection', () => {
    const plan = planFleet(communes, 100);
    const f = pickFaulty(plan, 0.05, 7);
    expect(f).toHaveLength(5);
    expect(pickFaulty(plan, 0.05, 7)).toEqual(f);
    expect(pickFaulty(plan, 0)).toEqual([]);
  });
});
